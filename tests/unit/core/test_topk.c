/* Tests for src/core/topk.c: bounded top-k heap against a brute-force sort,
 * tie-breaking, NaN rejection, k = 0 and k larger than the input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "core/topk.h"

static int cmp_best_first(const void *a, const void *b)
{
    const struct tl_topk_entry *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

Test(topk, empty_and_zero_k)
{
    struct tl_topk h;
    tl_topk_init(&h, NULL, 5); /* no storage: behaves as k = 0 */
    cr_assert_eq(h.k, 0);
    cr_assert_eq(tl_topk_push(&h, 1, 1.0), 0);
    cr_assert_eq(tl_topk_sort(&h), 0);

    struct tl_topk_entry st[4];
    tl_topk_init(&h, st, 0);
    cr_assert_eq(tl_topk_push(&h, 1, 1.0), 0);
    cr_assert_eq(tl_topk_accepts(&h, 1, 1.0), 0);
    cr_assert_eq(tl_topk_sort(&h), 0);

    tl_topk_init(&h, st, 4);
    cr_assert(isinf(tl_topk_threshold(&h)) && tl_topk_threshold(&h) < 0);
    cr_assert_eq(tl_topk_sort(&h), 0);
}

Test(topk, fewer_than_k_sorted)
{
    struct tl_topk_entry st[10];
    struct tl_topk h;
    tl_topk_init(&h, st, 10);
    double s[] = {3, 1, 4, 1.5, 9, 2.6};
    for (uint32_t i = 0; i < 6; i++) cr_assert_eq(tl_topk_push(&h, i, s[i]), 1);
    cr_assert(isinf(tl_topk_threshold(&h))); /* not full yet */
    cr_assert_eq(tl_topk_sort(&h), 6);
    uint32_t want[] = {4, 2, 0, 5, 3, 1};
    for (int i = 0; i < 6; i++) cr_assert_eq(st[i].id, want[i], "pos %d: %u", i, st[i].id);
}

Test(topk, evicts_worst_and_threshold)
{
    struct tl_topk_entry st[3];
    struct tl_topk h;
    tl_topk_init(&h, st, 3);
    tl_topk_push(&h, 1, 10);
    tl_topk_push(&h, 2, 20);
    tl_topk_push(&h, 3, 30);
    cr_assert_float_eq(tl_topk_threshold(&h), 10, 0);
    cr_assert_eq(tl_topk_accepts(&h, 9, 5), 0);
    cr_assert_eq(tl_topk_push(&h, 9, 5), 0);
    cr_assert_eq(tl_topk_push(&h, 4, 15), 1);
    cr_assert_float_eq(tl_topk_threshold(&h), 15, 0);
    cr_assert_eq(tl_topk_sort(&h), 3);
    cr_assert_eq(st[0].id, 3);
    cr_assert_eq(st[1].id, 2);
    cr_assert_eq(st[2].id, 4);
}

Test(topk, ties_prefer_lower_id)
{
    struct tl_topk_entry st[2];
    struct tl_topk h;
    tl_topk_init(&h, st, 2);
    tl_topk_push(&h, 7, 1.0);
    tl_topk_push(&h, 5, 1.0);
    /* equal score, higher id than both kept: rejected; lower id: kept */
    cr_assert_eq(tl_topk_push(&h, 9, 1.0), 0);
    cr_assert_eq(tl_topk_push(&h, 2, 1.0), 1);
    tl_topk_sort(&h);
    cr_assert_eq(st[0].id, 2);
    cr_assert_eq(st[1].id, 5);
}

Test(topk, nan_rejected_infinities_ordered)
{
    struct tl_topk_entry st[3];
    struct tl_topk h;
    tl_topk_init(&h, st, 3);
    cr_assert_eq(tl_topk_push(&h, 1, NAN), 0);
    cr_assert_eq(tl_topk_push(&h, 2, -INFINITY), 1);
    cr_assert_eq(tl_topk_push(&h, 3, INFINITY), 1);
    cr_assert_eq(tl_topk_push(&h, 4, 0.0), 1);
    cr_assert_eq(tl_topk_push(&h, 5, NAN), 0);
    cr_assert_eq(tl_topk_sort(&h), 3);
    cr_assert_eq(st[0].id, 3);
    cr_assert_eq(st[1].id, 4);
    cr_assert_eq(st[2].id, 2);
}

Test(topk, matches_bruteforce_random)
{
    srand(12345);
    enum { N = 2000 };
    static struct tl_topk_entry all[N];
    struct tl_topk_entry st[64];
    size_t ks[] = {1, 2, 7, 10, 63, 64};
    for (int trial = 0; trial < 40; trial++) {
        size_t k = ks[trial % 6];
        size_t n = (size_t)(rand() % N) + 1;
        struct tl_topk h;
        tl_topk_init(&h, st, k);
        for (size_t i = 0; i < n; i++) {
            /* few distinct scores so ties are frequent */
            all[i].id = (uint32_t)(rand() % 100000);
            all[i].score = (double)(rand() % 50) - 25.0;
            tl_topk_push(&h, all[i].id, all[i].score);
        }
        qsort(all, n, sizeof all[0], cmp_best_first);
        size_t got = tl_topk_sort(&h);
        size_t want = n < k ? n : k;
        cr_assert_eq(got, want);
        for (size_t i = 0; i < got; i++) {
            cr_assert_float_eq(st[i].score, all[i].score, 0, "trial %d pos %zu", trial, i);
            cr_assert_eq(st[i].id, all[i].id, "trial %d pos %zu", trial, i);
        }
    }
}

Test(topk, reuse_after_init)
{
    struct tl_topk_entry st[2];
    struct tl_topk h;
    tl_topk_init(&h, st, 2);
    tl_topk_push(&h, 1, 1);
    tl_topk_push(&h, 2, 2);
    tl_topk_sort(&h);
    tl_topk_init(&h, st, 2);
    cr_assert_eq(h.n, 0);
    tl_topk_push(&h, 3, 0.5);
    cr_assert_eq(tl_topk_sort(&h), 1);
    cr_assert_eq(st[0].id, 3);
}

/* tl_topk_best_passing: the best k candidates that the predicate does not
 * reject, against a sort of all of them, for reject rates of none, half,
 * nine in ten and all, with ties, NaN scores and k above n. The predicate
 * is asked only of the best: at most 4 x (the rank of the k-th passing
 * candidate + 1) questions (m doubles, each round asking again). */
struct rejector {
    unsigned mod;
    size_t calls;
};

static int reject_mod(void *ctx, uint32_t id)
{
    struct rejector *r = ctx;
    r->calls++;
    return r->mod == 1 || (r->mod && id % r->mod != 0);
}

Test(topk, best_passing_matches_bruteforce)
{
    srand(777);
    enum { N = 3000 };
    static struct tl_topk_entry cand[N], sorted[N], work[N];
    struct tl_topk_entry out[64];
    size_t ks[] = {1, 5, 20, 64};
    unsigned mods[] = {0, 2, 10, 1}; /* 0: none rejected; 2: half pass; 10: one in ten passes; 1: all rejected */
    for (int trial = 0; trial < 64; trial++) {
        size_t k = ks[trial % 4], n = (size_t)(rand() % N) + 1;
        if (trial % 16 == 15) n = k / 2; /* fewer candidates than k */
        struct rejector r = {mods[(trial / 4) % 4], 0};
        size_t ns = 0;
        for (size_t i = 0; i < n; i++) {
            cand[i].id = (uint32_t)(rand() % 100000);
            cand[i].score = rand() % 97 == 0 ? NAN : (double)(rand() % 60) - 30.0;
            if (!isnan(cand[i].score)) sorted[ns++] = cand[i];
        }
        qsort(sorted, ns, sizeof sorted[0], cmp_best_first);
        struct tl_topk_entry want[64];
        size_t nw = 0, last = ns;
        for (size_t i = 0; i < ns && nw < k; i++)
            if (!(r.mod == 1 || (r.mod && sorted[i].id % r.mod != 0))) {
                want[nw++] = sorted[i];
                last = i;
            }
        size_t got = tl_topk_best_passing(cand, n, k, r.mod ? reject_mod : NULL, &r, work, out);
        cr_assert_eq(got, nw, "trial %d", trial);
        for (size_t i = 0; i < got; i++) {
            cr_assert_eq(out[i].id, want[i].id, "trial %d pos %zu", trial, i);
            cr_assert_float_eq(out[i].score, want[i].score, 0, "trial %d pos %zu", trial, i);
        }
        if (nw == k) cr_assert_leq(r.calls, 4 * (last + 1), "trial %d: %zu questions", trial, r.calls);
        if (!r.mod) cr_assert_eq(r.calls, 0);
    }
    cr_assert_eq(tl_topk_best_passing(cand, 0, 5, NULL, NULL, work, out), 0);
    cr_assert_eq(tl_topk_best_passing(cand, 10, 0, NULL, NULL, work, out), 0);
}
