package main

import (
	"os"
	"runtime/debug"
)

// serviceGCPercent and serviceMemoryLimit tune the garbage collector of the
// long-running services (agent, relay): their live heap is a few tens of
// MiB while every file streams megabytes through short-lived buffers, so
// the default GOGC=100 collects several times per second for little. A
// larger GOGC under a soft memory limit trades some of the idle headroom
// for CPU; the limit keeps the heap, and so RSS, bounded.
const (
	serviceGCPercent   = 400
	serviceMemoryLimit = 96 << 20
)

// tuneServiceGC applies the service GC settings unless the operator set
// GOGC or GOMEMLIMIT.
func tuneServiceGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serviceGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serviceMemoryLimit)
	}
}
