//go:build linux

package dimse

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// recordingListener keeps the connections it accepts.
type recordingListener struct {
	net.Listener
	accepted chan net.Conn
}

// Accept implements net.Listener.
func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- c
	}
	return c, err
}

// TestNoDelay checks that an accepted association's socket has
// TCP_NODELAY set: the sender waits for each small C-STORE-RSP, which
// Nagle's algorithm would hold back.
func TestNoDelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &recordingListener{Listener: ln, accepted: make(chan net.Conn, 1)}
	srv := &Server{Logger: testLogger(t), Handler: newRecorder()}
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(context.Background(), rl) }()
	defer func() { srv.Close(); <-done }()
	a, err := Dial(context.Background(), ln.Addr().String(), "SCU", "ANY")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Abort()
	if err := a.Echo(context.Background()); err != nil {
		t.Fatal(err)
	}
	sc, err := (<-rl.accepted).(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := sc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if v == 0 {
		t.Fatal("TCP_NODELAY not set on the accepted connection")
	}
}
