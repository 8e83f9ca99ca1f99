#!/usr/bin/env bash
# Fetch and unpack the pinned upstream base: Debian's qemu source package.
#
# Prints the absolute path of the pristine tree (Debian's patches applied,
# nothing of ours).  The tree is cached and reused; a second run downloads
# nothing.
#
# Usage: fetch-base.sh [--dsc FILE | --src DIR]
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/debian-apt.sh"
. "$here/../base.conf"

dsc= src=
while [ $# -gt 0 ]; do
    case $1 in
    --dsc) dsc=$(realpath "$2"); shift 2 ;;
    --src) src=$(realpath "$2"); shift 2 ;;
    *) die "usage: fetch-base.sh [--dsc FILE | --src DIR]" ;;
    esac
done

if [ -n "$src" ]; then
    [ -f "$src/VERSION" ] && [ -d "$src/hw" ] || die "$src is not a QEMU source tree"
    grep -qx "$BASE_UPSTREAM_VERSION" "$src/VERSION" ||
        note "warning: $src is QEMU $(cat "$src/VERSION"), not the pinned $BASE_UPSTREAM_VERSION"
    echo "$src"
    exit 0
fi

tree=$FORK_CACHE/base/qemu-${BASE_DEBIAN_VERSION#*:}
if [ -f "$tree/.unpacked" ]; then
    echo "$tree"
    exit 0
fi

dl=$FORK_CACHE/base/download
mkdir -p "$dl"
pinned_dsc=$dl/$BASE_DSC_NAME
if [ -n "$dsc" ]; then
    cp -f "$dsc" "$dl"/
    for f in $(awk '/^Files:/{p=1; next} /^[^ ]/{p=0} p{print $3}' "$dsc"); do
        [ -f "$dl/$f" ] || cp "$(dirname "$dsc")/$f" "$dl/" ||
            die "$f, named by $dsc, is not beside it"
    done
elif [ ! -f "$pinned_dsc" ] || ! echo "$BASE_DSC_SHA256  $pinned_dsc" | sha256sum -c --quiet 2>/dev/null; then
    note "fetching Debian source package qemu $BASE_DEBIAN_VERSION"
    apt_state base-src "$(dpkg --print-architecture)" \
        "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] @ARCHIVE@ $BASE_SUITE main"
    # A mirror that stopped following the suite serves a Release past its
    # Valid-Until.  Its signature still holds, and what we take from it is
    # checked against the SHA256 pinned in base.conf, so a stale index
    # cannot hand us anything else.
    APT_OPTS+=(-o Acquire::Check-Valid-Until=false)
    apt_update
    (cd "$dl" && apt-get -q "${APT_OPTS[@]}" -o "Dir::State::status=$APT_STATE/status.empty" \
        source --download-only "qemu=$BASE_DEBIAN_VERSION" >&2) ||
        die "could not fetch qemu $BASE_DEBIAN_VERSION from '$BASE_SUITE' of $(debian_archive_uri).
       If the archive no longer carries it, download $BASE_DSC_NAME and the files it names
       elsewhere and run: ./configure --base-dsc=PATH/$BASE_DSC_NAME (or --base-src=DIR
       for an already unpacked tree)."
fi

echo "$BASE_DSC_SHA256  $pinned_dsc" | sha256sum -c --quiet ||
    die "$pinned_dsc does not match the pinned SHA256 in base.conf"

note "unpacking $BASE_DSC_NAME (dpkg-source applies Debian's patches)"
rm -rf "$tree" "$tree.tmp"
(cd "$dl" && dpkg-source --no-check -x "$BASE_DSC_NAME" "$tree.tmp" >&2)
# dpkg-source --no-check skips only the OpenPGP signature, which needs
# debian-keyring; the file checksums inside the pinned .dsc are still
# verified, and the .dsc itself is checked against our pin above.
# dpkg-source leaves a copy of the tarballs beside the tree it unpacks
rm -f "$(dirname "$tree")"/qemu_*.tar.*
touch "$tree.tmp/.unpacked"
mv "$tree.tmp" "$tree"
echo "$tree"
