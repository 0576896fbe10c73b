package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"dicomgate/internal/dicomtest"
)

// TestNetworkFaults runs relay and agent as processes with a fault proxy
// between them (issue 7, network): ~300 files each over
//
//   - quic: datagrams in both directions dropped (5 %), duplicated (2 %),
//     reordered (5 % held back up to 20 ms) and delayed 5 ms ± 5 ms, plus
//     cuts of the path: blackouts (every datagram lost for 0.3–1.5 s) or
//     NAT rebindings (the proxy forgets its UDP sessions, so the agent's
//     datagrams reach the relay from a new port);
//   - tcp (agent in mode tcp): chunks delayed 5 ms ± 5 ms and connections
//     reset at random byte counts.
//
// Afterwards every file is committed exactly once, fetched, verified and
// byte-identical, with no orphan object and the agent's queue drained.
// DICOMGATE_NET_CUTS (default 10) and DICOMGATE_NET_PATIENTS (default 12,
// ~25 files each) raise the load.
func TestNetworkFaults(t *testing.T) {
	cuts := envInt("DICOMGATE_NET_CUTS", 10)
	patients := envInt("DICOMGATE_NET_PATIENTS", 12)
	cases := []struct {
		name  string
		mode  string
		cfg   faults
		fault func(p *faultProxy, rng *rand.Rand)
	}{
		{"quic", "quic", faults{Drop: 0.05, Dup: 0.02, Reorder: 0.05, ReorderWindow: 20 * time.Millisecond,
			Delay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond},
			func(p *faultProxy, rng *rand.Rand) {
				if rng.IntN(2) == 0 {
					p.blackout(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
				} else {
					p.rebind()
				}
			}},
		{"tcp", "tcp", faults{Delay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond},
			func(p *faultProxy, rng *rand.Rand) { p.cut(16 << 10) }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 2))
			s := newSite(t, "")
			s.startRelay()
			defer func() { kill9(s.relay) }()
			s.enrol()
			p := startFaultProxy(t, s.relayAddr, tc.cfg, seed)
			s.agentVia(p.addr, "mode: "+tc.mode)
			key := s.generate(uint64(21+i), dicomtest.CorpusOptions{Patients: patients, Slices: 23, NoExtras: true})
			s.startAgent()
			defer func() { kill9(s.agent) }()
			s.drop(key)

			// Inject the faults while files flow. A TCP cut fires only
			// once bytes pass, so the next one is armed after it fired,
			// until all have or the transfer is over (bounded).
			injected := 0
			c := s.client()
			deadline := time.Now().Add(45 * time.Second)
			for injected < cuts && time.Now().Before(deadline) {
				if tc.mode == "tcp" {
					time.Sleep(time.Duration(20+rng.IntN(100)) * time.Millisecond)
				} else {
					time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
				}
				if tc.mode == "tcp" && p.cutPending() {
					if got, err := committedFiles(context.Background(), c); err == nil && len(got) == len(s.expected) {
						break
					}
					continue
				}
				tc.fault(p, rng)
				injected++
			}
			o := s.checkInvariants(3*time.Minute, s.fsObjects)
			st := p.stats()
			if tc.mode == "tcp" {
				injected = int(st.Cuts) // those that fired
			}
			if tc.mode == "tcp" && st.Cuts == 0 {
				t.Errorf("no TCP connection was cut (%d armed)", injected)
			}
			if st.Dropped == 0 && tc.mode == "quic" {
				t.Errorf("no datagram dropped: the agent did not talk through the proxy")
			}
			summary(t, "network-"+tc.name, o, fmt.Sprintf("faults=%d %s", injected, st))
		})
	}
}
