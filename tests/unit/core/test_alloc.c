/* Tests for src/core/alloc.c: the live-allocation counter and one-shot
 * failure injection (tl_alloc_fail_after(n): the (n+1)th allocation from
 * now fails, every later one succeeds; -1 disables), across malloc, calloc,
 * realloc and strdup, plus the documented NULL / zero-size rules, and that
 * a prefaulted heap spares its thread the page faults. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>

#include "core/alloc.h"

Test(alloc, live_count_tracks_allocations_and_frees)
{
    long base = tl_alloc_live();
    void *a = tl_malloc(10);
    void *b = tl_calloc(4, 8);
    char *c = tl_strdup("abc");
    char *d = tl_strndup("abcdef", 3);
    cr_assert(a && b && c && d);
    cr_assert_eq(tl_alloc_live(), base + 4);
    cr_assert_str_eq(c, "abc");
    cr_assert_str_eq(d, "abc");
    for (int i = 0; i < 32; i++) cr_assert_eq(((unsigned char *)b)[i], 0, "calloc zeroes");
    a = tl_realloc(a, 1000); /* growing keeps the count */
    cr_assert_not_null(a);
    cr_assert_eq(tl_alloc_live(), base + 4);
    tl_free(a);
    tl_free(b);
    tl_free(c);
    tl_free(d);
    cr_assert_eq(tl_alloc_live(), base);
}

Test(alloc, null_and_zero_size_rules)
{
    long base = tl_alloc_live();
    tl_free(NULL);
    cr_assert_eq(tl_alloc_live(), base, "tl_free(NULL) is a no-op");
    cr_assert_null(tl_strdup(NULL));
    cr_assert_null(tl_strndup(NULL, 3));
    cr_assert_eq(tl_alloc_live(), base);
    void *z = tl_malloc(0);
    cr_assert_not_null(z, "malloc(0) gives a freeable pointer");
    cr_assert_eq(tl_alloc_live(), base + 1);
    cr_assert_null(tl_realloc(z, 0), "realloc(p, 0) frees p and returns NULL");
    cr_assert_eq(tl_alloc_live(), base);
    void *r = tl_realloc(NULL, 16); /* realloc(NULL, n) is malloc */
    cr_assert_not_null(r);
    cr_assert_eq(tl_alloc_live(), base + 1);
    tl_free(r);
    cr_assert_null(tl_realloc(NULL, 0));
    cr_assert_eq(tl_alloc_live(), base);
    char *e = tl_strdup("");
    cr_assert_not_null(e);
    cr_assert_str_eq(e, "");
    tl_free(e);
    cr_assert_eq(tl_alloc_live(), base);
}

Test(alloc, fail_after_zero_fails_next_only)
{
    long base = tl_alloc_live();
    tl_alloc_fail_after(0);
    cr_assert_null(tl_malloc(8));
    cr_assert_eq(tl_alloc_live(), base, "a failed allocation is not counted");
    void *p = tl_malloc(8);
    cr_assert_not_null(p, "only one allocation fails");
    tl_free(p);
    cr_assert_eq(tl_alloc_live(), base);
}

Test(alloc, fail_after_n_fails_exactly_the_n_plus_first)
{
    for (long n = 0; n < 6; n++) {
        long base = tl_alloc_live();
        void *ptrs[10];
        tl_alloc_fail_after(n);
        for (int i = 0; i < 10; i++) {
            ptrs[i] = tl_malloc(16);
            if (i == n)
                cr_assert_null(ptrs[i], "allocation %d should fail (n = %ld)", i, n);
            else
                cr_assert_not_null(ptrs[i], "allocation %d should succeed (n = %ld)", i, n);
        }
        cr_assert_eq(tl_alloc_live(), base + 9);
        for (int i = 0; i < 10; i++) tl_free(ptrs[i]);
        cr_assert_eq(tl_alloc_live(), base);
    }
}

Test(alloc, every_allocator_counts_toward_the_injection)
{
    /* calloc, strdup, strndup and realloc of an existing block each count
     * as one allocation and each can be the one that fails. */
    long base = tl_alloc_live();
    tl_alloc_fail_after(0);
    cr_assert_null(tl_calloc(2, 2));
    tl_alloc_fail_after(0);
    cr_assert_null(tl_strdup("x"));
    tl_alloc_fail_after(0);
    cr_assert_null(tl_strndup("xyz", 2));
    cr_assert_eq(tl_alloc_live(), base);

    char *p = tl_strdup("keep");
    tl_alloc_fail_after(0);
    char *q = tl_realloc(p, 4096);
    cr_assert_null(q, "realloc fails");
    cr_assert_str_eq(p, "keep", "the old block is untouched on failure");
    cr_assert_eq(tl_alloc_live(), base + 1);
    tl_free(p);

    /* realloc(NULL, n) fails like malloc; n = 0 never allocates. */
    tl_alloc_fail_after(0);
    cr_assert_null(tl_realloc(NULL, 8));
    void *m = tl_malloc(1);
    cr_assert_not_null(m);
    tl_free(m);
    cr_assert_eq(tl_alloc_live(), base);
}

Test(alloc, minus_one_disables_pending_failure)
{
    tl_alloc_fail_after(2);
    tl_alloc_fail_after(-1);
    void *p[5];
    for (int i = 0; i < 5; i++) cr_assert_not_null(p[i] = tl_malloc(4));
    for (int i = 0; i < 5; i++) tl_free(p[i]);
}

static void *alloc_worker(void *arg)
{
    for (int i = 0; i < 20000; i++) {
        void *p = tl_malloc(24);
        if (!p) return (void *)1;
        tl_free(p);
    }
    return NULL;
}

Test(alloc, counter_is_thread_safe)
{
    long base = tl_alloc_live();
    pthread_t th[4];
    for (int i = 0; i < 4; i++) cr_assert_eq(pthread_create(&th[i], NULL, alloc_worker, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        cr_assert_null(r);
    }
    cr_assert_eq(tl_alloc_live(), base);
}

/* Huge-page advice is advice only: any size and alignment (none, below
 * TL_HUGE_MIN, not 2 MiB-aligned, huge) leaves the memory as it was and
 * usable; a large table grown past TL_HUGE_MIN keeps every entry. */
Test(alloc, advise_huge_keeps_memory_usable)
{
    tl_advise_huge(NULL, (size_t)64 << 20);
    size_t sizes[] = {0, 1, 4096, TL_HUGE_MIN - 1, TL_HUGE_MIN, TL_HUGE_MIN + 12345, (size_t)24 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k] ? sizes[k] : 1;
        unsigned char *p = tl_malloc(n + 3);
        cr_assert_not_null(p);
        for (size_t i = 0; i < n + 3; i++) p[i] = (unsigned char)(i * 31 + k);
        tl_advise_huge(p + 3, sizes[k]); /* deliberately not page-aligned */
        for (size_t i = 0; i < n + 3; i++) cr_assert_eq(p[i], (unsigned char)(i * 31 + k), "size %zu byte %zu", n, i);
        tl_free(p);
    }
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) /* tl_heap_prefault is a no-op there */
/* Faults taken by the calling thread while it allocates and writes mb MiB
 * in 1 KiB pieces (freed again), after prefaulting pre MiB of its heap. */
struct prefault_run {
    size_t pre, mb;
    long faults;
};

static void *prefault_thread(void *arg)
{
    struct prefault_run *r = arg;
    tl_heap_prefault(r->pre << 20);
    size_t n = (r->mb << 20) / 1024;
    char **v = malloc(n * sizeof *v);
    cr_assert(v);
    struct rusage a, b;
    getrusage(RUSAGE_THREAD, &a);
    for (size_t i = 0; i < n; i++) {
        v[i] = malloc(1000);
        cr_assert(v[i]);
        memset(v[i], (int)i, 1000);
    }
    getrusage(RUSAGE_THREAD, &b);
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
    r->faults = b.ru_minflt - a.ru_minflt;
    return NULL;
}

static long prefault_faults(size_t pre, size_t mb)
{
    struct prefault_run r = {pre, mb, 0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, prefault_thread, &r), 0);
    pthread_join(t, NULL);
    return r.faults;
}

#endif

/* 8 MiB written by a thread whose heap was prefaulted with 12 MiB take
 * (nearly) no page faults; without, about one per 4 KiB page. */
Test(alloc, prefaulted_heap_takes_no_page_faults)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    cr_skip_test("a no-op under the sanitizers");
#else
    long cold = prefault_faults(0, 8), warm = prefault_faults(12, 8);
    cr_assert_gt(cold, 1500, "%ld faults without prefaulting", cold);
    cr_assert_lt(warm, cold / 10, "%ld faults after prefaulting, %ld without", warm, cold);
#endif
}

/* tl_grow: doubles from `first` (or from the capacity) until need fits,
 * keeps the contents, and on a failed allocation leaves array and
 * capacity as they were. */
Test(alloc, grow_doubles_keeps_contents_and_fails_cleanly)
{
    int *a = NULL;
    size_t cap = 0;
    cr_assert_eq(tl_grow((void **)&a, &cap, 0, sizeof *a, 16), 0);
    cr_assert_null(a);
    cr_assert_eq(tl_grow((void **)&a, &cap, 1, sizeof *a, 16), 0);
    cr_assert_eq(cap, 16);
    for (int i = 0; i < 16; i++) a[i] = i;
    cr_assert_eq(tl_grow((void **)&a, &cap, 16, sizeof *a, 16), 0);
    cr_assert_eq(cap, 16, "no growth when it fits");
    cr_assert_eq(tl_grow((void **)&a, &cap, 100, sizeof *a, 16), 0);
    cr_assert_eq(cap, 128);
    for (int i = 0; i < 16; i++) cr_assert_eq(a[i], i);
    int *before = a;
    tl_alloc_fail_after(0);
    cr_assert_eq(tl_grow((void **)&a, &cap, 129, sizeof *a, 16), -1);
    tl_alloc_fail_after(-1);
    cr_assert_eq(a, before);
    cr_assert_eq(cap, 128);
    size_t c2 = 0;
    char *b = NULL;
    cr_assert_eq(tl_grow((void **)&b, &c2, 5, 1, 0), 0);
    cr_assert_eq(c2, 8, "first 0: from 1");
    tl_free(a);
    tl_free(b);
}
