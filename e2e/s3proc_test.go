package e2e

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"dicomgate/store"
	"dicomgate/store/storetest"
)

// s3Proc is a versitygw process that a test can stop and start again on
// the same address and data, unlike storetest.StartS3's.
type s3Proc struct {
	t    *testing.T
	bin  string
	addr string
	root string
	cmd  *exec.Cmd
	out  *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for a process writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer // +checklocks:mu
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startS3Proc starts versitygw on a free 127.0.0.1 port. Without the
// binary it defers to storetest.StartS3, which skips or fails the test by
// the project's rule (a skip is a failure in CI).
func startS3Proc(t *testing.T) (*s3Proc, store.S3Config) {
	t.Helper()
	bin := os.Getenv(storetest.VersitygwEnv)
	if bin == "" {
		bin, _ = exec.LookPath("versitygw")
	}
	if bin == "" {
		if home, err := os.UserHomeDir(); err == nil {
			if p := filepath.Join(home, "go", "bin", "versitygw"); fileExists(p) {
				bin = p
			}
		}
	}
	if bin == "" {
		storetest.StartS3(t) // skips, or fails when S3 is required
		t.Fatal("versitygw not found")
	}
	p := &s3Proc{t: t, bin: bin, addr: "127.0.0.1:" + strconv.Itoa(freePort(t)), root: t.TempDir(), out: &syncBuffer{}}
	p.start()
	t.Cleanup(p.stop)
	return p, store.S3Config{Endpoint: p.addr, Bucket: storetest.S3TestBucket, AccessKey: storetest.S3TestAccessKey,
		SecretKey: storetest.S3TestSecretKey, Region: storetest.S3TestRegion, CreateBucket: true}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// start runs the gateway and waits (bounded) until it answers HTTP.
func (p *s3Proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, "--port", p.addr, "--access", storetest.S3TestAccessKey,
		"--secret", storetest.S3TestSecretKey, "--region", storetest.S3TestRegion, "--quiet", "posix", p.root)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start versitygw: %v", err)
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://" + p.addr + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("versitygw did not answer on %s: %s", p.addr, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills the gateway (SIGKILL: no graceful end) and waits for it.
func (p *s3Proc) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		p.cmd = nil
	}
}
