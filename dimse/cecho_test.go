package dimse

import "testing"

// TestEchoSCU runs dcmtk echoscu against the server.
func TestEchoSCU(t *testing.T) {
	needTool(t, "echoscu")
	srv := &Server{AETitle: "GATE", Logger: testLogger(t), Handler: &dirStore{dir: t.TempDir()}}
	h, p := hostPort(t, startServer(t, srv))
	out, err := run(t, "echoscu", "-aet", "MODALITY", "-aec", "GATE", h, p)
	if err != nil {
		t.Fatalf("echoscu: %v\n%s", err, out)
	}
}
