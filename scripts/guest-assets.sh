#!/usr/bin/env bash
# Fetch what the real-Linux guest tests boot, and build their initramfs.
#
# From Debian's archive (through the private apt state of debian-apt.sh,
# nothing in the system's apt configuration changes), for each guest
# architecture: the distribution kernel (linux-image-6.12.*) and
# busybox-static, at the versions assets.conf pins (or what stands in for
# them, see there).  Both are cached under $FORK_CACHE/guest and fetched
# again only when their pins change.
#
# Then, per architecture, an initramfs holding busybox, the kernel modules
# the tests load (with their dependencies, decompressed, in load order), the
# guest-side C test programs of tests/guest/ cross-compiled statically, and
# tests/guest/init.  It is rebuilt only when one of its inputs changed.
#
# Usage: guest-assets.sh [arm64|ppc64el]...      (default: both)
# Prints one line per architecture on stdout:
#   ARCH KERNEL INITRAMFS PROVENANCE
# where PROVENANCE is a file naming the packages taken (see asset_fetch).
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/debian-apt.sh"

load_assets
G=$FORK_CACHE/guest
src=$top/tests/guest
# viommu-testdev's register ABI, shared with the qtests
abi=$top/tests/qtest/libqos/viommu-testdev.h
abi_pat=$top/tests/qtest/libqos/ti-pat.h

# arch_settings ARCH: the kernel image's name in /boot, the cross-compiler
# prefix and the modules the tests need.
arch_settings()
{
    local common="vfio vfio_pci nvme virtio_pci virtio_blk"
    case $1 in
    arm64)   kimg=vmlinuz cross=aarch64-linux-gnu
             mods="$common vfio_iommu_type1" ;;
    ppc64el) kimg=vmlinux cross=powerpc64le-linux-gnu
             mods="$common vfio_iommu_spapr_tce" ;;
    *)       die "unknown guest architecture '$1'" ;;
    esac
}

if [ $# -gt 0 ]; then archs=("$@"); else archs=(arm64 ppc64el); fi
for a in "${archs[@]}"; do
    arch_settings "$a"
done

# --- fetch: kernel + busybox-static per architecture -----------------------

# fetch ARCH: leaves $G/$ARCH/root with the unpacked packages,
# $G/$ARCH/kver with the kernel version and $G/$ARCH/provenance with the
# packages taken.  Fetched again only when their pins change.
fetch()
{
    local arch=$1 d=$G/$1 kvar deb kinfo binfo
    arch_settings "$arch"
    kvar=GUEST_KERNEL_${arch^^}
    if [ -f "$d/fetched" ] && [ "$(cat "$d/pins")" = "${!kvar} $GUEST_BUSYBOX" ]; then
        return
    fi
    if [ -z "${APT_STATE:-}" ]; then
        apt_state "guest-$ASSET_SUITE" arm64,ppc64el \
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] @ARCHIVE@ $ASSET_SUITE main"
        apt_update
    fi
    note "fetching the $arch guest kernel and busybox-static"
    rm -rf "$d"
    mkdir -p "$d/root"
    kinfo=$(asset_fetch "$kvar" "$arch" "$d/debs/kernel")
    binfo=$(asset_fetch GUEST_BUSYBOX "$arch" "$d/debs/busybox")
    for deb in "$d"/debs/*/*.deb; do
        dpkg-deb -x "$deb" "$d/root"
    done
    ls "$d/root/usr/lib/modules" > "$d/kver"
    [ "$(wc -l < "$d/kver")" = 1 ] || die "expected one kernel in ${kinfo%% *}"
    # modules.dep is made at install time, not shipped: make it here.
    mkdir -p "$d/root/lib"
    ln -s ../usr/lib/modules "$d/root/lib/modules"
    depmod -b "$d/root" "$(cat "$d/kver")" || die "depmod failed for ${kinfo%% *}"
    printf '%s\n' "kernel $kinfo" "busybox $binfo" > "$d/provenance"
    echo "${!kvar} $GUEST_BUSYBOX" > "$d/pins"
    touch "$d/fetched"
}

# --- initramfs ---------------------------------------------------------------

# modules_in_order ARCH: the wanted modules and their dependencies, each
# after the modules it needs, as paths relative to the modules directory.
modules_in_order()
{
    local arch=$1 kver mdir
    arch_settings "$arch"
    kver=$(cat "$G/$arch/kver")
    mdir=$G/$arch/root/usr/lib/modules/$kver
    awk -v want="$mods" '
        FILENAME ~ /modules\.builtin$/ {
            n = $1; sub(/.*\//, "", n); sub(/\.ko$/, "", n); gsub("-", "_", n)
            builtin[n] = 1; next
        }
        {
            m = $1; sub(/:$/, "", m)
            n = m; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); gsub("-", "_", n)
            path[n] = m; ndeps[m] = NF - 1
            for (i = 2; i <= NF; i++) dep[m, i - 1] = $i
        }
        function visit(m,   i) {
            if (m in seen) return
            seen[m] = 1
            for (i = 1; i <= ndeps[m]; i++) visit(dep[m, i])
            print m
        }
        END {
            nw = split(want, w, " ")
            for (i = 1; i <= nw; i++) {
                if (w[i] in path) visit(path[w[i]])
                else if (!(w[i] in builtin)) { print "missing module " w[i] > "/dev/stderr"; exit 1 }
            }
        }' "$mdir/modules.builtin" "$mdir/modules.dep"
}

build_initramfs()
{
    local arch=$1 d=$G/$1 kver mdir cc stamp st m name f
    arch_settings "$arch"
    kver=$(cat "$d/kver")
    mdir=$d/root/usr/lib/modules/$kver
    cc=$cross-gcc
    command -v "$cc" > /dev/null || die "$cc not found (scripts/install-deps.sh guest installs it)"

    # Everything the image depends on, hashed.
    stamp=$( { echo "$kver"; ls "$d"/debs/*; modules_in_order "$arch";
               cat "$0" "$src/init" "$src"/*.c "$abi" "$abi_pat"; } | sha256sum | cut -c1-16)
    if [ -f "$d/initramfs.cpio.gz" ] && [ "$(cat "$d/initramfs.stamp" 2>/dev/null)" = "$stamp" ]; then
        return
    fi
    note "building the $arch initramfs"
    st=$d/stage
    rm -rf "$st"
    mkdir -p "$st"/{bin,dev,proc,sys,tmp,lib/modules,etc}
    cp "$d/root/usr/bin/busybox" "$st/bin/busybox"
    install -m 755 "$src/init" "$st/init"

    for f in "$src"/*.c; do
        name=$(basename "$f" .c)
        "$cc" -static -O2 -Wall -Wextra -I "$(dirname "$abi")" -o "$st/bin/$name" "$f" ||
            die "cross-compiling $f for $arch failed"
    done

    modules_in_order "$arch" > "$d/modules.order.tmp"
    : > "$st/lib/modules/load-order"
    while read -r m; do
        name=$(basename "$m"); name=${name%%.ko*}
        case $m in
        *.ko.xz)  xz -dc "$mdir/$m" > "$st/lib/modules/$name.ko" ;;
        *.ko.zst) zstd -qdc "$mdir/$m" > "$st/lib/modules/$name.ko" ;;
        *.ko.gz)  gzip -dc "$mdir/$m" > "$st/lib/modules/$name.ko" ;;
        *)        cp "$mdir/$m" "$st/lib/modules/$name.ko" ;;
        esac
        echo "$name" >> "$st/lib/modules/load-order"
    done < "$d/modules.order.tmp"
    rm -f "$d/modules.order.tmp"
    echo "$kver" > "$st/etc/kernel-release"

    (cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
        gzip -6 > "$d/initramfs.cpio.gz.tmp"
    mv "$d/initramfs.cpio.gz.tmp" "$d/initramfs.cpio.gz"
    rm -rf "$st"
    echo "$stamp" > "$d/initramfs.stamp"
}

for a in "${archs[@]}"; do
    fetch "$a"
    build_initramfs "$a"
    arch_settings "$a"
    echo "$a $G/$a/root/boot/$kimg-$(cat "$G/$a/kver") $G/$a/initramfs.cpio.gz $G/$a/provenance"
done
