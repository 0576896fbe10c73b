package agent

import (
	"context"
	"io"
)

// Processor anonymises and seals one file: it reads the source from src and
// writes the sealed file to spool. A *[PermanentError] in the returned
// error chain quarantines the item; any other error is retried with
// back-off. Size and SHA256 in the result may be left zero: the pipeline
// measures what was written to spool.
type Processor interface {
	Process(ctx context.Context, item *Item, src io.Reader, spool io.Writer) (*ProcessResult, error)
}

// Uploader sends one sealed file to the relay and returns the relay's
// receipt. item carries the file id, size, hash and manifest. It must be
// idempotent: the same item may be uploaded again after a crash. A
// *[PermanentError] quarantines the item; any other error is retried with
// back-off.
type Uploader interface {
	Upload(ctx context.Context, item *Item, spool io.ReaderAt) (receipt []byte, err error)
}
