#!/usr/bin/env bash
# xz -T2: threaded compression and decompression of a generated file.
set -eu
seq 1 400000 | awk '{ print $1, $1 % 977, "line" }' >data
sha256sum <data
xz -T2 -6 --block-size=1MiB -k -c data >data.xz
xz -T2 -t data.xz
xz -T2 -d -c data.xz | sha256sum
sha256sum <data.xz
xz -l data.xz | awk 'NR == 2 { print "streams", $1, "blocks", $2 }'
