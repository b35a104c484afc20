/* Allocation wrappers with counting and one-shot failure injection. */
#include "core/alloc.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static atomic_long live_count;
static atomic_long fail_countdown = -1;

static int should_fail(void)
{
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (c < 0) return 0;
    long prev = atomic_fetch_sub(&fail_countdown, 1);
    if (prev == 0) return 1; /* this is the injected failure; now -1 */
    return 0;
}

void *tl_malloc(size_t n)
{
    if (should_fail()) return NULL;
    void *p = malloc(n ? n : 1);
    if (p) atomic_fetch_add_explicit(&live_count, 1, memory_order_relaxed);
    return p;
}

void *tl_calloc(size_t count, size_t size)
{
    if (should_fail()) return NULL;
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p) atomic_fetch_add_explicit(&live_count, 1, memory_order_relaxed);
    return p;
}

void *tl_realloc(void *p, size_t n)
{
    if (n == 0) {
        tl_free(p);
        return NULL;
    }
    if (!p) return tl_malloc(n);
    if (should_fail()) return NULL;
    return realloc(p, n);
}

void tl_free(void *p)
{
    if (!p) return;
    atomic_fetch_sub_explicit(&live_count, 1, memory_order_relaxed);
    free(p);
}

char *tl_strdup(const char *s)
{
    if (!s) return NULL;
    return tl_strndup(s, strlen(s));
}

char *tl_strndup(const char *s, size_t n)
{
    if (!s) return NULL;
    char *d = tl_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

int tl_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : first ? first : 1;
    while (nc < need) nc *= 2;
    void *np = tl_realloc(*p, nc * elem);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

void tl_alloc_fail_after(long n) { atomic_store(&fail_countdown, n); }

long tl_alloc_live(void) { return atomic_load(&live_count); }

void tl_advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (!p || n < TL_HUGE_MIN) return;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), b = ((uintptr_t)p + n) & ~(huge - 1);
    if (b > a) (void)madvise((void *)a, (size_t)(b - a), MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

/* Chunks below glibc's initial mmap threshold (128 KiB), so that they come
 * from the thread's arena; one page of each is touched by malloc itself. */
#define PREFAULT_CHUNK ((size_t)120 * 1024)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

void tl_heap_prefault(size_t bytes)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    (void)bytes; /* the sanitizers' allocators keep their own heaps */
#else
    size_t n = bytes / PREFAULT_CHUNK;
    void **v = n ? malloc(n * sizeof *v) : NULL;
    if (!v) return;
    mallopt(M_TRIM_THRESHOLD, (int)TL_PREFAULT_TRIM); /* keep what is freed below */
    const uintptr_t page = 4096;
    size_t got = 0;
    for (; got < n; got++) {
        if (!(v[got] = malloc(PREFAULT_CHUNK))) break;
        uintptr_t a = ((uintptr_t)v[got] + page - 1) & ~(page - 1);
        uintptr_t b = ((uintptr_t)v[got] + PREFAULT_CHUNK) & ~(page - 1);
        if (madvise((void *)a, (size_t)(b - a), MADV_POPULATE_WRITE) != 0) { /* an older kernel: stop */
            got++;
            break;
        }
    }
    for (size_t i = 0; i < got; i++) free(v[i]);
    free(v);
#endif
}
