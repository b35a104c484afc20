/* All heap allocation in Tailor goes through these wrappers so that tests can
 * count live allocations and make the Nth allocation fail (fault injection).
 *
 * Invariant: tl_free(NULL) is a no-op; tl_realloc(p, 0) frees p and returns
 * NULL. Counters are atomic and cheap (relaxed increments). */
#ifndef TL_CORE_ALLOC_H
#define TL_CORE_ALLOC_H

#include <stddef.h>

/* Returns NULL on failure (or injected failure). Caller owns the result. */
void *tl_malloc(size_t n);
void *tl_calloc(size_t count, size_t size);
void *tl_realloc(void *p, size_t n);
void tl_free(void *p);
/* Copy of s (NULL if s is NULL or on failure); caller frees with tl_free. */
char *tl_strdup(const char *s);
/* Copy of the first n bytes of s, NUL-terminated. */
char *tl_strndup(const char *s, size_t n);
/* Make the array *p of *cap elements of elem bytes hold at least need:
 * capacity doubled from first (or from *cap) until it does. 0, or -1 when
 * the memory is not there (*p and *cap unchanged). */
int tl_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

/* Advise the kernel to back the 2 MiB-aligned part of [p, p + n) with
 * huge pages when n is at least TL_HUGE_MIN: a large table filled in random
 * order (the idempotency set of an import) then takes a page fault per
 * 2 MiB instead of per 4 KiB. Only where transparent huge pages are set to
 * "madvise" or "always"; a no-op elsewhere and on failure. */
#define TL_HUGE_MIN ((size_t)8 << 20)
void tl_advise_huge(void *p, size_t n);

/* Grow the calling thread's malloc arena by about `bytes` with its pages
 * populated (one madvise(MADV_POPULATE_WRITE) per 120 KiB chunk), then free
 * it for the thread's later allocations. For a bulk job about to allocate
 * that much: on the VMs measured here a first touch of a fresh page costs
 * about 11 us, populating about 0.8 us (BENCHMARKS.md "Page faults").
 * Raises glibc's trim threshold for the whole process to TL_PREFAULT_TRIM
 * so that the freed memory is kept: meant for a command that ends with its
 * job (tailor import). A no-op under the sanitizers; stops early on a
 * kernel without MADV_POPULATE_WRITE (before 5.14) or when malloc fails. */
#define TL_PREFAULT_TRIM ((size_t)1 << 30)
void tl_heap_prefault(size_t bytes);

/* Test hooks: after tl_alloc_fail_after(n), the (n+1)th allocation from now
 * fails and every later one succeeds again; -1 disables. */
void tl_alloc_fail_after(long n);
/* Number of allocations made minus frees (process-wide). */
long tl_alloc_live(void);

#endif
