#!/usr/bin/env bash
# Transfer throughput, side by side with what sites use today, in one run:
#   (1) dicomgate: files dropped (atomic rename) into the agent's watched folder
#       -> anonymise -> seal -> QUIC -> relay -> S3 (versitygw on 127.0.0.1),
#       timed until the relay API lists every file committed; relay and agent
#       run as separate processes from config files, as e2e/process_test.go;
#   (2) dcmtk storescu -> storescp of the same files on 127.0.0.1 (plain
#       C-STORE, no anonymisation, no encryption, default PDU sizes);
#   (3) the ceiling: raw minio-go PutObject of the same files, 8 at a time
#       (bench/putbench), into the same versitygw.
# First a CT study of N slices made by the kit's generator (512x512 16-bit,
# ~530 kB each), then one ~2 GB multi-frame file (BIG=0 skips it).
# Prints seconds, files/s, MB/s (of the input DICOM bytes), peak RSS
# (VmHWM; for dicomgate of the relay and agent processes) and the ratios.
#
# Usage: bench/transfer.sh [N_SLICES]   (default 500)
# Env:   REPEAT (1; best time and max RSS are reported), WORK, CORPUS (kit folder),
#        WORKERS (2), UPLOADS (8), STABLE (100ms), MODE (auto): agent.yaml workers,
#        uploads_in_flight, watch stable_for, relay.mode (auto|quic|tcp);  PUT_J (8): raw PutObject concurrency;
#        PUT_UNSIGNED (false): true sends the raw PUTs as the relay does (unsigned payload, CRC32C trailer);
#        BIG (1), BIG_FRAMES (4000); LOG_LEVEL (info) of relay and agent;
#        PROFILE=1: perf record -g the relay and agent during the dicomgate runs
#        (reports in $WORK/perf-*.txt) and Go CPU profiles of both processes
#        ($WORK/cpu-{relay,agent}-*.pprof, go tool pprof -top);
#        ONLY=dicomgate|storescu|putobject runs one of the three (no ratios); KEEP=1 keeps the per-run folders;
#        DG_BIN=PATH runs that dicomgate binary instead of building this tree (A/B runs).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
N=${1:-500}
KIT=$(cd "${CORPUS:-../shared/corpus}" && pwd)
WORK=${WORK:-/tmp/dicomgate-transfer}
REPEAT=${REPEAT:-1}
WORKERS=${WORKERS:-2}
UPLOADS=${UPLOADS:-8}
STABLE=${STABLE:-100ms}
PUT_J=${PUT_J:-8}
PUT_UNSIGNED=${PUT_UNSIGNED:-false}
BIG=${BIG:-1}
BIG_FRAMES=${BIG_FRAMES:-4000}
LOG_LEVEL=${LOG_LEVEL:-info}
PROFILE=${PROFILE:-0}
KEEP=${KEEP:-0}
ONLY=${ONLY:-}
MODE=${MODE:-auto}
mkdir -p "$WORK/bin"
WORK=$(cd "$WORK" && pwd)
for tool in storescu storescp /usr/bin/python3; do command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y dcmtk" >&2; exit 1; }; done
[ "$PROFILE" = 1 ] && { command -v perf >/dev/null || { echo "PROFILE=1 needs perf" >&2; exit 1; }; }

# Binaries of this tree, outside the shared bin/.
# The tree is shared: if it does not build right now, reuse the last binaries.
for b in dicomgate:./cmd/dicomgate putbench:./bench/putbench; do
  if [ "${b%%:*}" = dicomgate ] && [ -n "${DG_BIN:-}" ]; then cp "$DG_BIN" "$WORK/bin/dicomgate"; continue; fi
  if ! go build -o "$WORK/bin/${b%%:*}.new" "${b#*:}" 2>"$WORK/build.log"; then
    [ -x "$WORK/bin/${b%%:*}" ] || { cat "$WORK/build.log" >&2; exit 1; }
    echo "warning: ${b#*:} does not build now ($(head -n 2 "$WORK/build.log" | tail -n 1)); using the last $WORK/bin/${b%%:*}" >&2
    continue
  fi
  mv "$WORK/bin/${b%%:*}.new" "$WORK/bin/${b%%:*}"
done
DG=$WORK/bin/dicomgate
PB=$WORK/bin/putbench

IN=$WORK/ct$N
if [ ! -f "$IN/answer_key.json" ]; then
  echo "generating $N CT slices in $IN ..."
  rm -rf "$IN"
  /usr/bin/python3 "$KIT/make_phi_corpus.py" --out "$IN" --large "$N" >/dev/null
fi
BIGDIR=$WORK/big$BIG_FRAMES
if [ "$BIG" = 1 ] && [ ! -f "$BIGDIR/mf.dcm" ]; then
  echo "generating a $BIG_FRAMES-frame 512x512x16 multi-frame file in $BIGDIR ..."
  mkdir -p "$BIGDIR"
  "$PB" mkbig -out "$BIGDIR/mf.dcm" -frames "$BIG_FRAMES" >/dev/null
fi

# Processes this script started, stopped on exit (by pid only).
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${DICOMGATE_S3_PID:-}" ] && scripts/s3test.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
eval "$(scripts/s3test.sh start 2>/dev/null)"
PIDS+=("$DICOMGATE_S3_PID")

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cpu_s() { # user+system CPU seconds of a process so far
  local st; st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{print ($12 + $13) / hz}' <<<"${st##*) }"
}
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
stop_pid() { # SIGTERM, wait up to 30 s, then SIGKILL
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
count_files() { find "$1" -type f ! -name answer_key.json | wc -l; }
count_bytes() { find "$1" -type f ! -name answer_key.json -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }
POLICY_HASH=$("$DG" policy check configs/policies/basic.yaml | sed -n 's/.*sha256 \([0-9a-f]*\).*/\1/p')
RESULTS=$WORK/results.txt
: >"$RESULTS"
RUN=0

# dicomgate SET SRC: one fresh relay + agent (own folder, own bucket), drop
# the files of SRC, wait for the API to list them all committed.
dicomgate_run() {
  local set=$1 src=$2 want site rp ap tok reader hash rcp relay_pid agent_pid out secs rss_r rss_a perf_pids=() c0 c1
  RUN=$((RUN + 1))
  want=$(count_files "$src")
  site=$WORK/site-$set-$RUN
  rm -rf "$site"; mkdir -p "$site/policies" "$site/inbox" "$site/stage"
  cp configs/policies/basic.yaml "$site/policies/basic.yaml"
  rcp=$(cd "$site" && "$DG" keygen --out corelab 2>/dev/null)
  reader=$("$DG" token reader --name corelab --project demo 2>"$site/reader.txt")
  hash=$(sed -n 's/.*token_hash: //p' "$site/reader.txt")
  rp=$(free_port); ap=$(free_port)
  cat >"$site/relay.yaml" <<EOF
listen: 127.0.0.1:$rp
api_listen: 127.0.0.1:$ap
data_dir: relay
store:
  type: s3
  s3:
    endpoint: $DICOMGATE_S3_ENDPOINT
    bucket: dg-$set-$RUN
    access_key: $DICOMGATE_S3_ACCESS_KEY
    secret_key: $DICOMGATE_S3_SECRET_KEY
    region: $DICOMGATE_S3_REGION
    create_bucket: true
projects:
  - id: demo
    recipients: [$rcp]
    policy_hashes: [$POLICY_HASH]
readers:
  - name: corelab
    token_hash: $hash
    projects: [demo]
EOF
  cat >"$site/agent.yaml" <<EOF
site: site-01
project: demo
relay:
  address: 127.0.0.1:$rp
  mode: $MODE
identity_dir: agent/identity
policy: policies/basic.yaml
secret_file: agent/secret.key
recipients: [$rcp]
watch:
  - path: inbox
    recursive: true
    stable_for: $STABLE
    rescan_every: 30s
spool_dir: agent/spool
queue_db: agent/queue.db
quarantine_dir: agent/quarantine
workers: $WORKERS
uploads_in_flight: $UPLOADS
retry: {min: 100ms, max: 2s}
EOF
  # The files go to a folder next to the inbox first (same file system), so
  # the timed drop is a rename per file, as a PACS export would do.
  cp -r "$src/." "$site/stage/"; rm -f "$site/stage/answer_key.json"
  export QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true
  local prof_r=() prof_a=()
  [ "$PROFILE" = 1 ] && prof_r=(--cpuprofile "$WORK/cpu-relay-$set-$RUN.pprof") && prof_a=(--cpuprofile "$WORK/cpu-agent-$set-$RUN.pprof")
  (cd "$site" && exec "$DG" "${prof_r[@]}" --log-format json --log-level "$LOG_LEVEL" relay --config relay.yaml >relay.log 2>&1) &
  relay_pid=$!; PIDS+=("$relay_pid")
  wait_tcp "$rp" "$relay_pid" "$site/relay.log"
  wait_tcp "$ap" "$relay_pid" "$site/relay.log"
  tok=$(cd "$site" && "$DG" token create --config relay.yaml --project demo --site site-01 2>/dev/null)
  (cd "$site" && "$DG" agent enroll --config agent.yaml --relay "127.0.0.1:$rp" --token "$tok" >/dev/null 2>&1)
  (cd "$site" && exec "$DG" "${prof_a[@]}" --log-format json --log-level "$LOG_LEVEL" agent --config agent.yaml >agent.log 2>&1) &
  agent_pid=$!; PIDS+=("$agent_pid")
  sleep 1; kill -0 "$agent_pid" || { tail "$site/agent.log" >&2; exit 1; }
  sync
  if [ "$PROFILE" = 1 ]; then
    perf record -F 499 -g -o "$WORK/perf-relay-$set-$RUN.data" -p "$relay_pid" >/dev/null 2>&1 & perf_pids+=($!)
    perf record -F 499 -g -o "$WORK/perf-agent-$set-$RUN.data" -p "$agent_pid" >/dev/null 2>&1 & perf_pids+=($!)
    for p in relay:$relay_pid agent:$agent_pid versitygw:$DICOMGATE_S3_PID; do
      perf stat -e 'syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_write,syscalls:sys_enter_pwrite64,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendmmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_recvmsg,syscalls:sys_enter_recvmmsg' \
        -o "$WORK/perf-syscalls-${p%%:*}-$set-$RUN.txt" -p "${p#*:}" >/dev/null 2>&1 & perf_pids+=($!)
    done
    sleep 0.5
  fi
  c0="$(cpu_s "$relay_pid") $(cpu_s "$agent_pid") $(cpu_s "$DICOMGATE_S3_PID")"
  out=$("$PB" dropwait -stage "$site/stage" -inbox "$site/inbox" -api "https://127.0.0.1:$ap" -token "$reader" \
    -ca "$site/relay/ca/ca.crt" -want "$want" -timeout "${TIMEOUT:-30m}" 2>"$site/progress.txt") || {
    echo "dicomgate run failed; see $site/{agent,relay}.log" >&2; cat "$site/progress.txt" >&2; exit 1; }
  for p in "${perf_pids[@]}"; do kill -INT "$p"; wait "$p" 2>/dev/null || true; done
  rss_r=$(hwm_kb "$relay_pid"); rss_a=$(hwm_kb "$agent_pid")
  c1="$(cpu_s "$relay_pid") $(cpu_s "$agent_pid") $(cpu_s "$DICOMGATE_S3_PID")"
  stop_pid "$agent_pid"; stop_pid "$relay_pid"
  if [ "$PROFILE" = 1 ]; then
    for c in relay agent; do
      perf report -i "$WORK/perf-$c-$set-$RUN.data" --no-children --sort symbol --stdio 2>/dev/null |
        grep -v '^$' | grep -E '^ +[0-9]' | head -40 >"$WORK/perf-$c-$set-$RUN.txt" || true
    done
  fi
  secs=$(kv secs "$out")
  echo "$set dicomgate $secs $rss_r $rss_a" >>"$RESULTS"
  printf '  dicomgate  run %d: %7.2f s  (relay %d MB, agent %d MB RSS; CPU s during the transfer: %s)\n' "$RUN" "$secs" $((rss_r / 1024)) $((rss_a / 1024)) \
    "$(awk -v a="$c0" -v b="$c1" 'BEGIN {split(a, x); split(b, y); printf "relay %.1f, agent %.1f, versitygw %.1f", y[1]-x[1], y[2]-x[2], y[3]-x[3]}')"
  [ "$KEEP" = 1 ] || rm -rf "$site/stage" "$site/inbox"
}

# storescu SET SRC: storescp -od on a free port; storescu +sd +r of the folder.
storescu_run() {
  local set=$1 src=$2 port od scp_pid t0 t1 secs rss_p rss_u
  RUN=$((RUN + 1))
  od=$WORK/scp-$set-$RUN; rm -rf "$od"; mkdir -p "$od"
  port=$(free_port)
  storescp -od "$od" "$port" >"$od.log" 2>&1 &
  scp_pid=$!; PIDS+=("$scp_pid")
  wait_tcp "$port" "$scp_pid" "$od.log"
  sync
  /usr/bin/time -f '%e %M' -o "$WORK/time.txt" storescu +sd +r -aec STORESCP 127.0.0.1 "$port" \
    $(find "$src" -mindepth 1 -maxdepth 1 -type d | sort; find "$src" -maxdepth 1 -type f -name '*.dcm') >"$od.scu.log" 2>&1 ||
    { echo "storescu failed:" >&2; tail "$od.scu.log" >&2; exit 1; }
  read -r secs rss_u < <(tail -n 1 "$WORK/time.txt")
  rss_p=$(hwm_kb "$scp_pid"); stop_pid "$scp_pid"
  local got; got=$(find "$od" -type f | wc -l)
  echo "$set storescu $secs $rss_u $rss_p" >>"$RESULTS"
  printf '  storescu   run %d: %7.2f s  (%d files received; storescu %d MB, storescp %d MB RSS)\n' "$RUN" "$secs" "$got" $((rss_u / 1024)) $((rss_p / 1024))
  rm -rf "$od"
}

# putobject SET SRC: raw minio-go PutObject, PUT_J at a time, fresh bucket.
put_run() {
  local set=$1 src=$2 out secs rss c0 c1 cpu
  RUN=$((RUN + 1))
  c0=$(cpu_s "$DICOMGATE_S3_PID")
  /usr/bin/time -f '%e %M %U %S' -o "$WORK/time.txt" "$PB" put -endpoint "$DICOMGATE_S3_ENDPOINT" -bucket "raw-$set-$RUN" \
    -access "$DICOMGATE_S3_ACCESS_KEY" -secret "$DICOMGATE_S3_SECRET_KEY" -region "$DICOMGATE_S3_REGION" \
    -dir "$src" -j "$PUT_J" -unsigned="$PUT_UNSIGNED" >"$WORK/put.out"
  c1=$(cpu_s "$DICOMGATE_S3_PID")
  out=$(cat "$WORK/put.out"); secs=$(kv secs "$out")
  rss=$(tail -n 1 "$WORK/time.txt" | awk '{print $2}')
  cpu=$(tail -n 1 "$WORK/time.txt" | awk -v a="$c0" -v b="$c1" '{printf "putbench %.1f, versitygw %.1f", $3 + $4, b - a}')
  echo "$set putobject $secs $rss 0" >>"$RESULTS"
  printf '  PutObject  run %d: %7.2f s  (%d MB RSS; CPU s: %s)\n' "$RUN" "$secs" $((rss / 1024)) "$cpu"
}

# bench SET SRC: REPEAT runs of each of the three, interleaved.
bench() {
  local set=$1 src=$2
  printf '\n== %s: %d files, %.1f MB ==\n' "$set" "$(count_files "$src")" "$(echo "$(count_bytes "$src")/1000000" | bc -l)"
  for _ in $(seq "$REPEAT"); do
    if [ -z "$ONLY" ] || [ "$ONLY" = dicomgate ]; then dicomgate_run "$set" "$src"; fi
    if [ -z "$ONLY" ] || [ "$ONLY" = storescu ]; then storescu_run "$set" "$src"; fi
    if [ -z "$ONLY" ] || [ "$ONLY" = putobject ]; then put_run "$set" "$src"; fi
  done
}

printf '%d cores, %s, %s; agent: workers %s, uploads_in_flight %s, stable_for %s, relay.mode %s; PutObject -j %s; REPEAT %s\n' \
  "$(nproc)" "$(uname -srm)" "$(go version | awk '{print $3}')" "$WORKERS" "$UPLOADS" "$STABLE" "$MODE" "$PUT_J" "$REPEAT"
bench "ct$N" "$IN"
[ "$BIG" = 1 ] && bench "multiframe" "$BIGDIR"

# Table: best time and max RSS per set and tool.
echo
table() {
  local set=$1 src=$2 files bytes
  files=$(count_files "$src"); bytes=$(count_bytes "$src")
  awk -v set="$set" -v files="$files" -v bytes="$bytes" '
    $1 == set {
      t = $3; if (!($2 in best) || t < best[$2]) best[$2] = t
      if ($4 > r1[$2]) r1[$2] = $4; if ($5 > r2[$2]) r2[$2] = $5
    }
    END {
      printf "%-12s %-28s %9s %9s %9s  %s\n", set, "tool", "seconds", "files/s", "MB/s", "peak RSS (MB)"
      n["dicomgate"] = "dicomgate folder->S3"; n["storescu"] = "storescu->storescp"; n["putobject"] = "raw PutObject (ceiling)"
      split("dicomgate storescu putobject", order, " ")
      for (i = 1; i <= 3; i++) {
        k = order[i]; if (!(k in best)) continue
        rss = sprintf("%.0f", r1[k] / 1024)
        if (k == "dicomgate") rss = sprintf("relay %.0f, agent %.0f", r1[k] / 1024, r2[k] / 1024)
        if (k == "storescu") rss = sprintf("storescu %.0f, storescp %.0f", r1[k] / 1024, r2[k] / 1024)
        printf "%-12s %-28s %9.2f %9.2f %9.1f  %s\n", "", n[k], best[k], files / best[k], bytes / 1e6 / best[k], rss
      }
      if (("dicomgate" in best) && ("storescu" in best) && ("putobject" in best)) {
        a = best["storescu"] / best["dicomgate"]; b = best["putobject"] / best["dicomgate"]
        printf "%-12s dicomgate/storescu %.2fx (target >= 10x: %s); dicomgate/raw PutObject %.0f%% (target >= 60%%: %s); RSS < 150 MB: %s\n\n", "", a,
          (a >= 10 ? "met" : "MISSED"), 100 * b, (b >= 0.6 ? "met" : "MISSED"),
          ((r1["dicomgate"] < 150 * 1024 && r2["dicomgate"] < 150 * 1024) ? "met" : "MISSED")
      }
    }' "$RESULTS"
}
table "ct$N" "$IN"
[ "$BIG" = 1 ] && table "multiframe" "$BIGDIR"
echo "raw results: $RESULTS"
