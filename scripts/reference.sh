#!/usr/bin/env bash
# Build the reference emulator that make bench measures ours against:
# the pinned base with upstream's vIOMMU models, plus only the fork's
# test devices (viommu-testdev, x-viommu-identity) and what they need.
#
# It lives in build-ref/, laid out like the top of the repository
# (build-ref/.qemu-src, build-ref/build) and configured exactly as build/
# is, so that every compiler command line matches build/'s relative to
# its own root: ccache then serves all but the few objects that differ.
#
# Prints the path of its qemu-system-aarch64 (qemu-system-ppc64 is beside it).
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/debian-apt.sh"
cd "$repo"

base=$(cat build/qemu-base.path 2>/dev/null) || die "run make first"
root=$repo/build-ref
mkdir -p "$root"
src=$root/.qemu-src
out=$root/build

# Upstream's SMMUv3, TCE tables, DDW calls and PHB stay: none of our
# models' files, nor the patches that swap the SMMUv3 in and change the
# PHB's windows and EEH.
OVERLAY_SKIP="hw/arm/smmuv3*.c hw/arm/smmuv3*.h include/hw/arm/smmuv3.h \
hw/ppc/spapr_iommu.c hw/ppc/spapr_rtas_ddw.c hw/ppc/spapr_pci_eeh.c \
include/hw/ppc/spapr_pci_eeh.h hw/ppc/spapr_tce_store.c \
include/hw/ppc/spapr_tce_store.h include/hw/ppc/spapr_tce.h" \
PATCH_SKIP="*-build-the-fork-s-SMMUv3-in-place-of-upstream-* \
*-spapr_pci-let-a-PHB-have-up-to-8-DMA-windows-* \
*-spapr_pci-answer-the-EEH-RTAS-calls-for-emula* \
*-spapr_pci-undo-only-the-DMA-windows-a-failed-* \
*-build-the-fork-s-TCE-store-beside-its-TCE-tab* \
*-spapr_rtas-tokens-for-LoPAR-s-error-injection*" \
    scripts/overlay.sh "$base" "$src" >&2

args=$(cat build/.fork-configure) || die "run make first"
if command -v ccache >/dev/null; then
    export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true
fi
mkdir -p "$out"
if [ ! -f "$out/build.ninja" ] || [ "$(cat "$out/.fork-configure" 2>/dev/null)" != "$args" ]; then
    note "configuring the reference emulator (upstream's vIOMMU models)"
    # QEMU's config.status replays build/'s configure, quoted; point it at
    # the reference tree
    sed "s|'$repo/.qemu-src/configure'|'$src/configure'|" \
        build/config.status > "$out/config.status.ref"
    grep -q "'$src/configure'" "$out/config.status.ref" ||
        die "cannot find the configure line in build/config.status"
    (cd "$out" && sh config.status.ref >&2) || die "configure failed"
    echo "$args" > "$out/.fork-configure"
fi
ninja -C "$out" ${NINJA_JOBS:+-j "$NINJA_JOBS"} qemu-system-aarch64 \
    qemu-system-ppc64 >&2
# -M pseries needs SLOF where the emulator looks for it
scripts/firmware.sh "$out" >&2
echo "$out/qemu-system-aarch64"
