package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// relayMetrics scrapes the relay's /metrics (HTTPS, relay CA pinned); ""
// when it does not answer.
func (s *site) relayMetrics() string {
	s.t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.dir, "relay", "ca", "ca.crt"))
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
	return scrape(c, s.apiURL+"/metrics")
}

// scrape GETs url and returns the body, "" on any failure.
func scrape(c *http.Client, url string) string {
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

// metricValue returns the value of series (a name with its labels, as
// printed: `name{label="v"}`) in Prometheus text, and whether it is there.
func metricValue(text, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || name != series {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		return v, err == nil
	}
	return 0, false
}
