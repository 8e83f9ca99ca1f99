#!/usr/bin/env bash
# Install what building and testing the fork needs, from Debian's archive.
#
# meson >= 1.5 and python3-pycotap come from <codename>-backports.  The
# backports suite is added through a private sources file for this one
# apt-get call only: the system's apt configuration is left as it is.
#
# Usage: install-deps.sh [build|guest|bench|fuzz]...
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/debian-apt.sh"

build_pkgs=(build-essential pkg-config ninja-build flex bison ccache
            libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev libslirp-dev
            python3-venv dpkg-dev xz-utils bzip2)
bpo_pkgs=(meson python3-pycotap)
guest_pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross
            gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross
            cpio kmod zstd xz-utils)
bench_pkgs=(gnuplot-nox)
# make fuzz: clang with libFuzzer and the sanitizers' runtimes
# (compiler-rt), and llvm-symbolizer for their stack traces
fuzz_pkgs=(clang libclang-rt-dev llvm)

want=()
for what in "${@:-build}"; do
    case $what in
    build) want+=("${build_pkgs[@]}" "${bpo_pkgs[@]}") ;;
    guest) want+=("${guest_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    fuzz) want+=("${fuzz_pkgs[@]}") ;;
    *) die "unknown dependency set '$what'" ;;
    esac
done

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
        missing+=("$p")
done
if [[ " ${want[*]} " == *" meson "* && " ${missing[*]} " != *" meson "* ]] &&
   dpkg --compare-versions "$(dpkg-query -W -f='${Version}' meson 2>/dev/null)" lt 1.5; then
    missing+=(meson)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    die "missing packages: ${missing[*]}; run as root, or install them yourself"
fi

. /etc/os-release
codename=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
state=$FORK_CACHE/apt/host
mkdir -p "$state/lists/partial"
# The private list replaces /etc/apt/sources.list for this call, so it
# carries that file's lines too; sources.list.d/ is still read as usual.
{
    [ -f /etc/apt/sources.list ] && cat /etc/apt/sources.list
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
         "$(debian_archive_uri) $codename-backports main"
} > "$state/sources.list"
opts=(-o "Dir::State::Lists=$state/lists"
      -o "Dir::Etc::SourceList=$state/sources.list"
      -o "Acquire::Languages=none")

note "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -q "${opts[@]}" update >&2
bpo=()
other=()
for p in "${missing[@]}"; do
    if [[ " ${bpo_pkgs[*]} " == *" $p "* ]]; then bpo+=("$p/$codename-backports"); else other+=("$p"); fi
done
apt-get -q -y --no-install-recommends "${opts[@]}" install "${other[@]}" "${bpo[@]}" >&2
