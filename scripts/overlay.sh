#!/usr/bin/env bash
# Lay the fork over the pristine base: SRC = BASE + our files + patches/.
#
# Our files are symlinked, so an edit here is seen by the next ninja run
# without copying anything.  The base is copied once; it is copied again
# only when the base or the patch queue changes, and then only the files
# the patches touch get a new mtime, so the rebuild stays incremental.
#
# Usage: overlay.sh BASE SRC
#
# OVERLAY_SKIP (shell patterns of our files) and PATCH_SKIP (of patch
# names), each a space-separated list, leave some out: scripts/reference.sh makes a tree with upstream's
# models and only the test devices of ours that way.
#
# SPDX-License-Identifier: GPL-2.0-or-later

set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/debian-apt.sh"
base=$(realpath "$1")
src=$2
overlay_dirs=(hw include tests/qtest tests/unit docs)

# matches "PATTERNS" NAME: NAME matches one of the space-separated
# shell patterns
matches()
{
    local pat pats
    read -ra pats <<< "$1"
    for pat in "${pats[@]}"; do
        # shellcheck disable=SC2053
        [[ $2 == $pat ]] && return 0
    done
    return 1
}

patches=()
if [ -f "$repo/patches/series" ]; then
    while read -r p _; do
        case $p in ''|'#'*) continue ;; esac
        matches "${PATCH_SKIP:-}" "$p" && continue
        patches+=("$repo/patches/$p")
    done < "$repo/patches/series"
fi
stamp=$( (echo "$base"; echo "${OVERLAY_SKIP:-}";
          cat "$repo/patches/series" "${patches[@]}" 2>/dev/null) | sha256sum | cut -d' ' -f1)

touched_by() {
    local p
    for p in "$@"; do
        sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$p"
    done
}

if [ ! -f "$src/.overlay-stamp" ] || [ "$(cat "$src/.overlay-stamp")" != "$stamp" ]; then
    note "laying out $src from the base and ${#patches[@]} patches"
    old_touched=()
    [ -f "$src/.overlay-touched" ] && mapfile -t old_touched < "$src/.overlay-touched"
    rm -rf "$src.new"
    cp -a "$base" "$src.new"
    rm -f "$src.new/.unpacked"
    for p in "${patches[@]}"; do
        # No fuzz: a patch that no longer applies exactly must be refreshed,
        # not slid into place
        patch -s -p1 --fuzz=0 -d "$src.new" --no-backup-if-mismatch < "$p" ||
            die "patches/$(basename "$p") does not apply to the base"
    done
    mapfile -t new_touched < <(touched_by "${patches[@]}")
    # A file a patch touched before but not now must be rebuilt too: it
    # went back to the base's (older) mtime.
    for f in "${old_touched[@]}" "${new_touched[@]}"; do
        [ -e "$src.new/$f" ] && touch "$src.new/$f"
    done
    printf '%s\n' "${new_touched[@]}" > "$src.new/.overlay-touched"
    rm -rf "$src"
    mv "$src.new" "$src"
    echo "$stamp" > "$src/.overlay-stamp"
fi

# Link every file of ours; drop links to files we no longer have.
cd "$repo"
if git rev-parse --git-dir >/dev/null 2>&1; then
    mapfile -t ours < <(git ls-files --cached --others --exclude-standard -- "${overlay_dirs[@]}")
else
    mapfile -t ours < <(find "${overlay_dirs[@]}" -type f 2>/dev/null)
fi
for f in "${ours[@]}"; do
    [ -f "$repo/$f" ] || continue
    matches "${OVERLAY_SKIP:-}" "$f" && continue
    if [ "$(readlink "$src/$f" 2>/dev/null)" != "$repo/$f" ]; then
        mkdir -p "$(dirname "$src/$f")"
        ln -sfn "$repo/$f" "$src/$f"
    fi
done
find "$src" -type l -lname "$repo/*" ! -exec test -e {} \; -print |
while read -r link; do
    rm -f "$link"
    rel=${link#"$src"/}
    # an upstream file we had replaced comes back, newer than any object
    if [ -e "$base/$rel" ]; then
        cp "$base/$rel" "$link"
    fi
done
exit 0
