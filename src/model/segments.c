/* Micro-segments by k-means (see segments.h).
 *
 * Features of a shopper (dimension d = 5 + n_cats):
 *   z_j = (log1p(raw_j) - mean_j) / sd_j  for j in {orders, monetary,
 *         recency_days, mean_price, views}; mean_j and sd_j over the fitted
 *         shoppers (sd 0 -> 1); an unknown price takes the mean (z = 0).
 *         log1p because spend and counts are heavy-tailed: one wholesaler
 *         with 200 orders would otherwise own a segment alone.
 *   c_c = cat_weight * share_c for each category dimension c. The shares of
 *         one shopper sum to at most 1, so the category block spans a
 *         distance of at most cat_weight * sqrt(2) between two shoppers with
 *         disjoint interests: with cat_weight 2 that is about 2.8, the
 *         distance of a 2-sd difference in one number.
 * Distance: squared Euclidean.
 *
 * Fitting (Lloyd's k-means with k-means++ seeding; Arthur and Vassilvitskii
 * 2007): the first centre is a uniformly drawn shopper, each next one a
 * shopper drawn with probability proportional to its squared distance to the
 * nearest centre chosen so far; then at most `iters` rounds of (assign each
 * shopper to its nearest centre, move each centre to the mean of its
 * shoppers), stopping when no assignment changes. A centre left empty is
 * moved to the shopper farthest from its own centre. `restarts` runs with
 * different seeds; the one with the lowest inertia (mean squared distance to
 * the own centre) is kept. Draws come from splitmix64 seeded with `seed`, so
 * a fit is deterministic. More than TL_SEG_FIT_MAX shoppers: an evenly
 * spaced sample is fitted (every shopper is still assigned; 1,000,000
 * shoppers took 8.9 s on one core, k chosen in 4..10).
 *
 * Choosing k (k = 0): for each k in [k_min, k_max] the fit above, scored by
 * the mean silhouette (Rousseeuw 1987) on an evenly spaced sample of at most
 * TL_SEG_SIL_SAMPLE shoppers: s(i) = (b - a) / max(a, b) with a the mean
 * distance (not squared) of i to the sample members of its own segment and b
 * the lowest mean distance to the members of another segment; s = 0 for a
 * shopper alone in its segment. The highest mean wins; ties the smaller k.
 *
 * Names and descriptions (tl_seg_describe) compare a segment's medians with
 * everyone's (S = segment, A = all):
 *   base name: S.orders = 0 -> "Browsers";
 *              S.orders >= max(2, 2 A.orders) and S.spend >= 2 A.spend
 *                -> "Loyal big spenders";
 *              S.orders >= max(2, 2 A.orders) -> "Frequent buyers";
 *              S.spend >= 2 A.spend > 0 -> "Big-basket buyers";
 *              S.orders <= 1 -> "One-time buyers"; else "Occasional buyers";
 *   "Lapsed " in front when S.recency >= max(90 days, 2 A.recency);
 *             "Recent " when S.recency <= min(14 days, A.recency / 2);
 *   " · <category>" after: the category with the highest lift
 *             share_S / share_A among those with share_S >= 0.15 and lift
 *             >= 1.3, else the largest share if it is >= 0.25 (its last
 *             " > " level);
 *   price: "premium-priced" when S.price >= 1.5 A.price, "low-priced" when
 *          S.price <= A.price / 1.5 (in the description). */
#include "model/segments.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void tl_seg_params_defaults(struct tl_seg_params *p)
{
    *p = (struct tl_seg_params){
        .k = 0, .k_min = 4, .k_max = 10, .cat_weight = 2.0, .restarts = 4, .iters = 50, .seed = 42};
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

static double raw_num(const struct tl_seg_raw *x, int j)
{
    double v;
    switch (j) {
    case 0:
        v = x->orders;
        break;
    case 1:
        v = x->monetary;
        break;
    case 2:
        v = x->recency_days;
        break;
    case 3:
        v = x->mean_price;
        break;
    default:
        v = x->views;
        break;
    }
    return v;
}

void tl_seg_scale(const struct tl_seg_model *m, const struct tl_seg_raw *x, float *v)
{
    for (int j = 0; j < TL_SEG_NUM; j++) {
        double r = raw_num(x, j);
        double l = (isnan(r) || r < 0) ? (j == 3 ? m->price_fill : 0.0) : log1p(r);
        v[j] = (float)((l - m->mean[j]) / m->sd[j]);
    }
    for (uint32_t c = 0; c < m->n_cats; c++) {
        float s = x->cat[c];
        v[TL_SEG_NUM + c] = (float)(m->cat_weight * (isfinite(s) && s > 0 ? s : 0.0f));
    }
}

static double dist2(const float *a, const float *b, uint32_t d)
{
    double s = 0;
    for (uint32_t j = 0; j < d; j++) {
        double t = (double)a[j] - (double)b[j];
        s += t * t;
    }
    return s;
}

static uint32_t nearest(const float *cent, uint32_t k, uint32_t d, const float *v, double *best_d)
{
    uint32_t best = 0;
    double bd = DBL_MAX;
    for (uint32_t c = 0; c < k; c++) {
        double t = dist2(cent + (size_t)c * d, v, d);
        if (t < bd) {
            bd = t;
            best = c;
        }
    }
    if (best_d) *best_d = bd;
    return best;
}

uint32_t tl_seg_assign(const struct tl_seg_model *m, const struct tl_seg_raw *x)
{
    float v[TL_SEG_DIM_MAX];
    tl_seg_scale(m, x, v);
    return nearest(m->centroids, m->k, TL_SEG_NUM + m->n_cats, v, NULL);
}

/* One k-means run on the n x d points; returns its inertia, centroids in
 * cent (k x d), labels in lab; *k_out = centres actually found (fewer than k
 * when there are fewer distinct points). */
static double kmeans_run(const float *pts, size_t n, uint32_t d, uint32_t k, uint32_t iters, uint64_t seed, float *cent,
                         uint32_t *lab, double *dmin, double *sum, uint32_t *cnt, uint32_t *k_out)
{
    uint64_t rs = seed;
    /* k-means++ seeding */
    size_t first = (size_t)(rng_unit(&rs) * (double)n);
    if (first >= n) first = n - 1;
    memcpy(cent, pts + first * d, d * sizeof *cent);
    uint32_t kk = 1;
    for (size_t i = 0; i < n; i++) dmin[i] = dist2(pts + i * d, cent, d);
    while (kk < k) {
        double tot = 0;
        for (size_t i = 0; i < n; i++) tot += dmin[i];
        if (tot <= 0) break; /* every point sits on a centre: no more distinct points */
        double r = rng_unit(&rs) * tot, acc = 0;
        size_t pick = n - 1;
        for (size_t i = 0; i < n; i++) {
            acc += dmin[i];
            if (acc > r && dmin[i] > 0) {
                pick = i;
                break;
            }
        }
        if (dmin[pick] <= 0) /* rounding at the end: take the last point off the centres */
            for (size_t i = n; i-- > 0;)
                if (dmin[i] > 0) {
                    pick = i;
                    break;
                }
        float *c = cent + (size_t)kk * d;
        memcpy(c, pts + pick * d, d * sizeof *c);
        kk++;
        for (size_t i = 0; i < n; i++) {
            double t = dist2(pts + i * d, c, d);
            if (t < dmin[i]) dmin[i] = t;
        }
    }
    *k_out = kk;
    for (size_t i = 0; i < n; i++) lab[i] = UINT32_MAX;
    double inertia = 0;
    for (uint32_t it = 0; it < (iters ? iters : 1); it++) {
        size_t changed = 0;
        inertia = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t c = nearest(cent, kk, d, pts + i * d, &dmin[i]);
            inertia += dmin[i];
            if (c != lab[i]) {
                lab[i] = c;
                changed++;
            }
        }
        if (!changed && it > 0) break;
        memset(sum, 0, (size_t)kk * d * sizeof *sum);
        memset(cnt, 0, kk * sizeof *cnt);
        for (size_t i = 0; i < n; i++) {
            cnt[lab[i]]++;
            for (uint32_t j = 0; j < d; j++) sum[(size_t)lab[i] * d + j] += pts[i * d + j];
        }
        for (uint32_t c = 0; c < kk; c++) {
            if (cnt[c] == 0) { /* empty: move to the point farthest from its centre */
                size_t far = 0;
                for (size_t i = 1; i < n; i++)
                    if (dmin[i] > dmin[far]) far = i;
                memcpy(cent + (size_t)c * d, pts + far * d, d * sizeof *cent);
                dmin[far] = 0;
                continue;
            }
            for (uint32_t j = 0; j < d; j++) cent[(size_t)c * d + j] = (float)(sum[(size_t)c * d + j] / cnt[c]);
        }
    }
    /* final labels and inertia for the final centres */
    inertia = 0;
    for (size_t i = 0; i < n; i++) {
        lab[i] = nearest(cent, kk, d, pts + i * d, &dmin[i]);
        inertia += dmin[i];
    }
    return inertia / (double)n;
}

/* Mean silhouette of the sample rows (indices samp[0..ns-1]) under lab. */
static double silhouette(const float *pts, uint32_t d, const uint32_t *lab, uint32_t k, const size_t *samp, size_t ns,
                         double *acc, uint32_t *cnt)
{
    double total = 0;
    for (size_t a = 0; a < ns; a++) {
        memset(acc, 0, k * sizeof *acc);
        memset(cnt, 0, k * sizeof *cnt);
        const float *pa = pts + samp[a] * d;
        for (size_t b = 0; b < ns; b++) {
            if (b == a) continue;
            uint32_t l = lab[samp[b]];
            acc[l] += sqrt(dist2(pa, pts + samp[b] * d, d));
            cnt[l]++;
        }
        uint32_t own = lab[samp[a]];
        if (cnt[own] == 0) continue; /* alone: s = 0 */
        double ai = acc[own] / cnt[own], bi = DBL_MAX;
        for (uint32_t c = 0; c < k; c++)
            if (c != own && cnt[c] && acc[c] / cnt[c] < bi) bi = acc[c] / cnt[c];
        if (bi == DBL_MAX) continue;
        double m = ai > bi ? ai : bi;
        if (m > 0) total += (bi - ai) / m;
    }
    return ns ? total / (double)ns : 0;
}

enum tl_rc tl_seg_fit(const struct tl_seg_raw *x, size_t n, uint32_t n_cats, const struct tl_seg_params *p,
                      struct tl_seg_model *out, uint32_t *assign, struct tl_err *err)
{
    if (!x || !p || !out || n < 2)
        return tl_err_set(err, TL_EINVAL, "segments", "at least 2 shoppers are needed to form segments");
    if (n_cats > TL_SEG_CATS_MAX || p->k > TL_SEG_K_MAX || p->k_max > TL_SEG_K_MAX || p->k_min < 2 ||
        p->k_min > p->k_max || !(p->cat_weight >= 0) || !isfinite(p->cat_weight) || p->restarts == 0 ||
        p->restarts > 64 || p->iters > 1000 || (p->k == 1))
        return tl_err_set(err, TL_EINVAL, "segments",
                          "bad segment parameters (k 2..%d, k_min <= k_max, restarts 1..64)", TL_SEG_K_MAX);
    memset(out, 0, sizeof *out);
    out->n_cats = n_cats;
    out->cat_weight = p->cat_weight;
    uint32_t d = TL_SEG_NUM + n_cats;

    /* the fitted rows: all, or an evenly spaced sample */
    size_t nf = n > TL_SEG_FIT_MAX ? TL_SEG_FIT_MAX : n;
    /* scaling statistics over the fitted rows */
    for (int j = 0; j < TL_SEG_NUM; j++) {
        double s = 0, s2 = 0;
        size_t c = 0;
        for (size_t r = 0; r < nf; r++) {
            double v = raw_num(&x[r * n / nf], j);
            if (isnan(v) || v < 0) continue;
            double l = log1p(v);
            s += l;
            s2 += l * l;
            c++;
        }
        double mean = c ? s / (double)c : 0, var = c ? s2 / (double)c - mean * mean : 0;
        out->mean[j] = mean;
        out->sd[j] = var > 1e-12 ? sqrt(var) : 1.0;
        if (j == 3) out->price_fill = mean;
    }

    enum tl_rc rc = TL_OK;
    float *pts = tl_malloc(nf * d * sizeof *pts);
    uint32_t *lab = tl_malloc(nf * sizeof *lab), *best_lab = tl_malloc(nf * sizeof *best_lab);
    double *dmin = tl_malloc(nf * sizeof *dmin);
    double *sum = tl_malloc((size_t)TL_SEG_K_MAX * d * sizeof *sum);
    uint32_t *cnt = tl_malloc(TL_SEG_K_MAX * sizeof *cnt);
    double *acc = tl_malloc(TL_SEG_K_MAX * sizeof *acc);
    size_t ns = nf < TL_SEG_SIL_SAMPLE ? nf : TL_SEG_SIL_SAMPLE;
    size_t *samp = tl_malloc(ns * sizeof *samp);
    if (!pts || !lab || !best_lab || !dmin || !sum || !cnt || !acc || !samp) {
        rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory clustering %zu shoppers", nf);
        goto done;
    }
    for (size_t r = 0; r < nf; r++) tl_seg_scale(out, &x[r * n / nf], pts + r * d);
    for (size_t i = 0; i < ns; i++) samp[i] = i * nf / ns;

    uint32_t k_lo = p->k ? p->k : p->k_min, k_hi = p->k ? p->k : p->k_max;
    double best_score = -DBL_MAX;
    float cent[TL_SEG_K_MAX * TL_SEG_DIM_MAX];
    for (uint32_t k = k_lo; k <= k_hi; k++) {
        double best_in = DBL_MAX;
        uint32_t kk_best = 0;
        float cent_best[TL_SEG_K_MAX * TL_SEG_DIM_MAX];
        for (uint32_t r = 0; r < p->restarts; r++) {
            uint32_t kk;
            double in =
                kmeans_run(pts, nf, d, k, p->iters, p->seed + 0x1000193ULL * r + k, cent, lab, dmin, sum, cnt, &kk);
            if (in < best_in) {
                best_in = in;
                kk_best = kk;
                memcpy(cent_best, cent, (size_t)kk * d * sizeof *cent);
                memcpy(best_lab, lab, nf * sizeof *lab);
            }
        }
        double sil = silhouette(pts, d, best_lab, kk_best, samp, ns, acc, cnt);
        /* a run that found fewer centres than k is the same model as that
         * smaller k: never prefer it over it */
        double score = p->k ? 0 : sil;
        if (score > best_score + 1e-9 && (kk_best == k || out->k == 0)) {
            best_score = score;
            out->k = kk_best;
            out->inertia = best_in;
            out->silhouette = sil;
            for (uint32_t c = 0; c < kk_best; c++)
                memcpy(out->centroids + (size_t)c * d, cent_best + (size_t)c * d, d * sizeof *cent);
        }
        if (kk_best < k) break; /* no more distinct points for a larger k */
    }
    if (assign)
        for (size_t i = 0; i < n; i++) assign[i] = tl_seg_assign(out, &x[i]);
done:
    tl_free(pts);
    tl_free(lab);
    tl_free(best_lab);
    tl_free(dmin);
    tl_free(sum);
    tl_free(cnt);
    tl_free(acc);
    tl_free(samp);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the known (not NaN) values of v[0..n-1]; sorts v; NAN if none. */
static double median(double *v, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i])) v[m++] = v[i];
    if (!m) return NAN;
    qsort(v, m, sizeof *v, cmp_double);
    return m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
}

enum tl_rc tl_seg_summarize(const struct tl_seg_raw *x, size_t n, const uint32_t *assign, uint32_t k, uint32_t n_cats,
                            struct tl_seg_summary *out, struct tl_seg_summary *all)
{
    double *buf = tl_malloc((n ? n : 1) * sizeof *buf);
    if (!buf) return TL_ENOMEM;
    /* segment g = 0..k-1, then g = k for everyone */
    for (uint32_t g = 0; g <= k; g++) {
        struct tl_seg_summary *s = g < k ? &out[g] : all;
        memset(s, 0, sizeof *s);
        for (int j = 0; j < TL_SEG_NUM; j++) {
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (g == k || assign[i] == g) buf[m++] = raw_num(&x[i], j);
            s->size = m;
            double med = median(buf, m);
            switch (j) {
            case 0:
                s->med_orders = med;
                break;
            case 1:
                s->med_monetary = med;
                break;
            case 2:
                s->med_recency_days = med;
                break;
            case 3:
                s->med_price = med;
                break;
            default:
                s->med_views = med;
                break;
            }
        }
        for (size_t i = 0; i < n; i++)
            if (g == k || assign[i] == g)
                for (uint32_t c = 0; c < n_cats; c++) s->cat_share[c] += x[i].cat[c];
        for (uint32_t c = 0; c < n_cats && s->size; c++) s->cat_share[c] /= (double)s->size;
    }
    tl_free(buf);
    return TL_OK;
}

static const char *last_level(const char *path)
{
    const char *p = path, *q;
    while ((q = strstr(p, " > ")) != NULL) p = q + 3;
    return p;
}

/* Append printf output to buf[*o..len). */
static void app(char *buf, size_t len, size_t *o, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void app(char *buf, size_t len, size_t *o, const char *fmt, ...)
{
    if (*o >= len) return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *o, len - *o, fmt, ap);
    va_end(ap);
    if (w > 0) *o += (size_t)w < len - *o ? (size_t)w : len - *o - 1;
}

static void money(char *out, size_t n, double v, const char *cur)
{
    if (isnan(v)) v = 0;
    if (cur && *cur)
        snprintf(out, n, "%.2f %s", v, cur);
    else
        snprintf(out, n, "%.2f", v);
}

void tl_seg_describe(const struct tl_seg_summary *s, const struct tl_seg_summary *all, uint32_t n_cats,
                     const char *const *cat_names, const char *currency, char *name, size_t name_len, char *desc,
                     size_t desc_len)
{
    double so = isnan(s->med_orders) ? 0 : s->med_orders, ao = isnan(all->med_orders) ? 0 : all->med_orders;
    double sm = isnan(s->med_monetary) ? 0 : s->med_monetary, am = isnan(all->med_monetary) ? 0 : all->med_monetary;
    double frequent = 2 * ao > 2 ? 2 * ao : 2;
    const char *base;
    if (so == 0)
        base = "Browsers";
    else if (so >= frequent && am > 0 && sm >= 2 * am)
        base = "Loyal big spenders";
    else if (so >= frequent)
        base = "Frequent buyers";
    else if (am > 0 && sm >= 2 * am)
        base = "Big-basket buyers";
    else if (so <= 1)
        base = "One-time buyers";
    else
        base = "Occasional buyers";
    const char *when = "";
    double sr = s->med_recency_days, ar = all->med_recency_days;
    if (!isnan(sr) && !isnan(ar)) {
        if (sr >= (2 * ar > 90 ? 2 * ar : 90))
            when = "Lapsed ";
        else if (sr <= (ar / 2 < 14 ? ar / 2 : 14))
            when = "Recent ";
    }
    /* the characteristic category */
    int top = -1, second = -1;
    double best_lift = 0;
    for (uint32_t c = 0; c < n_cats; c++) {
        double lift = all->cat_share[c] > 0 ? s->cat_share[c] / all->cat_share[c] : 0;
        if (s->cat_share[c] >= 0.15 && lift >= 1.3 && lift > best_lift) {
            best_lift = lift;
            top = (int)c;
        }
    }
    if (top < 0)
        for (uint32_t c = 0; c < n_cats; c++)
            if (s->cat_share[c] >= 0.25 && (top < 0 || s->cat_share[c] > s->cat_share[top])) top = (int)c;
    for (uint32_t c = 0; c < n_cats; c++)
        if ((int)c != top && s->cat_share[c] >= 0.10 && (second < 0 || s->cat_share[c] > s->cat_share[second]))
            second = (int)c;

    size_t o = 0;
    if (*when) {
        app(name, name_len, &o, "%s%c%s", when, (char)tolower((unsigned char)base[0]), base + 1);
    } else
        app(name, name_len, &o, "%s", base);
    if (top >= 0 && cat_names && cat_names[top]) app(name, name_len, &o, " \xc2\xb7 %s", last_level(cat_names[top]));
    if (!o && name_len) name[0] = '\0';

    char m1[48], m2[48];
    o = 0;
    double share = all->size ? 100.0 * (double)s->size / (double)all->size : 0;
    app(desc, desc_len, &o, "%llu shoppers (%.1f%% of those with history). ", (unsigned long long)s->size, share);
    if (so == 0)
        app(desc, desc_len, &o, "No orders yet; a median of %.0f product views. ",
            isnan(s->med_views) ? 0 : s->med_views);
    else {
        money(m1, sizeof m1, sm, currency);
        money(m2, sizeof m2, am, currency);
        app(desc, desc_len, &o, "A median of %g order%s and %s spent (everyone: %g and %s). ", so, so == 1 ? "" : "s",
            m1, ao, m2);
    }
    if (!isnan(sr))
        app(desc, desc_len, &o, "Last active a median of %.0f days ago (everyone: %.0f). ", sr, isnan(ar) ? 0 : ar);
    if (top >= 0 && cat_names && cat_names[top]) {
        app(desc, desc_len, &o, "Interest leans to %s (%.0f%% of their interest, %.0f%% overall)", cat_names[top],
            100 * s->cat_share[top], 100 * all->cat_share[top]);
        if (second >= 0 && cat_names[second])
            app(desc, desc_len, &o, " and %s (%.0f%%, %.0f%% overall)", cat_names[second], 100 * s->cat_share[second],
                100 * all->cat_share[second]);
        app(desc, desc_len, &o, ". ");
    }
    double sp = s->med_price, ap2 = all->med_price;
    if (!isnan(sp) && !isnan(ap2) && ap2 > 0) {
        money(m1, sizeof m1, sp, currency);
        money(m2, sizeof m2, ap2, currency);
        const char *tier = sp >= 1.5 * ap2 ? "premium-priced" : sp <= ap2 / 1.5 ? "low-priced" : "mid-priced";
        app(desc, desc_len, &o, "Looks at %s items (median price %s, everyone %s).", tier, m1, m2);
    }
    while (o > 0 && desc[o - 1] == ' ') desc[--o] = '\0';
    if (!o && desc_len) desc[0] = '\0';
}
