/* The hottest entry points on x86-64: malloc, free and the plain operator
 * delete variants. Each is a test and a conditional tail call into the
 * private jemalloc; everything else jumps to C++ (interpose/malloc.cc).
 *
 * Why assembly: the same fast paths in C++ compile to a not-taken branch and
 * an unconditional jump, and free compares with a variable. Measured on a
 * 16-byte malloc/free loop (docs/benchmarks.md), that cost 0.4 ns a pair,
 * about 11% of bare jemalloc's time, while this form (one conditional tail
 * call each, free comparing with a constant) runs at jemalloc's speed. GCC
 * does not emit conditional tail calls. Other architectures use the C++
 * definitions (STRATA_ASM_FASTPATH unset).
 *
 *   malloc: strata_g_fast == STRATA_FAST_ON (heaps ready, no heap rule,
 *           tier 0 uncapped, no profiler): jemalloc's malloc. Otherwise
 *           strata_malloc_not_fast(size, caller's return address).
 *   free:   (p >> 40) == STRATA_T0_KEY (slot 0, tier 0's automatic arenas,
 *           allocator/layout.h): jemalloc's free. Otherwise
 *           strata_free_not_fast(p) (other tiers, the side slot, NULL,
 *           pointers strata did not allocate).
 */
#include "allocator/layout.h"

        .text

        .globl  malloc
        .type   malloc, @function
        .globl  __libc_malloc
        .type   __libc_malloc, @function
        .p2align 5
malloc:
__libc_malloc:
        cmpb    $STRATA_FAST_ON, strata_g_fast(%rip)
        je      strata_je_malloc
        movq    (%rsp), %rsi
        jmp     strata_malloc_not_fast
        .size   malloc, .-malloc
        .size   __libc_malloc, .-__libc_malloc

        .globl  free
        .type   free, @function
        .globl  __libc_free
        .type   __libc_free, @function
        /* operator delete(void*), delete[](void*), their nothrow, sized,
         * aligned and sized-aligned forms: free() semantics (sizes and
         * alignments are not trusted: a wrong size must not corrupt the heap). */
        .globl  _ZdlPv
        .type   _ZdlPv, @function
        .globl  _ZdaPv
        .type   _ZdaPv, @function
        .globl  _ZdlPvRKSt9nothrow_t
        .type   _ZdlPvRKSt9nothrow_t, @function
        .globl  _ZdaPvRKSt9nothrow_t
        .type   _ZdaPvRKSt9nothrow_t, @function
        .globl  _ZdlPvm
        .type   _ZdlPvm, @function
        .globl  _ZdaPvm
        .type   _ZdaPvm, @function
        .globl  _ZdlPvSt11align_val_t
        .type   _ZdlPvSt11align_val_t, @function
        .globl  _ZdaPvSt11align_val_t
        .type   _ZdaPvSt11align_val_t, @function
        .globl  _ZdlPvmSt11align_val_t
        .type   _ZdlPvmSt11align_val_t, @function
        .globl  _ZdaPvmSt11align_val_t
        .type   _ZdaPvmSt11align_val_t, @function
        .globl  _ZdlPvSt11align_val_tRKSt9nothrow_t
        .type   _ZdlPvSt11align_val_tRKSt9nothrow_t, @function
        .globl  _ZdaPvSt11align_val_tRKSt9nothrow_t
        .type   _ZdaPvSt11align_val_tRKSt9nothrow_t, @function
        .p2align 5
free:
__libc_free:
_ZdlPv:
_ZdaPv:
_ZdlPvRKSt9nothrow_t:
_ZdaPvRKSt9nothrow_t:
_ZdlPvm:
_ZdaPvm:
_ZdlPvSt11align_val_t:
_ZdaPvSt11align_val_t:
_ZdlPvmSt11align_val_t:
_ZdaPvmSt11align_val_t:
_ZdlPvSt11align_val_tRKSt9nothrow_t:
_ZdaPvSt11align_val_tRKSt9nothrow_t:
        movq    %rdi, %rax
        shrq    $STRATA_T0_SHIFT, %rax
        cmpq    $STRATA_T0_KEY, %rax
        je      strata_je_free
        jmp     strata_free_not_fast
        .size   free, .-free
        .size   __libc_free, .-__libc_free
        .size   _ZdlPv, .-_ZdlPv
        .size   _ZdaPv, .-_ZdaPv
        .size   _ZdlPvRKSt9nothrow_t, .-_ZdlPvRKSt9nothrow_t
        .size   _ZdaPvRKSt9nothrow_t, .-_ZdaPvRKSt9nothrow_t
        .size   _ZdlPvm, .-_ZdlPvm
        .size   _ZdaPvm, .-_ZdaPvm
        .size   _ZdlPvSt11align_val_t, .-_ZdlPvSt11align_val_t
        .size   _ZdaPvSt11align_val_t, .-_ZdaPvSt11align_val_t
        .size   _ZdlPvmSt11align_val_t, .-_ZdlPvmSt11align_val_t
        .size   _ZdaPvmSt11align_val_t, .-_ZdaPvmSt11align_val_t
        .size   _ZdlPvSt11align_val_tRKSt9nothrow_t, .-_ZdlPvSt11align_val_tRKSt9nothrow_t
        .size   _ZdaPvSt11align_val_tRKSt9nothrow_t, .-_ZdaPvSt11align_val_tRKSt9nothrow_t

        .section .note.GNU-stack, "", @progbits
