#!/usr/bin/env bash
# C-STORE intake throughput of the agent's SCP: dcmtk storescu sends the same
# generated CT slices (512x512, explicit VR little endian, ~0.5 MB each) to
# the agent's SCP (each instance durable in the intake journal and queued
# before its response) and to dcmtk storescp (writes files, no fsync), in
# the same run, same max PDU, over 1 and over ASSOCS concurrent associations
# (storescu processes; storescp then runs with --fork). Each of COUNT rounds
# runs every receiver once, so that load changes hit both; the last lines
# give the median over the rounds of the agent/storescp ratios.
#
# Usage: bench/cstore_agent.sh [N_SLICES]
#   (default 500; env COUNT rounds, default 3; ASSOCS, default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in storescu storescp; do command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y dcmtk" >&2; exit 1; }; done
# dcmtk waits on Nagle/delayed ACK (~40 ms per message) unless told not to.
export TCP_NODELAY=${TCP_NODELAY:-1}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/agent.test" ./agent
export AGENT_BENCH_SLICES=${1:-500} AGENT_BENCH_ASSOCS="1,${ASSOCS:-4}"
for round in $(seq "${COUNT:-3}"); do
	(cd agent && "$bin/agent.test" -test.run '^$' -test.bench SCPIntake -test.benchtime 1x -test.count 1) |
		grep '^BenchmarkSCPIntake' | sed "s/^/round $round: /"
done | tee "$bin/out"
# Median over the rounds of the agent/storescp files/s ratio in the same
# round, per association count.
awk '{ for (i = 1; i <= NF; i++) if ($(i) == "files/s") fps = $(i-1)
       split($3, p, "[=/-]"); print $2, p[3], p[4], fps }' "$bin/out" |
	awk '{ v[$1 " " $2 " " $3] = $4; k[$2] = 1; r[$1] = 1 }
	     END { for (a in k) for (n in r) if (v[n " " a " storescp"] > 0)
	             printf "%s %.3f\n", a, v[n " " a " agent"] / v[n " " a " storescp"] }' |
	sort -k1,1n -k2,2n |
	awk '{ x[$1] = x[$1] " " $2; c[$1]++ }
	     END { for (a in x) { n = split(substr(x[a], 2), y, " ")
	             m = (n % 2) ? y[(n + 1) / 2] : (y[n / 2] + y[n / 2 + 1]) / 2
	             printf "assocs=%s: agent/storescp files/s per round:%s; median %.2fx\n", a, x[a], m } }'
