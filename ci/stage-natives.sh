#!/usr/bin/env bash
# Puts the built native libraries into the bindings jar's resources: OUTDIR/io/panlora/natives/<os>-<arch>/ gets
# libpanlora.so, libpanlora_cuda.so when it was built, and natives.sha256 (sha256sum's format: "<hex>  <file>", one
# line a file, the core library first), which PanloraLibrary reads to extract, verify and load them.
# <os>-<arch> is named as os-maven-plugin names platforms (linux-x86_64, linux-aarch_64, osx-aarch_64, …), the same
# normalisation as io.panlora.bindings.NativeBundle.platform().
# Usage: ci/stage-natives.sh OUTDIR [NATIVE_BUILD_DIR]   (run by Maven in the bindings module's process-resources phase)
set -euo pipefail
OUT="${1:?usage: ci/stage-natives.sh OUTDIR [NATIVE_BUILD_DIR]}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${2:-$ROOT/native/build}"

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=osx ;;
  FreeBSD) os=freebsd ;;
  MINGW*|MSYS*|CYGWIN*) os=windows ;;
  *) os=$(uname -s | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9') ;;
esac
case "$(uname -m)" in
  x86_64|amd64|x64|em64t) arch=x86_64 ;;
  i?86|x86|ia32) arch=x86_32 ;;
  aarch64|arm64) arch=aarch_64 ;;
  armv*|arm) arch=arm_32 ;;
  ppc64le) arch=ppcle_64 ;;
  ppc64) arch=ppc_64 ;;
  s390x) arch=s390_64 ;;
  riscv64) arch=riscv64 ;;
  loongarch64) arch=loongarch_64 ;;
  *) arch=$(uname -m | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9_') ;;
esac
case "$os" in osx) ext=dylib ;; windows) ext=dll ;; *) ext=so ;; esac
plat="$os-$arch"
dest="$OUT/io/panlora/natives/$plat"
core="libpanlora.$ext"
cuda="libpanlora_cuda.$ext"

rm -rf "$dest" # nothing stale from an earlier build
if [ ! -f "$BUILD/$core" ]; then
  echo "panlora: $BUILD/$core not built: the jar carries no native library for $plat (ci/build-native.sh builds it)" >&2
  exit 0
fi
mkdir -p "$dest"
files=("$core")
cp "$BUILD/$core" "$dest/"
if [ -f "$BUILD/$cuda" ]; then # the CUDA backend, when this build has one (the core loads it from its own folder)
  cp "$BUILD/$cuda" "$dest/"
  files+=("$cuda")
fi
if command -v sha256sum >/dev/null 2>&1; then sha=(sha256sum); else sha=(shasum -a 256); fi
(cd "$dest" && "${sha[@]}" "${files[@]}" > natives.sha256)
[ -n "${PANLORA_QUIET:-}" ] || echo "panlora: staged ${files[*]} for $plat into $dest" >&2
