package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
)

// PutWireGuardPeer implements [MetaDB]: one upsert on the agent ID; the
// unique public key and tunnel IP columns refuse another agent's.
func (s *SQLite) PutWireGuardPeer(ctx context.Context, p WireGuardPeer) error {
	if !validWireGuardPeer(p) {
		return fmt.Errorf("store: put wireguard peer: %w: agent_id, a 32-byte public_key and tunnel_ip are required", ErrInvalidRecord)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO wireguard_peers (agent_id, public_key, tunnel_ip, created_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (agent_id) DO UPDATE SET
			public_key = excluded.public_key,
			tunnel_ip = excluded.tunnel_ip,
			created_at = excluded.created_at`,
		p.AgentID, p.PublicKey, p.TunnelIP.Unmap().String(), micro(nowOr(p.CreatedAt)))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: put wireguard peer %s: %w", p.AgentID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: put wireguard peer %s: %w", p.AgentID, err)
	}
	return nil
}

// ListWireGuardPeers implements [MetaDB].
func (s *SQLite) ListWireGuardPeers(ctx context.Context) ([]WireGuardPeer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT agent_id, public_key, tunnel_ip, created_at
		FROM wireguard_peers ORDER BY agent_id`)
	if err != nil {
		return nil, fmt.Errorf("store: list wireguard peers: %w", err)
	}
	defer rows.Close()
	var out []WireGuardPeer
	for rows.Next() {
		var p WireGuardPeer
		var ip string
		var at sql.NullInt64
		if err := rows.Scan(&p.AgentID, &p.PublicKey, &ip, &at); err != nil {
			return nil, fmt.Errorf("store: list wireguard peers: %w", err)
		}
		if p.TunnelIP, err = netip.ParseAddr(ip); err != nil {
			return nil, fmt.Errorf("store: list wireguard peers: agent %s: %w", p.AgentID, err)
		}
		p.CreatedAt = fromMicro(at)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list wireguard peers: %w", err)
	}
	return out, nil
}

// DeleteWireGuardPeer implements [MetaDB].
func (s *SQLite) DeleteWireGuardPeer(ctx context.Context, agentID string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM wireguard_peers WHERE agent_id = ?`, agentID)
	if err != nil {
		return fmt.Errorf("store: delete wireguard peer %s: %w", agentID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: delete wireguard peer %s: %w", agentID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: delete wireguard peer %s: %w", agentID, ErrNotExist)
	}
	return nil
}
