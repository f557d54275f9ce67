#!/usr/bin/env bash
# Installing strata like a library:
#   1. cmake --install into a staging prefix: the layout, the SONAME, and an
#      example program built against the staged header with pkg-config and with
#      find_package(strata); an unmodified program run by the staged strata-run;
#   2. the .deb (CPack): its dependencies, then dpkg -i into this system:
#      strata-run from the PATH, pkg-config and find_package against /usr, the
#      man pages; the package is removed again at the end (also on failure).
# Step 2 needs root and dpkg; without them it is skipped (exit 77) after step 1.
#   install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
work=$(mktemp -d)
installed_deb=0
cleanup() {
  if [ "$installed_deb" = 1 ]; then
    dpkg --purge strata >/dev/null 2>&1 || echo "install: WARN: dpkg --purge strata failed"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "install: FAIL: $*"; exit 1; }
ok() { echo "install: ok: $*"; }
export DEBUGINFOD_URLS=

# build_example NAME PKG_CONFIG_PATH CMAKE_PREFIX_PATH [LD_LIBRARY_PATH]
build_example() {
  local name=$1 pcpath=$2 prefix=$3 ldpath=${4:-}
  local flags
  flags=$(PKG_CONFIG_PATH=$pcpath pkg-config --cflags --libs strata) || fail "$name: pkg-config"
  # shellcheck disable=SC2086
  cc -Wall -Wextra -Werror -o "$work/$name-pc" "$src/examples/hello/hello.c" $flags ||
    fail "$name: cc with pkg-config flags '$flags'"
  local out
  out=$(LD_LIBRARY_PATH=$ldpath "$work/$name-pc") || fail "$name: pkg-config program failed"
  case "$out" in strata*) ;; *) fail "$name: pkg-config program runs without strata: $out" ;; esac
  ok "$name: pkg-config --cflags --libs strata = '$flags'; linked program: $out"
  cmake -S "$src/examples/hello" -B "$work/$name-cmake" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    >"$work/$name-cmake.log" 2>&1 || { cat "$work/$name-cmake.log"; fail "$name: find_package"; }
  cmake --build "$work/$name-cmake" >>"$work/$name-cmake.log" 2>&1 ||
    { cat "$work/$name-cmake.log"; fail "$name: cmake build"; }
  out=$(LD_LIBRARY_PATH=$ldpath "$work/$name-cmake/hello") || fail "$name: cmake program failed"
  case "$out" in strata*) ;; *) fail "$name: find_package program runs without strata: $out" ;; esac
  local preload
  preload=$(cat "$work/$name-cmake/preload.txt")
  [ -f "$preload" ] || fail "$name: STRATA_PRELOAD_LIBRARY '$preload' is not a file"
  # The preload path serves an unmodified program (one not linked with strata).
  cc -o "$work/plain" -x c - <<<'#include <stdlib.h>
int main(void) { return malloc(1) == NULL; }'
  STRATA_STATS=1 LD_PRELOAD=$preload "$work/plain" 2>"$work/$name-stats.txt" ||
    fail "$name: preloaded program failed"
  grep -qi "tier" "$work/$name-stats.txt" || fail "$name: no strata statistics from LD_PRELOAD=$preload"
  ok "$name: find_package(strata): strata::strata linked program: $out; STRATA_PRELOAD_LIBRARY=$preload"
}

# run_unmodified NAME STRATA_RUN
run_unmodified() {
  local name=$1 run=$2
  "$run" --stats -- sqlite3 :memory: 'SELECT 6 * 7;' >"$work/$name-run.out" 2>"$work/$name-run.err" ||
    { cat "$work/$name-run.err"; fail "$name: $run -- sqlite3 failed"; }
  grep -qx 42 "$work/$name-run.out" || fail "$name: sqlite3 printed $(cat "$work/$name-run.out")"
  grep -qi "tier" "$work/$name-run.err" || fail "$name: no strata statistics from $run"
  ok "$name: $run --stats -- sqlite3 runs under strata"
}

# ---- 1. staging prefix
stage=$work/stage
cmake --install "$build" --prefix "$stage" >"$work/install.log" || fail "cmake --install"
pc=$(find "$stage" -name strata.pc | head -1)
[ -n "$pc" ] || fail "no strata.pc installed"
libdir=$(sed -n 's/^libdir=\${prefix}\///p' "$pc")
for f in bin/strata-run bin/strata-report include/strata/strata.h "$libdir/libstrata.so" \
  "$libdir/libstrata.so.0" "$libdir/pkgconfig/strata.pc" "$libdir/cmake/strata/strataConfig.cmake" \
  share/man/man1/strata-run.1 share/man/man1/strata-report.1 share/man/man3/strata.h.3 \
  share/man/man7/strata.7; do
  [ -e "$stage/$f" ] || fail "not installed: $f"
done
soname=$(readelf -d "$stage/$libdir/libstrata.so.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libstrata.so.0 ] || fail "SONAME is '$soname', expected libstrata.so.0"
readelf -V "$stage/$libdir/libstrata.so.0" | grep -q "Name: STRATA_0.1" || fail "no STRATA_0.1 version node"
ok "staged layout: $(cd "$stage" && find . -type f -o -type l | sort | tr '\n' ' ')"
# Every STRATA_* variable of the options table is on the strata(7) page.
for v in $("$stage/bin/strata-run" --options-table | sed -n 's/^| `\(STRATA_[A-Z_]*\)`.*/\1/p'); do
  grep -q "^\.B $v\$" "$stage/share/man/man7/strata.7" || fail "strata(7) lacks $v"
done
for page in "$stage"/share/man/man*/*; do
  warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
  [ -z "$warn" ] || fail "$(basename "$page"): $warn"
done
ok "man pages render without warnings; strata(7) lists every STRATA_* variable"
# strata-run finds the library next to itself, also when copied with it elsewhere.
mkdir -p "$work/moved"
cp -a "$stage/bin" "$stage/lib" "$work/moved/"
STRATA_STATS=1 "$work/moved/bin/strata-run" -- /bin/true 2>"$work/moved.err" || fail "moved strata-run"
grep -qi tier "$work/moved.err" || fail "moved strata-run did not preload the library next to it"
ok "strata-run finds ../$libdir/libstrata.so.0 relative to itself"
run_unmodified staged "$stage/bin/strata-run"
build_example staged "$stage/$libdir/pkgconfig" "$stage" "$stage/$libdir"

# ---- 2. the Debian package
if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null || ! command -v dpkg-shlibdeps >/dev/null; then
  echo "install: SKIP: installing the .deb needs root, dpkg and dpkg-shlibdeps (dpkg-dev)"
  exit 77
fi
if dpkg -s strata >/dev/null 2>&1; then
  echo "install: SKIP: a strata package is already installed on this system; not touching it"
  exit 77
fi
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack -G DEB"; }
deb=$(ls "$work"/pkg/strata_*.deb)
depends=$(dpkg-deb -f "$deb" Depends)
echo "install: package $(basename "$deb"), Depends: $depends"
for lib in $(readelf -d "$stage"/bin/strata-run "$stage"/bin/strata-report "$stage/$libdir/libstrata.so.0" |
  sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u); do
  # awk reads all of it: an early exit would kill ldconfig with SIGPIPE (pipefail).
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ && !found {print $NF; found = 1}')
  real=$(readlink -f "$path")
  pkg=""
  # usrmerge: dpkg knows a file under the name its package ships it with.
  for p in "$path" "$real" "/usr${path#/usr}" "${path#/usr}" "/usr${real#/usr}" "${real#/usr}"; do
    pkg=$(dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1) || true
    [ -z "$pkg" ] || break
  done
  [ -n "$pkg" ] || fail "cannot tell which package ships $lib ($path)"
  tr ',' '\n' <<<"$depends" | awk '{print $1}' | grep -qxF "$pkg" || fail "Depends lacks $pkg (for $lib)"
done
if grep -q jemalloc <<<"$depends"; then fail "Depends names jemalloc, which is linked in privately"; fi
ok "Depends covers every NEEDED library's package, and no jemalloc"
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
installed_deb=1
[ "$(command -v strata-run)" = /usr/bin/strata-run ] || fail "strata-run is not /usr/bin/strata-run on PATH"
strata-run --show-tiers >"$work/tiers.txt" || fail "strata-run --show-tiers"
grep -q "tier" "$work/tiers.txt" || fail "--show-tiers printed: $(cat "$work/tiers.txt")"
ok "strata-run --show-tiers from PATH: $(head -1 "$work/tiers.txt")"
man -w strata-run >/dev/null 2>&1 || fail "man -w strata-run finds no page"
MANWIDTH=80 man strata-run 2>/dev/null | grep -q "run an unmodified program" || fail "man strata-run"
for p in strata-report "7 strata" "3 strata.h"; do
  # shellcheck disable=SC2086
  man -w $p >/dev/null 2>&1 || fail "man $p: no page"
done
ok "man strata-run, strata-report, strata(7), strata.h(3) installed"
run_unmodified system strata-run
build_example system "" /usr ""
dpkg --purge strata >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg --purge strata"; }
installed_deb=0
[ ! -e /usr/bin/strata-run ] && ! dpkg -s strata >/dev/null 2>&1 || fail "strata still installed after dpkg --purge"
ok "package removed; the system is as before"
