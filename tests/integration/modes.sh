# shellcheck shell=bash disable=SC2034
# Sourced by compare.sh and run.sh: the strata configurations the tests use.
# mode_env NAME: fills the array MODE_ENV with VAR=VALUE assignments; false for
# an unknown name.
#   none     no preload at all (control runs; run.sh only)
#   default  LD_PRELOAD only: discovered tiers, default policy
#   twotier  two heaps on node 0; blocks >= 4 KiB on the second tier ('slow')
#   twoheaps two heaps on node 0 ('dram', 'slow'), no policy
#   capdram  two heaps, the first capped at 64 MiB: default policy spills to 'slow'
#   capslow  like twotier, 'slow' capped at 64 MiB: spills back to 'dram'
#   mmap     two heaps; anonymous private mmaps >= 1 MiB on 'slow'
#   pmem     a PMEM-style file heap as second tier (tier 'pm': a file in /dev/shm, or
#            /tmp without it; no DAX needed); blocks >= 4 KiB on it
mode_env() {
	MODE_ENV=()
	case $1 in
	none | default) ;;
	twotier) MODE_ENV=("STRATA_TIERS=dram:nodes=0;slow:nodes=0" "STRATA_POLICY=size>=4K -> slow") ;;
	twoheaps) MODE_ENV=("STRATA_TIERS=dram:nodes=0;slow:nodes=0") ;;
	capdram) MODE_ENV=("STRATA_TIERS=dram:nodes=0,cap=64M;slow:nodes=0") ;;
	capslow) MODE_ENV=("STRATA_TIERS=dram:nodes=0;slow:nodes=0,cap=64M" "STRATA_POLICY=size>=4K -> slow") ;;
	mmap) MODE_ENV=("STRATA_TIERS=dram:nodes=0;slow:nodes=0" "STRATA_POLICY=kind=mmap,size>=1M -> slow") ;;
	pmem)
		local dir=/tmp
		[ -d /dev/shm ] && [ -w /dev/shm ] && dir=/dev/shm
		MODE_ENV=("STRATA_TIERS=dram:nodes=0;pm:path=$dir,size=2G" "STRATA_POLICY=size>=4K -> pm") ;;
	*) return 1 ;;
	esac
	return 0
}
