package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/relay"
	"dicomgate/seal"
	"dicomgate/transport"
)

// fleet is the enrolled agents.
type fleet struct {
	agents    []*agent
	enrolTime time.Duration
	run       string // UID component unique to this run
	size      int
}

// agent is one simulated site agent: its identity, connection and the
// file it sealed once.
type agent struct {
	idx      int
	id, site string
	project  string
	policy   string
	key      ed25519.PrivateKey
	conn     *transport.Conn
	sealed   []byte
	sum      [32]byte
	stats    seal.Stats
	seq      int
}

// newFleet creates one enrolment token per agent in the database of the
// relay configuration cfg, then enrols, dials and seals for every agent,
// o.enrolJobs at a time.
func newFleet(ctx context.Context, o options, cfg string, addrs []string) (*fleet, error) {
	rc, err := relay.Load(cfg)
	if err != nil {
		return nil, err
	}
	if len(rc.Projects) == 0 || len(rc.Projects[0].Recipients) == 0 || len(rc.Projects[0].PolicyHashes) == 0 {
		return nil, errors.New("relay.yaml: the first project needs recipients and policy_hashes")
	}
	proj := rc.Projects[0]
	var rcps []*seal.Recipient
	for _, r := range proj.Recipients {
		p, err := seal.ParseRecipient(r)
		if err != nil {
			return nil, err
		}
		rcps = append(rcps, p)
	}
	srv, err := relay.New(*rc, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	if err := srv.Open(ctx); err != nil {
		return nil, err
	}
	receiptKey, err := srv.ReceiptKey()
	if err != nil {
		srv.Close()
		return nil, err
	}
	tokens := make([]string, o.agents)
	for i := range tokens {
		if tokens[i], err = srv.CreateEnrolmentToken(ctx, proj.ID, fmt.Sprintf("site-%03d", i)); err != nil {
			srv.Close()
			return nil, err
		}
	}
	srv.Close()

	f := &fleet{agents: make([]*agent, o.agents), run: strconv.FormatInt(time.Now().Unix(), 10), size: o.size}
	start := time.Now()
	sem := make(chan struct{}, max(o.enrolJobs, 1))
	var wg sync.WaitGroup
	errs := make([]error, o.agents)
	for i := range f.agents {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a := &agent{idx: i, site: fmt.Sprintf("site-%03d", i), project: proj.ID, policy: proj.PolicyHashes[0]}
			errs[i] = a.enrol(ctx, addrs[i%len(addrs)], tokens[i], receiptKey, transport.Mode(o.mode))
			if errs[i] == nil {
				errs[i] = a.seal(rcps, o.size)
			}
			f.agents[i] = a
		}()
	}
	wg.Wait()
	f.enrolTime = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// enrol redeems the token with a new Ed25519 key and dials the relay.
func (a *agent) enrol(ctx context.Context, addr, token string, receiptKey ed25519.PublicKey, mode transport.Mode) error {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	resp, err := transport.Enrol(ctx, addr, token, key, "fleet-"+a.site)
	if err != nil {
		return fmt.Errorf("agent %d: enrol: %w", a.idx, err)
	}
	pool, err := resp.CAPool()
	if err != nil {
		return err
	}
	a.id, a.key = resp.AgentID, key
	a.conn, err = transport.Dial(ctx, transport.ClientConfig{
		Addr: addr, Certificate: resp.TLSCertificate(key), RootCAs: pool, ReceiptKey: receiptKey, Mode: mode,
	})
	if err != nil {
		return fmt.Errorf("agent %d: dial: %w", a.idx, err)
	}
	return nil
}

// seal seals size random bytes once; every upload sends these bytes.
func (a *agent) seal(rcps []*seal.Recipient, size int) error {
	plain := make([]byte, size)
	rand.Read(plain)
	var buf bytes.Buffer
	w, err := seal.NewWriter(&buf, rcps)
	if err != nil {
		return err
	}
	if _, err := w.Write(plain); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	a.sealed, a.sum, a.stats = buf.Bytes(), sha256.Sum256(buf.Bytes()), w.Stats()
	return nil
}

// upload sends the sealed bytes as a new instance with a new signed
// manifest and returns the commit latency. Retryable errors are retried
// (three times, 200 ms apart) within the measured time.
func (a *agent) upload(ctx context.Context, run string) (time.Duration, int, error) {
	a.seq++
	study := "1.2.826.0.1.3680043.10." + run + "." + strconv.Itoa(a.idx+1)
	series := study + ".1"
	sop := series + "." + strconv.Itoa(a.seq)
	id := "fl-" + run + "-" + strconv.Itoa(a.idx) + "-" + strconv.Itoa(a.seq)
	m := &seal.Manifest{
		FileID: id, Project: a.project, Site: a.site, AgentID: a.id,
		PolicyID: "fleet", PolicyVersion: "1", PolicyHash: a.policy,
		StudyInstanceUID: study, SeriesInstanceUID: series, SOPInstanceUID: sop,
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", Modality: "CT", TransferSyntaxUID: "1.2.840.10008.1.2.1",
		Created: time.Now(),
	}
	m.SetStats(a.stats)
	env, err := seal.SignManifest(a.key, m)
	if err != nil {
		return 0, 0, err
	}
	offer := &transport.Offer{ID: id, Size: int64(len(a.sealed)), SHA256: a.sum, Manifest: env}
	start := time.Now()
	retries := 0
	for {
		_, err = a.conn.Upload(ctx, offer, bytes.NewReader(a.sealed))
		if err == nil || !transport.Retryable(err) || retries == 3 || ctx.Err() != nil {
			return time.Since(start), retries, err
		}
		retries++
		time.Sleep(200 * time.Millisecond)
	}
}

// close closes every connection.
func (f *fleet) close() {
	for _, a := range f.agents {
		if a != nil && a.conn != nil {
			a.conn.Close()
		}
	}
}

// stepResult is one step of a sweep.
type stepResult struct {
	agents, files, failed, retries int
	elapsed                        time.Duration
	lat                            []time.Duration
	win                            window
	firstErr                       error
}

// runStep has the first n agents upload files files each.
func (f *fleet) runStep(ctx context.Context, mon *monitor, n, files int) stepResult {
	r := stepResult{agents: n}
	var mu sync.Mutex
	var wg sync.WaitGroup
	mon.start()
	start := time.Now()
	for _, a := range f.agents[:n] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range files {
				lat, retries, err := a.upload(ctx, f.run)
				mu.Lock()
				r.retries += retries
				if err != nil {
					r.failed++
					if r.firstErr == nil {
						r.firstErr = err
					}
				} else {
					r.files++
					r.lat = append(r.lat, lat)
				}
				mu.Unlock()
				if ctx.Err() != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.win = mon.stop()
	return r
}

// sweep runs one step per agent count and prints the table.
func (f *fleet) sweep(ctx context.Context, mon *monitor, steps []int, files int) error {
	fmt.Printf("\n| agents | files | failed | retries | seconds | files/s | MB/s | p50 ms | p99 ms | max ms | relay CPU (cores) | relay max RSS | fleet max RSS |\n")
	fmt.Printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	var results []stepResult
	for _, n := range steps {
		r := f.runStep(ctx, mon, n, files)
		results = append(results, r)
		fps := float64(r.files) / r.elapsed.Seconds()
		p50, p99, pmax := percentiles(r.lat)
		fmt.Printf("| %d | %d | %d | %d | %.1f | %.0f | %.1f | %.0f | %.0f | %.0f | %.2f | %s | %s |\n",
			n, r.files, r.failed, r.retries, r.elapsed.Seconds(), fps, fps*float64(f.size)/1e6,
			ms(p50), ms(p99), ms(pmax), r.win.relayCPU, mib(r.win.relayMaxRSS), mib(r.win.fleetMaxRSS))
		if r.firstErr != nil {
			fmt.Printf("  first error: %v\n", r.firstErr)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	best := 0
	for i, r := range results {
		if rate(r) > rate(results[best]) {
			best = i
		}
	}
	fmt.Printf("\npeak: %.0f files/s at %d agents; after the run: %s\n", rate(results[best]), results[best].agents, mon.snapshot())
	for _, r := range results {
		if r.failed > 0 {
			return fmt.Errorf("%d uploads failed at %d agents", r.failed, r.agents)
		}
	}
	return nil
}

func rate(r stepResult) float64 { return float64(r.files) / r.elapsed.Seconds() }

// soak has every agent upload until o.duration has passed and prints a
// row every o.every.
func (f *fleet) soak(ctx context.Context, mon *monitor, o options) error {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var (
		mu      sync.Mutex
		lat     []time.Duration
		failed  atomic.Int64
		total   atomic.Int64
		wg      sync.WaitGroup
		lastErr atomic.Value
	)
	for _, a := range f.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				d, _, err := a.upload(ctx, f.run)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						lastErr.Store(err.Error())
					}
				} else {
					total.Add(1)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
				if o.pause > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(o.pause):
					}
				}
			}
		}()
	}
	fmt.Printf("\n| minute | files | files/s | MB/s | p50 ms | p99 ms | failed | relay CPU | relay max RSS | fleet max RSS | now |\n")
	fmt.Printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	start := time.Now()
	tick := time.NewTicker(o.every)
	defer tick.Stop()
	mon.start()
	prev, k := int64(0), 0
	report := func() {
		k++
		w := mon.stop()
		mu.Lock()
		l := lat
		lat = nil
		mu.Unlock()
		n := total.Load()
		fps := float64(n-prev) / o.every.Seconds()
		prev = n
		p50, p99, _ := percentiles(l)
		fmt.Printf("| %.1f | %d | %.0f | %.1f | %.0f | %.0f | %d | %.2f | %s | %s | %s |\n",
			time.Since(start).Minutes(), n, fps, fps*float64(f.size)/1e6, ms(p50), ms(p99), failed.Load(),
			w.relayCPU, mib(w.relayMaxRSS), mib(w.fleetMaxRSS), mon.snapshot())
		mon.start()
	}
	for {
		select {
		case <-tick.C:
			report()
			continue
		case <-ctx.Done():
		}
		break
	}
	wg.Wait()
	mon.stop()
	fmt.Printf("\nsoak: %d files in %s, %d failed; end: %s\n", total.Load(), time.Since(start).Round(time.Second), failed.Load(), mon.snapshot())
	if e, ok := lastErr.Load().(string); ok {
		fmt.Printf("last error: %s\n", e)
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("soak: %d uploads failed", n)
	}
	return nil
}

// percentiles returns p50, p99 and the maximum of d.
func percentiles(d []time.Duration) (p50, p99, pmax time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99), s[len(s)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
