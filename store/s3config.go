package store

import (
	"errors"
	"fmt"
)

// DefaultPartSize is the multipart part size used when S3Config.PartSize is
// zero. A streamed Put buffers at most about one part in memory.
const DefaultPartSize = 16 << 20

// S3Config configures the S3 back end. The zero value is not usable:
// Endpoint and Bucket are required.
type S3Config struct {
	// Endpoint is the server's host:port, without scheme (e.g.
	// "s3.eu-west-1.amazonaws.com" or "127.0.0.1:7070"). Required.
	Endpoint string `yaml:"endpoint" json:"endpoint"`
	// Bucket holds the objects. Required.
	Bucket string `yaml:"bucket" json:"bucket"`
	// AccessKey is the access key ID. Empty means anonymous access.
	AccessKey string `yaml:"access_key" json:"access_key"`
	// SecretKey is the secret access key; it prints as "**redacted**".
	SecretKey Secret `yaml:"secret_key" json:"secret_key"`
	// Region is the bucket's region. Empty lets the client discover it
	// (servers such as versitygw and MinIO default to "us-east-1").
	Region string `yaml:"region" json:"region"`
	// UseTLS selects https. Default false (plain http), which is only
	// acceptable on a trusted network: objects are sealed, but the
	// credentials' signatures and the metadata are not hidden.
	UseTLS bool `yaml:"use_tls" json:"use_tls"`
	// CreateBucket makes NewS3 create Bucket if it does not exist.
	// Default false: a missing bucket is an error.
	CreateBucket bool `yaml:"create_bucket" json:"create_bucket"`
	// PartSize is the multipart part size in bytes for large Puts.
	// Default (0) is DefaultPartSize; S3 requires at least 5 MiB.
	PartSize uint64 `yaml:"part_size" json:"part_size"`
	// SignPayload makes every upload carry a SigV4 signature of its body
	// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD: one SHA-256 and HMAC per 64 KiB
	// chunk). Default false: bodies go as unsigned payload with a CRC32C
	// trailer the server checks, which costs a fraction of the CPU. The
	// objects are sealed and signed, and every fetch verifies them against
	// the signed manifest, so the S3 signature adds no protection of the
	// content; set it for servers that refuse unsigned payloads.
	SignPayload bool `yaml:"sign_payload" json:"sign_payload"`
}

// Validate reports every problem with the configuration at once.
func (c S3Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("store: s3: endpoint is required"))
	}
	if c.Bucket == "" {
		errs = append(errs, errors.New("store: s3: bucket is required"))
	}
	if c.PartSize != 0 && c.PartSize < 5<<20 {
		errs = append(errs, fmt.Errorf("store: s3: part_size %d is below the 5 MiB minimum", c.PartSize))
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("store: s3: access_key and secret_key must be set together"))
	}
	return errors.Join(errs...)
}
