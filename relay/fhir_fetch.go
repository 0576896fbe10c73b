package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
)

// imagingStudyFile is the name [Fetch] gives a study's ImagingStudy, in
// the study's folder.
const imagingStudyFile = "imagingstudy.json"

// maxImagingStudySize bounds an ImagingStudy read from the relay.
const maxImagingStudySize = 64 << 20

// ImagingStudy returns the FHIR R4 ImagingStudy (JSON) of a study of
// project, built by the relay from pseudonymous metadata; it has no
// subject (see the package documentation).
func (c *Client) ImagingStudy(ctx context.Context, project, study string) ([]byte, error) {
	resp, err := c.get(ctx, "/api/v1/projects/"+url.PathEscape(project)+"/studies/"+url.PathEscape(study)+"/imagingstudy", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxImagingStudySize+1))
	if err != nil {
		return nil, fmt.Errorf("relay: api: read imagingstudy: %w", err)
	}
	if len(b) > maxImagingStudySize {
		return nil, errors.New("relay: api: imagingstudy too large")
	}
	return b, nil
}

// WriteImagingStudies writes DIR/<study uid>/imagingstudy.json, as the
// relay serves it, for study of project, or for every study of project
// when study is "". It is what `dicomgate fetch` runs after [Fetch]. A
// relay without the endpoint (404) is skipped silently; the error joins
// one error per study that failed.
func WriteImagingStudies(ctx context.Context, c *Client, project, study, dir string) error {
	studies := []string{study}
	if study == "" {
		list, err := c.Studies(ctx, project)
		if err != nil {
			return fmt.Errorf("relay: fetch: imagingstudy: %w", err)
		}
		studies = studies[:0]
		for _, st := range list {
			studies = append(studies, st.StudyUID)
		}
	}
	var errs []error
	for _, st := range studies {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := writeImagingStudy(ctx, c, project, st, dir); err != nil {
			errs = append(errs, fmt.Errorf("relay: fetch: imagingstudy of study %s: %w", st, err))
		}
	}
	return errors.Join(errs...)
}

// writeImagingStudy fetches and writes one study's ImagingStudy.
func writeImagingStudy(ctx context.Context, c *Client, project, study, dir string) error {
	if !validUID(study) {
		return errors.New("invalid study uid")
	}
	b, err := c.ImagingStudy(ctx, project, study)
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, study), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, study, imagingStudyFile), b, 0o600)
}
