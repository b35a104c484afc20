/* Tests for src/core/pool.c: every index of [0, n) is visited exactly once
 * over thousands of back-to-back calls (so a lost or doubled hand-off
 * shows), the ranges are the documented contiguous split, small loops and
 * one-thread pools run on the caller, and an idle pool frees cleanly. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "core/alloc.h"
#include "core/pool.h"

#ifdef TL_POOL_STANDALONE
/* ThreadSanitizer build (`make tsan`; Criterion cannot start under TSan):
 * 20,000 back-to-back loops of varying length over plain (non-atomic)
 * memory; the hand-off must order every write, and the sum must be exact. */
static double *cells;

static void add_one(void *ctx, size_t a, size_t b)
{
    (void)ctx;
    for (size_t i = a; i < b; i++) cells[i] += 1.0;
}

int main(void)
{
    size_t n = 10000;
    double want = 0, got = 0;
    cells = tl_calloc(n, sizeof *cells);
    struct tl_pool *p = tl_pool_new(3);
    if (!cells || !p) return 1;
    for (size_t r = 0; r < 20000; r++) {
        size_t m = 6 + r % (n - 6);
        tl_pool_for(p, m, add_one, NULL);
        want += (double)m;
    }
    tl_pool_free(p);
    for (size_t i = 0; i < n; i++) got += cells[i];
    tl_free(cells);
    printf("tsan_pool: %s (%.0f of %.0f)\n", got == want ? "ok" : "WRONG", got, want);
    return got == want ? 0 : 1;
}
#else
#include <criterion/criterion.h>

struct visit {
    atomic_int *count;
    size_t a[TL_POOL_MAX], b[TL_POOL_MAX];
    atomic_int calls;
    pthread_t caller;
    atomic_int on_caller;
};

static void visit_fn(void *pv, size_t a, size_t b)
{
    struct visit *v = pv;
    int k = atomic_fetch_add(&v->calls, 1);
    if (k < TL_POOL_MAX) v->a[k] = a, v->b[k] = b;
    if (pthread_equal(pthread_self(), v->caller)) atomic_fetch_add(&v->on_caller, 1);
    for (size_t i = a; i < b; i++) atomic_fetch_add(&v->count[i], 1);
}

Test(pool, every_index_once_over_many_calls)
{
    struct tl_pool *p = tl_pool_new(3);
    cr_assert_not_null(p);
    cr_assert_eq(tl_pool_threads(p), 3);
    size_t n = 1000;
    atomic_int *count = tl_calloc(n, sizeof *count);
    struct visit v = {.count = count, .caller = pthread_self()};
    for (int round = 0; round < 5000; round++) {
        size_t m = 6 + (size_t)round % (n - 6);
        atomic_store(&v.calls, 0);
        tl_pool_for(p, m, visit_fn, &v);
        cr_assert_eq(atomic_load(&v.calls), 3, "round %d", round);
        for (size_t i = 0; i < m; i++) cr_assert_eq(atomic_load(&count[i]), round + 1, "index %zu", i);
        /* indexes past m untouched this round: keep the counts equal */
        for (size_t i = m; i < n; i++) atomic_fetch_add(&count[i], 1);
    }
    tl_free(count);
    tl_pool_free(p);
}

Test(pool, ranges_are_the_contiguous_split)
{
    struct tl_pool *p = tl_pool_new(2);
    atomic_int count[101] = {0};
    struct visit v = {.count = count, .caller = pthread_self()};
    tl_pool_for(p, 101, visit_fn, &v);
    cr_assert_eq(atomic_load(&v.calls), 2);
    cr_assert_eq(atomic_load(&v.on_caller), 1, "range 0 runs on the caller");
    size_t lo = v.a[0] < v.a[1] ? 0 : 1;
    cr_assert_eq(v.a[lo], 0);
    cr_assert_eq(v.b[lo], 50); /* 101 * 1 / 2 */
    cr_assert_eq(v.a[1 - lo], 50);
    cr_assert_eq(v.b[1 - lo], 101);
    tl_pool_free(p);
}

Test(pool, small_loops_and_single_thread_pools_run_on_the_caller)
{
    struct tl_pool *p = tl_pool_new(4), *one = tl_pool_new(1);
    cr_assert_eq(tl_pool_threads(one), 1);
    cr_assert_eq(tl_pool_threads(NULL), 1);
    atomic_int count[10] = {0};
    struct visit v = {.count = count, .caller = pthread_self()};
    tl_pool_for(p, 7, visit_fn, &v); /* 7 < 2 * 4 */
    tl_pool_for(one, 10, visit_fn, &v);
    tl_pool_for(NULL, 10, visit_fn, &v);
    tl_pool_for(p, 0, visit_fn, &v);
    cr_assert_eq(atomic_load(&v.calls), 3);
    cr_assert_eq(atomic_load(&v.on_caller), 3);
    for (int i = 0; i < 7; i++) cr_assert_eq(atomic_load(&count[i]), 3);
    for (int i = 7; i < 10; i++) cr_assert_eq(atomic_load(&count[i]), 2);
    tl_pool_free(p);
    tl_pool_free(one);
    tl_pool_free(NULL);
}

Test(pool, frees_after_its_workers_went_to_sleep)
{
    struct tl_pool *p = tl_pool_new(2);
    atomic_int count[8] = {0};
    struct visit v = {.count = count, .caller = pthread_self()};
    tl_pool_for(p, 8, visit_fn, &v);
    struct timespec ts = {0, 20 * 1000 * 1000}; /* past the spin: workers sleep on the condition */
    nanosleep(&ts, NULL);
    tl_pool_for(p, 8, visit_fn, &v);
    for (int i = 0; i < 8; i++) cr_assert_eq(atomic_load(&count[i]), 2);
    tl_pool_free(p);
}
#endif
