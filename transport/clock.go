package transport

import (
	"bufio"
	"context"
	"fmt"
	"sync"
	"time"
)

// backdating is how far back the CA dates the certificates it issues (see
// clockSkew in ca.go): a site clock behind the relay's by less than this
// still accepts the relay's certificates.
const backdating = CertificateBackdating

// ClockSkewError is returned by Dial and Enrol when the relay's
// certificate is not valid at this machine's time: not valid yet (this
// clock is behind the relay's by more than the 48 h certificates are
// back-dated) or expired (this clock is far ahead, or the relay's
// certificate really expired). The connection is refused: fix the clock.
type ClockSkewError struct {
	// Now is this machine's time (ClientConfig.Time).
	Now time.Time
	// NotBefore and NotAfter are the validity of the relay certificate
	// that failed.
	NotBefore, NotAfter time.Time
}

// Error names the clock skew and what to do.
func (e *ClockSkewError) Error() string {
	now := e.Now.UTC().Format(time.RFC3339)
	if e.Now.Before(e.NotBefore) {
		return fmt.Sprintf("transport: clock skew: this machine's clock reads %s, before the relay certificate's validity starts (%s): "+
			"the clock is at least %s behind the relay's (certificates tolerate %s); correct the system time (NTP), the agent reconnects by itself",
			now, e.NotBefore.UTC().Format(time.RFC3339), e.NotBefore.Sub(e.Now).Round(time.Minute)+backdating, backdating)
	}
	return fmt.Sprintf("transport: clock skew or expired relay certificate: this machine's clock reads %s, after the relay certificate expired (%s): "+
		"correct the system time (NTP), or have the relay's certificate renewed", now, e.NotAfter.UTC().Format(time.RFC3339))
}

// skewNote keeps the first *ClockSkewError met while verifying the relay
// during one Dial: QUIC reports handshake failures as transport errors
// that do not wrap it.
type skewNote struct {
	mu  sync.Mutex
	err *ClockSkewError // +checklocks:mu
}

func (n *skewNote) set(e *ClockSkewError) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.err == nil {
		n.err = e
	}
}

func (n *skewNote) get() *ClockSkewError {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// now is the client's clock.
func (cfg *ClientConfig) now() time.Time {
	if cfg.Time != nil {
		return cfg.Time()
	}
	return time.Now()
}

// now is the server's clock.
func (cfg *ServerConfig) now() time.Time {
	if cfg.Time != nil {
		return cfg.Time()
	}
	return time.Now()
}

// ClockReading is the outcome of [Conn.Clock]: the relay's time against
// this side's.
type ClockReading struct {
	// Sent and Received are this side's clock when the request left and
	// the answer arrived.
	Sent, Received time.Time
	// Relay is the relay's clock when it answered.
	Relay time.Time
}

// Skew is how far this side's clock is ahead of the relay's (negative:
// behind), taking the relay's answer to be halfway through the round trip.
func (r ClockReading) Skew() time.Duration {
	mid := r.Sent.Add(r.Received.Sub(r.Sent) / 2)
	return mid.Sub(r.Relay)
}

// RelayNow estimates the relay's clock at this side's time t.
func (r ClockReading) RelayNow(t time.Time) time.Time { return t.Add(-r.Skew()) }

func marshalTime(t time.Time) []byte { return appendUint64(nil, uint64(t.UnixNano())) }

func unmarshalTime(p []byte) (time.Time, error) {
	d := decoder{b: p}
	v := int64(d.uint64())
	if err := d.finish(); err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, v).UTC(), nil
}

// Clock runs a clock exchange: it sends this side's time (ClientConfig.Time)
// and returns the relay's. The relay measures the agent's skew from it
// (ServerConfig.OnClock). A relay that predates the exchange answers
// Error{bad_request}, a *RejectedError.
func (c *Conn) Clock(ctx context.Context) (ClockReading, error) {
	var r ClockReading
	r.Sent = c.cfg.now()
	p, err := c.roundTrip(ctx, "clock", Frame{FrameClock, marshalTime(r.Sent)}, FrameClockReply)
	r.Received = c.cfg.now()
	if err != nil {
		return r, err
	}
	if r.Relay, err = unmarshalTime(p); err != nil {
		return r, fmt.Errorf("transport: clock: %w", err)
	}
	return r, nil
}

// clock serves a clock exchange: it answers the relay's time and passes
// the agent's to ServerConfig.OnClock.
func (s *Server) clock(ctx context.Context, peer Peer, payload []byte, w *bufio.Writer) {
	agentTime, err := unmarshalTime(payload)
	if err != nil {
		s.reply(w, FrameError, marshalError(rejBadRequest))
		return
	}
	now := s.cfg.now()
	if s.cfg.OnClock != nil && peer.AgentID != "" {
		s.cfg.OnClock(ctx, peer, agentTime, now)
	}
	s.reply(w, FrameClockReply, marshalTime(now))
}
