package agent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"dicomgate/transport"
)

// TestReviewerSendsStatus: a round posts the queue's counts and a stuck
// flag to the status endpoint.
func TestReviewerSendsStatus(t *testing.T) {
	q := openTestQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	_, _, err := q.Add(t.Context(), Source{Path: "a.dcm", Size: 1, ModTime: time.Unix(1, 0)})
	must(t, err)
	got := make(chan transport.AgentStatus, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == transport.AgentStatusPath {
			var st transport.AgentStatus
			if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
				t.Error(err)
			}
			got <- st
		}
		if r.URL.Path == transport.CommandsPath {
			w.Write([]byte(`{"commands":[],"next":-1}`))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	time.Sleep(2 * time.Millisecond)
	r := &reviewer{log: testLogger(t), q: q, http: srv.Client(), base: srv.URL, stuckAfter: time.Millisecond}
	r.round(t.Context())
	select {
	case st := <-got:
		if !st.Stuck || st.Counts[string(StateSeen)] != 1 || st.OldestWaitingSeconds <= 0 || st.At.IsZero() {
			t.Fatalf("status %+v", st)
		}
	default:
		t.Fatal("no status posted")
	}
}
