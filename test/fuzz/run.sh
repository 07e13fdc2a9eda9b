#!/usr/bin/env bash
# test/fuzz/run.sh SECONDS HARNESS...: runs each built harness tmp/fuzz/HARNESS
# under libFuzzer for SECONDS, from its seeds test/fuzz/corpus/HARNESS (read
# only) and tmp/fuzz/corpus/HARNESS (where new inputs go); FUZZ_JOBS harnesses
# at a time (default 1). Prints per harness: seconds, executions, coverage
# (cov = edges, ft = features) and the finding, if any (its input is saved as
# tmp/fuzz/HARNESS-crash-..., the log is tmp/fuzz/HARNESS.log). Exits 1 when
# any harness found something.
set -uo pipefail
secs=$1; shift
jobs=${FUZZ_JOBS:-1}
# the loaders leak on their error paths by design (the programs exit there;
# fuzz.h frees it), and LeakSanitizer is not what we test here
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

run_one() {
    local h=$1
    mkdir -p "tmp/fuzz/corpus/$h"
    "tmp/fuzz/$h" -max_total_time="$secs" -print_final_stats=1 -detect_leaks=0 -timeout=10 \
        -rss_limit_mb=4096 -artifact_prefix="tmp/fuzz/$h-" "tmp/fuzz/corpus/$h" "test/fuzz/corpus/$h" \
        > "tmp/fuzz/$h.log" 2>&1
    echo $? > "tmp/fuzz/$h.rc"
}

running=0
for h in "$@"; do
    run_one "$h" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

status=0
printf '%-12s %8s %12s %8s %8s  %s\n' harness seconds execs cov ft result
for h in "$@"; do
    log="tmp/fuzz/$h.log"
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$')
    run_s=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o '[0-9]* second' | grep -o '[0-9]*')
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
    if [ "$(cat "tmp/fuzz/$h.rc")" = 0 ]; then
        result=OK
    else
        result="FINDING: $(grep -m1 -E 'ERROR: |runtime error|deadly signal|timeout|encode.c:' "$log" | cut -c1-110) (tmp/fuzz/$h.log)"
        status=1
    fi
    printf '%-12s %8s %12s %8s %8s  %s\n' "$h" "${run_s:-?}" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $status
