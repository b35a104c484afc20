/* KPI roll-ups and attribution (see kpi.h for the public rules).
 *
 * Data (all under one mutex):
 *   values    interned "<dim>\x1f<value>" -> 16-bit id (< TL_KPI_VALUES_MAX);
 *             a value is cut to TL_KPI_VALUE_MAX bytes on a UTF-8 boundary.
 *   cells     counters per (shop, day, dim, value) in an array, found through
 *             a u64 map whose key packs them exactly (no collisions):
 *               shop (28 bits) | day (17 bits: days since 1970, < 2328)
 *               | dim (3 bits; 6 = site totals, value 0) | value (16 bits)
 *             row cells: impressions, clicks, add_to_carts, orders,
 *             revenue (last touch), assisted; site cells: visitors,
 *             converted, orders, revenue.
 *   shoppers  hash(shop, shopper) -> state: a ring of the last
 *             TL_KPI_IMPS_PER_SHOPPER impressions (source hash, session,
 *             dimension values) and of the last TL_KPI_CLICKS_PER_SHOPPER
 *             clicks (item, time, session, source, values, spent flag).
 *   visitors  hash(shop, day, shopper) -> day << 1 | ordered: the exact set
 *             of the day's visitors, and whether each ordered.
 *   orders    hash(shop, order id hash): orders already counted.
 *
 * Rules, per event of shop s, shopper u, at time t (day = floor(t / 1 day)):
 *   any type     (u, day) new -> site.visitors[day] += 1.
 *   impression   every dimension value v of the event: impressions += n
 *                (items shown, at least 1); remembered in u's ring.
 *   click        values: widget from the source (or the caller's), model
 *                and placement from the click, else from the latest
 *                impression of the same source in the same session, model
 *                else = widget; clicks += 1 per value; remembered.
 *   add_to_cart  the latest click of u on the item (spent or not) in the
 *                same session at or before t: add_to_carts += 1 for its
 *                values (each cart event counts; none without a click). Same session = equal session keys when both are
 *                known, else |t - t_click| <= session_gap_ms (30 min).
 *   purchase     site.orders += 1 (once per order id), site.revenue +=
 *                sum of line revenue; (u, day) becomes converted. Each
 *                line L (item i, revenue r; negative or NaN = 0):
 *                C = u's unspent clicks on i
 *                with t - window <= t_click <= t. If C is empty: nothing
 *                more. Else the latest click c* (ties: the one recorded
 *                last) gives, for each dimension, revenue += r to its
 *                value; every distinct value per dimension among C gets
 *                assisted += r; the clicks of C are spent. Per order,
 *                orders += 1 once for each value that got last-touch
 *                revenue from it (an order id already counted adds none).
 *   Revenue is booked on the purchase's day, clicks and impressions on
 *   their own days, so a click on Monday and its purchase on Tuesday show
 *   as a click on Monday and revenue on Tuesday. A purchase line of
 *   negative or non-finite revenue counts 0. Returns are not netted.
 *
 * Bounds: cells, values and the visitor set beyond their maxima are not
 * counted (dropped += 1). Shopper states: when TL_KPI_SHOPPERS_MAX is
 * reached, states idle for longer than window + session gap before the
 * latest time seen are removed (they can no longer attribute anything);
 * if fewer than an eighth are idle, all are cleared (pending attributions
 * are lost; the O(n) compaction runs at most once per n / 8 new shoppers).
 * The visitor set drops days before the latest day - 1 when full (at most
 * once per latest day; if still full, new visitors are dropped). The order
 * set is cleared when full (an order id repeated after that counts again).
 * Memory at the maxima: cells ~100 MB, states ~84 MB, visitors and orders
 * ~48 MB each; a typical shop uses a few MB (about 100 cells per day).
 */
#include "analytics/kpi.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/map.h"
#include "core/timeutil.h"

#define DIM_SITE 6
#define DAY_LIMIT 131072 /* 17 bits of day */
#define NO_VAL 0xffffu

static const char *const dim_names[TL_KPI_DIMS_] = {"widget", "placement", "model", "segment", "country", "device"};

static const char *const rec_codes[][2] = {
    {"fy", "for_you"},     {"si", "similar"},     {"se", "session"}, {"bt", "bought_together"},
    {"ab", "also_bought"}, {"av", "also_viewed"}, {"ca", "cart"},    {"rv", "recently_viewed"},
    {"po", "popular"},     {"tr", "trending"},
};

struct cell {
    uint32_t shop;
    int32_t day;
    uint8_t dim;
    uint16_t val;
    uint64_t impressions, clicks, carts, orders; /* site cells: impressions = visitors, clicks = converted */
    double revenue, assisted;
};

struct click {
    int64_t ts;
    uint64_t session, src;
    uint32_t item;
    uint8_t spent;
    uint16_t vals[TL_KPI_DIMS_];
};

struct imp {
    int64_t ts;
    uint64_t session, src;
    uint16_t vals[TL_KPI_DIMS_];
};

struct sstate {
    int64_t last_ts;
    uint64_t key;
    uint8_t nclick, click_head, nimp, imp_head;
    struct click clicks[TL_KPI_CLICKS_PER_SHOPPER];
    struct imp imps[TL_KPI_IMPS_PER_SHOPPER];
};

struct tl_kpi {
    pthread_mutex_t mu;
    struct tl_kpi_params p;
    struct tl_strtab values;
    struct cell *cells;
    size_t ncells, capcells;
    struct tl_u64map cmap;
    struct sstate *st;
    size_t nst, capst;
    struct tl_u64map smap;
    struct tl_u64map visitors;
    struct tl_u64map orders;
    int64_t max_ts, max_day;
    int64_t pruned_day; /* latest day when the visitor set was last pruned */
    uint64_t dropped;
};

int tl_kpi_dim_from_str(const char *s)
{
    for (int d = 0; s && d < TL_KPI_DIMS_; d++)
        if (strcmp(s, dim_names[d]) == 0) return d;
    return -1;
}

const char *tl_kpi_dim_str(enum tl_kpi_dim d) { return (int)d >= 0 && d < TL_KPI_DIMS_ ? dim_names[d] : "unknown"; }

const char *tl_kpi_widget_of_source(const char *src)
{
    if (!src || !*src) return "unknown";
    if (src[0] == 'r' && src[1] == '_') {
        if (src[2] && src[3] && src[4] == '_')
            for (size_t i = 0; i < sizeof rec_codes / sizeof rec_codes[0]; i++)
                if (src[2] == rec_codes[i][0][0] && src[3] == rec_codes[i][0][1]) return rec_codes[i][1];
        return "recommendation";
    }
    if (src[0] == 's' && src[1] == '_') return "search";
    if (src[0] == 'd' && src[1] == '_') return "campaign";
    return "other";
}

int64_t tl_kpi_day(int64_t ts_ms)
{
    return ts_ms >= 0 ? ts_ms / TL_MS_PER_DAY : -((-ts_ms + TL_MS_PER_DAY - 1) / TL_MS_PER_DAY);
}

struct tl_kpi *tl_kpi_new(const struct tl_kpi_params *p)
{
    struct tl_kpi *k = tl_calloc(1, sizeof *k);
    if (!k) return NULL;
    pthread_mutex_init(&k->mu, NULL);
    k->p = (struct tl_kpi_params){.attribution_ms = 24 * TL_MS_PER_HOUR, .session_gap_ms = 30 * TL_MS_PER_MIN};
    if (p) k->p = *p;
    tl_strtab_init(&k->values);
    tl_u64map_init(&k->cmap);
    tl_u64map_init(&k->smap);
    tl_u64map_init(&k->visitors);
    tl_u64map_init(&k->orders);
    k->max_ts = INT64_MIN;
    k->pruned_day = -1;
    return k;
}

void tl_kpi_free(struct tl_kpi *k)
{
    if (!k) return;
    tl_strtab_free(&k->values);
    tl_free(k->cells);
    tl_free(k->st);
    tl_u64map_free(&k->cmap);
    tl_u64map_free(&k->smap);
    tl_u64map_free(&k->visitors);
    tl_u64map_free(&k->orders);
    pthread_mutex_destroy(&k->mu);
    tl_free(k);
}

/* Id of value v of dimension d (NULL/empty = "unknown"); NO_VAL when full. */
static uint16_t value_id(struct tl_kpi *k, int d, const char *v)
{
    char key[TL_KPI_VALUE_MAX + 4];
    if (!v || !*v) v = "unknown";
    size_t n = strnlen(v, TL_KPI_VALUE_MAX);
    if (v[n]) /* cut: do not end inside a UTF-8 sequence */
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80) n--;
    key[0] = (char)('0' + d);
    key[1] = '\x1f';
    memcpy(key + 2, v, n);
    key[n + 2] = '\0';
    uint32_t id = tl_strtab_find(&k->values, key);
    if (id != TL_STRTAB_NONE) return (uint16_t)id;
    if (k->values.count >= TL_KPI_VALUES_MAX || tl_strtab_intern(&k->values, key, &id) != TL_OK) {
        k->dropped++;
        return NO_VAL;
    }
    return (uint16_t)id;
}

static const char *value_str(const struct tl_kpi *k, uint16_t id)
{
    const char *s = tl_strtab_str(&k->values, id);
    return s ? s + 2 : "";
}

static uint64_t cell_key(uint32_t shop, int64_t day, int dim, uint16_t val)
{
    return (uint64_t)shop << 36 | (uint64_t)day << 19 | (uint64_t)dim << 16 | val;
}

/* Cell of (shop, day, dim, val), created when create; NULL if absent or full. */
static struct cell *cell_get(struct tl_kpi *k, uint32_t shop, int64_t day, int dim, uint16_t val, int create)
{
    if (val == NO_VAL) return NULL;
    uint64_t key = cell_key(shop, day, dim, val), idx;
    if (tl_u64map_get(&k->cmap, key, &idx)) return &k->cells[idx];
    if (!create) return NULL;
    if (k->ncells >= TL_KPI_CELLS_MAX) {
        k->dropped++;
        return NULL;
    }
    if (k->ncells == k->capcells) {
        size_t nc = k->capcells ? k->capcells * 2 : 256;
        struct cell *c = tl_realloc(k->cells, nc * sizeof *c);
        if (!c) {
            k->dropped++;
            return NULL;
        }
        k->cells = c;
        k->capcells = nc;
    }
    if (tl_u64map_put(&k->cmap, key, k->ncells) != TL_OK) {
        k->dropped++;
        return NULL;
    }
    struct cell *c = &k->cells[k->ncells++];
    memset(c, 0, sizeof *c);
    c->shop = shop;
    c->day = (int32_t)day;
    c->dim = (uint8_t)dim;
    c->val = val;
    return c;
}

/* Shopper state, created when create; NULL if absent / out of memory. */
static struct sstate *state_get(struct tl_kpi *k, uint32_t shop, uint64_t shopper, int create)
{
    uint64_t key = tl_hash_u64(shopper ^ tl_hash_u64(0x6b70690000000000ULL | shop)), idx;
    if (tl_u64map_get(&k->smap, key, &idx)) return &k->st[idx];
    if (!create) return NULL;
    if (k->nst >= TL_KPI_SHOPPERS_MAX) { /* evict idle states (see the bounds above) */
        int64_t horizon = k->max_ts - k->p.attribution_ms - k->p.session_gap_ms;
        size_t m = 0;
        for (size_t i = 0; i < k->nst; i++)
            if (k->st[i].last_ts >= horizon) k->st[m++] = k->st[i];
        if (m > TL_KPI_SHOPPERS_MAX - TL_KPI_SHOPPERS_MAX / 8) m = 0; /* too few idle: clear all */
        k->nst = m;
        tl_u64map_free(&k->smap);
        tl_u64map_init(&k->smap);
        for (size_t i = 0; i < m; i++)
            if (tl_u64map_put(&k->smap, k->st[i].key, i) != TL_OK) {
                k->nst = 0;
                tl_u64map_free(&k->smap);
                tl_u64map_init(&k->smap);
                break;
            }
    }
    if (k->nst == k->capst) {
        size_t nc = k->capst ? k->capst * 2 : 64;
        if (nc > TL_KPI_SHOPPERS_MAX) nc = TL_KPI_SHOPPERS_MAX;
        struct sstate *v = tl_realloc(k->st, nc * sizeof *v);
        if (!v) return NULL;
        k->st = v;
        k->capst = nc;
    }
    if (tl_u64map_put(&k->smap, key, k->nst) != TL_OK) return NULL;
    struct sstate *s = &k->st[k->nst++];
    memset(s, 0, sizeof *s);
    s->key = key;
    return s;
}

static uint64_t visitor_key(uint32_t shop, int64_t day, uint64_t shopper)
{
    return tl_hash_u64(shopper ^ tl_hash_u64(((uint64_t)shop << 20 | (uint64_t)day) + 0x7669730000000000ULL));
}

/* Marks (shop, day, shopper) as a visitor (and as converted when ordered);
 * updates the site cell. */
static void visit(struct tl_kpi *k, uint32_t shop, int64_t day, uint64_t shopper, int ordered)
{
    uint64_t key = visitor_key(shop, day, shopper);
    uint64_t v;
    int have = tl_u64map_get(&k->visitors, key, &v);
    if (have && (!ordered || (v & 1))) return;
    struct cell *site = cell_get(k, shop, day, DIM_SITE, 0, 1);
    if (!have) {
        if (tl_u64map_size(&k->visitors) >= TL_KPI_VISITOR_DAYS_MAX && k->pruned_day != k->max_day) {
            /* keep the latest day and the one before (once per latest day: no rescans when still full) */
            k->pruned_day = k->max_day;
            struct tl_u64map keep;
            tl_u64map_init(&keep);
            for (size_t i = 0; i < k->visitors.cap; i++)
                if (k->visitors.keys[i] && (int64_t)(k->visitors.vals[i] >> 1) >= k->max_day - 1)
                    tl_u64map_put(&keep, k->visitors.keys[i], k->visitors.vals[i]);
            tl_u64map_free(&k->visitors);
            k->visitors = keep;
        }
        if (tl_u64map_size(&k->visitors) >= TL_KPI_VISITOR_DAYS_MAX) {
            k->dropped++;
            return;
        }
        if (tl_u64map_put(&k->visitors, key, (uint64_t)day << 1 | (ordered ? 1u : 0u)) != TL_OK) {
            k->dropped++;
            return;
        }
        if (site) site->impressions++;
    } else {
        tl_u64map_put(&k->visitors, key, v | 1u);
    }
    if (ordered && site) site->clicks++;
}

static struct click *click_at(struct sstate *s, int j);

static int cmp_ts_click(const void *a, const void *b)
{
    const struct click *x = a, *y = b;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

static int cmp_ts_imp(const void *a, const void *b)
{
    const struct imp *x = a, *y = b;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

void tl_kpi_link(struct tl_kpi *k, uint32_t shop, uint64_t from, uint64_t into, int64_t ts_ms)
{
    if (!k || from == into || !from || !into || shop > TL_KPI_SHOP_MAX || ts_ms < 0) return;
    pthread_mutex_lock(&k->mu);
    /* visitors: one per day */
    int64_t today = tl_kpi_day(ts_ms);
    for (int64_t day = today - (TL_KPI_LINK_DAYS - 1); day <= today; day++) {
        uint64_t kf = visitor_key(shop, day, from), kt = visitor_key(shop, day, into), vf, vt;
        if (!tl_u64map_get(&k->visitors, kf, &vf)) continue;
        tl_u64map_del(&k->visitors, kf);
        if (tl_u64map_get(&k->visitors, kt, &vt)) {
            struct cell *site = cell_get(k, shop, day, DIM_SITE, 0, 0);
            if (site && site->impressions) site->impressions--;
            if ((vf & 1) && (vt & 1)) {
                if (site && site->clicks) site->clicks--;
            } else if (vf & 1)
                tl_u64map_put(&k->visitors, kt, vt | 1u);
        } else if (tl_u64map_put(&k->visitors, kt, vf) != TL_OK)
            k->dropped++;
    }
    /* attribution state: the rings merged in time order, the latest kept */
    struct sstate *f = state_get(k, shop, from, 0);
    if (f && (f->nclick || f->nimp)) {
        struct click cl[2 * TL_KPI_CLICKS_PER_SHOPPER];
        struct imp im[2 * TL_KPI_IMPS_PER_SHOPPER];
        size_t nc = 0, ni = 0;
        for (int j = 0; j < f->nclick; j++) cl[nc++] = *click_at(f, j);
        for (int j = 0; j < f->nimp; j++)
            im[ni++] = f->imps[(f->imp_head + TL_KPI_IMPS_PER_SHOPPER - 1 - j) % TL_KPI_IMPS_PER_SHOPPER];
        int64_t last = f->last_ts;
        f->nclick = f->nimp = 0;                        /* the anonymous id now resolves to the customer */
        struct sstate *t = state_get(k, shop, into, 1); /* may move the states array: f is stale now */
        if (t) {
            for (int j = 0; j < t->nclick; j++) cl[nc++] = *click_at(t, j);
            for (int j = 0; j < t->nimp; j++)
                im[ni++] = t->imps[(t->imp_head + TL_KPI_IMPS_PER_SHOPPER - 1 - j) % TL_KPI_IMPS_PER_SHOPPER];
            qsort(cl, nc, sizeof *cl, cmp_ts_click); /* stable enough: equal times keep no order guarantee */
            qsort(im, ni, sizeof *im, cmp_ts_imp);
            size_t c0 = nc > TL_KPI_CLICKS_PER_SHOPPER ? nc - TL_KPI_CLICKS_PER_SHOPPER : 0;
            size_t i0 = ni > TL_KPI_IMPS_PER_SHOPPER ? ni - TL_KPI_IMPS_PER_SHOPPER : 0;
            t->nclick = t->click_head = t->nimp = t->imp_head = 0;
            for (size_t j = c0; j < nc; j++) {
                t->clicks[t->click_head] = cl[j];
                t->click_head = (uint8_t)((t->click_head + 1) % TL_KPI_CLICKS_PER_SHOPPER);
                t->nclick++;
            }
            for (size_t j = i0; j < ni; j++) {
                t->imps[t->imp_head] = im[j];
                t->imp_head = (uint8_t)((t->imp_head + 1) % TL_KPI_IMPS_PER_SHOPPER);
                t->nimp++;
            }
            if (last > t->last_ts) t->last_ts = last;
        }
    }
    pthread_mutex_unlock(&k->mu);
}

static int same_session(const struct tl_kpi *k, uint64_t s1, int64_t t1, uint64_t s2, int64_t t2)
{
    if (s1 && s2) return s1 == s2;
    int64_t d = t1 > t2 ? t1 - t2 : t2 - t1;
    return d <= k->p.session_gap_ms;
}

static void fill_values(struct tl_kpi *k, const struct tl_kpi_event *ev, const struct imp *from, uint16_t *vals)
{
    const char *widget = ev->widget && *ev->widget ? ev->widget : tl_kpi_widget_of_source(ev->source_id);
    vals[TL_KPI_WIDGET] = value_id(k, TL_KPI_WIDGET, widget);
    if (ev->placement && *ev->placement)
        vals[TL_KPI_PLACEMENT] = value_id(k, TL_KPI_PLACEMENT, ev->placement);
    else
        vals[TL_KPI_PLACEMENT] = from ? from->vals[TL_KPI_PLACEMENT] : value_id(k, TL_KPI_PLACEMENT, NULL);
    if (ev->model && *ev->model)
        vals[TL_KPI_MODEL] = value_id(k, TL_KPI_MODEL, ev->model);
    else
        vals[TL_KPI_MODEL] = from ? from->vals[TL_KPI_MODEL] : value_id(k, TL_KPI_MODEL, widget);
    vals[TL_KPI_SEGMENT] = value_id(k, TL_KPI_SEGMENT, ev->segment);
    vals[TL_KPI_COUNTRY] = value_id(k, TL_KPI_COUNTRY, ev->country);
    vals[TL_KPI_DEVICE] = value_id(k, TL_KPI_DEVICE, ev->device);
}

static void on_impression(struct tl_kpi *k, uint32_t shop, int64_t day, const struct tl_kpi_event *ev)
{
    struct imp im = {
        .ts = ev->ts_ms, .session = ev->session, .src = tl_hash_str(ev->source_id ? ev->source_id : "", 1)};
    fill_values(k, ev, NULL, im.vals);
    uint64_t n = ev->n_shown ? ev->n_shown : 1;
    for (int d = 0; d < TL_KPI_DIMS_; d++) {
        struct cell *c = cell_get(k, shop, day, d, im.vals[d], 1);
        if (c) c->impressions += n;
    }
    struct sstate *s = ev->shopper ? state_get(k, shop, ev->shopper, 1) : NULL;
    if (!s) return;
    s->imps[s->imp_head] = im;
    s->imp_head = (uint8_t)((s->imp_head + 1) % TL_KPI_IMPS_PER_SHOPPER);
    if (s->nimp < TL_KPI_IMPS_PER_SHOPPER) s->nimp++;
    s->last_ts = ev->ts_ms;
}

static void on_click(struct tl_kpi *k, uint32_t shop, int64_t day, const struct tl_kpi_event *ev)
{
    struct sstate *s = ev->shopper ? state_get(k, shop, ev->shopper, 1) : NULL;
    uint64_t src = tl_hash_str(ev->source_id ? ev->source_id : "", 1);
    const struct imp *from = NULL;
    if (s) /* latest impression of the same source in the session */
        for (int j = 0; j < s->nimp && !from; j++) {
            const struct imp *im = &s->imps[(s->imp_head + TL_KPI_IMPS_PER_SHOPPER - 1 - j) % TL_KPI_IMPS_PER_SHOPPER];
            if (im->src == src && im->ts <= ev->ts_ms && same_session(k, im->session, im->ts, ev->session, ev->ts_ms))
                from = im;
        }
    struct click c = {.ts = ev->ts_ms, .session = ev->session, .src = src, .item = ev->item};
    fill_values(k, ev, from, c.vals);
    for (int d = 0; d < TL_KPI_DIMS_; d++) {
        struct cell *cl = cell_get(k, shop, day, d, c.vals[d], 1);
        if (cl) cl->clicks++;
    }
    if (!s) return;
    s->clicks[s->click_head] = c;
    s->click_head = (uint8_t)((s->click_head + 1) % TL_KPI_CLICKS_PER_SHOPPER);
    if (s->nclick < TL_KPI_CLICKS_PER_SHOPPER) s->nclick++;
    s->last_ts = ev->ts_ms;
}

/* j-th most recent click of s (0 = latest). */
static struct click *click_at(struct sstate *s, int j)
{
    return &s->clicks[(s->click_head + TL_KPI_CLICKS_PER_SHOPPER - 1 - j) % TL_KPI_CLICKS_PER_SHOPPER];
}

static void on_cart(struct tl_kpi *k, uint32_t shop, int64_t day, const struct tl_kpi_event *ev)
{
    struct sstate *s = ev->shopper && ev->item != TL_KPI_NO_ITEM ? state_get(k, shop, ev->shopper, 0) : NULL;
    if (!s) return;
    s->last_ts = ev->ts_ms;
    for (int j = 0; j < s->nclick; j++) {
        const struct click *c = click_at(s, j);
        if (c->item != ev->item || c->ts > ev->ts_ms || !same_session(k, c->session, c->ts, ev->session, ev->ts_ms))
            continue;
        for (int d = 0; d < TL_KPI_DIMS_; d++) {
            struct cell *cl = cell_get(k, shop, day, d, c->vals[d], 1);
            if (cl) cl->carts++;
        }
        return;
    }
}

static void on_purchase(struct tl_kpi *k, uint32_t shop, int64_t day, const struct tl_kpi_event *ev)
{
    int new_order = 1;
    if (ev->order) {
        uint64_t okey = tl_hash_u64(ev->order ^ tl_hash_u64(0x6f72640000000000ULL | shop));
        if (tl_u64map_get(&k->orders, okey, NULL))
            new_order = 0;
        else {
            if (tl_u64map_size(&k->orders) >= TL_KPI_ORDERS_MAX) {
                tl_u64map_free(&k->orders);
                tl_u64map_init(&k->orders);
            }
            tl_u64map_put(&k->orders, okey, 1);
        }
    }
    double total = 0;
    for (size_t i = 0; i < ev->n_lines; i++)
        if (isfinite(ev->lines[i].revenue) && ev->lines[i].revenue > 0) total += ev->lines[i].revenue;
    struct cell *site = cell_get(k, shop, day, DIM_SITE, 0, 1);
    if (site) {
        site->orders += (uint64_t)new_order;
        site->revenue += total;
    }
    if (ev->shopper) visit(k, shop, day, ev->shopper, 1);
    struct sstate *s = ev->shopper ? state_get(k, shop, ev->shopper, 0) : NULL;
    if (!s) return;
    s->last_ts = ev->ts_ms;
    size_t touched[TL_KPI_DIMS_ * TL_KPI_CLICKS_PER_SHOPPER]; /* cell indexes (the array may move) */
    size_t ntouched = 0;
    for (size_t i = 0; i < ev->n_lines; i++) {
        double r = ev->lines[i].revenue;
        if (!isfinite(r) || r < 0) r = 0;
        struct click *cand[TL_KPI_CLICKS_PER_SHOPPER];
        int nc = 0;
        for (int j = 0; j < s->nclick; j++) { /* latest first */
            struct click *c = click_at(s, j);
            if (!c->spent && c->item == ev->lines[i].item && c->ts <= ev->ts_ms &&
                ev->ts_ms - c->ts <= k->p.attribution_ms)
                cand[nc++] = c;
        }
        if (!nc) continue;
        for (int d = 0; d < TL_KPI_DIMS_; d++) {
            struct cell *last = cell_get(k, shop, day, d, cand[0]->vals[d], 1);
            if (last) {
                last->revenue += r;
                size_t t = 0, li = (size_t)(last - k->cells);
                while (t < ntouched && touched[t] != li) t++;
                if (t == ntouched && ntouched < sizeof touched / sizeof touched[0]) touched[ntouched++] = li;
            }
            for (int a = 0; a < nc; a++) {
                int dup = 0;
                for (int b = 0; b < a && !dup; b++) dup = cand[b]->vals[d] == cand[a]->vals[d];
                if (dup) continue;
                struct cell *as = cell_get(k, shop, day, d, cand[a]->vals[d], 1);
                if (as) as->assisted += r;
            }
        }
        for (int a = 0; a < nc; a++) cand[a]->spent = 1;
    }
    if (new_order)
        for (size_t t = 0; t < ntouched; t++) k->cells[touched[t]].orders++;
}

enum tl_rc tl_kpi_add(struct tl_kpi *k, uint32_t shop, const struct tl_kpi_event *ev, struct tl_err *err)
{
    if (!k || !ev) return tl_err_set(err, TL_EINVAL, NULL, "kpi: no roll-up or event");
    if (ev->ts_ms < 0 || tl_kpi_day(ev->ts_ms) >= DAY_LIMIT)
        return tl_err_set(err, TL_EINVAL, "ts_ms", "event time %lld is outside 1970..2328", (long long)ev->ts_ms);
    if (shop > TL_KPI_SHOP_MAX)
        return tl_err_set(err, TL_EINVAL, "shop", "shop id %u is beyond %u", shop, TL_KPI_SHOP_MAX);
    if (ev->n_lines && !ev->lines) return tl_err_set(err, TL_EINVAL, "lines", "%zu lines but no array", ev->n_lines);
    int64_t day = tl_kpi_day(ev->ts_ms);
    pthread_mutex_lock(&k->mu);
    if (ev->ts_ms > k->max_ts) k->max_ts = ev->ts_ms;
    if (day > k->max_day) k->max_day = day;
    if (ev->shopper) visit(k, shop, day, ev->shopper, 0);
    switch (ev->type) {
    case TL_EV_REC_IMPRESSION:
        on_impression(k, shop, day, ev);
        break;
    case TL_EV_REC_CLICK:
        on_click(k, shop, day, ev);
        break;
    case TL_EV_ADD_TO_CART:
        on_cart(k, shop, day, ev);
        break;
    case TL_EV_PURCHASE:
        on_purchase(k, shop, day, ev);
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&k->mu);
    return TL_OK;
}

struct rrow {
    uint16_t val;
    uint64_t impressions, clicks, carts, orders;
    double revenue, assisted;
};

static const struct tl_kpi *sort_kpi; /* qsort context, under sort_mu */
static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;

static int by_row(const void *a, const void *b)
{
    const struct rrow *x = a, *y = b;
    if (x->revenue != y->revenue) return x->revenue < y->revenue ? 1 : -1;
    if (x->clicks != y->clicks) return x->clicks < y->clicks ? 1 : -1;
    if (x->impressions != y->impressions) return x->impressions < y->impressions ? 1 : -1;
    return strcmp(value_str(sort_kpi, x->val), value_str(sort_kpi, y->val));
}

static void put_day(struct tl_buf *out, int64_t day)
{
    char t[32];
    tl_time_format(day * TL_MS_PER_DAY, t, sizeof t);
    tl_buf_printf(out, "\"%.10s\"", t);
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

enum tl_rc tl_kpi_report_json(struct tl_kpi *k, uint32_t shop, const char *from_day, const char *to_day,
                              const char *dimension, struct tl_buf *out, struct tl_err *err)
{
    if (!k || !out) return tl_err_set(err, TL_EINVAL, NULL, "kpi: no roll-up or output");
    int64_t from_ms, to_ms;
    if (!from_day || tl_time_parse(from_day, &from_ms) != TL_OK)
        return tl_err_set(err, TL_EINVAL, "from", "from must be a date YYYY-MM-DD, got \"%s\"",
                          from_day ? from_day : "");
    if (!to_day || tl_time_parse(to_day, &to_ms) != TL_OK)
        return tl_err_set(err, TL_EINVAL, "to", "to must be a date YYYY-MM-DD, got \"%s\"", to_day ? to_day : "");
    int dim = tl_kpi_dim_from_str(dimension);
    if (dim < 0)
        return tl_err_set(err, TL_EINVAL, "by",
                          "by must be one of widget, placement, model, segment, country, device, got \"%s\"",
                          dimension ? dimension : "");
    int64_t d0 = tl_kpi_day(from_ms), d1 = tl_kpi_day(to_ms);
    if (d1 < d0) return tl_err_set(err, TL_EINVAL, "to", "to is before from");
    if (d1 - d0 + 1 > TL_KPI_REPORT_DAYS_MAX)
        return tl_err_set(err, TL_EINVAL, "to", "at most %d days per report, asked for %lld", TL_KPI_REPORT_DAYS_MAX,
                          (long long)(d1 - d0 + 1));
    pthread_mutex_lock(&k->mu);
    struct tl_u64map idx;
    tl_u64map_init(&idx);
    struct rrow *rows = NULL;
    size_t nr = 0, capr = 0;
    enum tl_rc rc = TL_OK;
    for (size_t i = 0; i < k->ncells && rc == TL_OK; i++) {
        const struct cell *c = &k->cells[i];
        if (c->shop != shop || c->dim != dim || c->day < d0 || c->day > d1) continue;
        uint64_t r;
        if (!tl_u64map_get(&idx, c->val, &r)) {
            if (nr == capr) {
                size_t nc = capr ? capr * 2 : 32;
                struct rrow *v = tl_realloc(rows, nc * sizeof *v);
                if (!v) {
                    rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory in the kpi report");
                    break;
                }
                rows = v;
                capr = nc;
            }
            r = nr;
            rows[nr++] = (struct rrow){.val = c->val};
            if ((rc = tl_u64map_put(&idx, c->val, r)) != TL_OK) break;
        }
        struct rrow *w = &rows[r];
        w->impressions += c->impressions;
        w->clicks += c->clicks;
        w->carts += c->carts;
        w->orders += c->orders;
        w->revenue += c->revenue;
        w->assisted += c->assisted;
    }
    if (rc == TL_OK) {
        pthread_mutex_lock(&sort_mu);
        sort_kpi = k;
        if (nr) qsort(rows, nr, sizeof *rows, by_row);
        pthread_mutex_unlock(&sort_mu);
        tl_buf_printf(out, "{\"shop\":%u,\"from\":", shop);
        put_day(out, d0);
        tl_buf_puts(out, ",\"to\":");
        put_day(out, d1);
        tl_buf_printf(out, ",\"by\":\"%s\",\"rows\":[", dim_names[dim]);
        for (size_t i = 0; i < nr; i++) {
            const struct rrow *w = &rows[i];
            tl_buf_puts(out, i ? ",{\"key\":" : "{\"key\":");
            tl_buf_json_str(out, value_str(k, w->val));
            tl_buf_printf(out,
                          ",\"impressions\":%llu,\"clicks\":%llu,\"ctr\":%.4f,\"add_to_carts\":%llu,\"orders\":%llu,"
                          "\"revenue\":%.2f,\"assisted_revenue\":%.2f,\"aov\":%.2f}",
                          (unsigned long long)w->impressions, (unsigned long long)w->clicks,
                          ratio((double)w->clicks, (double)w->impressions), (unsigned long long)w->carts,
                          (unsigned long long)w->orders, w->revenue, w->assisted, ratio(w->revenue, (double)w->orders));
        }
        tl_buf_puts(out, "],\"days\":[");
        for (int64_t d = d0; d <= d1; d++) {
            const struct cell *c = cell_get(k, shop, d, DIM_SITE, 0, 0);
            struct cell z = {0};
            if (!c) c = &z;
            tl_buf_puts(out, d > d0 ? ",{\"day\":" : "{\"day\":");
            put_day(out, d);
            tl_buf_printf(out,
                          ",\"visitors\":%llu,\"converted\":%llu,\"orders\":%llu,\"revenue\":%.2f,"
                          "\"conversion_rate\":%.4f,\"aov\":%.2f}",
                          (unsigned long long)c->impressions, (unsigned long long)c->clicks,
                          (unsigned long long)c->orders, c->revenue, ratio((double)c->clicks, (double)c->impressions),
                          ratio(c->revenue, (double)c->orders));
        }
        rc = tl_buf_printf(out, "],\"dropped\":%llu}", (unsigned long long)k->dropped);
        if (rc != TL_OK) tl_err_set(err, rc, NULL, "kpi report does not fit the output buffer");
    }
    pthread_mutex_unlock(&k->mu);
    tl_u64map_free(&idx);
    tl_free(rows);
    return rc;
}
