package transport

import (
	"bufio"
	"context"
	"fmt"

	"github.com/quic-go/quic-go"
)

// clientStream is one exchange's byte stream: a QUIC stream or a pooled TCP
// connection.
type clientStream struct {
	br     *bufio.Reader
	bw     *bufio.Writer
	reused bool // a pooled TCP connection that may have gone stale

	closeWrite func()        // signals the end of our frames (QUIC FIN)
	abort      func()        // tears the stream down at once
	finish     func(ok bool) // releases the stream; ok means it is in sync
}

// openStream opens a stream for one exchange.
func (c *Conn) openStream(ctx context.Context) (*clientStream, error) {
	if c.qc != nil {
		st, err := c.qc.OpenStreamSync(ctx)
		if err != nil {
			return nil, fmt.Errorf("transport: open stream: %w", err)
		}
		return &clientStream{
			br:         bufio.NewReaderSize(st, 16<<10),
			bw:         bufio.NewWriterSize(st, 64<<10),
			closeWrite: func() { st.Close() },
			abort: func() {
				st.CancelWrite(streamCodeAborted)
				st.CancelRead(streamCodeAborted)
			},
			finish: func(bool) {
				st.Close()
				st.CancelRead(quic.StreamErrorCode(0))
			},
		}, nil
	}
	t, reused, err := c.getTCP(ctx)
	if err != nil {
		return nil, err
	}
	return &clientStream{
		br:         t.br,
		bw:         t.bw,
		reused:     reused,
		closeWrite: func() {},
		abort:      func() { t.conn.Close() },
		finish: func(ok bool) {
			if ok {
				c.putTCP(t)
			} else {
				t.conn.Close()
			}
		},
	}, nil
}

// writeFrames writes frames and flushes.
func (s *clientStream) writeFrames(frames ...Frame) error {
	for _, f := range frames {
		if err := WriteFrame(s.bw, f.Type, f.Payload); err != nil {
			return err
		}
	}
	return s.bw.Flush()
}

// roundTrip runs a one-frame exchange on a new stream: Hello and req, then
// the relay's one answer, which must be a frame of type want (its payload
// is returned) or an Error (returned as the relay's error). op names the
// exchange in errors.
func (c *Conn) roundTrip(ctx context.Context, op string, req Frame, want FrameType) (payload []byte, err error) {
	st, err := c.openStream(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, st.abort)
	ok := false
	defer func() {
		if !stop() {
			ok = false
			payload, err = nil, fmt.Errorf("transport: %s: %w", op, context.Cause(ctx))
		}
		st.finish(ok)
	}()
	if err := st.writeFrames(Frame{FrameHello, marshalHello()}, req); err != nil {
		return nil, fmt.Errorf("transport: %s: %w", op, err)
	}
	st.closeWrite()
	f, err := ReadFrame(st.br, MaxFrameSize)
	if err != nil {
		return nil, fmt.Errorf("transport: %s: %w", op, err)
	}
	switch f.Type {
	case want:
		ok = true
		return f.Payload, nil
	case FrameError:
		ok = true
		e, err := unmarshalError(f.Payload)
		if err != nil {
			return nil, fmt.Errorf("transport: %s: %w", op, err)
		}
		return nil, remoteError(e)
	}
	return nil, fmt.Errorf("transport: %s: unexpected frame from relay", op)
}
