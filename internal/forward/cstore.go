package forward

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"dicomgate/dimse"
)

// DefaultCallingAE is the calling AE title of [CStore] when none is set.
const DefaultCallingAE = "DICOMGATE"

// maxPairs is the number of SOP class / transfer syntax pairs proposed in
// one association: 127 presentation contexts, one of them Verification.
const maxPairs = 126

// CStore forwards files by DICOM C-STORE. Every field but Addr and
// CalledAE has a default.
type CStore struct {
	// Addr is the PACS's host:port. Required.
	Addr string
	// CalledAE is the PACS's AE title. Required.
	CalledAE string
	// CallingAE is our AE title. Default: DefaultCallingAE.
	CallingAE string
	// Logger gets one line per association; the zero value is silent.
	Logger zerolog.Logger
}

// Forward implements [Forwarder]. It reads the meta group of every file,
// then opens one association per 126 distinct SOP class / transfer syntax
// pairs, proposing exactly those pairs, and stores the files over it. A
// file whose pair the PACS rejects, or whose store fails with a DIMSE
// status, fails alone (wrapping [ErrNotAccepted]); after a broken
// association the remaining files go over a new one.
func (c *CStore) Forward(ctx context.Context, files []string) (*Result, error) {
	if c.Addr == "" || c.CalledAE == "" {
		return nil, errors.New("forward: c-store needs an address and a called ae title")
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
	for _, batch := range batchByPairs(infos, maxPairs) {
		if err := ctx.Err(); err != nil {
			res.Failed += len(batch)
			errs = append(errs, fmt.Errorf("forward: %w", err))
			continue
		}
		errs = append(errs, c.storeBatch(ctx, batch, res)...)
	}
	c.Logger.Info().Str("called_ae", c.CalledAE).Str("addr", c.Addr).Int("sent", res.Sent).
		Int("failed", res.Failed).Int64("bytes", res.Bytes).Msg("forward: c-store done")
	return res, errors.Join(errs...)
}

// batchByPairs splits files into runs needing at most n distinct pairs,
// keeping their order.
func batchByPairs(files []fileInfo, n int) [][]fileInfo {
	var batches [][]fileInfo
	var cur []fileInfo
	pairs := map[dimse.Presentation]bool{}
	for _, f := range files {
		p := dimse.Presentation{SOPClassUID: f.meta.MediaStorageSOPClassUID, TransferSyntax: f.meta.TransferSyntaxUID}
		if !pairs[p] && len(pairs) == n {
			batches, cur, pairs = append(batches, cur), nil, map[dimse.Presentation]bool{}
		}
		pairs[p] = true
		cur = append(cur, f)
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches
}

// storeBatch stores one batch over one association (or more, after a
// broken one), counting into res.
func (c *CStore) storeBatch(ctx context.Context, batch []fileInfo, res *Result) []error {
	var errs []error
	var a *dimse.Association
	defer func() {
		if a != nil {
			if err := a.Release(context.WithoutCancel(ctx)); err != nil {
				c.Logger.Warn().Err(err).Msg("forward: release")
			}
		}
	}()
	for i, f := range batch {
		if a == nil {
			var err error
			if a, err = c.dial(ctx, batch[i:]); err != nil {
				for _, g := range batch[i:] {
					res.Failed++
					errs = append(errs, fileErr(g.path, err))
				}
				return errs
			}
		}
		err := c.storeFile(ctx, a, f)
		var se *dimse.StatusError
		switch {
		case err == nil:
			res.Sent++
			res.Bytes += f.size
			continue
		case errors.Is(err, dimse.ErrNoContext), errors.As(err, &se):
			err = fmt.Errorf("%w: %w", ErrNotAccepted, err)
		default:
			// The association is unusable: the next file dials again.
			a.Abort()
			a = nil
		}
		res.Failed++
		errs = append(errs, fileErr(f.path, err))
	}
	return errs
}

// dial opens an association proposing exactly the pairs of files.
func (c *CStore) dial(ctx context.Context, files []fileInfo) (*dimse.Association, error) {
	var pres []dimse.Presentation
	seen := map[dimse.Presentation]bool{}
	for _, f := range files {
		p := dimse.Presentation{SOPClassUID: f.meta.MediaStorageSOPClassUID, TransferSyntax: f.meta.TransferSyntaxUID}
		if !seen[p] {
			seen[p] = true
			pres = append(pres, p)
		}
	}
	calling := c.CallingAE
	if calling == "" {
		calling = DefaultCallingAE
	}
	d := dimse.Dialer{Presentations: pres, Logger: c.Logger}
	a, err := d.Dial(ctx, c.Addr, calling, c.CalledAE)
	if err != nil {
		return nil, fmt.Errorf("forward: associate with %s: %w", c.CalledAE, err)
	}
	c.Logger.Debug().Str("called_ae", c.CalledAE).Int("pairs", len(pres)).Msg("forward: association open")
	return a, nil
}

// storeFile sends one file over a.
func (c *CStore) storeFile(ctx context.Context, a *dimse.Association, f fileInfo) error {
	if !a.CanStore(f.meta.MediaStorageSOPClassUID, f.meta.TransferSyntaxUID) {
		return fmt.Errorf("%w for sop class %s in %s", dimse.ErrNoContext, f.meta.MediaStorageSOPClassUID, f.meta.TransferSyntaxUID)
	}
	r, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := a.Store(ctx, r); err != nil {
		return err
	}
	c.Logger.Debug().Str("sop_instance_uid", f.meta.MediaStorageSOPInstanceUID).Msg("forward: c-store sent")
	return nil
}

var _ Forwarder = (*CStore)(nil)
