#!/usr/bin/env bash
# The GPU check of panlora. Runs ON THE GPU MACHINE (no JDK, no Maven, no network there), from the repository root,
# after ci/gpu-prepare.sh made build/gpu on the development machine. With the device tool:
#     run(command="bash ci/gpu-check.sh", carry=["build/gpu"], timeout_s=540)
#
# Phases, in order (each with its own time limit; a failed phase does not stop the independent ones after it):
#   info    the machine: GPUs, driver, nvcc, CPU, load, tools; stops here (exit 2) when there is no NVIDIA GPU
#   build   native library with the CUDA backend: cmake Release, -DPANLORA_CUDA=ON, sm_90a only, into native/build-gpu
#   cublas  finds cuBLASLt (libcublasLt.so.13/.12) of the Python wheel (nvidia/cu13/lib or nvidia/cublas/lib) and
#           exports PANLORA_CUBLAS_DIR
#   test    native/build-gpu/test_cuda (the backend against the CPU engine): "N passed, N failed"
#   check   panlora gpu-check --steps 30 through the carried JDK
#   bench   panlora bench train --device cuda ... --json $OUT/panlora-bench.json            (informative)
#   peft    python3 ci/peft_baseline.py, same shapes --json $OUT/peft-bench.json           (informative)
#   table   both JSONs joined into a markdown table: printed and written to $OUT/bench.md  (informative)
# Exit status: 0 when the build, test_cuda and gpu-check passed; 1 when any of them failed, timed out or could not run;
# 2 when there is no GPU here (unless --allow-no-gpu); 64 on bad arguments. The benchmarks never change it.
#
# Output: everything is printed and written to $OUT/gpu-check.log; also $OUT/build.log (full compiler output),
# $OUT/panlora-bench.json, $OUT/peft-bench.json, $OUT/bench.md, $OUT/summary.json. OUT defaults to build/gpu/out.
#
# Options:
#   --phases LIST     run only these (comma list of the names above; info always runs, cublas whenever test, check
#                     or bench does, table whenever bench or peft does). Without --phases: all of them.
#   --skip LIST       leave these out
#   --budget S        seconds for the whole run (default 420); each phase's limit leaves the minimum of the phases
#                     still to come. With ~13 minutes of device time for a session, the default leaves time for a
#                     second, shorter run: e.g. --phases build,test,check --budget 200
#   --presets LIST    bench/peft shapes (default 125m,1b,3b; 8b also exists)
#   --types LIST      panlora base types (default BF16,Q4_K)
#   --batch N --tokens N --rank N --reps N     benchmark shape (default 8, 2048, 16, 3)
#   --steps N         steps of panlora gpu-check (default 30)
#   --peft-targets L  linears PEFT adapts (default all: q,k,v,o,gate,up,down); match panlora's bench when it differs
#   --gencode FLAGS   nvcc -gencode flags (default -gencode=arch=compute_90a,code=sm_90a); --all-archs: CMake's list
#   --jobs N          build jobs (default: all cores)
#   --clean           delete native/build-gpu first
#   --allow-no-gpu    go on without a GPU (to try the script itself on a machine with nvcc but no GPU)
set -u
set -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

ALL_PHASES=(info build cublas test check bench peft table)
declare -A CAP=([info]=30 [build]=240 [cublas]=30 [test]=120 [check]=120 [bench]=240 [peft]=180 [table]=20)
declare -A MINT=([info]=5 [build]=60 [cublas]=5 [test]=20 [check]=20 [bench]=45 [peft]=45 [table]=3)
declare -A DESC=([info]="the machine" [build]="native library with the CUDA backend" [cublas]="cuBLASLt of the Python wheel"
                 [test]="test_cuda" [check]="panlora gpu-check" [bench]="panlora bench train --device cuda"
                 [peft]="PyTorch + PEFT baseline" [table]="benchmark table")
BUDGET=420
SELECT=""
SKIP=""
PRESETS=125m,1b,3b
TYPES=BF16,Q4_K
BATCH=8
TOKENS=2048
RANK=16
REPS=3
STEPS=30
PEFT_TARGETS=all
GENCODE="-gencode=arch=compute_90a,code=sm_90a"
JOBS=$(nproc 2>/dev/null || echo 4)
CLEAN=""
ALLOW_NO_GPU=""
BUILD="$ROOT/native/build-gpu"
G="$ROOT/build/gpu"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
bad() { echo "gpu-check: $*" >&2; exit 64; }
need_num() { [[ "${2:-}" =~ ^[0-9]+$ ]] || bad "$1 needs a number (got '${2:-}')"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --phases) SELECT="${2:-}"; shift ;;
    --skip) SKIP="${2:-}"; shift ;;
    --budget) need_num "$1" "${2:-}"; BUDGET=$2; shift ;;
    --presets|--preset) PRESETS="${2:?$1 needs a value}"; shift ;;
    --types) TYPES="${2:?$1 needs a value}"; shift ;;
    --batch) need_num "$1" "${2:-}"; BATCH=$2; shift ;;
    --tokens) need_num "$1" "${2:-}"; TOKENS=$2; shift ;;
    --rank) need_num "$1" "${2:-}"; RANK=$2; shift ;;
    --reps) need_num "$1" "${2:-}"; REPS=$2; shift ;;
    --steps) need_num "$1" "${2:-}"; STEPS=$2; shift ;;
    --peft-targets) PEFT_TARGETS="${2:?$1 needs a value}"; shift ;;
    --gencode) GENCODE="${2:?$1 needs a value}"; shift ;;
    --all-archs) GENCODE="" ;;
    --jobs) need_num "$1" "${2:-}"; JOBS=$2; shift ;;
    --clean) CLEAN=1 ;;
    --allow-no-gpu) ALLOW_NO_GPU=1 ;;
    -h|--help) usage; exit 0 ;;
    *) bad "unknown argument '$1' (--help lists the options)" ;;
  esac
  shift
done

declare -A ENABLED=()
if [ -n "$SELECT" ]; then
  for p in ${SELECT//,/ }; do [ -n "${CAP[$p]:-}" ] || bad "unknown phase '$p' (${ALL_PHASES[*]})"; ENABLED[$p]=1; done
  [ -n "${ENABLED[test]:-}${ENABLED[check]:-}${ENABLED[bench]:-}" ] && ENABLED[cublas]=1
  [ -n "${ENABLED[bench]:-}${ENABLED[peft]:-}" ] && ENABLED[table]=1
else
  for p in "${ALL_PHASES[@]}"; do ENABLED[$p]=1; done
fi
for p in ${SKIP//,/ }; do [ -n "${CAP[$p]:-}" ] || bad "unknown phase '$p' (${ALL_PHASES[*]})"; unset "ENABLED[$p]"; done
ENABLED[info]=1

# ---- output: everything to the terminal and to $OUT/gpu-check.log ----
OUT="${OUT:-$ROOT/build/gpu/out}"
if ! mkdir -p "$OUT" 2>/dev/null || [ ! -w "$OUT" ]; then
  echo "gpu-check: cannot write to OUT=$OUT; using /tmp/gpu-check-out" >&2
  OUT=/tmp/gpu-check-out
  mkdir -p "$OUT"
fi
LOG="$OUT/gpu-check.log"
: >"$LOG"
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
exec 3>&1 4>&2
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!
# shellcheck disable=SC2317  # called by the EXIT trap
finish() {
  exec 1>&3 2>&4
  wait "$TEE_PID" 2>/dev/null || true
  rm -rf "$TMPD"
}
trap finish EXIT
export PYTHONUNBUFFERED=1

# ---- time and phase bookkeeping ----
T_START=$SECONDS
declare -A ST=() SECS=() NOTE=()
PH_T0=0
PH_LIMIT=0
elapsed() { echo $((SECONDS - T_START)); }
left() { echo $((BUDGET - (SECONDS - T_START))); }
ph_left() { local t=$((PH_LIMIT - (SECONDS - PH_T0))); [ "$t" -ge 1 ] || t=1; echo "$t"; }
# Runs a command under the time left to the current phase (its process group is killed at the limit).
tmo() { timeout -k 10 "$(ph_left)" "$@"; }
timed_out() { [ "$1" = 124 ] || [ "$1" = 137 ]; }

lib_missing() { # why the native libraries cannot be used (empty: usable, or still to be built)
  if [ -n "${ENABLED[build]:-}" ]; then
    case "${ST[build]:-}" in
      "") return 0 ;;
      PASS) ;;
      *) echo "the native build did not succeed"; return 0 ;;
    esac
  fi
  local f
  for f in libpanlora.so libpanlora_cuda.so "$@"; do
    [ -e "$BUILD/$f" ] || { echo "native/build-gpu/$f is missing"; return 0; }
  done
}
java_missing() {
  ls "$G"/lib/*.jar >/dev/null 2>&1 || { echo "build/gpu/lib has no jars (run ci/gpu-prepare.sh and carry build/gpu)"; return 0; }
  [ -x "$G/jdk/bin/java" ] || [ -f "$G/jdk.tar.xz" ] || [ -n "${JAVA:-}" ] \
    || echo "build/gpu has no Java runtime (run ci/gpu-prepare.sh and carry build/gpu)"
}
deps_missing() {
  case "$1" in
    test) lib_missing test_cuda ;;
    check|bench) local w; w=$(lib_missing); [ -n "$w" ] && { echo "$w"; return 0; }; java_missing ;;
    peft) command -v python3 >/dev/null 2>&1 || echo "python3 is missing" ;;
  esac
}
will_run() { [ -n "${ENABLED[$1]:-}" ] && [ -z "$(deps_missing "$1")" ]; }
phase_limit() { # the phase's cap, less the minimum of each later phase that will run; at least its own minimum
  local p=$1 q after=0 reserve=0 rem t
  rem=$(left)
  for q in "${ALL_PHASES[@]}"; do
    if [ "$q" = "$p" ]; then after=1; continue; fi
    [ "$after" = 1 ] && will_run "$q" && reserve=$((reserve + MINT[$q]))
  done
  t=$((rem - reserve))
  [ "$t" -ge "${MINT[$p]}" ] || t=$rem
  [ "$t" -le "${CAP[$p]}" ] || t=${CAP[$p]}
  echo "$t"
}
begin() { # $1 = phase; false (with the status set) when it does not run
  local p=$1 why
  if [ -z "${ENABLED[$p]:-}" ]; then ST[$p]=off; return 1; fi
  why=$(deps_missing "$p")
  if [ -n "$why" ]; then
    ST[$p]=SKIPPED; NOTE[$p]=$why; SECS[$p]=0
    echo; echo "== [$p] ${DESC[$p]}: SKIPPED: $why"
    return 1
  fi
  PH_LIMIT=$(phase_limit "$p")
  if [ "$PH_LIMIT" -lt "${MINT[$p]}" ]; then
    ST[$p]=SKIPPED; NOTE[$p]="out of time (${PH_LIMIT}s left of the ${BUDGET}s budget)"; SECS[$p]=0
    echo; echo "== [$p] ${DESC[$p]}: SKIPPED: ${NOTE[$p]}"
    return 1
  fi
  PH_T0=$SECONDS
  echo; echo "== [$p] ${DESC[$p]} (limit ${PH_LIMIT}s; $(elapsed)s of ${BUDGET}s used)"
  return 0
}
end() { # $1 = phase, $2 = status, $3 = note
  ST[$1]=$2; NOTE[$1]=${3:-}; SECS[$1]=$((SECONDS - PH_T0))
  echo "== [$1] $2 in ${SECS[$1]}s${3:+: $3} (total $(elapsed)s)"
}
# "N passed, N failed[, N skipped]" of a test output: sets NP, NF, NS (empty when absent)
parse_summary() {
  local line
  line=$(grep -aE '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
  NP=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
  NF=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
  NS=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+')
}
src_hash() { # the same as ci/gpu-prepare.sh's
  { find core/src/main cli/src/main bindings/src/main -type f 2>/dev/null; ls pom.xml core/pom.xml cli/pom.xml bindings/pom.xml 2>/dev/null; } \
    | LC_ALL=C sort | xargs sha1sum 2>/dev/null | sha1sum | cut -c1-16
}
info_value() { sed -n "s/^$1=//p" "$G/info.txt" 2>/dev/null | head -1; }

echo "gpu-check: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $ROOT; OUT=$OUT; budget ${BUDGET}s"
echo "gpu-check: phases: $(for p in "${ALL_PHASES[@]}"; do [ -n "${ENABLED[$p]:-}" ] && printf '%s ' "$p"; done)"

# ================= info =================
HAVE_GPU=""
if begin info; then
  echo "host: $(hostname 2>/dev/null) kernel $(uname -r) $(uname -m)"
  if command -v nvidia-smi >/dev/null 2>&1; then
    GPUS=$(tmo nvidia-smi -L 2>&1)
    echo "$GPUS"
    grep -q '^GPU [0-9]' <<<"$GPUS" && HAVE_GPU=1
    if [ -n "$HAVE_GPU" ]; then
      tmo nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.used,utilization.gpu,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv 2>&1
      tmo nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader 2>&1 | sed 's/^/other GPU process: /'
    fi
  else
    echo "nvidia-smi: not found"
  fi
  if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
    echo "nvcc: $({ command -v nvcc || echo /usr/local/cuda/bin/nvcc; } | head -1): $({ nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version; } | grep -E 'release' | head -1)"
  else
    echo "nvcc: not found"
  fi
  echo "cpu: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "memory: $(free -g 2>/dev/null | awk '/^Mem:/{print $2 " GiB total, " $7 " GiB available"}'); disk: $(df -h . 2>/dev/null | awk 'NR==2{print $4 " free"}')"
  echo "tools: cmake $(cmake --version 2>/dev/null | head -1 | awk '{print $3}'), gcc $(gcc -dumpfullversion 2>/dev/null), make $(command -v make >/dev/null && echo yes || echo no), ninja $(command -v ninja >/dev/null && echo yes || echo no), python3 $(python3 -c 'import sys; print(sys.version.split()[0], sys.executable)' 2>/dev/null)"
  if [ -f "$G/info.txt" ]; then
    echo "build/gpu: $(tr '\n' ' ' <"$G/info.txt")"
    if [ "$(info_value sources)" != "$(src_hash)" ]; then
      echo "WARNING: build/gpu/lib was built from other Java sources than this tree's: run ci/gpu-prepare.sh again. The CLI phases run the carried jars."
    fi
  else
    echo "build/gpu: not here (the CLI phases need it: ci/gpu-prepare.sh on the development machine, and carry build/gpu)"
  fi
  if [ -z "$HAVE_GPU" ]; then
    if [ -z "$ALLOW_NO_GPU" ]; then
      end info FAIL "no NVIDIA GPU"
      echo "gpu-check: no NVIDIA GPU here (nvidia-smi $(command -v nvidia-smi >/dev/null && echo 'lists none' || echo 'is missing')). This script runs on the GPU machine (device tool: command 'bash ci/gpu-check.sh', carry [\"build/gpu\"]); --allow-no-gpu goes on anyway."
      exit 2
    fi
    end info OK "no GPU (--allow-no-gpu: going on)"
  else
    end info OK
  fi
fi

# ================= build =================
if begin build; then
  NVCC=""
  for c in /usr/local/cuda/bin/nvcc "$(command -v nvcc 2>/dev/null)"; do
    [ -n "$c" ] && [ -x "$c" ] && { NVCC=$c; break; }
  done
  CMAKE=$(command -v cmake 2>/dev/null)
  if [ -z "$CMAKE" ]; then # pip's cmake, beside the python3 that holds PyTorch
    c="$(dirname "$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)")/cmake"
    [ -x "$c" ] && CMAKE=$c
  fi
  if [ -z "$CMAKE" ]; then
    end build FAIL "cmake not found"
  elif [ -z "$NVCC" ]; then
    end build FAIL "nvcc not found (neither /usr/local/cuda/bin/nvcc nor on PATH)"
  else
    [ -n "$CLEAN" ] && rm -rf "$BUILD"
    GEN=()
    if ! command -v make >/dev/null 2>&1 && command -v ninja >/dev/null 2>&1; then GEN=(-G Ninja); fi
    ARGS=(-S native -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DPANLORA_CUDA=ON -DPANLORA_CUDA_EMU=OFF "-DCMAKE_CUDA_COMPILER=$NVCC")
    if [ -n "$GENCODE" ]; then ARGS+=("-DPANLORA_CUDA_GENCODE=$GENCODE"); else ARGS+=(-UPANLORA_CUDA_GENCODE); fi
    echo "cmake ${ARGS[*]}"
    rm -f "$BUILD/libpanlora_cuda.so" "$BUILD/libpanlora.so" "$BUILD/test_cuda" 2>/dev/null
    tmo "$CMAKE" "${ARGS[@]}" >"$OUT/build.log" 2>&1
    rc=$?
    grep -E '^-- panlora:' "$OUT/build.log"
    if [ "$rc" = 0 ]; then
      echo "cmake --build native/build-gpu -j $JOBS"
      tmo "$CMAKE" --build "$BUILD" -j "$JOBS" >>"$OUT/build.log" 2>&1
      rc=$?
    fi
    NWARN=$(grep -c -i 'warning' "$OUT/build.log")
    if [ "$rc" != 0 ]; then
      echo "---- the end of build.log ----"
      grep -n -m 30 -E 'error|Error' "$OUT/build.log"
      echo "----"
      tail -n 40 "$OUT/build.log"
      if timed_out "$rc"; then end build TIMEOUT "the build ran past its limit (build.log)"
      else end build FAIL "cmake exit $rc, $NWARN warning lines (errors above; full log: build.log)"; fi
    elif [ ! -f "$BUILD/libpanlora_cuda.so" ]; then
      end build FAIL "libpanlora_cuda.so was not built (CMake did not enable CUDA: see build.log)"
    else
      ls -la "$BUILD"/libpanlora.so "$BUILD"/libpanlora_cuda.so "$BUILD"/test_cuda 2>&1
      CUOBJDUMP=$(command -v cuobjdump 2>/dev/null || echo "$(dirname "$NVCC")/cuobjdump")
      if [ -x "$CUOBJDUMP" ]; then
        echo "device code (cubins per arch):$(tmo "$CUOBJDUMP" --list-elf "$BUILD/libpanlora_cuda.so" 2>/dev/null | grep -oE 'sm_[0-9]+[a-z]?' | sort | uniq -c | tr -s ' \n' ' ')"
      fi
      echo "dynamic CUDA libraries: $(ldd "$BUILD/libpanlora_cuda.so" 2>/dev/null | grep -E 'cuda|cublas' | awk '{print $1}' | tr '\n' ' ')(none expected: static cudart, cuBLASLt opened at run time)"
      end build PASS "$NWARN warning lines"
    fi
  fi
fi

# ================= cublas =================
if begin cublas; then
  FOUND=$(tmo python3 - <<'PY' 2>&1
import glob, os, site, sys, sysconfig
roots = []
def add(p):
    if p and os.path.isdir(p) and p not in roots:
        roots.append(p)
try:
    for p in site.getsitepackages():
        add(p)
except Exception:
    pass
try:
    add(site.getusersitepackages())
except Exception:
    pass
for k in ("purelib", "platlib"):
    add(sysconfig.get_paths().get(k))
for p in sys.path:
    if p.endswith(("site-packages", "dist-packages")):
        add(p)
found = []
for mod in ("nvidia.cublas", "nvidia"):  # nvidia-cublas-cu12: nvidia/cublas/lib; nvidia-cublas (13): nvidia/cu13/lib
    try:
        m = __import__(mod, fromlist=["_"])
    except Exception:
        continue
    bases = list(getattr(m, "__path__", []))
    for b in bases:
        for sub in ("lib", "cu13/lib", "cublas/lib"):
            found += glob.glob(os.path.join(b, sub, "libcublasLt.so.1[23]"))
for r in roots:
    found += glob.glob(os.path.join(r, "nvidia", "*", "lib", "libcublasLt.so.1[23]"))
uniq = []
for f in found:
    try:
        big = os.path.getsize(os.path.realpath(f)) > 10 * 2 ** 20  # the real one is hundreds of MB; stubs are not
    except OSError:
        big = False
    if big and f not in uniq:
        uniq.append(f)
uniq.sort(key=lambda f: (not f.endswith(".13"), f))
print("\n".join(uniq))
PY
)
  # shellcheck disable=SC2001
  sed 's/^/python: /' <<<"${FOUND:-(python found none)}"
  CUB=$(grep -E '^/.*libcublasLt\.so\.1[23]$' <<<"$FOUND" | head -1)
  if [ -z "$CUB" ]; then
    echo "searching the file system for libcublasLt.so.13/.12 ..."
    # the real library is hundreds of MB; our build's stub (native/build-gpu/stub) and other stubs are not it
    LIST=$(tmo find / -xdev \( -name libcublasLt.so.13 -o -name libcublasLt.so.12 \) -size +10M -not -path '*/stub*/*' 2>/dev/null | head -20)
    # shellcheck disable=SC2001
    sed 's/^/found: /' <<<"${LIST:-(none)}"
    CUB=$({ grep '\.13$' <<<"$LIST"; grep '\.12$' <<<"$LIST"; } | head -1)
  fi
  if [ -n "$CUB" ]; then
    PANLORA_CUBLAS_DIR=$(dirname "$CUB")
    export PANLORA_CUBLAS_DIR
    echo "PANLORA_CUBLAS_DIR=$PANLORA_CUBLAS_DIR ($(basename "$CUB") -> $(basename "$(readlink -f "$CUB")"), $(du -h "$(readlink -f "$CUB")" | cut -f1))"
    end cublas OK "$CUB"
  else
    end cublas WARN "no libcublasLt.so.13/.12 found; PANLORA_CUBLAS_DIR unset (the loader searches on its own)"
  fi
fi

# ================= test =================
if begin test; then
  tmo "$BUILD/test_cuda" 2>&1 | tee "$TMPD/test_cuda.out"
  rc=${PIPESTATUS[0]}
  parse_summary "$TMPD/test_cuda.out"
  TEST_SUMMARY="${NP:-?} passed, ${NF:-?} failed${NS:+, $NS skipped}"
  NFAIL_LINES=$(grep -ac '^FAIL' "$TMPD/test_cuda.out")
  if [ "$NFAIL_LINES" -gt 0 ]; then
    echo "---- the failed checks ----"
    grep -a '^FAIL' "$TMPD/test_cuda.out" | head -30
  fi
  if timed_out "$rc"; then end test TIMEOUT "test_cuda ran past ${PH_LIMIT}s"
  elif [ -z "$NP" ] || [ -z "$NF" ]; then end test FAIL "no 'N passed, N failed' line (exit $rc)"
  elif [ "$rc" != 0 ] || [ "$NF" != 0 ]; then end test FAIL "$TEST_SUMMARY (exit $rc)"
  elif [ -n "$HAVE_GPU" ] && grep -aq 'GPU checks skipped' "$TMPD/test_cuda.out"; then
    end test FAIL "the GPU checks were skipped on a machine with a GPU: $(grep -a -m1 'GPU checks skipped' "$TMPD/test_cuda.out" | sed 's/.*skipped: *//')"
  elif [ "$NP" = 0 ] && [ -n "$HAVE_GPU" ]; then end test FAIL "nothing ran on the GPU: $TEST_SUMMARY"
  else end test PASS "$TEST_SUMMARY"
  fi
fi

# ================= the Java runtime (for check and bench) =================
JAVA=""
MAIN=""
ensure_java() { # sets JAVA and MAIN; unpacks build/gpu/jdk.tar.xz into build/gpu-run/jdk (never carried) when needed
  [ -n "$JAVA" ] && return 0
  MAIN=$(info_value main)
  MAIN=${MAIN:-io.panlora.cli.Main}
  if [ -x "$G/jdk/bin/java" ]; then
    JAVA="$G/jdk/bin/java"
  else
    local run="$ROOT/build/gpu-run/jdk" sha
    sha=$(sha1sum "$G/jdk.tar.xz" | cut -c1-16)
    if [ "$(cat "$run/.archive" 2>/dev/null)" != "$sha" ] || [ ! -x "$run/bin/java" ]; then
      echo "unpacking build/gpu/jdk.tar.xz into build/gpu-run/jdk"
      rm -rf "$run" && mkdir -p "$run" || return 1
      if command -v xz >/dev/null 2>&1; then
        tmo tar -C "$run" -xJf "$G/jdk.tar.xz" || return 1
      else
        tmo python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$G/jdk.tar.xz" "$run" || return 1
      fi
      echo "$sha" >"$run/.archive"
    fi
    JAVA="$run/bin/java"
  fi
  "$JAVA" -version 2>&1 | head -1 | sed 's/^/java: /'
  "$JAVA" -version >/dev/null 2>&1 || { JAVA=""; return 1; }
}
cli_rejected() { # picocli's usage errors (exit 2, like gpu-check's "no GPU"): told apart by their message
  grep -aqE '^(Unmatched argument|Unknown option|Missing required|Invalid value)|panlora: unknown command' "$1"
}
java_cli() { # the CLI as ./panlora runs it, on the carried runtime and jars, with the library built here
  tmo "$JAVA" --enable-native-access=ALL-UNNAMED -Xss8m -Djava.awt.headless=true \
    -Dpanlora.library.dir="$BUILD" -Dpanlora.home="$ROOT" -cp "$G/lib/*" "$MAIN" "$@"
}

# ================= check =================
if begin check; then
  if ! ensure_java; then
    end check FAIL "the carried Java runtime does not start (build/gpu)"
  else
    echo "panlora gpu-check --steps $STEPS"
    java_cli gpu-check --steps "$STEPS" 2>&1 | tee "$TMPD/gpu-check.out"
    rc=${PIPESTATUS[0]}
    parse_summary "$TMPD/gpu-check.out"
    CHECK_SUMMARY="${NP:-?} passed, ${NF:-?} failed"
    if timed_out "$rc"; then end check TIMEOUT "gpu-check ran past ${PH_LIMIT}s"
    elif cli_rejected "$TMPD/gpu-check.out"; then end check FAIL "the CLI rejected the command line (exit $rc): jars older than gpu-check? run ci/gpu-prepare.sh"
    elif [ "$rc" = 2 ]; then end check FAIL "panlora found no usable GPU (exit 2)"
    elif [ "$rc" != 0 ]; then end check FAIL "$CHECK_SUMMARY (exit $rc)"
    elif [ -z "$NP" ]; then end check FAIL "exit 0 but no 'N passed, N failed' line"
    else end check PASS "$CHECK_SUMMARY"
    fi
  fi
fi

# ================= bench =================
if begin bench; then
  rm -f "$OUT/panlora-bench.json"
  if ! ensure_java; then
    end bench FAIL "the carried Java runtime does not start (build/gpu)"
  else
    echo "panlora bench train --device cuda --preset $PRESETS --types $TYPES --batch $BATCH --tokens $TOKENS --rank $RANK --reps $REPS"
    java_cli bench train --device cuda --preset "$PRESETS" --types "$TYPES" --batch "$BATCH" --tokens "$TOKENS" \
      --rank "$RANK" --targets all --reps "$REPS" --json "$OUT/panlora-bench.json" 2>&1 | tee "$TMPD/bench.out"
    rc=${PIPESTATUS[0]}
    if timed_out "$rc"; then end bench TIMEOUT "ran past ${PH_LIMIT}s$([ -f "$OUT/panlora-bench.json" ] && echo '; partial JSON kept')"
    elif cli_rejected "$TMPD/bench.out"; then end bench FAIL "the CLI rejected the command line (exit $rc): jars without --device/--json? run ci/gpu-prepare.sh"
    elif [ "$rc" != 0 ]; then end bench FAIL "exit $rc"
    elif [ ! -s "$OUT/panlora-bench.json" ]; then end bench FAIL "exit 0 but no $OUT/panlora-bench.json"
    else end bench OK "panlora-bench.json"
    fi
  fi
fi

# ================= peft =================
if begin peft; then
  rm -f "$OUT/peft-bench.json"
  TL=$(( $(ph_left) - 5 ))
  tmo python3 ci/peft_baseline.py --preset "$PRESETS" --batch "$BATCH" --tokens "$TOKENS" --rank "$RANK" --reps "$REPS" \
    --targets "$PEFT_TARGETS" --json "$OUT/peft-bench.json" --time-limit "$TL"
  rc=$?
  if timed_out "$rc"; then end peft TIMEOUT "ran past ${PH_LIMIT}s$([ -f "$OUT/peft-bench.json" ] && echo '; partial JSON kept')"
  elif [ "$rc" = 2 ]; then end peft FAIL "PyTorch with CUDA, transformers or peft not usable here"
  elif [ "$rc" != 0 ]; then end peft FAIL "exit $rc"
  else end peft OK "peft-bench.json"
  fi
fi

# ================= table =================
if begin table; then
  if [ ! -s "$OUT/panlora-bench.json" ] && [ ! -s "$OUT/peft-bench.json" ]; then
    end table SKIPPED "neither benchmark wrote its JSON"
  else
    tmo python3 - "$OUT/panlora-bench.json" "$OUT/peft-bench.json" "$OUT/bench.md" <<'PY'
import json, math, os, re, sys

def load(path):
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None, "missing"
    try:
        with open(path) as fh:
            return json.load(fh), ""
    except Exception as exc:  # a run cut short can leave a broken file
        return None, f"unreadable ({type(exc).__name__}: {exc})"

def norm(k):
    return re.sub(r"[^a-z0-9]", "", str(k).lower())

def rows_of(doc):
    if isinstance(doc, list):
        return [r for r in doc if isinstance(r, dict)]
    if isinstance(doc, dict):
        for k in ("rows", "results", "runs", "benchmarks", "entries", "data"):
            v = doc.get(k)
            if isinstance(v, list):
                return [r for r in v if isinstance(r, dict)]
        if any(norm(k) in ("preset", "model", "shape") for k in doc):
            return [doc]
    return []

def get(row, *names):
    n = {norm(k): v for k, v in row.items()}
    for name in names:
        if norm(name) in n and n[norm(name)] is not None:
            return n[norm(name)]
    return None

def num(v):
    try:
        x = float(v)
        return x if math.isfinite(x) else None
    except (TypeError, ValueError):
        return None

def fields(row):
    """(preset, type, tokens/s, MFU %, peak GiB, status) of one row of either tool, whatever the key spelling."""
    preset = str(get(row, "preset", "model", "shape", "name") or "?").strip().lower()
    typ = str(get(row, "type", "base_type", "basetype", "base", "weight_type", "wtype", "dtype") or "BF16").upper()
    tps = num(get(row, "tokens_per_s", "tokens_per_sec", "tokens_per_second", "tokens/s", "tok_s", "tps", "throughput"))
    if tps is None:
        sps = num(get(row, "s_per_step", "seconds_per_step", "step_s", "s/step"))
        b, t = num(get(row, "batch")), num(get(row, "tokens"))
        if sps and b and t:
            tps = b * t / sps
    mfu = None
    for k in ("mfu_pct", "mfu_percent", "of_peak_pct", "of_peak"):
        if get(row, k) is not None:
            mfu = num(get(row, k))
            break
    if mfu is None and num(get(row, "mfu")) is not None:
        m = num(get(row, "mfu"))
        mfu = m * 100 if m <= 1.5 else m
    peak = num(get(row, "peak_gib", "peak_mem_gib", "peak_memory_gib", "peak_device_gib", "device_peak_gib", "mem_gib"))
    if peak is None:
        b = num(get(row, "peak_bytes", "peak_memory_bytes", "peak_device_bytes", "device_peak_bytes", "peak_memory"))
        if b is not None:
            peak = b / 2 ** 30
        else:
            m = num(get(row, "peak_mib", "peak_mem_mib", "peak_memory_mib"))
            peak = m / 1024 if m is not None else None
    status = str(get(row, "status", "error") or "ok")
    return preset, typ, tps, mfu, peak, status

def f(v, fmt):
    return "-" if v is None else format(v, fmt)

pl_doc, pl_why = load(sys.argv[1])
pf_doc, pf_why = load(sys.argv[2])
pl = [fields(r) for r in rows_of(pl_doc)]
pf = {}
pf_mfu = {}
for r in rows_of(pf_doc):
    x = fields(r)
    pf[x[0]] = x
order = []
for x in pl:
    if x[0] not in order:
        order.append(x[0])
for k in pf:
    if k not in order:
        order.append(k)

head = ["shape", "base type", "panlora tokens/s", "panlora MFU", "panlora peak GiB",
        "PEFT tokens/s", "PEFT MFU", "PEFT peak GiB", "panlora / PEFT"]
lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
for shape in order:
    ours = [x for x in pl if x[0] == shape] or [(shape, "-", None, None, None, "not run")]
    ref = pf.get(shape)
    for x in ours:
        ok = x[5].lower() in ("ok", "pass", "passed", "")
        cells = [shape, x[1],
                 f(x[2], ",.0f") if ok else x[5], f(x[3], ".1f") + ("%" if x[3] is not None else ""), f(x[4], ".2f")]
        if ref is None:
            cells += ["-", "-", "-"]
        elif ref[5].lower() != "ok":
            cells += [ref[5], "-", "-"]
        else:
            cells += [f(ref[2], ",.0f"), f(ref[3], ".1f") + ("%" if ref[3] is not None else ""), f(ref[4], ".2f")]
        ratio = (x[2] / ref[2]) if (ok and x[2] and ref is not None and ref[5].lower() == "ok" and ref[2]) else None
        cells.append(f(ratio, ".2f") + ("x" if ratio is not None else ""))
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")

notes = []
def cfg(doc):
    return doc.get("config", {}) if isinstance(doc, dict) and isinstance(doc.get("config"), dict) else {}
if pl_doc is None:
    notes.append(f"panlora: no results (panlora-bench.json {pl_why}).")
else:
    d = pl_doc if isinstance(pl_doc, dict) else {}
    c = cfg(pl_doc)
    bits = [f"{k} {v}" for k, v in list(c.items())[:12]] if c else []
    for k in ("device", "gpu", "machine", "engine"):
        if d.get(k):
            bits.append(f"{k}: {d[k]}")
    notes.append("panlora: " + ("; ".join(str(b) for b in bits) if bits else "see panlora-bench.json") + ".")
if pf_doc is None:
    notes.append(f"PEFT: no results (peft-bench.json {pf_why}).")
else:
    e = pf_doc.get("env", {}) if isinstance(pf_doc, dict) else {}
    c = cfg(pf_doc)
    notes.append(f"PEFT: {e.get('gpu', '?')}; torch {e.get('torch', '?')} (CUDA {e.get('cuda', '?')}), transformers "
                 f"{e.get('transformers', '?')}, peft {e.get('peft', '?')}; bf16 base for every row (also against our "
                 f"quantized bases), sdpa attention, LoRA r {c.get('rank', '?')} alpha {c.get('alpha', '?')} on "
                 f"{','.join(c.get('targets', []) or ['?'])}, {c.get('adapter_dtype', 'PEFT default adapter dtype')}; "
                 f"batch {c.get('batch', '?')} x {c.get('tokens', '?')}, {c.get('warmup', '?')} warm-up + "
                 f"{c.get('reps', '?')} timed steps; MFU against torch's bf16 8192^3 matmul of the same run "
                 f"({f(num(pf_doc.get('peak_tflops_bf16')), '.0f')} TFLOP/s).")
    for r in rows_of(pf_doc):
        if r.get("note"):
            notes.append(f"PEFT {r.get('preset')}: {r['note']}.")
def target_set(v):
    if v is None:
        return None
    items = v if isinstance(v, list) else re.split(r"[,\s]+", str(v))
    short = {"q_proj": "q", "k_proj": "k", "v_proj": "v", "o_proj": "o", "gate_proj": "gate", "up_proj": "up",
             "down_proj": "down", "attn_q": "q", "attn_k": "k", "attn_v": "v", "attn_output": "o", "ffn_gate": "gate",
             "ffn_up": "up", "ffn_down": "down"}
    out = set()
    for t in items:
        t = str(t).strip().lower()
        if t == "all":
            out |= {"q", "k", "v", "o", "gate", "up", "down"}
        elif t in ("attn", "qkvo"):
            out |= {"q", "k", "v", "o"}
        elif t in ("ffn", "mlp"):
            out |= {"gate", "up", "down"}
        elif t:
            out.add(short.get(t, t))
    return out
pl_t = target_set(cfg(pl_doc).get("targets")) if pl_doc is not None else None
pf_t = target_set(cfg(pf_doc).get("targets")) if pf_doc is not None else None
if pl_t and pf_t and pl_t != pf_t:
    notes.append(f"WARNING: the adapted linears differ (panlora {','.join(sorted(pl_t))}, PEFT {','.join(sorted(pf_t))}): "
                 "the ratio compares unequal work; rerun peft_baseline.py with --targets to match.")
notes.append("tokens/s = batch x tokens per optimizer step / seconds per step; peak = the most device memory held "
             "(PEFT: torch.cuda.max_memory_allocated); ratio = panlora tokens/s / PEFT tokens/s.")
text = "\n".join(lines) + "\n\n" + "\n".join("- " + n for n in notes) + "\n"
print(text)
with open(sys.argv[3], "w") as fh:
    fh.write(text)
PY
    rc=$?
    if [ "$rc" = 0 ]; then end table OK "bench.md"; else end table FAIL "exit $rc"; fi
  fi
fi

# ================= summary =================
echo
echo "== summary ($(elapsed)s of ${BUDGET}s)"
printf '%-7s %-8s %6s  %s\n' phase status secs note
for p in "${ALL_PHASES[@]}"; do
  printf '%-7s %-8s %6s  %s\n' "$p" "${ST[$p]:-off}" "${SECS[$p]:-0}" "${NOTE[$p]:-}"
done
{
  for p in "${ALL_PHASES[@]}"; do printf '%s\t%s\t%s\t%s\n' "$p" "${ST[$p]:-off}" "${SECS[$p]:-0}" "${NOTE[$p]:-}"; done
} >"$TMPD/summary.tsv"
python3 - "$TMPD/summary.tsv" "$OUT/summary.json" "$(elapsed)" "$BUDGET" <<'PY' 2>/dev/null || true
import json, sys
phases = []
for line in open(sys.argv[1]):
    p, s, t, n = (line.rstrip("\n").split("\t") + ["", "", "", ""])[:4]
    phases.append({"phase": p, "status": s, "seconds": int(t or 0), "note": n})
json.dump({"seconds": int(sys.argv[3]), "budget": int(sys.argv[4]), "phases": phases}, open(sys.argv[2], "w"), indent=2)
PY

# The verdict: build, test_cuda and gpu-check, where they were asked for.
FAILED=()
for p in build test check; do
  [ -n "${ENABLED[$p]:-}" ] || continue
  case "${ST[$p]:-}" in PASS) ;; *) FAILED+=("$p: ${ST[$p]:-not run}${NOTE[$p]:+ (${NOTE[$p]})}") ;; esac
done
TP=0; TF=0
for s in "${ST[test]:-}|${NOTE[test]:-}" "${ST[check]:-}|${NOTE[check]:-}"; do
  n=${s#*|}
  p=$(grep -oE '^[0-9]+ passed' <<<"$n" | grep -oE '[0-9]+'); f=$(grep -oE '[0-9]+ failed' <<<"$n" | head -1 | grep -oE '[0-9]+')
  TP=$((TP + ${p:-0})); TF=$((TF + ${f:-0}))
done
echo
if [ ${#FAILED[@]} = 0 ]; then
  echo "gpu-check: PASS in $(elapsed)s (test_cuda and panlora gpu-check together: $TP passed, $TF failed)"
  exit 0
fi
printf 'gpu-check: FAIL: %s\n' "${FAILED[@]}"
echo "gpu-check: test_cuda and panlora gpu-check together: $TP passed, $TF failed"
echo "gpu-check: after a fix, a shorter second run: bash ci/gpu-check.sh --phases build,test,check --budget 200"
exit 1
