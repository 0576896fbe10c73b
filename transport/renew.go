package transport

import (
	"bufio"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
)

// renewDomain separates renewal proofs from other uses of the agent key.
const renewDomain = "dicomgate renew v1\n"

// CodeRenewalRefused: the relay will not renew this agent's certificate
// (revoked, unknown, or another key than the enrolled one).
const CodeRenewalRefused = "renewal_refused"

// RenewRequest asks for a new certificate on a connection authenticated
// with the agent's current one. The server has already checked Proof
// against PublicKey before the [Renewer] sees it.
type RenewRequest struct {
	// PublicKey is the key to certify (ECDSA P-256 or Ed25519).
	PublicKey crypto.PublicKey
	// Proof is the key's signature over renewDomain, the agent ID and the
	// key, binding the request to this agent.
	Proof []byte
}

// RenewResponse carries the new certificate.
type RenewResponse struct {
	// CertChain is the new agent certificate DER, leaf first.
	CertChain [][]byte
}

// Renewer is implemented by a [Handler] that renews agent certificates.
// Without it, a RenewRequest is answered with Error{bad_request}.
type Renewer interface {
	// Renew issues a new certificate for the authenticated peer (its
	// certificate passed the handshake and Authorize) for req.PublicKey,
	// whose proof of possession is already verified.
	Renew(ctx context.Context, peer Peer, req *RenewRequest) (*RenewResponse, error)
}

// renewProofMessage is what the key signs.
func renewProofMessage(agentID string, pubDER []byte) []byte {
	b := appendString([]byte(renewDomain), agentID)
	return appendBytes(b, pubDER)
}

func (r *RenewRequest) marshal() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(r.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("transport: renew key: %w", err)
	}
	return appendBytes(appendBytes(nil, der), r.Proof), nil
}

// unmarshalRenewRequest decodes a request of agentID and checks the proof.
func unmarshalRenewRequest(p []byte, agentID string) (*RenewRequest, error) {
	d := decoder{b: p}
	der := d.bytes()
	proof := d.bytes()
	if err := d.finish(); err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errMalformed
	}
	if err := checkAgentKey(pub); err != nil {
		return nil, err
	}
	if !verifyProof(pub, renewProofMessage(agentID, der), proof) {
		return nil, errors.New("transport: renewal proof does not verify")
	}
	return &RenewRequest{PublicKey: pub, Proof: proof}, nil
}

func (r *RenewResponse) marshal() []byte {
	b := appendUint64(nil, uint64(len(r.CertChain)))
	for _, c := range r.CertChain {
		b = appendBytes(b, c)
	}
	return b
}

func unmarshalRenewResponse(p []byte) (*RenewResponse, error) {
	d := decoder{b: p}
	n := d.uint64()
	if n == 0 || n > 8 {
		return nil, errMalformed
	}
	r := &RenewResponse{}
	for i := uint64(0); i < n; i++ {
		r.CertChain = append(r.CertChain, d.bytes())
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return r, nil
}

var rejRenewal = &RejectedError{Code: CodeRenewalRefused, Message: "renewal refused"}

// renew serves a RenewRequest on an authenticated connection.
func (s *Server) renew(ctx context.Context, peer Peer, payload []byte, w *bufio.Writer) {
	rn, ok := s.cfg.Handler.(Renewer)
	switch {
	case !ok:
		s.reply(w, FrameError, marshalError(rejBadRequest))
		return
	case peer.AgentID == "":
		s.reply(w, FrameError, marshalError(rejUnauth))
		return
	}
	req, err := unmarshalRenewRequest(payload, peer.AgentID)
	if err != nil {
		s.log.Debug().Str("agent_id", peer.AgentID).Msg("renewal request refused")
		s.reply(w, FrameError, marshalError(rejRenewal))
		return
	}
	resp, err := rn.Renew(ctx, peer, req)
	if err != nil {
		s.reply(w, FrameError, marshalError(s.rejection(err)))
		return
	}
	if resp == nil || len(resp.CertChain) == 0 {
		s.reply(w, FrameError, marshalError(rejInternal))
		return
	}
	s.log.Info().Str("agent_id", peer.AgentID).Msg("agent certificate renewed")
	s.reply(w, FrameRenewResponse, resp.marshal())
}

// Renew asks the relay, over this connection (authenticated with the
// agent's current certificate), to certify key for the same agent ID, and
// returns the new chain after checking that it certifies key for that
// agent, for client authentication, under the CA in ClientConfig.RootCAs.
// A refusal is a *RejectedError.
func (c *Conn) Renew(ctx context.Context, key crypto.Signer) (*RenewResponse, error) {
	cur := c.cfg.leaf()
	if cur == nil {
		return nil, errors.New("transport: renew: no agent certificate")
	}
	agentID, err := AgentIDFromCert(cur)
	if err != nil {
		return nil, fmt.Errorf("transport: renew: %w", err)
	}
	if err := checkAgentKey(key.Public()); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("transport: renew key: %w", err)
	}
	proof, err := signProof(key, renewProofMessage(agentID, der))
	if err != nil {
		return nil, fmt.Errorf("transport: renew proof: %w", err)
	}
	payload, err := (&RenewRequest{PublicKey: key.Public(), Proof: proof}).marshal()
	if err != nil {
		return nil, err
	}
	p, err := c.roundTrip(ctx, "renew", Frame{FrameRenewRequest, payload}, FrameRenewResponse)
	if err != nil {
		return nil, err
	}
	r, err := unmarshalRenewResponse(p)
	if err != nil {
		return nil, fmt.Errorf("transport: renew: %w", err)
	}
	if err := c.checkRenewed(r, key, agentID); err != nil {
		return nil, err
	}
	return r, nil
}

// checkRenewed verifies a renewal's chain: it certifies key for agentID,
// for client authentication, under the relay CA. Validity is checked at
// the certificate's own start, not at this machine's clock: the relay's
// clock decides expiry.
func (c *Conn) checkRenewed(r *RenewResponse, key crypto.Signer, agentID string) error {
	leaf, err := x509.ParseCertificate(r.CertChain[0])
	if err != nil {
		return fmt.Errorf("transport: renew: certificate: %w", err)
	}
	if !publicKeysEqual(key.Public(), leaf.PublicKey) {
		return errors.New("transport: renew: response certifies another key")
	}
	if id, err := AgentIDFromCert(leaf); err != nil || id != agentID {
		return errors.New("transport: renew: response names another agent")
	}
	if c.cfg.RootCAs == nil {
		return errors.New("transport: renew: no relay ca configured")
	}
	opts := x509.VerifyOptions{Roots: c.cfg.RootCAs, CurrentTime: leaf.NotBefore, Intermediates: x509.NewCertPool(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, der := range r.CertChain[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			opts.Intermediates.AddCert(ic)
		}
	}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("transport: renew: certificate not issued by the relay ca: %w", err)
	}
	return nil
}
