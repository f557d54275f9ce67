#!/usr/bin/env bash
# run-redis.sh: Redis under a Zipf-keyed client in the NUMA test VM, measured by the
# judge (docs/judge.md): which node serves redis-server's memory accesses, per placement.
#
#   bench/judge/run-redis.sh [BUILD_DIR] [PLACEMENT...]
#
# PLACEMENT: NAME=PREFIX, PREFIX a command (split at spaces, no shell) that runs
# redis-server, e.g. "node0=numactl --membind=0". Default: node0 (numactl --membind=0),
# interleave02 (--interleave=0,2), node2 (--membind=2), and strata: strata-run with
# STRATA_TIERS="dram:nodes=0,cap=$REDIS_FAST;pmem:nodes=2" and its migration engine.
# Boots scripts/numa-vm --judge BUILD_DIR/judge-redis.csv (TCG, 1 vCPU); in the guest, for
# each placement: redis-server on a unix socket under PREFIX, loaded with REDIS_KEYS keys of
# REDIS_VALUE bytes, then REDIS_SECONDS of GET/SET (10% SET) with Zipf(REDIS_ZIPF) keys from
# bench/judge/redis_zipf.py. The judge's window covers redis-server's writable mappings
# during the run phase only (under strata that includes strata's own work in the process).
# Prints the client's rate and the judge's per-node shares.
# Environment: REDIS_KEYS (20000), REDIS_VALUE (1024), REDIS_SECONDS (20), REDIS_ZIPF (0.99),
# REDIS_FAST (8M: strata's DRAM tier cap).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ "${1:-}" != --guest ]; then
	build=$(cd "${1:-$repo/build}" && pwd -P)
	shift || true
	command -v redis-server >/dev/null || { echo "run-redis: redis-server not found (scripts/install-deps.sh)" >&2; exit 2; }
	out="$build/judge-redis.csv"
	NUMA_VM_CPUS=1 NUMA_VM_ACCEL=tcg "$repo/scripts/numa-vm" --build-dir "$build" --timeout 3000 \
		--judge "$out" -- bash "$here/run-redis.sh" --guest "$build" "$@"
	echo "# per interval: $build/bin/strata-judge-summary $out --window NAME"
	exit 0
fi

shift
build=$1
shift
placements=("$@")
fast=${REDIS_FAST:-8M}
[ ${#placements[@]} -gt 0 ] || placements=("node0=numactl --membind=0"
	"interleave02=numactl --interleave=0,2" "node2=numactl --membind=2"
	"strata=env STRATA_TIERS=dram:nodes=0,cap=$fast;pmem:nodes=2 STRATA_MIGRATE=interval=300ms $build/bin/strata-run --")
keys=${REDIS_KEYS:-20000} value=${REDIS_VALUE:-1024} seconds=${REDIS_SECONDS:-20} zipf=${REDIS_ZIPF:-0.99}
ctl="$build/bin/strata-judge-ctl"
client=(/usr/bin/python3 "$here/redis_zipf.py" --socket /tmp/redis.sock --keys "$keys" --value-size "$value")
results=()
for p in "${placements[@]}"; do
	name=${p%%=*}
	read -r -a prefix <<<"${p#*=}"
	rm -f /tmp/redis.sock
	"${prefix[@]}" redis-server --port 0 --unixsocket /tmp/redis.sock --save '' --appendonly no \
		--logfile "/tmp/redis-$name.log" &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		if [ -S /tmp/redis.sock ]; then break; fi
		sleep 0.1
	done
	[ -S /tmp/redis.sock ] || { echo "run-redis: redis-server ($name) did not start: $(tail -n 3 "/tmp/redis-$name.log")"; exit 1; }
	"${client[@]}" load >/dev/null
	"$ctl" window "$name" "$pid"
	"$ctl" wait
	rate=$("${client[@]}" run --seconds "$seconds" --s "$zipf")
	"$ctl" off
	"$ctl" wait
	kill "$pid"
	wait "$pid" || true
	echo "run-redis: $name (${prefix[*]}): $rate"
	results+=("$name: $rate")
done
echo "# judge totals (target = redis-server's writable mappings; shares of its sampled accesses)"
/usr/bin/python3 "$build/bin/strata-judge-summary" "$NUMA_VM_JUDGE_OUT" --totals | grep -v '^window - '
printf '# client: %s\n' "${results[@]}"
