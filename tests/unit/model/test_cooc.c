/* Tests for src/model/cooc.c: hand-computed similarities, min support,
 * dedupe, basket cap, incremental sets, multi-anchor queries, bad input,
 * allocation failures, concurrency, and (when ../shared/data is present) the
 * Online Retail orders.
 *
 * Criterion cannot run under ThreadSanitizer (Snaipe/Criterion#274), so the
 * concurrency test also builds as a plain program for TSan:
 *   gcc -DTL_COOC_STANDALONE -fsanitize=thread <flags> tests/unit/model/test_cooc.c
 *       (the .c files of src/core) src/model/cooc.c src/core/topk.c -pthread -lm && ./a.out
 */
#ifndef TL_COOC_STANDALONE
#include <criterion/criterion.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "model/cooc.h"

#ifndef TL_COOC_STANDALONE
#include "core/map.h"
#include "ingest/formats.h"

#define REAL_OR "../shared/data/online-retail/online_retail.csv.gz"
#define EPS 1e-12

/* N = 5; n1 = 3, n2 = 3, n3 = 2, n4 = 1, n5 = 1; n12 = 2, n13 = 1, n23 = 2, n14 = 1. */
static struct tl_cooc *small_model(const struct tl_cooc_params *p)
{
    struct tl_cooc *m = tl_cooc_new(p);
    cr_assert_not_null(m);
    static const uint32_t b1[] = {1, 2, 3}, b2[] = {1, 2}, b3[] = {1, 4}, b4[] = {2, 3}, b5[] = {5};
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_BOUGHT_TOGETHER, b1, 3), TL_OK);
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_BOUGHT_TOGETHER, b2, 2), TL_OK);
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_BOUGHT_TOGETHER, b3, 2), TL_OK);
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_BOUGHT_TOGETHER, b4, 2), TL_OK);
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_BOUGHT_TOGETHER, b5, 1), TL_OK);
    return m;
}

static void expect_top(struct tl_cooc *m, uint32_t anchor, enum tl_cooc_sim sim, uint32_t min_support, size_t n_exp,
                       const uint32_t *items, const double *scores, const uint32_t *support)
{
    struct tl_cooc_hit out[8];
    size_t n = 99;
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, anchor, sim, 8, min_support, NULL, NULL, out, &n), TL_OK);
    cr_assert_eq(n, n_exp, "sim %d: %zu hits, expected %zu", (int)sim, n, n_exp);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(out[i].item, items[i], "sim %d hit %zu: item %u, expected %u", (int)sim, i, out[i].item, items[i]);
        cr_assert(fabs(out[i].score - scores[i]) < EPS, "sim %d hit %zu: score %.15g, expected %.15g", (int)sim, i,
                  out[i].score, scores[i]);
        cr_assert_eq(out[i].anchor, anchor);
        cr_assert_eq(out[i].support, support[i]);
    }
}

Test(cooc, counts)
{
    struct tl_cooc *m = small_model(NULL);
    enum tl_cooc_rel bt = TL_COOC_BOUGHT_TOGETHER;
    cr_assert_eq(tl_cooc_sets(m, bt), 5);
    cr_assert_eq(tl_cooc_item_count(m, bt, 1), 3);
    cr_assert_eq(tl_cooc_item_count(m, bt, 2), 3);
    cr_assert_eq(tl_cooc_item_count(m, bt, 3), 2);
    cr_assert_eq(tl_cooc_item_count(m, bt, 5), 1);
    cr_assert_eq(tl_cooc_item_count(m, bt, 6), 0);
    cr_assert_eq(tl_cooc_item_count(m, bt, 1000000), 0);
    cr_assert_eq(tl_cooc_pair_count(m, bt, 1, 2), 2);
    cr_assert_eq(tl_cooc_pair_count(m, bt, 2, 1), 2);
    cr_assert_eq(tl_cooc_pair_count(m, bt, 3, 2), 2);
    cr_assert_eq(tl_cooc_pair_count(m, bt, 1, 3), 1);
    cr_assert_eq(tl_cooc_pair_count(m, bt, 1, 1), 0);
    cr_assert_eq(tl_cooc_pair_count(m, bt, 1, 5), 0);
    cr_assert_eq(tl_cooc_pairs(m, bt), 4);
    /* the other relations are independent */
    cr_assert_eq(tl_cooc_sets(m, TL_COOC_ALSO_VIEWED), 0);
    cr_assert_eq(tl_cooc_pair_count(m, TL_COOC_ALSO_BOUGHT, 1, 2), 0);
    tl_cooc_free(m);
}

Test(cooc, cosine)
{
    struct tl_cooc *m = small_model(NULL);
    /* 2: 2/sqrt(3*3); 4: 1/sqrt(3*1); 3: 1/sqrt(3*2) */
    const uint32_t it[] = {2, 4, 3}, sup[] = {2, 1, 1};
    const double sc[] = {2.0 / 3.0, 1 / sqrt(3.0), 1 / sqrt(6.0)};
    expect_top(m, 1, TL_COOC_COSINE, 0, 3, it, sc, sup);
    tl_cooc_free(m);
}

Test(cooc, jaccard)
{
    struct tl_cooc *m = small_model(NULL);
    /* 2: 2/(3+3-2); 4: 1/(3+1-1); 3: 1/(3+2-1) */
    const uint32_t it[] = {2, 4, 3}, sup[] = {2, 1, 1};
    const double sc[] = {0.5, 1.0 / 3.0, 0.25};
    expect_top(m, 1, TL_COOC_JACCARD, 1, 3, it, sc, sup);
    tl_cooc_free(m);
}

Test(cooc, lift)
{
    struct tl_cooc *m = small_model(NULL);
    /* 4: 5*1/(3*1); 2: 5*2/(3*3); 3: 5*1/(3*2) */
    const uint32_t it[] = {4, 2, 3}, sup[] = {1, 2, 1};
    const double sc[] = {5.0 / 3.0, 10.0 / 9.0, 5.0 / 6.0};
    expect_top(m, 1, TL_COOC_LIFT, 0, 3, it, sc, sup);
    /* anchor 3: 2: 5*2/(2*3) = 5/3; 1: 5*1/(2*3) = 5/6 */
    const uint32_t it3[] = {2, 1}, sup3[] = {2, 1};
    const double sc3[] = {5.0 / 3.0, 5.0 / 6.0};
    expect_top(m, 3, TL_COOC_LIFT, 0, 2, it3, sc3, sup3);
    tl_cooc_free(m);
}

Test(cooc, cond_default_alpha)
{
    struct tl_cooc *m = small_model(NULL);
    /* alpha 0.5: 2: 2/(3*sqrt3); 4: 1/(3*1); 3: 1/(3*sqrt2) */
    const uint32_t it[] = {2, 4, 3}, sup[] = {2, 1, 1};
    const double sc[] = {2 / (3 * sqrt(3.0)), 1.0 / 3.0, 1 / (3 * sqrt(2.0))};
    expect_top(m, 1, TL_COOC_COND, 0, 3, it, sc, sup);
    tl_cooc_free(m);
}

Test(cooc, cond_alpha_param)
{
    struct tl_cooc_params p;
    tl_cooc_params_defaults(&p);
    cr_assert_eq(p.alpha, 0.5);
    p.alpha = 1;
    struct tl_cooc *m = small_model(&p);
    /* alpha 1: 4: 1/(3*1); 2: 2/(3*3); 3: 1/(3*2) */
    const uint32_t it[] = {4, 2, 3}, sup[] = {1, 2, 1};
    const double sc[] = {1.0 / 3.0, 2.0 / 9.0, 1.0 / 6.0};
    expect_top(m, 1, TL_COOC_COND, 0, 3, it, sc, sup);
    tl_cooc_free(m);
    p.alpha = 0; /* plain confidence P(j|i): 2: 2/3; 3 and 4: 1/3, tie -> lower index */
    m = small_model(&p);
    const uint32_t it0[] = {2, 3, 4}, sup0[] = {2, 1, 1};
    const double sc0[] = {2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0};
    expect_top(m, 1, TL_COOC_COND, 0, 3, it0, sc0, sup0);
    tl_cooc_free(m);
    p.alpha = 1.5; /* general pow path: 4: 1/3; 2: 2/(3*3^1.5); 3: 1/(3*2^1.5) */
    m = small_model(&p);
    const uint32_t it15[] = {4, 2, 3};
    const double sc15[] = {1.0 / 3.0, 2 / (3 * pow(3, 1.5)), 1 / (3 * pow(2, 1.5))};
    expect_top(m, 1, TL_COOC_COND, 0, 3, it15, sc15, sup);
    tl_cooc_free(m);
}

Test(cooc, min_support)
{
    struct tl_cooc *m = small_model(NULL);
    const uint32_t it[] = {2}, sup[] = {2};
    const double sc[] = {10.0 / 9.0};
    expect_top(m, 1, TL_COOC_LIFT, 2, 1, it, sc, sup);
    expect_top(m, 1, TL_COOC_LIFT, 3, 0, NULL, NULL, NULL);
    expect_top(m, 1, TL_COOC_LIFT, UINT32_MAX, 0, NULL, NULL, NULL);
    tl_cooc_free(m);
}

Test(cooc, unknown_anchor_and_k)
{
    struct tl_cooc *m = small_model(NULL);
    struct tl_cooc_hit out[64];
    size_t n = 99;
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 77, TL_COOC_COSINE, 10, 0, NULL, NULL, out, &n), TL_OK);
    cr_assert_eq(n, 0);
    n = 99; /* item 5 was seen, but alone */
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 5, TL_COOC_COSINE, 10, 0, NULL, NULL, out, &n), TL_OK);
    cr_assert_eq(n, 0);
    n = 99; /* k larger than the neighbours */
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 1, TL_COOC_COSINE, 64, 0, NULL, NULL, out, &n), TL_OK);
    cr_assert_eq(n, 3);
    n = 99; /* k smaller: best first */
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 1, TL_COOC_COSINE, 1, 0, NULL, NULL, out, &n), TL_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].item, 2);
    n = 99; /* k = 0, out may be NULL */
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 1, TL_COOC_COSINE, 0, 0, NULL, NULL, NULL, &n), TL_OK);
    cr_assert_eq(n, 0);
    /* k beyond the stack buffer uses the heap path */
    struct tl_cooc_hit *big = tl_malloc(TL_COOC_K_MAX * sizeof *big);
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 1, TL_COOC_COSINE, TL_COOC_K_MAX, 0, NULL, NULL, big, &n),
                 TL_OK);
    cr_assert_eq(n, 3);
    const uint32_t a[] = {1};
    cr_assert_eq(
        tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, a, 1, TL_COOC_COSINE, TL_COOC_K_MAX, 0, NULL, NULL, big, &n),
        TL_OK);
    cr_assert_eq(n, 3);
    tl_free(big);
    tl_cooc_free(m);
}

static int skip_item2(void *ctx, uint32_t item)
{
    (*(int *)ctx)++;
    return item == 2;
}

Test(cooc, skip_callback)
{
    struct tl_cooc *m = small_model(NULL);
    struct tl_cooc_hit out[8];
    size_t n;
    int calls = 0;
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 1, TL_COOC_COSINE, 8, 0, skip_item2, &calls, out, &n), TL_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].item, 4);
    cr_assert_eq(out[1].item, 3);
    cr_assert_eq(calls, 3);
    calls = 0;
    const uint32_t a[] = {1, 3};
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, a, 2, TL_COOC_COSINE, 8, 0, skip_item2, &calls, out, &n),
                 TL_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].item, 4);
    cr_assert_eq(calls, 2);
    tl_cooc_free(m);
}

Test(cooc, multi_anchor)
{
    struct tl_cooc *m = small_model(NULL);
    struct tl_cooc_hit out[8];
    size_t n;
    /* anchors {1, 3} (and a duplicate): 2 = cos(1,2) + cos(3,2) = 2/3 + 2/sqrt(6), best anchor 3 (support 2);
     * 4 = cos(1,4) = 1/sqrt(3), anchor 1; anchors 1 and 3 never returned. */
    const uint32_t a[] = {3, 1, 3};
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, a, 3, TL_COOC_COSINE, 8, 0, NULL, NULL, out, &n), TL_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].item, 2);
    cr_assert(fabs(out[0].score - (2.0 / 3.0 + 2 / sqrt(6.0))) < EPS);
    cr_assert_eq(out[0].anchor, 3);
    cr_assert_eq(out[0].support, 2);
    cr_assert_eq(out[1].item, 4);
    cr_assert(fabs(out[1].score - 1 / sqrt(3.0)) < EPS);
    cr_assert_eq(out[1].anchor, 1);
    cr_assert_eq(out[1].support, 1);
    /* min_support 2 drops (1,4) and (1,3); (1,2) and (3,2) both have support 2 */
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, a, 3, TL_COOC_COSINE, 8, 2, NULL, NULL, out, &n), TL_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].item, 2);
    cr_assert(fabs(out[0].score - (2.0 / 3.0 + 2 / sqrt(6.0))) < EPS);
    /* min_support 3: nothing */
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, a, 3, TL_COOC_COSINE, 8, 3, NULL, NULL, out, &n), TL_OK);
    cr_assert_eq(n, 0);
    /* lift: 2 = 10/9 + 5/3, best anchor 3 */
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, a, 2, TL_COOC_LIFT, 8, 0, NULL, NULL, out, &n), TL_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].item, 2);
    cr_assert(fabs(out[0].score - (10.0 / 9.0 + 5.0 / 3.0)) < EPS);
    cr_assert_eq(out[0].anchor, 3);
    /* a single anchor equals tl_cooc_top */
    struct tl_cooc_hit o1[8];
    size_t n1;
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 1, TL_COOC_JACCARD, 8, 0, NULL, NULL, o1, &n1), TL_OK);
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, a + 1, 1, TL_COOC_JACCARD, 8, 0, NULL, NULL, out, &n),
                 TL_OK);
    cr_assert_eq(n, n1);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(out[i].item, o1[i].item);
        cr_assert_eq(out[i].score, o1[i].score);
        cr_assert_eq(out[i].support, o1[i].support);
        cr_assert_eq(out[i].anchor, 1);
    }
    /* equal terms: the lowest anchor is named. Items 10 and 11 each pair once with 12. */
    const uint32_t b[] = {10, 11, 12};
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_ALSO_VIEWED, b, 3), TL_OK);
    const uint32_t a2[] = {11, 10};
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_ALSO_VIEWED, a2, 2, TL_COOC_COSINE, 8, 0, NULL, NULL, out, &n), TL_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].item, 12);
    cr_assert_eq(out[0].anchor, 10);
    cr_assert(fabs(out[0].score - 2.0) < EPS);
    /* no anchors, unknown anchors */
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, NULL, 0, TL_COOC_COSINE, 8, 0, NULL, NULL, out, &n),
                 TL_OK);
    cr_assert_eq(n, 0);
    const uint32_t a3[] = {500, 501};
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, a3, 2, TL_COOC_COSINE, 8, 0, NULL, NULL, out, &n),
                 TL_OK);
    cr_assert_eq(n, 0);
    tl_cooc_free(m);
}

Test(cooc, dedupe_within_basket)
{
    struct tl_cooc *m = tl_cooc_new(NULL);
    const uint32_t b[] = {1, 1, 2, 2, 2, 1};
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_BOUGHT_TOGETHER, b, 6), TL_OK);
    cr_assert_eq(tl_cooc_sets(m, TL_COOC_BOUGHT_TOGETHER), 1);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_BOUGHT_TOGETHER, 1), 1);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_BOUGHT_TOGETHER, 2), 1);
    cr_assert_eq(tl_cooc_pair_count(m, TL_COOC_BOUGHT_TOGETHER, 1, 2), 1);
    cr_assert_eq(tl_cooc_pairs(m, TL_COOC_BOUGHT_TOGETHER), 1);
    /* a basket of one repeated item: a set, no pair */
    const uint32_t c[] = {7, 7, 7};
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_BOUGHT_TOGETHER, c, 3), TL_OK);
    cr_assert_eq(tl_cooc_sets(m, TL_COOC_BOUGHT_TOGETHER), 2);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_BOUGHT_TOGETHER, 7), 1);
    cr_assert_eq(tl_cooc_pairs(m, TL_COOC_BOUGHT_TOGETHER), 1);
    /* empty basket: nothing */
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_BOUGHT_TOGETHER, NULL, 0), TL_OK);
    cr_assert_eq(tl_cooc_sets(m, TL_COOC_BOUGHT_TOGETHER), 2);
    /* add_to_set of an item already in the set: nothing */
    cr_assert_eq(tl_cooc_add_to_set(m, TL_COOC_BOUGHT_TOGETHER, b, 6, 2), TL_OK);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_BOUGHT_TOGETHER, 2), 1);
    cr_assert_eq(tl_cooc_sets(m, TL_COOC_BOUGHT_TOGETHER), 2);
    tl_cooc_free(m);
}

Test(cooc, basket_cap)
{
    struct tl_cooc *m = tl_cooc_new(NULL);
    uint32_t b[160];
    for (uint32_t i = 0; i < 150; i++) b[i] = 1000 + i;
    for (uint32_t i = 150; i < 160; i++) b[i] = 1000 + (i - 150); /* duplicates after the cap */
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_BOUGHT_TOGETHER, b, 160), TL_OK);
    cr_assert_eq(tl_cooc_pairs(m, TL_COOC_BOUGHT_TOGETHER), 100 * 99 / 2);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_BOUGHT_TOGETHER, 1000), 1);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_BOUGHT_TOGETHER, 1099), 1);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_BOUGHT_TOGETHER, 1100), 0);
    cr_assert_eq(tl_cooc_pair_count(m, TL_COOC_BOUGHT_TOGETHER, 1000, 1099), 1);
    cr_assert_eq(tl_cooc_pair_count(m, TL_COOC_BOUGHT_TOGETHER, 1000, 1100), 0);
    /* duplicates before the cap do not use up places: 100 distinct among 200 entries */
    uint32_t d[200];
    for (uint32_t i = 0; i < 200; i++) d[i] = 5000 + i / 2;
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_ALSO_VIEWED, d, 200), TL_OK);
    cr_assert_eq(tl_cooc_pairs(m, TL_COOC_ALSO_VIEWED), 100 * 99 / 2);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_ALSO_VIEWED, 5099), 1);
    /* an open set of 100 distinct items takes no more */
    cr_assert_eq(tl_cooc_add_to_set(m, TL_COOC_BOUGHT_TOGETHER, b, 100, 7), TL_OK);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_BOUGHT_TOGETHER, 7), 0);
    cr_assert_eq(tl_cooc_add_to_set(m, TL_COOC_BOUGHT_TOGETHER, b, 99, 7), TL_OK);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_BOUGHT_TOGETHER, 7), 1);
    cr_assert_eq(tl_cooc_pair_count(m, TL_COOC_BOUGHT_TOGETHER, 7, 1098), 1);
    cr_assert_eq(tl_cooc_pair_count(m, TL_COOC_BOUGHT_TOGETHER, 7, 1099), 0);
    tl_cooc_free(m);
}

static uint32_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

Test(cooc, add_to_set_equals_basket)
{
    struct tl_cooc *a = tl_cooc_new(NULL), *b = tl_cooc_new(NULL);
    uint64_t seed = 42;
    uint32_t items[140];
    for (int s = 0; s < 300; s++) {
        size_t n = s % 50 == 0 ? 140 : 1 + lcg(&seed) % 12; /* some sets exceed the cap */
        for (size_t i = 0; i < n; i++) items[i] = lcg(&seed) % (s % 50 == 0 ? 400 : 60);
        cr_assert_eq(tl_cooc_add_basket(a, TL_COOC_ALSO_VIEWED, items, n), TL_OK);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(tl_cooc_add_to_set(b, TL_COOC_ALSO_VIEWED, items, i, items[i]), TL_OK);
    }
    cr_assert_eq(tl_cooc_sets(a, TL_COOC_ALSO_VIEWED), 300);
    cr_assert_eq(tl_cooc_sets(b, TL_COOC_ALSO_VIEWED), 300);
    cr_assert_eq(tl_cooc_pairs(a, TL_COOC_ALSO_VIEWED), tl_cooc_pairs(b, TL_COOC_ALSO_VIEWED));
    for (uint32_t i = 0; i < 400; i++) {
        cr_assert_eq(tl_cooc_item_count(a, TL_COOC_ALSO_VIEWED, i), tl_cooc_item_count(b, TL_COOC_ALSO_VIEWED, i));
        for (uint32_t j = 0; j < 400; j++)
            cr_assert_eq(tl_cooc_pair_count(a, TL_COOC_ALSO_VIEWED, i, j),
                         tl_cooc_pair_count(b, TL_COOC_ALSO_VIEWED, i, j), "pair %u %u", i, j);
    }
    struct tl_cooc_hit oa[20], ob[20];
    size_t na, nb;
    cr_assert_eq(tl_cooc_top(a, TL_COOC_ALSO_VIEWED, 3, TL_COOC_LIFT, 20, 2, NULL, NULL, oa, &na), TL_OK);
    cr_assert_eq(tl_cooc_top(b, TL_COOC_ALSO_VIEWED, 3, TL_COOC_LIFT, 20, 2, NULL, NULL, ob, &nb), TL_OK);
    cr_assert_eq(na, nb);
    cr_assert_gt(na, 0);
    for (size_t i = 0; i < na; i++) {
        cr_assert_eq(oa[i].item, ob[i].item);
        cr_assert_eq(oa[i].score, ob[i].score);
    }
    tl_cooc_free(a);
    tl_cooc_free(b);
}

/* Smallest table for d neighbours: 0 slots for none, else the least power of
 * two >= 4 at load <= 3/4 (cooc.c tab_reserve). */
static size_t min_slots(uint32_t d)
{
    if (!d) return 0;
    size_t c = 4;
    while ((size_t)d * 4 > c * 3) c *= 2;
    return c;
}

/* Baskets (with repeats, and past the 100-item cap, both sides of the
 * dedupe's 16-item switch) and sets grown an item at a time, against
 * counts kept here by brute force; and every table the smallest that holds
 * its neighbours, i.e. the reserve step grows a table exactly when an exact
 * count of the pairs asks for it, though it probes only the tables short of
 * room. */
#define RI 300
static uint32_t ref_pair[RI][RI], ref_item[RI];
Test(cooc, random_updates_match_brute_force_and_tables_stay_minimal)
{
    struct tl_cooc *m = tl_cooc_new(NULL), *base = tl_cooc_new(NULL);
    cr_assert_not_null(m);
    cr_assert_not_null(base);
    const uint32_t top = RI - 1;
    cr_assert_eq(tl_cooc_add_basket(base, TL_COOC_ALSO_BOUGHT, &top, 1), TL_OK); /* same node array, no table */
    memset(ref_pair, 0, sizeof ref_pair);
    memset(ref_item, 0, sizeof ref_item);
    uint64_t sets = 1, seed = 7;
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_ALSO_BOUGHT, &top, 1), TL_OK);
    ref_item[top] = 1;
    enum { OPEN = 8 };
    uint32_t open_set[OPEN][TL_COOC_BASKET_MAX], open_n[OPEN] = {0};
    for (int step = 0; step < 6000; step++) {
        if (lcg(&seed) % 3 == 0) { /* a basket of 1..150 lines, repeats likely */
            uint32_t b[150], kept[TL_COOC_BASKET_MAX];
            size_t n = 1 + lcg(&seed) % (step % 7 == 0 ? 150 : 24), k = 0;
            uint32_t span = step % 5 == 0 ? RI : 40;
            for (size_t i = 0; i < n; i++) b[i] = lcg(&seed) % span;
            cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_ALSO_BOUGHT, b, n), TL_OK);
            for (size_t i = 0; i < n && k < TL_COOC_BASKET_MAX; i++) {
                size_t j = 0;
                while (j < k && kept[j] != b[i]) j++;
                if (j == k) kept[k++] = b[i];
            }
            sets++;
            for (size_t x = 0; x < k; x++) {
                ref_item[kept[x]]++;
                for (size_t y = 0; y < k; y++)
                    if (x != y) ref_pair[kept[x]][kept[y]]++;
            }
        } else { /* one of OPEN sets grows by an item, maybe one it has */
            uint32_t o = lcg(&seed) % OPEN, it = lcg(&seed) % RI, n = open_n[o];
            if (n == TL_COOC_BASKET_MAX && lcg(&seed) % 4 == 0) n = open_n[o] = 0; /* a new set */
            cr_assert_eq(tl_cooc_add_to_set(m, TL_COOC_ALSO_BOUGHT, open_set[o], n, it), TL_OK);
            int have = 0;
            for (uint32_t i = 0; i < n; i++) have |= open_set[o][i] == it;
            if (have || n == TL_COOC_BASKET_MAX) continue;
            if (n == 0) sets++;
            ref_item[it]++;
            for (uint32_t i = 0; i < n; i++) {
                ref_pair[it][open_set[o][i]]++;
                ref_pair[open_set[o][i]][it]++;
            }
            open_set[o][open_n[o]++] = it;
        }
    }
    cr_assert_eq(tl_cooc_sets(m, TL_COOC_ALSO_BOUGHT), sets);
    uint64_t pairs = 0;
    size_t slots = 0;
    for (uint32_t i = 0; i < RI; i++) {
        cr_assert_eq(tl_cooc_item_count(m, TL_COOC_ALSO_BOUGHT, i), ref_item[i], "n_%u", i);
        uint32_t deg = 0;
        for (uint32_t j = 0; j < RI; j++) {
            cr_assert_eq(tl_cooc_pair_count(m, TL_COOC_ALSO_BOUGHT, i, j), ref_pair[i][j], "n_%u,%u", i, j);
            deg += ref_pair[i][j] > 0;
            pairs += j > i && ref_pair[i][j] > 0;
        }
        slots += min_slots(deg);
    }
    cr_assert_eq(tl_cooc_pairs(m, TL_COOC_ALSO_BOUGHT), pairs);
    cr_assert_gt(pairs, 10000); /* dense enough that tables grew many times */
    cr_assert_eq(tl_cooc_memory(m), tl_cooc_memory(base) + slots * 2 * sizeof(uint32_t));
    tl_cooc_free(m);
    tl_cooc_free(base);
}

Test(cooc, bad_input)
{
    struct tl_cooc_params p;
    tl_cooc_params_defaults(&p);
    struct tl_err e;
    p.alpha = -0.1;
    cr_assert_null(tl_cooc_new(&p));
    tl_err_clear(&e);
    cr_assert_eq(tl_cooc_params_check(&p, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "alpha");
    p.alpha = NAN;
    cr_assert_eq(tl_cooc_params_check(&p, NULL), TL_EINVAL);
    p.alpha = TL_COOC_ALPHA_MAX + 1;
    cr_assert_eq(tl_cooc_params_check(&p, NULL), TL_EINVAL);
    cr_assert_eq(tl_cooc_params_check(NULL, NULL), TL_EINVAL);

    struct tl_cooc *m = small_model(NULL);
    const uint32_t ok[] = {1, 2};
    const uint32_t big[] = {1, TL_COOC_ITEMS_MAX};
    struct tl_cooc_hit out[4];
    size_t n;
    cr_assert_eq(tl_cooc_add_basket(NULL, TL_COOC_BOUGHT_TOGETHER, ok, 2), TL_EINVAL);
    cr_assert_eq(tl_cooc_add_basket(m, (enum tl_cooc_rel)3, ok, 2), TL_EINVAL);
    cr_assert_eq(tl_cooc_add_basket(m, (enum tl_cooc_rel) - 1, ok, 2), TL_EINVAL);
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_BOUGHT_TOGETHER, NULL, 2), TL_EINVAL);
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_BOUGHT_TOGETHER, big, 2), TL_ETOOBIG);
    cr_assert_eq(tl_cooc_add_to_set(m, TL_COOC_BOUGHT_TOGETHER, ok, 2, TL_COOC_ITEMS_MAX), TL_ETOOBIG);
    cr_assert_eq(tl_cooc_add_to_set(m, TL_COOC_BOUGHT_TOGETHER, big, 2, 3), TL_ETOOBIG);
    cr_assert_eq(tl_cooc_add_to_set(m, TL_COOC_BOUGHT_TOGETHER, NULL, 1, 3), TL_EINVAL);
    cr_assert_eq(tl_cooc_add_to_set(NULL, TL_COOC_BOUGHT_TOGETHER, ok, 2, 3), TL_EINVAL);
    cr_assert_eq(tl_cooc_add_to_set(m, (enum tl_cooc_rel)9, ok, 2, 3), TL_EINVAL);
    /* nothing applied by the failures */
    cr_assert_eq(tl_cooc_sets(m, TL_COOC_BOUGHT_TOGETHER), 5);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_BOUGHT_TOGETHER, 1), 3);
    cr_assert_eq(tl_cooc_item_count(m, TL_COOC_BOUGHT_TOGETHER, 3), 2);

    cr_assert_eq(tl_cooc_top(NULL, TL_COOC_BOUGHT_TOGETHER, 1, TL_COOC_COSINE, 4, 0, NULL, NULL, out, &n), TL_EINVAL);
    cr_assert_eq(tl_cooc_top(m, (enum tl_cooc_rel)3, 1, TL_COOC_COSINE, 4, 0, NULL, NULL, out, &n), TL_EINVAL);
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 1, (enum tl_cooc_sim)4, 4, 0, NULL, NULL, out, &n), TL_EINVAL);
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 1, TL_COOC_COSINE, TL_COOC_K_MAX + 1, 0, NULL, NULL, out, &n),
                 TL_EINVAL);
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 1, TL_COOC_COSINE, 4, 0, NULL, NULL, NULL, &n), TL_EINVAL);
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, 1, TL_COOC_COSINE, 4, 0, NULL, NULL, out, NULL), TL_EINVAL);
    cr_assert_eq(tl_cooc_top(m, TL_COOC_BOUGHT_TOGETHER, TL_COOC_ITEMS_MAX, TL_COOC_COSINE, 4, 0, NULL, NULL, out, &n),
                 TL_ETOOBIG);
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, NULL, 2, TL_COOC_COSINE, 4, 0, NULL, NULL, out, &n),
                 TL_EINVAL);
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, big, 2, TL_COOC_COSINE, 4, 0, NULL, NULL, out, &n),
                 TL_ETOOBIG);
    cr_assert_eq(
        tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, ok, 2, TL_COOC_COND, TL_COOC_K_MAX + 1, 0, NULL, NULL, out, &n),
        TL_EINVAL);
    uint32_t many[TL_COOC_ANCHORS_MAX + 1];
    for (uint32_t i = 0; i <= TL_COOC_ANCHORS_MAX; i++) many[i] = i;
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, many, TL_COOC_ANCHORS_MAX + 1, TL_COOC_COSINE, 4, 0,
                                   NULL, NULL, out, &n),
                 TL_ETOOBIG);
    cr_assert_eq(tl_cooc_top_multi(m, TL_COOC_BOUGHT_TOGETHER, many, TL_COOC_ANCHORS_MAX, TL_COOC_COSINE, 4, 0, NULL,
                                   NULL, out, &n),
                 TL_OK);
    cr_assert_eq(n, 0); /* every neighbour of 1..5 is an anchor */
    /* counters on bad arguments */
    cr_assert_eq(tl_cooc_sets(NULL, TL_COOC_BOUGHT_TOGETHER), 0);
    cr_assert_eq(tl_cooc_sets(m, (enum tl_cooc_rel)5), 0);
    cr_assert_eq(tl_cooc_pairs(m, (enum tl_cooc_rel)5), 0);
    cr_assert_eq(tl_cooc_item_count(NULL, TL_COOC_BOUGHT_TOGETHER, 1), 0);
    cr_assert_eq(tl_cooc_pair_count(NULL, TL_COOC_BOUGHT_TOGETHER, 1, 2), 0);
    cr_assert_eq(tl_cooc_memory(NULL), 0);
    tl_cooc_free(m);
    tl_cooc_free(NULL);
}

Test(cooc, alloc_failure_applies_nothing)
{
    long live0 = tl_alloc_live();
    struct tl_cooc *m = NULL;
    for (long f = 0; !m; f++) {
        tl_alloc_fail_after(f);
        m = tl_cooc_new(NULL);
        tl_alloc_fail_after(-1);
        cr_assert_lt(f, 10);
    }
    uint32_t b[30];
    for (uint32_t i = 0; i < 30; i++) b[i] = i * 7;
    cr_assert_eq(tl_cooc_add_basket(m, TL_COOC_ALSO_BOUGHT, b, 10), TL_OK);
    int failures = 0;
    for (long f = 0;; f++) {
        tl_alloc_fail_after(f);
        enum tl_rc rc = tl_cooc_add_basket(m, TL_COOC_ALSO_BOUGHT, b, 30);
        tl_alloc_fail_after(-1);
        if (rc == TL_OK) break;
        failures++;
        cr_assert_eq(rc, TL_ENOMEM);
        cr_assert_eq(tl_cooc_sets(m, TL_COOC_ALSO_BOUGHT), 1);
        cr_assert_eq(tl_cooc_item_count(m, TL_COOC_ALSO_BOUGHT, 0), 1);
        cr_assert_eq(tl_cooc_item_count(m, TL_COOC_ALSO_BOUGHT, 29 * 7), 0);
        cr_assert_eq(tl_cooc_pair_count(m, TL_COOC_ALSO_BOUGHT, 0, 7), 1);
        cr_assert_eq(tl_cooc_pairs(m, TL_COOC_ALSO_BOUGHT), 45);
        cr_assert_lt(f, 100);
    }
    cr_assert_gt(failures, 0);
    cr_assert_eq(tl_cooc_sets(m, TL_COOC_ALSO_BOUGHT), 2);
    cr_assert_eq(tl_cooc_pair_count(m, TL_COOC_ALSO_BOUGHT, 0, 7), 2);
    cr_assert_eq(tl_cooc_pairs(m, TL_COOC_ALSO_BOUGHT), 30 * 29 / 2);
    /* the multi query's accumulator failing */
    struct tl_cooc_hit out[4];
    size_t n = 9;
    tl_alloc_fail_after(0);
    enum tl_rc rc = tl_cooc_top_multi(m, TL_COOC_ALSO_BOUGHT, b, 2, TL_COOC_COSINE, 4, 0, NULL, NULL, out, &n);
    tl_alloc_fail_after(-1);
    cr_assert_eq(rc, TL_ENOMEM);
    cr_assert_eq(n, 0);
    size_t mem = tl_cooc_memory(m);
    cr_assert_gt(mem, 30 * 29 * 8);
    tl_cooc_free(m);
    cr_assert_eq(tl_alloc_live(), live0);
}

#endif /* !TL_COOC_STANDALONE */

/* ---- concurrency: writers adding sets while readers query ---- */

#define W_THREADS 2
#define R_THREADS 2
#define W_SETS 3000
#define CITEMS 300

struct hammer {
    struct tl_cooc *m;
    _Atomic int writers_done;
    _Atomic long queries;
    _Atomic int bad;
};

struct warg {
    struct hammer *h;
    uint64_t seed;
};

static uint32_t hrand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static void *writer(void *p)
{
    struct warg *a = p;
    uint32_t items[12];
    for (int s = 0; s < W_SETS; s++) {
        size_t n = 1 + hrand(&a->seed) % 12;
        for (size_t i = 0; i < n; i++) items[i] = hrand(&a->seed) % CITEMS;
        enum tl_cooc_rel rel = (enum tl_cooc_rel)(s % TL_COOC_REL_COUNT);
        if (s % 2) {
            if (tl_cooc_add_basket(a->h->m, rel, items, n) != TL_OK) atomic_store(&a->h->bad, 1);
        } else {
            for (size_t i = 0; i < n; i++)
                if (tl_cooc_add_to_set(a->h->m, rel, items, i, items[i]) != TL_OK) atomic_store(&a->h->bad, 1);
        }
    }
    atomic_fetch_add(&a->h->writers_done, 1);
    return NULL;
}

static void *reader(void *p)
{
    struct warg *a = p;
    struct tl_cooc_hit out[10];
    size_t n;
    while (atomic_load(&a->h->writers_done) < W_THREADS) {
        enum tl_cooc_rel rel = (enum tl_cooc_rel)(hrand(&a->seed) % TL_COOC_REL_COUNT);
        enum tl_cooc_sim sim = (enum tl_cooc_sim)(hrand(&a->seed) % 4);
        uint32_t anc[3] = {hrand(&a->seed) % CITEMS, hrand(&a->seed) % CITEMS, hrand(&a->seed) % CITEMS};
        if (tl_cooc_top(a->h->m, rel, anc[0], sim, 10, 1, NULL, NULL, out, &n) != TL_OK) atomic_store(&a->h->bad, 2);
        for (size_t i = 0; i < n; i++)
            if (!(out[i].score > 0) || out[i].item == anc[0] || out[i].support == 0) atomic_store(&a->h->bad, 3);
        if (tl_cooc_top_multi(a->h->m, rel, anc, 3, sim, 10, 1, NULL, NULL, out, &n) != TL_OK)
            atomic_store(&a->h->bad, 4);
        for (size_t i = 0; i < n; i++)
            if (out[i].item == anc[0] || out[i].item == anc[1] || out[i].item == anc[2]) atomic_store(&a->h->bad, 5);
        (void)tl_cooc_memory(a->h->m);
        atomic_fetch_add(&a->h->queries, 1);
    }
    return NULL;
}

/* NULL on success, else what went wrong. */
static const char *hammer_run(void)
{
    static char why[128];
    struct hammer h = {.m = tl_cooc_new(NULL)};
    if (!h.m) return "tl_cooc_new failed";
    pthread_t t[W_THREADS + R_THREADS];
    struct warg args[W_THREADS + R_THREADS];
    for (int i = 0; i < W_THREADS + R_THREADS; i++) {
        args[i] = (struct warg){&h, 1000u + (uint64_t)i};
        pthread_create(&t[i], NULL, i < W_THREADS ? writer : reader, &args[i]);
    }
    for (int i = 0; i < W_THREADS + R_THREADS; i++) pthread_join(t[i], NULL);
    const char *res = NULL;
    if (atomic_load(&h.bad)) {
        snprintf(why, sizeof why, "a thread saw an error (code %d)", atomic_load(&h.bad));
        res = why;
    }
    /* every set was counted once: sum over relations of N = writers * sets */
    uint64_t sets = 0;
    for (int r = 0; r < TL_COOC_REL_COUNT; r++) sets += tl_cooc_sets(h.m, (enum tl_cooc_rel)r);
    if (!res && sets != (uint64_t)W_THREADS * W_SETS) {
        snprintf(why, sizeof why, "N summed %llu, expected %d", (unsigned long long)sets, W_THREADS * W_SETS);
        res = why;
    }
    /* symmetry and n_ij <= min(n_i, n_j) */
    for (int r = 0; r < TL_COOC_REL_COUNT && !res; r++)
        for (uint32_t i = 0; i < CITEMS && !res; i++)
            for (uint32_t j = i + 1; j < CITEMS; j++) {
                uint32_t a = tl_cooc_pair_count(h.m, (enum tl_cooc_rel)r, i, j);
                uint32_t b = tl_cooc_pair_count(h.m, (enum tl_cooc_rel)r, j, i);
                if (a != b || a > tl_cooc_item_count(h.m, (enum tl_cooc_rel)r, i) ||
                    a > tl_cooc_item_count(h.m, (enum tl_cooc_rel)r, j)) {
                    snprintf(why, sizeof why, "rel %d pair %u,%u: %u / %u", r, i, j, a, b);
                    res = why;
                    break;
                }
            }
    if (!res && atomic_load(&h.queries) == 0) res = "readers never ran";
    tl_cooc_free(h.m);
    return res;
}

#ifndef TL_COOC_STANDALONE
Test(cooc, threads, .timeout = 120)
{
    const char *why = hammer_run();
    cr_assert_null(why, "%s", why);
}
#else
int main(void)
{
    const char *why = hammer_run();
    if (why) {
        fprintf(stderr, "FAIL: %s\n", why);
        return 1;
    }
    printf("cooc concurrency: ok\n");
    return 0;
}
#endif

#ifndef TL_COOC_STANDALONE
/* ---- Online Retail (skipped without ../shared/data) ---- */

#define OR_MIN_SUPPORT 10
#define OR_CUST_MAX 8000

struct or_ctx {
    struct tl_cooc *m;  /* bought together */
    struct tl_cooc *m2; /* also bought (a second model, to measure each relation's memory) */
    struct tl_strtab codes, custs;
    char **titles; /* by code index */
    size_t titles_cap;
    uint32_t *cust_items[OR_CUST_MAX]; /* first TL_COOC_BASKET_MAX distinct items per customer */
    uint32_t cust_n[OR_CUST_MAX];
    uint64_t orders, lines;
    double cooc_s; /* time spent in tl_cooc_add_basket (bought together) */
    double cust_s; /* time spent in tl_cooc_add_to_set (also bought, one call per line) */
};

static double now_s(void);

static int or_item(void *ctx, const struct tl_item *it, long line)
{
    struct or_ctx *c = ctx;
    uint32_t id;
    if (tl_strtab_intern(&c->codes, it->id, &id) != TL_OK) return TL_ENOMEM;
    if (id >= c->titles_cap) {
        size_t cap = c->titles_cap ? c->titles_cap * 2 : 1024;
        while (cap <= id) cap *= 2;
        char **t = tl_realloc(c->titles, cap * sizeof *t);
        if (!t) return TL_ENOMEM;
        memset(t + c->titles_cap, 0, (cap - c->titles_cap) * sizeof *t);
        c->titles = t;
        c->titles_cap = cap;
    }
    if (!c->titles[id] && it->title) c->titles[id] = tl_strdup(it->title);
    return 0;
}

static int or_order(void *ctx, const struct tl_order *o, long line)
{
    struct or_ctx *c = ctx;
    if (o->is_return) return 0;
    uint32_t items[TL_FMT_ORDER_LINES_MAX];
    for (size_t i = 0; i < o->n_lines; i++)
        if (tl_strtab_intern(&c->codes, o->lines[i].item_id, &items[i]) != TL_OK) return TL_ENOMEM;
    double t0 = now_s();
    if (tl_cooc_add_basket(c->m, TL_COOC_BOUGHT_TOGETHER, items, o->n_lines) != TL_OK) return TL_EINTERNAL;
    double t1 = now_s();
    c->cooc_s += t1 - t0;
    c->orders++;
    c->lines += o->n_lines;
    if (o->customer_id && *o->customer_id) {
        uint32_t cu;
        if (tl_strtab_intern(&c->custs, o->customer_id, &cu) != TL_OK || cu >= OR_CUST_MAX) return TL_ETOOBIG;
        if (!c->cust_items[cu] && !(c->cust_items[cu] = tl_malloc(TL_COOC_BASKET_MAX * sizeof(uint32_t))))
            return TL_ENOMEM;
        for (size_t i = 0; i < o->n_lines; i++) {
            if (tl_cooc_add_to_set(c->m2, TL_COOC_ALSO_BOUGHT, c->cust_items[cu], c->cust_n[cu], items[i]) != TL_OK)
                return TL_EINTERNAL;
            if (c->cust_n[cu] < TL_COOC_BASKET_MAX) {
                uint32_t k = 0;
                while (k < c->cust_n[cu] && c->cust_items[cu][k] != items[i]) k++;
                if (k == c->cust_n[cu]) c->cust_items[cu][c->cust_n[cu]++] = items[i];
            }
        }
    }
    c->cust_s += now_s() - t1;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

Test(cooc, online_retail, .timeout = 300)
{
    if (access(REAL_OR, R_OK) != 0) cr_skip_test("%s not present", REAL_OR);
    static struct or_ctx c;
    memset(&c, 0, sizeof c);
    tl_strtab_init(&c.codes);
    tl_strtab_init(&c.custs);
    c.m = tl_cooc_new(NULL);
    c.m2 = tl_cooc_new(NULL);
    struct tl_err err;
    tl_err_clear(&err);
    cr_assert_eq(tl_fmt_import_catalog(REAL_OR, "online-retail", NULL, or_item, &c, NULL, &err), TL_OK, "%s", err.msg);
    double t0 = now_s();
    cr_assert_eq(tl_fmt_import_orders(REAL_OR, "online-retail", NULL, or_order, &c, NULL, &err), TL_OK, "%s", err.msg);
    double t1 = now_s();
    size_t mem = tl_cooc_memory(c.m), mem2 = tl_cooc_memory(c.m2);
    uint64_t p1 = tl_cooc_pairs(c.m, TL_COOC_BOUGHT_TOGETHER), p2 = tl_cooc_pairs(c.m2, TL_COOC_ALSO_BOUGHT);
    printf("online retail: %llu orders, %llu lines, %u items, %u customers; import + cooc build %.2f s, of which "
           "add_basket %.2f s, add_to_set %.2f s\n",
           (unsigned long long)c.orders, (unsigned long long)c.lines, c.codes.count, c.custs.count, t1 - t0, c.cooc_s,
           c.cust_s);
    printf("  bought together: N %llu, %llu distinct pairs, %.1f MB (%.1f B per pair)\n",
           (unsigned long long)tl_cooc_sets(c.m, TL_COOC_BOUGHT_TOGETHER), (unsigned long long)p1, mem / 1e6,
           (double)mem / (double)p1);
    printf("  also bought: N %llu, %llu distinct pairs, %.1f MB (%.1f B per pair)\n",
           (unsigned long long)tl_cooc_sets(c.m2, TL_COOC_ALSO_BOUGHT), (unsigned long long)p2, mem2 / 1e6,
           (double)mem2 / (double)p2);
    cr_assert_lt((double)mem / (double)p1, 40.0);
    cr_assert_gt(c.orders, 18000);
    cr_assert_eq(tl_cooc_sets(c.m, TL_COOC_BOUGHT_TOGETHER), c.orders);

    uint32_t heart = tl_strtab_find(&c.codes, "85123A");
    cr_assert_neq(heart, TL_STRTAB_NONE);
    cr_assert_gt(tl_cooc_item_count(c.m, TL_COOC_BOUGHT_TOGETHER, heart), 1000);
    {
        struct tl_cooc_hit *all = tl_malloc(TL_COOC_K_MAX * sizeof *all);
        size_t deg = 0;
        cr_assert_eq(
            tl_cooc_top(c.m, TL_COOC_BOUGHT_TOGETHER, heart, TL_COOC_COSINE, TL_COOC_K_MAX, 1, NULL, NULL, all, &deg),
            TL_OK);
        printf("  85123A: in %u orders, %zu bought-together neighbours\n",
               tl_cooc_item_count(c.m, TL_COOC_BOUGHT_TOGETHER, heart), deg);
        cr_assert_gt(deg, 100);
        tl_free(all);
    }
    static const char *names[] = {"cosine", "jaccard", "lift", "cond"};
    struct tl_cooc_hit out[5];
    size_t n;
    for (int s = 0; s < 4; s++) {
        double q0 = now_s();
        cr_assert_eq(tl_cooc_top(c.m, TL_COOC_BOUGHT_TOGETHER, heart, (enum tl_cooc_sim)s, 5, OR_MIN_SUPPORT, NULL,
                                 NULL, out, &n),
                     TL_OK);
        double q1 = now_s();
        cr_assert_eq(n, 5);
        printf("  85123A bought together, %s (min support %d, %.0f us):\n", names[s], OR_MIN_SUPPORT, (q1 - q0) * 1e6);
        for (size_t i = 0; i < n; i++) {
            const char *code = tl_strtab_str(&c.codes, out[i].item);
            const char *title = out[i].item < c.titles_cap ? c.titles[out[i].item] : NULL;
            printf("    %-8s %-40s score %.4f support %u\n", code, title ? title : "?", out[i].score, out[i].support);
            cr_assert_geq(out[i].support, OR_MIN_SUPPORT);
            cr_assert_eq(out[i].support, tl_cooc_pair_count(c.m, TL_COOC_BOUGHT_TOGETHER, heart, out[i].item));
            if (i) cr_assert_geq(out[i - 1].score, out[i].score);
        }
        if (s == TL_COOC_LIFT) cr_assert_geq(out[0].support, OR_MIN_SUPPORT);
    }
    /* customers who bought 85123A also bought */
    cr_assert_eq(tl_cooc_top(c.m2, TL_COOC_ALSO_BOUGHT, heart, TL_COOC_COND, 5, OR_MIN_SUPPORT, NULL, NULL, out, &n),
                 TL_OK);
    cr_assert_eq(n, 5);
    printf("  85123A also bought (cond):");
    for (size_t i = 0; i < n; i++) printf(" %s", tl_strtab_str(&c.codes, out[i].item));
    printf("\n");
    /* a cart of the heart holder and the best cosine neighbour */
    uint32_t cart[2] = {heart, 0};
    cr_assert_eq(
        tl_cooc_top(c.m, TL_COOC_BOUGHT_TOGETHER, heart, TL_COOC_COSINE, 1, OR_MIN_SUPPORT, NULL, NULL, out, &n),
        TL_OK);
    cart[1] = out[0].item;
    double q0 = now_s();
    cr_assert_eq(tl_cooc_top_multi(c.m, TL_COOC_BOUGHT_TOGETHER, cart, 2, TL_COOC_COSINE, 5, OR_MIN_SUPPORT, NULL, NULL,
                                   out, &n),
                 TL_OK);
    double q1 = now_s();
    cr_assert_eq(n, 5);
    printf("  cart {85123A, %s} complements (cosine, %.0f us):", tl_strtab_str(&c.codes, cart[1]), (q1 - q0) * 1e6);
    for (size_t i = 0; i < n; i++) {
        cr_assert_neq(out[i].item, cart[0]);
        cr_assert_neq(out[i].item, cart[1]);
        printf(" %s(via %s)", tl_strtab_str(&c.codes, out[i].item), tl_strtab_str(&c.codes, out[i].anchor));
    }
    printf("\n");
    tl_cooc_free(c.m);
    tl_cooc_free(c.m2);
    for (size_t i = 0; i < c.titles_cap; i++) tl_free(c.titles[i]);
    tl_free(c.titles);
    for (int i = 0; i < OR_CUST_MAX; i++) tl_free(c.cust_items[i]);
    tl_strtab_free(&c.codes);
    tl_strtab_free(&c.custs);
}
#endif
