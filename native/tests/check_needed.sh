#!/bin/sh
# Checks that a shared library needs nothing beyond the C library (libc, libm, libdl, libpthread, librt, the dynamic
# loader): no OpenBLAS, no OpenMP run time, no libstdc++, so it loads on any glibc Linux. Usage: check_needed.sh LIB
set -eu
lib="$1"
if command -v readelf >/dev/null 2>&1; then
  needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p')
elif command -v objdump >/dev/null 2>&1; then
  needed=$(objdump -p "$lib" | awk '$1 == "NEEDED" { print $2 }')
else
  echo "check_needed: neither readelf nor objdump found; skipped"; exit 0
fi
bad=$(printf '%s\n' "$needed" | grep -v -E '^(libc|libm|libdl|libpthread|librt)\.so\.[0-9]+$|^ld-linux[-a-z0-9_.]*\.so\.[0-9]+$|^$' || true)
echo "check_needed: $lib needs: $(printf '%s ' $needed)"
if [ -n "$bad" ]; then
  echo "check_needed: FAIL: unexpected dependencies: $(printf '%s ' $bad)"
  exit 1
fi
echo "check_needed: 1 passed, 0 failed"
