package agent

import (
	"errors"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"dicomgate/transport"
)

// Disks a storage-full alarm names.
const (
	// diskAgent is the agent's own disk: spool, queue database,
	// quarantine folder.
	diskAgent = "agent"
	// diskRelay is the relay's storage, full by its refusals.
	diskRelay = "relay"
)

// maxFullQuiet bounds how long a disk must go without a failure, after a
// success, for its episode of full storage to end.
const maxFullQuiet = time.Minute

// isStorageFull reports whether err says that a disk of the agent is full
// or over quota: ENOSPC or EDQUOT from a file write, SQLITE_FULL from the
// queue. Such a failure is transient: nothing was written (a temporary
// file is discarded, a transaction rolled back) and the step succeeds
// once space returns, so the item is retried, never quarantined.
func isStorageFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}

// fullDisk returns which disk err says is full: diskRelay when the relay
// refused for lack of storage, diskAgent for the agent's own disk, ""
// for any other error.
func fullDisk(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, transport.ErrRelayStorageFull):
		return diskRelay
	case isStorageFull(err):
		return diskAgent
	}
	return ""
}

// storageAlarm reports full disks once per episode, not once per file:
// the first write that finds a disk full raises the alarm (a warning, the
// dicomgate_agent_storage_full gauge, the status sent to the relay), and
// the alarm clears once a write succeeded and none failed for the quiet
// time. It is shared by the intake and the pipeline's stages; a nil
// *storageAlarm does nothing.
type storageAlarm struct {
	log   zerolog.Logger
	quiet time.Duration

	mu sync.Mutex
	// +checklocks:mu
	disks map[string]*diskAlarm
	// +checklocks:mu
	metrics *Metrics
	// +checklocks:mu
	changed chan struct{} // closed and replaced when an alarm is raised or cleared
}

// diskAlarm is the state of one disk.
type diskAlarm struct {
	full     bool
	since    time.Time // when the episode started
	lastFail time.Time
	failures int
	// failing holds the writers ("intake", "process", "upload") whose
	// latest write to the disk failed: only their own success counts, so
	// that a writer with room (a queue update) does not clear the alarm
	// raised by one without (the spool).
	failing map[string]bool
	okAfter bool // every failing writer succeeded after lastFail
	armed   bool // a timer will look again
}

// newStorageAlarm returns an alarm whose episodes end after quiet without
// a failure (at most maxFullQuiet).
func newStorageAlarm(log zerolog.Logger, quiet time.Duration) *storageAlarm {
	return &storageAlarm{log: log, quiet: min(max(quiet, time.Millisecond), maxFullQuiet),
		disks: map[string]*diskAlarm{}, changed: make(chan struct{})}
}

// setMetrics makes the alarm drive m's gauge (nil: none).
func (a *storageAlarm) setMetrics(m *Metrics) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.metrics = m
	for disk, d := range a.disks {
		m.storageFull(disk, d.full)
	}
}

// failed notes that writer's write to disk failed because it is full;
// err is logged when the alarm is raised (it names no patient: paths are
// the agent's own spool and queue files).
func (a *storageAlarm) failed(disk, writer string, err error) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.disk(disk)
	now := time.Now()
	d.lastFail, d.okAfter = now, false
	d.failing[writer] = true
	d.failures++
	if d.full {
		return
	}
	d.full, d.since, d.failures = true, now, 1
	a.metrics.storageFull(disk, true)
	a.signal()
	switch disk {
	case diskRelay:
		a.log.Warn().Err(err).Msg("relay storage full: uploads paused until the relay has space")
	default:
		a.log.Warn().Err(err).Msg("agent storage full: paused until space returns")
	}
}

// succeeded notes that writer's write to disk succeeded: the alarm
// clears once every writer that failed has succeeded and none failed for
// the quiet time (a timer looks again when that is later).
func (a *storageAlarm) succeeded(disk, writer string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.disks[disk]
	if d == nil || !d.failing[writer] {
		return
	}
	delete(d.failing, writer)
	if len(d.failing) == 0 {
		d.okAfter = true
		a.settle(disk, d)
	}
}

// settle clears d's alarm if a write succeeded after its last failure and
// the quiet time has passed since, or arms a timer to look again.
//
// +checklocks:a.mu
func (a *storageAlarm) settle(disk string, d *diskAlarm) {
	if !d.full || !d.okAfter {
		return
	}
	wait := a.quiet - time.Since(d.lastFail)
	if wait > 0 {
		if !d.armed {
			d.armed = true
			time.AfterFunc(wait, func() {
				a.mu.Lock()
				defer a.mu.Unlock()
				d.armed = false
				a.settle(disk, d)
			})
		}
		return
	}
	d.full = false
	a.metrics.storageFull(disk, false)
	a.signal()
	a.log.Info().Str("disk", disk).Int("failures", d.failures).
		Dur("lasted", time.Since(d.since).Round(time.Millisecond)).Msg("storage available again: resumed")
}

// full reports whether disk's alarm is raised.
func (a *storageAlarm) full(disk string) bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.disks[disk]
	return d != nil && d.full
}

// changes returns a channel closed at the next raise or clear.
func (a *storageAlarm) changes() <-chan struct{} {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// +checklocks:a.mu
func (a *storageAlarm) disk(name string) *diskAlarm {
	d := a.disks[name]
	if d == nil {
		d = &diskAlarm{failing: map[string]bool{}}
		a.disks[name] = d
	}
	return d
}

// +checklocks:a.mu
func (a *storageAlarm) signal() {
	close(a.changed)
	a.changed = make(chan struct{})
}
