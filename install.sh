#!/bin/sh
# Installs release binaries of fink-tools (ktbx, ciux, finkctl), verified against their sha256.
#
#   install.sh ciux                      the latest ciux
#   install.sh ciux 0.2.0                a given version (v0.2.0 works too)
#   install.sh ciux ktbx@0.3.1 finkctl   several tools at once
#   install.sh --dir /usr/local/bin ciux
#   install.sh --resolve ciux ktbx       prints "ciux@0.2.0 ktbx@0.3.1", installs nothing
#
# Environment:
#   FINK_TOOLS_BASE_URL     where releases are downloaded from (mirrors, air-gapped sites); default
#                           https://github.com/astrolabsoftware/fink-tools/releases. Layout below it:
#                             download/<tool>-v<version>/<tool>-<version>-<target>.tar.gz (+ .sha256)
#                             latest/download/latest.txt   ("<tool> <version>" lines)
#   FINK_TOOLS_INSTALL_DIR  install directory when --dir is not given; default ~/.local/bin
#   FINK_TOOLS_OS, FINK_TOOLS_ARCH
#                           the platform as `uname -s` and `uname -m` print it (default: this machine)
#   FINK_TOOLS_DOWNLOADER   wget or curl (default: wget when installed, it starts faster, else curl)
#
# Needs wget or curl, sha256sum or shasum, and tar. Fails closed: nothing is installed unless the
# archive matches its published sha256. Prints "<tool> <version> installed in <dir>" per tool.
set -eu

base_url=${FINK_TOOLS_BASE_URL:-https://github.com/astrolabsoftware/fink-tools/releases}
base_url=${base_url%/}
dir=${FINK_TOOLS_INSTALL_DIR:-}
tools=
resolve=false
tmp=

die() {
  echo "install.sh: error: $*" >&2
  exit 1
}

usage() {
  sed -n '/^set -eu/q; 2,$s/^# \{0,1\}//p' "$0"
}

cleanup() {
  if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

is_tool() {
  case $1 in ktbx | ciux | finkctl) return 0 ;; *) return 1 ;; esac
}

# A version: latest, or X.Y.Z with an optional v prefix and -pre-release/+build suffix.
check_version() {
  case $1 in
    latest) return 0 ;;
    *[!0-9A-Za-z.+-]* | '' | -* | .*) die "invalid version \"$1\": expected latest or X.Y.Z" ;;
  esac
  case ${1#v} in
    [0-9]*.[0-9]*.[0-9]*) ;;
    *) die "invalid version \"$1\": expected latest or X.Y.Z" ;;
  esac
}

while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --dir) [ $# -ge 2 ] || die "--dir needs a directory"; dir=$2; shift ;;
    --dir=*) dir=${1#--dir=} ;;
    --resolve) resolve=true ;;
    -*) die "unknown option $1 (see --help)" ;;
    *@*)
      is_tool "${1%%@*}" || die "unknown tool \"${1%%@*}\": expected ktbx, ciux or finkctl"
      check_version "${1#*@}"
      tools="$tools $1" ;;
    *)
      if is_tool "$1"; then
        tools="$tools $1@latest"
      elif [ -n "$tools" ] && [ "${tools%@latest}" != "$tools" ]; then
        check_version "$1"
        tools="${tools%@latest}@$1"
      else
        die "unknown tool \"$1\": expected ktbx, ciux or finkctl (then an optional version)"
      fi ;;
  esac
  shift
done
[ -n "$tools" ] || { usage >&2; exit 1; }
[ -n "$dir" ] || dir=${HOME:?HOME is not set: use --dir}/.local/bin

# The platform, as the Rust target triple of the release archives.
if [ -n "${FINK_TOOLS_OS:-}" ] && [ -n "${FINK_TOOLS_ARCH:-}" ]; then
  os=$FINK_TOOLS_OS arch=$FINK_TOOLS_ARCH
else
  # shellcheck disable=SC2046 # two words: the kernel name and the machine
  set -- $(uname -sm)
  os=${FINK_TOOLS_OS:-$1} arch=${FINK_TOOLS_ARCH:-$2}
fi
case $arch in
  x86_64 | amd64) cpu=x86_64 ;;
  aarch64 | arm64) cpu=aarch64 ;;
  *) cpu= ;;
esac
case $os in
  Linux) target=$cpu-unknown-linux-gnu ;;
  Darwin) target=$cpu-apple-darwin ;;
  *) cpu= ;;
esac
[ -n "$cpu" ] || die "no release for $os $arch: archives exist for Linux and macOS on x86_64 and aarch64 (arm64); build from source instead: cargo install --locked --git https://github.com/astrolabsoftware/fink-tools <tool>"

case ${FINK_TOOLS_DOWNLOADER:-} in
  wget | curl) downloader=$FINK_TOOLS_DOWNLOADER ;;
  '')
    if command -v wget >/dev/null 2>&1; then
      downloader=wget
    elif command -v curl >/dev/null 2>&1; then
      downloader=curl
    else
      die "neither wget nor curl is installed"
    fi ;;
  *) die "FINK_TOOLS_DOWNLOADER=$FINK_TOOLS_DOWNLOADER: expected wget or curl" ;;
esac
if command -v sha256sum >/dev/null 2>&1; then
  hasher=sha256sum
elif command -v shasum >/dev/null 2>&1; then
  hasher="shasum -a 256"
else
  die "neither sha256sum nor shasum is installed: cannot verify downloads"
fi
case $base_url in
  https://*) curl_proto="--proto-redir =https" ;;
  *) curl_proto= ;;
esac

# fetch URL FILE: downloads URL to FILE.
fetch() {
  if [ "$downloader" = curl ]; then
    # shellcheck disable=SC2086 # $curl_proto is one option and its value, or nothing
    curl -fsSL $curl_proto --retry 2 -o "$2" "$1"
  else
    wget -q -O "$2" "$1"
  fi
}

# fetch_with_sum URL DIR: downloads URL and URL.sha256 into DIR under their own names, in one process.
fetch_with_sum() {
  if [ "$downloader" = curl ]; then
    # shellcheck disable=SC2086 # $curl_proto is one option and its value, or nothing
    curl -fsSL $curl_proto --retry 2 -o "$2/${1##*/}" "$1" -o "$2/${1##*/}.sha256" "$1.sha256"
  else
    wget -q -P "$2" "$1" "$1.sha256"
  fi
}

if [ "$resolve" = true ]; then
  tmp=$(mktemp -d) || die "cannot create a temporary directory"
else
  mkdir -p "$dir" || die "cannot create $dir: choose a writable directory with --dir"
  # Working files live in the install directory, so that the binary is moved into place atomically;
  # a fresh directory, so that no leftover of an interrupted run is taken for a download.
  tmp=$(mktemp -d "$dir/.fink-tools-install.XXXXXX") ||
    die "cannot write in $dir: choose a writable directory with --dir"
fi
latest=
resolved=

for spec in $tools; do
  tool=${spec%%@*} version=${spec#*@}
  if [ "$version" = latest ]; then
    if [ -z "$latest" ]; then
      fetch "$base_url/latest/download/latest.txt" "$tmp/latest.txt" ||
        die "cannot resolve the latest versions from $base_url/latest/download/latest.txt: name a version"
      latest=$tmp/latest.txt
    fi
    version=
    while read -r name v; do
      if [ "$name" = "$tool" ]; then version=$v; fi
    done <"$latest"
    [ -n "$version" ] || die "$base_url/latest/download/latest.txt names no version of $tool: name a version"
    check_version "$version"
  fi
  version=${version#v}
  if [ "$resolve" = true ]; then
    resolved="$resolved${resolved:+ }$tool@$version"
    continue
  fi
  stem=$tool-$version-$target
  url=$base_url/download/$tool-v$version/$stem.tar.gz
  archive=$tmp/$stem.tar.gz
  fetch_with_sum "$url" "$tmp" ||
    die "cannot download $tool $version for $target from $url (does that release exist?)"

  read -r expected _ <"$archive.sha256" || expected=
  case $expected in
    *[!0-9a-fA-F]* | '') die "$url.sha256 holds no sha256 digest" ;;
  esac
  [ ${#expected} -eq 64 ] || die "$url.sha256 holds no sha256 digest"
  # The digest is computed while tar reads the same archive, on another core; nothing extracted is
  # used unless it matches. (The digest comes from the same server as the archive: it catches a
  # damaged download, not a hostile mirror, so tar reading the archive first exposes nothing more.)
  # shellcheck disable=SC2086 # $hasher is a command and its options
  $hasher "$archive" >"$archive.sum" &
  hashing=$!
  extracted=true
  tar -xzf "$archive" -C "$tmp" "$stem/$tool" 2>"$tmp/tar.err" || extracted=false
  wait "$hashing" || die "cannot compute the sha256 of $archive"
  read -r actual _ <"$archive.sum" || actual=
  [ "$actual" = "$expected" ] ||
    die "checksum mismatch for $url: expected sha256 $expected, got $actual; nothing was installed"
  if [ "$extracted" = false ]; then
    read -r reason <"$tmp/tar.err" || reason=
    die "$url holds no $stem/$tool${reason:+ ($reason)}"
  fi
  # Checked before it replaces anything: a binary that does not run here is not installed.
  reported=$("$tmp/$stem/$tool" --version) ||
    die "the $tool of $url does not run on this machine; nothing was installed"
  case " $reported " in
    *" $version "*) ;;
    *) die "the $tool of $url reports \"$reported\", not version $version; nothing was installed" ;;
  esac
  mv -f "$tmp/$stem/$tool" "$dir/$tool"
  echo "$reported installed in $dir"
done

if [ "$resolve" = true ]; then
  echo "$resolved"
  exit 0
fi
case :${PATH:-}: in
  *:"$dir":*) ;;
  *) echo "install.sh: note: $dir is not on PATH" >&2 ;;
esac
