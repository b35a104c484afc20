/* Seasonal products and the out-of-season audit (see seasonal.h).
 *
 * Data: per item index, units sold per calendar month u[0..11] (UTC), the
 * day of its first and last sale; over all items the first and last day of
 * the history. After fit, per item its season as a 12-bit month mask and
 * its share.
 *
 * Algorithm (tl_season_fit):
 *   coverage   c[m] = days of calendar month m inside [first day, last day]
 *              of the whole history. A history of 13 months counts December
 *              twice; one of 10 months leaves two months unseen. All 12
 *              months must be covered (c[m] > 0), else nothing is seasonal.
 *   estimate   e[m] = u[m] * L[m] / c[m], the units of month m in one
 *              average year (L = days in the month, February 28.25): the
 *              per-day rate of the days we saw, scaled to a whole month.
 *   window     for each start s in 0..11, S(s) = sum_{k<W} e[(s + k) mod 12];
 *              best = max S (ties: the earliest start from January);
 *              share = best / sum_m e[m].
 *   seasonal   share >= min_share (0.8) AND units >= min_units (50) AND
 *              distinct months with sales >= min_months (2) AND last sale -
 *              first sale >= min_span_days (300).
 *   season     the best window, minus leading and trailing months whose e
 *              is below edge_share (5 %) of the total (at least one month
 *              stays): an item sold almost only in December gets [12],
 *              not [10,11,12,1].
 *
 * Why these constants. W = 4 months (a third of the year): a product whose
 * sales are spread evenly has share 4/12 = 0.33, so 0.8 means 2.4 times
 * that concentration. With W = 3 many Christmas lines of a wholesale shop
 * (UCI Online Retail) are bought from September to December and fall just
 * short of 0.8 in any 3 months (measured: 45 of 87 judged Christmas items
 * at W = 3 vs 76 at W = 4; the staple 85123A has 0.41 at W = 4).
 * 50 units and 2 months keep one bulk order from making a product
 * "seasonal". The 300-day span is the important guard: with about a year
 * of history, a product launched in September sells only from September
 * to December and would look exactly like a Christmas product; requiring
 * its sales to span most of a year means its quiet months were observed
 * quiet, not unobserved (an item short of it is simply not judged).
 *
 * Bounds: item indexes < TL_SEASON_ITEMS_MAX (112 bytes per index up to
 * the largest seen); sale times in years 1970..9999, so the coverage walk
 * is at most ~2.9 M days. Fit is O(items * 12 * W) (0.2 ms for the 3,941
 * Online Retail products).
 *
 * Audit: served recommendations (item, widget, time) of seasonal items
 * whose month is outside the season, grouped by (item, widget) in a hash
 * map keyed item << 32 | widget id (widget names interned, bounded). */
#include "analytics/seasonal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/map.h"
#include "core/timeutil.h"

struct sitem {
    double u[12];
    int32_t first_day, last_day; /* days since 1970-01-01; first_day = INT32_MAX when no sale */
    uint16_t season;             /* month mask after fit */
    float share;
};

struct tl_season {
    struct tl_season_params p;
    struct sitem *items;
    uint32_t n_items, cap;
    int64_t min_day, max_day; /* of all sales; min > max when empty */
    int history_ok;
    size_t n_seasonal, n_with_sales;
};

#define TS_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

static const double month_len[12] = {31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

void tl_season_params_default(struct tl_season_params *p)
{
    *p = (struct tl_season_params){.window_months = 4,
                                   .min_share = 0.8,
                                   .min_units = 50,
                                   .min_months = 2,
                                   .min_span_days = 300,
                                   .edge_share = 0.05};
}

struct tl_season *tl_season_new(const struct tl_season_params *p)
{
    struct tl_season_params d;
    tl_season_params_default(&d);
    if (p) d = *p;
    if (d.window_months < 1 || d.window_months > 6 || !(d.min_share > 0 && d.min_share <= 1)) return NULL;
    struct tl_season *s = tl_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = d;
    s->min_day = INT64_MAX;
    s->max_day = INT64_MIN;
    return s;
}

void tl_season_free(struct tl_season *s)
{
    if (!s) return;
    tl_free(s->items);
    tl_free(s);
}

/* Civil date of a day number (days since 1970-01-01), proleptic Gregorian:
 * the era / day-of-era decomposition (eras of 400 years = 146097 days). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t day_of(int64_t ts_ms)
{
    return ts_ms >= 0 ? ts_ms / TL_MS_PER_DAY : -((-ts_ms + TL_MS_PER_DAY - 1) / TL_MS_PER_DAY);
}

int tl_season_month_of(int64_t ts_ms)
{
    int y, m, d;
    civil_from_days(day_of(ts_ms), &y, &m, &d);
    return m;
}

enum tl_rc tl_season_add(struct tl_season *s, uint32_t item, int64_t ts_ms, double quantity, struct tl_err *err)
{
    if (!s) return tl_err_set(err, TL_EINVAL, NULL, "no seasonal model");
    if (!(quantity > 0) || !isfinite(quantity)) return TL_OK;
    if (item >= TL_SEASON_ITEMS_MAX)
        return tl_err_set(err, TL_EINVAL, "item", "item index %u is beyond the maximum %u", item,
                          TL_SEASON_ITEMS_MAX - 1);
    if (ts_ms < 0 || ts_ms > TS_MAX_MS)
        return tl_err_set(err, TL_EINVAL, "ts_ms", "sale time %lld is outside 1970..9999", (long long)ts_ms);
    if (item >= s->cap) {
        uint32_t cap = s->cap ? s->cap : 1024;
        while (cap <= item) cap = cap > TL_SEASON_ITEMS_MAX / 2 ? TL_SEASON_ITEMS_MAX : cap * 2;
        struct sitem *v = tl_realloc(s->items, (size_t)cap * sizeof *v);
        if (!v) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory growing seasonal items to %u", cap);
        memset(v + s->cap, 0, (size_t)(cap - s->cap) * sizeof *v);
        for (uint32_t i = s->cap; i < cap; i++) v[i].first_day = INT32_MAX;
        s->items = v;
        s->cap = cap;
    }
    if (item >= s->n_items) s->n_items = item + 1;
    int64_t day = day_of(ts_ms);
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    struct sitem *it = &s->items[item];
    it->u[m - 1] += quantity;
    if (day < it->first_day) it->first_day = (int32_t)day;
    if (day > it->last_day) it->last_day = (int32_t)day;
    if (day < s->min_day) s->min_day = day;
    if (day > s->max_day) s->max_day = day;
    return TL_OK;
}

enum tl_rc tl_season_fit(struct tl_season *s, struct tl_err *err)
{
    if (!s) return tl_err_set(err, TL_EINVAL, NULL, "no seasonal model");
    double cover[12] = {0};
    s->history_ok = 0;
    if (s->min_day <= s->max_day) {
        int64_t d0 = s->min_day; /* at most ~2.9 M days: sale times are bounded to years < 10000 */
        for (; d0 <= s->max_day; d0++) {
            int y2, m2, x2;
            civil_from_days(d0, &y2, &m2, &x2);
            cover[m2 - 1] += 1;
        }
        s->history_ok = 1;
        for (int m = 0; m < 12; m++)
            if (cover[m] <= 0) s->history_ok = 0;
    }
    const int W = s->p.window_months;
    s->n_seasonal = 0;
    s->n_with_sales = 0;
    for (uint32_t i = 0; i < s->n_items; i++) {
        struct sitem *it = &s->items[i];
        it->season = 0;
        it->share = 0;
        if (it->first_day == INT32_MAX) continue;
        s->n_with_sales++;
        double e[12], E = 0, units = 0;
        int months = 0;
        for (int m = 0; m < 12; m++) {
            e[m] = cover[m] > 0 ? it->u[m] * month_len[m] / cover[m] : 0;
            E += e[m];
            units += it->u[m];
            months += it->u[m] > 0;
        }
        if (!(E > 0)) continue;
        double best = -1;
        int bs = 0;
        for (int st = 0; st < 12; st++) {
            double v = 0;
            for (int k = 0; k < W; k++) v += e[(st + k) % 12];
            if (v > best + 1e-12 * E) best = v, bs = st;
        }
        it->share = (float)(best / E);
        if (!s->history_ok || best / E < s->p.min_share - 1e-12 || units < s->p.min_units || months < s->p.min_months ||
            it->last_day - it->first_day < s->p.min_span_days)
            continue;
        int lo = 0, hi = W - 1; /* offsets in the window */
        while (lo < hi && e[(bs + lo) % 12] < s->p.edge_share * E) lo++;
        while (hi > lo && e[(bs + hi) % 12] < s->p.edge_share * E) hi--;
        uint16_t mask = 0;
        for (int k = lo; k <= hi; k++) mask |= (uint16_t)(1u << ((bs + k) % 12));
        it->season = mask;
        s->n_seasonal++;
    }
    (void)err;
    return TL_OK;
}

uint16_t tl_season_months(const struct tl_season *s, uint32_t item)
{
    return s && item < s->n_items ? s->items[item].season : 0;
}

double tl_season_share(const struct tl_season *s, uint32_t item)
{
    return s && item < s->n_items ? s->items[item].share : 0.0;
}

int tl_season_in_season(const struct tl_season *s, uint32_t item, int64_t ts_ms)
{
    uint16_t mask = tl_season_months(s, item);
    if (!mask) return 1;
    return (mask >> (tl_season_month_of(ts_ms) - 1)) & 1u;
}

size_t tl_season_count(const struct tl_season *s) { return s ? s->n_seasonal : 0; }

/* Season months in window order: from the first month of the run that
 * follows a month outside the season (so [11,12,1] for a wrapping one). */
static void put_season(struct tl_buf *out, uint16_t mask)
{
    int start = 0;
    for (int m = 0; m < 12; m++)
        if ((mask >> m & 1u) && !(mask >> ((m + 11) % 12) & 1u)) {
            start = m;
            break;
        }
    tl_buf_putc(out, '[');
    int first = 1;
    for (int k = 0; k < 12; k++) {
        int m = (start + k) % 12;
        if (!(mask >> m & 1u)) continue;
        tl_buf_printf(out, "%s%d", first ? "" : ",", m + 1);
        first = 0;
    }
    tl_buf_putc(out, ']');
}

static void put_item(struct tl_buf *out, tl_season_name_fn name, void *ctx, uint32_t item)
{
    const char *nm = name ? name(ctx, item) : NULL;
    if (nm)
        tl_buf_json_str(out, nm);
    else
        tl_buf_printf(out, "\"%u\"", item);
}

static const struct tl_season *sort_model; /* qsort context, under sort_mu */
static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;

static int by_share_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    float sx = sort_model->items[x].share, sy = sort_model->items[y].share;
    if (sx != sy) return sx < sy ? 1 : -1;
    return x < y ? -1 : x > y;
}

static double units_of(const struct sitem *it)
{
    double u = 0;
    for (int m = 0; m < 12; m++) u += it->u[m];
    return u;
}

enum tl_rc tl_season_report_json(const struct tl_season *s, tl_season_name_fn name, void *ctx, size_t limit,
                                 struct tl_buf *out)
{
    if (!s || !out) return TL_EINVAL;
    uint32_t *v = tl_malloc((s->n_seasonal ? s->n_seasonal : 1) * sizeof *v);
    if (!v) return TL_ENOMEM;
    size_t n = 0;
    for (uint32_t i = 0; i < s->n_items && n < s->n_seasonal; i++)
        if (s->items[i].season) v[n++] = i;
    pthread_mutex_lock(&sort_mu);
    sort_model = s;
    qsort(v, n, sizeof *v, by_share_desc);
    pthread_mutex_unlock(&sort_mu);
    long long days = s->min_day <= s->max_day ? (long long)(s->max_day - s->min_day + 1) : 0;
    enum tl_rc rc = tl_buf_printf(out,
                                  "{\"history_ok\":%s,\"history_days\":%lld,\"window_months\":%d,\"min_share\":%.4g,"
                                  "\"items_with_sales\":%zu,\"seasonal\":%zu,\"items\":[",
                                  s->history_ok ? "true" : "false", days, s->p.window_months, s->p.min_share,
                                  s->n_with_sales, s->n_seasonal);
    for (size_t i = 0; rc == TL_OK && i < n && (limit == 0 || i < limit); i++) {
        const struct sitem *it = &s->items[v[i]];
        if (i) tl_buf_putc(out, ',');
        tl_buf_puts(out, "{\"item\":");
        put_item(out, name, ctx, v[i]);
        tl_buf_puts(out, ",\"season\":");
        put_season(out, it->season);
        rc = tl_buf_printf(out, ",\"share\":%.4f,\"units\":%.15g}", (double)it->share, units_of(it));
    }
    if (rc == TL_OK) rc = tl_buf_puts(out, "]}");
    tl_free(v);
    return rc;
}

struct group {
    uint32_t item, widget;
    uint64_t count;
    uint64_t item_total; /* filled before sorting */
    int64_t first, last;
};

static const struct tl_strtab *sort_widgets; /* under sort_mu */

static int by_group(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    if (x->item_total != y->item_total) return x->item_total < y->item_total ? 1 : -1;
    if (x->item != y->item) return x->item < y->item ? -1 : 1;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(tl_strtab_str(sort_widgets, x->widget), tl_strtab_str(sort_widgets, y->widget));
}

enum tl_rc tl_season_audit_json(const struct tl_season *s, const struct tl_season_served *served, size_t n,
                                tl_season_name_fn name, void *ctx, struct tl_buf *out, struct tl_err *err)
{
    if (!s || !out || (n && !served)) return tl_err_set(err, TL_EINVAL, NULL, "audit needs a model and its input");
    struct tl_strtab widgets;
    struct tl_u64map gmap, totals;
    tl_strtab_init(&widgets);
    tl_u64map_init(&gmap);
    tl_u64map_init(&totals);
    struct group *g = NULL;
    size_t ng = 0, capg = 0;
    uint64_t oos = 0;
    enum tl_rc rc = TL_OK;
    for (size_t i = 0; i < n && rc == TL_OK; i++) {
        const struct tl_season_served *sv = &served[i];
        if (tl_season_in_season(s, sv->item, sv->ts_ms)) continue;
        oos++;
        char wname[TL_SEASON_WIDGET_MAX + 1];
        const char *w = sv->widget && sv->widget[0] ? sv->widget : "unknown";
        size_t wl = strnlen(w, TL_SEASON_WIDGET_MAX);
        memcpy(wname, w, wl);
        wname[wl] = '\0';
        uint32_t wid = tl_strtab_find(&widgets, wname);
        if (wid == TL_STRTAB_NONE) {
            if (widgets.count >= TL_SEASON_WIDGETS_MAX) {
                rc = tl_err_set(err, TL_ETOOBIG, "widget", "more than %u widget names in one audit",
                                TL_SEASON_WIDGETS_MAX);
                break;
            }
            if ((rc = tl_strtab_intern(&widgets, wname, &wid)) != TL_OK) break;
        }
        uint64_t key = (uint64_t)sv->item << 32 | wid, gi;
        if (!tl_u64map_get(&gmap, key, &gi)) {
            if (ng >= TL_SEASON_AUDIT_GROUPS_MAX) {
                rc = tl_err_set(err, TL_ETOOBIG, NULL, "more than %u (item, widget) pairs out of season",
                                TL_SEASON_AUDIT_GROUPS_MAX);
                break;
            }
            if (ng == capg) {
                size_t nc = capg ? capg * 2 : 64;
                struct group *ng2 = tl_realloc(g, nc * sizeof *ng2);
                if (!ng2) {
                    rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory in the seasonal audit");
                    break;
                }
                g = ng2;
                capg = nc;
            }
            gi = ng;
            g[ng++] = (struct group){sv->item, wid, 0, 0, sv->ts_ms, sv->ts_ms};
            if ((rc = tl_u64map_put(&gmap, key, gi)) != TL_OK) break;
        }
        struct group *gr = &g[gi];
        gr->count++;
        if (sv->ts_ms < gr->first) gr->first = sv->ts_ms;
        if (sv->ts_ms > gr->last) gr->last = sv->ts_ms;
        uint64_t t = 0;
        tl_u64map_get(&totals, sv->item, &t);
        if ((rc = tl_u64map_put(&totals, sv->item, t + 1)) != TL_OK) break;
    }
    if (rc == TL_OK) {
        for (size_t i = 0; i < ng; i++) tl_u64map_get(&totals, g[i].item, &g[i].item_total);
        pthread_mutex_lock(&sort_mu);
        sort_widgets = &widgets;
        if (ng) qsort(g, ng, sizeof *g, by_group);
        pthread_mutex_unlock(&sort_mu);
        rc = tl_buf_printf(out, "{\"served\":%zu,\"out_of_season\":%llu,\"share\":%.4f,\"items\":[", n,
                           (unsigned long long)oos, n ? (double)oos / (double)n : 0.0);
        for (size_t i = 0; i < ng && rc == TL_OK; i++) {
            int head = i == 0 || g[i].item != g[i - 1].item;
            if (head) {
                if (i) tl_buf_puts(out, "]},");
                tl_buf_puts(out, "{\"item\":");
                put_item(out, name, ctx, g[i].item);
                tl_buf_puts(out, ",\"season\":");
                put_season(out, tl_season_months(s, g[i].item));
                tl_buf_printf(out, ",\"out_of_season\":%llu,\"widgets\":[", (unsigned long long)g[i].item_total);
            } else {
                tl_buf_putc(out, ',');
            }
            char f[32], l[32];
            tl_time_format(g[i].first, f, sizeof f);
            tl_time_format(g[i].last, l, sizeof l);
            tl_buf_puts(out, "{\"widget\":");
            tl_buf_json_str(out, tl_strtab_str(&widgets, g[i].widget));
            rc = tl_buf_printf(out, ",\"count\":%llu,\"first\":\"%s\",\"last\":\"%s\"}", (unsigned long long)g[i].count,
                               f, l);
        }
        if (rc == TL_OK) rc = tl_buf_puts(out, ng ? "]}]}" : "]}");
        if (rc != TL_OK) tl_err_set(err, rc, NULL, "audit output does not fit the buffer");
    }
    tl_free(g);
    tl_strtab_free(&widgets);
    tl_u64map_free(&gmap);
    tl_u64map_free(&totals);
    return rc;
}
