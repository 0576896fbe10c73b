package agent

import (
	"bufio"
	"io"
	"sync"
)

// ioBufferSize is the size of the buffers between the source file, the
// processor and the spool file.
const ioBufferSize = 1 << 20

// bufPools recycles the 1 MiB buffered readers and writers of processing:
// allocating and zeroing two of them per file costs more than anonymising
// a CT slice. The zero value is ready to use.
type bufPools struct {
	readers, writers sync.Pool
}

func (b *bufPools) reader(r io.Reader) *bufio.Reader {
	if br, ok := b.readers.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, ioBufferSize)
}

func (b *bufPools) putReader(br *bufio.Reader) {
	br.Reset(nil)
	b.readers.Put(br)
}

func (b *bufPools) writer(w io.Writer) *bufio.Writer {
	if bw, ok := b.writers.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, ioBufferSize)
}

func (b *bufPools) putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	b.writers.Put(bw)
}
