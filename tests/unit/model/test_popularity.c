/* Tests for src/model/popularity.c: decay math against the formula, popular
 * ordering and weights, trending detection, country scope and fallback
 * threshold, skip callback, k larger than the catalog, the read cache,
 * out-of-order timestamps and rescaling, bad input, allocation failure and
 * concurrent writers/readers (run once under -fsanitize=thread). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "model/popularity.h"

#define DAY TL_MS_PER_DAY
#define HOUR TL_MS_PER_HOUR
static const int64_t T0 = 1291161600000LL; /* 2010-12-01, like the demo data */

/* Exact answers: never use the cache. */
static struct tl_pop *new_exact(void)
{
    struct tl_pop_params p;
    tl_pop_params_defaults(&p);
    p.cache_k = 0;
    struct tl_pop *m = tl_pop_new(&p);
    cr_assert_not_null(m);
    return m;
}

static double score_of(struct tl_pop *m, enum tl_pop_kind kind, const char *country, uint32_t item)
{
    struct tl_pop_hit out[64];
    size_t n = 0;
    cr_assert_eq(tl_pop_top(m, kind, country, 64, NULL, NULL, out, &n, NULL), TL_OK);
    for (size_t i = 0; i < n; i++)
        if (out[i].item == item) return out[i].score;
    return NAN;
}

static void add(struct tl_pop *m, uint32_t item, const char *c, int64_t ts, enum tl_event_type t)
{
    cr_assert_eq(tl_pop_add(m, item, c, ts, t, NAN), TL_OK);
}

/* ---------- parameters ---------- */

Test(pop_params, defaults_valid_and_bad_fields_named)
{
    struct tl_pop_params p;
    tl_pop_params_defaults(&p);
    struct tl_err e;
    tl_err_clear(&e);
    cr_assert_eq(tl_pop_params_check(&p, &e), TL_OK);
    cr_assert_float_eq(p.popular_half_life_days, 30, 0);
    cr_assert_float_eq(p.trending_short_days, 3, 0);
    cr_assert_float_eq(p.trending_long_days, 28, 0);
    cr_assert_float_eq(p.trending_prior_k, 5, 0);
    cr_assert_float_eq(p.trending_country_min, 30, 0);

    struct tl_pop_params b;
    b = p;
    b.w_view = -1;
    cr_assert_eq(tl_pop_params_check(&b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "w_view");
    cr_assert_null(tl_pop_new(&b));
    b = p;
    b.w_purchase = NAN;
    cr_assert_eq(tl_pop_params_check(&b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "w_purchase");
    b = p;
    b.popular_half_life_days = 0;
    cr_assert_eq(tl_pop_params_check(&b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "popular_half_life_days");
    b = p;
    b.trending_short_days = INFINITY;
    cr_assert_eq(tl_pop_params_check(&b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "trending_short_days");
    b = p;
    b.trending_long_days = 3; /* not > short */
    cr_assert_eq(tl_pop_params_check(&b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "trending_long_days");
    cr_assert_null(tl_pop_new(&b));
    b = p;
    b.trending_prior_k = 0;
    cr_assert_eq(tl_pop_params_check(&b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "trending_prior_k");
    b = p;
    b.trending_country_min = -1;
    cr_assert_eq(tl_pop_params_check(&b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "trending_country_min");
    b = p;
    b.cache_k = TL_POP_CACHE_K_MAX + 1;
    cr_assert_eq(tl_pop_params_check(&b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "cache_k");
    b = p;
    b.cache_min_age_ms = p.cache_max_age_ms + 1;
    cr_assert_eq(tl_pop_params_check(&b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "cache_min_age_ms");
    b = p;
    b.cache_max_age_ms = -1;
    cr_assert_eq(tl_pop_params_check(&b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "cache_max_age_ms");
    b = p;
    b.purchase_qty = (enum tl_pop_qty)7;
    cr_assert_eq(tl_pop_params_check(&b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "purchase_qty");
    cr_assert_eq(tl_pop_params_check(NULL, &e), TL_EINVAL);

    struct tl_pop *m = tl_pop_new(NULL); /* NULL = defaults */
    cr_assert_not_null(m);
    tl_pop_free(m);
    tl_pop_free(NULL);
}

/* ---------- decay math ---------- */

Test(pop_decay, one_half_life_older_counts_half)
{
    struct tl_pop *m = new_exact();
    int64_t H = 30 * DAY;
    add(m, 1, NULL, T0, TL_EV_PRODUCT_VIEW);
    add(m, 1, NULL, T0 + H, TL_EV_PRODUCT_VIEW);
    add(m, 2, NULL, T0 + H, TL_EV_PRODUCT_VIEW);
    add(m, 3, NULL, T0, TL_EV_PRODUCT_VIEW);
    cr_assert_eq(tl_pop_clock(m), T0 + H);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, NULL, 1), 1.5, 1e-12);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, NULL, 2), 1.0, 1e-12);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, NULL, 3), 0.5, 1e-12);
    /* two half-lives: a quarter */
    add(m, 4, NULL, T0 + 2 * H, TL_EV_PRODUCT_VIEW);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, NULL, 3), 0.25, 1e-12);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, NULL, 1), 0.75, 1e-12);
    tl_pop_free(m);
}

Test(pop_decay, trending_score_matches_formula)
{
    struct tl_pop *m = new_exact();
    /* item 1: 4 views now, 6 views 10 days ago */
    int64_t T = T0 + 10 * DAY;
    for (int i = 0; i < 6; i++) add(m, 1, NULL, T0, TL_EV_PRODUCT_VIEW);
    for (int i = 0; i < 4; i++) add(m, 1, NULL, T, TL_EV_PRODUCT_VIEW);
    double S = 4 + 6 * exp2(-10.0 / 3.0);
    double L = 4 + 6 * exp2(-10.0 / 28.0);
    double E = L * 3.0 / 28.0;
    double z = (S - E) / sqrt(E + 5.0);
    cr_assert_float_eq(score_of(m, TL_POP_TRENDING, NULL, 1), z, 1e-9);
    tl_pop_free(m);
}

/* ---------- popular ordering and weights ---------- */

Test(pop_popular, weights_and_ordering)
{
    struct tl_pop *m = new_exact();
    add(m, 10, NULL, T0, TL_EV_PRODUCT_VIEW);                              /* 1 */
    add(m, 11, NULL, T0, TL_EV_ADD_TO_CART);                               /* 3 */
    cr_assert_eq(tl_pop_add(m, 12, NULL, T0, TL_EV_PURCHASE, 500), TL_OK); /* 5: quantity ignored */
    add(m, 13, NULL, T0, TL_EV_PRODUCT_VIEW);
    add(m, 13, NULL, T0, TL_EV_PRODUCT_VIEW); /* 2 */
    /* no signal: returns, page views, searches, clicks */
    add(m, 10, NULL, T0 + DAY, TL_EV_RETURN);
    add(m, 14, NULL, T0 + DAY, TL_EV_PAGE_VIEW);
    add(m, 14, NULL, T0 + DAY, TL_EV_SEARCH);
    add(m, 14, NULL, T0 + DAY, TL_EV_REC_CLICK);
    add(m, 14, NULL, T0 + DAY, TL_EV_REMOVE_FROM_CART);
    cr_assert_eq(tl_pop_clock(m), T0, "ignored events must not move the data clock");

    struct tl_pop_hit out[10];
    size_t n;
    const char *scope = NULL;
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 10, NULL, NULL, out, &n, &scope), TL_OK);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(scope, "global");
    uint32_t want[] = {12, 11, 13, 10};
    double ws[] = {5, 3, 2, 1};
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(out[i].item, want[i]);
        cr_assert_float_eq(out[i].score, ws[i], 1e-12);
    }
    /* k smaller than the candidates */
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 2, NULL, NULL, out, &n, NULL), TL_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].item, 12);
    cr_assert_eq(out[1].item, 11);
    tl_pop_free(m);
}

Test(pop_popular, quantity_log_mode)
{
    struct tl_pop_params p;
    tl_pop_params_defaults(&p);
    p.cache_k = 0;
    p.purchase_qty = TL_POP_QTY_LOG;
    struct tl_pop *m = tl_pop_new(&p);
    cr_assert_eq(tl_pop_add(m, 1, NULL, T0, TL_EV_PURCHASE, 1), TL_OK);
    cr_assert_eq(tl_pop_add(m, 2, NULL, T0, TL_EV_PURCHASE, 3), TL_OK);
    cr_assert_eq(tl_pop_add(m, 3, NULL, T0, TL_EV_PURCHASE, NAN), TL_OK);
    cr_assert_eq(tl_pop_add(m, 4, NULL, T0, TL_EV_PURCHASE, -2), TL_OK);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, NULL, 1), 5.0, 1e-12);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, NULL, 2), 10.0, 1e-12);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, NULL, 3), 5.0, 1e-12);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, NULL, 4), 5.0, 1e-12);
    tl_pop_free(m);
}

Test(pop_popular, zero_weight_ignored)
{
    struct tl_pop_params p;
    tl_pop_params_defaults(&p);
    p.cache_k = 0;
    p.w_view = 0;
    struct tl_pop *m = tl_pop_new(&p);
    add(m, 1, NULL, T0, TL_EV_PRODUCT_VIEW);
    struct tl_pop_hit out[4];
    size_t n = 9;
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, NULL), TL_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(tl_pop_clock(m), 0);
    tl_pop_free(m);
}

Test(pop_popular, empty_model)
{
    struct tl_pop *m = new_exact();
    struct tl_pop_hit out[4];
    size_t n = 9;
    const char *scope = NULL;
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, &scope), TL_OK);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(scope, "global");
    cr_assert_eq(tl_pop_top(m, TL_POP_TRENDING, "GB", 4, NULL, NULL, out, &n, &scope), TL_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(tl_pop_clock(m), 0);
    tl_pop_free(m);
}

/* ---------- trending ---------- */

/* Item 1: steady 10 views a day, evenly spaced, for a year (13 long
 * half-lives, so its baseline L is saturated; an item younger than a few h_l
 * has L below its steady value and shows a positive score, by design).
 * Item 2: 1 view a day for a year, then a burst of 30 views in the last two
 * days. Item 3: a single view (tiny count). The data clock ends 0.8 of a
 * spacing after item 1's last view (right after its own event a steady item
 * sits at z ~ +0.06: the newest event counts fully, see popularity.c). */
Test(pop_trending, burst_beats_steady)
{
    struct tl_pop *m = new_exact();
    int64_t step = DAY / 10;
    int64_t end = T0 + 365 * DAY;
    for (int64_t t = T0; t < end; t += step) add(m, 1, NULL, t, TL_EV_PRODUCT_VIEW);
    int64_t last1 = end - step;
    for (int d = 0; d < 365; d++) add(m, 2, NULL, T0 + d * DAY + 5 * HOUR, TL_EV_PRODUCT_VIEW);
    for (int i = 0; i < 30; i++) add(m, 2, NULL, end - 2 * DAY + i * HOUR, TL_EV_PRODUCT_VIEW);
    add(m, 3, NULL, end - DAY, TL_EV_PRODUCT_VIEW);
    add(m, 4, NULL, last1 + step * 8 / 10, TL_EV_PAGE_VIEW); /* no signal */
    add(m, 5, NULL, last1 + step * 8 / 10, TL_EV_REC_IMPRESSION);
    /* move the clock with a view of an otherwise silent item 9 */
    add(m, 9, NULL, last1 + step * 8 / 10, TL_EV_PRODUCT_VIEW);

    struct tl_pop_hit out[10];
    size_t n;
    cr_assert_eq(tl_pop_top(m, TL_POP_TRENDING, NULL, 10, NULL, NULL, out, &n, NULL), TL_OK);
    cr_assert_geq(n, 1);
    cr_assert_eq(out[0].item, 2, "the burst item trends first");
    cr_assert_gt(out[0].score, 3.0, "burst z = %g", out[0].score);
    for (size_t i = 0; i < n; i++) {
        cr_assert_neq(out[i].item, 1, "steady item must not trend (score %g)", out[i].score);
        cr_assert_neq(out[i].item, 3, "single view is below trending_min_short");
        cr_assert_neq(out[i].item, 9, "single view is below trending_min_short");
        cr_assert_gt(out[i].score, 0);
    }
    /* the steady item is still the most popular */
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 10, NULL, NULL, out, &n, NULL), TL_OK);
    cr_assert_eq(out[0].item, 1);

    /* its trending score computed from the formula is <= 0 */
    double S = 0, L = 0;
    int64_t T = tl_pop_clock(m);
    for (int64_t t = T0; t < end; t += step) {
        S += exp2(-(double)(T - t) / (3.0 * DAY));
        L += exp2(-(double)(T - t) / (28.0 * DAY));
    }
    cr_assert_leq(S - L * 3.0 / 28.0, 0.0);
    tl_pop_free(m);
}

Test(pop_trending, min_short_threshold)
{
    struct tl_pop_params p;
    tl_pop_params_defaults(&p);
    p.cache_k = 0;
    struct tl_pop *m = tl_pop_new(&p);
    add(m, 1, NULL, T0, TL_EV_PRODUCT_VIEW); /* S = 1 < 2 */
    cr_assert(isnan(score_of(m, TL_POP_TRENDING, NULL, 1)));
    add(m, 1, NULL, T0, TL_EV_PRODUCT_VIEW); /* S = 2: trends */
    double E = 2 * 3.0 / 28.0;
    cr_assert_float_eq(score_of(m, TL_POP_TRENDING, NULL, 1), (2 - E) / sqrt(E + 5), 1e-12);
    tl_pop_free(m);
}

/* ---------- countries ---------- */

Test(pop_country, fallback_threshold_and_scope)
{
    struct tl_pop *m = new_exact();
    /* FR: 29 views of item 1 at the clock (weight exactly 29 < 30) */
    for (int i = 0; i < 29; i++) add(m, 1, "FR", T0, TL_EV_PRODUCT_VIEW);
    /* global gets a heavier item 2 from GB */
    for (int i = 0; i < 40; i++) add(m, 2, "GB", T0, TL_EV_PRODUCT_VIEW);

    struct tl_pop_hit out[10];
    size_t n;
    struct tl_pop_info info;
    cr_assert_eq(tl_pop_top_ex(m, TL_POP_POPULAR, "FR", 10, NULL, NULL, out, &n, &info), TL_OK);
    cr_assert_str_eq(info.scope, "global");
    cr_assert_float_eq(info.country_weight, 29, 1e-9);
    cr_assert_float_eq(info.country_min, 30, 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].item, 2);

    add(m, 1, "FR", T0, TL_EV_PRODUCT_VIEW); /* 30 >= 30: own scope */
    cr_assert_eq(tl_pop_top_ex(m, TL_POP_POPULAR, "fr", 10, NULL, NULL, out, &n, &info), TL_OK);
    cr_assert_str_eq(info.scope, "country");
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].item, 1);
    cr_assert_float_eq(out[0].score, 30, 1e-9);

    const char *scope = NULL;
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, "GB", 10, NULL, NULL, out, &n, &scope), TL_OK);
    cr_assert_str_eq(scope, "country");
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].item, 2);

    /* unknown (but well-formed) country and no country: global */
    cr_assert_eq(tl_pop_top_ex(m, TL_POP_POPULAR, "DE", 10, NULL, NULL, out, &n, &info), TL_OK);
    cr_assert_str_eq(info.scope, "global");
    cr_assert_float_eq(info.country_weight, 0, 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, "", 10, NULL, NULL, out, &n, &scope), TL_OK);
    cr_assert_str_eq(scope, "global");

    /* FR's short-window weight decays: 3 days later (clock moved by another
     * event) it is 15 < 30, so FR falls back again */
    add(m, 7, NULL, T0 + 3 * DAY, TL_EV_PRODUCT_VIEW);
    cr_assert_eq(tl_pop_top_ex(m, TL_POP_TRENDING, "FR", 10, NULL, NULL, out, &n, &info), TL_OK);
    cr_assert_str_eq(info.scope, "global");
    cr_assert_float_eq(info.country_weight, 15, 1e-9);
    tl_pop_free(m);
}

Test(pop_country, counters_are_per_country)
{
    struct tl_pop_params p;
    tl_pop_params_defaults(&p);
    p.cache_k = 0;
    p.trending_country_min = 0; /* always use the country's own data */
    struct tl_pop *m = tl_pop_new(&p);
    add(m, 1, "GB", T0, TL_EV_PURCHASE);
    add(m, 2, "DE", T0, TL_EV_ADD_TO_CART);
    add(m, 2, "DE", T0, TL_EV_ADD_TO_CART);
    add(m, 3, NULL, T0, TL_EV_PRODUCT_VIEW);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, "GB", 1), 5, 1e-12);
    cr_assert(isnan(score_of(m, TL_POP_POPULAR, "GB", 2)));
    cr_assert(isnan(score_of(m, TL_POP_POPULAR, "GB", 3)));
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, "DE", 2), 6, 1e-12);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, NULL, 2), 6, 1e-12);
    cr_assert_float_eq(score_of(m, TL_POP_POPULAR, NULL, 3), 1, 1e-12);
    tl_pop_free(m);
}

Test(pop_country, table_limit_counts_globally)
{
    struct tl_pop_params p;
    tl_pop_params_defaults(&p);
    p.cache_k = 0;
    p.trending_country_min = 0;
    struct tl_pop *m = tl_pop_new(&p);
    int made = 0;
    char c[3] = {0};
    for (int a = 0; a < 26 && made < TL_POP_COUNTRIES_MAX + 5; a++)
        for (int b = 0; b < 26 && made < TL_POP_COUNTRIES_MAX + 5; b++, made++) {
            c[0] = (char)('A' + a);
            c[1] = (char)('A' + b);
            cr_assert_eq(tl_pop_add(m, (uint32_t)made, c, T0, TL_EV_PRODUCT_VIEW, NAN), TL_OK);
        }
    /* a country beyond the table still counts globally */
    cr_assert_eq(tl_pop_add(m, 1000, "ZZ", T0, TL_EV_PRODUCT_VIEW, NAN), TL_OK);
    cr_assert_eq(tl_pop_add(m, 1000, "ZZ", T0, TL_EV_PRODUCT_VIEW, NAN), TL_OK);
    struct tl_pop_hit out[4];
    size_t n;
    const char *scope;
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, "ZZ", 4, NULL, NULL, out, &n, &scope), TL_OK);
    cr_assert_str_eq(scope, "global");
    cr_assert_eq(out[0].item, 1000);
    cr_assert_float_eq(out[0].score, 2, 1e-12);
    /* the 256th country has its own table, the 257th does not */
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, "JV", 4, NULL, NULL, out, &n, &scope), TL_OK); /* #256 */
    cr_assert_str_eq(scope, "country");
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].item, 255);
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, "JW", 4, NULL, NULL, out, &n, &scope), TL_OK); /* #257 */
    cr_assert_str_eq(scope, "global");
    tl_pop_free(m);
}

/* ---------- skip, k, bad input ---------- */

static int skip_even(void *ctx, uint32_t item)
{
    (*(int *)ctx)++;
    return item % 2 == 0;
}

Test(pop_top, skip_callback_and_k_larger_than_items)
{
    struct tl_pop *m = new_exact();
    for (uint32_t i = 0; i < 10; i++)
        for (uint32_t j = 0; j <= i; j++) add(m, i, NULL, T0, TL_EV_PRODUCT_VIEW);
    struct tl_pop_hit out[100];
    size_t n;
    int calls = 0;
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 3, skip_even, &calls, out, &n, NULL), TL_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(out[0].item, 9);
    cr_assert_eq(out[1].item, 7);
    cr_assert_eq(out[2].item, 5);
    cr_assert_gt(calls, 0);
    /* k larger than the number of items: all of them, still ordered */
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 100, NULL, NULL, out, &n, NULL), TL_OK);
    cr_assert_eq(n, 10);
    for (size_t i = 0; i + 1 < n; i++) cr_assert_gt(out[i].score, out[i + 1].score);
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 100, skip_even, &calls, out, &n, NULL), TL_OK);
    cr_assert_eq(n, 5);
    /* k = 0 */
    n = 7;
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 0, NULL, NULL, NULL, &n, NULL), TL_OK);
    cr_assert_eq(n, 0);
    tl_pop_free(m);
}

Test(pop_top, bad_input)
{
    struct tl_pop *m = new_exact();
    struct tl_pop_hit out[4];
    size_t n = 3;
    const char *scope = NULL;
    /* add */
    cr_assert_eq(tl_pop_add(NULL, 1, NULL, T0, TL_EV_PRODUCT_VIEW, NAN), TL_EINVAL);
    cr_assert_eq(tl_pop_add(m, TL_POP_ITEMS_MAX, NULL, T0, TL_EV_PRODUCT_VIEW, NAN), TL_ETOOBIG);
    cr_assert_eq(tl_pop_add(m, UINT32_MAX, NULL, T0, TL_EV_PRODUCT_VIEW, NAN), TL_ETOOBIG);
    cr_assert_eq(tl_pop_add(m, 1, NULL, -1, TL_EV_PRODUCT_VIEW, NAN), TL_EINVAL);
    cr_assert_eq(tl_pop_add(m, 1, NULL, TL_POP_TS_MAX + 1, TL_EV_PRODUCT_VIEW, NAN), TL_EINVAL);
    cr_assert_eq(tl_pop_add(m, 1, NULL, INT64_MAX, TL_EV_PRODUCT_VIEW, NAN), TL_EINVAL);
    const char *bad[] = {"GBR", "G", "1A", "G1", "\xc3\xa9X", "G ", " G", "--"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tl_pop_add(m, 1, bad[i], T0, TL_EV_PRODUCT_VIEW, NAN), TL_EINVAL, "%s", bad[i]);
        cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, bad[i], 4, NULL, NULL, out, &n, &scope), TL_EINVAL);
        cr_assert_eq(n, 0);
    }
    cr_assert_eq(tl_pop_add(m, 1, NULL, T0, (enum tl_event_type)99, NAN), TL_OK); /* no signal */
    cr_assert_eq(tl_pop_clock(m), 0, "rejected events must not be applied");
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, NULL), TL_OK);
    cr_assert_eq(n, 0);
    /* top */
    cr_assert_eq(tl_pop_top(NULL, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, &scope), TL_EINVAL);
    cr_assert_eq(tl_pop_top(m, (enum tl_pop_kind)0, NULL, 4, NULL, NULL, out, &n, &scope), TL_EINVAL);
    cr_assert_eq(tl_pop_top(m, (enum tl_pop_kind)3, NULL, 4, NULL, NULL, out, &n, &scope), TL_EINVAL);
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, TL_POP_K_MAX + 1, NULL, NULL, out, &n, &scope), TL_EINVAL);
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, NULL, &n, &scope), TL_EINVAL);
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, NULL, &scope), TL_EINVAL);
    cr_assert_eq(tl_pop_clock(NULL), 0);
    cr_assert_eq(tl_pop_memory(NULL), 0);
    tl_pop_free(m);
}

Test(pop_top, large_k_uses_heap_storage)
{
    struct tl_pop *m = new_exact();
    for (uint32_t i = 0; i < 1000; i++) add(m, i, NULL, T0 + i, TL_EV_PRODUCT_VIEW);
    struct tl_pop_hit *out = malloc(TL_POP_K_MAX * sizeof *out);
    size_t n;
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, TL_POP_K_MAX, NULL, NULL, out, &n, NULL), TL_OK);
    cr_assert_eq(n, 1000);
    cr_assert_eq(out[0].item, 999); /* newest = least decayed */
    cr_assert_eq(out[999].item, 0);
    free(out);
    tl_pop_free(m);
}

/* ---------- timestamps ---------- */

Test(pop_time, out_of_order_equals_in_order_and_rescale)
{
    /* events over two years (many rescales of the 3-day counter) */
    enum { N = 3000 };
    static int64_t ts[N];
    static uint32_t it[N];
    srand(7);
    for (int i = 0; i < N; i++) {
        ts[i] = T0 + (int64_t)i * (730 * DAY / N);
        it[i] = (uint32_t)(rand() % 20);
    }
    struct tl_pop *a = new_exact(), *b = new_exact();
    for (int i = 0; i < N; i++) add(a, it[i], "GB", ts[i], TL_EV_PRODUCT_VIEW);
    /* b: same events shuffled */
    static int ord[N];
    for (int i = 0; i < N; i++) ord[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int j = rand() % (i + 1);
        int t = ord[i];
        ord[i] = ord[j];
        ord[j] = t;
    }
    for (int i = 0; i < N; i++) add(b, it[ord[i]], "GB", ts[ord[i]], TL_EV_PRODUCT_VIEW);
    cr_assert_eq(tl_pop_clock(a), ts[N - 1]);
    cr_assert_eq(tl_pop_clock(b), ts[N - 1]);
    enum tl_pop_kind kinds[] = {TL_POP_POPULAR, TL_POP_TRENDING};
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < 20; i++) {
            double x = score_of(a, kinds[k], NULL, i), y = score_of(b, kinds[k], NULL, i);
            if (isnan(x)) {
                cr_assert(isnan(y));
                continue;
            }
            cr_assert(fabs(x - y) <= 1e-9 * fmax(1, fabs(x)), "kind %d item %u: %g vs %g", k, i, x, y);
        }
    /* and the popular score equals the formula computed directly */
    for (uint32_t i = 0; i < 20; i++) {
        double want = 0;
        for (int e = 0; e < N; e++)
            if (it[e] == i) want += exp2(-(double)(ts[N - 1] - ts[e]) / (30.0 * DAY));
        double got = score_of(a, TL_POP_POPULAR, NULL, i);
        if (want < 1e-300) continue;
        cr_assert(fabs(got - want) <= 1e-9 * want, "item %u: %g vs %g", i, got, want);
    }
    tl_pop_free(a);
    tl_pop_free(b);
}

Test(pop_time, very_old_event_after_new_ones)
{
    struct tl_pop *m = new_exact();
    add(m, 1, NULL, T0, TL_EV_PRODUCT_VIEW);
    add(m, 2, NULL, 0, TL_EV_PURCHASE); /* 1970: decays to nothing */
    cr_assert_eq(tl_pop_clock(m), T0);
    struct tl_pop_hit out[4];
    size_t n;
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, NULL), TL_OK);
    cr_assert_eq(out[0].item, 1);
    cr_assert_float_eq(out[0].score, 1, 1e-12);
    for (size_t i = 0; i < n; i++) cr_assert(isfinite(out[i].score) && out[i].score >= 0);
    tl_pop_free(m);
}

/* ---------- read cache ---------- */

static struct tl_pop *new_cached(size_t cache_k, uint64_t max_updates, int64_t max_age_ms)
{
    struct tl_pop_params p;
    tl_pop_params_defaults(&p);
    p.cache_k = cache_k;
    p.cache_max_updates = max_updates;
    p.cache_max_age_ms = max_age_ms;
    p.cache_min_age_ms = 0;
    p.scan_direct_max = 0; /* cache every scope */
    struct tl_pop *m = tl_pop_new(&p);
    cr_assert_not_null(m);
    return m;
}

Test(pop_cache, stale_within_bounds_then_rebuilt)
{
    struct tl_pop *m = new_cached(10, 3, 3600 * 1000);
    add(m, 1, NULL, T0, TL_EV_PRODUCT_VIEW);
    struct tl_pop_hit out[4];
    size_t n;
    struct tl_pop_info info;
    cr_assert_eq(tl_pop_top_ex(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, &info), TL_OK);
    cr_assert_eq(info.from_cache, 1);
    cr_assert_eq(n, 1);
    /* 2 more events (< 3): the snapshot is still served */
    add(m, 2, NULL, T0, TL_EV_PURCHASE);
    add(m, 3, NULL, T0, TL_EV_PURCHASE);
    cr_assert_eq(tl_pop_top_ex(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, &info), TL_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].item, 1);
    /* the 3rd update makes it stale: rebuilt */
    add(m, 3, NULL, T0, TL_EV_PURCHASE);
    cr_assert_eq(tl_pop_top_ex(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, &info), TL_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(out[0].item, 3);
    cr_assert_float_eq(out[0].score, 10, 1e-12);
    cr_assert_gt(tl_pop_memory(m), sizeof(void *) * 100);
    tl_pop_free(m);
}

Test(pop_cache, max_age_zero_and_exact_mode)
{
    struct tl_pop *m = new_cached(10, 0, 0); /* any change -> rebuild */
    struct tl_pop_hit out[4];
    size_t n;
    for (uint32_t i = 0; i < 6; i++) {
        add(m, i, "GB", T0, TL_EV_ADD_TO_CART);
        cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, NULL), TL_OK);
        cr_assert_eq(n, i + 1 < 4 ? i + 1 : 4);
    }
    tl_pop_free(m);
}

Test(pop_cache, skip_exhausting_truncated_list_falls_back_to_scan)
{
    struct tl_pop *m = new_cached(4, 1000, 3600 * 1000);
    for (uint32_t i = 0; i < 20; i++)
        for (uint32_t j = 0; j <= i; j++) add(m, i, NULL, T0, TL_EV_PRODUCT_VIEW);
    struct tl_pop_hit out[4];
    size_t n;
    int calls = 0;
    struct tl_pop_info info;
    /* cached top 4 = 19,18,17,16; skipping evens leaves 2 -> exact scan */
    cr_assert_eq(tl_pop_top_ex(m, TL_POP_POPULAR, NULL, 4, skip_even, &calls, out, &n, &info), TL_OK);
    cr_assert_eq(n, 4);
    uint32_t want[] = {19, 17, 15, 13};
    for (int i = 0; i < 4; i++) cr_assert_eq(out[i].item, want[i]);
    cr_assert_eq(info.from_cache, 0);
    /* no skip: served from the cache */
    cr_assert_eq(tl_pop_top_ex(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, &info), TL_OK);
    cr_assert_eq(info.from_cache, 1);
    cr_assert_eq(out[0].item, 19);
    /* k > cache_k: exact scan */
    struct tl_pop_hit big[20];
    cr_assert_eq(tl_pop_top_ex(m, TL_POP_POPULAR, NULL, 20, NULL, NULL, big, &n, &info), TL_OK);
    cr_assert_eq(n, 20);
    cr_assert_eq(info.from_cache, 0);
    tl_pop_free(m);
}

Test(pop_cache, country_scope_cached_and_fallback_cached)
{
    struct tl_pop *m = new_cached(10, 0, 0);
    for (int i = 0; i < 40; i++) add(m, 1, "GB", T0, TL_EV_PRODUCT_VIEW);
    for (int i = 0; i < 5; i++) add(m, 2, "FR", T0, TL_EV_PRODUCT_VIEW);
    struct tl_pop_hit out[4];
    size_t n;
    struct tl_pop_info info;
    for (int rep = 0; rep < 2; rep++) {
        cr_assert_eq(tl_pop_top_ex(m, TL_POP_TRENDING, "GB", 4, NULL, NULL, out, &n, &info), TL_OK);
        cr_assert_str_eq(info.scope, "country");
        cr_assert_eq(info.from_cache, 1);
        cr_assert_eq(n, 1);
        cr_assert_float_eq(info.country_weight, 40, 1e-9);
        cr_assert_eq(tl_pop_top_ex(m, TL_POP_TRENDING, "FR", 4, NULL, NULL, out, &n, &info), TL_OK);
        cr_assert_str_eq(info.scope, "global");
        cr_assert_float_eq(info.country_weight, 5, 1e-9);
        cr_assert_eq(n, 2);
        cr_assert_eq(out[0].item, 1);
    }
    tl_pop_free(m);
}

Test(pop_cache, min_age_gates_update_count_and_refresh)
{
    struct tl_pop_params p;
    tl_pop_params_defaults(&p);
    p.scan_direct_max = 0;
    p.cache_max_updates = 1;
    p.cache_min_age_ms = 3600 * 1000; /* count alone never makes it stale */
    p.cache_max_age_ms = 3600 * 1000;
    struct tl_pop *m = tl_pop_new(&p);
    cr_assert_not_null(m);
    cr_assert_eq(tl_pop_refresh(m), 0); /* nothing cached yet */
    add(m, 1, NULL, T0, TL_EV_PRODUCT_VIEW);
    struct tl_pop_hit out[4];
    size_t n;
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, NULL), TL_OK);
    cr_assert_eq(n, 1);
    for (int i = 0; i < 5; i++) add(m, 2, NULL, T0, TL_EV_PRODUCT_VIEW);
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, NULL), TL_OK);
    cr_assert_eq(n, 1, "younger than cache_min_age_ms: still the old list");
    cr_assert_eq(tl_pop_refresh(m), 0, "refresh honours the same rule");
    tl_pop_free(m);

    /* refresh rebuilds stale lists so readers get the new one */
    p.cache_min_age_ms = 0;
    p.cache_max_updates = 2;
    m = tl_pop_new(&p);
    add(m, 1, NULL, T0, TL_EV_PRODUCT_VIEW);
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, NULL), TL_OK);
    cr_assert_eq(tl_pop_top(m, TL_POP_TRENDING, NULL, 4, NULL, NULL, out, &n, NULL), TL_OK);
    add(m, 2, NULL, T0, TL_EV_PRODUCT_VIEW);
    cr_assert_eq(tl_pop_refresh(m), 0, "1 update < cache_max_updates");
    add(m, 2, NULL, T0, TL_EV_PRODUCT_VIEW);
    cr_assert_eq(tl_pop_refresh(m), 2);
    cr_assert_eq(tl_pop_refresh(m), 0);
    struct tl_pop_info info;
    cr_assert_eq(tl_pop_top_ex(m, TL_POP_POPULAR, NULL, 4, NULL, NULL, out, &n, &info), TL_OK);
    cr_assert_eq(info.from_cache, 1);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].item, 2);
    cr_assert_eq(tl_pop_refresh(NULL), 0);
    tl_pop_free(m);
}

/* ---------- allocation failure ---------- */

Test(pop_alloc, failures_apply_nothing_and_leak_nothing)
{
    long live = tl_alloc_live();
    for (long f = 0; f < 3; f++) {
        tl_alloc_fail_after(f);
        struct tl_pop *m = tl_pop_new(NULL);
        tl_alloc_fail_after(-1);
        tl_pop_free(m);
    }
    cr_assert_eq(tl_alloc_live(), live);

    struct tl_pop *m = new_exact();
    int failures = 0;
    for (long f = 0; f < 10; f++) {
        struct tl_pop *x = new_exact();
        tl_alloc_fail_after(f);
        enum tl_rc rc = tl_pop_add(x, 5000, "GB", T0, TL_EV_PRODUCT_VIEW, NAN);
        tl_alloc_fail_after(-1);
        if (rc == TL_ENOMEM) {
            failures++;
            cr_assert_eq(tl_pop_clock(x), 0);
            cr_assert_eq(tl_pop_add(x, 5000, "GB", T0, TL_EV_PRODUCT_VIEW, NAN), TL_OK); /* recovers */
            cr_assert_float_eq(score_of(x, TL_POP_POPULAR, NULL, 5000), 1, 1e-12);
        } else {
            cr_assert_eq(rc, TL_OK);
        }
        tl_pop_free(x);
    }
    cr_assert_gt(failures, 0);
    tl_pop_free(m);
    cr_assert_eq(tl_alloc_live(), live);
}

/* ---------- concurrency ---------- */

enum { WRITERS = 3, READERS = 3, PER_WRITER = 20000, CONC_ITEMS = 3000 };

struct conc {
    struct tl_pop *m;
    int id;
    long reads;
    int bad;
};

static const char *const conc_countries[] = {NULL, "GB", "FR", "DE"};

static void *writer(void *arg)
{
    struct conc *c = arg;
    for (int i = 0; i < PER_WRITER; i++) {
        uint32_t item = (uint32_t)((i * 7 + c->id * 13) % CONC_ITEMS);
        if (tl_pop_add(c->m, item, conc_countries[i % 4], T0 + i % 1000, TL_EV_PRODUCT_VIEW, NAN) != TL_OK) c->bad++;
    }
    return NULL;
}

static void *refresher(void *arg)
{
    struct conc *c = arg;
    for (int i = 0; i < 200; i++) (void)tl_pop_refresh(c->m);
    return NULL;
}

static int skip_none(void *ctx, uint32_t item) { return item == UINT32_MAX; }

static void *reader(void *arg)
{
    struct conc *c = arg;
    struct tl_pop_hit out[20];
    for (int i = 0; i < 3000; i++) {
        size_t n;
        const char *scope;
        enum tl_pop_kind kind = i % 2 ? TL_POP_TRENDING : TL_POP_POPULAR;
        if (tl_pop_top(c->m, kind, conc_countries[i % 4], 20, skip_none, NULL, out, &n, &scope) != TL_OK) c->bad++;
        for (size_t j = 1; j < n; j++)
            if (out[j].score > out[j - 1].score) c->bad++;
        if (i % 100 == 0) (void)tl_pop_memory(c->m);
        c->reads++;
    }
    return NULL;
}

Test(pop_concurrency, writers_and_readers)
{
    struct tl_pop_params p;
    tl_pop_params_defaults(&p);
    p.scan_direct_max = 100; /* exercise the cache and rebuilds */
    p.cache_k = 50;
    p.cache_max_updates = 500;
    p.cache_max_age_ms = 1;
    p.cache_min_age_ms = 0;
    struct tl_pop *m = tl_pop_new(&p);
    cr_assert_not_null(m);
    enum { NT = WRITERS + READERS + 1 };
    pthread_t th[NT];
    struct conc cs[NT];
    for (int i = 0; i < NT; i++) {
        cs[i] = (struct conc){.m = m, .id = i};
        pthread_create(&th[i], NULL, i < WRITERS ? writer : i < WRITERS + READERS ? reader : refresher, &cs[i]);
    }
    for (int i = 0; i < NT; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NT; i++) cr_assert_eq(cs[i].bad, 0, "thread %d", i);
    cr_assert_eq(tl_pop_clock(m), T0 + 999);

    /* no update lost: the sum of every item's popular score equals the sum
     * of every event's decayed weight */
    double want = 0;
    for (int w = 0; w < WRITERS; w++)
        for (int i = 0; i < PER_WRITER; i++) want += exp2(-(double)(999 - i % 1000) / (30.0 * DAY));
    struct tl_pop_hit *out = malloc(TL_POP_K_MAX * sizeof *out);
    size_t n;
    cr_assert_eq(tl_pop_top(m, TL_POP_POPULAR, NULL, TL_POP_K_MAX, NULL, NULL, out, &n, NULL), TL_OK);
    double got = 0;
    for (size_t i = 0; i < n; i++) got += out[i].score;
    cr_assert(fabs(got - want) < 1e-6 * want, "%g vs %g", got, want);
    free(out);
    tl_pop_free(m);
}
