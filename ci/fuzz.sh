#!/usr/bin/env bash
# Coverage-guided fuzzing of the Java readers of untrusted input with Jazzer: each @FuzzTest of io.panlora.fuzz runs in its
# own JVM in fuzzing mode (JAZZER_FUZZ=1; Jazzer fuzzes one test per JVM) for a bounded time, starting from the committed
# seeds in core/src/test/resources/io/panlora/fuzz/<Target>FuzzTestInputs/<method>/.
#
# Usage: ci/fuzz.sh [TARGET...]     targets: gguf model adapter safetensors peft data checkpoint (default: all)
#        ci/fuzz.sh --seeds         rewrites the seed files with the project's own writers (FuzzSeeds) and exits
# Environment: PANLORA_FUZZ_SECONDS  fuzzing time per target (default 20)
#              PANLORA_FUZZ_TIMEOUT  seconds one input may take before it counts as a hang (default 10)
# Exit status 0 when no target found anything; 1 when one did: the crashing input is saved by Jazzer in that target's
# inputs directory (its path is printed), where `mvn test` replays it until the bug is fixed.
# Inputs that gave new coverage accumulate in core/.cifuzz-corpus/ (git-ignored) and are reused by later runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

ALL_TARGETS=(gguf model adapter safetensors peft data checkpoint)
seconds="${PANLORA_FUZZ_SECONDS:-20}"
timeout_s="${PANLORA_FUZZ_TIMEOUT:-10}"
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 ]] || pl_die "fuzz: PANLORA_FUZZ_SECONDS must be a positive number of seconds, got '$seconds'"
[[ "$timeout_s" =~ ^[0-9]+$ && "$timeout_s" -ge 1 ]] || pl_die "fuzz: PANLORA_FUZZ_TIMEOUT must be a positive number of seconds, got '$timeout_s'"

seeds=""
targets=()
for a in "$@"; do
  case "$a" in
    --seeds) seeds=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) [[ " ${ALL_TARGETS[*]} " == *" $a "* ]] || pl_die "fuzz: unknown target '$a' (targets: ${ALL_TARGETS[*]})"
       targets+=("$a") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

class_of() {
  case "$1" in
    gguf) echo GgufFuzzTest ;; model) echo ModelFuzzTest ;; adapter) echo AdapterFuzzTest ;;
    safetensors) echo SafetensorsFuzzTest ;; peft) echo PeftFuzzTest ;; data) echo DataFuzzTest ;;
    checkpoint) echo CheckpointFuzzTest ;;
  esac
}

cd "$PANLORA_ROOT"
[ -f native/build/libpanlora.so ] || "$PANLORA_ROOT/ci/build-native.sh"
pl_log "fuzz: compiling the tests and resolving the test classpath (maven)"
$PL_MVN -q -Dpanlora.skipNative=true -pl core -am test-compile dependency:build-classpath \
    -Dmdep.outputFile=target/fuzz-classpath.txt -Dmdep.includeScope=test >/dev/null || pl_die "fuzz: maven build failed (run it without -q to see why)"

cd "$PANLORA_ROOT/core"
cp_line="target/test-classes:target/classes:$(cat target/fuzz-classpath.txt)"
jvm=(--enable-native-access=ALL-UNNAMED -XX:+EnableDynamicAgentLoading -Xss8m -Xmx512m
     "-Dpanlora.library.dir=$PANLORA_ROOT/native/build" -Dpanlora.threads=1)

if [ -n "$seeds" ]; then
  "$JAVA" "${jvm[@]}" -cp "$cp_line" io.panlora.fuzz.FuzzSeeds src/test/resources
  exit 0
fi

logs="$PANLORA_ROOT/core/target/fuzz"
mkdir -p "$logs"
inputs="src/test/resources/io/panlora/fuzz"
failed=()
summary=()
start_all=$(date +%s)
for t in "${targets[@]}"; do
  cls=$(class_of "$t")
  log="$logs/$t.log"
  pl_log "fuzz: $t ($cls) for ${seconds}s"
  before=$(find "$inputs/${cls}Inputs" -type f 2>/dev/null | sort)
  t0=$(date +%s)
  rc=0
  # The outer timeout is a backstop only: Jazzer stops at max_duration, and an input slower than -timeout is a finding.
  JAZZER_FUZZ=1 timeout --kill-after=10 $((seconds + 180)) "$JAVA" "${jvm[@]}" \
      "-Djazzer.max_duration=${seconds}s" -Djazzer.internal.arg.0=fuzz "-Djazzer.internal.arg.1=-timeout=$timeout_s" \
      -cp "$cp_line" io.panlora.fuzz.FuzzMain "io.panlora.fuzz.$cls" >"$log" 2>&1 || rc=$?
  t1=$(date +%s)
  runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | sed 's/cov: //')
  corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | sed 's/corp: //')
  after=$(find "$inputs/${cls}Inputs" -type f 2>/dev/null | sort)
  new=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')
  written=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | sed '/^$/d')
  line=$(printf '%-12s %4ss  %9s execs  cov %5s  corpus %5s' "$t" "$((t1 - t0))" "${runs:-?}" "${cov:-?}" "${corp:-?}")
  if [ "$rc" -ne 0 ] || [ -n "$new" ] || [ -n "$written" ]; then
    failed+=("$t")
    summary+=("$line  FAILED (exit $rc)")
    echo "fuzz: $t FAILED (exit status $rc); log: $log" >&2
    grep -E 'FuzzTestFindingException|Caused by|^\s+(at )?io\.panlora\.|ERROR: libFuzzer|== Java Exception' "$log" | head -25 >&2 || true
    for f in $(printf "%s\n" $new $written | sed "s|^$PANLORA_ROOT/core/||" | sort -u); do
      [ -f "$f" ] && echo "fuzz: crashing input saved to $PANLORA_ROOT/core/$f" >&2
    done
    [ -n "$new$written" ] || echo "fuzz: no input file was saved (see the log)" >&2
  else
    summary+=("$line  ok")
  fi
done
end_all=$(date +%s)

echo "fuzz: ${seconds}s per target, $((end_all - start_all))s in all; logs in $logs"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]} (reproduce with: cd java && mvn test -Dtest=<Target>FuzzTest, which replays the saved inputs)" >&2
  exit 1
fi
echo "fuzz: no findings"
