#!/usr/bin/env bash
# bash: loops, strings, arrays, associative arrays, command substitution, subshells.
set -eu
bash -c '
declare -A h
s=""
arr=()
for ((i = 0; i < 20000; i++)); do
	h["k$i"]=$((i * i % 1000))
	arr+=("item$i")
	if ((i % 100 == 0)); then s+="${i}:"; fi
done
sum=0
for k in "${!h[@]}"; do sum=$((sum + h[$k])); done
echo "assoc ${#h[@]} $sum"
echo "array ${#arr[@]} ${arr[0]} ${arr[19999]} ${#s}"
str=$(printf "%s," "${arr[@]:0:500}")
echo "printf ${#str} ${str:0:30}"
up=${str^^}; echo "upper ${up:0:20}"
rep=${str//item/I}; echo "replace ${#rep}"
n=0
for i in $(seq 1 200); do n=$((n + $(echo $i | wc -c))); done
echo "subst $n"
for i in 1 2 3 4 5; do ( x=$((i * 11)); echo "subshell $x" ); done
unset "h[k5]"; echo "after unset ${#h[@]}"
'
