#!/usr/bin/env bash
# make bench: DMA through our SMMUv3, upstream's and none, in one run.
#
#  1. builds the reference emulator with upstream's SMMUv3
#     (scripts/reference.sh);
#  2. runs tests/qtest/viommu-bench -m perf on no IOMMU, the identity
#     floor, upstream's model and ours, alternately (arguments are passed
#     on to it, e.g. -p /aarch64/viommu-bench/s1-4096 for one workload);
#     The same program on ppc64 times DMA through upstream's TCE tables
#     and ours (BENCH_PPC64=0 leaves it out);
#  3. boots the strict-mode arm64 guest's disk benchmark on each
#     (tests/guest/run bench), unless BENCH_GUEST=0;
#  4. writes build/bench/results.md (the tables), results.png (the plot)
#     and the raw qtest.tsv and guest.tsv.
#
# Timing is sensitive to load: run it on an otherwise idle machine.
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/debian-apt.sh"
build=$repo/build
out=$build/bench

"$repo/scripts/install-deps.sh" bench
ninja -C "$build" tests/qtest/viommu-bench qemu-system-aarch64 qemu-system-ppc64 \
    tests/qtest/viommu/viommu-testdev-vfio-user
ref=$("$repo/scripts/reference.sh")
rm -rf "$out"
mkdir -p "$out"

# Guest RAM is backed by transparent huge pages when the host has them to
# give; after a build, fragmentation decides that per emulator and moves
# DMA writes by up to 30%.  Compacting first makes the runs comparable.
sync
echo 1 > /proc/sys/vm/compact_memory 2>/dev/null || true

note "timing DMA through viommu-testdev (qtest): none, floor, upstream, ours"
(cd "$build" &&
 QTEST_QEMU_BINARY=./qemu-system-aarch64 QTEST_QEMU_BINARY_REF="$ref" \
 VIOMMU_BENCH_DIR="$out" tests/qtest/viommu-bench -m perf "$@")

if [ "${BENCH_PPC64:-1}" != 0 ]; then
    note "timing DMA through the sPAPR TCE tables (qtest): upstream, ours"
    mkdir -p "$out/ppc64"
    (cd "$build" &&
     QTEST_QEMU_BINARY=./qemu-system-ppc64 \
     QTEST_QEMU_BINARY_REF="$(dirname "$ref")/qemu-system-ppc64" \
     VIOMMU_BENCH_DIR="$out/ppc64" tests/qtest/viommu-bench -m perf)
fi

if [ "${BENCH_GUEST:-1}" != 0 ]; then
    note "timing a strict-mode arm64 guest's disk reads: none, upstream, ours"
    QEMU_REF=$ref "$repo/tests/guest/run" bench
fi

# One row per workload, one column per emulator: reads, ns per access
awk -F'\t' 'NR > 1 && $2 == "read" {
        if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
        v[$1, $3] = $4
    }
    END {
        print "workload\tnone\tfloor\tupstream\tours"
        for (i = 1; i <= n; i++) {
            w = order[i]; line = w
            split("none floor upstream ours", im, " ")
            for (j = 1; j <= 4; j++) line = line "\t" ((w, im[j]) in v ? v[w, im[j]] : "NaN")
            print line
        }
    }' "$out/qtest.tsv" > "$out/reads.dat"
gnuplot <<GP || note "no plot: gnuplot could not draw these rows (a column with no figure?)"
set terminal pngcairo size 1400,600 noenhanced font ",10"
set output "$out/results.png"
set title "ns per DMA read through viommu-testdev (median; lower is better)"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [20:*]
set ylabel "ns per access (per page for tlbi-churn, per entry for pat-rewrite)"
set xtics rotate by -40
set key top left opaque box
set grid ytics
plot "$out/reads.dat" using 2:xtic(1) title "no IOMMU", \
     "" using 3 title "identity floor", \
     "" using 4 title "upstream SMMUv3", \
     "" using 5 title "ours (SMMUv3; TI PAT for pat-*)"
GP

{
    echo "# make bench results"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs."
    echo "Reference emulator: $ref (the pinned base with upstream's SMMUv3)."
    echo
    echo "## DMA through viommu-testdev (qtest)"
    echo
    cat "$out/qtest.md"
    echo
    echo "![ns per read](results.png)"
    if [ -f "$out/ppc64/qtest.md" ]; then
        echo
        echo "## DMA through the sPAPR TCE tables (qtest, -M pseries)"
        echo
        cat "$out/ppc64/qtest.md"
    fi
    if [ -f "$out/guest.md" ]; then
        echo
        echo "## Real guest: strict-mode disk reads"
        echo
        cat "$out/guest.md"
    fi
} > "$out/results.md"
note "results: $out/results.md, $out/results.png"
