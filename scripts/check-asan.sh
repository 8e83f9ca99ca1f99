#!/usr/bin/env bash
# make check-asan: the tests of make check on an ASan+UBSan build.
#
# build-asan/ is configured as build/ is, plus --enable-asan and
# --enable-ubsan (the system compiler, gcc), from the same overlaid tree.
# Then scripts/check.sh runs on it: the unit test and every qtest of
# check-qtest, and one guest group per architecture (ASAN_GUEST_GROUPS,
# default arm64-smmuv3-strict ppc64-ddw), with three times the time
# limits.
#
# A sanitizer's report ends the program that hit it (a QEMU, a qtest
# program), so it counts as a failure.  Leaks are not reported: QEMU
# leaves much allocated at exit by design.
#
# Usage: check-asan.sh [all|qtest|guest|models]
#
# "models" is what .ci/run adds to make check: the unit test and the
# models' own qtests (viommu-testdev-test, smmuv3-test, ti-pat-test,
# spapr-tce-test, viommu-bench), without the base's qtests, the
# bare-metal programs and the guests, which do not fit CI's time
# (docs/devel/testing/fuzzing-viommu.rst, "make check-asan").
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/debian-apt.sh"
cd "$repo"

start=$(date +%s)
BUILD_DIR=build-asan BUILD_ARGS="--enable-asan --enable-ubsan" \
BUILD_NINJA_TARGETS="qemu-system-aarch64 qemu-system-ppc64" \
    scripts/build.sh
built=$(date +%s)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export GUEST_TIMEOUT=${GUEST_TIMEOUT:-900}
rc=0
what=${1:-all}
if [ "$what" = models ]; then
    what=qtest
    qtests=(viommu-testdev-test smmuv3-test ti-pat-test spapr-tce-test
            viommu-bench vfio-user-viommu-test)
    export CHECK_QTESTS="${qtests[*]}"
fi
QEMU_BUILD=$repo/build-asan CHECK_TIMEOUT_SCALE=3 \
CHECK_GUEST_GROUPS=${ASAN_GUEST_GROUPS:-arm64-smmuv3-strict ppc64-ddw} \
    scripts/check.sh "$what" || rc=$?
echo "check-asan: build-asan ready in $((built - start)) s," \
     "tests took $(( $(date +%s) - built )) s"
exit $rc
