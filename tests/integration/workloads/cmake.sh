#!/usr/bin/env bash
# cmake: configure and build a tiny C project with Ninja (forks and execs compilers).
set -eu
mkdir -p proj/src
cat >proj/CMakeLists.txt <<'CM'
cmake_minimum_required(VERSION 3.13)
project(tiny C)
add_library(util STATIC src/util.c)
add_executable(tiny src/main.c)
target_link_libraries(tiny util m)
CM
cat >proj/src/util.c <<'C'
#include <math.h>
double util_norm(const double* v, int n) { double s = 0; for (int i = 0; i < n; ++i) s += v[i] * v[i]; return sqrt(s); }
C
cat >proj/src/main.c <<'C'
#include <stdio.h>
#include <stdlib.h>
double util_norm(const double* v, int n);
int main(void) {
  int n = 1000;
  double* v = malloc(n * sizeof *v);
  for (int i = 0; i < n; ++i) v[i] = i * 0.5;
  printf("norm %.6f\n", util_norm(v, n));
  free(v);
  return 0;
}
C
cmake -S proj -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
# Ninja prints jobs in completion order: strip the [n/m] counters and sort.
cmake --build build -j 2 >build.log
sed 's/^\[[0-9]*\/[0-9]*\] //' build.log | sort
./build/tiny
cmake --build build --target clean >/dev/null
cmake --build build -j 2 >/dev/null
./build/tiny
