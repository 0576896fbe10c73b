#!/usr/bin/env bash
# Runs dicomgate against the independent evaluation kit (../shared/corpus):
# the real public samples and the synthetic PHI corpus (three seeds) under
# every policy in configs/policies, judged by the kit's check_anon.py and
# scripts/conformance_eval.py. Usage: scripts/conformance.sh [CORPUS_DIR]
# Last line: "N passed, N failed" over all runs.
set -uo pipefail
cd "$(dirname "$0")/.."
CORPUS=$(cd "${1:-../shared/corpus}" 2>/dev/null && pwd) || {
  echo "conformance: evaluation kit not found at ${1:-../shared/corpus} (pass its path as the first argument)" >&2
  exit 2
}
PY=/usr/bin/python3
BIN=${DICOMGATE_BIN:-bin/dicomgate}
WORK=${CONFORMANCE_WORK:-$(mktemp -d /tmp/dicomgate-conformance.XXXXXX)}
JOBS=${JOBS:-2}
SAMPLE=${VALIDATE_SAMPLE:-20}
mkdir -p "$WORK"
echo "conformance: work dir $WORK"
SECRET="$WORK/secret.key"
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$SECRET"
chmod 600 "$SECRET"

pass=0; fail=0
run() { # label policy input key validate-args...
  local label=$1 pol=$2 in=$3 key=$4; shift 4
  local out="$WORK/$label/out" q="$WORK/$label/quarantine"
  rm -rf "$WORK/$label"; mkdir -p "$WORK/$label"
  local t0=$(date +%s.%N)
  "$BIN" anonymize --policy "$pol" --secret-file "$SECRET" --quarantine "$q" "$in" "$out" > "$WORK/$label/anonymize.txt" 2>&1
  local rc=$?
  local t1=$(date +%s.%N)
  if [ $rc -ne 0 ] && [ $rc -ne 3 ]; then
    echo "FAIL $label: dicomgate anonymize exit $rc"; cat "$WORK/$label/anonymize.txt"; fail=$((fail+1)); return
  fi
  local keyarg=(); [ -n "$key" ] && keyarg=(--key "$key")
  $PY "$CORPUS/check_anon.py" --in "$in" --out "$out" "${keyarg[@]}" --options claimed \
      --json "$WORK/$label/check.json" --jobs "$JOBS" "$@" > "$WORK/$label/check.txt" 2>&1
  if $PY scripts/conformance_eval.py --label "$label" --in "$in" --out "$out" --quarantine "$q" \
      --report "$WORK/$label/check.json" --kit "$CORPUS" > "$WORK/$label/eval.txt" 2>&1; then
    pass=$((pass+1)); echo "ok   $label ($(tail -1 "$WORK/$label/anonymize.txt" | head -c 0)$(grep -m1 '^anonymised' "$WORK/$label/anonymize.txt"))"
  else
    fail=$((fail+1)); echo "FAIL $label"
  fi
  sed 's/^/     /' "$WORK/$label/eval.txt"
  grep -E '^== (validity|planted|UIDs|dates|derived)' "$WORK/$label/check.txt" | sed 's/^/     /'
}

for seed in 1 2 3; do
  $PY "$CORPUS/make_phi_corpus.py" --out "$WORK/syn$seed" --seed "$seed" > /dev/null 2>&1 || { echo "FAIL: make_phi_corpus seed $seed"; fail=$((fail+1)); }
done

# Main policy: every file validated with dciodvfy, on the real samples and seed 1.
run real-basic configs/policies/basic.yaml "$CORPUS/real" ""
run syn1-basic configs/policies/basic.yaml "$WORK/syn1" "$WORK/syn1/answer_key.json"
# Other seeds and every other policy: a validated sample.
run syn2-basic configs/policies/basic.yaml "$WORK/syn2" "$WORK/syn2/answer_key.json" --validate-sample "$SAMPLE"
run syn3-basic configs/policies/basic.yaml "$WORK/syn3" "$WORK/syn3/answer_key.json" --validate-sample "$SAMPLE"
for pol in configs/policies/*.yaml; do
  name=$(basename "$pol" .yaml)
  [ "$name" = basic ] && continue
  extra=()
  # Policies with pixel rules may change pixels; the strict policy is also
  # judged on the kit's beyond-profile probes (PDF text, code meanings...).
  grep -q '^pixel_rules:' "$pol" && extra+=(--pixel-clean)
  [ "$name" = strict-clean ] && extra+=(--strict-beyond)
  run "syn1-$name" "$pol" "$WORK/syn1" "$WORK/syn1/answer_key.json" --validate-sample "$SAMPLE" "${extra[@]}"
  run "syn2-$name" "$pol" "$WORK/syn2" "$WORK/syn2/answer_key.json" --validate-sample "$SAMPLE" "${extra[@]}"
  run "real-$name" "$pol" "$CORPUS/real" "" --validate-sample "$SAMPLE" "${extra[@]}"
done
echo "conformance: $pass passed, $fail failed (details under $WORK)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
