#!/usr/bin/env bash
# Builds the native library (CMake, Release) into native/build; used by ci/build.sh, ./panlora and Maven's build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
pl_check_tools
cd "$PANLORA_ROOT"
pl_log "building native library (cmake)"
cmake -S native -B native/build -DCMAKE_BUILD_TYPE=Release >native/build.log 2>&1 || { cat native/build.log >&2; pl_die "cmake configure failed (log above)"; }
cmake --build native/build -j "$(nproc)" >>native/build.log 2>&1 || { tail -50 native/build.log >&2; pl_die "native build failed (log above)"; }
