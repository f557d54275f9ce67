#!/usr/bin/env bash
# tar: create (plain and gzip through a child process), list, extract, compare.
set -eu
for d in a b c d; do
	mkdir -p "tree/$d/sub"
	for f in 1 2 3 4 5 6 7 8; do
		seq 1 $((f * 2000)) >"tree/$d/file$f"
		head -c $((f * 1000)) "tree/$d/file$f" >"tree/$d/sub/part$f"
	done
	ln -s "../$d/file1" "tree/$d/link"
done
opts=(--sort=name --mtime=2024-01-01T00:00:00Z --owner=0 --group=0 --numeric-owner)
tar "${opts[@]}" -cf t.tar tree
sha256sum <t.tar
tar -tvf t.tar | awk '{ print $1, $3, $6, $7, $8 }' | head -n 12
tar "${opts[@]}" -czf t.tgz tree
mkdir out1 out2
tar -xf t.tar -C out1
tar -xzf t.tgz -C out2
diff -r tree out1/tree && diff -r tree out2/tree && echo "extract identical"
tar -tzf t.tgz | wc -l
