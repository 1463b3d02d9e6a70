#!/usr/bin/env bash
# Builds everything and runs every test: native C unit tests (ctest) and the Java suite (maven).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$PANLORA_ROOT/ci/build.sh" --skip-java
cd "$PANLORA_ROOT"
pl_log "native unit tests (ctest)"
(cd native/build && ctest --output-on-failure)
[ "${PANLORA_SKIP_SANITIZE:-}" = 1 ] || "$PANLORA_ROOT/ci/sanitize.sh" # the C tests again under ASan + UBSan
pl_log "Java tests (maven)"
$PL_MVN -Dpanlora.skipNative=true test
