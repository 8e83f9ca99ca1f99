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
# The packages and their versions are pinned in assets.conf; what was
# taken is recorded in BUILD_DIR/firmware-versions.
#
# Usage: firmware.sh BUILD_DIR
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/debian-apt.sh"
build=$1
dest=$build/qemu-bundle/usr/local/share/qemu
blobs=(slof.bin vof.bin vgabios-stdvga.bin vgabios-virtio.bin vgabios-ramfb.bin
       vgabios-bochs-display.bin)

load_assets
names=(FIRMWARE_QEMU_SYSTEM_DATA FIRMWARE_SEABIOS FIRMWARE_IPXE_QEMU
       FIRMWARE_QEMU_EFI_AARCH64)
pins=$(for n in "${names[@]}"; do echo "${!n}"; done)
fw=$FORK_CACHE/firmware
if [ ! -f "$fw/.done" ] || [ "$(cat "$fw/pins")" != "$pins" ]; then
    note "fetching firmware packages"
    arch=$(dpkg --print-architecture)
    apt_state firmware "$arch" \
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] @ARCHIVE@ $ASSET_SUITE main"
    apt_update
    rm -rf "$fw"
    mkdir -p "$fw/root"
    for n in "${names[@]}"; do
        asset_fetch "$n" "$arch" "$fw/debs/$n" >> "$fw/versions"
        dpkg-deb -x "$fw/debs/$n"/*.deb "$fw/root"
    done
    echo "$pins" > "$fw/pins"
    touch "$fw/.done"
fi

# A build takes its blobs anew when the firmware packages change.
renew=no
if [ "$(cat "$build/firmware-versions" 2>/dev/null)" != "$(cat "$fw/versions")" ]; then
    renew=yes
fi
for rom in "$fw"/root/usr/share/qemu/{pxe,efi}-*.rom; do
    blobs+=("$(basename "$rom")")
done
mkdir -p "$dest"
for b in "${blobs[@]}"; do
    [ -e "$dest/$b" ] && [ $renew = no ] && continue
    f=$(find "$fw/root" -name "$b" \( -type f -o -type l \) | head -n 1)
    [ -n "$f" ] || { note "warning: no $b in Debian's firmware packages"; continue; }
    cp -fL "$f" "$dest/$b"
done

mkdir -p "$build/pc-bios"
for pair in AAVMF_CODE.fd:edk2-aarch64-code.fd AAVMF_VARS.fd:edk2-arm-vars.fd; do
    [ -e "$build/pc-bios/${pair#*:}" ] && [ $renew = no ] && continue
    f=$(find "$fw/root" -name "${pair%%:*}" \( -type f -o -type l \) | head -n 1)
    [ -n "$f" ] && cp -fL "$f" "$build/pc-bios/${pair#*:}"
done
cp "$fw/versions" "$build/firmware-versions"
