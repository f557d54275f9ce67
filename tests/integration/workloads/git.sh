#!/usr/bin/env bash
# git: init, add, commit, log, gc, fsck in a temporary repository.
set -eu
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z"
git init -q -b main repo
cd repo
git config user.name "Strata Test"
git config user.email "strata@example.invalid"
git config gc.autoDetach false
git config core.pager cat
for c in 1 2 3 4 5 6; do
	mkdir -p "dir$c"
	for f in 1 2 3 4 5 6 7 8 9 10; do
		seq $((c * 1000)) $((c * 1000 + f * 300)) >"dir$c/file$f.txt"
	done
	echo "commit $c" >>README
	git add -A
	git commit -q -m "commit $c"
done
git mv dir1 moved
git commit -q -m "move dir1"
git log --stat --format='%H %s' | head -n 40
git log --oneline | wc -l
git gc -q --aggressive
git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
git fsck --full --no-progress
git rev-parse HEAD 'HEAD~3^{tree}'
git diff --stat HEAD~5 HEAD | tail -n 1
git archive --format=tar HEAD | sha256sum
git clone -q . ../clone
git -C ../clone log --oneline | head -n 3
