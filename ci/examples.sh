#!/usr/bin/env bash
# The library as a user gets it: installs panlora's artifacts into a fresh temporary local Maven repository, builds the
# examples/ project from it by coordinates, makes a base with `panlora init`, runs the example with a plain `java -jar`
# (no project paths, no system properties) and checks what it prints and writes.
#   ci/examples.sh [TEXT_FILE]     (default: ../shared/data/tinyshakespeare.txt)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PANLORA_ROOT"
text="${1:-${PANLORA_SHARED_DATA:-$PANLORA_ROOT/../shared/data}/tinyshakespeare.txt}"
if [ ! -f "$text" ]; then
  # in CI missing data is a failure; on a user's machine without ../shared/data the check is skipped, saying so
  [ "${CI:-}" = true ] && pl_die "examples: no text file $text (give one as the argument, or set PANLORA_SHARED_DATA)"
  pl_log "examples: skipped: no text file $text (give one as the argument, or set PANLORA_SHARED_DATA)"
  exit 0
fi
[ -f native/build/libpanlora.so ] || "$PANLORA_ROOT/ci/build-native.sh"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
repo="$tmp/m2"
pl_log "examples: installing panlora-bindings and panlora-core into a fresh local repository ($repo)"
$PL_MVN -q -DskipTests -Dpanlora.skipNative=true -Dmaven.repo.local="$repo" -pl bindings,core -am install \
  || pl_die "examples: maven install failed"
pl_log "examples: building examples/ from those artifacts"
(cd examples && $PL_MVN -q -Dmaven.repo.local="$repo" package) || pl_die "examples: the example project does not build"
jar="$PANLORA_ROOT/examples/target/panlora-example.jar"
(cd examples && $PL_MVN -q -Dmaven.repo.local="$repo" dependency:list -DincludeScope=runtime -DoutputFile="$tmp/deps.txt") \
  || pl_die "examples: cannot list the example's dependencies"
if grep -q picocli "$tmp/deps.txt"; then pl_die "examples: panlora-core brings picocli into its users' dependencies"; fi
listing="$(unzip -l "$repo/io/panlora/panlora-bindings/0.1.0-SNAPSHOT/panlora-bindings-0.1.0-SNAPSHOT.jar")"
[[ "$listing" == *natives/linux-x86_64/libpanlora.so* ]] || pl_die "examples: the installed bindings jar carries no native library"

pl_log "examples: a base model from panlora init"
./panlora init -o "$tmp/base.gguf" --preset tiny --tokenizer-from "$text" --vocab 512 >/dev/null

pl_log "examples: java -jar panlora-example.jar"
# the jar and its lib/ copied out of the checkout (no native/build above them), a clean native cache: the library is
# the bindings jar's own copy
mkdir -p "$tmp/app" && cp -r "$jar" "$PANLORA_ROOT/examples/target/lib" "$tmp/app/"
(cd "$tmp" && XDG_CACHE_HOME="$tmp/cache" "$JAVA" -jar "$tmp/app/panlora-example.jar" "$tmp/base.gguf" "$text" "$tmp/out") | tee "$tmp/log"
grep -q '^example: OK$' "$tmp/log" || pl_die "examples: the example did not print 'example: OK'"
grep -q '^LoRA held-out loss: ' "$tmp/log" || pl_die "examples: no held-out loss line"
for f in out/full/model.gguf out/lora/adapter.gguf out/adapter-q8_0.gguf out/merged-f16.gguf; do
  [ -s "$tmp/$f" ] || pl_die "examples: $f was not written"
done
[ -d "$tmp/cache/panlora/natives" ] || pl_die "examples: the native library was not extracted from the jar"
if grep -qi "warning" "$tmp/log"; then pl_die "examples: the run printed a warning"; fi
# the same program with panlora on the module path (the example itself stays on the class path): it may use only what
# io.panlora.core exports, and the natives load from inside a named module
pl_log "examples: the same with panlora on the module path"
rm -rf "$tmp/out"
(cd "$tmp" && XDG_CACHE_HOME="$tmp/cache" "$JAVA" --module-path "$tmp/app/lib" --add-modules io.panlora.core \
   --enable-native-access=io.panlora.bindings,io.panlora.core -cp "$tmp/app/panlora-example.jar" example.FineTune \
   "$tmp/base.gguf" "$text" "$tmp/out") > "$tmp/log2" 2>&1 || { cat "$tmp/log2"; pl_die "examples: the module-path run failed"; }
grep -q '^example: OK$' "$tmp/log2" || { cat "$tmp/log2"; pl_die "examples: the module-path run did not print 'example: OK'"; }
if grep -qi "warning" "$tmp/log2"; then cat "$tmp/log2"; pl_die "examples: the module-path run printed a warning"; fi
cmp <(grep "held-out loss" "$tmp/log") <(grep "held-out loss" "$tmp/log2") || pl_die "examples: the module-path run computed other losses"
pl_log "examples: OK"
