#!/usr/bin/env bash
# Builds everything and runs every test: native C unit tests (ctest) and the Java suite (maven).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$PANLORA_ROOT/ci/build.sh" --skip-java
cd "$PANLORA_ROOT"
# llama.cpp for the parity tests (io.panlora.llamacpp): reused from the per-machine cache, built from source the first time.
# Not fatal here: without it those tests fail under CI=true (skip elsewhere), naming the build script.
native/llama.cpp/build.sh >/dev/null || pl_log "llama.cpp is not built: the llama.cpp parity tests cannot pass"
pl_log "native unit tests (ctest)"
(cd native/build && ctest --output-on-failure)
pl_log "Java tests (maven)"
$PL_MVN -Dpanlora.skipNative=true test
