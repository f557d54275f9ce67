#!/usr/bin/env bash
# zstd -T2: threaded compression and decompression of a generated file.
set -eu
seq 1 400000 | awk '{ print $1, $1 % 977, "line" }' >data
sha256sum <data
zstd -q -T2 -9 -B1MiB -c data >data.zst
zstd -q -T2 -d -c data.zst | sha256sum
sha256sum <data.zst
zstd -q -T2 --long=25 -12 -c data | zstd -q -T2 -d --long=25 -c | sha256sum
