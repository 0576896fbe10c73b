package storetest

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"dicomgate/store"
)

// Test credentials and bucket of the server StartS3 runs. They protect
// nothing: the server listens on 127.0.0.1 only and lives for one test.
const (
	S3TestAccessKey = "dicomgate-test"
	S3TestSecretKey = "dicomgate-test-secret"
	S3TestBucket    = "dicomgate-test"
	S3TestRegion    = "us-east-1"
)

// VersitygwEnv names the environment variable that may hold the path of
// the versitygw binary.
const VersitygwEnv = "DICOMGATE_VERSITYGW"

// s3StartTimeout bounds how long StartS3 waits for the server to answer.
const s3StartTimeout = 30 * time.Second

// StartS3 starts a real S3 server (versitygw with its POSIX back end) on
// 127.0.0.1 at a free port, rooted in a t.TempDir, and stops it when the
// test ends. It returns a config for it, with CreateBucket set so that the
// first NewS3 creates the bucket; a test may change Bucket to get a fresh,
// empty bucket on the same server.
//
// Without the versitygw binary (see the package doc for where it is looked
// up, and scripts/s3test.sh to install it) StartS3 skips the test, or fails
// it when CI=true or DICOMGATE_REQUIRE_S3=1.
func StartS3(t testing.TB) store.S3Config {
	t.Helper()
	bin := findVersitygw()
	if bin == "" {
		msg := "versitygw not found (set " + VersitygwEnv + ", or run scripts/s3test.sh install)"
		if requireS3() {
			t.Fatal("storetest: " + msg + "; S3 tests are required here")
		}
		t.Skip("storetest: " + msg)
	}
	root := t.TempDir()
	var lastErr error
	// A free port can be taken between probing and binding; try a few.
	for range 3 {
		addr, err := freeAddr()
		if err != nil {
			t.Fatalf("storetest: %v", err)
		}
		if lastErr = startVersitygw(t, bin, addr, root); lastErr == nil {
			return store.S3Config{
				Endpoint:     addr,
				Bucket:       S3TestBucket,
				AccessKey:    S3TestAccessKey,
				SecretKey:    S3TestSecretKey,
				Region:       S3TestRegion,
				CreateBucket: true,
			}
		}
	}
	t.Fatalf("storetest: start versitygw: %v", lastErr)
	return store.S3Config{}
}

// requireS3 reports whether a missing S3 server must fail the test.
func requireS3() bool {
	return os.Getenv("CI") == "true" || os.Getenv("DICOMGATE_REQUIRE_S3") == "1"
}

// findVersitygw returns the path of the versitygw binary, or "".
func findVersitygw() string {
	if p := os.Getenv(VersitygwEnv); p != "" {
		if isExecutable(p) {
			return p
		}
		return ""
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		if p := filepath.Join(dir, "bin", "versitygw"); isExecutable(p) {
			return p
		}
	}
	return ""
}

// isExecutable reports whether p is a regular file with an execute bit.
func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// freeAddr returns a 127.0.0.1 address with a port that was free just now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// lockedBuffer is a bytes.Buffer safe for the process's writer goroutine
// and the test reading it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer // +checklocks:mu
}

// Write implements io.Writer.
func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startVersitygw runs versitygw on addr and waits until it answers HTTP.
// On success the process is stopped at t's cleanup.
func startVersitygw(t testing.TB, bin, addr, root string) error {
	cmd := exec.Command(bin,
		"--port", addr,
		"--access", S3TestAccessKey,
		"--secret", S3TestSecretKey,
		"--region", S3TestRegion,
		"--quiet",
		"posix", root,
	)
	// Keep the caller's environment from configuring the gateway (VGW_*,
	// ROOT_ACCESS_KEY...): only what is needed to run.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(s3StartTimeout)
	for {
		select {
		case err := <-exited:
			return errors.New("versitygw exited (" + errString(err) + "): " + out.String())
		default:
		}
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			break // any HTTP answer (403 without credentials) means it is up
		}
		if time.Now().After(deadline) {
			stop()
			return errors.New("versitygw did not answer on " + addr + " within " +
				strconv.Itoa(int(s3StartTimeout/time.Second)) + "s: " + out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			if s := out.String(); s != "" {
				t.Logf("versitygw output:\n%s", s)
			}
		}
	})
	return nil
}

// errString is err's message, or "status 0".
func errString(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}
