package relay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"dicomgate/store"
)

// ReaderTokenPrefix starts every reader bearer token.
const ReaderTokenPrefix = "dgr1_"

// ErrUnauthenticated is returned by an [Authenticator] for a request
// without credentials or with unknown ones (HTTP 401).
var ErrUnauthenticated = errors.New("relay: unauthenticated")

// Principal is an authenticated API caller.
type Principal struct {
	// Name identifies the caller in download records and logs.
	Name string
	// Projects the caller may read; "*" means every project.
	Projects []string
	// Grants are the caller's roles per project. A bearer-token reader
	// holds corelab_reader on each of its Projects.
	Grants []store.Grant

	// session is set for a caller signed in with an account.
	session *callerSession
}

// CanRead reports whether p may read project's files.
func (p *Principal) CanRead(project string) bool {
	return slices.Contains(p.Projects, "*") || slices.Contains(p.Projects, project)
}

// Authenticator decides who sent an API request. Bearer tokens from the
// configuration ([TokenAuthenticator]) are the first implementation;
// accounts and sessions come later behind the same interface.
type Authenticator interface {
	// Authenticate returns the caller of r, or an error wrapping
	// ErrUnauthenticated when r carries no valid credentials; any other
	// error is a server failure.
	Authenticate(ctx context.Context, r *http.Request) (*Principal, error)
}

// TokenAuthenticator authenticates "Authorization: Bearer <token>" against
// the readers of the configuration, which hold only token hashes.
type TokenAuthenticator struct {
	byHash map[string]Principal
}

var _ Authenticator = (*TokenAuthenticator)(nil)

// NewTokenAuthenticator returns an authenticator for readers.
func NewTokenAuthenticator(readers []ReaderConfig) (*TokenAuthenticator, error) {
	a := &TokenAuthenticator{byHash: make(map[string]Principal, len(readers))}
	for _, r := range readers {
		if !isHexDigest(r.TokenHash) {
			return nil, fmt.Errorf("relay: reader %s: token hash must be 64 lower-case hex digits", r.Name)
		}
		if _, dup := a.byHash[r.TokenHash]; dup {
			return nil, fmt.Errorf("relay: reader %s: token hash used twice", r.Name)
		}
		a.byHash[r.TokenHash] = Principal{Name: r.Name, Projects: slices.Clone(r.Projects)}
	}
	return a, nil
}

// Authenticate implements Authenticator.
func (a *TokenAuthenticator) Authenticate(ctx context.Context, r *http.Request) (*Principal, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, ErrUnauthenticated
	}
	// Looking up the hash reveals nothing usable about the token through
	// timing: an attacker controls the input, not its hash.
	p, ok := a.byHash[HashReaderToken(strings.TrimSpace(token))]
	if !ok {
		return nil, ErrUnauthenticated
	}
	return &p, nil
}

// HashReaderToken returns the value stored in ReaderConfig.TokenHash for a
// bearer token: its hex SHA-256.
func HashReaderToken(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// NewReaderToken returns a new random bearer token for a core lab and the
// hash to put in the relay configuration. The token is a secret: give it to
// the reader once and never log it.
func NewReaderToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("relay: reader token: %w", err)
	}
	token = ReaderTokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashReaderToken(token), nil
}
