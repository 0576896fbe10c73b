package store

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// PutWireGuardPeer implements [MetaDB] as [SQLite.PutWireGuardPeer] does.
func (p *Postgres) PutWireGuardPeer(ctx context.Context, w WireGuardPeer) error {
	if !validWireGuardPeer(w) {
		return fmt.Errorf("store: put wireguard peer: %w: agent_id, a 32-byte public_key and tunnel_ip are required", ErrInvalidRecord)
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO wireguard_peers (agent_id, public_key, tunnel_ip, created_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (agent_id) DO UPDATE SET
			public_key = excluded.public_key,
			tunnel_ip = excluded.tunnel_ip,
			created_at = excluded.created_at`,
		w.AgentID, w.PublicKey, w.TunnelIP.Unmap().String(), pgTime(nowOr(w.CreatedAt)))
	if isPGUniqueViolation(err) {
		return fmt.Errorf("store: put wireguard peer %s: %w", w.AgentID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: put wireguard peer %s: %w", w.AgentID, err)
	}
	return nil
}

// ListWireGuardPeers implements [MetaDB].
func (p *Postgres) ListWireGuardPeers(ctx context.Context) ([]WireGuardPeer, error) {
	rows, err := p.pool.Query(ctx, `SELECT agent_id, public_key, tunnel_ip, created_at
		FROM wireguard_peers ORDER BY agent_id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("store: list wireguard peers: %w", err)
	}
	defer rows.Close()
	var out []WireGuardPeer
	for rows.Next() {
		var w WireGuardPeer
		var ip string
		var at *time.Time
		if err := rows.Scan(&w.AgentID, &w.PublicKey, &ip, &at); err != nil {
			return nil, fmt.Errorf("store: list wireguard peers: %w", err)
		}
		if w.TunnelIP, err = netip.ParseAddr(ip); err != nil {
			return nil, fmt.Errorf("store: list wireguard peers: agent %s: %w", w.AgentID, err)
		}
		w.CreatedAt = fromPGTime(at)
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list wireguard peers: %w", err)
	}
	return out, nil
}

// DeleteWireGuardPeer implements [MetaDB].
func (p *Postgres) DeleteWireGuardPeer(ctx context.Context, agentID string) error {
	tag, err := p.pool.Exec(ctx, `DELETE FROM wireguard_peers WHERE agent_id = $1`, agentID)
	if err != nil {
		return fmt.Errorf("store: delete wireguard peer %s: %w", agentID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: delete wireguard peer %s: %w", agentID, ErrNotExist)
	}
	return nil
}
