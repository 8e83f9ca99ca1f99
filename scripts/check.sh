#!/usr/bin/env bash
# Run the fork's tests and close with one line: "N passed, N failed".
#
#   qtest: our unit tests and qtests, plus the base's qtests that cover
#          what the fork replaces or plugs into (rtas-test, qos-test on virt
#          and pseries, the aarch64 IORT/VIOT tables of bios-tables-test)
#   baremetal: the bare-metal programs of tests/guest/baremetal, which run
#          CPUs through a TI PAT's window under multi-threaded TCG
#   guest: real Linux guests (tests/guest/run check)
#
# Each test program speaks TAP; every "ok"/"not ok" line counts once.  A
# program that dies or times out without failing a test case counts as one
# failure, so a crash can never look green.
#
# Usage: check.sh all|qtest|baremetal|guest
#
# QEMU_BUILD names the build to test (default build/; make check-asan
# tests build-asan/), CHECK_GUEST_GROUPS the guest groups to run (default
# all), CHECK_QTESTS the qtest programs to run (default all),
# CHECK_TIMEOUT_SCALE multiplies every program's time limit.
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${QEMU_BUILD:-$repo/build}
logs=$build/check-logs
mkdir -p "$logs"
what=${1:-all}
passed=0 failed=0 skipped=0
failures=()

# tap NAME TIMEOUT CMD...: run one TAP-speaking program from build/.
tap()
{
    local name=$1 limit=$(($2 * ${CHECK_TIMEOUT_SCALE:-1})); shift 2
    local log rc p f s
    log=$logs/$(echo "${name%% *}" | tr / _).log
    echo "== $name"
    (cd "$build" && timeout -k 10 "$limit" "$@") > "$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log")
    s=$(grep -c '^ok .*# SKIP' "$log")
    f=$(grep -c '^not ok ' "$log")
    p=$((p - s))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "   exited with status $rc$([ "$rc" -eq 124 ] && echo ' (timed out)')"
    fi
    grep '^not ok ' "$log" | sed 's/^/   /'
    [ "$f" -gt 0 ] && { failures+=("$name"); tail -n 30 "$log" | sed 's/^/   | /'; }
    echo "   $p passed, $f failed${s:+, $s skipped} (log: ${log#"$repo"/})"
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

qtest()
{
    local arch=$1 name=$2 limit=$3; shift 3
    [ -x "$build/qemu-system-$arch" ] || return 0
    [ -z "${CHECK_QTESTS:-}" ] || [[ " $CHECK_QTESTS " == *" $name "* ]] ||
        return 0
    tap "qtest-$arch/$name${1:+ $*}" "$limit" env \
        ${QTEST_QEMU_BINARY_REF:+QTEST_QEMU_BINARY_REF="$QTEST_QEMU_BINARY_REF"} \
        QTEST_QEMU_BINARY="./qemu-system-$arch" QTEST_QEMU_IMG=./qemu-img \
        QTEST_QEMU_STORAGE_DAEMON_BINARY=./storage-daemon/qemu-storage-daemon \
        G_TEST_DBUS_DAEMON="$repo/.qemu-src/tests/dbus-vmstate-daemon.sh" \
        PYTHON="$build/pyvenv/bin/python3" MALLOC_PERTURB_=$((RANDOM % 255 + 1)) \
        "tests/qtest/$name" --tap -k "$@"
}

run_qtests()
{
    local t progs=(viommu-testdev-test smmuv3-test ti-pat-test spapr-tce-test
                   viommu-bench rtas-test vfio-user-viommu-test qos-test
                   bios-tables-test)
    [ -n "${CHECK_QTESTS:-}" ] && read -ra progs <<< "$CHECK_QTESTS"
    # The out-of-process test device, which vfio-user-viommu-test starts
    ninja -C "$build" "${progs[@]/#/tests/qtest/}" qemu-img \
        tests/qtest/viommu/viommu-testdev-vfio-user \
        storage-daemon/qemu-storage-daemon tests/unit/test-viommu-iotlb \
        >/dev/null || { failed=$((failed + 1)); return; }
    tap "unit/test-viommu-iotlb" 120 tests/unit/test-viommu-iotlb --tap -k
    for arch in aarch64 ppc64; do
        qtest "$arch" viommu-testdev-test 300
    done
    qtest aarch64 smmuv3-test 300
    qtest aarch64 ti-pat-test 300
    qtest ppc64 spapr-tce-test 600
    # Device assignment: vfio-user-pci and the out-of-process test device
    for arch in aarch64 ppc64; do
        qtest "$arch" vfio-user-viommu-test 300
    done
    # Without -m perf: every workload once, its DMA checked, nothing timed
    qtest aarch64 viommu-bench 300
    qtest ppc64 viommu-bench 300
    qtest ppc64 rtas-test 300
    # qos-test's graph on these two binaries is the virt and pseries paths
    # (and a single xlnx-zcu102 case); its -p cannot select a subtree.
    qtest aarch64 qos-test 600
    qtest ppc64 qos-test 600
    qtest aarch64 bios-tables-test 900 -p /aarch64/acpi/virt/smmuv3-legacy \
        -p /aarch64/acpi/virt/smmuv3-dev -p /aarch64/acpi/virt/viot
    run_upstream_migration
}

# Migration to and from upstream's models: the reference emulator of
# scripts/reference.sh (build-ref/) saves what ours loads, and back
run_upstream_migration()
{
    local t0 ref arch
    [ -z "${CHECK_QTESTS:-}" ] ||
        [[ " $CHECK_QTESTS " == *" upstream-migration-test "* ]] || return 0
    t0=$(date +%s)
    echo "== reference emulator (upstream's vIOMMU models)"
    if ! ref=$(nice "$repo/scripts/reference.sh" 2>"$logs/reference.log"); then
        echo "   failed to build (log: ${logs#"$repo"/}/reference.log)"
        failed=$((failed + 1)) failures+=(reference)
        return
    fi
    echo "   built in $(( $(date +%s) - t0 )) s"
    ninja -C "$build" tests/qtest/upstream-migration-test >/dev/null ||
        { failed=$((failed + 1)); return; }
    for arch in aarch64 ppc64; do
        QTEST_QEMU_BINARY_REF=${ref%/*}/qemu-system-$arch \
            qtest "$arch" upstream-migration-test 600
    done
}

run_baremetal()
{
    # They are built with the cross compiler the guest suite uses
    if ! "$repo/scripts/install-deps.sh" guest; then
        echo "== baremetal: no aarch64 cross compiler"
        failed=$((failed + 1)) failures+=(baremetal)
        return
    fi
    tap "baremetal" 600 env QEMU_BUILD="$build" \
        "$repo/tests/guest/baremetal/run"
}

run_guests()
{
    local log=$logs/guest.log line
    local ref
    echo "== guest"
    # The *-upstream-migration groups need upstream's models too
    if [[ -z ${CHECK_GUEST_GROUPS:-} || ${CHECK_GUEST_GROUPS} == *upstream* ]]; then
        if ref=$(nice "$repo/scripts/reference.sh" 2>"$logs/reference.log"); then
            export QEMU_REF_BUILD=${ref%/*}
        else
            echo "   the reference emulator failed to build: its groups are skipped"
            failed=$((failed + 1)) failures+=(reference)
        fi
    fi
    QEMU_BUILD=$build "$repo/tests/guest/run" check ${CHECK_GUEST_GROUPS:-} 2>&1 |
        tee "$log"
    local rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        passed=$((passed + $(echo "$line" | awk '{print $1}')))
        failed=$((failed + $(echo "$line" | awk '{print $3}')))
    fi
    if [ "$rc" -ne 0 ] && [ -z "$line" -o "$(echo "$line" | awk '{print $3}')" = 0 ]; then
        failed=$((failed + 1))
    fi
    [ "$rc" -ne 0 ] && failures+=(guest)
}

# What the results were obtained with: the base and the firmware packages
# (the guest suite logs its kernels itself).
echo "== QEMU $(cat "$build/qemu-base.path" 2>/dev/null | xargs -r basename) with the fork's tree"
if [ -f "$build/firmware-versions" ]; then
    sed 's/^/   firmware /' "$build/firmware-versions"
fi

start=$(date +%s)
case $what in
all) run_qtests; run_baremetal; run_guests ;;
qtest) run_qtests ;;
baremetal) run_baremetal ;;
guest) run_guests ;;
*) echo "usage: check.sh all|qtest|baremetal|guest" >&2; exit 2 ;;
esac

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "tests took $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
