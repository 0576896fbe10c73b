#!/usr/bin/env bash
# Soak (issue 7): are agent and relay memory bounded over a long run?
# In one run for DURATION, on 127.0.0.1:
#   - a real S3 server (versitygw, scripts/s3test.sh) and one relay process
#     (SQLite metadata, S3 store) from a generated relay.yaml;
#   - one real agent process (`dicomgate agent`, enrolled with a token)
#     watching a folder with after_commit: delete, fed by bench/soakfeed at
#     RATE files/s, each file a new patient, study and instance;
#   - the simulated fleet (bench/fleet --duration) of AGENTS agents with
#     their own identities uploading FLEET_SIZE-byte sealed files to the same
#     relay, each pausing FLEET_PAUSE between uploads.
# Every EVERY it samples RSS (VmRSS) and VmHWM of relay and agent, their Go
# heap in use (go_memstats_heap_inuse_bytes of their /metrics) and
# goroutines (go_goroutines), the agent's queue (dicomgate_agent_queue_items),
# the files it committed, the files dropped and the fleet's files/s. At the end it waits for the agent to
# drain and checks: every dropped file committed (agent queue and relay
# API), queue and folder empty, nothing quarantined, no fleet failure. It
# prints the samples as a table and the verdict, computed from the
# samples: "bounded" when, for relay and agent RSS, the maximum of the last
# third of the run is at most MARGIN_PCT % above the maximum of the second
# third; the mean RSS of each third and the least-squares slopes of RSS and
# heap over the last two thirds (MiB/hour) are reported with it. The last line is machine-readable:
#   soak summary: verdict=bounded|GROWING checks=pass|FAIL duration=... ...
# The exit status is non-zero when a check fails or memory is not bounded.
#
# Usage: bench/soak.sh
# Env:   DURATION (30m; s, m or h), EVERY (30s; sample interval, seconds or Ns),
#        RATE (10: files/s into the agent's folder), SIZE (65536: pixel bytes per fed file),
#        AGENTS (200), FLEET_PAUSE (10s: between one fleet agent's uploads; 200 agents
#        make about 20 files/s), FLEET_SIZE (65536: plaintext bytes per fleet file),
#        MARGIN_PCT (10), DRAIN (10m: how long the agent may take to drain at the end),
#        WORK (/tmp/dicomgate-soak), LOG_LEVEL (info) of relay and agent,
#        KEEP=1 keeps $WORK/run.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30m}
EVERY=${EVERY:-30s}
RATE=${RATE:-10}
SIZE=${SIZE:-65536}
AGENTS=${AGENTS:-200}
FLEET_PAUSE=${FLEET_PAUSE:-10s}
FLEET_SIZE=${FLEET_SIZE:-65536}
MARGIN_PCT=${MARGIN_PCT:-10}
DRAIN=${DRAIN:-10m}
WORK=${WORK:-/tmp/dicomgate-soak}
LOG_LEVEL=${LOG_LEVEL:-info}
KEEP=${KEEP:-0}

secs() { # 90, 90s, 30m, 1h -> seconds
  case $1 in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
DUR_S=$(secs "$DURATION")
EVERY_S=$(secs "$EVERY")
DRAIN_S=$(secs "$DRAIN")

mkdir -p "$WORK/bin"
WORK=$(cd "$WORK" && pwd)
go build -o "$WORK/bin/dicomgate" ./cmd/dicomgate
go build -o "$WORK/bin/fleet" ./bench/fleet
go build -o "$WORK/bin/soakfeed" ./bench/soakfeed
DG=$WORK/bin/dicomgate
RUN=$WORK/run
rm -rf "$RUN"
mkdir -p "$RUN/inbox" "$RUN/policies"

# Processes this script started, stopped on exit by pid only.
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${DICOMGATE_S3_PID:-}" ] && scripts/s3test.sh stop >/dev/null 2>&1 || true
  [ "$KEEP" = 1 ] || rm -rf "$RUN"
}
trap cleanup EXIT
eval "$(scripts/s3test.sh start 2>/dev/null)"

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
metric() { # metric TEXT NAME{LABELS}: the value of one sample line, 0 if absent
  awk -v n="$2" '$1 == n {printf "%.0f\n", $2; f = 1} END {if (!f) print 0}' <<<"$1"
}

POLICY_HASH=$("$DG" policy check configs/policies/basic.yaml | sed -n 's/.*sha256 \([0-9a-f]*\).*/\1/p')
cp configs/policies/basic.yaml "$RUN/policies/basic.yaml"
RCP=$(cd "$RUN" && "$DG" keygen --out corelab 2>/dev/null)
READER=$("$DG" token reader --name corelab --project soak 2>"$RUN/reader.txt")
READER_HASH=$(sed -n 's/.*token_hash: //p' "$RUN/reader.txt")
FLEET_HASH=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
RP=$(free_port); AP=$(free_port); MP=$(free_port)
# The fleet takes the first project; the agent uploads to "soak".
cat >"$RUN/relay.yaml" <<EOF
listen: 127.0.0.1:$RP
api_listen: 127.0.0.1:$AP
data_dir: $RUN/relay
store:
  type: s3
  s3:
    endpoint: $DICOMGATE_S3_ENDPOINT
    bucket: dg-soak
    access_key: $DICOMGATE_S3_ACCESS_KEY
    secret_key: $DICOMGATE_S3_SECRET_KEY
    region: $DICOMGATE_S3_REGION
    create_bucket: true
projects:
  - id: fleet
    recipients: [$RCP]
    policy_hashes: [$FLEET_HASH]
  - id: soak
    recipients: [$RCP]
    policy_hashes: [$POLICY_HASH]
readers:
  - name: corelab
    token_hash: $READER_HASH
    projects: [soak]
EOF
cat >"$RUN/agent.yaml" <<EOF
site: soak-site
project: soak
relay:
  address: 127.0.0.1:$RP
identity_dir: $RUN/agent/identity
policy: $RUN/policies/basic.yaml
secret_file: $RUN/agent/secret.key
recipients: [$RCP]
watch:
  - path: $RUN/inbox
    recursive: false
    stable_for: 1s
    rescan_every: 30s
    after_commit: delete
spool_dir: $RUN/agent/spool
queue_db: $RUN/agent/queue.db
quarantine_dir: $RUN/agent/quarantine
metrics_listen: 127.0.0.1:$MP
retry: {min: 100ms, max: 5s}
EOF

export QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true
"$DG" --log-format json --log-level "$LOG_LEVEL" relay --config "$RUN/relay.yaml" >"$RUN/relay.log" 2>&1 &
RELAY=$!; PIDS+=("$RELAY")
wait_tcp "$RP" "$RELAY" "$RUN/relay.log"
wait_tcp "$AP" "$RELAY" "$RUN/relay.log"
TOKEN=$("$DG" token create --config "$RUN/relay.yaml" --project soak --site soak-site 2>/dev/null)
"$DG" agent enroll --config "$RUN/agent.yaml" --relay "127.0.0.1:$RP" --token "$TOKEN" >/dev/null 2>&1
"$DG" --log-format json --log-level "$LOG_LEVEL" agent --config "$RUN/agent.yaml" >"$RUN/agent.log" 2>&1 &
AGENT=$!; PIDS+=("$AGENT")
wait_tcp "$MP" "$AGENT" "$RUN/agent.log"

relay_metrics() { curl -fsS --max-time 10 --cacert "$RUN/relay/ca/ca.crt" "https://127.0.0.1:$AP/metrics" 2>/dev/null || true; }
agent_metrics() { curl -fsS --max-time 10 "http://127.0.0.1:$MP/metrics" 2>/dev/null || true; }

printf 'soak: %s from %s, sample every %ss; agent fed %s files/s of %s pixel bytes; fleet of %s agents, %s bytes, pause %s; %s cores, %s\n' \
  "$DURATION" "$(date -u +%Y-%m-%dT%H:%MZ)" "$EVERY_S" "$RATE" "$SIZE" "$AGENTS" "$FLEET_SIZE" "$FLEET_PAUSE" "$(nproc)" "$(go version | awk '{print $3}')"

"$WORK/bin/fleet" --relay "127.0.0.1:$RP" --config "$RUN/relay.yaml" --pid "$RELAY" --agents "$AGENTS" \
  --size "$FLEET_SIZE" --duration "$DURATION" --pause "$FLEET_PAUSE" --every "$EVERY" >"$RUN/fleet.out" 2>&1 &
FLEET=$!; PIDS+=("$FLEET")
"$WORK/bin/soakfeed" --dir "$RUN/inbox" --rate "$RATE" --size "$SIZE" --duration "$DURATION" \
  --count "$RUN/dropped" >"$RUN/feed.out" 2>&1 &
FEED=$!; PIDS+=("$FEED")

# One sample: t relay_rss relay_hwm relay_heap agent_rss agent_hwm agent_heap
# queue committed quarantined inbox dropped fleet_fps relay_goroutines
# agent_goroutines (KiB, bytes, counts).
SAMPLES=$RUN/samples.txt
: >"$SAMPLES"
T0=$(date +%s)
sample() {
  local rm am q
  rm=$(relay_metrics); am=$(agent_metrics)
  q=0
  for s in seen anonymised sealed sent; do q=$((q + $(metric "$am" "dicomgate_agent_queue_items{state=\"$s\"}"))); done
  echo "$(($(date +%s) - T0)) $(status_kb "$RELAY" VmRSS) $(status_kb "$RELAY" VmHWM) $(metric "$rm" go_memstats_heap_inuse_bytes)" \
    "$(status_kb "$AGENT" VmRSS) $(status_kb "$AGENT" VmHWM) $(metric "$am" go_memstats_heap_inuse_bytes) $q" \
    "$(metric "$am" 'dicomgate_agent_queue_items{state="committed"}') $(metric "$am" 'dicomgate_agent_queue_items{state="quarantined"}')" \
    "$(find "$RUN/inbox" -maxdepth 1 -type f ! -name '.*' | wc -l) $(cat "$RUN/dropped" 2>/dev/null || echo 0)" \
    "$(awk -F'|' '$2 ~ /^ *[0-9.]+ *$/ {f = $4} END {printf "%.0f", f + 0}' "$RUN/fleet.out")" \
    "$(metric "$rm" go_goroutines) $(metric "$am" go_goroutines)"
}
row() { # the table row of one sample
  awk '{printf "| %5.1f | %4.0f | %4.0f | %4.0f | %4d | %4.0f | %4.0f | %4.0f | %4d | %5d | %7d | %7d | %4d |\n",
    $1 / 60, $2 / 1024, $3 / 1024, $4 / 1048576, $14, $5 / 1024, $6 / 1024, $7 / 1048576, $15, $8, $9, $12, $13}' <<<"$1"
}
echo
echo "| minute | relay RSS MiB | relay HWM MiB | relay heap MiB | relay goroutines | agent RSS MiB | agent HWM MiB | agent heap MiB | agent goroutines | queue | committed | dropped | fleet files/s |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
k=0
while kill -0 "$FEED" 2>/dev/null || kill -0 "$FLEET" 2>/dev/null; do
  k=$((k + 1))
  # Sleep to the next multiple of EVERY, so that the samples do not drift.
  while [ $(($(date +%s) - T0)) -lt $((k * EVERY_S)) ]; do
    kill -0 "$FEED" 2>/dev/null || kill -0 "$FLEET" 2>/dev/null || break 2
    sleep 1
  done
  s=$(sample)
  echo "$s" >>"$SAMPLES"
  row "$s"
done
FEED_RC=0; wait "$FEED" || FEED_RC=$?
FLEET_RC=0; wait "$FLEET" || FLEET_RC=$?
PIDS=("$RELAY" "$AGENT")

# Drain: the agent commits what is still queued or in the folder.
DROPPED=$(sed -n 's/.*dropped=\([0-9]*\).*/\1/p' "$RUN/feed.out")
DROPPED=${DROPPED:-0}
t_drain=$(date +%s)
while :; do
  s=$(sample)
  read -r _ _ _ _ _ _ _ q committed quarantined inbox _ _ <<<"$s"
  [ "$q" = 0 ] && [ "$inbox" = 0 ] && [ $((committed + quarantined)) -ge "$DROPPED" ] && break
  [ $(($(date +%s) - t_drain)) -ge "$DRAIN_S" ] && break
  sleep 2
done
DRAIN_SECS=$(($(date +%s) - t_drain))
echo "$s" >>"$SAMPLES"
row "$s"
API=$(curl -fsS --max-time 60 --cacert "$RUN/relay/ca/ca.crt" -H "Authorization: Bearer $READER" \
  "https://127.0.0.1:$AP/api/v1/projects/soak/studies" |
  /usr/bin/python3 -c 'import json,sys; print(sum(s["files"] for s in json.load(sys.stdin)["studies"]))' 2>/dev/null || echo "?")
FLEET_FILES=$(sed -n 's/^soak: \([0-9]*\) files in .*/\1/p' "$RUN/fleet.out")
FLEET_FAILED=$(sed -n 's/^soak: .*, \([0-9]*\) failed;.*/\1/p' "$RUN/fleet.out")

echo
echo "feeder: $(grep '^soakfeed:' "$RUN/feed.out" || echo "no summary (exit $FEED_RC)")"
echo "fleet:  $(grep '^soak:' "$RUN/fleet.out" || echo "no summary (exit $FLEET_RC)")"
grep '^last error:' "$RUN/fleet.out" || true
echo "agent:  drained in ${DRAIN_SECS}s; committed $committed of $DROPPED dropped, $quarantined quarantined, queue $q, folder $inbox; relay API lists $API files of project soak"
checks=pass
{ [ "$FEED_RC" = 0 ] && [ "$FLEET_RC" = 0 ] && [ "$q" = 0 ] && [ "$inbox" = 0 ] && [ "$quarantined" = 0 ] &&
  [ "$committed" = "$DROPPED" ] && [ "$API" = "$DROPPED" ] && [ "${FLEET_FAILED:-1}" = 0 ] && [ "$DROPPED" -gt 0 ]; } || checks=FAIL

# The verdict, from the samples taken while the load ran (not the drain).
verdict=$(head -n -1 "$SAMPLES" | awk -v dur="$DUR_S" -v pct="$MARGIN_PCT" '
  { t[NR] = $1; v[NR, "relay"] = $2 / 1024; v[NR, "agent"] = $5 / 1024
    h[NR, "relay"] = $4 / 1048576; h[NR, "agent"] = $7 / 1048576; g[NR, "relay"] = $14; g[NR, "agent"] = $15 }
  function slope(name, arr,   i, n, sx, sy, sxx, sxy, x) { # MiB/hour over the last two thirds
    for (i = 1; i <= NR; i++) {
      if (t[i] < dur / 3) continue
      x = t[i] / 3600; n++; sx += x; sy += arr[i, name]; sxx += x * x; sxy += x * arr[i, name]
    }
    if (n < 2 || n * sxx == sx * sx) return 0
    return (n * sxy - sx * sy) / (n * sxx - sx * sx)
  }
  END {
    ok = 1
    for (k = 1; k <= 2; k++) {
      name = (k == 1 ? "relay" : "agent"); m2 = 0; m3 = 0; g2 = 0; g3 = 0; split("", sum); split("", cnt)
      for (i = 1; i <= NR; i++) {
        third = (t[i] >= 2 * dur / 3 ? 3 : (t[i] >= dur / 3 ? 2 : 1)); sum[third] += v[i, name]; cnt[third]++
        if (t[i] >= 2 * dur / 3) { if (v[i, name] > m3) m3 = v[i, name]; if (g[i, name] > g3) g3 = g[i, name] }
        else if (t[i] >= dur / 3) { if (v[i, name] > m2) m2 = v[i, name]; if (g[i, name] > g2) g2 = g[i, name] }
      }
      b = (m2 > 0 && m3 > 0 && m3 <= m2 * (1 + pct / 100))
      if (!b) ok = 0
      out = out sprintf(" %s_max2=%.0f %s_max3=%.0f %s_mean=%.1f/%.1f/%.1f %s_rss_slope=%+.1f %s_heap_slope=%+.1f %s_goroutines2=%d %s_goroutines3=%d",
        name, m2, name, m3, name, (cnt[1] ? sum[1] / cnt[1] : 0), (cnt[2] ? sum[2] / cnt[2] : 0), (cnt[3] ? sum[3] / cnt[3] : 0),
        name, slope(name, v), name, slope(name, h), name, g2, name, g3)
    }
    printf "%s%s\n", (ok ? "bounded" : "GROWING"), out
  }')
v=${verdict%% *}
kvs=${verdict#* }
val() { tr ' ' '\n' <<<"$kvs" | sed -n "s/^$1=//p"; }
echo
printf 'memory: %s. Max RSS in the second third %s MiB (relay), %s MiB (agent); in the last third %s MiB, %s MiB (margin %s %%).\n' \
  "$v" "$(val relay_max2)" "$(val agent_max2)" "$(val relay_max3)" "$(val agent_max3)" "$MARGIN_PCT"
printf 'mean RSS of each third (MiB): relay %s, agent %s.\n' "$(val relay_mean)" "$(val agent_mean)"
printf 'slopes over the last two thirds (MiB/hour): relay RSS %s, heap %s; agent RSS %s, heap %s.\n' \
  "$(val relay_rss_slope)" "$(val relay_heap_slope)" "$(val agent_rss_slope)" "$(val agent_heap_slope)"
printf 'max goroutines, second third -> last third: relay %s -> %s, agent %s -> %s.\n' \
  "$(val relay_goroutines2)" "$(val relay_goroutines3)" "$(val agent_goroutines2)" "$(val agent_goroutines3)"
echo "soak summary: verdict=$v checks=$checks duration=$DURATION every=${EVERY_S}s rate=$RATE size=$SIZE agents=$AGENTS" \
  "fleet_pause=$FLEET_PAUSE fleet_size=$FLEET_SIZE fleet_files=${FLEET_FILES:-0} fleet_failed=${FLEET_FAILED:-?}" \
  "dropped=$DROPPED committed=$committed api=$API quarantined=$quarantined queue=$q drain=${DRAIN_SECS}s margin_pct=$MARGIN_PCT $kvs"
[ "$checks" = pass ] && [ "$v" = bounded ]
