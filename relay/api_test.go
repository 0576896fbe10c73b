package relay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"testing"

	"dicomgate/transport"
)

func TestAPIAccess(t *testing.T) {
	ctx := context.Background()
	e := startRelay(t, envOptions{})
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	f := e.seal(t, a, fileSpec{size: 10000})
	if _, err := a.upload(ctx, f); err != nil {
		t.Fatal(err)
	}
	study := f.manifest.StudyInstanceUID
	tests := []struct {
		name   string
		token  string
		call   func(c *Client) error
		status int // 0: success
	}{
		{"no token", "", func(c *Client) error { _, err := c.Studies(ctx, testProject); return err }, http.StatusUnauthorized},
		{"unknown token", "dgr1_nope", func(c *Client) error { _, err := c.Studies(ctx, testProject); return err }, http.StatusUnauthorized},
		{"no token object", "", func(c *Client) error { _, err := c.Object(ctx, f.offer.ID, 0); return err }, http.StatusUnauthorized},
		{"other project's reader", e.other, func(c *Client) error { _, err := c.Studies(ctx, testProject); return err }, http.StatusForbidden},
		{"other project's reader, file", e.other, func(c *Client) error { _, err := c.Manifest(ctx, f.offer.ID); return err }, http.StatusNotFound},
		{"unknown project", e.token, func(c *Client) error { _, err := c.Studies(ctx, "nope"); return err }, http.StatusForbidden},
		{"unknown study", e.token, func(c *Client) error { _, err := c.Files(ctx, testProject, "9.9"); return err }, http.StatusNotFound},
		{"unknown file", e.token, func(c *Client) error { _, err := c.Manifest(ctx, "nope"); return err }, http.StatusNotFound},
		{"studies", e.token, func(c *Client) error {
			s, err := c.Studies(ctx, testProject)
			if err == nil && (len(s) != 1 || s[0].StudyUID != study || s[0].Files != 1) {
				return errors.New("unexpected studies")
			}
			return err
		}, 0},
		{"files", e.token, func(c *Client) error {
			fs, err := c.Files(ctx, testProject, study)
			if err == nil && (len(fs) != 1 || fs[0].FileID != f.offer.ID || fs[0].Size != f.offer.Size) {
				return errors.New("unexpected files")
			}
			return err
		}, 0},
		{"agents", e.token, func(c *Client) error {
			as, err := c.Agents(ctx, testProject)
			if err == nil && (len(as) != 1 || as[0].ID != a.id || !a.key.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(as[0].PublicKey))) {
				return errors.New("unexpected agents")
			}
			return err
		}, 0},
		{"range", e.token, func(c *Client) error {
			rc, err := c.Object(ctx, f.offer.ID, 1000)
			if err != nil {
				return err
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err == nil && string(b) != string(f.sealed[1000:]) {
				return errors.New("range body differs")
			}
			return err
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(e.client(tc.token))
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != tc.status {
				t.Fatalf("err = %v, want status %d", err, tc.status)
			}
		})
	}

	t.Run("healthz", func(t *testing.T) {
		c := e.client("")
		resp, err := c.http().Get(e.apiURL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version != 0x0304 {
			t.Fatalf("healthz: %d, tls %+v", resp.StatusCode, resp.TLS)
		}
	})
	t.Run("wrong ca pin", func(t *testing.T) {
		c := &Client{BaseURL: e.apiURL, Token: e.token, CAFingerprint: "00" + e.caPin[2:]}
		if _, err := c.Studies(ctx, testProject); err == nil {
			t.Fatal("connected to a relay whose CA is not the pinned one")
		}
	})
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		h          string
		start, end int64
		partial    bool
		bad        bool
	}{
		{"", 0, 100, false, false},
		{"bytes=10-", 10, 100, true, false},
		{"bytes=10-19", 10, 20, true, false},
		{"bytes=10-500", 10, 100, true, false},
		{"bytes=100-", 0, 0, false, true},
		{"bytes=-10", 0, 0, false, true},
		{"bytes=5-1", 0, 0, false, true},
		{"bytes=1-2,4-5", 0, 0, false, true},
		{"items=1-", 0, 0, false, true},
	}
	for _, tc := range tests {
		start, end, partial, err := parseRange(tc.h, 100)
		if (err != nil) != tc.bad || (!tc.bad && (start != tc.start || end != tc.end || partial != tc.partial)) {
			t.Errorf("parseRange(%q) = %d, %d, %v, %v", tc.h, start, end, partial, err)
		}
	}
}
