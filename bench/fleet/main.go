// Command fleet is a load generator for the relay: a simulated fleet of
// site agents, each a goroutine with its own Ed25519 identity, enrolment
// token and connection, uploading sealed files with real signed
// manifests. bench/fleet.sh runs it against one relay on SQLite and two
// relays sharing PostgreSQL.
//
//	fleet --dicomgate BIN --work DIR [--agents 200 --files 10 --size 262144]
//	    starts `dicomgate relay` on 127.0.0.1 with a generated relay.yaml in DIR
//	fleet --relay ADDR[,ADDR...] --config relay.yaml --pid PID[,PID...]
//	    uses running relays; agent i goes to relay i mod len; the tokens are
//	    created in the configuration's database (as `dicomgate token create`)
//
// Each agent seals one file of --size random bytes once (agent CPU stays
// low) and uploads it --files times, each time under a new file ID and SOP
// instance UID with a freshly signed manifest, one upload in flight per
// agent. Commit latency is Conn.Upload from offer to verified receipt.
// --sweep 1,10,50,200 runs one step per agent count on the same enrolled
// fleet and prints one table row per step; relay RSS and CPU are sampled
// from /proc every 500 ms. --duration 30m is the soak: every agent uploads
// until the time is up (--pause between uploads) and a row is printed every
// --every (1m) with relay and fleet RSS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	agents, files int
	size          int
	relays        string
	config        string
	pids          string
	dicomgate     string
	work          string
	mode          string
	sweep         string
	duration      time.Duration
	every         time.Duration
	pause         time.Duration
	enrolJobs     int
	logLevel      string
}

func main() {
	var o options
	flag.IntVar(&o.agents, "agents", 200, "agents (goroutines with their own identity)")
	flag.IntVar(&o.files, "files", 10, "files per agent per step")
	flag.IntVar(&o.size, "size", 256<<10, "plaintext bytes per file")
	flag.StringVar(&o.relays, "relay", "", "running relays host:port,...; empty: start one")
	flag.StringVar(&o.config, "config", "", "relay.yaml of the running relays (tokens, project, recipients)")
	flag.StringVar(&o.pids, "pid", "", "pids of the running relays to sample, comma-separated")
	flag.StringVar(&o.dicomgate, "dicomgate", "bin/dicomgate", "dicomgate binary, to start a relay")
	flag.StringVar(&o.work, "work", "/tmp/dicomgate-fleet", "folder for the started relay")
	flag.StringVar(&o.mode, "mode", "quic", "transport: quic, tcp or auto")
	flag.StringVar(&o.sweep, "sweep", "", "agent counts, one step each (default: --agents only)")
	flag.DurationVar(&o.duration, "duration", 0, "soak: upload until this much time has passed")
	flag.DurationVar(&o.every, "every", time.Minute, "soak: report interval")
	flag.DurationVar(&o.pause, "pause", 0, "soak: pause of each agent between uploads")
	flag.IntVar(&o.enrolJobs, "enrol-jobs", 16, "concurrent enrolments")
	flag.StringVar(&o.logLevel, "relay-log-level", "info", "log level of a started relay")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	var (
		addrs []string
		pids  []int
		cfg   string
	)
	if o.relays == "" {
		rp, err := startRelay(ctx, o)
		if err != nil {
			return err
		}
		defer rp.stop()
		addrs, pids, cfg = []string{rp.addr}, []int{rp.cmd.Process.Pid}, rp.config
	} else {
		if o.config == "" {
			return fmt.Errorf("--relay needs --config")
		}
		addrs, cfg = strings.Split(o.relays, ","), o.config
		for _, p := range strings.Split(o.pids, ",") {
			if p == "" {
				continue
			}
			n, err := strconv.Atoi(p)
			if err != nil {
				return fmt.Errorf("--pid %q: %w", p, err)
			}
			pids = append(pids, n)
		}
	}
	f, err := newFleet(ctx, o, cfg, addrs)
	if err != nil {
		return err
	}
	defer f.close()
	mon := newMonitor(pids)
	fmt.Printf("relays=%s mode=%s size=%d cpus=%d\n", strings.Join(addrs, ","), o.mode, o.size, numCPU())
	fmt.Printf("enrolled %d agents in %s (%.0f/s); sealed once per agent; after enrolment: %s\n",
		len(f.agents), f.enrolTime.Round(time.Millisecond), float64(len(f.agents))/f.enrolTime.Seconds(), mon.snapshot())
	if o.duration > 0 {
		return f.soak(ctx, mon, o)
	}
	steps := []int{o.agents}
	if o.sweep != "" {
		steps = steps[:0]
		for _, s := range strings.Split(o.sweep, ",") {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > o.agents {
				return fmt.Errorf("--sweep %q: want 1..%d", s, o.agents)
			}
			steps = append(steps, n)
		}
	}
	return f.sweep(ctx, mon, steps, o.files)
}
