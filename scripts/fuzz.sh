#!/usr/bin/env bash
# make fuzz: libFuzzer targets for every model, built with clang, ASan and
# UBSan in build-fuzz/, each run for a while, with a report.
#
# Usage: fuzz.sh build          build qemu-fuzz-aarch64 and qemu-fuzz-ppc64
#        fuzz.sh run            run each target (after build), then report
#        fuzz.sh corpus         minimise what the runs found into the
#                               repository's corpora (tests/fuzz/corpus/)
#        fuzz.sh repro TARGET FILE...
#                               run inputs once, and write the qtest trace
#                               of each (for a reproducer qtest)
#
# Environment:
#   FUZZ_TIME     seconds per target (or 90s, 10m, 2h); default 60
#   FUZZ_RUNS     executions per target instead (or as well: first wins)
#   FUZZ_TARGETS  which targets: smmuv3 ti-pat spapr-tce (default: all)
#   FUZZ_JOBS     processes per target (libFuzzer's -fork), default 1
#   FUZZ_ARGS     more libFuzzer options
#   FUZZ_MALLOC_MB  the largest single allocation allowed, default 64
#
# Everything a run produces is under build-fuzz/fuzz/: the corpora the
# runs grow (corpus/TARGET, kept from run to run), findings
# (findings/TARGET/crash-*, oom-*, timeout-*), logs, and the results of
# the last run (results.md; results.tsv keeps every run).
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/debian-apt.sh"
cd "$repo"

out=$repo/build-fuzz
work=$out/fuzz
all_targets=(smmuv3 ti-pat spapr-tce)

# TARGET -> emulator binary and libFuzzer target name
binary_of()
{
    case $1 in
    smmuv3|ti-pat) echo "$out/qemu-fuzz-aarch64" ;;
    spapr-tce) echo "$out/qemu-fuzz-ppc64" ;;
    *) die "unknown fuzz target '$1' (known: ${all_targets[*]})" ;;
    esac
}

name_of()
{
    case $1 in
    smmuv3) echo generic-fuzz-viommu-smmuv3 ;;
    ti-pat) echo generic-fuzz-viommu-ti-pat ;;
    spapr-tce) echo viommu-spapr-tce ;;
    esac
}

seconds()
{
    local t=$1
    case $t in
    *h) echo $(( ${t%h} * 3600 )) ;;
    *m) echo $(( ${t%m} * 60 )) ;;
    *s) echo "${t%s}" ;;
    *) echo "$t" ;;
    esac
}

# The sanitizers report, and stop, at the first error: libFuzzer then
# keeps the input.  QEMU frees little at exit, so leaks are not reported.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

build()
{
    BUILD_DIR=build-fuzz BUILD_DEPS=fuzz BUILD_CC=clang BUILD_CXX=clang++ \
    BUILD_ARGS="--enable-fuzzing --enable-asan --enable-ubsan" \
    BUILD_NINJA_TARGETS="qemu-fuzz-aarch64 qemu-fuzz-ppc64" \
    TARGETS=aarch64-softmmu,ppc64-softmmu scripts/build.sh
}

# libFuzzer's options for every run
common_args()
{
    local t=$1
    echo "--fuzz-target=$(name_of "$t") -timeout=60 -rss_limit_mb=4096" \
         "-detect_leaks=0" \
         "-malloc_limit_mb=${FUZZ_MALLOC_MB:-64} -max_len=4096" \
         "-print_final_stats=1 -artifact_prefix=$work/findings/$t/"
}

# field NAME LINE: the number after "NAME: " in a libFuzzer status line
field()
{
    sed -nE "s/.* $1: ([0-9]+).*/\1/p" <<< "$2"
}

run_one()
{
    local t=$1 bin log start elapsed line execs rate cov ft corp found what
    local interrupted
    local args=()
    bin=$(binary_of "$t")
    [ -x "$bin" ] || die "$bin is missing: run fuzz.sh build"
    log=$work/logs/$t.log
    mkdir -p "$work/corpus/$t" "$work/findings/$t" "$work/logs"
    read -ra args <<< "$(common_args "$t")"
    if [ -n "${FUZZ_RUNS:-}" ]; then
        args+=(-runs="$FUZZ_RUNS")
    else
        args+=(-max_total_time="$(seconds "${FUZZ_TIME:-60}")")
    fi
    if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then
        args+=(-fork="$FUZZ_JOBS" -ignore_crashes=1 -ignore_timeouts=1
               -ignore_ooms=1)
    fi
    read -ra extra <<< "${FUZZ_ARGS:-}"
    echo "== $t: $(basename "$bin") ${args[*]} ${extra[*]}"
    touch "$work/findings/$t/.start"
    start=$(date +%s)
    (cd "$work" && "$bin" "${args[@]}" "${extra[@]}" "$work/corpus/$t" \
        "$repo/tests/fuzz/corpus/$t") > "$log" 2>&1 && rc=0 || rc=$?
    elapsed=$(( $(date +%s) - start ))

    line=$(grep -E '^#[0-9]+:?[[:space:]].*cov: ' "$log" | tail -n 1 || true)
    execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<< "$line")
    execs=${execs:-0}
    rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" |
           tail -n 1)
    rate=${rate:-$(( execs / (elapsed > 0 ? elapsed : 1) ))}
    cov=$(field cov "$line")
    ft=$(field ft "$line")
    corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<< "$line")
    found=$(find "$work/findings/$t" -maxdepth 1 -newer "$work/findings/$t/.start" \
            \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \
               -o -name 'leak-*' \) | wc -l)
    what=$(grep -m 1 -E 'viommu-fuzz: ORACLE|ERROR: AddressSanitizer|runtime error:|ERROR: libFuzzer|==ERROR' \
           "$log" | cut -c1-200 || true)
    # libFuzzer ends a run stopped by SIGINT (^C) or SIGTERM with status
    # 72: that is the user's stop, not a finding
    interrupted=
    if [ "$rc" -ne 0 ] && [ "$found" -eq 0 ] &&
       grep -q 'libFuzzer: run interrupted' "$log"; then
        interrupted=1
        what="stopped by a signal after $execs executions: not a finding"
    elif [ "$rc" -ne 0 ] && [ "$found" -eq 0 ]; then
        found=1
        what=${what:-"exited with status $rc (see ${log#"$repo"/})"}
    fi
    printf '   %s executions in %s s, %s exec/s, cov %s, ft %s, corpus %s, findings %s\n' \
        "$execs" "$elapsed" "$rate" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$found"
    [ -n "$what" ] && echo "   $what"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$elapsed" \
        "$execs" "$rate" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$found" \
        >> "$work/results.md"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -Is)" "$t" \
        "$elapsed" "$execs" "$rate" "${cov:-}" "${ft:-}" "${corp:-}" \
        "$found" >> "$work/results.tsv"
    if [ -n "$interrupted" ]; then
        echo "   the other targets are not run"
        exit 130
    fi
    [ "$found" -eq 0 ]
}

run()
{
    local t failed=()
    read -ra targets <<< "${FUZZ_TARGETS:-${all_targets[*]}}"
    mkdir -p "$work"
    {
        echo "| target | seconds | executions | exec/s | cov (edges) | ft (features) | corpus | findings |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    } > "$work/results.md"
    for t in "${targets[@]}"; do
        binary_of "$t" >/dev/null
        run_one "$t" || failed+=("$t")
    done
    echo
    echo "results: ${work#"$repo"/}/results.md; findings under ${work#"$repo"/}/findings/"
    if [ ${#failed[@]} -gt 0 ]; then
        echo "findings in: ${failed[*]}"
        return 1
    fi
    echo "no findings"
}

# Keep the seeds, add the fewest inputs that cover what the runs reached
corpus()
{
    local t bin new
    read -ra targets <<< "${FUZZ_TARGETS:-${all_targets[*]}}"
    for t in "${targets[@]}"; do
        bin=$(binary_of "$t")
        new=$work/merge/$t
        rm -rf "$new" "$work/merge/old-$t"
        mkdir -p "$new" "$work/merge/old-$t" "$work/corpus/$t"
        cp "$repo/tests/fuzz/corpus/$t"/seed-* "$new"/
        find "$repo/tests/fuzz/corpus/$t" -type f ! -name 'seed-*' \
            -exec cp {} "$work/merge/old-$t"/ \;
        read -ra args <<< "$(common_args "$t")"
        (cd "$work" && "$bin" "${args[@]}" -merge=1 "$new" \
            "$work/merge/old-$t" "$work/corpus/$t") \
            > "$work/logs/merge-$t.log" 2>&1 ||
            die "merging $t failed: see build-fuzz/fuzz/logs/merge-$t.log"
        rm -f "$repo/tests/fuzz/corpus/$t"/*
        cp "$new"/* "$repo/tests/fuzz/corpus/$t"/
        echo "$t: $(ls "$new" | wc -l) inputs," \
             "$(du -sk "$new" | cut -f1) KiB in tests/fuzz/corpus/$t"
    done
}

# The qtest trace of each input: the commands a reproducer qtest replays
repro()
{
    local t=$1 bin f
    shift
    bin=$(binary_of "$t")
    mkdir -p "$work/repro"
    for f in "$@"; do
        read -ra args <<< "$(common_args "$t")"
        echo "== $f"
        QTEST_LOG=1 FUZZ_SERIALIZE_QTEST=1 QEMU_FUZZ_TIMEOUT=0 \
            "$bin" "${args[@]}" -runs=1 "$f" \
            > "$work/repro/$(basename "$f").trace" 2>&1 || true
        grep -m 3 -E 'viommu-fuzz: ORACLE|ERROR: |runtime error:' \
            "$work/repro/$(basename "$f").trace" || echo "   (no error)"
        echo "   trace: build-fuzz/fuzz/repro/$(basename "$f").trace"
    done
}

case ${1:-} in
build) build ;;
run) run ;;
corpus) corpus ;;
repro) shift; [ $# -ge 2 ] || die "usage: fuzz.sh repro TARGET FILE..."; repro "$@" ;;
*) echo "usage: fuzz.sh build|run|corpus|repro TARGET FILE..." >&2; exit 2 ;;
esac
