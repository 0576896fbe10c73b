package audit

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TestVerifyTamper builds a log of 1,000 events, checks that it verifies,
// then tampers with copies of it directly in SQLite and checks that
// Verify names the first bad entry and why.
func TestVerifyTamper(t *testing.T) {
	signer := testKey(t, "dicomgate-relay", 1)
	vs, err := NewVerifiers(signer.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	base := buildLog(t, t.TempDir(), 1000, 100, signer)

	t.Run("intact", func(t *testing.T) {
		l := openLog(t, base, signer, nil)
		r, err := l.Verify(t.Context(), vs)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK || r.Size != 1000 || r.Latest == nil || r.Latest.Size != 1000 || r.Unsealed != 0 || r.Checkpoints != 11 {
			t.Fatalf("Verify = %+v; want OK, 1000 entries sealed by 11 checkpoints", r)
		}
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
	})

	tests := []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB)
		index  int64 // -1: a checkpoint problem
		reason Reason
	}{
		{"edit data of 500", func(t *testing.T, db *sql.DB) {
			editActor(t, db, 500)
		}, 500, ReasonEdited},
		{"edit data of 500 but not its column", func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `UPDATE audit_entries SET data = CAST(replace(CAST(data AS TEXT), '"actor":"user0"', '"actor":"mallory"') AS BLOB) WHERE idx = 500`)
		}, 500, ReasonEdited},
		{"edit actor column of 500", func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `UPDATE audit_entries SET actor = 'mallory' WHERE idx = 500`)
		}, 500, ReasonEdited},
		{"edit time column of 500", func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `UPDATE audit_entries SET time = time - 3600000000 WHERE idx = 500`)
		}, 500, ReasonEdited},
		{"delete 300", func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `DELETE FROM audit_entries WHERE idx = 300`)
		}, 300, ReasonDeleted},
		{"delete 300 and its hashes", func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `DELETE FROM audit_entries WHERE idx = 300`,
				fmt.Sprintf(`DELETE FROM audit_hashes WHERE id >= %d AND id < %d`, tlog.StoredHashIndex(0, 300), tlog.StoredHashIndex(0, 301)))
		}, 300, ReasonDeleted},
		{"truncate the last entry", func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `DELETE FROM audit_entries WHERE idx = 999`)
		}, 999, ReasonDeleted},
		{"insert a forged row, renumbering the rest", func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `UPDATE audit_entries SET idx = idx + 100000 WHERE idx >= 700`,
				`UPDATE audit_entries SET idx = idx - 99999 WHERE idx >= 100000`)
			forgeRow(t, db, 700)
		}, 700, ReasonInserted},
		{"insert a forged row at the end", func(t *testing.T, db *sql.DB) {
			forgeRow(t, db, 1000)
		}, 1000, ReasonInserted},
		{"swap rows 100 and 200", func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `UPDATE audit_entries SET idx = -1 WHERE idx = 100`,
				`UPDATE audit_entries SET idx = 100 WHERE idx = 200`,
				`UPDATE audit_entries SET idx = 200 WHERE idx = -1`)
		}, 100, ReasonReordered},
		{"swap contents of rows 100 and 200", func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `CREATE TEMP TABLE x AS SELECT * FROM audit_entries WHERE idx IN (100, 200)`,
				`UPDATE audit_entries SET (time, actor, action, project, study, data) =
					(SELECT time, actor, action, project, study, data FROM x WHERE x.idx = 300 - audit_entries.idx)
					WHERE idx IN (100, 200)`)
		}, 100, ReasonReordered},
		{"edit 500 and rewrite every stored hash", func(t *testing.T, db *sql.DB) {
			editActor(t, db, 500)
			rehash(t, db)
		}, 500, ReasonCheckpoint},
		{"edit 500 and its leaf hash", func(t *testing.T, db *sql.DB) {
			editActor(t, db, 500)
			var data []byte
			if err := db.QueryRow(`SELECT data FROM audit_entries WHERE idx = 500`).Scan(&data); err != nil {
				t.Fatal(err)
			}
			h := tlog.RecordHash(data)
			if _, err := db.Exec(`UPDATE audit_hashes SET hash = ? WHERE id = ?`, h[:], tlog.StoredHashIndex(0, 500)); err != nil {
				t.Fatal(err)
			}
		}, 500, ReasonHashes},
		{"edit a stored checkpoint", func(t *testing.T, db *sql.DB) {
			mustExec(t, db, `UPDATE audit_checkpoints SET note = replace(note, char(10) || '500' || char(10), char(10) || '499' || char(10)) WHERE size = 500`,
				`UPDATE audit_checkpoints SET size = 499 WHERE size = 500`)
		}, -1, ReasonSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tampered.db")
			copyFile(t, base, path)
			tt.tamper(t, rawDB(t, path))
			l := openLog(t, path, signer, nil)
			r, err := l.Verify(t.Context(), vs)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK {
				t.Fatalf("Verify = OK after tampering")
			}
			if r.First.Index != tt.index || r.First.Reason != tt.reason {
				t.Fatalf("first problem = %s; want entry %d %s (all: %v)", r.First, tt.index, tt.reason, r.Problems)
			}
			err = r.Err()
			var ve *VerifyError
			if !errors.Is(err, ErrTampered) || !errors.As(err, &ve) || ve.Index != tt.index {
				t.Fatalf("Err() = %v; want a VerifyError for %d", err, tt.index)
			}
			t.Logf("%v", err)
		})
	}
}

// forgeRow inserts a well-formed entry at idx that was never appended.
func forgeRow(t *testing.T, db *sql.DB, idx int64) {
	t.Helper()
	e := Entry{Index: idx, Event: Event{Time: testEpoch, Actor: "mallory", Action: ActionDownload, Project: "p0", Study: "2.25.1"}}
	data, err := encodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO audit_entries (idx, time, actor, action, project, study, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		idx, testEpoch.UnixMicro(), e.Actor, string(e.Action), e.Project, e.Study, data); err != nil {
		t.Fatal(err)
	}
}

// rehash rewrites every stored hash from the entries as they now are: an
// attacker who knows the algorithm.
func rehash(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.Query(`SELECT data FROM audit_entries ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	var all []tlog.Hash
	r := tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) {
		hs := make([]tlog.Hash, len(ids))
		for i, id := range ids {
			hs[i] = all[id]
		}
		return hs, nil
	})
	for n := int64(0); rows.Next(); n++ {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			t.Fatal(err)
		}
		hs, err := tlog.StoredHashes(n, data, r)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, hs...)
	}
	rows.Close()
	for id, h := range all {
		if _, err := db.Exec(`UPDATE audit_hashes SET hash = ? WHERE id = ?`, h[:], id); err != nil {
			t.Fatal(err)
		}
	}
}

// editActor changes the actor of entry idx (one of user0's) to mallory, in
// the data and in the column alike.
func editActor(t *testing.T, db *sql.DB, idx int64) {
	t.Helper()
	mustExec(t, db, fmt.Sprintf(`UPDATE audit_entries SET actor = 'mallory',
		data = CAST(replace(CAST(data AS TEXT), '"actor":"user0"', '"actor":"mallory"') AS BLOB) WHERE idx = %d`, idx))
}
