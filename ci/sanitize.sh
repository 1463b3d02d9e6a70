#!/usr/bin/env bash
# Builds the native library and every C test with AddressSanitizer + UndefinedBehaviorSanitizer into native/build-asan
# and runs them there (ctest: the unit tests and the fuzz_model harness). Any report fails the run: UB is not recovered
# from (-fno-sanitize-recover=all), ASan halts on the first error, LeakSanitizer reports leaks at exit.
# The CUDA backend is not built here (the sanitizers do not instrument device code, its GPU test needs a GPU, and
# nvcc would double the build time), and OpenBLAS is off so that panlora's own GEMM kernels run under the sanitizers.
# Environment: PANLORA_FUZZ_ITERS (default 3000) sizes the fuzz harness; PANLORA_SANITIZE_JOBS the build parallelism.
# ci/test.sh runs this after the native unit tests unless PANLORA_SKIP_SANITIZE=1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
pl_check_tools
cd "$PANLORA_ROOT"
B=native/build-asan
SAN="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer"
pl_log "sanitizer build (ASan + UBSan) into $B"
cmake -S native -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPANLORA_CUDA=OFF -DPANLORA_CUDA_EMU=OFF -DPANLORA_BLAS=OFF \
      -DCMAKE_C_FLAGS="$SAN" -DCMAKE_EXE_LINKER_FLAGS="$SAN" -DCMAKE_SHARED_LINKER_FLAGS="$SAN" \
      >"$B.log" 2>&1 || { cat "$B.log" >&2; pl_die "cmake configure of the sanitizer build failed (log above)"; }
cmake --build "$B" -j "${PANLORA_SANITIZE_JOBS:-$(nproc)}" >>"$B.log" 2>&1 \
  || { tail -50 "$B.log" >&2; pl_die "sanitizer build failed (log above)"; }
# allocator_may_return_null: an absurd size the engine passes to malloc must come back as NULL (the engine then
# reports PL_ERR_OUT_OF_MEMORY) instead of ASan stopping the process.
# Options already in the environment come last and win.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:allocator_may_return_null=1:detect_stack_use_after_return=1:strict_string_checks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
pl_log "sanitizer tests (ctest in $B)"
(cd "$B" && ctest --output-on-failure)
