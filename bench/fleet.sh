#!/usr/bin/env bash
# Fleet load test (issue 7): N simulated agents (goroutines of bench/fleet,
# each with its own Ed25519 identity, enrolment token and connection) upload
# M sealed files of S bytes each with signed manifests, first to one relay
# (SQLite, filesystem store), then to two relays sharing one PostgreSQL
# database and one object folder (agent i goes to relay i mod 2). Each run
# is a sweep over agent counts, so the table shows where throughput stops
# growing. Prints files/s, MB/s (sealed bytes), p50/p99/max commit latency,
# relay CPU (cores, summed over relays) and max RSS, and fleet RSS.
#
# Usage: bench/fleet.sh [AGENTS] [FILES] [SIZE_BYTES]   (default 200 10 262144)
# Env:   WORK (/tmp/dicomgate-fleet), SWEEP (1,10,20,50,100,AGENTS), MODE (quic|tcp|auto),
#        PG (1: also the two relays on PostgreSQL; 0 skips), ONE (1: the single relay),
#        SOAK (e.g. 30m: after the sweeps, a soak against one relay printing RSS every
#        minute), SOAK_PAUSE (0: pause per agent between uploads), SOAK_SIZE (SIZE),
#        LOG_LEVEL (info) of the relays, KEEP=1 keeps $WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
M=${2:-10}
S=${3:-262144}
WORK=${WORK:-/tmp/dicomgate-fleet}
SWEEP=${SWEEP:-1,10,20,50,100,$N}
MODE=${MODE:-quic}
PG=${PG:-1}
ONE=${ONE:-1}
SOAK=${SOAK:-}
SOAK_PAUSE=${SOAK_PAUSE:-0}
SOAK_SIZE=${SOAK_SIZE:-$S}
LOG_LEVEL=${LOG_LEVEL:-info}
KEEP=${KEEP:-0}
mkdir -p "$WORK/bin"
WORK=$(cd "$WORK" && pwd)
go build -o "$WORK/bin/dicomgate" ./cmd/dicomgate
go build -o "$WORK/bin/fleet" ./bench/fleet
DG=$WORK/bin/dicomgate
FLEET=$WORK/bin/fleet

# Processes this script started, stopped on exit by pid only.
PIDS=()
PGCTL=""
PGDATA=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$PGCTL" ]; then as_pg "$PGCTL" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true; fi
  [ "$KEEP" = 1 ] || rm -rf "$WORK/one" "$WORK/two" "$WORK/soak" "$WORK/pg"
}
trap cleanup EXIT

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() {
  python3 -c 'import socket
while True:
    t=socket.socket(); t.bind(("127.0.0.1",0)); p=t.getsockname()[1]
    u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
    try: u.bind(("127.0.0.1",p))
    except OSError: t.close(); continue
    u.close(); t.close(); print(p); break'
}

wait_listen() { # addr log
  for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "relay at $1 did not start:" >&2; tail -n 20 "$2" >&2; exit 1
}

echo "fleet: $N agents x $M files x $S bytes, mode $MODE, sweep $SWEEP, $(nproc) cpus"

if [ "$ONE" = 1 ]; then
  echo
  echo "== one relay: SQLite + filesystem store"
  "$FLEET" --dicomgate "$DG" --work "$WORK/one" --agents "$N" --files "$M" --size "$S" \
    --sweep "$SWEEP" --mode "$MODE" --relay-log-level "$LOG_LEVEL"
fi

if [ "$PG" = 1 ]; then
  echo
  echo "== two relays: one PostgreSQL database + one shared object folder"
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
    echo "skipped: no PostgreSQL server binaries (apt-get install postgresql)"
  else
    rm -rf "$WORK/pg" "$WORK/two"
    mkdir -p "$WORK/pg" "$WORK/two/relayA" "$WORK/two/relayB" "$WORK/two/objects"
    [ "$(id -u)" = 0 ] && chown postgres "$WORK/pg"
    PGDATA=$WORK/pg/data
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth trust -E UTF8 --locale C --no-sync >/dev/null
    PGPORT=$(free_port)
    # Durable settings (fsync on), as in production.
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg/log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $WORK/pg -c max_connections=300" start >/dev/null
    PGCTL=$PGBIN/pg_ctl
    as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE fleet" >/dev/null
    DSN="postgres://postgres@127.0.0.1:$PGPORT/fleet?sslmode=disable"
    RCP=$("$DG" keygen --out "$WORK/two/corelab" 2>/dev/null | grep -o 'dgpub1[0-9a-z]*' | head -n 1 || true)
    [ -n "$RCP" ] || RCP=$(cat "$WORK/two/corelab.pub")
    HASH=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    for r in A B; do
      RP=$(free_port); AP=$(free_port)
      cat >"$WORK/two/relay$r.yaml" <<YAML
listen: 127.0.0.1:$RP
api_listen: 127.0.0.1:$AP
data_dir: $WORK/two/relay$r
store:
  type: fs
  fs: {dir: $WORK/two/objects}
database:
  type: postgres
  dsn: "$DSN"
projects:
  - id: fleet
    recipients: [$RCP]
    policy_hashes: [$HASH]
YAML
      eval "ADDR_$r=127.0.0.1:$RP"
    done
    QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true "$DG" --log-format json --log-level "$LOG_LEVEL" relay --config "$WORK/two/relayA.yaml" >"$WORK/two/relayA.log" 2>&1 &
    PA=$!; PIDS+=("$PA")
    wait_listen "$ADDR_A" "$WORK/two/relayA.log"
    # Relay B shares A's CA and receipt signing key.
    cp -a "$WORK/two/relayA/ca" "$WORK/two/relayA"/relay-signing.* "$WORK/two/relayB/"
    QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true "$DG" --log-format json --log-level "$LOG_LEVEL" relay --config "$WORK/two/relayB.yaml" >"$WORK/two/relayB.log" 2>&1 &
    PB=$!; PIDS+=("$PB")
    wait_listen "$ADDR_B" "$WORK/two/relayB.log"
    "$FLEET" --relay "$ADDR_A,$ADDR_B" --config "$WORK/two/relayA.yaml" --pid "$PA,$PB" \
      --agents "$N" --files "$M" --size "$S" --sweep "$SWEEP" --mode "$MODE"
    PGPID=$(head -n 1 "$PGDATA/postmaster.pid")
    echo "postgres: $(grep -E 'VmHWM' /proc/"$PGPID"/status | tr -s ' \t' ' ') (postmaster only)"
    kill "$PA" "$PB"; wait "$PA" "$PB" 2>/dev/null || true
    PIDS=()
  fi
fi

if [ -n "$SOAK" ]; then
  echo
  echo "== soak: one relay, $N agents for $SOAK (pause $SOAK_PAUSE, $SOAK_SIZE bytes)"
  "$FLEET" --dicomgate "$DG" --work "$WORK/soak" --agents "$N" --size "$SOAK_SIZE" --mode "$MODE" \
    --duration "$SOAK" --pause "$SOAK_PAUSE" --relay-log-level "$LOG_LEVEL"
fi
