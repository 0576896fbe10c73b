#!/usr/bin/env bash
# C-STORE intake throughput of the agent's SCP: dcmtk storescu sends the same
# generated CT slices (512x512, explicit VR little endian, ~0.5 MB each) to
# the agent's SCP (Part 10 file, fsync, rename, folder fsync, durable queue
# insert, then the response) and to dcmtk storescp (writes files, no fsync),
# in the same run, same max PDU. Prints go test -bench lines (MB/s, files/s).
# bench/cstore.sh measures the bare dimse server the same way.
#
# Usage: bench/cstore_agent.sh [N_SLICES]   (default 500; env COUNT repeats, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in storescu storescp; do command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y dcmtk" >&2; exit 1; }; done
# dcmtk waits on Nagle/delayed ACK (~40 ms per message) unless told not to.
export TCP_NODELAY=${TCP_NODELAY:-1}
AGENT_BENCH_SLICES=${1:-500} go test ./agent -run '^$' -bench SCPIntake -benchtime 1x -count "${COUNT:-3}"
