# Private apt state for fetching from Debian's archive.
#
# Sourced by the other scripts.  Nothing here touches the system's apt
# configuration: lists, caches and sources live under $APT_STATE, and the
# archive URI is the one the system is already configured with.
#
# SPDX-License-Identifier: GPL-2.0-or-later

FORK_CACHE=${FORK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/viommu-qemu}
ASSETS_CONF=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/assets.conf

die() { echo "error: $*" >&2; exit 1; }
note() { echo ">> $*" >&2; }

# The Debian archive URI the system already uses (deb822 or one-line form).
# DEBIAN_ARCHIVE overrides it, e.g. for a local mirror.
debian_archive_uri()
{
    if [ -n "${DEBIAN_ARCHIVE:-}" ]; then
        echo "$DEBIAN_ARCHIVE"
        return
    fi
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '
            /^URIs:/   { u = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++)
                             if ($i !~ /-security$/ && u != "") { print u; exit } }
            /^$/       { u = "" }' "$f")
        [ -n "$uri" ] && { echo "${uri%/}"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {
                     for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")
        [ -n "$uri" ] && { echo "${uri%/}"; return; }
    done
    die "no Debian archive found in /etc/apt; set DEBIAN_ARCHIVE=URI"
}

# apt_state NAME ARCHS LINE...: prepare a private state called NAME for the
# given architectures (comma list) with the given sources.list lines, where
# @ARCHIVE@ stands for the system's archive URI.  Sets APT_OPTS.
apt_state()
{
    local name=$1 archs=$2; shift 2
    APT_STATE=$FORK_CACHE/apt/$name
    mkdir -p "$APT_STATE/lists/partial" "$APT_STATE/cache/archives/partial"
    : > "$APT_STATE/status.empty"
    local uri line
    uri=$(debian_archive_uri)
    for line in "$@"; do
        echo "${line//@ARCHIVE@/$uri}"
    done > "$APT_STATE/sources.list.new"
    if ! cmp -s "$APT_STATE/sources.list.new" "$APT_STATE/sources.list"; then
        mv "$APT_STATE/sources.list.new" "$APT_STATE/sources.list"
        rm -f "$APT_STATE/updated"
    fi
    APT_OPTS=(-o "Dir::Etc::SourceList=$APT_STATE/sources.list"
              -o "Dir::Etc::SourceParts=/nonexistent"
              -o "Dir::State::Lists=$APT_STATE/lists"
              -o "Dir::Cache=$APT_STATE/cache"
              -o "APT::Architecture=${archs%%,*}"
              -o "APT::Architectures=$archs"
              -o "Acquire::Languages=none"
              -o "APT::Sandbox::User=root"
              -o "APT::Get::List-Cleanup=false")
}

# Refresh the private lists at most once a day.
apt_update()
{
    if [ -z "$(find "$APT_STATE/updated" -mmin -1440 2>/dev/null)" ]; then
        apt-get -q "${APT_OPTS[@]}" -o "Dir::State::status=$APT_STATE/status.empty" update >&2 ||
            die "apt-get update failed for the private state $APT_STATE"
        touch "$APT_STATE/updated"
    fi
}

# apt_download DIR PKG...: fetch binary packages (with their checksums
# verified by apt against the signed index) into DIR.
apt_download()
{
    local dir=$1; shift
    mkdir -p "$dir"
    (cd "$dir" && apt-get -q "${APT_OPTS[@]}" \
        -o "Dir::State::status=$APT_STATE/status.empty" download "$@" >&2)
}

apt_cache()
{
    apt-cache "${APT_OPTS[@]}" -o "Dir::State::status=$APT_STATE/status.empty" "$@"
}

# load_assets: set each NAME of assets.conf that the environment has not
# set already, and export it.
load_assets()
{
    local line name
    while IFS= read -r line; do
        case $line in ''|'#'*) continue ;; esac
        name=${line%%=*}
        [ -n "${!name:-}" ] || printf -v "$name" '%s' "${line#*=}"
        export "${name?}"
    done < "$ASSETS_CONF"
}

# asset_candidates PIN ARCH: PACKAGE=VERSION lines that may stand in for
# PIN, the pin itself first, then what the index lists, newest first: for
# a kernel the 6.12 kernels of the same flavour, otherwise the versions of
# the same package.
asset_candidates()
{
    local pin=$1 arch=$2 pkg=${1%%=*} p
    echo "$pin"
    case $pkg in
    linux-image-6.12.*+deb*-*)
        apt_cache pkgnames linux-image-6.12. |
            grep -E "^linux-image-6\.12\.[0-9]+\+deb[0-9]+-${pkg#*+deb*-}\$" ;;
    *)
        echo "$pkg" ;;
    esac | while read -r p; do
        apt_cache madison "$p:$arch" 2>/dev/null |
            awk -F'|' -v p="$p" '{ gsub(/ /, "", $2); print p "=" $2 }'
    done | grep -vxF "$pin" | sort -u | sort -t= -k2 -V -r
}

# asset_fetch NAME ARCH DIR: put the .deb that NAME of assets.conf names
# for ARCH into DIR (emptied first), falling back as asset_candidates says.
# Prints what was taken: "PACKAGE=VERSION pinned", "PACKAGE=VERSION
# fallback-for PIN" or "PACKAGE=VERSION local FILE".
asset_fetch()
{
    local name=$1 arch=$2 dir=$3 pin=${!1} c tried=() err
    rm -rf "$dir"
    mkdir -p "$dir"
    if [[ $pin == *.deb ]]; then
        [ -f "$pin" ] || die "$name=$pin: no such file"
        cp "$pin" "$dir"/
        echo "$(dpkg-deb -f "$pin" Package)=$(dpkg-deb -f "$pin" Version) local $pin"
        return
    fi
    [[ $pin == *=* ]] || die "$name=$pin: expected PACKAGE=VERSION or a .deb file"
    while read -r c; do
        if err=$(apt_download "$dir" "${c%%=*}:$arch=${c#*=}" 2>&1); then
            if [ "$c" = "$pin" ]; then
                echo "$c pinned"
            else
                note "$name: took $c in place of the pinned ${pin#*=}"
                echo "$c fallback-for $pin"
            fi
            return
        fi
        note "$name: cannot download $c: $(echo "$err" | grep -E '^(E|Err):' | tail -n 1)"
        tried+=("${c#*=}")
        rm -f "$dir"/*.deb
    done < <(asset_candidates "$pin" "$arch")
    die "cannot download ${pin%%=*} for $arch (pinned as $name in assets.conf);
       tried ${tried[*]} from $ASSET_SUITE of $(debian_archive_uri).
       Ways out: fetch the .deb elsewhere and run with $name=/path/to/the.deb,
       set $name=PACKAGE=VERSION to another version, or DEBIAN_ARCHIVE=URI
       to use another mirror."
}
