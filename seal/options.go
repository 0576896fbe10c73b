package seal

import (
	"crypto/rand"
	"io"
)

// An Option configures a [Writer].
type Option func(*writerConfig)

// writerConfig holds the settings of a Writer.
type writerConfig struct {
	chunkSize int
	rand      io.Reader
}

// WithChunkSize sets the plaintext size of every chunk but the last. It
// must be between [MinChunkSize] and [MaxChunkSize]; the default is
// [DefaultChunkSize]. Small sizes are meant for tests.
func WithChunkSize(n int) Option {
	return func(c *writerConfig) { c.chunkSize = n }
}

// WithRand sets the source of the data key and the file salt; the default is
// crypto/rand. It exists for reproducible test vectors: never use a
// non-random source in production. (HPKE encapsulation always draws from
// crypto/rand; see testing/cryptotest.SetGlobalRandom.)
func WithRand(r io.Reader) Option {
	return func(c *writerConfig) { c.rand = r }
}

// newWriterConfig applies opts over the defaults.
func newWriterConfig(opts []Option) writerConfig {
	c := writerConfig{chunkSize: DefaultChunkSize, rand: rand.Reader}
	for _, o := range opts {
		o(&c)
	}
	return c
}
