/* Tests for src/analytics/search_stats.c: counting with per-shopper
 * dedupe, zero results, crediting actions that follow a search within the
 * window, decay of learned scores (values computed here from the
 * documented formula), shop isolation, normalisation and the report. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analytics/search_stats.h"
#include "core/alloc.h"

#define T0 1700000000000LL /* 2023-11-14, ms */
#define MIN 60000LL
#define DAY 86400000LL

Test(search_stats, normalize)
{
    char out[TL_SSTATS_QUERY_MAX + 1];
    cr_assert_eq(tl_sstats_normalize("  Red   SHOES\t", out, sizeof out), 9);
    cr_assert_str_eq(out, "red shoes");
    cr_assert_eq(tl_sstats_normalize(" \t ", out, sizeof out), 0);
    cr_assert_str_eq(out, "");
    /* UTF-8 kept byte for byte; a cut never splits a character */
    char longq[600];
    memset(longq, 'a', 199);
    strcpy(longq + 199, "\xc3\xa9tail"); /* 'é' straddles byte 200 */
    size_t n = tl_sstats_normalize(longq, out, sizeof out);
    cr_assert_eq(n, 199);
    cr_assert_eq(strlen(out), 199);
}

Test(search_stats, counts_dedupes_and_zero_results)
{
    struct tl_sstats *st = tl_sstats_new(NULL);
    cr_assert_not_null(st);
    tl_sstats_search(st, 1, 11, "Lamp", 5, T0);
    tl_sstats_search(st, 1, 11, "lamp ", 5, T0 + 5 * MIN); /* same shopper, page 2: once */
    tl_sstats_search(st, 1, 12, "lamp", 5, T0 + 6 * MIN);  /* another shopper */
    tl_sstats_search(st, 1, 11, "lamp", 5, T0 + 60 * MIN); /* same shopper, an hour later: again */
    tl_sstats_search(st, 1, 13, "xyzzy", 0, T0);
    tl_sstats_search(st, 1, 13, "xyzzy", -1, T0 + MIN); /* storefront event of the same search */
    tl_sstats_search(st, 2, 14, "lamp", 3, T0);         /* another shop */
    struct tl_buf b;
    tl_buf_init(&b, 1 << 20);
    cr_assert_eq(tl_sstats_report_json(st, 1, 10, &b), TL_OK);
    cr_assert(strstr(b.data, "\"queries_tracked\":2") != NULL, "%s", b.data);
    cr_assert(strstr(b.data, "{\"query\":\"lamp\",\"searches\":3,\"zero_results\":0") != NULL, "%s", b.data);
    cr_assert(strstr(b.data, "\"zero_results\":[{\"query\":\"xyzzy\",\"searches\":1,\"zero_results\":1}]") != NULL,
              "%s", b.data);
    tl_buf_free(&b);
    tl_sstats_free(st);
}

Test(search_stats, actions_credit_the_last_search_within_the_window)
{
    struct tl_sstats *st = tl_sstats_new(NULL);
    tl_sstats_search(st, 1, 21, "mug", 10, T0);
    tl_sstats_action(st, 1, 21, 7, TL_SSTATS_CLICK, 0, T0 + MIN);
    tl_sstats_action(st, 1, 21, 8, TL_SSTATS_CLICK, 0, T0 + 2 * MIN);
    tl_sstats_action(st, 1, 21, 8, TL_SSTATS_CART, 0, T0 + 3 * MIN);
    tl_sstats_action(st, 1, 21, 9, TL_SSTATS_CLICK, 0, T0 + 31 * MIN); /* outside 30 min: nothing */
    tl_sstats_action(st, 1, 22, 9, TL_SSTATS_CLICK, 0, T0 + MIN);      /* never searched: nothing */
    tl_sstats_action(st, 2, 21, 9, TL_SSTATS_CLICK, 0, T0 + MIN);      /* other shop: nothing */
    uint32_t items[8];
    double w[8];
    size_t n = tl_sstats_learned(st, 1, "mug", T0 + 3 * MIN, items, w, 8);
    cr_assert_eq(n, 2);
    /* item 8: click 1 + cart 3 = 4 (decay over 2 minutes ~ 1 - 3e-5); item 7: 1 */
    cr_assert_eq(items[0], 8);
    cr_assert_eq(items[1], 7);
    cr_assert_float_eq(w[0], 1.0, 1e-12);
    double s8 = 1.0 * pow(2.0, -(1.0 / 1440) / 30) + 3.0;
    double s7 = 1.0 * pow(2.0, -(2.0 / 1440) / 30);
    cr_assert_float_eq(w[1], s7 / s8, 1e-6);
    cr_assert_eq(tl_sstats_learned(st, 2, "mug", T0, items, w, 8), 0);
    struct tl_buf b;
    tl_buf_init(&b, 1 << 20);
    tl_sstats_report_json(st, 1, 10, &b);
    /* two clicks on one search: clicked_searches 1, ctr 1 */
    cr_assert(strstr(b.data, "\"clicked_searches\":1,\"clicks\":2,\"carts\":1,\"purchases\":0,\"ctr\":1.0000") != NULL,
              "%s", b.data);
    tl_buf_free(&b);
    tl_sstats_free(st);
}

Test(search_stats, learned_scores_decay_with_the_half_life)
{
    struct tl_sstats *st = tl_sstats_new(NULL);
    tl_sstats_search(st, 1, 31, "vase", 4, T0);
    tl_sstats_action(st, 1, 31, 1, TL_SSTATS_PURCHASE, 20, T0); /* 5 at T0 */
    tl_sstats_search(st, 1, 32, "vase", 4, T0 + 30 * DAY);
    tl_sstats_action(st, 1, 32, 2, TL_SSTATS_CART, 0, T0 + 30 * DAY); /* 3 at T0 + 30 d */
    uint32_t items[4];
    double w[4];
    /* at T0 + 30 d: item 1 = 5 * 2^-1 = 2.5, item 2 = 3 -> item 2 first, 2.5 / 3 */
    size_t n = tl_sstats_learned(st, 1, "vase", T0 + 30 * DAY, items, w, 4);
    cr_assert_eq(n, 2);
    cr_assert_eq(items[0], 2);
    cr_assert_float_eq(w[1], 2.5 / 3.0, 1e-6);
    tl_sstats_free(st);
}

Test(search_stats, no_leak_and_null_safe)
{
    long live = tl_alloc_live();
    struct tl_sstats *st = tl_sstats_new(NULL);
    for (int i = 0; i < 300; i++) {
        char q[32];
        snprintf(q, sizeof q, "query %d", i);
        tl_sstats_search(st, 1, (uint64_t)i + 1, q, i % 3, T0 + i);
        tl_sstats_action(st, 1, (uint64_t)i + 1, (uint32_t)i, TL_SSTATS_CLICK, 0, T0 + i + 1);
    }
    tl_sstats_search(st, 1, 0, "anonymous", 1, T0); /* shopper unknown: counted */
    tl_sstats_search(NULL, 1, 1, "x", 1, T0);
    tl_sstats_action(NULL, 1, 1, 1, TL_SSTATS_CLICK, 0, T0);
    tl_sstats_free(st);
    tl_sstats_free(NULL);
    cr_assert_eq(tl_alloc_live(), live);
}

Test(search_stats, completions_from_clicked_searches)
{
    struct tl_sstats *st = tl_sstats_new(NULL);
    /* "red lamp": 3 shoppers, 2 clicked; "red lantern": 1 clicked; "red rug": searched, never clicked */
    for (uint64_t u = 1; u <= 3; u++) {
        tl_sstats_search(st, 1, u, "red lamp", 4, T0);
        if (u < 3) tl_sstats_action(st, 1, u, 1, TL_SSTATS_CLICK, 0, T0 + MIN);
    }
    tl_sstats_search(st, 1, 9, "Red Lantern", 2, T0);
    tl_sstats_action(st, 1, 9, 2, TL_SSTATS_CLICK, 0, T0 + MIN);
    tl_sstats_search(st, 1, 10, "red rug", 2, T0);
    tl_sstats_search(st, 2, 11, "red lamp", 2, T0); /* other shop */
    tl_sstats_action(st, 2, 11, 2, TL_SSTATS_CLICK, 0, T0 + MIN);
    char out[4][TL_SSTATS_QUERY_MAX + 1];
    uint32_t counts[4];
    size_t n = tl_sstats_complete(st, 1, "red la", out, counts, 4);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(out[0], "red lamp");
    cr_assert_eq(counts[0], 2);
    cr_assert_str_eq(out[1], "red lantern");
    cr_assert_eq(counts[1], 1);
    cr_assert_eq(tl_sstats_complete(st, 1, "red r", out, counts, 4), 0);
    cr_assert_eq(tl_sstats_complete(st, 1, "blue", out, counts, 4), 0);
    cr_assert_eq(tl_sstats_complete(st, 1, "red lamp", out, counts, 1), 1);
    tl_sstats_free(st);
}
