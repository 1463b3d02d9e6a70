#!/usr/bin/env bash
# Builds llama.cpp from source into a per-machine cache and prints the cache directory on stdout.
#
# The source is the git bundle the npm package node-llama-cpp carries (llama/gitRelease.bundle), at the version pinned
# below and checked against the registry's integrity hash. Without npm's registry (curl to registry.npmjs.org
# failing) and with git access to GitHub, the same tag is cloned from the upstream repository instead.
# Nothing of llama.cpp is written into the work tree.
#
#   native/llama.cpp/build.sh            build (or reuse) and print the directory
#   native/llama.cpp/build.sh --print    print the directory only when a complete build is there (exit 1 otherwise)
#
# The directory holds lib/libllama.so, lib/libggml*.so, bin/llama-perplexity, include/ (llama.h, ggml*.h),
# vocab/ (the tree's models/ggml-vocab-*.gguf with their .inp/.out test strings, for tokenizer parity tests) and
# BUILD-INFO (tag, commit, backends). CUDA is built too when nvcc and cuBLAS (cublas_v2.h and libcublas) are found;
# PANLORA_LLAMA_CUDA=0 turns that off, =1 makes it required.
set -euo pipefail

PKG_VERSION=3.21.1
PKG_INTEGRITY='sha512-E3N0Ev2Va0wzydvXYFwM9Hvyo07PoWjt8T/9GMc43Cvt8YkV/NU/tYUgEMC1grTPv2o9PRjQi0G3Wb5P/awiMg=='
TAG=v0.4.0                  # llama/llama.cpp.info.json of that package
COMMIT=80fb11ac73e66d89eae2c6a91d8a77428fa733ed
UPSTREAM=https://github.com/ggml-org/llama.cpp

CACHE_ROOT="${PANLORA_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/panlora}"
DEST="$CACHE_ROOT/llama.cpp-$TAG"

log() { echo "llama.cpp build: $*" >&2; }
die() { echo "llama.cpp build: $*" >&2; exit 1; }

complete() { [ -f "$DEST/BUILD-INFO" ] && [ -f "$DEST/lib/libllama.so" ] && [ -f "$DEST/include/llama.h" ]; }

if [ "${1:-}" = "--print" ]; then
  complete && { echo "$DEST"; exit 0; }
  exit 1
fi
has_vocab() { [ -f "$DEST/vocab/ggml-vocab-llama-spm.gguf" ]; }
if complete && has_vocab; then
  log "using the build in $DEST"
  echo "$DEST"
  exit 0
fi

command -v git >/dev/null || die "git is needed (Debian: apt-get install git)"
mkdir -p "$CACHE_ROOT"
WORK="$(mktemp -d "$CACHE_ROOT/.llama.cpp-$TAG.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# 1. the source
SRC="$WORK/src"
TGZ="$WORK/node-llama-cpp-$PKG_VERSION.tgz"
URL="https://registry.npmjs.org/node-llama-cpp/-/node-llama-cpp-$PKG_VERSION.tgz"
if curl -sSfL --retry 3 -o "$TGZ" "$URL"; then
  got="sha512-$(openssl dgst -sha512 -binary "$TGZ" | base64 -w0)"
  [ "$got" = "$PKG_INTEGRITY" ] || die "$URL: integrity $got differs from the pinned $PKG_INTEGRITY"
  tar -xzf "$TGZ" -C "$WORK" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
  grep -q "\"tag\": *\"$TAG\"" "$WORK/package/llama/llama.cpp.info.json" \
    || die "node-llama-cpp $PKG_VERSION names $(cat "$WORK/package/llama/llama.cpp.info.json"), not $TAG"
  git clone -q "$WORK/package/llama/gitRelease.bundle" "$SRC" 2>/dev/null
  log "source: node-llama-cpp $PKG_VERSION (npm), tag $TAG"
else
  log "the npm registry is not reachable; cloning $TAG from $UPSTREAM"
  git clone -q --depth 1 --branch "$TAG" "$UPSTREAM" "$SRC" || die "cannot obtain llama.cpp $TAG (npm registry and $UPSTREAM both failed)"
fi
head=$(git -C "$SRC" rev-parse HEAD)
[ "$head" = "$COMMIT" ] || die "llama.cpp $TAG is at commit $head, expected $COMMIT"

copy_vocab() { # the tree's tokenizer test vocabularies and their test strings
  mkdir -p "$1"
  cp "$SRC"/models/ggml-vocab-*.gguf* "$1/"
}
if complete; then # an older build without vocab/: add it in one rename
  copy_vocab "$WORK/vocab"
  mv "$WORK/vocab" "$DEST/vocab"
  log "added the tokenizer test vocabularies to $DEST/vocab"
  echo "$DEST"
  exit 0
fi

command -v cmake >/dev/null || die "cmake is needed (Debian: apt-get install cmake)"
command -v g++ >/dev/null || die "a C++ compiler is needed (Debian: apt-get install g++)"

# 2. the build
cuda=OFF
want="${PANLORA_LLAMA_CUDA:-auto}"
if [ "$want" != 0 ] && command -v nvcc >/dev/null; then
  cudadir="$(dirname "$(dirname "$(command -v nvcc)")")"
  if [ -f "$cudadir/include/cublas_v2.h" ] && ls "$cudadir"/lib64/libcublas.so* >/dev/null 2>&1; then cuda=ON; fi
fi
[ "$want" = 1 ] && [ "$cuda" = OFF ] && die "PANLORA_LLAMA_CUDA=1 but no CUDA toolkit with cuBLAS was found"
JOBS="${PANLORA_LLAMA_JOBS:-$(nproc)}"
backends="CPU"; [ "$cuda" = ON ] && backends="CPU + CUDA"
log "configuring ($backends); building with $JOBS jobs — the first build takes several minutes"
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_CURL=OFF \
  -DGGML_NATIVE=ON -DGGML_OPENMP=OFF -DGGML_CUDA="$cuda" -DCMAKE_INSTALL_RPATH='$ORIGIN:$ORIGIN/../lib' \
  -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON >"$WORK/configure.log" 2>&1 || { tail -30 "$WORK/configure.log" >&2; die "cmake configure failed"; }
cmake --build "$WORK/build" -j "$JOBS" --target llama llama-perplexity >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log" >&2; die "build failed (log above)"; }

# 3. the result, moved into place in one rename
OUT="$WORK/out"
mkdir -p "$OUT/lib" "$OUT/bin" "$OUT/include"
find "$WORK/build" -name 'lib*.so*' \( -name 'libllama*' -o -name 'libggml*' \) -exec cp -P {} "$OUT/lib/" \;
cp "$WORK/build/bin/llama-perplexity" "$OUT/bin/"
cp "$SRC/include/llama.h" "$SRC"/ggml/include/*.h "$OUT/include/"
copy_vocab "$OUT/vocab"
cat >"$OUT/BUILD-INFO" <<EOF
tag=$TAG
commit=$COMMIT
source=node-llama-cpp $PKG_VERSION
cuda=$cuda
native=ON
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
rm -rf "$DEST"
mv "$OUT" "$DEST"
log "built into $DEST"
echo "$DEST"
