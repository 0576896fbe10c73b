package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"dicomgate/anonymize"
	"dicomgate/policy"
	"dicomgate/seal"
)

// ProcessorConfig is what a [SealProcessor] needs. Every field is required.
type ProcessorConfig struct {
	// Project and Site go into every manifest.
	Project, Site string
	// AgentID is the enrolled agent's ID, as in its certificate.
	AgentID string
	// Policy is the anonymisation policy; it is compiled with Secret.
	Policy *policy.Policy
	// Secret is the site re-identification secret keying the pseudonyms:
	// the same secret as `dicomgate anonymize --secret-file` gives the same
	// output.
	Secret []byte
	// Recipients are the keys files are sealed to.
	Recipients []*seal.Recipient
	// SigningKey signs manifests. It must be the key of the agent's TLS
	// client certificate: the relay verifies manifests with that key.
	SigningKey ed25519.PrivateKey
	// Now is the clock of the manifests' Created time (optional; default
	// time.Now). The relay keeps it as the agent's claim only.
	Now func() time.Time
}

// SealProcessor is the real [Processor]: it anonymises a file with the
// compiled policy and streams the output straight into a sealed file, so
// nothing readable is ever written to disk, then signs its manifest. It is
// safe for concurrent use.
type SealProcessor struct {
	cfg  ProcessorConfig
	anon *anonymize.Anonymizer
	now  func() time.Time
}

// NewProcessor compiles cfg.Policy with cfg.Secret and returns the
// processor.
func NewProcessor(cfg ProcessorConfig) (*SealProcessor, error) {
	switch {
	case cfg.Policy == nil:
		return nil, errors.New("agent: processor: no policy")
	case len(cfg.Recipients) == 0:
		return nil, ErrNoRecipient
	case len(cfg.SigningKey) != ed25519.PrivateKeySize:
		return nil, errors.New("agent: processor: no signing key")
	case cfg.Project == "" || cfg.Site == "" || cfg.AgentID == "":
		return nil, errors.New("agent: processor: project, site and agent ID are required")
	}
	prof, err := cfg.Policy.Compile(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("agent: processor: %w", err)
	}
	a, err := anonymize.New(prof)
	if err != nil {
		return nil, fmt.Errorf("agent: processor: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &SealProcessor{cfg: cfg, anon: a, now: now}, nil
}

// Process anonymises src and seals the result into spool, then builds and
// signs the manifest. A file the engine refuses (malformed, unsupported,
// rejected by the policy, burned-in annotation) is a *[PermanentError]
// whose message is the engine's, which holds no attribute value.
func (p *SealProcessor) Process(ctx context.Context, it *Item, src io.Reader, spool io.Writer) (*ProcessResult, error) {
	sw, err := seal.NewWriter(spool, p.cfg.Recipients)
	if err != nil {
		return nil, fmt.Errorf("agent: seal: %w", err)
	}
	defer sw.Abort() // a file that fails part way; nothing once closed
	rep, err := p.anon.Anonymize(ctx, src, sw)
	if err != nil {
		if ctx.Err() == nil && isRefusal(err) {
			return nil, Permanent("cannot anonymise", err)
		}
		return nil, fmt.Errorf("agent: anonymise: %w", err)
	}
	if err := sw.Close(); err != nil {
		return nil, fmt.Errorf("agent: seal: %w", err)
	}
	st := sw.Stats()
	report, err := json.Marshal(summarise(rep))
	if err != nil {
		return nil, fmt.Errorf("agent: manifest report: %w", err)
	}
	plainHex := hex.EncodeToString(st.PlaintextSHA256[:])
	m := &seal.Manifest{
		FileID:            FileID(p.cfg.Project, plainHex),
		Project:           p.cfg.Project,
		Site:              p.cfg.Site,
		AgentID:           p.cfg.AgentID,
		PolicyID:          p.cfg.Policy.ID(),
		PolicyVersion:     strconv.Itoa(p.cfg.Policy.Version()),
		PolicyHash:        p.cfg.Policy.Hash(),
		StudyInstanceUID:  rep.StudyInstanceUID,
		SeriesInstanceUID: rep.SeriesInstanceUID,
		SOPInstanceUID:    rep.SOPInstanceUID,
		SOPClassUID:       rep.SOPClassUID,
		Modality:          rep.Modality,
		TransferSyntaxUID: rep.TransferSyntax,
		Report:            report,
		Created:           p.now().UTC(),
	}
	m.SetStats(st)
	signed, err := seal.SignManifest(p.cfg.SigningKey, m)
	if err != nil {
		// The manifest is built from this file: it will not sign next time
		// either.
		return nil, Permanent("cannot sign manifest", err)
	}
	return &ProcessResult{
		FileID:   m.FileID,
		StudyUID: rep.StudyInstanceUID,
		Manifest: signed,
		Size:     st.CiphertextSize,
		SHA256:   st.CiphertextSHA256[:],
	}, nil
}

// FileID returns the upload id of an anonymised file: the first 32 hex
// digits of SHA-256(project || 0x00 || hex SHA-256 of the anonymised
// plaintext). It is stable: the same anonymised content processed again
// (after a crash, or sent twice) gets the same id, which the relay
// recognises as a file it already holds.
func FileID(project, plaintextSHA256Hex string) string {
	s := sha256.Sum256([]byte(project + "\x00" + plaintextSHA256Hex))
	return hex.EncodeToString(s[:16])
}

// isRefusal reports whether err is the engine refusing the file, as
// opposed to a write or context error.
func isRefusal(err error) bool {
	for _, s := range []error{anonymize.ErrMalformed, anonymize.ErrUnsupported, anonymize.ErrRejected, anonymize.ErrBurnedIn} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// manifestReport is the anonymisation report as put in manifests: option
// codes and counts only, never a value or an identifier.
type manifestReport struct {
	// Options are the PS3.15 options applied (CID 7050 code values).
	Options []string `json:"options"`
	// Actions counts attributes per action code.
	Actions map[string]int `json:"actions"`
	// Attributes is the number of attributes acted on.
	Attributes int `json:"attributes"`
	// PixelBytes is the size of the pixel data streamed through unchanged.
	PixelBytes int64 `json:"pixel_bytes"`
}

func summarise(r *anonymize.Report) manifestReport {
	opts := r.Options
	if opts == nil {
		opts = []string{}
	}
	acts := r.Actions
	if acts == nil {
		acts = map[string]int{}
	}
	return manifestReport{Options: opts, Actions: acts, Attributes: len(r.Tags), PixelBytes: r.PixelBytes}
}

var _ Processor = (*SealProcessor)(nil)
