/* Analytics in the engine: feeds every behaviour event to the KPI roll-ups
 * (analytics/kpi.h) and every sale to the seasonality model
 * (analytics/seasonal.h), keeps the recommendations shoppers were shown for
 * the seasonal audit, and answers GET /v1/admin/kpis and
 * GET /v1/admin/seasonal.
 *
 * Everything here is rebuilt at start from the stored orders and events
 * (the record); nothing is persisted on its own.
 *
 * Served recommendations for the audit: the items of
 * recommendation_impression events (what shoppers actually saw), with the
 * widget named by the recommendation id, in a ring of the last
 * AUDIT_SERVED_MAX per shop (older ones are forgotten; the report says how
 * many it covers). The seasonality model is refitted when a report is asked
 * for and sales arrived since the last fit. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analytics/kpi.h"
#include "analytics/seasonal.h"
#include "core/alloc.h"
#include "core/hash.h"
#include "core/timeutil.h"
#include "engine/internal.h"

#define AUDIT_SERVED_MAX 200000u
#define KPI_DEFAULT_DAYS 30

struct served_ring {
    struct tl_season_served *v; /* widget strings are static (tl_kpi_widget_of_source) */
    size_t n, next;
};

struct tl_eanalytics {
    pthread_mutex_t mu; /* season models and rings */
    struct tl_kpi *kpi;
    struct tl_season **season; /* per shop id, created on first sale */
    struct served_ring *served;
    int *season_dirty;
    uint32_t cap;
};

struct tl_eanalytics *tl_eanalytics_new(void)
{
    struct tl_eanalytics *a = tl_calloc(1, sizeof *a);
    if (!a) return NULL;
    pthread_mutex_init(&a->mu, NULL);
    a->kpi = tl_kpi_new(NULL);
    if (!a->kpi) {
        pthread_mutex_destroy(&a->mu);
        tl_free(a);
        return NULL;
    }
    return a;
}

void tl_eanalytics_free(struct tl_eanalytics *a)
{
    if (!a) return;
    for (uint32_t i = 0; i < a->cap; i++) {
        tl_season_free(a->season[i]);
        tl_free(a->served[i].v);
    }
    tl_free(a->season);
    tl_free(a->served);
    tl_free(a->season_dirty);
    tl_kpi_free(a->kpi);
    pthread_mutex_destroy(&a->mu);
    tl_free(a);
}

/* Per-shop slots (caller holds mu). */
static int grow(struct tl_eanalytics *a, uint32_t shop)
{
    if (shop < a->cap) return 1;
    uint32_t cap = a->cap ? a->cap : 8;
    while (cap <= shop) cap *= 2;
    struct tl_season **s = tl_realloc(a->season, cap * sizeof *s);
    if (!s) return 0;
    a->season = s;
    struct served_ring *r = tl_realloc(a->served, cap * sizeof *r);
    if (!r) return 0;
    a->served = r;
    int *d = tl_realloc(a->season_dirty, cap * sizeof *d);
    if (!d) return 0;
    a->season_dirty = d;
    for (uint32_t i = a->cap; i < cap; i++) {
        a->season[i] = NULL;
        memset(&a->served[i], 0, sizeof a->served[i]);
        a->season_dirty[i] = 0;
    }
    a->cap = cap;
    return 1;
}

static void season_add(struct tl_eanalytics *a, uint32_t shop, uint32_t item, int64_t ts, double qty)
{
    if (!grow(a, shop)) return;
    if (!a->season[shop] && !(a->season[shop] = tl_season_new(NULL))) return;
    if (tl_season_add(a->season[shop], item, ts, qty, NULL) == TL_OK) a->season_dirty[shop] = 1;
}

void tl_engine_analytics_order(struct tl_engine *e, struct tl_shop_state *s, const struct tl_order *o)
{
    if (!e->analytics || o->is_return) return;
    pthread_mutex_lock(&e->analytics->mu);
    for (size_t i = 0; i < o->n_lines; i++) {
        uint32_t idx = tl_catalog_find(s->cat, o->lines[i].item_id);
        if (idx != TL_CAT_NONE) season_add(e->analytics, s->id, idx, o->ts_ms, o->lines[i].quantity);
    }
    pthread_mutex_unlock(&e->analytics->mu);
}

#define KPI_SHOPPER_SEED 0x6b7069ULL /* shopper hash: tl_hash_str(profile key, seed) | 1 */

void tl_engine_analytics_link(struct tl_engine *e, uint32_t shop_id, const char *anonymous_id, const char *user_id,
                              int64_t ts_ms)
{
    if (!e->analytics || !anonymous_id || !user_id) return;
    char a[TL_USER_KEY_MAX], u[TL_USER_KEY_MAX];
    snprintf(a, sizeof a, "a:%s", anonymous_id);
    snprintf(u, sizeof u, "u:%s", user_id);
    tl_kpi_link(e->analytics->kpi, shop_id, tl_hash_str(a, KPI_SHOPPER_SEED) | 1, tl_hash_str(u, KPI_SHOPPER_SEED) | 1,
                ts_ms);
}

/* context.device / context.placement of a stored body (parsed only when
 * the body has a context). */
struct ctx_strings {
    char device[32], placement[64];
};

static void context_of(const struct tl_event *ev, struct ctx_strings *c)
{
    c->device[0] = c->placement[0] = '\0';
    if (!ev->body || !strstr(ev->body, "\"context\"")) return;
    json_error_t je;
    json_t *o = json_loads(ev->body, 0, &je);
    json_t *ctx = o ? json_object_get(o, "context") : NULL;
    const char *d = json_string_value(json_object_get(ctx, "device"));
    const char *p = json_string_value(json_object_get(ctx, "placement"));
    if (d) snprintf(c->device, sizeof c->device, "%s", d);
    if (p) snprintf(c->placement, sizeof c->placement, "%s", p);
    json_decref(o);
}

#define KPI_LINES_MAX 256

void tl_engine_analytics_event(struct tl_engine *e, const struct tl_event *ev)
{
    struct tl_eanalytics *a = e->analytics;
    if (!a || (!ev->user_id && !ev->anonymous_id)) return;
    struct tl_shop_state *s = tl_engine_shop(e, ev->shop_id);
    if (!s) return;
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(e, ev->shop_id, ev->user_id, ev->anonymous_id, key);
    struct ctx_strings cs;
    int attributed = ev->type == TL_EV_REC_IMPRESSION || ev->type == TL_EV_REC_CLICK || ev->type == TL_EV_ADD_TO_CART ||
                     ev->type == TL_EV_PURCHASE;
    if (attributed)
        context_of(ev, &cs);
    else
        cs.device[0] = cs.placement[0] = '\0';
    struct tl_kpi_line lines[KPI_LINES_MAX];
    size_t nl = 0;
    if (ev->type == TL_EV_PURCHASE)
        for (size_t i = 0; i < ev->n_lines && nl < KPI_LINES_MAX; i++) {
            uint32_t idx = tl_catalog_find(s->cat, ev->lines[i].item_id);
            if (idx == TL_CAT_NONE) continue;
            double q = isnan(ev->lines[i].quantity) ? 1 : ev->lines[i].quantity;
            double p = isnan(ev->lines[i].price) ? 0 : ev->lines[i].price;
            lines[nl++] = (struct tl_kpi_line){idx, q * p};
        }
    uint32_t item = ev->item_id ? tl_catalog_find(s->cat, ev->item_id) : TL_CAT_NONE;
    /* the shopper's segment from their profile now (engine/segments.c):
     * live, just after this event was applied; at start-up, the profile as
     * stored (a restart therefore counts past events for the segment the
     * shopper is in now) */
    char seg_buf[TL_KPI_VALUE_MAX + 32];
    const char *segment = NULL;
    if (attributed && s->segs) {
        struct tl_profile *p;
        struct tl_pcache_guard g;
        if (tl_pcache_lock(e->profiles, ev->shop_id, key, 0, &p, &g) == TL_OK) {
            int64_t now = tl_now_ms(), clock = tl_pop_clock(s->pop);
            segment = tl_engine_segment_label(s, p, now > clock ? now : clock, seg_buf, sizeof seg_buf);
            tl_pcache_unlock(&g);
        }
    }
    struct tl_kpi_event k = {
        .segment = segment,
        .type = ev->type,
        .ts_ms = ev->ts_ms,
        .shopper = tl_hash_str(key, KPI_SHOPPER_SEED) | 1,
        .session = ev->session_id ? tl_hash_str(ev->session_id, 0) : 0,
        .source_id = ev->recommendation_id,
        .item = item == TL_CAT_NONE ? TL_KPI_NO_ITEM : item,
        .n_shown = ev->n_lines,
        .lines = lines,
        .n_lines = nl,
        .order = ev->order_id ? tl_hash_str(ev->order_id, 0) : 0,
        .country = ev->country,
        .device = cs.device[0] ? cs.device : NULL,
        .placement = cs.placement[0] ? cs.placement : NULL,
    };
    tl_kpi_add(a->kpi, ev->shop_id, &k, NULL);

    if (ev->type != TL_EV_REC_IMPRESSION && ev->type != TL_EV_PURCHASE) return;
    pthread_mutex_lock(&a->mu);
    if (ev->type == TL_EV_PURCHASE) {
        /* at start the sales come from the orders table (a purchase event
         * also wrote its order there): count live purchases only */
        for (size_t i = 0; !e->startup_views && i < nl; i++) {
            double q = isnan(ev->lines[i].quantity) ? 1 : ev->lines[i].quantity;
            season_add(a, ev->shop_id, lines[i].item, ev->ts_ms, q);
        }
    } else if (grow(a, ev->shop_id)) {
        struct served_ring *r = &a->served[ev->shop_id];
        if (!r->v) r->v = tl_calloc(AUDIT_SERVED_MAX, sizeof *r->v);
        const char *widget = tl_kpi_widget_of_source(ev->recommendation_id);
        for (size_t i = 0; r->v && i < ev->n_lines; i++) {
            uint32_t idx = tl_catalog_find(s->cat, ev->lines[i].item_id);
            if (idx == TL_CAT_NONE) continue;
            r->v[r->next] = (struct tl_season_served){idx, widget, ev->ts_ms};
            r->next = (r->next + 1) % AUDIT_SERVED_MAX;
            if (r->n < AUDIT_SERVED_MAX) r->n++;
        }
    }
    pthread_mutex_unlock(&a->mu);
}

static int parse_day(const char *s)
{
    int y, m, d;
    char tail;
    return s && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && y >= 2000 && m >= 1 && m <= 12 && d >= 1 &&
           d <= 31;
}

enum tl_rc tl_engine_kpi_report(struct tl_engine *e, uint32_t shop, const char *from, const char *to, const char *by,
                                struct tl_buf *out, struct tl_err *err)
{
    if (!tl_engine_shop(e, shop)) return tl_err_set(err, TL_ENOTFOUND, NULL, "shop %u does not exist", shop);
    char f[16], t[16];
    int64_t now = tl_now_ms();
    if (to && !parse_day(to)) return tl_err_set(err, TL_EINVAL, "to", "to must be a date YYYY-MM-DD");
    if (from && !parse_day(from)) return tl_err_set(err, TL_EINVAL, "from", "from must be a date YYYY-MM-DD");
    char iso[40];
    if (!to) {
        tl_time_format(now, iso, sizeof iso);
        snprintf(t, sizeof t, "%.10s", iso);
        to = t;
    }
    if (!from) {
        int64_t to_ms;
        if (tl_time_parse(to, &to_ms) != TL_OK) to_ms = now;
        tl_time_format(to_ms - (int64_t)(KPI_DEFAULT_DAYS - 1) * TL_MS_PER_DAY, iso, sizeof iso);
        snprintf(f, sizeof f, "%.10s", iso);
        from = f;
    }
    if (tl_kpi_dim_from_str(by ? by : "widget") < 0)
        return tl_err_set(err, TL_EINVAL, "by", "by must be widget, placement, model, segment, country or device");
    return tl_kpi_report_json(e->analytics->kpi, shop, from, to, by ? by : "widget", out, err);
}

struct name_ctx {
    struct tl_catalog *cat;
};

static const char *item_name(void *ctx, uint32_t item)
{
    struct name_ctx *c = ctx;
    return tl_catalog_id(c->cat, item); /* under the catalog read lock */
}

enum tl_rc tl_engine_seasonal_report(struct tl_engine *e, uint32_t shop, long limit, struct tl_buf *out,
                                     struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, NULL, "shop %u does not exist", shop);
    struct tl_eanalytics *a = e->analytics;
    enum tl_rc rc = TL_OK;
    pthread_mutex_lock(&a->mu);
    if (!grow(a, shop)) {
        pthread_mutex_unlock(&a->mu);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    if (!a->season[shop]) a->season[shop] = tl_season_new(NULL);
    if (a->season[shop] && a->season_dirty[shop]) {
        rc = tl_season_fit(a->season[shop], err);
        a->season_dirty[shop] = 0;
    }
    struct name_ctx nc = {s->cat};
    tl_catalog_rdlock(s->cat);
    if (rc == TL_OK && a->season[shop]) {
        tl_buf_printf(out, "{\"shop_id\":%u,\"seasonal\":", shop);
        rc = tl_season_report_json(a->season[shop], item_name, &nc, (size_t)limit, out);
        /* the ring in time order: oldest first */
        struct served_ring *r = &a->served[shop];
        struct tl_season_served *v = tl_malloc((r->n ? r->n : 1) * sizeof *v);
        if (rc == TL_OK && v) {
            size_t start = r->n < AUDIT_SERVED_MAX ? 0 : r->next;
            for (size_t i = 0; i < r->n; i++) v[i] = r->v[(start + i) % AUDIT_SERVED_MAX];
            tl_buf_printf(out, ",\"audit_window\":%zu,\"audit\":", r->n);
            rc = tl_season_audit_json(a->season[shop], v, r->n, item_name, &nc, out, err);
            tl_buf_putc(out, '}');
        } else if (!v) {
            rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        }
        tl_free(v);
    } else if (rc == TL_OK) {
        rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    tl_catalog_unlock(s->cat);
    pthread_mutex_unlock(&a->mu);
    return rc;
}
