#!/usr/bin/env bash
# C-STORE intake throughput: dcmtk storescu sends the same generated CT
# slices (512x512, explicit VR little endian, ~0.5 MB each) to the dimse
# Server (handler writes Part 10 files) and to dcmtk storescp (writes files),
# in the same run, same max PDU. Prints go test -bench lines (MB/s, files/s).
#
# Usage: bench/cstore.sh [N_SLICES]   (default 500; env COUNT repeats, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in storescu storescp; do command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y dcmtk" >&2; exit 1; }; done
# dcmtk waits on Nagle/delayed ACK (~40 ms per message) unless told not to.
export TCP_NODELAY=${TCP_NODELAY:-1}
DIMSE_BENCH_SLICES=${1:-500} go test ./dimse -run '^$' -bench CStoreIntake -benchtime 1x -count "${COUNT:-3}"
