#!/usr/bin/env bash
# Prepares, on this (development) machine, what the GPU machine needs to run the panlora CLI: that machine has no JDK,
# no Maven and no network. Builds the jars, links a small JDK 25 runtime holding only the modules they use, and puts
# both under build/gpu (git-ignored), the one folder the device call carries:
#
#   build/gpu/jdk.tar.xz  the jlink'ed runtime (java.base and whatever else jdeps finds; the loss plot is SVG written
#                         by hand, so no java.desktop), packed: ~20 MB instead of ~55 MiB unpacked. ci/gpu-check.sh and bin/panlora unpack it
#                         into build/gpu-run/jdk (2 s), which is never carried.
#   build/gpu/lib/*.jar   the CLI jar and its runtime dependencies (the classpath ./panlora uses)
#   build/gpu/bin/panlora launcher: build/gpu/bin/panlora COMMAND ... (native library from native/build-gpu)
#   build/gpu/info.txt    main class, modules, git commit, hash of the Java sources (ci/gpu-check.sh warns when stale)
#
# The runtime depends only on the JDK and the module list: it is cached in build/gpu-cache and re-linked only when
# those change, so re-running this after a Java change takes the time of the Maven build.
#
# Usage: ci/gpu-prepare.sh [--skip-build] [--unpacked] [--max-mib N]
#   --skip-build   reuse cli/target/panlora.jar and cli/target/lib/*.jar as they are
#   --unpacked     put the runtime unpacked in build/gpu/jdk instead (about 56 MiB: needs --max-mib 60)
#   --max-mib N    fail when build/gpu is larger than N MiB (default 55: a device call carries 64 MiB in all,
#                  working tree included)
# Then, with the device tool:  run(command="bash ci/gpu-check.sh", carry=["build/gpu"], timeout_s=540)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PANLORA_ROOT"

SKIP_BUILD=""
UNPACKED=""
MAX_MIB=55
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-build) SKIP_BUILD=1 ;;
    --unpacked) UNPACKED=1 ;;
    --max-mib) shift; MAX_MIB="${1:?--max-mib needs a number}" ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) pl_die "gpu-prepare: unknown argument '$1' (--skip-build, --unpacked, --max-mib N)" ;;
  esac
  shift
done

T0=$SECONDS
DEST="$PANLORA_ROOT/build/gpu"
CACHE="$PANLORA_ROOT/build/gpu-cache"
JAR="$PANLORA_ROOT/cli/target/panlora.jar"
DEPS="$PANLORA_ROOT/cli/target/lib"
JV=$(pl_java_major "$JAVA_HOME")
[ "$JV" -ge 25 ] || pl_log "warning: JAVA_HOME is JDK $JV; the runtime is meant to be JDK 25 (Temurin at /usr/lib/jvm/temurin-25-jdk-amd64)"
for t in jlink jdeps; do [ -x "$JAVA_HOME/bin/$t" ] || pl_die "gpu-prepare: $JAVA_HOME/bin/$t is missing: a full JDK is needed"; done
for t in unzip tar xz sha1sum; do command -v "$t" >/dev/null 2>&1 || pl_die "gpu-prepare: '$t' is missing (apt-get install unzip xz-utils)"; done

# build/ must be ignored by git: otherwise the runtime would travel twice (as untracked files and as carry).
git check-ignore -q build/gpu/x 2>/dev/null || pl_die "gpu-prepare: build/ is not git-ignored; add '/build/' to .gitignore"

# Hash of what the jars are built from; ci/gpu-check.sh runs the same command to detect stale jars.
src_hash() {
  { find core/src/main cli/src/main bindings/src/main -type f 2>/dev/null; ls pom.xml core/pom.xml cli/pom.xml bindings/pom.xml 2>/dev/null; } \
    | LC_ALL=C sort | xargs sha1sum 2>/dev/null | sha1sum | cut -c1-16
}

# ---- 1. the jars ----
if [ -z "$SKIP_BUILD" ]; then
  command -v mvn >/dev/null 2>&1 || pl_apt_install maven || pl_die "gpu-prepare: maven is missing (apt-get install maven)"
  pl_log "building the jars (maven; tests not compiled; the native library is built on the GPU machine)"
  $PL_MVN -q -Dmaven.test.skip=true -Dpanlora.skipNative=true package || pl_die "gpu-prepare: maven build failed (log above)"
fi
[ -f "$JAR" ] || pl_die "gpu-prepare: $JAR is missing (run without --skip-build)"
[ -d "$DEPS" ] || pl_die "gpu-prepare: $DEPS is missing (maven's copy-dependencies did not run)"

MANIFEST=$(unzip -p "$JAR" META-INF/MANIFEST.MF | tr -d '\r')
MAIN=$(sed -n 's/^Main-Class: *//p' <<<"$MANIFEST" | head -1)
[ -n "$MAIN" ] || MAIN=io.panlora.cli.Main

rm -rf "$DEST"
mkdir -p "$DEST/lib" "$DEST/bin" "$CACHE"
# The classpath ./panlora uses (java -jar panlora.jar): the jar and its manifest Class-Path, lib/panlora-bindings.jar
# and lib/picocli.jar, which maven's copy-dependencies put in cli/target/lib. Flattened into one folder here.
cp "$JAR" "$DEST/lib/"
cp "$DEPS"/*.jar "$DEST/lib/"
CLASSPATH_ENTRIES=$(awk '/^Class-Path:/{f=1; sub(/^Class-Path: */,""); printf "%s", $0; next}
                         f && /^ /{sub(/^ /,""); printf "%s", $0; next} {f=0}' <<<"$MANIFEST")
for e in $CLASSPATH_ENTRIES; do
  [ -f "$DEST/lib/$(basename "$e")" ] || pl_die "gpu-prepare: the manifest's Class-Path names $e, which cli/target/lib lacks"
done

# ---- 2. the modules ----
JARS=("$DEST"/lib/*.jar)
MODS=$("$JAVA_HOME/bin/jdeps" --ignore-missing-deps --multi-release "$JV" --print-module-deps \
        --class-path "$DEST/lib/*" "${JARS[@]}" | tail -1) || pl_die "gpu-prepare: jdeps failed on ${JARS[*]}"
case "$MODS" in java.*|jdk.*) ;; *) pl_die "gpu-prepare: jdeps printed no module list ('$MODS')" ;; esac
# java.base always (the loss plot is SVG written by hand: no java.desktop).
MODS=$({ printf '%s\n' java.base; tr ',' '\n' <<<"$MODS"; } | LC_ALL=C sort -u | paste -sd, -)
pl_log "modules: $MODS"

# ---- 3. the runtime (cached by JDK, modules and form) ----
# Headless only (the launchers pass -Djava.awt.headless=true): no X11 toolkit, splash screen, sound or JAWT.
EXCLUDE='**libsplashscreen.so,**libjsound.so,**libawt_xawt.so,**libjawt.so'
FORM=$([ -n "$UNPACKED" ] && echo zip-6 || echo zip-0)   # uncompressed classes pack better with xz
KEY=$(printf '%s|%s|%s|%s|%s' "$("$JAVA_HOME/bin/java" -version 2>&1 | head -2)" "$MODS" "$FORM" "$EXCLUDE" \
      "$(command -v objcopy || true)" | sha1sum | cut -c1-12)
RT="$CACHE/jdk-$KEY"
if [ ! -x "$RT/bin/java" ] || { [ -z "$UNPACKED" ] && [ ! -f "$RT.tar.xz" ]; }; then
  rm -rf "$RT" "$RT.tar.xz"
  pl_log "linking the runtime ($FORM)"
  "$JAVA_HOME/bin/jlink" --add-modules "$MODS" --strip-debug --no-man-pages --no-header-files --compress "$FORM" \
      "--exclude-files=$EXCLUDE" --output "$RT" \
    || pl_die "gpu-prepare: jlink failed (a JDK 24+ links from its own run-time image; older JDKs need their jmods/)"
  # The symbol tables of the native libraries (5 MB of libjvm.so) serve crash reports only; .dynsym stays.
  if command -v objcopy >/dev/null 2>&1; then
    while IFS= read -r -d '' so; do
      if objcopy --strip-unneeded "$so" "$so.tmp" 2>/dev/null && chmod --reference="$so" "$so.tmp"; then
        mv -f "$so.tmp" "$so"
      else
        rm -f "$so.tmp"
      fi
    done < <(find "$RT/lib" -name '*.so' -type f -print0)
  fi
  if [ -z "$UNPACKED" ]; then
    pl_log "packing the runtime (xz, about a minute on 2 cores)"
    if tar -C "$RT" -cf - . | xz -6 -T0 >"$RT.tar.xz.tmp"; then
      mv "$RT.tar.xz.tmp" "$RT.tar.xz"
    else
      rm -f "$RT.tar.xz.tmp"; pl_die "gpu-prepare: packing the runtime failed"
    fi
  fi
fi
if [ -n "$UNPACKED" ]; then
  cp -a "$RT" "$DEST/jdk"
  RUNTIME_DESC="jdk/ (unpacked)"
else
  cp "$RT.tar.xz" "$DEST/jdk.tar.xz"
  RUNTIME_DESC="jdk.tar.xz"
fi
# This machine's own unpacked copy, as ci/gpu-check.sh would make it, so that it can be tried here too.
RUN="$PANLORA_ROOT/build/gpu-run"
RT_SHA=$(sha1sum "$DEST/jdk.tar.xz" 2>/dev/null | cut -c1-16 || true)
if [ -z "$UNPACKED" ] && [ "$(cat "$RUN/jdk/.archive" 2>/dev/null)" != "$RT_SHA" ]; then
  rm -rf "$RUN/jdk" && mkdir -p "$RUN" && cp -a "$RT" "$RUN/jdk" && echo "$RT_SHA" >"$RUN/jdk/.archive"
fi

# ---- 4. launcher and provenance ----
cat >"$DEST/bin/panlora" <<EOF
#!/usr/bin/env bash
# The panlora CLI on the carried runtime (made by ci/gpu-prepare.sh). The native library comes from PANLORA_LIBRARY_DIR
# (default: native/build-gpu of the checkout this folder is in, as ci/gpu-check.sh builds it).
set -eu
G="\$(cd "\$(dirname "\${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="\$(cd "\$G/../.." && pwd)"
JAVA="\$G/jdk/bin/java"
if [ ! -x "\$JAVA" ]; then
  JAVA="\$ROOT/build/gpu-run/jdk/bin/java"
  SHA=\$(sha1sum "\$G/jdk.tar.xz" | cut -c1-16)
  if [ "\$(cat "\$ROOT/build/gpu-run/jdk/.archive" 2>/dev/null)" != "\$SHA" ]; then
    rm -rf "\$ROOT/build/gpu-run/jdk" && mkdir -p "\$ROOT/build/gpu-run/jdk"
    if command -v xz >/dev/null 2>&1; then tar -C "\$ROOT/build/gpu-run/jdk" -xJf "\$G/jdk.tar.xz"
    else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "\$G/jdk.tar.xz" "\$ROOT/build/gpu-run/jdk"; fi
    echo "\$SHA" >"\$ROOT/build/gpu-run/jdk/.archive"
  fi
fi
exec "\$JAVA" --enable-native-access=ALL-UNNAMED -Xss8m -Djava.awt.headless=true \${PANLORA_JVM_OPTS:-} \\
  -Dpanlora.library.dir="\${PANLORA_LIBRARY_DIR:-\$ROOT/native/build-gpu}" -Dpanlora.home="\$ROOT" \\
  -cp "\$G/lib/*" $MAIN "\$@"
EOF
chmod +x "$DEST/bin/panlora"
{
  echo "main=$MAIN"
  echo "modules=$MODS"
  echo "runtime=$RUNTIME_DESC"
  echo "java=$("$RT/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.runtime.version = //p')"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- java bindings pom.xml 2>/dev/null || echo '+uncommitted')"
  echo "sources=$(src_hash)"
  echo "made=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$DEST/info.txt"

# ---- 5. checks: the runtime starts the CLI from the copied jars ----
"$RT/bin/java" -Djava.awt.headless=true -cp "$DEST/lib/*" "$MAIN" --version >/dev/null \
  || pl_die "gpu-prepare: the linked runtime cannot start $MAIN from build/gpu/lib"
"$RT/bin/java" -Djava.awt.headless=true -cp "$DEST/lib/*" "$MAIN" --help >/dev/null 2>&1 \
  || pl_die "gpu-prepare: '$MAIN --help' failed on the linked runtime"

BYTES=$(du -sb "$DEST" | cut -f1)
MIB=$(( (BYTES + 1048575) / 1048576 ))
printf 'gpu-prepare: %s: %s %s, lib %s; total %s MiB (%s bytes) in %ss\n' "$DEST" "$RUNTIME_DESC" \
  "$(du -sh "$DEST/$([ -n "$UNPACKED" ] && echo jdk || echo jdk.tar.xz)" | cut -f1)" "$(du -sh "$DEST/lib" | cut -f1)" \
  "$MIB" "$BYTES" "$((SECONDS - T0))"
sed 's/^/gpu-prepare:   /' "$DEST/info.txt"
[ "$MIB" -le "$MAX_MIB" ] || pl_die "gpu-prepare: build/gpu is $MIB MiB, over the $MAX_MIB MiB allowed (carry limit 64 MiB with the tree)"
echo "gpu-prepare: done. Device run: command 'bash ci/gpu-check.sh', carry [\"build/gpu\"], timeout_s 540"
