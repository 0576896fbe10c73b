package store

import (
	"errors"
	"net/http"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/minio/minio-go/v7"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// pgDiskFull is PostgreSQL's SQLSTATE for "could not extend file: no space
// left on device".
const pgDiskFull = "53100"

// IsFull reports whether err says that the storage under a back end is
// full or over quota: the disk of an [FS] store or of a staging folder
// (ENOSPC, EDQUOT), the disk of the [SQLite] database (SQLITE_FULL), a
// [Postgres] server's disk (SQLSTATE 53100) or an S3 server that has no
// room left (507 Insufficient Storage, XMinioStorageFull). Such a failure
// changed nothing (the write was refused whole: a temporary file is
// removed, a transaction rolled back) and is transient: the same call
// succeeds once space returns, so callers wait and retry rather than
// refuse the data for good.
func IsFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgDiskFull {
		return true
	}
	var er minio.ErrorResponse
	return errors.As(err, &er) && (er.StatusCode == http.StatusInsufficientStorage || er.Code == "XMinioStorageFull")
}
