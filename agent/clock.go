package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"dicomgate/transport"
)

// clockWarnAfter is how far this machine's clock may be off the relay's
// before the agent warns (the relay audits the same threshold).
const clockWarnAfter = 2 * time.Minute

// clockTimeout bounds the clock exchange after each dial.
const clockTimeout = 10 * time.Second

// retireGrace is how long a connection replaced after a renewal keeps
// serving the uploads already on it.
const retireGrace = 30 * time.Second

// WithClock sets the agent's clock: manifest times, the check of the
// relay's certificate and the renewal schedule use it (tests run agents
// hours or days off the machine's clock with it). Durations (back-off,
// stable-file checks, timeouts) use the monotonic clock regardless.
func WithClock(now func() time.Time) Option {
	return func(a *Agent) { a.now = now }
}

// An Option configures an [Agent].
type Option func(*Agent)

// measureClock runs a clock exchange on a new connection: the relay
// records this agent's skew, and the agent keeps the reading to schedule
// renewals by the relay's clock. A skew beyond clockWarnAfter is logged
// when it starts and when it ends.
func (u *RelayUploader) measureClock(ctx context.Context, c *transport.Conn) {
	ctx, cancel := context.WithTimeout(ctx, clockTimeout)
	defer cancel()
	r, err := c.Clock(ctx)
	if err != nil {
		var rej *transport.RejectedError
		if !errors.As(err, &rej) { // a relay without the exchange answers bad_request
			u.log.Debug().Err(err).Msg("clock exchange failed")
		}
		return
	}
	skew := r.Skew()
	skewed := time.Duration(math.Abs(float64(skew))) > clockWarnAfter
	u.mu.Lock()
	u.clock, u.haveClock = r, true
	was := u.skewed
	u.skewed = skewed
	u.mu.Unlock()
	switch {
	case skewed && !was:
		u.log.Warn().Dur("skew", skew.Round(time.Second)).
			Msg("this machine's clock is off the relay's: correct the system time (NTP); the relay's time is authoritative")
	case !skewed && was:
		u.log.Info().Dur("skew", skew.Round(time.Second)).Msg("clock back in line with the relay's")
	}
}

// relayNow estimates the relay's clock at this agent's time t from the
// last clock exchange, t itself before any.
func (u *RelayUploader) relayNow(t time.Time) time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.haveClock {
		return t
	}
	return u.clock.RelayNow(t)
}

// retire stops handing out c (the next upload dials again, with the
// current certificate) and closes it after retireGrace.
func (u *RelayUploader) retire(c *transport.Conn) {
	u.mu.Lock()
	if u.conn == c {
		u.conn = nil
	}
	u.mu.Unlock()
	time.AfterFunc(retireGrace, func() { c.Close() })
}

// dialFailed logs a dial failure that needs an operator (clock skew, a
// refused certificate) at error level, once until the message changes or
// a dial succeeds; the items waiting keep being retried with back-off.
func (u *RelayUploader) dialFailed(err error) {
	var ce *transport.ClockSkewError
	var cr *transport.CertificateRefusedError
	if !errors.As(err, &ce) && !errors.As(err, &cr) {
		return
	}
	// The verdict is what the operator must fix, not the message: that
	// quotes this machine's clock, which moves between dials.
	var verdict string
	if ce != nil {
		verdict = fmt.Sprintf("clock skew %s %s", ce.NotBefore, ce.NotAfter)
	} else {
		verdict = fmt.Sprintf("refused %s %s %s", cr.Reason, cr.NotBefore, cr.NotAfter)
	}
	u.mu.Lock()
	first := u.verdict != verdict
	u.verdict = verdict
	u.mu.Unlock()
	if first {
		u.log.Error().Err(err).Msg("cannot connect to the relay until this is fixed; files stay queued")
	}
}
