package dicomtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// KeyFile is the name of the answer key WriteCorpus writes.
const KeyFile = "answer_key.json"

// WriteCorpus generates the corpus of New(seed) with opts into dir (created
// if missing): one folder per patient and KeyFile at the top.
func WriteCorpus(dir string, seed uint64, opts CorpusOptions) (*Key, error) {
	files, key, err := New(seed).Corpus(opts)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("dicomtest: write corpus: %w", err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return nil, fmt.Errorf("dicomtest: write corpus: %w", err)
		}
	}
	js, err := json.MarshalIndent(key, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("dicomtest: answer key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), js, 0o644); err != nil {
		return nil, fmt.Errorf("dicomtest: answer key: %w", err)
	}
	return key, nil
}

// ReadKey loads an answer key written by WriteCorpus.
func ReadKey(path string) (*Key, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dicomtest: read key: %w", err)
	}
	var k Key
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("dicomtest: read key: %w", err)
	}
	return &k, nil
}
