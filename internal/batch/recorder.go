package batch

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// MapRecorder collects original → pseudonym pairs for the CSV maps a user
// asks for (`--map-dir`). The maps re-identify patients: they are written
// only where the user asks, with mode 0600.
type MapRecorder struct {
	mu       sync.Mutex
	uids     map[string]string // +checklocks:mu
	patients map[string]string // +checklocks:mu
}

// NewMapRecorder returns an empty recorder.
func NewMapRecorder() *MapRecorder {
	return &MapRecorder{uids: map[string]string{}, patients: map[string]string{}}
}

// RecordUID implements anonymize.Recorder.
func (m *MapRecorder) RecordUID(original, replacement string) {
	m.mu.Lock()
	m.uids[original] = replacement
	m.mu.Unlock()
}

// RecordPatientID implements anonymize.Recorder.
func (m *MapRecorder) RecordPatientID(original, replacement string) {
	m.mu.Lock()
	m.patients[original] = replacement
	m.mu.Unlock()
}

// WriteCSV writes dir/uid_map.csv and dir/patient_map.csv with the header
// id_old,id_new.
func (m *MapRecorder) WriteCSV(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("batch: map: %w", err)
	}
	for name, mp := range map[string]map[string]string{"uid_map.csv": m.uids, "patient_map.csv": m.patients} {
		if err := writeMap(filepath.Join(dir, name), mp); err != nil {
			return err
		}
	}
	return nil
}

func writeMap(path string, mp map[string]string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("batch: map: %w", err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"id_old", "id_new"})
	keys := make([]string, 0, len(mp))
	for k := range mp {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.Write([]string{k, mp[k]})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("batch: map: %w", err)
	}
	return f.Close()
}
