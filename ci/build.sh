#!/usr/bin/env bash
# Builds everything: the native library (CPU; CUDA too when nvcc is found) and the Java modules.
# Usage: ci/build.sh [--skip-java]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
pl_check_tools
cd "$PANLORA_ROOT"

pl_log "building native library (cmake)"
cmake -S native -B native/build -DCMAKE_BUILD_TYPE=Release >native/build.log 2>&1 || { cat native/build.log >&2; pl_die "cmake configure failed (log above)"; }
cmake --build native/build -j "$(nproc)" >>native/build.log 2>&1 || { tail -50 native/build.log >&2; pl_die "native build failed (log above)"; }

if [ "${1:-}" != "--skip-java" ]; then
  pl_log "building Java modules (maven)"
  $PL_MVN -q -DskipTests package || pl_die "maven build failed (log above)"
fi
