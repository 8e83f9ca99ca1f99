#!/usr/bin/env bash
# Bring build/ up to date: dependencies, base, overlay, QEMU configure,
# ninja, firmware.  Every step is a no-op when already done, so this is
# what a plain `make` runs each time.
#
# Environment (from config.mk through the Makefile): TARGETS, BASE_DSC,
# BASE_SRC, FORK_CACHE, INSTALL_DEPS, QEMU_CONFIGURE_ARGS.
#
# Other builds of the same overlaid tree (make fuzz, make check-asan) set
# BUILD_DIR (default build), BUILD_DEPS (more dependency sets of
# install-deps.sh), BUILD_CC and BUILD_CXX (the compilers), BUILD_ARGS
# (more options for QEMU's configure) and BUILD_NINJA_TARGETS.
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export FORK_CACHE=${FORK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/viommu-qemu}
. "$repo/scripts/debian-apt.sh"
cd "$repo"

if [ "${INSTALL_DEPS:-yes}" = yes ]; then
    scripts/install-deps.sh build ${BUILD_DEPS:-}
fi

if [ -n "${BASE_SRC:-}" ]; then
    base=$(scripts/fetch-base.sh --src "$BASE_SRC")
elif [ -n "${BASE_DSC:-}" ]; then
    base=$(scripts/fetch-base.sh --dsc "$BASE_DSC")
else
    base=$(scripts/fetch-base.sh)
fi

src=$repo/.qemu-src
scripts/overlay.sh "$base" "$src"

# Debian's python3 carries the meson we installed; a python3 of some other
# installation on PATH would not see it.
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
# QEMU turns -Werror on only in git checkouts; the overlaid tree is not
# one, and our code should meet the same bar.  QEMU names its compilers
# itself, so meson never finds ccache unless it is part of the name.
args=(--target-list="${TARGETS:-aarch64-softmmu,ppc64-softmmu}"
      --disable-docs --disable-install-blobs --disable-download --enable-werror
      --python="$python")
cc=${BUILD_CC:-cc} cxx=${BUILD_CXX:-c++}
if command -v ccache >/dev/null; then
    args+=(--cc="ccache $cc" --cxx="ccache $cxx")
    # Let every clone share one cache: CI builds a fresh clone each time,
    # at a path of its own.
    export CCACHE_BASEDIR=$repo CCACHE_NOHASHDIR=true
elif [ -n "${BUILD_CC:-}" ]; then
    args+=(--cc="$cc" --cxx="$cxx")
fi
args+=(${QEMU_CONFIGURE_ARGS:-} ${BUILD_ARGS:-})
out=${BUILD_DIR:-build}
mkdir -p "$out"
if [ ! -f "$out/build.ninja" ] || [ "$(cat "$out/.fork-configure" 2>/dev/null)" != "${args[*]}" ]; then
    note "running QEMU's configure in $out: ${args[*]}"
    (cd "$out" && "$src/configure" "${args[@]}") || die "QEMU's configure failed"
    echo "${args[*]}" > "$out/.fork-configure"
fi
echo "$base" > "$out/qemu-base.path"

ninja -C "$out" ${NINJA_JOBS:+-j "$NINJA_JOBS"} ${BUILD_NINJA_TARGETS:-}
scripts/firmware.sh "$out"
