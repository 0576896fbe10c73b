package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"dicomgate/seal"
)

// partialDirName is the folder of OutDir that holds partial downloads and
// decrypted files not yet verified.
const partialDirName = ".dicomgate-partial"

// FetchOptions configures [Fetch].
type FetchOptions struct {
	// Project to download. Required.
	Project string
	// Study, when set, restricts the download to one study UID.
	Study string
	// Identity is the core lab's secret key. Required.
	Identity *seal.Identity
	// TrustedAgents, when set, are the only keys manifests may be signed
	// with. Default: the keys of the project's enrolled agents as listed by
	// the relay (GET /api/v1/projects/{project}/agents), whose HTTPS
	// identity the Client pins.
	TrustedAgents []ed25519.PublicKey
	// OutDir receives OutDir/<study uid>/<series uid>/<sop instance
	// uid>.dcm; partial downloads wait in OutDir/.dicomgate-partial.
	// Required.
	OutDir string
	// Progress, when set, is called after each file.
	Progress func(FetchProgress)
}

// FetchProgress reports one finished file.
type FetchProgress struct {
	// Done and Total count files.
	Done, Total int
	// Bytes counts sealed bytes downloaded so far.
	Bytes int64
	// FileID is the file just finished.
	FileID string
	// Skipped is true when the file was already present and intact.
	Skipped bool
	// Err is why the file failed, nil on success.
	Err error
}

// FetchResult summarises a [Fetch].
type FetchResult struct {
	// Files is the number of files listed.
	Files int
	// Fetched counts files downloaded, verified and written.
	Fetched int
	// Skipped counts files already present with the right hash.
	Skipped int
	// Failed counts files refused or not downloaded.
	Failed int
	// Bytes counts sealed bytes downloaded.
	Bytes int64
}

// FileError is the failure of one file in [Fetch].
type FileError struct {
	// FileID is the file that failed (a pseudonymous ID).
	FileID string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *FileError) Error() string { return "relay: fetch " + e.FileID + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// ErrManifestMismatch reports a download whose bytes do not match the
// signed manifest (ciphertext or plaintext size or SHA-256), or a manifest
// that does not describe the file listed.
var ErrManifestMismatch = errors.New("relay: file does not match its signed manifest")

// Fetch downloads the files of a project (or one study), verifies each
// manifest's signature against a trusted agent key, the ciphertext against
// the manifest, decrypts with opts.Identity and verifies the plaintext
// before renaming it into place. A file that fails any check leaves
// nothing in OutDir; an interrupted download resumes from its .part file on
// the next run, and files already present with the right hash are skipped.
// It goes on after a failed file and returns the failures joined, as
// *FileError.
func Fetch(ctx context.Context, c *Client, opts FetchOptions) (*FetchResult, error) {
	if !validProject(opts.Project) {
		return nil, errors.New("relay: fetch: invalid project id")
	}
	if opts.Study != "" && !validUID(opts.Study) {
		return nil, errors.New("relay: fetch: invalid study uid")
	}
	if opts.Identity == nil {
		return nil, errors.New("relay: fetch: identity required")
	}
	if opts.OutDir == "" {
		return nil, errors.New("relay: fetch: output folder required")
	}
	trust, err := fetchTrust(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	files, err := listFiles(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	partDir := filepath.Join(opts.OutDir, partialDirName)
	if err := os.MkdirAll(partDir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: fetch: %w", err)
	}
	defer os.Remove(partDir) // only when empty

	res := &FetchResult{Files: len(files)}
	var errs []error
	for i, fi := range files {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		n, skipped, err := fetchFile(ctx, c, opts, trust, partDir, fi)
		res.Bytes += n
		switch {
		case err != nil:
			res.Failed++
			errs = append(errs, &FileError{FileID: fi.FileID, Err: err})
		case skipped:
			res.Skipped++
		default:
			res.Fetched++
		}
		if opts.Progress != nil {
			opts.Progress(FetchProgress{Done: i + 1, Total: len(files), Bytes: res.Bytes, FileID: fi.FileID, Skipped: skipped, Err: err})
		}
	}
	return res, errors.Join(errs...)
}

// signerCheck decides whether a manifest's signer may sign for the agent it
// names.
type signerCheck struct {
	keys map[string]string // hex public key -> agent ID ("" when pinned by the caller)
}

func fetchTrust(ctx context.Context, c *Client, opts FetchOptions) (*signerCheck, error) {
	t := &signerCheck{keys: map[string]string{}}
	if len(opts.TrustedAgents) > 0 {
		for _, k := range opts.TrustedAgents {
			t.keys[hex.EncodeToString(k)] = ""
		}
		return t, nil
	}
	agents, err := c.Agents(ctx, opts.Project)
	if err != nil {
		return nil, fmt.Errorf("relay: fetch: list agents: %w", err)
	}
	for _, a := range agents {
		if len(a.PublicKey) == ed25519.PublicKeySize {
			t.keys[hex.EncodeToString(a.PublicKey)] = a.ID
		}
	}
	return t, nil
}

// open verifies an envelope and returns its manifest.
func (t *signerCheck) open(envelope []byte) (*seal.Manifest, error) {
	var agentID string
	m, err := seal.OpenManifest(envelope, func(pub ed25519.PublicKey) error {
		id, ok := t.keys[hex.EncodeToString(pub)]
		if !ok {
			return errors.New("signer is not a trusted agent of the project")
		}
		agentID = id
		return nil
	})
	if err != nil {
		return nil, err
	}
	if agentID != "" && m.AgentID != agentID {
		return nil, fmt.Errorf("%w: signed by another agent than named", seal.ErrBadSignature)
	}
	return m, nil
}

func listFiles(ctx context.Context, c *Client, opts FetchOptions) ([]FileInfo, error) {
	studies := []string{opts.Study}
	if opts.Study == "" {
		list, err := c.Studies(ctx, opts.Project)
		if err != nil {
			return nil, fmt.Errorf("relay: fetch: list studies: %w", err)
		}
		studies = studies[:0]
		for _, s := range list {
			studies = append(studies, s.StudyUID)
		}
	}
	var files []FileInfo
	for _, st := range studies {
		fs, err := c.Files(ctx, opts.Project, st)
		if err != nil {
			return nil, fmt.Errorf("relay: fetch: list files: %w", err)
		}
		files = append(files, fs...)
	}
	return files, nil
}

// fetchFile fetches one file. It returns the sealed bytes downloaded and
// whether the file was already in place.
func fetchFile(ctx context.Context, c *Client, opts FetchOptions, trust *signerCheck, partDir string, fi FileInfo) (int64, bool, error) {
	if !validFileID(fi.FileID) {
		return 0, false, errors.New("invalid file id")
	}
	env, err := c.Manifest(ctx, fi.FileID)
	if err != nil {
		return 0, false, err
	}
	m, err := trust.open(env)
	if err != nil {
		return 0, false, err
	}
	if m.FileID != fi.FileID || m.Project != opts.Project || (opts.Study != "" && m.StudyInstanceUID != opts.Study) {
		return 0, false, fmt.Errorf("%w: manifest describes another file", ErrManifestMismatch)
	}
	if !validUID(m.StudyInstanceUID) || !validUID(m.SeriesInstanceUID) || !validUID(m.SOPInstanceUID) {
		return 0, false, errors.New("manifest uid outside the allowed character set")
	}
	dest := filepath.Join(opts.OutDir, m.StudyInstanceUID, m.SeriesInstanceUID, m.SOPInstanceUID+".dcm")
	if ok, err := fileHasHash(dest, m.PlaintextSize, m.PlaintextSHA256); err != nil {
		return 0, false, err
	} else if ok {
		return 0, true, nil
	}

	part := filepath.Join(partDir, fi.FileID+".dgseal.part")
	n, err := download(ctx, c, fi.FileID, part, m.CiphertextSize)
	if err != nil {
		// A non-empty .part stays for the next run to resume.
		if st, serr := os.Stat(part); serr == nil && st.Size() == 0 {
			os.Remove(part)
		}
		return n, false, err
	}
	if err := openVerified(part, dest, m, opts.Identity); err != nil {
		os.Remove(part)
		return n, false, err
	}
	os.Remove(part)
	return n, false, nil
}

// download completes the partial download at part to size bytes, resuming
// with a range request. It returns the bytes transferred.
func download(ctx context.Context, c *Client, fileID, part string, size int64) (int64, error) {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	have := fi.Size()
	if have > size {
		if err := f.Truncate(0); err != nil {
			return 0, err
		}
		have = 0
	}
	if have == size {
		return 0, nil
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return 0, err
	}
	rc, err := c.Object(ctx, fileID, have)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.Copy(f, io.LimitReader(rc, size-have+1))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if err != nil {
		return n, fmt.Errorf("download: %w", err)
	}
	return n, nil
}

// openVerified checks the sealed file at part against m, decrypts it into a
// temporary file next to it, checks the plaintext and renames it to dest.
func openVerified(part, dest string, m *seal.Manifest, id *seal.Identity) error {
	if ok, err := fileHasHash(part, m.CiphertextSize, m.CiphertextSHA256); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: sealed bytes differ", ErrManifestMismatch)
	}
	src, err := os.Open(part)
	if err != nil {
		return err
	}
	defer src.Close()
	r, err := seal.NewReader(src, id)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(part), ".plain-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		return err
	}
	if n != m.PlaintextSize || hex.EncodeToString(h.Sum(nil)) != m.PlaintextSHA256 {
		return fmt.Errorf("%w: plaintext differs", ErrManifestMismatch)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dest))
}

// fileHasHash reports whether path exists with the given size and hex
// SHA-256.
func fileHasHash(path string, size int64, sum string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return false, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == sum, nil
}
