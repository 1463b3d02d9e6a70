#!/usr/bin/env bash
# Builds jextract (openjdk/jextract @ f9866df3a178baa2e4a3746a7a6e458d783ace92) by hand with JDK 25 and Debian's
# libclang 13, reproducing build.gradle's image layout, into /opt/jextract.
# Usage: bindings/install-jextract.sh GIT_DIR, a clone (or bare mirror) of openjdk/jextract holding that commit. Root, Debian.
set -euo pipefail
J=/usr/lib/jvm/temurin-25-jdk-amd64
MIRROR="${1:?usage: bindings/install-jextract.sh JEXTRACT_GIT_DIR (a clone or bare mirror of openjdk/jextract)}"
COMMIT=f9866df3a178baa2e4a3746a7a6e458d783ace92
SRC=/tmp/jextract-src; B=/tmp/jextract-build; DEB=/tmp/libclang-common-13
# libclang 13 (runtime only). The builtin headers are taken from libclang-common-13-dev's .deb WITHOUT installing it:
# if installed, libclang finds its own resource dir (/usr/include/clang/13.0.1/include) after the image's
# conf/jextract copy, and clang's stdint.h #include_next then lands on the second clang stdint.h (guarded out),
# so glibc's stdint.h is never read and int32_t etc. are unknown.
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -q libclang1-13
rm -rf "$DEB" && mkdir -p "$DEB" && (cd "$DEB" && apt-get download -q libclang-common-13-dev && dpkg-deb -x libclang-common-13-dev_*.deb root)
CLANG_INC="$DEB/root/usr/lib/llvm-13/lib/clang/13.0.1/include"
rm -rf "$SRC" "$B" && mkdir -p "$SRC" "$B"/{classes,jmods,jmod_inputs/libs,jmod_inputs/conf/jextract}
git --git-dir="$MIRROR" archive "$COMMIT" | tar -x -C "$SRC"
cd "$SRC"
# compileJava: options.release = 23 (build.gradle); resources copied as Gradle's processResources does
"$J/bin/javac" --release 23 -d "$B/classes" $(find src/main/java -name '*.java')
cp -r src/main/resources/. "$B/classes/"
"$J/bin/jar" --create --file "$B/org.openjdk.jextract.jar" --main-class org.openjdk.jextract.JextractTool -C "$B/classes" .
# copyLibClang: the real libclang.so.<ver> renamed libclang.so into libs/, clang's include/*.h into conf/jextract
cp -L /usr/lib/x86_64-linux-gnu/libclang-13.so.13 "$B/jmod_inputs/libs/libclang.so"
cp "$CLANG_INC"/*.h "$B/jmod_inputs/conf/jextract/"
# createJextractJmod
"$J/bin/jmod" create --module-version=23 --class-path="$B/org.openjdk.jextract.jar" \
  --libs="$B/jmod_inputs/libs" --conf="$B/jmod_inputs/conf" "$B/jmods/org.openjdk.jextract.jmod"
# createJextractImage (JDK 25 has no jmods/: jlink links from the run-time image)
rm -rf /opt/jextract && mkdir -p /opt/jextract/bin
"$J/bin/jlink" --module-path="$B/jmods" --add-modules=org.openjdk.jextract --output=/opt/jextract/runtime \
  --strip-debug --no-man-pages --no-header-files --add-options '"--enable-native-access=org.openjdk.jextract"'
install -m 755 src/main/jextract /opt/jextract/bin/jextract
/opt/jextract/bin/jextract --version
