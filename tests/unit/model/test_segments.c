/* Tests for src/model/segments.c (micro-segments by k-means): scaling by
 * hand, planted clusters recovered exactly with k chosen by silhouette, the
 * silhouette recomputed independently, the optimum of an exhaustive search
 * on a small set, fewer distinct shoppers than k, determinism, bad
 * parameters, allocation failures, summaries (medians by hand) and the
 * naming rules. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "model/segments.h"

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}
static double unit(uint64_t *s) { return (double)lcg(s) / 2147483648.0; }

/* group g of 4: distinct interests and buying levels, a little noise */
static void planted(struct tl_seg_raw *x, size_t n, uint32_t *truth, uint64_t seed)
{
    static const double orders[4] = {0, 1, 12, 3}, spend[4] = {0, 20, 2000, 150}, rec[4] = {2, 200, 10, 30};
    for (size_t i = 0; i < n; i++) {
        uint32_t g = (uint32_t)(i % 4);
        truth[i] = g;
        memset(&x[i], 0, sizeof x[i]);
        double j = 1 + 0.1 * (unit(&seed) - 0.5);
        x[i].orders = orders[g] * j;
        x[i].monetary = spend[g] * j;
        x[i].recency_days = rec[g] * j;
        x[i].mean_price = g == 2 ? 40 * j : 5 * j;
        x[i].views = 10 * j;
        x[i].cat[g] = (float)(0.8 + 0.1 * unit(&seed));
        x[i].cat[(g + 1) % 4] = 1.0f - x[i].cat[g];
    }
}

Test(segments, scale_by_hand)
{
    struct tl_seg_model m;
    memset(&m, 0, sizeof m);
    m.n_cats = 2;
    m.cat_weight = 2;
    for (int j = 0; j < TL_SEG_NUM; j++) {
        m.mean[j] = 1;
        m.sd[j] = 2;
    }
    m.price_fill = 1;
    struct tl_seg_raw x = {.orders = 3, .monetary = 0, .recency_days = 7, .mean_price = NAN, .views = 1};
    x.cat[0] = 0.25f;
    x.cat[1] = 0.75f;
    float v[TL_SEG_DIM_MAX];
    tl_seg_scale(&m, &x, v);
    cr_assert_float_eq(v[0], (log(4) - 1) / 2, 1e-6);
    cr_assert_float_eq(v[1], (0 - 1) / 2.0, 1e-6);
    cr_assert_float_eq(v[2], (log(8) - 1) / 2, 1e-6);
    cr_assert_float_eq(v[3], 0, 1e-6); /* unknown price: the mean */
    cr_assert_float_eq(v[4], (log(2) - 1) / 2, 1e-6);
    cr_assert_float_eq(v[5], 0.5, 1e-6);
    cr_assert_float_eq(v[6], 1.5, 1e-6);
}

/* Does the labelling a match b up to a renaming? */
static int same_partition(const uint32_t *a, const uint32_t *b, size_t n, uint32_t k)
{
    uint32_t map[TL_SEG_K_MAX];
    for (uint32_t c = 0; c < TL_SEG_K_MAX; c++) map[c] = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        if (a[i] >= k) return 0;
        if (map[a[i]] == UINT32_MAX) map[a[i]] = b[i];
        if (map[a[i]] != b[i]) return 0;
    }
    for (uint32_t c = 0; c < k; c++)
        for (uint32_t d = c + 1; d < k; d++)
            if (map[c] != UINT32_MAX && map[c] == map[d]) return 0;
    return 1;
}

Test(segments, planted_clusters_recovered_with_k_by_silhouette)
{
    size_t n = 800;
    struct tl_seg_raw *x = tl_calloc(n, sizeof *x);
    uint32_t *truth = tl_calloc(n, sizeof *truth), *got = tl_calloc(n, sizeof *got);
    planted(x, n, truth, 7);
    struct tl_seg_params p;
    tl_seg_params_defaults(&p);
    p.k_min = 2;
    p.k_max = 8;
    struct tl_seg_model m;
    cr_assert_eq(tl_seg_fit(x, n, 4, &p, &m, got, NULL), TL_OK);
    cr_assert_eq(m.k, 4, "k = %u", m.k);
    cr_assert(same_partition(got, truth, n, 4));
    cr_assert_gt(m.silhouette, 0.5);
    /* a new shopper of group 2 lands with the others of group 2 */
    struct tl_seg_raw y = x[2];
    y.orders = 11;
    cr_assert_eq(tl_seg_assign(&m, &y), got[2]);
    tl_free(x);
    tl_free(truth);
    tl_free(got);
}

/* Silhouette recomputed here from the scaled points and the labels. */
Test(segments, silhouette_matches_independent_computation)
{
    size_t n = 300;
    struct tl_seg_raw *x = tl_calloc(n, sizeof *x);
    uint32_t *truth = tl_calloc(n, sizeof *truth), *got = tl_calloc(n, sizeof *got);
    planted(x, n, truth, 99);
    /* blur the groups so the silhouette is not trivially close to 1 */
    uint64_t s = 5;
    for (size_t i = 0; i < n; i++) x[i].monetary *= 1 + 3 * unit(&s);
    struct tl_seg_params p;
    tl_seg_params_defaults(&p);
    p.k = 3;
    struct tl_seg_model m;
    cr_assert_eq(tl_seg_fit(x, n, 4, &p, &m, got, NULL), TL_OK);
    cr_assert_eq(m.k, 3);
    uint32_t d = TL_SEG_NUM + 4;
    float *v = tl_calloc(n * d, sizeof *v);
    for (size_t i = 0; i < n; i++) tl_seg_scale(&m, &x[i], v + i * d);
    double tot = 0;
    for (size_t i = 0; i < n; i++) {
        double sum[3] = {0}, cnt[3] = {0};
        for (size_t j = 0; j < n; j++) {
            if (j == i) continue;
            double q = 0;
            for (uint32_t t = 0; t < d; t++) q += (v[i * d + t] - v[j * d + t]) * (v[i * d + t] - v[j * d + t]);
            sum[got[j]] += sqrt(q);
            cnt[got[j]]++;
        }
        if (!cnt[got[i]]) continue;
        double a = sum[got[i]] / cnt[got[i]], b = DBL_MAX;
        for (int c = 0; c < 3; c++)
            if (c != (int)got[i] && cnt[c] && sum[c] / cnt[c] < b) b = sum[c] / cnt[c];
        tot += (b - a) / (a > b ? a : b);
    }
    cr_assert_float_eq(m.silhouette, tot / (double)n, 1e-4, "%f vs %f", m.silhouette, tot / (double)n);
    tl_free(v);
    tl_free(x);
    tl_free(truth);
    tl_free(got);
}

/* On 8 one-number shoppers, k = 2: the fit equals the best of all 2^7
 * two-way splits (brute force over the scaled values). */
Test(segments, two_means_equals_exhaustive_optimum)
{
    double orders[8] = {0, 1, 2, 3, 20, 25, 40, 41};
    struct tl_seg_raw x[8];
    memset(x, 0, sizeof x);
    for (int i = 0; i < 8; i++) {
        x[i].orders = orders[i];
        x[i].mean_price = 1;
    }
    struct tl_seg_params p;
    tl_seg_params_defaults(&p);
    p.k = 2;
    p.restarts = 8;
    struct tl_seg_model m;
    uint32_t got[8];
    cr_assert_eq(tl_seg_fit(x, 8, 0, &p, &m, got, NULL), TL_OK);
    double z[8];
    for (int i = 0; i < 8; i++) z[i] = (log1p(orders[i]) - m.mean[0]) / m.sd[0];
    double best = DBL_MAX;
    for (unsigned mask = 1; mask < 255; mask++) {
        double s[2] = {0}, c[2] = {0}, in = 0;
        for (int i = 0; i < 8; i++) {
            s[(mask >> i) & 1] += z[i];
            c[(mask >> i) & 1]++;
        }
        for (int i = 0; i < 8; i++) {
            double mu = s[(mask >> i) & 1] / c[(mask >> i) & 1];
            in += (z[i] - mu) * (z[i] - mu);
        }
        if (in / 8 < best) best = in / 8;
    }
    cr_assert_float_eq(m.inertia, best, 1e-5, "%f vs %f", m.inertia, best);
}

Test(segments, fewer_distinct_shoppers_than_k)
{
    struct tl_seg_raw x[30];
    memset(x, 0, sizeof x);
    for (int i = 0; i < 30; i++) {
        x[i].orders = (i % 3) * 5;
        x[i].mean_price = NAN;
    }
    struct tl_seg_params p;
    tl_seg_params_defaults(&p);
    p.k = 6;
    struct tl_seg_model m;
    uint32_t got[30];
    cr_assert_eq(tl_seg_fit(x, 30, 0, &p, &m, got, NULL), TL_OK);
    cr_assert_eq(m.k, 3);
    for (int i = 3; i < 30; i++) cr_assert_eq(got[i], got[i % 3]);
    cr_assert_neq(got[0], got[1]);
    cr_assert_neq(got[1], got[2]);
    cr_assert_float_eq(m.inertia, 0, 1e-9);
    /* auto k on the same data stops at the 3 distinct points */
    p.k = 0;
    cr_assert_eq(tl_seg_fit(x, 30, 0, &p, &m, got, NULL), TL_OK);
    cr_assert_eq(m.k, 3);
}

Test(segments, deterministic_for_a_seed)
{
    size_t n = 400;
    struct tl_seg_raw *x = tl_calloc(n, sizeof *x);
    uint32_t *truth = tl_calloc(n, sizeof *truth);
    planted(x, n, truth, 3);
    struct tl_seg_params p;
    tl_seg_params_defaults(&p);
    struct tl_seg_model a, b;
    cr_assert_eq(tl_seg_fit(x, n, 4, &p, &a, NULL, NULL), TL_OK);
    cr_assert_eq(tl_seg_fit(x, n, 4, &p, &b, NULL, NULL), TL_OK);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
    tl_free(x);
    tl_free(truth);
}

Test(segments, bad_parameters_and_allocation_failures)
{
    struct tl_seg_raw x[10];
    memset(x, 0, sizeof x);
    for (int i = 0; i < 10; i++) x[i].orders = i;
    struct tl_seg_params p;
    struct tl_seg_model m;
    struct tl_err err;
    tl_seg_params_defaults(&p);
    cr_assert_eq(tl_seg_fit(x, 1, 0, &p, &m, NULL, &err), TL_EINVAL);
    cr_assert_eq(tl_seg_fit(x, 10, TL_SEG_CATS_MAX + 1, &p, &m, NULL, &err), TL_EINVAL);
    p.k = TL_SEG_K_MAX + 1;
    cr_assert_eq(tl_seg_fit(x, 10, 0, &p, &m, NULL, &err), TL_EINVAL);
    tl_seg_params_defaults(&p);
    p.k_min = 9;
    p.k_max = 3;
    cr_assert_eq(tl_seg_fit(x, 10, 0, &p, &m, NULL, &err), TL_EINVAL);
    tl_seg_params_defaults(&p);
    p.cat_weight = NAN;
    cr_assert_eq(tl_seg_fit(x, 10, 0, &p, &m, NULL, &err), TL_EINVAL);
    tl_seg_params_defaults(&p);
    for (long f = 0; f < 8; f++) {
        tl_alloc_fail_after(f);
        enum tl_rc rc = tl_seg_fit(x, 10, 0, &p, &m, NULL, &err);
        tl_alloc_fail_after(-1);
        cr_assert(rc == TL_ENOMEM || rc == TL_OK);
    }
    cr_assert_eq(tl_seg_fit(x, 10, 0, &p, &m, NULL, &err), TL_OK);
}

Test(segments, summaries_are_medians_and_mean_shares)
{
    struct tl_seg_raw x[5];
    memset(x, 0, sizeof x);
    double o[5] = {1, 3, 2, 10, 20};
    for (int i = 0; i < 5; i++) {
        x[i].orders = o[i];
        x[i].monetary = 10 * o[i];
        x[i].recency_days = i;
        x[i].mean_price = i == 1 ? NAN : 4;
        x[i].cat[0] = i < 3 ? 1.0f : 0.0f;
        x[i].cat[1] = i < 3 ? 0.0f : 0.5f;
    }
    uint32_t as[5] = {0, 0, 0, 1, 1};
    struct tl_seg_summary s[2], all;
    cr_assert_eq(tl_seg_summarize(x, 5, as, 2, 2, s, &all), TL_OK);
    cr_assert_eq(s[0].size, 3);
    cr_assert_eq(s[1].size, 2);
    cr_assert_eq(all.size, 5);
    cr_assert_float_eq(s[0].med_orders, 2, 1e-12);
    cr_assert_float_eq(s[1].med_orders, 15, 1e-12);
    cr_assert_float_eq(all.med_orders, 3, 1e-12);
    cr_assert_float_eq(s[0].med_price, 4, 1e-12); /* the unknown price is left out */
    cr_assert_float_eq(s[0].cat_share[0], 1, 1e-12);
    cr_assert_float_eq(s[1].cat_share[1], 0.5, 1e-12);
    cr_assert_float_eq(all.cat_share[0], 0.6, 1e-6);
}

static void name_of(const struct tl_seg_summary *s, const struct tl_seg_summary *all, char *name, char *desc)
{
    static const char *const cats[3] = {"Seasonal > Christmas", "Kitchen > Mugs & Cups", "Bags"};
    tl_seg_describe(s, all, 3, cats, "GBP", name, TL_SEG_NAME_MAX, desc, TL_SEG_DESC_MAX);
}

Test(segments, naming_rules)
{
    struct tl_seg_summary all = {.size = 1000,
                                 .med_orders = 2,
                                 .med_monetary = 300,
                                 .med_recency_days = 40,
                                 .med_price = 3,
                                 .med_views = 5,
                                 .cat_share = {0.2, 0.3, 0.1}};
    char name[TL_SEG_NAME_MAX], desc[TL_SEG_DESC_MAX];
    struct tl_seg_summary s = all;
    s.size = 100;
    s.med_orders = 6;
    s.med_monetary = 900;
    s.cat_share[0] = 0.5; /* lift 2.5 */
    name_of(&s, &all, name, desc);
    cr_assert_str_eq(name, "Loyal big spenders \xc2\xb7 Christmas");
    cr_assert(strstr(desc, "100 shoppers (10.0% of those with history)"), "%s", desc);
    cr_assert(strstr(desc, "Seasonal > Christmas (50% of their interest, 20% overall)"), "%s", desc);
    cr_assert(strstr(desc, "900.00 GBP"), "%s", desc);

    s = all;
    s.med_orders = 1;
    s.med_recency_days = 200;
    name_of(&s, &all, name, desc);
    cr_assert_str_eq(name, "Lapsed one-time buyers \xc2\xb7 Mugs & Cups"); /* largest share 0.3 >= 0.25 */

    s = all;
    s.med_orders = 0;
    s.med_monetary = 0;
    s.med_recency_days = 3;
    s.cat_share[0] = s.cat_share[1] = s.cat_share[2] = 0.12;
    name_of(&s, &all, name, desc);
    cr_assert_str_eq(name, "Recent browsers");
    cr_assert(strstr(desc, "No orders yet"), "%s", desc);

    s = all;
    s.med_orders = 4;
    s.med_price = 6;
    s.cat_share[2] = 0.2; /* lift 2 */
    name_of(&s, &all, name, desc);
    cr_assert_str_eq(name, "Frequent buyers \xc2\xb7 Bags");
    cr_assert(strstr(desc, "premium-priced"), "%s", desc);

    s = all;
    s.med_monetary = 700;
    name_of(&s, &all, name, desc);
    cr_assert(strncmp(name, "Big-basket buyers", 17) == 0, "%s", name);

    s = all;
    name_of(&s, &all, name, desc);
    cr_assert(strncmp(name, "Occasional buyers", 17) == 0, "%s", name);
}
