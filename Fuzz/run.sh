#!/usr/bin/env bash
# Runs each libFuzzer harness built by `make fuzz-build` for FUZZ_SECONDS or FUZZ_RUNS executions, whichever
# comes first, on its committed seeds (Fuzz/corpus/NAME) plus what earlier runs found (.build-fuzz/corpus/NAME),
# and prints one line per harness: executions, exec/s, coverage (edges, features), corpus size, crashes.
# Usage: Fuzz/run.sh [NAME...]   (default: all four). Exit status 1 if any harness crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-900}
runs=${FUZZ_RUNS:-1000000}
bin=.build-fuzz/release
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(fuzz-wav fuzz-model fuzz-config fuzz-stream)
failed=0
printf '%-12s %12s %8s %7s %7s %7s %8s %s\n' harness executions exec/s cov ft corpus seconds crashes
for name in "${names[@]}"; do
  work=.build-fuzz/corpus/$name
  crashes=.build-fuzz/crashes
  log=.build-fuzz/logs/$name-$(date -u +%Y%m%d-%H%M%S).log  # one per run: runs resume on the corpus, their counts add up
  mkdir -p "$work" "$crashes" .build-fuzz/logs
  extra=()
  leaks=1
  # TOMLKit 0.6.0's TOMLTable has no deinit: every parsed document's toml++ tree leaks, once per config load in
  # kinevoxd. LeakSanitizer would stop this harness at its first input, and the growing heap slows it down 8-fold
  # within 20,000 inputs, so it runs without leak checks in fork mode (fresh child processes; docs/reliability.md).
  if [ "$name" = fuzz-config ]; then leaks=0; extra=(-fork=1 -ignore_ooms=1); fi
  # The model seeds are whole models cut to a few dozen KB (kinevox_train.fixtures.fuzz): inputs stay near that size
  # instead of libFuzzer's default limit, the largest file in the corpus.
  limit=()
  if [ "$name" = fuzz-model ]; then limit=(-max_len=65536); fi
  started=$(date +%s)
  # No allocation stacks (malloc_context_size=0): recording one per malloc took a fifth of fuzz-model's CPU time.
  # Every check stays on; rerun a crash input with ASAN_OPTIONS=malloc_context_size=30 for where it was allocated.
  ASAN_OPTIONS="detect_leaks=$leaks malloc_context_size=0 ${ASAN_OPTIONS:-}" SWIFT_BACKTRACE=enable=no \
    nice -n 10 "$bin/$name" -max_total_time="$seconds" -runs="$runs" -dict="Fuzz/$name.dict" "${extra[@]}" "${limit[@]}" \
    -artifact_prefix="$crashes/$name-" -print_final_stats=1 -print_pcs=0 "$work" "Fuzz/corpus/$name" >"$log" 2>&1
  status=$?
  elapsed=$(( $(date +%s) - started ))
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  if [ ${#extra[@]} -gt 0 ]; then  # fork mode: the parent's "#N: cov: ..." lines count every child's executions
    last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
    executions=$(sed -nE 's/^#([0-9]+):.*/\1/p' <<<"$last")
    rate=$(( ${executions:-0} / (elapsed > 0 ? elapsed : 1) ))
  fi
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corpus=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
  found=$(grep -o "Test unit written to [^ ]*" "$log" | sed 's/Test unit written to //' | tr '\n' ' ')
  printf '%-12s %12s %8s %7s %7s %7s %8s %s\n' "$name" "${executions:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
    "${corpus:-?}" "$elapsed" "${found:-0}"
  if [ $status -ne 0 ]; then
    failed=1
    echo "  $name exited with status $status; its log: $log" >&2
    grep -m1 -E "ERROR: |Fatal error|SUMMARY" "$log" | sed 's/^/  /' >&2
  fi
done
exit $failed
