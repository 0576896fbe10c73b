#!/usr/bin/env bash
# Anonymisation throughput, side by side with the tools hospitals use today.
# Makes (or reuses) a large CT corpus with the kit's generator, then times in
# the same run: dicomgate anonymize (basic policy), GDCM gdcmanon (basic
# profile), dcmtk dcmodify (naive tag blanking) and `cp -r` (the I/O ceiling).
# Prints files/s, MB/s, peak RSS and ratios; BENCHMARKS.md records results.
#
# Usage: bench/anonymize.sh [N_SLICES]   (default 2000; env CORPUS, WORK, REPEAT)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
KIT=$(cd "${CORPUS:-../shared/corpus}" && pwd)
WORK=${WORK:-/tmp/dicomgate-bench}
REPEAT=${REPEAT:-3}
IN="$WORK/large$N"
mkdir -p "$WORK"
[ -x bin/dicomgate ] || make build >/dev/null
for tool in gdcmanon dcmodify /usr/bin/time; do command -v "$tool" >/dev/null || { echo "missing $tool: run make deps" >&2; exit 1; }; done
if [ ! -f "$IN/answer_key.json" ]; then
  echo "generating $N CT slices in $IN ..."
  /usr/bin/python3 "$KIT/make_phi_corpus.py" --out "$IN" --large "$N" >/dev/null
fi
FILES=$(find "$IN/" -type f ! -name answer_key.json | wc -l)
BYTES=$(find "$IN/" -type f ! -name answer_key.json -printf '%s\n' | awk '{s+=$1} END {print s}')
printf '%s files, %.1f MB, %d cores, %s\n' "$FILES" "$(echo "$BYTES/1000000" | bc -l)" "$(nproc)" "$(uname -srm)"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/secret.key"; echo >> "$WORK/secret.key"

# run NAME CMD...: best wall time of REPEAT runs (page cache warm), peak RSS
run() {
  local name=$1; shift
  local best="" rss=0
  for _ in $(seq "$REPEAT"); do
    rm -rf "$WORK/out" "$WORK/out.quarantine"; mkdir -p "$WORK/out"; sync
    /usr/bin/time -f '%e %M' -o "$WORK/time.txt" "$@" >/dev/null 2>&1 || true
    read -r secs kb < <(tail -n 1 "$WORK/time.txt")
    if [ -z "$best" ] || [ "$(echo "$secs < $best" | bc -l)" = 1 ]; then best=$secs; fi
    [ "$kb" -gt "$rss" ] && rss=$kb
  done
  local outn=$(find "$WORK/out" -type f ! -name answer_key.json | wc -l)
  printf '%-28s %8.2f s %9.0f files/s %8.1f MB/s %8.1f MB RSS  (%d outputs)\n' "$name" "$best" \
    "$(echo "$FILES/$best" | bc -l)" "$(echo "$BYTES/1000000/$best" | bc -l)" "$(echo "$rss/1024" | bc -l)" "$outn"
  echo "$name $best $rss" >> "$WORK/results.txt"
}
rm -f "$WORK/results.txt"
run "dicomgate anonymize" bin/dicomgate anonymize --policy configs/policies/basic.yaml --secret-file "$WORK/secret.key" "$IN" "$WORK/out"
run "dicomgate (1 worker)" bin/dicomgate anonymize --workers 1 --policy configs/policies/basic.yaml --secret-file "$WORK/secret.key" "$IN" "$WORK/out"
run "gdcmanon (basic profile)" "$KIT/peers/gdcmanon_basic.sh" "$IN" "$WORK/out"
run "dcmodify (naive)" "$KIT/peers/dcmodify_naive.sh" "$IN" "$WORK/out"
run "cp -r" cp -r "$IN/." "$WORK/out/"
echo
awk 'NR==1{d=$NF; dt=0} {name=$0; sub(/ [0-9.]+ [0-9]+$/,"",name); t[NR]=$(NF-1); n[NR]=name} END {
  for (i=2;i<=NR;i++) printf "dicomgate vs %-26s %.2fx\n", n[i], t[i]/t[1] }' "$WORK/results.txt"
rm -rf "$WORK/out" "$WORK/out.quarantine"
