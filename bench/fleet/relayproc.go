package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"dicomgate/seal"
)

// relayProc is a relay process this command started.
type relayProc struct {
	cmd    *exec.Cmd
	addr   string
	config string
	done   chan struct{}
}

// startRelay writes DIR/relay.yaml (a fresh data folder, one project
// "fleet" with a generated core lab recipient and policy hash) and starts
// `dicomgate relay` on it, logging to DIR/relay.log.
func startRelay(ctx context.Context, o options) (*relayProc, error) {
	dir, err := filepath.Abs(o.work)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "relay")
	if err := os.RemoveAll(data); err != nil {
		return nil, err
	}
	id, err := seal.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	var h [32]byte
	rand.Read(h[:])
	rp, err := freePort()
	if err != nil {
		return nil, err
	}
	ap, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", rp)
	cfg := filepath.Join(dir, "relay.yaml")
	text := fmt.Sprintf(`listen: %s
api_listen: 127.0.0.1:%d
data_dir: %s
projects:
  - id: fleet
    recipients: [%s]
    policy_hashes: [%s]
`, addr, ap, data, id.Recipient().String(), hex.EncodeToString(h[:]))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "relay.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.dicomgate, "--log-format", "json", "--log-level", o.logLevel, "relay", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true")
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start relay: %w", err)
	}
	p := &relayProc{cmd: cmd, addr: addr, config: cfg, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("relay exited at start-up; see %s", filepath.Join(dir, "relay.log"))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("relay did not listen within 30s; see %s", filepath.Join(dir, "relay.log"))
		}
	}
}

// stop ends the relay with SIGTERM (SIGKILL after 30 s).
func (p *relayProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freePort returns a port free on 127.0.0.1 for both TCP and UDP.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port")
}
