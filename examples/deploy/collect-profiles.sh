#!/usr/bin/env bash
# Collects the strata profiles of a service from several hosts and merges them
# into one report and one policy (docs/deploy.md).
#   collect-profiles.sh SERVICE HOST...
# Each host keeps /var/lib/strata/profiles/SERVICE.prof (the main process)
# and SERVICE.prof.PID (forked workers, written when they exit); the running
# main process is asked to write its profile first (SERVICE.prof.dump).
set -euo pipefail
service=$1
shift
out=profiles-$service
mkdir -p "$out"
for host in "$@"; do
  ssh "$host" "touch /var/lib/strata/profiles/$service.prof.dump && sleep 3"
  mkdir -p "$out/$host"
  scp -q "$host:/var/lib/strata/profiles/$service.prof*" "$out/$host/"
done
# One report over every process of every host: same sites (by hash) add up.
strata-report $(find "$out" -type f ! -name '*.dump' | sort) --format html -o "$out/report.html"
strata-report $(find "$out" -type f ! -name '*.dump' | sort) --format policy | tee "$out/policy.sh"
