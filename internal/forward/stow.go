package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strings"

	"github.com/rs/zerolog"
)

// DefaultSTOWBatch is the number of files per STOW-RS request when
// [STOW.Batch] is zero.
const DefaultSTOWBatch = 50

// STOW forwards files by DICOMweb STOW-RS (PS3.18 section 10.5). Every
// field but URL has a default.
type STOW struct {
	// URL is the DICOMweb service root, e.g.
	// "http://pacs:8042/dicom-web"; files are posted to URL/studies.
	// Required.
	URL string
	// Client sends the requests. Default: http.DefaultClient.
	Client *http.Client
	// Header is added to every request (e.g. Authorization). Default: none.
	Header http.Header
	// Batch is the number of files per request. Default: DefaultSTOWBatch.
	Batch int
	// Logger gets one line per request; the zero value is silent.
	Logger zerolog.Logger
}

// Forward implements [Forwarder]. Files are streamed (never held in
// memory) in multipart/related; type="application/dicom" requests of
// Batch files. A file fails when the PACS lists its SOP instance in the
// FailedSOPSequence of its answer, or when its whole request fails.
func (s *STOW) Forward(ctx context.Context, files []string) (*Result, error) {
	if s.URL == "" {
		return nil, errors.New("forward: stow-rs needs a url")
	}
	batch := s.Batch
	if batch <= 0 {
		batch = DefaultSTOWBatch
	}
	res := &Result{Files: len(files)}
	var errs []error
	var infos []fileInfo
	for _, p := range files {
		fi, err := readMeta(p)
		if err != nil {
			res.Failed++
			errs = append(errs, fileErr(p, err))
			continue
		}
		infos = append(infos, fi)
	}
	for start := 0; start < len(infos); start += batch {
		part := infos[start:min(start+batch, len(infos))]
		failed, err := s.post(ctx, part)
		for _, f := range part {
			switch {
			case err != nil:
				res.Failed++
				errs = append(errs, fileErr(f.path, err))
			case failed[f.meta.MediaStorageSOPInstanceUID] != "":
				res.Failed++
				errs = append(errs, fileErr(f.path, fmt.Errorf("%w: stow-rs failure reason %s",
					ErrNotAccepted, failed[f.meta.MediaStorageSOPInstanceUID])))
			default:
				res.Sent++
				res.Bytes += f.size
			}
		}
	}
	s.Logger.Info().Int("sent", res.Sent).Int("failed", res.Failed).Int64("bytes", res.Bytes).Msg("forward: stow-rs done")
	return res, errors.Join(errs...)
}

// post sends one request and returns the failure reason of each failed SOP
// instance, or an error when the whole request failed.
func (s *STOW) post(ctx context.Context, files []fileInfo) (map[string]string, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() { pw.CloseWithError(writeParts(mw, files)) }()
	defer pr.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.URL, "/")+"/studies", pr)
	if err != nil {
		return nil, fmt.Errorf("forward: stow-rs: %w", err)
	}
	for k, v := range s.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	req.Header.Set("Accept", "application/dicom+json")
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("forward: stow-rs: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("forward: stow-rs: read answer: %w", err)
	}
	s.Logger.Debug().Int("files", len(files)).Int("status", resp.StatusCode).Msg("forward: stow-rs request")
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusConflict:
		// 202: some failed; 409: all failed. The answer says which.
	default:
		return nil, fmt.Errorf("%w: stow-rs answered %s", ErrNotAccepted, resp.Status)
	}
	failed, err := failedInstances(body)
	if err != nil && resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: stow-rs answered %s: %w", ErrNotAccepted, resp.Status, err)
	}
	if resp.StatusCode == http.StatusConflict && len(failed) == 0 {
		return nil, fmt.Errorf("%w: stow-rs answered %s", ErrNotAccepted, resp.Status)
	}
	return failed, nil
}

// writeParts writes one application/dicom part per file and closes mw.
func writeParts(mw *multipart.Writer, files []fileInfo) error {
	for _, f := range files {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			return err
		}
		if err := copyFile(w, f.path); err != nil {
			return err
		}
	}
	return mw.Close()
}

// copyFile copies the file at path to w.
func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// dicomJSON is the part of a DICOM JSON data set the answer is read for.
type dicomJSON map[string]struct {
	Value []json.RawMessage `json:"Value"`
}

// failedInstances reads a STOW-RS answer (PS3.18 table 10.5.3-1): the
// ReferencedSOPInstanceUID (0008,1155) and FailureReason (0008,1197) of
// each item of the FailedSOPSequence (0008,1198).
func failedInstances(body []byte) (map[string]string, error) {
	failed := map[string]string{}
	if len(strings.TrimSpace(string(body))) == 0 {
		return failed, nil
	}
	var ds dicomJSON
	if err := json.Unmarshal(body, &ds); err != nil {
		// Some servers wrap the data set in an array.
		var arr []dicomJSON
		if err2 := json.Unmarshal(body, &arr); err2 != nil || len(arr) == 0 {
			return failed, fmt.Errorf("answer is not dicom json: %w", err)
		}
		ds = arr[0]
	}
	for _, raw := range ds["00081198"].Value {
		var item dicomJSON
		if err := json.Unmarshal(raw, &item); err != nil {
			continue
		}
		uid, reason := firstString(item["00081155"].Value), "unknown"
		if v := item["00081197"].Value; len(v) > 0 {
			reason = strings.Trim(string(v[0]), `"`)
		}
		if uid != "" {
			failed[uid] = reason
		}
	}
	return failed, nil
}

// firstString returns the first value as a string, or "".
func firstString(v []json.RawMessage) string {
	if len(v) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v[0], &s) != nil {
		return ""
	}
	return s
}

var _ Forwarder = (*STOW)(nil)
