package seal

import "sync/atomic"

// asyncAfter is how many chunks a [Writer] writes itself before it hands
// the writing and hashing of the ciphertext of a long file to a goroutine
// of its own: encrypting (and hashing the plaintext) and writing (and
// hashing the ciphertext) of one file then run on two cores. Files of a
// few chunks, most of them, never start the goroutine.
const asyncAfter = 8

// asyncBuffers is how many sealed chunks may wait for the goroutine.
const asyncBuffers = 2

// sealedChunk is a sealed chunk handed to the emitter: b[:n] of a chunk
// buffer.
type sealedChunk struct {
	buf *[]byte
	n   int
}

// emitter writes a Writer's sealed chunks, in order, in its own goroutine
// (see asyncAfter). Only the goroutine touches the Writer's destination and
// ciphertext hash until done is closed; then err and the Writer's stats
// hold the outcome.
type emitter struct {
	full   chan sealedChunk // chunks to write; closed by the Writer
	free   chan *[]byte     // buffers written, for the Writer to reuse
	done   chan struct{}    // closed when the goroutine ends
	failed atomic.Bool      // a write failed (then err is set)
	err    error            // first write error; read after done
	n      int64            // bytes written; read after done
}

// startAsync starts w's emitter.
func (w *Writer) startAsync() {
	e := &emitter{
		full: make(chan sealedChunk, asyncBuffers),
		free: make(chan *[]byte, asyncBuffers+1),
		done: make(chan struct{}),
	}
	w.async = e
	go func() {
		defer close(e.done)
		for c := range e.full {
			if e.err == nil {
				var n int
				n, e.err = w.emit((*c.buf)[:c.n])
				e.n += int64(n)
				if e.err != nil {
					e.failed.Store(true)
				}
			}
			select {
			case e.free <- c.buf:
			default:
				putChunkBuffer(c.buf)
			}
		}
	}()
}

// emitAsync hands the sealed chunk in w's current buffer (out, which
// aliases it) to the emitter and gives w a buffer for the next chunk.
// It reports a write error of an earlier chunk if it sees one.
func (w *Writer) emitAsync(out []byte) error {
	e := w.async
	if e.failed.Load() {
		return w.stopAsync()
	}
	e.full <- sealedChunk{buf: w.pooled, n: len(out)}
	select {
	case b := <-e.free:
		w.pooled = b
	default:
		w.pooled = getChunkBuffer(w.chunk + tagSize)
	}
	w.buf = (*w.pooled)[:0]
	return nil
}

// stopAsync waits for w's emitter to write what it holds and returns its
// first error; the buffers go back to the pool.
func (w *Writer) stopAsync() error {
	e := w.async
	if e == nil {
		return nil
	}
	w.async = nil
	close(e.full)
	<-e.done
	w.stats.CiphertextSize += e.n
	for {
		select {
		case b := <-e.free:
			putChunkBuffer(b)
		default:
			return e.err
		}
	}
}

// Abort stops a Writer that will not be closed (its plaintext failed part
// way): it waits for what is being written and releases its resources.
// What was written is an incomplete sealed file. Abort after Close does
// nothing; Write and Close after Abort fail.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.stopAsync()
	if w.err == nil {
		w.err = errAborted
	}
	putChunkBuffer(w.pooled)
	w.pooled, w.buf = nil, nil
	w.closed = true
}
