package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Timings of the monitoring endpoint.
const (
	// relayReadyGrace is how long /readyz still reports the relay
	// reachable after upload attempts started failing to reach it.
	relayReadyGrace = 2 * time.Minute
	// monitorShutdown bounds the endpoint's graceful shutdown.
	monitorShutdown = 5 * time.Second
	// monitorReadHeaderTimeout bounds how long a scraper may take to send
	// its request headers.
	monitorReadHeaderTimeout = 10 * time.Second
)

// monitor is the state of an agent's monitoring endpoint (metrics_listen).
// The zero value is stopped.
type monitor struct {
	mu sync.Mutex
	// +checklocks:mu
	addr net.Addr
}

// MetricsAddr returns the address the monitoring endpoint listens on
// while [Agent.Run] serves it, or nil (metrics_listen unset, not running).
func (a *Agent) MetricsAddr() net.Addr {
	a.mon.mu.Lock()
	defer a.mon.mu.Unlock()
	return a.mon.addr
}

// startMonitor serves the monitoring endpoint over q when metrics_listen
// is set, and returns the metrics the pipeline must count into (nil when
// off) and a function that stops the endpoint.
func (a *Agent) startMonitor(ctx context.Context, q *Queue) (*Metrics, func(), error) {
	if a.cfg.MetricsListen == "" {
		return nil, func() {}, nil
	}
	m := NewMetrics(q, a.cfg.stuckAfter())
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", a.cfg.MetricsListen)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: metrics listen: %w", err)
	}
	srv := &http.Server{
		Handler:           MonitorHandler(a.log, m),
		ReadHeaderTimeout: monitorReadHeaderTimeout,
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("metrics endpoint stopped")
		}
	})
	wg.Go(func() { watchStuck(wctx, a.log, m, a.cfg.stuckAfter()) })
	a.mon.mu.Lock()
	a.mon.addr = ln.Addr()
	a.mon.mu.Unlock()
	a.log.Info().Str("metrics_addr", ln.Addr().String()).Msg("metrics endpoint listening")
	stop := func() {
		cancel()
		sctx, done := context.WithTimeout(context.Background(), monitorShutdown)
		defer done()
		srv.Shutdown(sctx)
		wg.Wait()
		a.mon.mu.Lock()
		a.mon.addr = nil
		a.mon.mu.Unlock()
	}
	return m, stop, nil
}

// MonitorHandler serves an agent's monitoring endpoint:
//
//	GET /metrics  Prometheus text format (the registry of m only)
//	GET /healthz  200 while the process serves
//	GET /readyz   200 when the queue answers and the relay answered
//	              recently (see [Status]); 503 otherwise
//	GET /status   [Status] as JSON, with the stuck-queue alert
//
// Nothing it serves holds a UID, a path or a name.
func MonitorHandler(log zerolog.Logger, m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      promLogger{log},
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeMonitorJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		st := m.Status(r.Context())
		if !st.Ready {
			writeMonitorJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "problems": st.Problems})
			return
		}
		writeMonitorJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeMonitorJSON(w, http.StatusOK, m.Status(r.Context()))
	})
	return mux
}

// Status is what an agent's /status reports.
type Status struct {
	// Ready is false when the queue cannot be read or the relay has not
	// answered an upload within two minutes of the first failure.
	Ready bool `json:"ready"`
	// RelayReachable reports whether the relay answered recently.
	RelayReachable bool `json:"relay_reachable"`
	// Queue is the queue's state; zero when it cannot be read.
	Queue QueueStatus `json:"queue"`
	// Problems lists why the agent is not ready.
	Problems []string `json:"problems,omitempty"`
	// Alerts lists alert-worthy conditions, e.g. a stuck queue.
	Alerts []string `json:"alerts,omitempty"`
}

// Status reads the agent's status now.
func (m *Metrics) Status(ctx context.Context) Status {
	st := Status{RelayReachable: m.relayReachable(time.Now(), relayReadyGrace)}
	q, err := m.QueueStatus(ctx)
	if err != nil {
		st.Problems = append(st.Problems, "queue unavailable")
	} else {
		st.Queue = q
	}
	if !st.RelayReachable {
		st.Problems = append(st.Problems, "relay unreachable")
	}
	if q.Stuck {
		st.Alerts = append(st.Alerts, fmt.Sprintf("queue stuck: the oldest waiting item has waited %s (stuck_after %s)",
			q.OldestWaiting.Round(time.Second), q.StuckAfter))
	}
	st.Ready = len(st.Problems) == 0
	return st
}

// watchStuck logs once when the queue becomes stuck and once when it
// recovers, until ctx ends.
func watchStuck(ctx context.Context, log zerolog.Logger, m *Metrics, after time.Duration) {
	every := min(max(after/4, 10*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	stuck := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		q, err := m.QueueStatus(ctx)
		if err != nil || q.Stuck == stuck {
			continue
		}
		stuck = q.Stuck
		if stuck {
			log.Warn().Dur("oldest_waiting", q.OldestWaiting).Dur("stuck_after", after).Msg("queue stuck")
		} else {
			log.Info().Msg("queue no longer stuck")
		}
	}
}

func writeMonitorJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// promLogger sends promhttp's errors (failed collections, which name no
// item) to the logger.
type promLogger struct{ log zerolog.Logger }

// Println implements promhttp.Logger.
func (l promLogger) Println(v ...any) { l.log.Warn().Msg(fmt.Sprint(v...)) }

var _ promhttp.Logger = promLogger{}
