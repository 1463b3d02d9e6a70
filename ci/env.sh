#!/usr/bin/env bash
# Sourced by the other scripts: finds a JDK >= 22 and checks the native toolchain.
# Sets JAVA_HOME, JAVA, PANLORA_ROOT. Installs missing Debian packages when run as root.

PANLORA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PANLORA_ROOT

pl_die() { echo "panlora: $*" >&2; exit 1; }
pl_log() { [ -n "${PANLORA_QUIET:-}" ] || echo "panlora: $*" >&2; }

pl_java_major() { # prints the major version of the java at $1/bin/java, or nothing
  [ -x "$1/bin/java" ] || return 0
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p' | head -1
}

pl_find_jdk() {
  local cand v
  if [ -n "${JAVA_HOME:-}" ]; then
    v=$(pl_java_major "$JAVA_HOME")
    if [ -n "$v" ] && [ "$v" -ge 22 ] && [ -x "$JAVA_HOME/bin/javac" ]; then return 0; fi
  fi
  for cand in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    [ -d "$cand" ] || continue
    v=$(pl_java_major "$cand")
    if [ -n "$v" ] && [ "$v" -ge 22 ] && [ -x "$cand/bin/javac" ]; then export JAVA_HOME="$cand"; return 0; fi
  done
  pl_die "no JDK 22 or newer found (looked at JAVA_HOME='${JAVA_HOME:-}' and /usr/lib/jvm/*). Install one (e.g. Temurin 25) and set JAVA_HOME to it."
}

pl_apt_install() { # installs Debian packages if we are root and apt-get exists
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    pl_log "installing $* (apt-get)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 || return 1
    fi
    return 0
  fi
  return 1
}

pl_check_tools() {
  local missing=()
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  command -v gcc >/dev/null 2>&1 || missing+=(gcc)
  command -v make >/dev/null 2>&1 || missing+=(make)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  # llama.cpp's build (native/llama.cpp/build.sh): a C++ compiler, git, curl and openssl (the package's integrity check)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v git >/dev/null 2>&1 || missing+=(git)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  # the CPU emulation of the CUDA backend (native/tests/cudaemu): perl rewrites the kernel launches
  command -v perl >/dev/null 2>&1 || missing+=(perl)
  if [ ${#missing[@]} -gt 0 ]; then
    pl_apt_install "${missing[@]}" || pl_die "missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]})."
  fi
  # OpenBLAS is optional (our own kernels otherwise) but is the fast F32 GEMM: install it when we can.
  local h have_cblas=""
  for h in /usr/include/x86_64-linux-gnu/cblas.h /usr/include/cblas.h /usr/include/openblas/cblas.h; do
    [ -f "$h" ] && have_cblas=1
  done
  if [ -z "${PANLORA_NO_BLAS:-}" ] && [ -z "$have_cblas" ]; then
    pl_apt_install libopenblas-openmp-dev || pl_log "OpenBLAS not available; using panlora's own GEMM kernels"
  fi
}

pl_find_jdk
export JAVA="$JAVA_HOME/bin/java"
# Maven's bundled Guava uses sun.misc.Unsafe: JDK 24+ warns about it on every run unless allowed.
if [ "$(pl_java_major "$JAVA_HOME")" -ge 24 ]; then
  case "${MAVEN_OPTS:-}" in *sun-misc-unsafe*) ;; *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;; esac
fi
export PATH="$JAVA_HOME/bin:$PATH"
# Maven flags of every script: batch mode, plain output (no ANSI colour codes in logs)
PL_MVN="mvn -B -Dstyle.color=never"
