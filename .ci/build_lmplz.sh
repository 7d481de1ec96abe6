#!/usr/bin/env bash
# Build KenLM's `lmplz` and `build_binary` (the oracle for the project's own modified Kneser-Ney
# estimator, and an optional fast backend of `pipeline train-lm`) from the `kenlm` 0.3.0 source
# distribution on PyPI, with Debian's Boost -dev packages. No package ships these programs.
#
# The binaries are cached in $PIPELINE_LMPLZ_CACHE (default: ${XDG_CACHE_HOME:-~/.cache}/pipeline-lmplz)
# under bin/; a second run finds them there and does nothing. The last line printed is the bin folder.
#
#   .ci/build_lmplz.sh            # build (or find) and print the bin folder
#   PATH="$(.ci/build_lmplz.sh | tail -1):$PATH"
#
# Needs: apt-get (root or sudo) for cmake, g++, make and the Boost -dev packages; pip to fetch the sdist.
set -euo pipefail

KENLM_VERSION=0.3.0
CACHE="${PIPELINE_LMPLZ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-lmplz}"
BIN="$CACHE/bin"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$HERE/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3

works() {  # both programs exist and start
  [ -x "$BIN/lmplz" ] && [ -x "$BIN/build_binary" ] && { "$BIN/lmplz" --help 2>&1 || true; } | grep -q "Kneser-Ney"
}

if works; then
  echo "lmplz cached in $BIN" >&2
  echo "$BIN"
  exit 0
fi

# Boost components kenlm's CMakeLists asks for: program_options system thread unit_test_framework
# (thread pulls in the atomic, chrono and date-time headers).
PACKAGES=(cmake g++ make zlib1g-dev libbz2-dev liblzma-dev
          libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# --no-binary kenlm only: its build requirements (cmake, setuptools) may come as wheels.
"$PYTHON" -m pip download "kenlm==$KENLM_VERSION" --no-deps --no-binary kenlm -d "$WORK" -q >&2
tar xzf "$WORK/kenlm-$KENLM_VERSION.tar.gz" -C "$WORK"
mkdir -p "$WORK/build"
cmake -S "$WORK/kenlm-$KENLM_VERSION" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release >&2
cmake --build "$WORK/build" --target lmplz build_binary -j "$(nproc)" >&2
# copy beside, then rename: a concurrent reader never sees a half-written program
STAGING="$BIN/.tmp-$$"
mkdir -p "$STAGING"
cp "$WORK/build/bin/lmplz" "$WORK/build/bin/build_binary" "$STAGING/"
mv -f "$STAGING/lmplz" "$BIN/lmplz"
mv -f "$STAGING/build_binary" "$BIN/build_binary"
rmdir "$STAGING"
works || { echo "built lmplz does not start" >&2; exit 1; }
echo "built lmplz and build_binary in $BIN" >&2
echo "$BIN"
