package agent

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// queueScrapeTimeout bounds the queue queries of one scrape.
const queueScrapeTimeout = 5 * time.Second

// QueueStatus is the queue's state at one moment, as /status shows it.
type QueueStatus struct {
	// Items counts the items in each state; every state is present.
	Items map[State]int `json:"items"`
	// OldestWaiting is the age of the oldest item not yet committed or
	// quarantined, 0 if there is none.
	OldestWaiting time.Duration `json:"oldest_waiting_ns"`
	// OldestWaitingSeconds is OldestWaiting in seconds.
	OldestWaitingSeconds float64 `json:"oldest_waiting_seconds"`
	// StuckAfter is the threshold OldestWaiting is compared with.
	StuckAfter time.Duration `json:"stuck_after_ns"`
	// Stuck is true when OldestWaiting exceeds StuckAfter.
	Stuck bool `json:"stuck"`
}

// queueCollector reads the queue gauges at scrape time.
type queueCollector struct {
	q          *Queue
	stuckAfter time.Duration

	items, oldest, stuck *prometheus.Desc
}

func newQueueCollector(q *Queue, stuckAfter time.Duration) *queueCollector {
	return &queueCollector{q: q, stuckAfter: stuckAfter,
		items: prometheus.NewDesc("dicomgate_agent_queue_items",
			"Items in the durable queue, by state.", []string{"state"}, nil),
		oldest: prometheus.NewDesc("dicomgate_agent_oldest_waiting_seconds",
			"Age of the oldest item not yet committed or quarantined; 0 when none waits.", nil, nil),
		stuck: prometheus.NewDesc("dicomgate_agent_queue_stuck",
			"1 when the oldest waiting item is older than stuck_after, else 0.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.items
	ch <- c.oldest
	ch <- c.stuck
}

// Collect implements prometheus.Collector. A failed query is reported as
// an invalid metric (the error names no item).
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), queueScrapeTimeout)
	defer cancel()
	st, err := c.status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.items, err)
		return
	}
	for _, s := range States() {
		ch <- prometheus.MustNewConstMetric(c.items, prometheus.GaugeValue, float64(st.Items[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestWaitingSeconds)
	stuck := 0.0
	if st.Stuck {
		stuck = 1
	}
	ch <- prometheus.MustNewConstMetric(c.stuck, prometheus.GaugeValue, stuck)
}

// status reads the queue.
func (c *queueCollector) status(ctx context.Context) (QueueStatus, error) {
	return readQueueStatus(ctx, c.q, c.stuckAfter)
}

// readQueueStatus reads q's counts and oldest waiting age; the queue is
// stuck when that age exceeds stuckAfter.
func readQueueStatus(ctx context.Context, q *Queue, stuckAfter time.Duration) (QueueStatus, error) {
	counts, err := q.Counts(ctx)
	if err != nil {
		return QueueStatus{}, err
	}
	oldest, err := q.OldestWaiting(ctx)
	if err != nil {
		return QueueStatus{}, err
	}
	return QueueStatus{
		Items:                counts,
		OldestWaiting:        oldest,
		OldestWaitingSeconds: oldest.Seconds(),
		StuckAfter:           stuckAfter,
		Stuck:                oldest > stuckAfter,
	}, nil
}

var _ prometheus.Collector = (*queueCollector)(nil)
