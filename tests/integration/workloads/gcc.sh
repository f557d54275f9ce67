#!/usr/bin/env bash
# gcc: compile (with warnings on stderr), link and run a C program.
set -eu
cat >prog.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node* next; int v; };
static int cmp(const void* a, const void* b) { return *(const int*)a - *(const int*)b; }
int main(void) {
  int unused_variable;  /* -Wall warns about this: stderr is compared too */
  struct node* head = NULL;
  for (int i = 0; i < 100000; ++i) {
    struct node* n = malloc(sizeof *n);
    n->v = (i * 7919) % 100003;
    n->next = head;
    head = n;
  }
  int* arr = calloc(100000, sizeof *arr);
  int k = 0;
  while (head) { struct node* n = head; head = n->next; arr[k++] = n->v; free(n); }
  qsort(arr, k, sizeof *arr, cmp);
  char* s = strdup("hello");
  s = realloc(s, 1 << 20);
  strcat(s, " world");
  printf("%d %d %d %s\n", k, arr[0], arr[k - 1], s);
  free(s);
  free(arr);
  return 0;
}
C
gcc -O2 -Wall -o prog prog.c
./prog
gcc -O0 -g -c prog.c -o prog.o 2>/dev/null
gcc -o prog2 prog.o
./prog2
gcc -E prog.c | wc -l
