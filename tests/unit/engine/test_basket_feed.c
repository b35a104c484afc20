/* The start-up feed that counts orders' co-occurrence on a worker thread
 * (src/engine/basket_feed.h) gives exactly what counting on the caller
 * gives: the same relations, order by order, across buffer hand-offs, an
 * order larger than a buffer, and two shops fed alternately. */
#include <string.h>
#include "../tsan_standalone.h"

#include "core/alloc.h"
#include "engine/basket_feed.h"
#include "engine/internal.h"
#include "engine/itemsets.h"
#include "model/cooc.h"

#define ITEMS 500

static uint32_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static void shop_init(struct tl_shop_state *s)
{
    memset(s, 0, sizeof *s);
    s->cooc = tl_cooc_new(NULL);
    cr_assert_not_null(s->cooc);
    tl_itemsets_init(&s->bought_sets);
}

static void shop_fini(struct tl_shop_state *s)
{
    tl_cooc_free(s->cooc);
    tl_itemsets_free(&s->bought_sets);
}

static void same(struct tl_shop_state *a, struct tl_shop_state *b)
{
    for (int rel = TL_COOC_BOUGHT_TOGETHER; rel <= TL_COOC_ALSO_BOUGHT; rel++) {
        cr_assert_eq(tl_cooc_sets(a->cooc, rel), tl_cooc_sets(b->cooc, rel), "rel %d", rel);
        cr_assert_eq(tl_cooc_pairs(a->cooc, rel), tl_cooc_pairs(b->cooc, rel), "rel %d", rel);
        for (uint32_t i = 0; i < ITEMS; i++) {
            cr_assert_eq(tl_cooc_item_count(a->cooc, rel, i), tl_cooc_item_count(b->cooc, rel, i));
            for (uint32_t j = i + 1; j < ITEMS; j += 7)
                cr_assert_eq(tl_cooc_pair_count(a->cooc, rel, i, j), tl_cooc_pair_count(b->cooc, rel, i, j));
        }
    }
    cr_assert_eq(tl_cooc_memory(a->cooc), tl_cooc_memory(b->cooc));
    cr_assert_eq(a->bought_sets.n, b->bought_sets.n);
    uint32_t sa[TL_COOC_BASKET_MAX], sb[TL_COOC_BASKET_MAX];
    for (uint64_t c = 1; c <= 300; c++) {
        size_t na = tl_itemsets_get(&a->bought_sets, c, sa, TL_COOC_BASKET_MAX);
        size_t nb = tl_itemsets_get(&b->bought_sets, c, sb, TL_COOC_BASKET_MAX);
        cr_assert_eq(na, nb);
        cr_assert_eq(memcmp(sa, sb, na * sizeof *sa), 0, "customer %llu's set", (unsigned long long)c);
    }
}

Test(basket_feed, worker_counts_what_the_caller_would)
{
    struct tl_shop_state inl[2], fed[2];
    for (int i = 0; i < 2; i++) {
        shop_init(&inl[i]);
        shop_init(&fed[i]);
    }
    struct tl_basket_feed *f = tl_basket_feed_start();
    cr_assert_not_null(f);
    static uint32_t idx[TL_BASKET_FEED_BYTES / 4 + 100];
    uint64_t seed = 3, lines = 0;
    for (int o = 0; o < 30000; o++) {
        /* mostly small orders, some of 100-300 lines, one larger than a buffer */
        size_t n = o == 12345 ? TL_BASKET_FEED_BYTES / 4 + 100 : o % 97 == 0 ? 100 + lcg(&seed) % 200 : lcg(&seed) % 12;
        for (size_t i = 0; i < n; i++) idx[i] = lcg(&seed) % (o % 3 ? 60 : ITEMS);
        int shop = o % 5 == 0, has = lcg(&seed) % 4 != 0;
        uint64_t cust = 1 + lcg(&seed) % 300;
        tl_basket_feed_add(NULL, &inl[shop], cust, has, idx, n);
        tl_basket_feed_add(f, &fed[shop], cust, has, idx, n);
        lines += n;
    }
    tl_basket_feed_finish(f);
    cr_assert_gt(lines * 4 + 30000 * 24, 2 * TL_BASKET_FEED_BYTES); /* several hand-offs */
    for (int i = 0; i < 2; i++) {
        cr_assert_gt(tl_cooc_pairs(fed[i].cooc, TL_COOC_ALSO_BOUGHT), 1000);
        same(&inl[i], &fed[i]);
        shop_fini(&inl[i]);
        shop_fini(&fed[i]);
    }
    tl_basket_feed_finish(NULL);
}

#ifdef TL_TSAN_STANDALONE
int main(void)
{
    worker_counts_what_the_caller_would();
    puts("basket_feed: ok");
    return 0;
}
#endif

#ifndef TL_TSAN_STANDALONE
/* Out of memory while starting: no feed (the caller counts inline), and
 * nothing leaked. */
Test(basket_feed, start_without_memory_gives_null_and_leaks_nothing)
{
    long live = tl_alloc_live();
    int nulls = 0;
    for (long k = 0;; k++) {
        tl_alloc_fail_after(k);
        struct tl_basket_feed *f = tl_basket_feed_start();
        tl_alloc_fail_after(-1);
        if (!f) cr_assert_eq(tl_alloc_live(), live, "leak after %ld allocations", k);
        if (f) {
            tl_basket_feed_finish(f);
            break;
        }
        nulls++;
        cr_assert_lt(k, 20);
    }
    cr_assert_gt(nulls, 0);
    cr_assert_eq(tl_alloc_live(), live);
}
#endif
