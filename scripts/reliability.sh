#!/usr/bin/env bash
# Runs the reliability suites with the given counts and rewrites
# RELIABILITY.md from what they printed (never by hand).
# Usage: scripts/reliability.sh        (env: KILLS=100 PATIENTS=40 FUZZTIME=60s
#                                       DISKFULL_EPISODES=3 DISKFULL_PATIENTS=8
#                                       SOAK_DURATION=30m; SOAK_OUTPUT=FILE uses a
#                                       saved bench/soak.sh output instead of a run)
#        scripts/reliability.sh diskfull   (only the disk-full suites: rewrites
#                                           that section of RELIABILITY.md)
#        scripts/reliability.sh soak [FILE]
#                                          (only the soak: rewrites the Soak section
#                                           from FILE, a saved bench/soak.sh output,
#                                           or from a run for SOAK_DURATION)
# `make chaos` runs it with the full counts; CI runs the same suites with
# smaller counts through `make test` (never the soak). The disk-full suites
# mount tmpfs file systems: run as root (or with CAP_SYS_ADMIN).
set -uo pipefail
cd "$(dirname "$0")/.."
KILLS=${KILLS:-100}
PATIENTS=${PATIENTS:-40}
FUZZTIME=${FUZZTIME:-60s}
DISKFULL_EPISODES=${DISKFULL_EPISODES:-3}
DISKFULL_PATIENTS=${DISKFULL_PATIENTS:-8}
SOAK_DURATION=${SOAK_DURATION:-30m}
SOAK_OUTPUT=${SOAK_OUTPUT:-}
LOG=$(mktemp -d /tmp/dicomgate-reliability.XXXXXX)
start=$(date -u +%Y-%m-%dT%H:%MZ)
status() { [ "$1" -eq 0 ] && echo pass || echo FAIL; }

# Disk full: real full file systems (tmpfs + ballast), own run and log.
run_diskfull() {
  DICOMGATE_DISKFULL_EPISODES=$DISKFULL_EPISODES DICOMGATE_DISKFULL_PATIENTS=$DISKFULL_PATIENTS \
    go test -count=1 -timeout 30m -v -run 'TestStorageRelayDiskFull|TestStorageAgentDiskFull|TestStorageRelayStagingTight' \
    ./e2e > "$LOG/diskfull.txt" 2>&1
}

# diskfull_section prints the "Disk full" section from $LOG/diskfull.txt;
# $1 is the run's exit status.
diskfull_section() {
  local f="$LOG/diskfull.txt"
  sv() {
    local v
    v=$(grep -o "$1 summary: .*" "$f" | tail -1 | tr ' ' '\n' | grep "^$2=" | cut -d= -f2)
    echo "${v:-—}"
  }
  res() { grep -q -- "--- PASS: $1 " "$f" && echo pass || echo FAIL; }
  row() { echo "| $3 | $(sv "$1" files) | $(sv "$1" lost) | $(sv "$1" duplicated) | $(sv "$1" refusals) | $(sv "$1" retried) | $(res "$2") |"; }
  cat <<SECTION
## Disk full (e2e/diskfull_test.go) — $(status "$1")

Real full file systems, no simulated errors: the folder named below is a
small tmpfs that a ballast file fills mid-run, leaving 4 KiB (less than
one file), while a new batch of files is dropped; after a hold the
ballast goes. $DISKFULL_EPISODES episodes per suite (DISKFULL_EPISODES), $(sv storage-relay-full-staging files) files
(DISKFULL_PATIENTS=$DISKFULL_PATIENTS). Besides the invariants above, each suite checks that
nothing was quarantined, the sources stayed, no partial staging, object
or spool file is left, the full disk was reported (log line, gauge; the
agent's status to the relay) and audited once per episode,
\`audit verify\` passes and the agent's queue passes SQLite's
integrity check.

| disk filled | files | lost | duplicated | relay refusals (retried) | agent retries | result |
| --- | --- | --- | --- | --- | --- | --- |
$(row storage-relay-full-staging TestStorageRelayDiskFull/staging "relay staging folder")
$(row storage-relay-full-objects TestStorageRelayDiskFull/objects "relay object store (filesystem)")
$(row storage-relay-full-datadir TestStorageRelayDiskFull/datadir "relay data folder: staging, objects, SQLite metadata and audit trail")
$(row storage-agent-full-spool TestStorageAgentDiskFull/spool "agent spool (sealed files)")
$(row storage-agent-full-agentdir TestStorageAgentDiskFull/agentdir "agent folder: spool, SQLite queue, identity")
$(row storage-relay-staging-tight TestStorageRelayStagingTight "relay staging of 512 KiB, smaller than the 8 uploads in flight; no ballast")

\`\`\`
$(grep -o '\(storage-relay-full-[a-z]*\|storage-agent-full-[a-z]*\|storage-relay-staging-tight\) summary: .*' "$f")
\`\`\`
SECTION
}

# run_soak OUT: bench/soak.sh for SOAK_DURATION into OUT, or a copy of the
# saved SOAK_OUTPUT; returns the soak's exit status.
run_soak() {
  if [ -n "$SOAK_OUTPUT" ]; then
    cp -p "$SOAK_OUTPUT" "$1"
    grep -q '^soak summary: verdict=bounded checks=pass ' "$1"
    return
  fi
  DURATION=$SOAK_DURATION bench/soak.sh >"$1" 2>&1
}

# soak_section OUT RC: the "## Soak" section of RELIABILITY.md from the
# output OUT of bench/soak.sh (exit status RC).
soak_section() {
  local out=$1 rc=$2 sum when gor=""
  sum=$(grep -o 'soak summary: .*' "$out" | tail -1 | sed 's/soak summary: //')
  when=$(date -u -r "$out" +%Y-%m-%dT%H:%MZ)
  sv() { printf '%s\n' "$sum" | tr ' ' '\n' | grep "^$1=" | cut -d= -f2; }
  if [ -z "$sum" ]; then
    printf '## Soak (bench/soak.sh) — FAIL\n\nThe soak printed no summary; its last lines:\n\n```\n%s\n```\n' "$(tail -n 20 "$out")"
    return
  fi
  [ -n "$(sv relay_mean)" ] && gor=$'\n'"| mean RSS of each third | relay $(sv relay_mean) MiB, agent $(sv agent_mean) MiB |"
  [ -n "$(sv relay_goroutines2)" ] && gor=$gor$'\n'"| max goroutines, second third → last third | relay $(sv relay_goroutines2) → $(sv relay_goroutines3), agent $(sv agent_goroutines2) → $(sv agent_goroutines3) |"
  cat <<SOAK
## Soak (bench/soak.sh) — $(sv verdict), checks $(sv checks)

\`DURATION=$(sv duration) bench/soak.sh\`, finished on $when (exit status $rc): one
relay process (SQLite, S3 on versitygw) and one agent process on
127.0.0.1, the agent's watched folder (after_commit: delete) fed up to $(sv rate) new
files/s (a new patient, study and instance each, $(sv size) pixel bytes) by
bench/soakfeed, and $(sv agents) simulated agents (bench/fleet) uploading
$(sv fleet_size)-byte sealed files to the same relay, each pausing $(sv fleet_pause)
between uploads. Samples every $(sv every): RSS (VmRSS), VmHWM, Go heap in
use (go_memstats_heap_inuse_bytes) of both processes, the agent's queue.
"bounded" means the maximum RSS of the last third of the run is at most
$(sv margin_pct) % above that of the second third, for relay and agent.

| check | result |
| --- | --- |
| files dropped into the agent's folder | $(sv dropped) |
| committed: agent queue / relay API | $(sv committed) / $(sv api) |
| quarantined; left in the queue after $(sv drain) of drain | $(sv quarantined); $(sv queue) |
| fleet uploads committed; failed | $(sv fleet_files); $(sv fleet_failed) |
| relay max RSS, second third → last third | $(sv relay_max2) → $(sv relay_max3) MiB |
| agent max RSS, second third → last third | $(sv agent_max2) → $(sv agent_max3) MiB |
| relay slope over the last two thirds, RSS / heap | $(sv relay_rss_slope) / $(sv relay_heap_slope) MiB/hour |
| agent slope over the last two thirds, RSS / heap | $(sv agent_rss_slope) / $(sv agent_heap_slope) MiB/hour |$gor

Samples (MiB; queue, committed and dropped are files; fleet files/s of the
last interval the fleet reported; the last row is taken after the drain):

$(grep -E '^\| (minute|---:|[ 0-9.]+ \|)' "$out")

Throughput under load (\`bench/fleet.sh\`: 200 simulated agents against one
relay and against two relays on PostgreSQL) is in BENCHMARKS.md.
SOAK
}

if [ "${1:-}" = soak ]; then
  [ -n "${2:-}" ] && SOAK_OUTPUT=$2
  run_soak "$LOG/soak.txt"
  soak_rc=$?
  soak_section "$LOG/soak.txt" "$soak_rc" >"$LOG/soak.md"
  # Replace the section (headed "## Load" before the soak existed) up to the
  # next "## " heading.
  awk -v sec="$LOG/soak.md" '
    /^## (Soak|Load)( |$)/ { while ((getline l < sec) > 0) print l; print ""; skip = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }' RELIABILITY.md >"$LOG/RELIABILITY.md" && cp "$LOG/RELIABILITY.md" RELIABILITY.md
  grep -q '^## Soak' RELIABILITY.md || { echo "reliability: RELIABILITY.md has no Soak section to refresh" >&2; exit 1; }
  echo "reliability: soak=$(status $soak_rc); Soak section of RELIABILITY.md written (log $LOG/soak.txt)"
  exit "$soak_rc"
fi

if [ "${1:-}" = diskfull ]; then
  # Only the disk-full suites: their section of RELIABILITY.md is
  # replaced (up to the next "## " heading), stamped with this run.
  run_diskfull
  rc=$?
  { diskfull_section $rc; echo; echo "(This section: \`scripts/reliability.sh diskfull\` on $start.)"; echo; } > "$LOG/section.md"
  awk -v sec="$LOG/section.md" '
    /^## Disk full/ { while ((getline l < sec) > 0) print l; skip = 1; done = 1; next }
    skip && /^## / { skip = 0 }
    !skip && !done && /^## Hostile input/ { while ((getline l < sec) > 0) print l; done = 1 }
    !skip { print }
  ' RELIABILITY.md > "$LOG/RELIABILITY.md" && cp "$LOG/RELIABILITY.md" RELIABILITY.md
  echo "reliability: diskfull=$(status $rc); RELIABILITY.md section rewritten (log $LOG/diskfull.txt)"
  exit $rc
fi

NET_CUTS=${NET_CUTS:-30}
S3_OUTAGES=${S3_OUTAGES:-3}
DB_LOCKS=${DB_LOCKS:-4}
CSTORE_KILLS=${CSTORE_KILLS:-20}
DICOMGATE_KILLS=$KILLS DICOMGATE_KILL_PATIENTS=$PATIENTS DICOMGATE_NET_CUTS=$NET_CUTS \
  DICOMGATE_S3_OUTAGES=$S3_OUTAGES DICOMGATE_DB_LOCKS=$DB_LOCKS DICOMGATE_CSTORE_KILLS=$CSTORE_KILLS go test -count=1 -timeout 60m -v \
  -run 'TestKillNine|TestKillNineCStore|TestTCPFallback|TestAuditTrailTamper|TestTwoRelaysPostgres|TestBackupRestore|TestNetworkFaults|TestStorageS3Restart|TestStorageDBLocked|TestRotatedSigningKey|TestClockSkew|TestCertRenewal|TestExpiredCertificateRefused' \
  ./e2e > "$LOG/e2e.txt" 2>&1
e2e_rc=$?
run_diskfull
diskfull_rc=$?
go test -count=1 -v -run 'TestTruncat|TestHostile|TestDeflatedHeaderBomb|TestRepeatedTag|TestPixelDataAsSequence|TestWriteError|TestStream' ./anonymize > "$LOG/hostile.txt" 2>&1
hostile_rc=$?
go test -count=1 -v -run 'TestSecuritySuite|TestRoleBoundaries|TestLockout|TestSignatureBoundToRecord|TestUploadNeedsApprovedPolicy|TestHandshakeRefusalsAudited|TestRefusalLimiter|TestRenewCertificate|TestAgentClockSkewAudited' ./relay > "$LOG/security.txt" 2>&1
security_rc=$?
scripts/fuzz.sh "$FUZZTIME" > "$LOG/fuzz.txt" 2>&1
fuzz_rc=$?
run_soak "$LOG/soak.txt"
soak_rc=$?

summary=$(grep -o 'kill-9 summary: .*' "$LOG/e2e.txt" | tail -1 | sed 's/kill-9 summary: //')
val() { printf '%s\n' "$summary" | tr ' ' '\n' | grep "^$1=" | cut -d= -f2; }
count() { grep -c -- "$2" "$1" || true; }

cat > RELIABILITY.md <<MD
# Reliability

Generated by \`scripts/reliability.sh\` on $start (2 cores; KILLS=$KILLS,
PATIENTS=$PATIENTS, FUZZTIME=$FUZZTIME, DISKFULL_EPISODES=$DISKFULL_EPISODES, SOAK_DURATION=$SOAK_DURATION). Do not edit by hand: run
\`make chaos\` to refresh it (\`scripts/reliability.sh soak [OUTPUT]\` refreshes the
Soak section alone). CI runs the same suites with smaller counts
inside \`make test\` (20 kills, 500 files; one disk-full episode of 100
files per suite) and the fuzz targets for 10 s each; the soak runs only here.

## Process kills (e2e/kill_test.go TestKillNine) — $(status $e2e_rc)

Relay and agent run as separate processes; a workload of $(val files) files
is dropped and one of them is killed with SIGKILL at a random point (during
anonymise, seal, upload, commit or a database write) and restarted, $(val kills)
times ($(val agent) agent, $(val relay) relay).

| invariant | result |
| --- | --- |
| files committed | $(val committed) of $(val files) |
| lost | $(val lost) |
| committed more than once | $(val duplicated) |
| fetched, signature and hash verified, byte-identical to local anonymisation | $(val verified) |
| orphan or conflict objects at the relay | $(val orphans) |
| agent queue empty, spool empty afterwards | $(grep -q -- '--- PASS: TestKillNine' "$LOG/e2e.txt" && echo yes || echo no) |

C-STORE intake (e2e/cstore_kill_test.go TestKillNineCStore) — $(grep -q -- '--- PASS: TestKillNineCStore' "$LOG/e2e.txt" && echo pass || echo FAIL):
two dcmtk \`storescu\` associations send into the agent's SCP, and the agent
process is killed with SIGKILL right after a random success response and
restarted; storescu resends only what was not acknowledged. Every
acknowledged instance must come back from the intake journal and be
committed exactly once; an instance made durable whose response the kill
cut off is sent again, and the relay acknowledges it as the instance it
holds (never a quarantine):

\`\`\`
$(grep -o 'kill-9 c-store summary: .*' "$LOG/e2e.txt" | tail -1)
\`\`\`

## Network, storage and clock faults

Every suite checks the same invariants as the kill test (every file
committed exactly once, fetched, verified and byte-identical; no orphan
objects; agent queue and spool empty):

\`\`\`
$(grep -o '\(network-quic\|network-tcp\|storage-s3-restart\|storage-db-locked\|rotated-key\) summary: .*' "$LOG/e2e.txt")
\`\`\`

| suite | result |
| --- | --- |
| UDP loss 5 %, duplication 2 %, reordering, delay 5±5 ms and $NET_CUTS path cuts; TCP with resets (TestNetworkFaults) | $(grep -q -- '--- PASS: TestNetworkFaults' "$LOG/e2e.txt" && echo pass || echo FAIL) |
| S3 server killed and restarted mid-run, $S3_OUTAGES outages (TestStorageS3Restart) | $(grep -q -- '--- PASS: TestStorageS3Restart' "$LOG/e2e.txt" && echo pass || echo FAIL) |
| relay and agent databases locked by another process mid-run, $DB_LOCKS locks (TestStorageDBLocked) | $(grep -q -- '--- PASS: TestStorageDBLocked' "$LOG/e2e.txt" && echo pass || echo FAIL) |
| relay restarted with a rotated signing key: old and new checkpoints verify, \`audit verify\` passes (TestRotatedSigningKey) | $(grep -q -- '--- PASS: TestRotatedSigningKey' "$LOG/e2e.txt" && echo pass || echo FAIL) |
| UDP dropped: relay serves TCP only, agent falls back by itself (TestTCPFallback) | $(grep -q -- '--- PASS: TestTCPFallback' "$LOG/e2e.txt" && echo pass || echo FAIL) |
| two relays on one PostgreSQL + one S3 bucket, exactly-once, one audit log (TestTwoRelaysPostgres) | $(grep -q -- '--- PASS: TestTwoRelaysPostgres' "$LOG/e2e.txt" && echo pass || echo FAIL) |
| backup, wipe, restore, audit verifies (TestBackupRestore) | $(grep -q -- '--- PASS: TestBackupRestore' "$LOG/e2e.txt" && echo pass || echo FAIL) |
| audit trail edited / deleted / reordered in SQLite: \`audit verify\` fails naming the entry (TestAuditTrailTamper) | $(grep -q -- '--- PASS: TestAuditTrailTamper' "$LOG/e2e.txt" && echo pass || echo FAIL) |

## Clock

A real agent process runs with its clock off the relay's (\`--clock-offset\`:
Go reads the clock through the vDSO, so faketime cannot), and a relay issues
agent certificates that expire within seconds. Same invariants as above.

\`\`\`
$(grep -o '\(clock\|clock-skew-[^ ]*\|cert-renewal\|expired-cert\) summary: .*' "$LOG/e2e.txt")
\`\`\`

| case | expected | result |
| --- | --- | --- |
| agent clock +6 h, -6 h, +3 days (TestClockSkew) | every file committed once; \`agent.clock_skew\` audited once with the measured skew; commit times are the relay's, the agent's claimed sealing time kept beside them | $(grep -q -- '--- PASS: TestClockSkew/6h0m0s' "$LOG/e2e.txt" && grep -q -- '--- PASS: TestClockSkew/-6h0m0s' "$LOG/e2e.txt" && grep -q -- '--- PASS: TestClockSkew/72h0m0s' "$LOG/e2e.txt" && echo pass || echo FAIL) |
| agent clock -3 days (relay certificate not yet valid at the agent) | refused; one error line naming clock skew; nothing stored; files kept, delivered once the clock is right | $(grep -q -- '--- PASS: TestClockSkew/-72h0m0s' "$LOG/e2e.txt" && echo pass || echo FAIL) |
| certificates of 20 s renewed by the agent, files sent across the original expiry (TestCertRenewal) | every file committed once; \`agent.cert_renewed\` audited; no handshake refused | $(grep -q -- '--- PASS: TestCertRenewal' "$LOG/e2e.txt" && echo pass || echo FAIL) |
| agent certificate already expired (TestExpiredCertificateRefused) | refused at the handshake; one error line saying re-enrol; \`agent.handshake_refused\` (certificate_expired) audited; nothing stored, files kept | $(grep -q -- '--- PASS: TestExpiredCertificateRefused' "$LOG/e2e.txt" && echo pass || echo FAIL) |
| renewal over the agent's own connection, old certificate still accepted, revoked agent or another key refused (relay TestRenewCertificate) | as stated | $(grep -q -- '--- PASS: TestRenewCertificate' "$LOG/security.txt" && echo pass || echo FAIL) |
| refused handshakes audited at most once per certificate and reason per minute, 60 per minute in all, every one counted (relay TestHandshakeRefusalsAudited, TestRefusalLimiter) | as stated | $(grep -q -- '--- PASS: TestHandshakeRefusalsAudited' "$LOG/security.txt" && grep -q -- '--- PASS: TestRefusalLimiter' "$LOG/security.txt" && echo pass || echo FAIL) |

$(diskfull_section $diskfull_rc)

## Hostile input — $(status $hostile_rc)

$(count "$LOG/hostile.txt" '--- PASS') engine tests of malformed and hostile files passed
($(count "$LOG/hostile.txt" '--- FAIL') failed): truncation at every offset in four
transfer syntaxes, unknown VRs, lying and 4 GB lengths, 200-deep nesting, a
deflate bomb, repeated tags, pixel data with a sequence VR, write errors, and
256 MiB pixel data streamed with bounded memory.

Fuzzing (\`scripts/fuzz.sh $FUZZTIME\`) — $(status $fuzz_rc):

\`\`\`
$(grep -v '^$' "$LOG/fuzz.txt" | tail -6)
\`\`\`

$(soak_section "$LOG/soak.txt" "$soak_rc")

## Security — $(status $security_rc)

$(grep -o 'security summary: .*' "$LOG/security.txt" | tail -1) — $(count "$LOG/security.txt" '--- PASS') relay tests passed ($(count "$LOG/security.txt" '--- FAIL') failed): expired, revoked and
foreign-CA agent certificates, reused and expired enrolment tokens, replayed
uploads and receipts, bad or foreign manifest signatures, path traversal and
odd characters in every name, oversized frames, session fixation, CSRF and
role escalation on every route, every
API route against every role (forbidden calls 403 and audited), lockout,
signatures bound to their record, uploads under an unapproved policy refused
and audited, single-use expiring enrolment tokens. Agent certificates that are
expired, not yet valid, from a foreign CA, revoked, never enrolled or for
another key are refused at the handshake over QUIC and TCP, each audited as
\`agent.handshake_refused\` with its reason and the peer address.

Logs of this run were kept under /tmp on the machine that ran it.
MD
echo "reliability: e2e=$(status $e2e_rc) diskfull=$(status $diskfull_rc) hostile=$(status $hostile_rc) security=$(status $security_rc) fuzz=$(status $fuzz_rc) soak=$(status $soak_rc); RELIABILITY.md written"
[ $((e2e_rc + diskfull_rc + hostile_rc + security_rc + fuzz_rc + soak_rc)) -eq 0 ]
