#!/usr/bin/env bash
# Builds everything: the native library and the Java modules (whose Maven build also runs ci/build-native.sh).
# Usage: ci/build.sh [--skip-java]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$PANLORA_ROOT/ci/build-native.sh"
if [ "${1:-}" != "--skip-java" ]; then
  cd "$PANLORA_ROOT"
  pl_log "building Java modules (maven)"
  $PL_MVN -q -DskipTests -Dpanlora.skipNative=true package || pl_die "maven build failed (log above)"
fi
