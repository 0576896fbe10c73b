package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretRedacted(t *testing.T) {
	cfg := S3Config{Endpoint: "h:1", Bucket: "b", AccessKey: "AK", SecretKey: "hunter2-secret"}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"%s": fmt.Sprintf("%s", cfg.SecretKey), "json": string(j), "yaml": string(y),
	}
	for name, out := range outputs {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "**redacted**") {
			t.Errorf("%s leaks or lacks redaction: %s", name, out)
		}
	}
	var back S3Config
	if err := yaml.Unmarshal([]byte("secret_key: s3cr3t\n"), &back); err != nil || string(back.SecretKey) != "s3cr3t" {
		t.Errorf("yaml unmarshal: %q, %v", string(back.SecretKey), err)
	}
}

func TestS3ConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  S3Config
		want []string
	}{
		{"ok", S3Config{Endpoint: "h:1", Bucket: "b"}, nil},
		{"empty", S3Config{}, []string{"endpoint", "bucket"}},
		{"part size", S3Config{Endpoint: "h", Bucket: "b", PartSize: 1 << 20}, []string{"part_size"}},
		{"half creds", S3Config{Endpoint: "h", Bucket: "b", AccessKey: "a"}, []string{"secret_key"}},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		if (err == nil) != (tc.want == nil) {
			t.Errorf("%s: Validate = %v", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: Validate = %v, want mention of %s", tc.name, err, w)
			}
		}
	}
}
