package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
)

// tcpConn is one pooled TLS-over-TCP connection.
type tcpConn struct {
	conn *tls.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

// dialTCP opens a TLS connection and reads the server Hello, which proves the
// relay accepted our certificate (a TLS 1.3 client finishes its handshake
// before the server has checked the client certificate).
func (c *Conn) dialTCP(ctx context.Context) (*tcpConn, error) {
	nc, err := c.dialTLS(ctx)
	if err != nil {
		return nil, fmt.Errorf("transport: dial tcp: %w", err)
	}
	t := &tcpConn{conn: nc}
	t.br = bufio.NewReaderSize(t.conn, 16<<10)
	t.bw = bufio.NewWriterSize(t.conn, 64<<10)
	stop := context.AfterFunc(ctx, func() { t.conn.Close() })
	f, err := ReadFrame(t.br, MaxFrameSize)
	if !stop() {
		t.conn.Close()
		return nil, fmt.Errorf("transport: dial tcp: %w", ctx.Err())
	}
	if err != nil {
		t.conn.Close()
		return nil, fmt.Errorf("transport: dial tcp: relay refused the connection: %w", err)
	}
	if f.Type != FrameHello {
		t.conn.Close()
		return nil, errors.New("transport: dial tcp: unexpected first frame")
	}
	if v, err := parseHello(f.Payload); err != nil || v != ProtocolVersion {
		t.conn.Close()
		return nil, errors.New("transport: dial tcp: relay speaks another protocol version")
	}
	return t, nil
}

// getTCP returns an idle pooled connection (reused=true) or dials a new one.
func (c *Conn) getTCP(ctx context.Context) (t *tcpConn, reused bool, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, errClosed
	}
	if n := len(c.idle); n > 0 {
		t = c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return t, true, nil
	}
	c.mu.Unlock()
	t, err = c.dialTCP(ctx)
	return t, false, err
}

// putTCP returns a connection to the idle pool, or closes it when the pool
// is full or the Conn closed.
func (c *Conn) putTCP(t *tcpConn) {
	c.mu.Lock()
	if c.closed || len(c.idle) >= c.cfg.MaxIdleTCP {
		c.mu.Unlock()
		t.conn.Close()
		return
	}
	c.idle = append(c.idle, t)
	c.mu.Unlock()
}
