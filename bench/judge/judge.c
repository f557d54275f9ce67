/* strata-judge: a QEMU TCG plugin that counts the guest's memory accesses per
 * NUMA node, from outside the guest. See bench/judge/README.md and
 * docs/judge.md.
 *
 *   qemu-system-x86_64 ... -plugin strata-judge.so,out=FILE,map=BASE:SIZE:NODE,...
 *
 * arguments (key=value):
 *   out=FILE        where the rows go (required)
 *   map=B:S:N       plugin addresses [B, B+S) (hex) belong to node N (repeatable)
 *   latency=L0:L1:.. modelled access latency of each node in ns (for the header)
 *   ctl=FILE        control file, re-read every interval: "window NAME" names
 *                   the rows, "range LO HI" (hex vaddrs, repeatable) restricts
 *                   the target to user accesses in [LO, HI)
 *   interval_ms=N   one row every N ms of host time (default 100)
 *   period=N        sample one access in N on average, per vCPU (default 16)
 *
 * Every instruction gets a memory callback at translation; the callback counts
 * down a per-vCPU random gap and, when it reaches zero, classifies the access:
 * kernel (upper-half vaddr) or user; a user access is "target" when no range is
 * set or its vaddr is in one, else "other". The node is found from the address
 * QEMU reports for the access (qemu_plugin_hwaddr_phys_addr). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_api.h"

JUDGE_PLUGIN_EXPORT int qemu_plugin_version = JUDGE_PLUGIN_API_VERSION;

enum {
  kMaxNodes = 16,
  kMaxMaps = 64,
  kMaxRanges = 4096,
  kMaxLine = 512,
  kWindowLen = 64,
};

struct map_entry {
  uint64_t base;
  uint64_t size;
  int node;
};

/* What the control file says; replaced whole, never changed in place. */
struct ctl_state {
  char window[kWindowLen];
  size_t nranges;
  uint64_t* lo;
  uint64_t* hi;
  char* text; /* the file's content, to notice changes */
  struct ctl_state* older;
};

/* Per-vCPU counters: written only by that vCPU's thread, read by the writer
 * thread. Index kMaxNodes is "unmapped" (I/O or outside every map entry). */
struct vcpu_state {
  uint64_t countdown;
  uint64_t rng;
  uint64_t target[kMaxNodes + 1];
  uint64_t kernel[kMaxNodes + 1];
  uint64_t other_user;
} __attribute__((aligned(64)));

struct judge {
  FILE* out;
  char* ctl_path;
  unsigned interval_ms;
  uint64_t period;
  int nnodes;
  struct map_entry maps[kMaxMaps];
  int nmaps;
  char latency[kMaxLine];
  struct vcpu_state* vcpus;
  int nvcpus;
  struct ctl_state* ctl;
  pthread_t writer;
  int stop;
  struct timespec t0;
  uint64_t prev[2 * (kMaxNodes + 1) + 1];
};

static struct judge g = {.interval_ms = 100, .period = 16};

static void say(const char* fmt, const char* a, const char* b) {
  char line[kMaxLine];
  snprintf(line, sizeof line, fmt, a, b);
  qemu_plugin_outs(line);
}

static uint64_t next_gap(struct vcpu_state* v) {
  if (g.period <= 1) return 1;
  uint64_t x = v->rng; /* xorshift64 */
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  v->rng = x;
  return 1 + x % (2 * g.period - 1); /* uniform in [1, 2 period - 1]: mean period */
}

static int node_of(uint64_t addr) {
  for (int i = 0; i < g.nmaps; ++i)
    if (addr - g.maps[i].base < g.maps[i].size) return g.maps[i].node;
  return kMaxNodes;
}

static int in_ranges(const struct ctl_state* c, uint64_t vaddr) {
  size_t lo = 0;
  size_t hi = c->nranges;
  while (lo < hi) { /* ranges are sorted by start and do not overlap */
    const size_t mid = (lo + hi) / 2;
    if (vaddr < c->lo[mid])
      hi = mid;
    else if (vaddr >= c->hi[mid])
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

static void bump(uint64_t* counter) {
  __atomic_store_n(counter, *counter + 1, __ATOMIC_RELAXED);
}

static void on_access(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void* udata) {
  (void)udata;
  if (vcpu >= (unsigned)g.nvcpus) return;
  struct vcpu_state* v = &g.vcpus[vcpu];
  if (--v->countdown != 0) return;
  v->countdown = next_gap(v);
  const int kernel = (int)(vaddr >> 63);
  const struct ctl_state* c = __atomic_load_n(&g.ctl, __ATOMIC_ACQUIRE);
  if (!kernel && c->nranges > 0 && !in_ranges(c, vaddr)) {
    bump(&v->other_user);
    return;
  }
  const struct qemu_plugin_hwaddr* h = qemu_plugin_get_hwaddr(info, vaddr);
  const int node = h == NULL || qemu_plugin_hwaddr_is_io(h)
                       ? kMaxNodes
                       : node_of(qemu_plugin_hwaddr_phys_addr(h));
  bump(kernel ? &v->kernel[node] : &v->target[node]);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  const size_t n = qemu_plugin_tb_n_insns(tb);
  for (size_t i = 0; i < n; ++i)
    qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i), on_access,
                                     QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
}

/* ------------------------------------------------------------ control file */

static char* read_small_file(const char* path) {
  FILE* f = fopen(path, "r");
  if (f == NULL) return NULL;
  size_t cap = 4096;
  size_t len = 0;
  char* buf = malloc(cap);
  while (buf != NULL) {
    len += fread(buf + len, 1, cap - 1 - len, f);
    if (len < cap - 1 || cap >= (1u << 24)) break;
    cap *= 2;
    char* bigger = realloc(buf, cap);
    if (bigger == NULL) free(buf);
    buf = bigger;
  }
  fclose(f);
  if (buf != NULL) buf[len] = '\0';
  return buf;
}

static int cmp_range(const void* a, const void* b) {
  const uint64_t* x = a;
  const uint64_t* y = b;
  return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Parses the control text; bad lines are reported and skipped. Overlapping
 * ranges are merged so that the lookup can bisect. */
static struct ctl_state* parse_ctl(char* text) {
  struct ctl_state* c = calloc(1, sizeof *c);
  uint64_t* pairs = calloc(2 * kMaxRanges, sizeof *pairs);
  if (c == NULL || pairs == NULL) {
    free(c);
    free(pairs);
    return NULL;
  }
  c->text = text;
  snprintf(c->window, sizeof c->window, "-");
  char* copy = strdup(text != NULL ? text : "");
  char* save = NULL;
  if (copy == NULL) {
    free(pairs);
    return c;
  }
  for (char* line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
    char name[kWindowLen];
    uint64_t lo = 0;
    uint64_t hi = 0;
    if (sscanf(line, "window %63s", name) == 1) {
      snprintf(c->window, sizeof c->window, "%s", name);
    } else if (sscanf(line, "range %" SCNx64 " %" SCNx64, &lo, &hi) == 2 && lo < hi &&
               c->nranges < kMaxRanges) {
      pairs[2 * c->nranges] = lo;
      pairs[2 * c->nranges + 1] = hi;
      ++c->nranges;
    } else if (line[0] != '#' && line[0] != '\0') {
      say("strata-judge: ctl: ignored line \"%.200s\"%s\n", line,
          " (expected \"window NAME\" or \"range LO HI\" in hex, LO < HI)");
    }
  }
  free(copy);
  qsort(pairs, c->nranges, 2 * sizeof *pairs, cmp_range);
  c->lo = calloc(c->nranges + 1, sizeof *c->lo);
  c->hi = calloc(c->nranges + 1, sizeof *c->hi);
  size_t n = 0;
  for (size_t i = 0; c->lo != NULL && c->hi != NULL && i < c->nranges; ++i) {
    if (n > 0 && pairs[2 * i] <= c->hi[n - 1]) {
      if (pairs[2 * i + 1] > c->hi[n - 1]) c->hi[n - 1] = pairs[2 * i + 1];
      continue;
    }
    c->lo[n] = pairs[2 * i];
    c->hi[n] = pairs[2 * i + 1];
    ++n;
  }
  c->nranges = c->lo != NULL && c->hi != NULL ? n : 0;
  free(pairs);
  return c;
}

/* Old states stay allocated until exit: a vCPU may still be reading one. */
static void poll_ctl(void) {
  if (g.ctl_path == NULL) return;
  char* text = read_small_file(g.ctl_path);
  const char* old = g.ctl->text != NULL ? g.ctl->text : "";
  if (strcmp(text != NULL ? text : "", old) == 0) {
    free(text);
    return;
  }
  struct ctl_state* c = parse_ctl(text);
  if (c == NULL) {
    free(text);
    return;
  }
  c->older = g.ctl;
  __atomic_store_n(&g.ctl, c, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ output rows */

static double ms_since_start(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - g.t0.tv_sec) * 1e3 + (double)(t.tv_nsec - g.t0.tv_nsec) / 1e6;
}

static void write_header(void) {
  fprintf(g.out, "# strata-judge 1: period=%" PRIu64 " nodes=%d latency_ns=%s interval_ms=%u\n",
          g.period, g.nnodes, g.latency, g.interval_ms);
  fprintf(g.out, "t_ms,window");
  for (int n = 0; n < g.nnodes; ++n) fprintf(g.out, ",target_node%d", n);
  fprintf(g.out, ",target_unmapped,other_user");
  for (int n = 0; n < g.nnodes; ++n) fprintf(g.out, ",kernel_node%d", n);
  fprintf(g.out, ",kernel_unmapped\n");
  fflush(g.out);
}

/* Sums the vCPUs' counters and prints what changed since the last row. */
static void write_row(void) {
  uint64_t now[2 * (kMaxNodes + 1) + 1] = {0};
  for (int i = 0; i < g.nvcpus; ++i) {
    for (int n = 0; n <= kMaxNodes; ++n) {
      now[n] += __atomic_load_n(&g.vcpus[i].target[n], __ATOMIC_RELAXED);
      now[kMaxNodes + 1 + n] += __atomic_load_n(&g.vcpus[i].kernel[n], __ATOMIC_RELAXED);
    }
    now[2 * (kMaxNodes + 1)] += __atomic_load_n(&g.vcpus[i].other_user, __ATOMIC_RELAXED);
  }
  uint64_t d[2 * (kMaxNodes + 1) + 1];
  for (size_t i = 0; i < sizeof d / sizeof d[0]; ++i) d[i] = now[i] - g.prev[i];
  memcpy(g.prev, now, sizeof now);
  fprintf(g.out, "%.1f,%s", ms_since_start(), g.ctl->window);
  for (int n = 0; n < g.nnodes; ++n) fprintf(g.out, ",%" PRIu64, d[n]);
  fprintf(g.out, ",%" PRIu64 ",%" PRIu64, d[kMaxNodes], d[2 * (kMaxNodes + 1)]);
  for (int n = 0; n < g.nnodes; ++n) fprintf(g.out, ",%" PRIu64, d[kMaxNodes + 1 + n]);
  fprintf(g.out, ",%" PRIu64 "\n", d[2 * kMaxNodes + 1]);
  fflush(g.out);
}

static void* writer_main(void* arg) {
  (void)arg;
  struct timespec next = g.t0;
  while (!__atomic_load_n(&g.stop, __ATOMIC_ACQUIRE)) {
    next.tv_nsec += (long)g.interval_ms * 1000000L;
    while (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      ++next.tv_sec;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
    write_row(); /* the interval's counts belong to the window in force during it */
    poll_ctl();
  }
  return NULL;
}

static void on_exit_qemu(qemu_plugin_id_t id, void* udata) {
  (void)id;
  (void)udata;
  __atomic_store_n(&g.stop, 1, __ATOMIC_RELEASE);
  pthread_join(g.writer, NULL);
  write_row();
  fclose(g.out);
}

/* ------------------------------------------------------------ arguments */

static int parse_map(const char* v) {
  struct map_entry m;
  if (g.nmaps >= kMaxMaps ||
      sscanf(v, "%" SCNx64 ":%" SCNx64 ":%d", &m.base, &m.size, &m.node) != 3 || m.node < 0 ||
      m.node >= kMaxNodes || m.size == 0)
    return -1;
  g.maps[g.nmaps++] = m;
  if (m.node + 1 > g.nnodes) g.nnodes = m.node + 1;
  return 0;
}

static int parse_uint(const char* v, unsigned long max, unsigned long* out) {
  char* end = NULL;
  errno = 0;
  const unsigned long x = strtoul(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || x == 0 || x > max) return -1;
  *out = x;
  return 0;
}

static int parse_arg(const char* arg) {
  const char* eq = strchr(arg, '=');
  if (eq == NULL) return -1;
  const size_t klen = (size_t)(eq - arg);
  const char* v = eq + 1;
  unsigned long x = 0;
  if (klen == 3 && strncmp(arg, "out", 3) == 0) {
    g.out = fopen(v, "w");
    if (g.out == NULL) {
      say("strata-judge: out=%s: %s\n", v, strerror(errno));
      return -2;
    }
    return 0;
  }
  if (klen == 3 && strncmp(arg, "map", 3) == 0) return parse_map(v);
  if (klen == 3 && strncmp(arg, "ctl", 3) == 0) return (g.ctl_path = strdup(v)) ? 0 : -1;
  if (klen == 7 && strncmp(arg, "latency", 7) == 0) {
    snprintf(g.latency, sizeof g.latency, "%s", v);
    return 0;
  }
  if (klen == 11 && strncmp(arg, "interval_ms", 11) == 0) {
    if (parse_uint(v, 60000, &x) != 0) return -1;
    g.interval_ms = (unsigned)x;
    return 0;
  }
  if (klen == 6 && strncmp(arg, "period", 6) == 0) {
    if (parse_uint(v, 1UL << 30, &x) != 0) return -1;
    g.period = x;
    return 0;
  }
  return -1;
}

JUDGE_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc,
                                            char** argv) {
  if (!info->system_emulation) {
    qemu_plugin_outs("strata-judge: needs system emulation (qemu-system-*)\n");
    return -1;
  }
  snprintf(g.latency, sizeof g.latency, "-");
  for (int i = 0; i < argc; ++i) {
    const int rc = parse_arg(argv[i]);
    if (rc == -1)
      say("strata-judge: bad argument \"%s\"%s\n", argv[i],
          " (expected out=FILE, map=HEXBASE:HEXSIZE:NODE, latency=NS:NS:..., ctl=FILE, "
          "interval_ms=1..60000 or period=1..2^30)");
    if (rc != 0) return -1;
  }
  if (g.out == NULL || g.nmaps == 0) {
    qemu_plugin_outs("strata-judge: out=FILE and at least one map=BASE:SIZE:NODE are required\n");
    return -1;
  }
  g.nvcpus = info->system.max_vcpus > 0 ? info->system.max_vcpus : 1;
  g.vcpus = aligned_alloc(64, sizeof(struct vcpu_state) * (size_t)g.nvcpus);
  g.ctl = parse_ctl(NULL);
  if (g.vcpus == NULL || g.ctl == NULL) return -1;
  memset(g.vcpus, 0, sizeof(struct vcpu_state) * (size_t)g.nvcpus);
  for (int i = 0; i < g.nvcpus; ++i) {
    g.vcpus[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
    g.vcpus[i].countdown = next_gap(&g.vcpus[i]);
  }
  poll_ctl();
  write_header();
  clock_gettime(CLOCK_MONOTONIC, &g.t0);
  if (pthread_create(&g.writer, NULL, writer_main, NULL) != 0) return -1;
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, on_exit_qemu, NULL);
  return 0;
}
