package seal

import "sync"

// chunkBuffers recycles the chunk buffers of Writers using the default
// chunk size: an agent seals thousands of small files a minute, and a fresh
// 1 MiB buffer per file costs more in allocation and zeroing than the
// encryption of a CT slice. Buffers of other sizes are not pooled.
var chunkBuffers = sync.Pool{New: func() any {
	b := make([]byte, DefaultChunkSize+tagSize)
	return &b
}}

// getChunkBuffer returns a buffer of length n.
func getChunkBuffer(n int) *[]byte {
	if n != DefaultChunkSize+tagSize {
		b := make([]byte, n)
		return &b
	}
	return chunkBuffers.Get().(*[]byte)
}

// putChunkBuffer recycles b if it is of the pooled size.
func putChunkBuffer(b *[]byte) {
	if b != nil && len(*b) == DefaultChunkSize+tagSize {
		chunkBuffers.Put(b)
	}
}
