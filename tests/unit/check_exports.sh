#!/usr/bin/env bash
# Compares the dynamic symbols libstrata.so defines with the allow-list.
set -euo pipefail
lib=$1
list=$2
actual=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)
expected=$(grep -v '^#' "$list" | sed '/^$/d' | sort -u)
if [ "$actual" != "$expected" ]; then
  echo "exported symbols differ from $list (< exported, > allowed):"
  diff <(echo "$actual") <(echo "$expected") || true
  exit 1
fi
# strata's API is versioned (strata_*@@STRATA_0.1); the interposed names are
# not: a versioned malloc would not bind the programs' malloc@GLIBC_* references.
wrong=$(nm -D --defined-only "$lib" | awk '$2 != "A" {
  v = ($3 ~ /^strata_/) ? ($3 ~ /@@STRATA_[0-9.]+$/) : ($3 !~ /@/); if (!v) print $3 }')
if [ -n "$wrong" ]; then
  echo "symbols with the wrong version (strata_* need @@STRATA_*, the rest none):"
  echo "$wrong"
  exit 1
fi
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
case "$soname" in
  libstrata.so.[0-9]*) ;;
  *) echo "libstrata has no versioned SONAME (found \"$soname\")"; exit 1 ;;
esac
# What every exec under the preload loads (docs/benchmarks.md, "Per-exec cost"):
# libc and the loader only. The C++ runtime is static and hidden, libm is
# opened on first use (base/libm.h), the optional libraries with dlopen.
# A sanitizer build adds its runtime (libubsan, libasan, ...): left out here.
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -v '^lib[a-z]*san\.so' |
  sort | tr '\n' ' ')
if [ "$needed" != "ld-linux-x86-64.so.2 libc.so.6 " ]; then
  echo "libstrata NEEDs \"$needed\" (expected only libc.so.6 and ld-linux-x86-64.so.2)"
  exit 1
fi
echo "exports: $(echo "$actual" | wc -l) symbols, all on the allow-list; SONAME $soname;" \
  "NEEDED: $needed"
