package relay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"dicomgate/audit"
	"dicomgate/policy"
	"dicomgate/store"
)

// ErrPolicyVersionApproved: a policy text changed without a new version
// number while that version is approved somewhere.
var ErrPolicyVersionApproved = errors.New("relay: this policy version is approved: give the edited policy a new version number")

// policyTablesDir is an empty folder policies in the registry are parsed
// against: the registry holds policies without lookup tables (a policy
// naming a table fails validation), and a policy can never make the
// relay read one of its own files.
const policyTablesDir = "policy-tables"

// parseRegistryPolicy validates a policy text for the registry.
func (s *Server) parseRegistryPolicy(text string) (*policy.Policy, error) {
	dir := filepath.Join(s.cfg.DataDir, policyTablesDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: policy: %w", err)
	}
	return policy.Parse("policy.yaml", []byte(text), dir)
}

// SavePolicy validates text and stores it as a new revision of its
// policy on behalf of actor; the same text (same canonical hash) again
// returns the existing revision. Validation problems come back as a
// *policy.ValidationError with line numbers. Audited (policy.create for
// a new policy id, policy.edit after).
func (s *Server) SavePolicy(ctx context.Context, actor, text, ip string) (*store.PolicyRevision, error) {
	st, err := s.accountStore()
	if err != nil {
		return nil, err
	}
	pol, err := s.parseRegistryPolicy(text)
	if err != nil {
		return nil, err
	}
	prior, err := st.ListPolicies(ctx, pol.ID())
	if err != nil {
		return nil, fmt.Errorf("relay: save policy: %w", err)
	}
	rev, created, err := st.PutPolicy(ctx, store.PolicyRevision{PolicyID: pol.ID(), Version: pol.Version(),
		Hash: pol.Hash(), YAML: text, CreatedBy: actor, CreatedAt: s.now()})
	if errors.Is(err, store.ErrConflict) {
		return nil, ErrPolicyVersionApproved
	}
	if err != nil {
		return nil, fmt.Errorf("relay: save policy: %w", err)
	}
	if created {
		action := audit.ActionPolicyEdit
		if len(prior) == 0 {
			action = audit.ActionPolicyCreate
		}
		s.record(ctx, audit.Event{Actor: actor, Action: action, Object: policyObject(rev), IP: ip,
			Details: map[string]any{"revision": rev.ID, "policy_hash": rev.Hash}})
	}
	return rev, nil
}

// policyObject names a revision in the audit trail: "id@version#rev".
func policyObject(r *store.PolicyRevision) string {
	return r.PolicyID + "@" + strconv.Itoa(r.Version) + "#" + strconv.FormatInt(r.ID, 10)
}

// approvalRecord is the record a policy approval signature is bound to:
// the project and the revision's identity and canonical hash.
func approvalRecord(project string, r *store.PolicyRevision) signedRecord {
	return signedRecord{Type: "policy.approval", ID: project + "/" + strconv.FormatInt(r.ID, 10),
		Content: map[string]any{"project": project, "policy_id": r.PolicyID, "version": r.Version,
			"policy_hash": r.Hash, "revision": r.ID}}
}

// ApprovePolicy approves revision rev for project with p's electronic
// signature; uploads of files anonymised with that policy are accepted
// from then on. Audited (policy.approve, with the signature).
func (s *Server) ApprovePolicy(ctx context.Context, p *Principal, project string, rev int64, req SignRequest, ip string) (*store.Signature, error) {
	st, err := s.accountStore()
	if err != nil {
		return nil, err
	}
	if s.cfg.project(project) == nil {
		return nil, ErrUnknownProject
	}
	r, err := st.GetPolicy(ctx, rev)
	if err != nil {
		return nil, fmt.Errorf("relay: approve policy: %w", err)
	}
	// The stored text must still give the stored hash.
	if pol, err := s.parseRegistryPolicy(r.YAML); err != nil || pol.Hash() != r.Hash {
		return nil, fmt.Errorf("relay: approve policy: stored revision does not match its hash")
	}
	sig, err := s.sign(ctx, p, req, approvalRecord(project, r), ip)
	if err != nil {
		return nil, err
	}
	if err := st.PutApproval(ctx, store.PolicyApproval{Project: project, PolicyRevision: r.ID, PolicyHash: r.Hash,
		SignatureID: sig.ID, ApprovedAt: sig.SignedAt}); err != nil {
		return nil, fmt.Errorf("relay: approve policy: %w", err)
	}
	s.record(ctx, audit.Event{Actor: p.Name, Action: audit.ActionPolicyApprove, Project: project, Object: policyObject(r),
		IP: ip, Reason: sig.Meaning, Details: signatureDetails(sig)})
	return sig, nil
}

// approvedHashes returns the policy hashes approved for project in the
// registry whose approval signatures verify; an approval whose signature
// was moved or edited is ignored (and logged).
func (s *Server) approvedHashes(ctx context.Context, project string) ([]string, error) {
	st, err := s.accountStore()
	if err != nil {
		return nil, err
	}
	as, err := st.ListApprovals(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("relay: approvals: %w", err)
	}
	var out []string
	for _, a := range as {
		r, err := st.GetPolicy(ctx, a.PolicyRevision)
		if err != nil {
			return nil, fmt.Errorf("relay: approvals: %w", err)
		}
		sig, err := st.GetSignature(ctx, a.SignatureID)
		if err != nil {
			return nil, fmt.Errorf("relay: approvals: %w", err)
		}
		if r.Hash != a.PolicyHash || s.verifySignature(sig, approvalRecord(project, r)) != nil {
			s.log.Error().Str("project", project).Int64("revision", r.ID).Msg("policy approval signature does not verify: ignored")
			continue
		}
		out = append(out, a.PolicyHash)
	}
	return out, nil
}

// policyAccepted reports whether project accepts files anonymised with
// the policy of hash: approved in the registry, or listed in the
// configuration's policy_hashes (bootstrap). With neither any approval
// nor any configured hash, any policy is accepted (demo only).
func (s *Server) policyAccepted(ctx context.Context, proj *ProjectConfig, hash string) bool {
	if slices.Contains(proj.PolicyHashes, hash) {
		return true
	}
	approved, err := s.approvedHashes(ctx, proj.ID)
	if err != nil {
		s.log.Error().Err(err).Msg("policy approvals unavailable: refusing")
		return false
	}
	if slices.Contains(approved, hash) {
		return true
	}
	return len(proj.PolicyHashes) == 0 && len(approved) == 0
}
