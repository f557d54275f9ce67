#!/usr/bin/env bash
# run-alloc-peers.sh: run strata-bench-alloc under each allocator, side by side,
# with identical Google Benchmark flags, and write a markdown comparison.
#
#   bench/run-alloc-peers.sh [--build-dir DIR] [--out FILE] [--pmem-dir DIR]
#                            [--min-time SECONDS] [--repetitions N]
#
#   --build-dir DIR   CMake build directory (default: <repo>/build). The benchmark is
#                     DIR/bin/strata-bench-alloc, the library DIR/lib/libstrata.so.
#   --out FILE        markdown file to update (default: <repo>/docs/benchmarks.md).
#                     Only its "## Allocation microbenchmarks" section is replaced;
#                     every other section is kept.
#   --pmem-dir DIR    directory for memkind's FS_DAX tier file (default: a fresh
#                     temporary directory, removed at the end). Point it at a real
#                     fs-dax mount to measure PMEM; on an ordinary file system the
#                     "PMEM" tier is a page-cache-backed shared file mapping.
#   --min-time S      --benchmark_min_time per benchmark (default 0.2)
#   --repetitions N   --benchmark_repetitions (default 5; the median is reported)
#
# Allocators (each a separate run of the same unmodified binary):
#   glibc     no preload
#   jemalloc  LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2   (libjemalloc2)
#   strata    LD_PRELOAD=DIR/lib/libstrata.so, no STRATA_* variables (default policy);
#             skipped, with the reason printed, when the library is not built
#   strata-prof  the same with STRATA_PROFILE set (the profiler at its default rate)
#   memtier   LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmemtier.so.0 (libmemkind0) with two
#             tiers, DRAM + FS_DAX; if a configuration fails, the next one is tried and
#             the failure is recorded in the report
#
# Each run gets a clean environment for allocator knobs: LD_PRELOAD, MALLOC_CONF,
# GLIBC_TUNABLES, MEMKIND_* and all STRATA_* variables are removed, then only the
# ones that belong to that allocator are set. The whole script takes about 2 minutes
# on 2 cores with the defaults (about 25 s per allocator).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/.." && pwd)
orig_cmd=$(printf '%q ' "$0" "$@")
orig_cmd=${orig_cmd% }
orig_pwd=$PWD

build_dir="$repo_dir/build"
out_file="$repo_dir/docs/benchmarks.md"
pmem_dir=""
min_time="0.2"
repetitions="5"
run_timeout=240   # seconds per allocator run; a hung peer is killed and recorded

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

while (($#)); do
  case "$1" in
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --out) out_file=${2:?--out needs a file}; shift 2 ;;
    --out=*) out_file=${1#*=}; shift ;;
    --pmem-dir) pmem_dir=${2:?--pmem-dir needs a directory}; shift 2 ;;
    --pmem-dir=*) pmem_dir=${1#*=}; shift ;;
    --min-time) min_time=${2:?--min-time needs seconds}; shift 2 ;;
    --min-time=*) min_time=${1#*=}; shift ;;
    --repetitions) repetitions=${2:?--repetitions needs a number}; shift 2 ;;
    --repetitions=*) repetitions=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run-alloc-peers: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

build_dir=$(cd "$build_dir" 2>/dev/null && pwd) || {
  echo "run-alloc-peers: build directory not found: $build_dir" >&2; exit 1; }
case "$out_file" in /*) ;; *) out_file="$orig_pwd/$out_file" ;; esac

bench="$build_dir/bin/strata-bench-alloc"
strata_lib="$build_dir/lib/libstrata.so"
jemalloc_lib=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
memtier_lib=/usr/lib/x86_64-linux-gnu/libmemtier.so.0

if [[ ! -x "$bench" ]]; then
  echo "run-alloc-peers: $bench not found; build it first: cmake -DSTRATA_BUILD_BENCH=ON" \
       "and the target strata-bench-alloc (or standalone: cmake -S bench -B DIR)" >&2
  exit 1
fi
command -v python3 >/dev/null || { echo "run-alloc-peers: python3 is required" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/strata-alloc-peers.XXXXXX")
own_pmem_dir=0
if [[ -z "$pmem_dir" ]]; then
  pmem_dir="$work/pmem"
  mkdir -p "$pmem_dir"
  own_pmem_dir=1
fi
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
results_dir="$build_dir/bench-results"
mkdir -p "$results_dir"

bench_flags=(
  --benchmark_format=console
  --benchmark_out_format=json
  "--benchmark_min_time=$min_time"
  "--benchmark_repetitions=$repetitions"
  --benchmark_report_aggregates_only=true
)
# The JSON goes through --benchmark_out (a file the benchmark closes itself), not
# stdout: under memtier the stdio buffer may live in a heap that is unmapped at exit.

# Environment scrub shared by every run.
scrub=(-u LD_PRELOAD -u MALLOC_CONF -u GLIBC_TUNABLES -u MEMKIND_MEM_TIERS
       -u MEMKIND_MEM_THRESHOLDS)
while IFS='=' read -r name _; do
  [[ "$name" == STRATA_* ]] && scrub+=(-u "$name")
done < <(env)

# Per-allocator status lines, read by the python step:
# name<TAB>status<TAB>detail<TAB>noise
status_file="$work/status.tsv"
: >"$status_file"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$status_file"; }

# Jiffies from the first line of /proc/stat: "<busy> <steal>", where busy counts
# user, nice, system, irq and softirq (not idle, iowait, steal).
cpu_jiffies() {
  local _cpu us ni sy _idle _iow irq sirq steal _rest
  read -r _cpu us ni sy _idle _iow irq sirq steal _rest </proc/stat
  echo "$((us + ni + sy + irq + sirq)) $steal"
}
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)

# run_one NAME LABEL [VAR=VALUE...] -- runs the benchmark, returns 0 on a usable result.
# Files: $results_dir/alloc-${FILE_TAG:-NAME}.{json,log}.
run_one() {
  local name=$1 label=$2; shift 2
  local tag=${FILE_TAG:-$name}
  local json="$results_dir/alloc-$tag.json" log="$results_dir/alloc-$tag.log"
  local start end rc=0 j0 j1 t0 t1 times_file="$work/times.$tag"
  rm -f "$json"
  echo "run-alloc-peers: [$name] running ($label)"
  j0=$(cpu_jiffies)
  t0=$(date +%s.%N)
  start=${t0%.*}
  # The subshell keeps bash's "Aborted"/"Segmentation fault" notice out of the
  # progress output (it lands in the log) and gives the exit status as 128+signal.
  # `time` reports the CPU time of the benchmark itself, to tell other load apart.
  local TIMEFORMAT='%U %S'
  { time {
      (
        timeout --signal=KILL "$run_timeout" env "${scrub[@]}" "$@" "$bench" "${bench_flags[@]}" \
            "--benchmark_out=$json" >"$log" 2>&1
        exit $?
      ) 2>>"$log"
    }; } 2>"$times_file" || rc=$?
  t1=$(date +%s.%N)
  j1=$(cpu_jiffies)
  end=${t1%.*}
  # Noise: CPU time that other processes used during the run, and time stolen by
  # the hypervisor, both as a percentage of one CPU over the run's wall time.
  LAST_NOISE=$(awk -v j0="$j0" -v j1="$j1" -v t0="$t0" -v t1="$t1" -v hz="$clk_tck" \
      -v own="$(tail -n 1 "$times_file" 2>/dev/null)" 'BEGIN {
        split(j0, a, " "); split(j1, b, " "); split(own, o, " ");
        wall = t1 - t0; if (wall <= 0) wall = 1;
        other = (b[1] - a[1]) / hz - (o[1] + o[2]); if (other < 0) other = 0;
        printf "other processes %.0f%%, steal %.0f%% of a CPU", 100 * other / wall,
               100 * (b[2] - a[2]) / hz / wall }')
  local why=""
  if ((rc != 0)); then
    if ((rc == 137 && end - start >= run_timeout)); then
      why="timed out after $run_timeout s (killed)"
    elif ((rc > 128)); then
      why="exit status $rc (signal $((rc - 128)): $(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
    else
      why="exit status $rc"
    fi
  elif grep -q "cannot be preloaded" "$log"; then
    why="the dynamic loader did not preload the library: $(grep -m1 'cannot be preloaded' "$log" | cut -c1-200)"
    rc=1
  elif [[ ! -s "$json" ]] || ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$json" 2>/dev/null; then
    why="no valid JSON written"
    rc=1
  fi
  if ((rc != 0)); then
    local tail_msg=""
    [[ "$why" == *"cannot be preloaded"* ]] || tail_msg=$(grep -v -e '^\s*$' -e "${BASH_SOURCE[0]}: line" "$log" | tail -n 2 |
               tr '\n\t' '  ' | sed 's/ *$//' | cut -c1-300)
    [[ -n "$tail_msg" ]] && why="$why; last output: $tail_msg"
    echo "run-alloc-peers: [$name] FAILED after $((end - start)) s: $why"
    echo "run-alloc-peers: [$name] full log: $log"
    LAST_FAILURE=$why
    return 1
  fi
  local n
  n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len({b["run_name"] for b in d["benchmarks"]}))' "$json")
  echo "run-alloc-peers: [$name] done in $((end - start)) s, $n benchmarks -> $json ($LAST_NOISE)"
  return 0
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "run-alloc-peers: benchmark  $bench"
echo "run-alloc-peers: load average at start: $load_start"
busy_a=$(cpu_jiffies); sleep 1; busy_b=$(cpu_jiffies)
busy_pct=$(( (${busy_b%% *} - ${busy_a%% *}) * 100 / clk_tck ))
echo "run-alloc-peers: CPU in use by other processes right now: ${busy_pct}% of a CPU"
if ((busy_pct >= 20)); then
  echo "run-alloc-peers: warning: the machine is busy; results (threads:2 most of all) will be noisy." \
       "The report records the load seen during each run."
fi
echo "run-alloc-peers: flags      ${bench_flags[*]}"
echo "run-alloc-peers: results    $results_dir"
LAST_FAILURE=""
LAST_NOISE=""

# (a) glibc
if run_one glibc "no preload"; then
  record glibc ok "no preload" "$LAST_NOISE"
else
  record glibc failed "$LAST_FAILURE"
fi

# run_preloaded NAME LIB WHAT MISSING: one allocator that is a preloaded library
# (WHAT describes the configuration, MISSING says why LIB may be absent).
run_preloaded() {
  local name=$1 lib=$2 what=$3 missing=$4
  if [[ ! -e "$lib" ]]; then
    echo "run-alloc-peers: [$name] skipped: $lib not found ($missing)"
    record "$name" skipped "$lib not found ($missing)"
  elif run_one "$name" "$what" "LD_PRELOAD=$lib"; then
    record "$name" ok "$what" "$LAST_NOISE"
  else
    record "$name" failed "LD_PRELOAD=$lib: $LAST_FAILURE"
  fi
}

# (b) jemalloc, (c) strata with the default policy
run_preloaded jemalloc "$jemalloc_lib" "LD_PRELOAD=$jemalloc_lib" "package libjemalloc2"
run_preloaded strata "$strata_lib" "LD_PRELOAD=$strata_lib (no STRATA_* variables)" "not built yet"
# (c') strata with the profiler on at its default sampling rate (STRATA_PROFILE)
if [[ -e "$strata_lib" ]] && run_one strata-prof "LD_PRELOAD=$strata_lib STRATA_PROFILE" \
    "LD_PRELOAD=$strata_lib" "STRATA_PROFILE=$work/alloc.prof"; then
  record strata-prof ok "LD_PRELOAD=$strata_lib, STRATA_PROFILE=FILE (sampling every 512 KiB on average)" "$LAST_NOISE"
else
  record strata-prof skipped "libstrata not built or the profiled run failed: ${LAST_FAILURE:-}"
fi

# (d) memkind libmemtier, two tiers (DRAM + FS_DAX), falling back step by step.
memtier_configs=(
  "KIND:DRAM,RATIO:1;KIND:FS_DAX,PATH:$pmem_dir,PMEM_SIZE_LIMIT:1G,RATIO:1;POLICY:STATIC_RATIO"
  "KIND:DRAM,RATIO:1;KIND:FS_DAX,PATH:$pmem_dir,PMEM_SIZE_LIMIT:1G,RATIO:1;POLICY:DYNAMIC_THRESHOLD"
  "KIND:DRAM,RATIO:1;POLICY:STATIC_RATIO"
)
if [[ -e "$memtier_lib" ]]; then
  memtier_ok=0
  rm -f "$results_dir"/alloc-memtier*.json "$results_dir"/alloc-memtier*.log
  try=0
  for cfg in "${memtier_configs[@]}"; do
    try=$((try + 1))
    if FILE_TAG=memtier-try$try run_one memtier "LD_PRELOAD=$memtier_lib MEMKIND_MEM_TIERS=\"$cfg\"" \
        "LD_PRELOAD=$memtier_lib" "MEMKIND_MEM_TIERS=$cfg"; then
      cp "$results_dir/alloc-memtier-try$try.json" "$results_dir/alloc-memtier.json"
      record memtier ok "LD_PRELOAD=$memtier_lib MEMKIND_MEM_TIERS=\"$cfg\"" "$LAST_NOISE"
      memtier_ok=1
      break
    fi
    record memtier-attempt failed "MEMKIND_MEM_TIERS=\"$cfg\": $LAST_FAILURE"
    rm -f "$pmem_dir"/memkind.* 2>/dev/null || true
  done
  ((memtier_ok)) || record memtier failed "every configuration failed (see the attempts)"
else
  echo "run-alloc-peers: [memtier] skipped: $memtier_lib not found (apt-get install libmemkind0)"
  record memtier skipped "$memtier_lib not found (package libmemkind0)"
fi
if ((own_pmem_dir)); then
  pmem_note="a fresh temporary directory on $(df -T "$pmem_dir" | awk 'NR==2{print $2}') (${TMPDIR:-/tmp}), not a DAX mount"
else
  pmem_note="$pmem_dir ($(df -T "$pmem_dir" 2>/dev/null | awk 'NR==2{print $2}'), mount options: $(findmnt -no OPTIONS --target "$pmem_dir" 2>/dev/null || echo '?'))"
fi

# ---------------------------------------------------------------------------
echo "run-alloc-peers: writing $out_file"
mkdir -p "$(dirname "$out_file")"
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
RAP_OUT="$out_file" RAP_RESULTS="$results_dir" RAP_STATUS="$status_file"
RAP_CMD="cd $orig_pwd && $orig_cmd"
RAP_FLAGS="${bench_flags[*]}"
RAP_NPROC=$(nproc)
RAP_CPU=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
RAP_KERNEL=$(uname -srm)
RAP_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
# shellcheck disable=SC1091
RAP_OS=$( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null || echo '?')
RAP_VERSIONS="glibc $(pkgver libc6), jemalloc $(pkgver libjemalloc2), memkind $(pkgver libmemkind0), Google Benchmark $(pkgver libbenchmark-dev)"
RAP_COMMIT="$(git -C "$repo_dir" rev-parse --short HEAD 2>/dev/null || echo '?')"
git -C "$repo_dir" diff --quiet HEAD -- 2>/dev/null || RAP_COMMIT+=" (with local changes)"
RAP_PMEM=$pmem_note
RAP_STRATA_LIB=""
if [[ -e "$strata_lib" ]]; then
  RAP_STRATA_LIB="$strata_lib, built $(date -u -r "$strata_lib" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha256sum "$strata_lib" | cut -c1-12)"
fi
RAP_LOAD="$load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
export RAP_OUT RAP_RESULTS RAP_STATUS RAP_CMD RAP_FLAGS RAP_NPROC RAP_CPU RAP_KERNEL \
  RAP_DATE RAP_OS RAP_VERSIONS RAP_COMMIT RAP_PMEM RAP_LOAD RAP_STRATA_LIB

python3 - <<'PY'
import json
import os
import re

out = os.environ["RAP_OUT"]
results = os.environ["RAP_RESULTS"]
ALLOCS = ["glibc", "jemalloc", "strata", "strata-prof", "memtier"]
SECTION = "## Allocation microbenchmarks"

status = {}        # name -> (status, detail)
noise = {}         # name -> other load during the run
attempts = []      # failed memtier configurations
with open(os.environ["RAP_STATUS"]) as f:
    for line in f:
        name, st, detail, load = line.rstrip("\n").split("\t", 3)
        if name == "memtier-attempt":
            attempts.append(detail)
        else:
            status[name] = (st, detail)
            noise[name] = load


def load(name):
    """run_name -> (median items/s, cv of items/s or None)"""
    if status.get(name, ("",))[0] != "ok":
        return None
    with open(os.path.join(results, f"alloc-{name}.json")) as f:
        data = json.load(f)
    med, cv, single = {}, {}, {}
    for b in data["benchmarks"]:
        if b.get("error_occurred"):
            med[b["run_name"]] = "error: " + b.get("error_message", "?")
            continue
        ips = b.get("items_per_second")
        if ips is None:
            continue
        agg = b.get("aggregate_name")
        if b.get("run_type") == "aggregate" and agg == "median":
            med[b["run_name"]] = ips
        elif b.get("run_type") == "aggregate" and agg == "cv":
            cv[b["run_name"]] = ips
        elif b.get("run_type") != "aggregate":
            single[b["run_name"]] = ips  # repetitions=1: no aggregates
    for k, v in single.items():
        med.setdefault(k, v)
    return {k: (v, cv.get(k)) for k, v in med.items()}, data.get("context", {})


loaded = {}
context = {}
for a in ALLOCS:
    r = load(a)
    if r is not None:
        loaded[a], ctx = r
        context = context or ctx

# Benchmark order: as the binary registers them (first successful run).
order = []
for a in ALLOCS:
    if a in loaded:
        p = os.path.join(results, f"alloc-{a}.json")
        for b in json.load(open(p))["benchmarks"]:
            if b["run_name"] not in order:
                order.append(b["run_name"])
for a in loaded:
    for k in loaded[a]:
        if k not in order:
            order.append(k)


def pretty(run_name):
    s = run_name.replace("/real_time", "")
    s = re.sub(r"size:(\d+)", lambda m: "size:" + human_size(int(m.group(1))), s)
    return s


def human_size(n):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"


def fmt_rate(v):
    if isinstance(v, str):
        return v
    if v >= 1e9:
        return f"{v / 1e9:.2f} G/s"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k/s"
    return f"{v:.0f} /s"


def esc(s):
    return s.replace("|", "\\|")


def cell(a, k):
    if a not in loaded:
        st, _ = status.get(a, ("skipped", ""))
        if a == "strata" and st == "skipped":
            return "not built yet"
        return st
    if k not in loaded[a]:
        return "—"
    v, cv = loaded[a][k]
    s = fmt_rate(v)
    if cv is not None and not isinstance(v, str) and cv >= 0.10:
        s += f" (cv {cv * 100:.0f}%)"
    return s


def ratio(a, b, k):
    try:
        va, vb = loaded[a][k][0], loaded[b][k][0]
    except KeyError:
        return "—"
    if isinstance(va, str) or isinstance(vb, str) or not vb:
        return "—"
    return f"{va / vb:.2f}"


lines = [SECTION, ""]
lines += [
    "Generated by `bench/run-alloc-peers.sh`. The same unmodified binary, "
    "`strata-bench-alloc` (bench/alloc_bench.cc, not linked against strata), is run once "
    "per allocator with identical Google Benchmark flags; only `LD_PRELOAD` and the "
    "allocator's own variables differ. Figures are items per second (one item = one "
    "allocation that is also freed), median of the repetitions, wall-clock time, so the "
    "`threads:2` rows are the aggregate of both threads; there, thread i is pinned to the "
    "i-th allowed CPU. Higher is better. A cell shows `(cv N%)` when the coefficient of "
    "variation across repetitions was 10% or more. The last column of the configuration "
    "table is the CPU time other processes used while that allocator ran: on a 2-CPU "
    "machine, anything near 100% means the `threads:2` rows had one CPU, not two.",
    "",
    "- `MallocFree/size:S/threads:T`: malloc(S), write the first byte, free, back to back.",
    "- `Batch/size:S`: malloc 1024 blocks of S bytes (64 for 1 MiB), then free them in "
    "allocation order.",
    "- `ProducerConsumer/threads:2`: larson-style remote free. One thread allocates blocks "
    "of mixed sizes (mostly 16 B–1 KiB, 1 in 8 up to 8 KiB, 1 in 64 up to 64 KiB) and hands "
    "them, 32 at a time, through a lock-free ring to the other thread (pinned to the other "
    "CPU), which frees them.",
    "",
    "### Machine and command",
    "",
    f"- Date: {os.environ['RAP_DATE']}",
    f"- CPU: {os.environ['RAP_CPU']}, nproc = {os.environ['RAP_NPROC']}"
    + (f", {context.get('mhz_per_cpu')} MHz" if context.get("mhz_per_cpu") else ""),
    f"- Kernel: {os.environ['RAP_KERNEL']}; OS: {os.environ['RAP_OS']}",
    f"- Load average (1, 5, 15 min): {os.environ['RAP_LOAD']}",
    f"- Versions: {os.environ['RAP_VERSIONS']}; strata commit {os.environ['RAP_COMMIT']}",
]
if os.environ.get("RAP_STRATA_LIB"):
    lines.append(f"- strata library: {os.environ['RAP_STRATA_LIB']}")
if context.get("library_build_type") == "debug":
    lines.append("- Google Benchmark reports its own library as a debug build (Debian's "
                 "package does); that affects the harness equally for every allocator.")
lines += [
    f"- memkind FS_DAX directory: {os.environ['RAP_PMEM']}",
    "",
    "```sh",
    os.environ["RAP_CMD"],
    "```",
    "",
    f"Benchmark flags, identical for every allocator: `{os.environ['RAP_FLAGS']}` "
    "(plus `--benchmark_out=<build>/bench-results/alloc-<allocator>.json`).",
    "",
    "| allocator | configuration | status | load from elsewhere during the run |",
    "|---|---|---|---|",
]
for a in ALLOCS:
    st, detail = status.get(a, ("skipped", "not run"))
    cfg = f"`{esc(detail)}`" if st == "ok" else esc(detail)
    lines.append(f"| {a} | {cfg} | {st} | {noise.get(a) or '—'} |")
if attempts:
    lines += ["", "memkind configurations that failed before the one used above:", ""]
    lines += [f"- `{d.split(': ', 1)[0]}`: {esc(d.split(': ', 1)[1]) if ': ' in d else ''}"
              for d in attempts]
lines += [
    "",
    "### Results (items/s)",
    "",
    "| benchmark | glibc | jemalloc | strata | strata, profiling | memtier | strata/jemalloc | "
    "profiling/strata | strata/memtier |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for k in order:
    row = [pretty(k)] + [cell(a, k) for a in ALLOCS] + [
        ratio("strata", "jemalloc", k), ratio("strata-prof", "strata", k),
        ratio("strata", "memtier", k)]
    lines.append("| " + " | ".join(row) + " |")
lines.append("")

section = "\n".join(lines)

# Replace only our section; keep everything else in the file.
try:
    with open(out) as f:
        text = f.read()
except FileNotFoundError:
    text = ""
if not text.strip():
    text = "# Benchmarks\n\n" + section
else:
    src = text.split("\n")
    start = next((i for i, l in enumerate(src) if l.strip() == SECTION), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = len(src)
        in_code = False
        for i in range(start + 1, len(src)):
            if src[i].startswith("```"):
                in_code = not in_code
            if not in_code and re.match(r"#{1,2} ", src[i]):
                end = i
                break
        rest = "\n".join(src[end:])
        text = "\n".join(src[:start]) + ("\n" if start else "") + section + (
            "\n" + rest if rest else "")
with open(out, "w") as f:
    f.write(text.rstrip("\n") + "\n")
print(f"run-alloc-peers: wrote section '{SECTION[3:]}' of {out}")
PY
echo "run-alloc-peers: done"
