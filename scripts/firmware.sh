#!/usr/bin/env bash
# Put the run-time firmware the emulators need where a build tree finds it.
#
# The base is packaged without binary blobs (+ds), so SLOF and VOF for
# -M pseries, the VGA BIOS of its default display and the option ROMs of
# PCI NICs come from Debian's own binary packages.  SLOF must match the
# QEMU it runs with closely enough; trixie's qemu-system-data does for
# 10.2.
#
# The base's aarch64 ACPI qtests boot edk2 from build/pc-bios, where an
# upstream tree would unpack its own edk2 images; Debian's AAVMF serves.
#
# Usage: firmware.sh BUILD_DIR
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/debian-apt.sh"
build=$1
dest=$build/qemu-bundle/usr/local/share/qemu
blobs=(slof.bin vof.bin vgabios-stdvga.bin vgabios-virtio.bin vgabios-ramfb.bin)

fw=$FORK_CACHE/firmware
if [ ! -f "$fw/.done" ]; then
    note "fetching firmware packages"
    apt_state firmware "$(dpkg --print-architecture)" \
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] @ARCHIVE@ trixie main"
    apt_update
    rm -rf "$fw"
    apt_download "$fw/debs" qemu-system-data seabios ipxe-qemu qemu-efi-aarch64
    for d in "$fw"/debs/*.deb; do
        dpkg-deb -x "$d" "$fw/root"
    done
    touch "$fw/.done"
fi

for rom in "$fw"/root/usr/share/qemu/{pxe,efi}-*.rom; do
    blobs+=("$(basename "$rom")")
done
mkdir -p "$dest"
for b in "${blobs[@]}"; do
    [ -e "$dest/$b" ] && continue
    f=$(find "$fw/root" -name "$b" \( -type f -o -type l \) | head -n 1)
    [ -n "$f" ] || { note "warning: no $b in Debian's firmware packages"; continue; }
    cp -L "$f" "$dest/$b"
done

mkdir -p "$build/pc-bios"
for pair in AAVMF_CODE.fd:edk2-aarch64-code.fd AAVMF_VARS.fd:edk2-arm-vars.fd; do
    [ -e "$build/pc-bios/${pair#*:}" ] && continue
    f=$(find "$fw/root" -name "${pair%%:*}" \( -type f -o -type l \) | head -n 1)
    [ -n "$f" ] && cp -L "$f" "$build/pc-bios/${pair#*:}"
done
