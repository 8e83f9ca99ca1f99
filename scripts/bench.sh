#!/usr/bin/env bash
# Benchmarks: what one DMA access costs through each vIOMMU path (see
# tests/qtest/viommu-bench.c and README.md).  Builds the benchmark if
# needed and runs it with full counts (-m perf); arguments are passed on,
# e.g. -p /viommu-bench/virt/smmuv3-s1-hot to run one scenario.
#
# Timing is sensitive to load: run it on an otherwise idle machine.
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build

ninja -C "$build" tests/qtest/viommu-bench qemu-system-aarch64
cd "$build"
QTEST_QEMU_BINARY=./qemu-system-aarch64 exec tests/qtest/viommu-bench -m perf "$@"
