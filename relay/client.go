package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"dicomgate/transport"
)

// Client talks to a relay's HTTPS API as a core lab. Set the exported
// fields before the first call; a Client is then safe for concurrent use
// and must not be copied.
type Client struct {
	// BaseURL is the relay API, e.g. "https://relay.example.org:8443".
	BaseURL string
	// Token is the reader's bearer token. It is a secret.
	Token string
	// CAFingerprint pins the relay CA (hex SHA-256 of its certificate, as
	// printed by `dicomgate relay`): the server's chain must contain that CA
	// and verify against it for the host of BaseURL. Empty: the system roots
	// (for a relay behind a publicly trusted TLS terminator).
	CAFingerprint string
	// HTTPClient, when set, is used as is (CAFingerprint is then ignored).
	HTTPClient *http.Client

	once sync.Once
	hc   *http.Client
}

// APIError is an error answer of the relay API.
type APIError struct {
	// StatusCode is the HTTP status, e.g. 401, 403, 404.
	StatusCode int
	// Code is the relay's error code, e.g. "unauthenticated".
	Code string
	// Message is the relay's error text (never PHI).
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("relay: api: %d %s: %s", e.StatusCode, e.Code, e.Message)
}

func (c *Client) http() *http.Client {
	c.once.Do(func() {
		if c.HTTPClient != nil {
			c.hc = c.HTTPClient
			return
		}
		conf := &tls.Config{MinVersion: tls.VersionTLS13}
		if c.CAFingerprint != "" {
			conf.InsecureSkipVerify = true // replaced by VerifyConnection below
			pin := strings.ToLower(strings.TrimSpace(c.CAFingerprint))
			conf.VerifyConnection = func(cs tls.ConnectionState) error { return verifyPinned(cs, pin) }
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = conf
		tr.ForceAttemptHTTP2 = true
		c.hc = &http.Client{Transport: tr}
	})
	return c.hc
}

// verifyPinned checks that the chain presented holds the CA with the
// pinned fingerprint and that this CA verifies the leaf for the server name.
func verifyPinned(cs tls.ConnectionState, pin string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("relay: server sent no certificate")
	}
	for _, ca := range cs.PeerCertificates[1:] {
		if !ca.IsCA || transport.Fingerprint(ca) != pin {
			continue
		}
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots:     roots,
			DNSName:   cs.ServerName,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return fmt.Errorf("relay: server certificate: %w", err)
		}
		return nil
	}
	return errors.New("relay: server certificate not issued by the pinned relay ca")
}

// get sends an authenticated GET and returns the response of a 2xx status.
func (c *Client) get(ctx context.Context, path string, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+path, nil)
	if err != nil {
		return nil, fmt.Errorf("relay: api request: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("relay: api: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var body apiError
		json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
		return nil, &APIError{StatusCode: resp.StatusCode, Code: body.Code, Message: body.Error}
	}
	return resp, nil
}

// getJSON GETs path and decodes the JSON answer into v.
func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.get(ctx, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("relay: api: decode answer: %w", err)
	}
	return nil
}

// Studies lists the studies of project.
func (c *Client) Studies(ctx context.Context, project string) ([]StudyInfo, error) {
	var out studiesResponse
	err := c.getJSON(ctx, "/api/v1/projects/"+url.PathEscape(project)+"/studies", &out)
	return out.Studies, err
}

// Files lists the files of one study of project.
func (c *Client) Files(ctx context.Context, project, study string) ([]FileInfo, error) {
	var out filesResponse
	err := c.getJSON(ctx, "/api/v1/projects/"+url.PathEscape(project)+"/studies/"+url.PathEscape(study)+"/files", &out)
	return out.Files, err
}

// Agents lists the enrolled agents of project with their manifest signing
// keys.
func (c *Client) Agents(ctx context.Context, project string) ([]AgentInfo, error) {
	var out agentsResponse
	err := c.getJSON(ctx, "/api/v1/projects/"+url.PathEscape(project)+"/agents", &out)
	return out.Agents, err
}

// maxManifestSize bounds a manifest envelope read from the relay.
const maxManifestSize = 4 << 20

// Manifest returns the signed manifest envelope of a file, unverified: open
// it with seal.OpenManifest.
func (c *Client) Manifest(ctx context.Context, fileID string) ([]byte, error) {
	resp, err := c.get(ctx, "/api/v1/files/"+url.PathEscape(fileID)+"/manifest", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("relay: api: read manifest: %w", err)
	}
	if len(b) > maxManifestSize {
		return nil, errors.New("relay: api: manifest too large")
	}
	return b, nil
}

// Object opens the sealed object of a file from offset on (a Range request
// when offset > 0). The caller must close it and verify what it reads.
func (c *Client) Object(ctx context.Context, fileID string, offset int64) (io.ReadCloser, error) {
	var h http.Header
	if offset > 0 {
		h = http.Header{"Range": {fmt.Sprintf("bytes=%d-", offset)}}
	}
	resp, err := c.get(ctx, "/api/v1/files/"+url.PathEscape(fileID)+"/object", h)
	if err != nil {
		return nil, err
	}
	if offset > 0 && resp.StatusCode != http.StatusPartialContent {
		resp.Body.Close()
		return nil, errors.New("relay: api: range request not honoured")
	}
	return resp.Body, nil
}
