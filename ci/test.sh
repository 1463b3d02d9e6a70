#!/usr/bin/env bash
# Builds everything and runs every test: native C unit tests (ctest) and the Java suite (maven).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$PANLORA_ROOT/ci/build.sh" --skip-java
cd "$PANLORA_ROOT"
pl_log "native unit tests (ctest)"
(cd native/build && ctest --output-on-failure)
pl_log "Java tests (maven)"
$PL_MVN -Dpanlora.skipNative=true test
if [ "${PANLORA_SKIP_FUZZ:-0}" != 1 ]; then pl_log "Java fuzz targets (ci/fuzz.sh; PANLORA_SKIP_FUZZ=1 skips them)"; "$PANLORA_ROOT/ci/fuzz.sh"; fi
