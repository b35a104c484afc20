/* `tailor simulate` (include/tailor/simulate.h): a SIMULATED A/B test of
 * personalization. Synthetic shoppers, derived from the shop's real
 * customers, visit the store in-process through the engine's own serving
 * and ingestion paths, inside a 50/50 experiment; the result is the
 * experiment's report. It measures how often Tailor shows a customer what
 * the shop's order data says that customer wants. It is a simulation with
 * a made-up response model, not a measurement of real shoppers.
 *
 * Experiment (id: option, default "simulated-personalization"; salt = id):
 *   arm 0 "off" share 0.5 {"personalization": false}  for_you is served as
 *                                                      bestsellers (popular)
 *   arm 1 "on"  share 0.5 (no changes)                 the configured blend
 * PUT with status "running" and start = the simulated period's start before
 * the visits, PUT again with status "stopped" and stop = now after them
 * (same arms and salt, so the engine keeps the measured units): a server
 * started later shows the results but assigns nobody new to it. Another
 * running experiment of the shop would mix its changes into the answers:
 * the run is refused while one exists.
 *
 * Shoppers. Orders are read from the store (order_scan; returns and the
 * "sim-" orders earlier runs wrote are skipped; each order's items
 * deduplicated). Candidates are the customers with at least one order.
 * They are ordered by XXH64(customer id, seed) and the first N whose
 * relevant set is not empty are simulated (N = --shoppers, at most the
 * candidates). The shopper uses the customer's id as user_id, so the
 * engine serves them with their real history (a returning, logged-in
 * customer).
 *
 * Hidden taste (relevance as the data defines it, not as Tailor's models
 * do): with H = the items the customer bought (any of their orders) and
 * for every item j not in H
 *     score(j) = sum over orders o of OTHER customers (guests included)
 *                of |o ∩ H| * [j in o]
 *             = sum over i in H of (orders by others containing i and j),
 * the relevant set is the top R items by score with score > 0 (R = 30;
 * ties: the item first seen in the order scan). This is relevance
 * "count" (the default). Raw co-purchase counts favour items that are in
 * many orders of any kind, i.e. bestsellers; relevance "cosine" removes
 * that bias with the item-item cosine of the order vectors:
 *     score(j) = sum over i in H of C(i, j) / sqrt(f(i) * f(j))
 * (C(i, j) = orders by others containing both, f = orders containing the
 * item, any customer), among items with C summed over H >= 2
 * (SIM_COSINE_MIN_SUPPORT, so one chance order cannot make a rare item
 * relevant). Computed per touched order o as
 *     w(o) = sum over i in o ∩ H of f(i)^-1/2,  score(j) += w(o) for j in o,
 * then score(j) *= f(j)^-1/2.
 * Either way the sets are computed once per run, before any visit, from
 * the stored orders only (no model is consulted). The verdict depends on
 * this choice: on the UCI demo store bestsellers are mostly "relevant" by
 * count, much less by cosine.
 * Cost per shopper: sum over i in H of (orders containing i) plus the
 * lines of the orders touched; memory O(orders + lines + items).
 *
 * Visits. Shopper s draws V ~ uniform{1..4} visits at times uniform in
 * [end - D days, end - 1 h] (end = now, D = --days), so every event of a
 * visit (all within 11 minutes of its start) lies in the past. end may be
 * set earlier, or to the latest stored order + 1 h ("the data's clock"):
 * Tailor's popularity decays with a 30-day half-life on the data's clock,
 * so on a store whose history is old (the UCI demo data ends in 2011) the
 * simulated events of the last days outweigh the whole history and
 * "bestsellers" become what the simulated shoppers of BOTH arms just viewed
 * and bought: the control arm learns from the treatment arm (interference).
 * Simulating at the data's clock keeps the history's weight. Visits of
 * all shoppers are processed in time order. At a visit the shopper:
 *   1. gets for_you, limit 8, through tl_engine_recommend (the arm's
 *      changes are applied by the engine: "off" answers type "popular");
 *   2. sends recommendation_impression (the shown items, the answer's
 *      recommendation_id) at t;
 *   3. clicks the item at position p (0-based) with probability
 *          p_click = 0.03 + 0.25 * [item relevant]
 *      sending recommendation_click + product_view at t + 30 s * (p + 1);
 *   4. buys a clicked item with probability p_buy = 0.35, sending
 *      add_to_cart at t + 30 s * (p + 1) + 20 s; the bought items of the
 *      visit are one purchase event (order "sim-<run>-<shopper>-<visit>",
 *      one line per item, quantity 1, the item's price from the answer, 0
 *      when it has none) at t + 10 min.
 * Two uniforms are drawn per position (click, buy) whatever happens, from
 * a stream seeded by (seed, customer id, visit number), so the reactions
 * are deterministic for a seed and independent of processing order.
 * Events carry no event_id (never deduplicated: a re-run appends) and
 * "context": {"source": "tailor simulate"}. Simulated purchases are stored
 * as orders like real ones: the next training of the shop's models learns
 * from them too (they are the only trace a run leaves in the models).
 *
 * Exposure. The engine records a server-side exposure at the wall-clock
 * time of the answer, which would be after every simulated event in the
 * past (and events before an exposure are not counted). So before the
 * visits the simulator asks each shopper's arm (tl_engine_assignments,
 * which records nothing) and sends an experiment_exposure event (the
 * storefront's way, docs/experiments.md) stamped with the shopper's first
 * visit; tl_engine_recommend then finds the shopper exposed and only
 * applies the arm. Consequence: the CUPED covariate (pre-exposure revenue)
 * is 0 for every unit, as for any exposure rebuilt from events.
 *
 * Batching: events are sent through tl_engine_ingest_events in batches of
 * at most SIM_BATCH_EVENTS; a batch is flushed before a shopper with events
 * in it is served again (their profile must include their earlier visits),
 * so other shoppers' events may reach popularity a little later than their
 * timestamps say (as with concurrent traffic).
 *
 * Bounds: SIM_SHOPPERS_MAX shoppers, SIM_R_MAX relevant items, SIM_DAYS_MAX
 * days, SIM_ORDERS_MAX orders and SIM_LINES_MAX order lines read. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/map.h"
#include "core/timeutil.h"
#include "core/topk.h"
#include "engine/facade.h"
#include "engine/internal.h"
#include "tailor/simulate.h"

#define SIM_SHOPPERS_DEFAULT 2000
#define SIM_SHOPPERS_MAX 1000000u
#define SIM_DAYS_DEFAULT 14
#define SIM_DAYS_MAX 365
#define SIM_R_DEFAULT 30
#define SIM_R_MAX 1000
#define SIM_LIMIT 8                    /* for_you items per visit */
#define SIM_VISITS_MAX 4               /* visits per shopper: uniform 1..SIM_VISITS_MAX */
#define SIM_P_CLICK_BASE 0.03          /* any shown item */
#define SIM_P_CLICK_RELEVANT 0.25      /* added for a relevant item */
#define SIM_P_BUY 0.35                 /* a clicked item is bought */
#define SIM_COSINE_MIN_SUPPORT 2       /* relevance cosine: co-purchased in at least 2 orders */
#define SIM_ORDERS_MAX 20000000u       /* orders read */
#define SIM_LINES_MAX 200000000u       /* distinct (order, item) lines read */
#define SIM_BATCH_EVENTS 8000          /* events per ingest call (< TL_BATCH_MAX) */
#define SIM_END_MARGIN_MS (60 * 60000) /* visits start at least 1 h before now */
#define SIM_CLICK_STEP_MS 30000
#define SIM_CART_AFTER_MS 20000
#define SIM_PURCHASE_AFTER_MS (10 * 60000)
#define SIM_NO_CUST UINT32_MAX
#define SIM_CONTEXT ",\"context\":{\"source\":\"tailor simulate\"}"

static const char *const arm_names[TAILOR_SIM_ARMS] = {"off", "on"};

/* ---- random numbers: SplitMix64 (Steele, Lea, Flood 2014) ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) with 53 random bits */
static double rng_unif(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* ---- orders read from the store ---- */

struct orders {
    struct tl_strtab items, custs;
    uint32_t *off;  /* n + 1 offsets into item */
    uint32_t *item; /* each order's distinct items, ascending */
    uint32_t *cust; /* per order, SIM_NO_CUST for guests */
    size_t n, cap, n_lines, cap_lines;
    int64_t last_ms; /* latest order time read */
    struct tl_err *err;
    enum tl_rc rc;
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int order_cb(void *ctx, uint32_t shop_id, const struct tl_order *o)
{
    struct orders *d = ctx;
    if (o->is_return || o->n_lines == 0 || (o->id && strncmp(o->id, "sim-", 4) == 0)) return 0;
    if (d->n + 1 >= SIM_ORDERS_MAX || d->n_lines + o->n_lines > SIM_LINES_MAX) {
        d->rc = tl_err_set(d->err, TL_ETOOBIG, NULL, "more than %u orders or %u order lines to simulate over",
                           SIM_ORDERS_MAX, SIM_LINES_MAX);
        return 1;
    }
    if (d->n + 2 > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4096;
        uint32_t *off = tl_realloc(d->off, cap * sizeof *off);
        if (off) d->off = off;
        uint32_t *cu = off ? tl_realloc(d->cust, cap * sizeof *cu) : NULL;
        if (cu) d->cust = cu;
        if (!off || !cu) goto oom;
        d->cap = cap;
    }
    if (d->n_lines + o->n_lines > d->cap_lines) {
        size_t cap = d->cap_lines ? d->cap_lines : 65536;
        while (cap < d->n_lines + o->n_lines) cap *= 2;
        uint32_t *it = tl_realloc(d->item, cap * sizeof *it);
        if (!it) goto oom;
        d->item = it;
        d->cap_lines = cap;
    }
    if (d->n == 0) d->off[0] = 0;
    uint32_t *seg = d->item + d->n_lines;
    size_t k = 0;
    for (size_t i = 0; i < o->n_lines; i++) {
        uint32_t idx;
        if (!o->lines[i].item_id) continue;
        if (tl_strtab_intern(&d->items, o->lines[i].item_id, &idx) != TL_OK) goto oom;
        seg[k++] = idx;
    }
    if (k == 0) return 0;
    if (o->ts_ms > d->last_ms) d->last_ms = o->ts_ms;
    qsort(seg, k, sizeof *seg, cmp_u32);
    size_t u = 1;
    for (size_t i = 1; i < k; i++)
        if (seg[i] != seg[u - 1]) seg[u++] = seg[i];
    uint32_t c = SIM_NO_CUST;
    if (o->customer_id && *o->customer_id && tl_strtab_intern(&d->custs, o->customer_id, &c) != TL_OK) goto oom;
    d->cust[d->n] = c;
    d->n_lines += u;
    d->off[++d->n] = (uint32_t)d->n_lines;
    return 0;
oom:
    d->rc = tl_err_set(d->err, TL_ENOMEM, NULL, "out of memory reading orders");
    return 1;
}

/* rows -> the orders listing them: CSR (off has n_rows + 1 entries) */
static enum tl_rc invert(const struct orders *d, int by_item, size_t n_rows, uint32_t **off_out, uint32_t **val_out)
{
    size_t total = by_item ? d->n_lines : d->n;
    uint32_t *off = tl_calloc(n_rows + 1, sizeof *off), *val = tl_malloc((total ? total : 1) * sizeof *val);
    uint32_t *fill = tl_calloc(n_rows + 1, sizeof *fill);
    if (!off || !val || !fill) {
        tl_free(off);
        tl_free(val);
        tl_free(fill);
        return TL_ENOMEM;
    }
    for (size_t o = 0; o < d->n; o++) {
        if (by_item)
            for (uint32_t l = d->off[o]; l < d->off[o + 1]; l++) off[d->item[l] + 1]++;
        else if (d->cust[o] != SIM_NO_CUST)
            off[d->cust[o] + 1]++;
    }
    for (size_t r = 0; r < n_rows; r++) off[r + 1] += off[r];
    for (size_t o = 0; o < d->n; o++) {
        if (by_item)
            for (uint32_t l = d->off[o]; l < d->off[o + 1]; l++) {
                uint32_t r = d->item[l];
                val[off[r] + fill[r]++] = (uint32_t)o;
            }
        else if (d->cust[o] != SIM_NO_CUST) {
            uint32_t r = d->cust[o];
            val[off[r] + fill[r]++] = (uint32_t)o;
        }
    }
    tl_free(fill);
    *off_out = off;
    *val_out = val;
    return TL_OK;
}

/* ---- relevance ---- */

struct taste_ws {
    uint32_t stamp;
    int cosine;                       /* relevance "cosine" instead of "count" */
    const uint32_t *io_off;           /* item -> orders (its frequency: io_off[i + 1] - io_off[i]) */
    uint32_t *hmark, *smark, *cand;   /* per item: in H, scored, candidate list */
    uint32_t *count;                  /* per item: co-purchases with H */
    double *score;                    /* per item: cosine score */
    uint32_t *omark, *ocnt, *touched; /* per order: |o ∩ H| */
    double *oweight;                  /* per order: sum over i in o ∩ H of f(i)^-1/2 */
    struct tl_topk_entry *heap;
};

static double inv_sqrt_freq(const struct taste_ws *w, uint32_t i)
{
    uint32_t f = w->io_off[i + 1] - w->io_off[i];
    return f ? 1.0 / sqrt((double)f) : 0.0;
}

/* The relevant set of customer c into out (ascending ids); returns its size. */
static size_t taste_of(const struct orders *d, const uint32_t *io_off, const uint32_t *io_val, const uint32_t *co_off,
                       const uint32_t *co_val, uint32_t c, uint32_t R, struct taste_ws *w, uint32_t *out)
{
    uint32_t st = ++w->stamp;
    size_t nt = 0, nc = 0;
    /* H: mark the customer's items */
    for (uint32_t k = co_off[c]; k < co_off[c + 1]; k++) {
        uint32_t o = co_val[k];
        for (uint32_t l = d->off[o]; l < d->off[o + 1]; l++) w->hmark[d->item[l]] = st;
    }
    /* |o ∩ H| for every order of another customer touching H (each item of
     * H counted once: the customer's orders may repeat it) */
    for (uint32_t k = co_off[c]; k < co_off[c + 1]; k++) {
        uint32_t o = co_val[k];
        for (uint32_t l = d->off[o]; l < d->off[o + 1]; l++) {
            uint32_t i = d->item[l];
            if (w->smark[i] == st) continue; /* smark doubles as "i visited" here */
            w->smark[i] = st;
            for (uint32_t m = io_off[i]; m < io_off[i + 1]; m++) {
                uint32_t oo = io_val[m];
                if (d->cust[oo] == c) continue;
                if (w->omark[oo] != st) {
                    w->omark[oo] = st;
                    w->ocnt[oo] = 0;
                    w->oweight[oo] = 0;
                    w->touched[nt++] = oo;
                }
                w->ocnt[oo]++;
                if (w->cosine) w->oweight[oo] += inv_sqrt_freq(w, i);
            }
        }
    }
    /* score(j) over items not in H (their smark is still unset: only items
     * of H were marked above) */
    for (size_t t = 0; t < nt; t++) {
        uint32_t oo = w->touched[t];
        for (uint32_t l = d->off[oo]; l < d->off[oo + 1]; l++) {
            uint32_t j = d->item[l];
            if (w->hmark[j] == st) continue;
            if (w->smark[j] != st) {
                w->smark[j] = st;
                w->count[j] = 0;
                w->score[j] = 0;
                w->cand[nc++] = j;
            }
            w->count[j] += w->ocnt[oo];
            if (w->cosine) w->score[j] += w->oweight[oo];
        }
    }
    struct tl_topk h;
    tl_topk_init(&h, w->heap, R);
    for (size_t k = 0; k < nc; k++) {
        uint32_t j = w->cand[k];
        if (!w->cosine)
            tl_topk_push(&h, j, (double)w->count[j]);
        else if (w->count[j] >= SIM_COSINE_MIN_SUPPORT)
            tl_topk_push(&h, j, w->score[j] * inv_sqrt_freq(w, j));
    }
    size_t n = tl_topk_sort(&h);
    for (size_t k = 0; k < n; k++) out[k] = w->heap[k].id;
    qsort(out, n, sizeof *out, cmp_u32);
    return n;
}

/* ---- the run ---- */

struct shopper {
    uint32_t cust;
    uint32_t taste_off;
    uint16_t n_taste;
    uint8_t arm;
    uint8_t n_visits;
    uint8_t bought;
    uint64_t seed;
    uint64_t pending; /* batch generation holding this shopper's events */
    int64_t first_ms;
};

struct visit {
    int64_t ts;
    uint32_t shopper;
    uint32_t k; /* visit number of the shopper, 0 = first */
};

static int cmp_visit(const void *a, const void *b)
{
    const struct visit *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    if (x->shopper != y->shopper) return x->shopper < y->shopper ? -1 : 1;
    return x->k < y->k ? -1 : x->k > y->k;
}

struct cand_key {
    uint64_t key;
    uint32_t cust;
};

static int cmp_cand(const void *a, const void *b)
{
    const struct cand_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->cust < y->cust ? -1 : x->cust > y->cust;
}

struct run {
    struct tl_engine *e;
    uint32_t shop;
    const char *xid;
    struct tl_buf batch;
    size_t batch_n;
    uint64_t gen; /* current batch generation (starts at 1) */
    uint64_t ns_recommend, ns_ingest;
    uint64_t events;
    const struct tailor_simulate_options *o;
    struct tailor_simulate_progress prog;
};

static void progress(struct run *r, const char *phase, uint64_t done, uint64_t total)
{
    if (!r->o->progress) return;
    r->prog.phase = phase;
    r->prog.visits_done = done;
    r->prog.visits_total = total;
    r->o->progress(r->o->progress_ctx, &r->prog);
}

static void batch_begin_event(struct run *r)
{
    tl_buf_putc(&r->batch, r->batch_n ? ',' : '[');
    r->batch_n++;
}

static enum tl_rc flush(struct run *r, struct tl_err *err)
{
    r->gen++;
    if (r->batch_n == 0) return TL_OK;
    if (tl_buf_putc(&r->batch, ']') != TL_OK) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    struct tl_buf out;
    tl_buf_init(&out, 0);
    uint64_t t0 = tl_mono_ns();
    enum tl_rc rc = tl_engine_ingest_events(r->e, r->shop, r->batch.data, r->batch.len, 0, &out, err);
    r->ns_ingest += tl_mono_ns() - t0;
    if (rc && out.len) /* a batch error body: keep its start for the message */
        tl_err_set(err, rc, NULL, "simulated events were rejected: %.200s", out.data);
    tl_buf_free(&out);
    if (rc) return rc;
    r->events += r->batch_n;
    tl_buf_reset(&r->batch);
    r->batch_n = 0;
    return TL_OK;
}

static enum tl_rc put_experiment(struct run *r, int running, int64_t start_ms, int64_t stop_ms, struct tl_err *err)
{
    struct tl_buf def, out;
    tl_buf_init(&def, 0);
    tl_buf_init(&out, 0);
    tl_buf_puts(&def, "{\"name\":\"Simulated: personalization off vs on (tailor simulate, synthetic shoppers)\"");
    tl_buf_printf(&def, ",\"status\":\"%s\",\"start\":%lld", running ? "running" : "stopped", (long long)start_ms);
    if (stop_ms) tl_buf_printf(&def, ",\"stop\":%lld", (long long)stop_ms);
    tl_buf_puts(&def, ",\"salt\":");
    tl_buf_json_str(&def, r->xid);
    tl_buf_puts(&def, ",\"arms\":[{\"name\":\"off\",\"share\":0.5,\"changes\":{\"personalization\":false}},"
                      "{\"name\":\"on\",\"share\":0.5}]}");
    enum tl_rc rc = def.data ? tl_engine_experiment_put(r->e, r->shop, r->xid, def.data, def.len, &out, err)
                             : tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    tl_buf_free(&def);
    tl_buf_free(&out);
    return rc;
}

/* Refuse when another experiment of the shop is running; the units the
 * simulated experiment already has (a re-run). */
static enum tl_rc check_experiments(struct run *r, uint64_t *units_before, struct tl_err *err)
{
    struct tl_buf out;
    tl_buf_init(&out, 0);
    enum tl_rc rc = tl_engine_experiments_get(r->e, r->shop, NULL, &out, err);
    json_t *j = rc == TL_OK ? json_loadb(out.data, out.len, 0, NULL) : NULL;
    tl_buf_free(&out);
    if (rc) return rc;
    if (!j) return tl_err_set(err, TL_EINTERNAL, NULL, "unreadable experiments list");
    *units_before = 0;
    json_t *xs = json_object_get(j, "experiments"), *x;
    size_t i;
    json_array_foreach(xs, i, x)
    {
        const char *id = json_string_value(json_object_get(x, "id"));
        const char *st = json_string_value(json_object_get(x, "status"));
        if (id && strcmp(id, r->xid) == 0) {
            *units_before = (uint64_t)json_integer_value(json_object_get(x, "units"));
        } else if (st && strcmp(st, "running") == 0 && rc == TL_OK) {
            rc = tl_err_set(err, TL_EINVAL, "experiment",
                            "experiment \"%s\" is running in this shop and would mix its changes into the "
                            "simulated answers; stop it first (PUT /v1/experiments/%s with \"status\": \"stopped\")",
                            id ? id : "?", id ? id : "?");
        }
    }
    json_decref(j);
    return rc;
}

/* The shopper's arm from GET /v1/experiments/assignments (records nothing). */
static int arm_of(struct run *r, const char *uid)
{
    struct tl_buf out;
    struct tl_err err;
    tl_buf_init(&out, 0);
    tl_err_clear(&err);
    int arm = -1;
    if (tl_engine_assignments(r->e, r->shop, uid, NULL, NULL, NULL, &out, &err) == TL_OK) {
        json_t *j = json_loadb(out.data, out.len, 0, NULL), *a;
        size_t i;
        json_array_foreach(json_object_get(j, "assignments"), i, a)
        {
            const char *xid = json_string_value(json_object_get(a, "experiment"));
            const char *name = json_string_value(json_object_get(a, "arm"));
            if (!xid || !name || strcmp(xid, r->xid) != 0) continue;
            for (int k = 0; k < TAILOR_SIM_ARMS; k++)
                if (strcmp(name, arm_names[k]) == 0) arm = k;
        }
        json_decref(j);
    }
    tl_buf_free(&out);
    return arm;
}

static int in_taste(const uint32_t *t, size_t n, uint32_t idx)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t[mid] == idx) return 1;
        if (t[mid] < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static double num_or_nan(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void parse_report(const char *text, struct tailor_simulate_report *rep)
{
    double *all[] = {&rep->diff,       &rep->diff_lo,     &rep->diff_hi,
                     &rep->uplift,     &rep->uplift_lo,   &rep->uplift_hi,
                     &rep->z,          &rep->p_value,     &rep->sequential_p_value,
                     &rep->srm_chi2,   &rep->srm_p_value, &rep->rpv_uplift,
                     &rep->rpv_p_value};
    memset(rep, 0, sizeof *rep);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) *all[i] = NAN;
    json_t *j = json_loads(text, 0, NULL);
    if (!j) return;
    json_t *srm = json_object_get(j, "srm");
    rep->srm_chi2 = num_or_nan(srm, "chi2");
    rep->srm_p_value = num_or_nan(srm, "p_value");
    rep->srm_flagged = json_is_true(json_object_get(srm, "flagged"));
    json_t *arms = json_object_get(j, "arms");
    for (size_t a = 0; a < TAILOR_SIM_ARMS && a < json_array_size(arms); a++) {
        json_t *x = json_array_get(arms, a);
        struct tailor_simulate_report_arm *ra = &rep->arms[a];
        ra->visitors = (uint64_t)json_integer_value(json_object_get(x, "visitors"));
        ra->conversions = (uint64_t)json_integer_value(json_object_get(x, "conversions"));
        ra->orders = (uint64_t)json_integer_value(json_object_get(x, "orders"));
        ra->revenue = num_or_nan(x, "revenue");
        ra->conversion_rate = num_or_nan(x, "conversion_rate");
        ra->conversion_rate_lo = num_or_nan(x, "conversion_rate_lo");
        ra->conversion_rate_hi = num_or_nan(x, "conversion_rate_hi");
        if (a == 1) {
            json_t *c = json_object_get(json_object_get(x, "vs_control"), "conversion");
            rep->diff = num_or_nan(c, "diff");
            rep->diff_lo = num_or_nan(c, "diff_lo");
            rep->diff_hi = num_or_nan(c, "diff_hi");
            rep->uplift = num_or_nan(c, "uplift");
            rep->uplift_lo = num_or_nan(c, "uplift_lo");
            rep->uplift_hi = num_or_nan(c, "uplift_hi");
            rep->z = num_or_nan(c, "z");
            rep->p_value = num_or_nan(c, "p_value");
            rep->sequential_p_value = num_or_nan(c, "sequential_p_value");
            json_t *rv = json_object_get(json_object_get(x, "vs_control"), "revenue_per_visitor");
            rep->rpv_uplift = num_or_nan(rv, "uplift");
            rep->rpv_p_value = num_or_nan(rv, "p_value");
        }
    }
    json_decref(j);
}

/* One visit: serve for_you, react, queue the events. */
static enum tl_rc do_visit(struct run *r, struct shopper *sh, const struct visit *v, const char *uid,
                           const uint32_t *taste, const struct orders *d, struct tailor_simulate_summary *sum,
                           int64_t run_tag, struct tl_err *err)
{
    struct tl_rec_query q;
    memset(&q, 0, sizeof q);
    q.type = "for_you";
    q.user_id = uid;
    q.limit = SIM_LIMIT;
    q.min_price = NAN;
    q.max_price = NAN;
    struct tl_buf out;
    tl_buf_init(&out, 0);
    uint64_t t0 = tl_mono_ns();
    enum tl_rc rc = tl_engine_recommend(r->e, r->shop, &q, &out, err);
    r->ns_recommend += tl_mono_ns() - t0;
    json_t *j = rc == TL_OK ? json_loadb(out.data, out.len, 0, NULL) : NULL;
    tl_buf_free(&out);
    if (rc) return rc;
    if (!j) return tl_err_set(err, TL_EINTERNAL, NULL, "unreadable recommendation answer");
    struct tailor_simulate_arm *a = &sum->arms[sh->arm];
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *rid = json_string_value(json_object_get(j, "recommendation_id"));
    int popular = type && strcmp(type, "popular") == 0;
    if (popular != (sh->arm == 0)) sum->mismatches++;
    json_t *items = json_object_get(j, "items");
    size_t n = json_array_size(items);
    a->visits++;
    sh->pending = r->gen;

    /* 2. impression */
    batch_begin_event(r);
    tl_buf_puts(&r->batch, "{\"type\":\"recommendation_impression\",\"user_id\":");
    tl_buf_json_str(&r->batch, uid);
    tl_buf_puts(&r->batch, ",\"recommendation_id\":");
    tl_buf_json_str_or_null(&r->batch, rid);
    tl_buf_printf(&r->batch, ",\"timestamp\":%lld,\"items\":[", (long long)v->ts);
    for (size_t p = 0; p < n; p++) {
        if (p) tl_buf_putc(&r->batch, ',');
        tl_buf_json_str(&r->batch, json_string_value(json_object_get(json_array_get(items, p), "id")));
    }
    tl_buf_puts(&r->batch, "]" SIM_CONTEXT "}");

    /* 3-4. clicks, views, carts; the bought lines */
    uint64_t vs = tl_hash_u64(sh->seed + 0x9e3779b97f4a7c15ULL * (v->k + 1));
    size_t bought[SIM_LIMIT];
    size_t nb = 0;
    for (size_t p = 0; p < n && p < SIM_LIMIT; p++) {
        json_t *it = json_array_get(items, p);
        const char *id = json_string_value(json_object_get(it, "id"));
        double u_click = rng_unif(&vs), u_buy = rng_unif(&vs);
        if (!id) continue;
        uint32_t idx = tl_strtab_find(&d->items, id);
        int rel = idx != TL_STRTAB_NONE && in_taste(taste, sh->n_taste, idx);
        a->shown++;
        a->shown_relevant += (uint64_t)rel;
        if (u_click >= SIM_P_CLICK_BASE + SIM_P_CLICK_RELEVANT * rel) continue;
        int64_t tc = v->ts + SIM_CLICK_STEP_MS * (int64_t)(p + 1);
        a->clicks++;
        batch_begin_event(r);
        tl_buf_puts(&r->batch, "{\"type\":\"recommendation_click\",\"user_id\":");
        tl_buf_json_str(&r->batch, uid);
        tl_buf_puts(&r->batch, ",\"recommendation_id\":");
        tl_buf_json_str_or_null(&r->batch, rid);
        tl_buf_puts(&r->batch, ",\"item_id\":");
        tl_buf_json_str(&r->batch, id);
        tl_buf_printf(&r->batch, ",\"timestamp\":%lld" SIM_CONTEXT "}", (long long)tc);
        batch_begin_event(r);
        tl_buf_puts(&r->batch, "{\"type\":\"product_view\",\"user_id\":");
        tl_buf_json_str(&r->batch, uid);
        tl_buf_puts(&r->batch, ",\"item_id\":");
        tl_buf_json_str(&r->batch, id);
        tl_buf_printf(&r->batch, ",\"timestamp\":%lld" SIM_CONTEXT "}", (long long)tc + 1000);
        if (u_buy >= SIM_P_BUY) continue;
        double price = num_or_nan(it, "price");
        batch_begin_event(r);
        tl_buf_puts(&r->batch, "{\"type\":\"add_to_cart\",\"user_id\":");
        tl_buf_json_str(&r->batch, uid);
        tl_buf_puts(&r->batch, ",\"item_id\":");
        tl_buf_json_str(&r->batch, id);
        if (isfinite(price) && price >= 0) tl_buf_printf(&r->batch, ",\"price\":%.2f", price);
        tl_buf_printf(&r->batch, ",\"quantity\":1,\"timestamp\":%lld" SIM_CONTEXT "}",
                      (long long)(tc + SIM_CART_AFTER_MS));
        bought[nb++] = p;
    }
    if (nb) {
        batch_begin_event(r);
        tl_buf_puts(&r->batch, "{\"type\":\"purchase\",\"user_id\":");
        tl_buf_json_str(&r->batch, uid);
        tl_buf_printf(&r->batch, ",\"order_id\":\"sim-%lld-%u-%u\",\"timestamp\":%lld,\"items\":[", (long long)run_tag,
                      (unsigned)v->shopper, (unsigned)v->k, (long long)(v->ts + SIM_PURCHASE_AFTER_MS));
        for (size_t b = 0; b < nb; b++) {
            json_t *it = json_array_get(items, bought[b]);
            double price = num_or_nan(it, "price");
            if (!isfinite(price) || price < 0) price = 0;
            price = round(price * 100) / 100; /* as the answer shows it */
            if (b) tl_buf_putc(&r->batch, ',');
            tl_buf_puts(&r->batch, "{\"item_id\":");
            tl_buf_json_str(&r->batch, json_string_value(json_object_get(it, "id")));
            tl_buf_printf(&r->batch, ",\"quantity\":1,\"price\":%.2f}", price);
            a->revenue += price;
        }
        tl_buf_puts(&r->batch, "]" SIM_CONTEXT "}");
        a->orders++;
        a->items_bought += nb;
        if (!sh->bought) a->buyers++;
        sh->bought = 1;
    }
    json_decref(j);
    if (!r->batch.data) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    return r->batch_n >= SIM_BATCH_EVENTS ? flush(r, err) : TL_OK;
}

static enum tl_rc run_sim(struct tl_engine *e, const struct tailor_simulate_options *o,
                          struct tailor_simulate_summary *sum, char **report, struct tl_err *err)
{
    uint64_t t0 = tl_mono_ns();
    uint64_t n_want = o->shoppers ? o->shoppers : SIM_SHOPPERS_DEFAULT;
    uint32_t days = o->days ? o->days : SIM_DAYS_DEFAULT;
    uint32_t R = o->relevant ? o->relevant : SIM_R_DEFAULT;
    const char *xid = o->experiment_id && *o->experiment_id ? o->experiment_id : TAILOR_SIM_DEFAULT_EXPERIMENT;
    if (n_want > SIM_SHOPPERS_MAX)
        return tl_err_set(err, TL_EINVAL, "shoppers", "shoppers must be 1 to %u", SIM_SHOPPERS_MAX);
    if (days > SIM_DAYS_MAX) return tl_err_set(err, TL_EINVAL, "days", "days must be 1 to %d", SIM_DAYS_MAX);
    if (R > SIM_R_MAX) return tl_err_set(err, TL_EINVAL, "relevant", "relevant must be 1 to %d", SIM_R_MAX);
    int cosine = 0;
    if (o->relevance && *o->relevance && strcmp(o->relevance, "count") != 0) {
        if (strcmp(o->relevance, "cosine") != 0)
            return tl_err_set(err, TL_EINVAL, "relevance", "relevance must be count or cosine");
        cosine = 1;
    }
    if (o->end_ms > tl_now_ms() || (o->end_ms > 0 && o->end_ms < 946684800000LL + (int64_t)days * TL_MS_PER_DAY))
        return tl_err_set(err, TL_EINVAL, "end", "end must be in the past and leave the %u days after 2000-01-01",
                          days);
    if (strlen(xid) > 128) return tl_err_set(err, TL_EINVAL, "experiment", "experiment id must be 1 to 128 bytes");
    if (tl_engine_config(e)->admin_only)
        return tl_err_set(err, TL_EINVAL, NULL, "the database was opened for administration only (admin_only)");
    if (!tl_engine_shop(e, o->shop_id))
        return tl_err_set(err, TL_ENOTFOUND, "shop", "shop %u does not exist", o->shop_id);
    enum tl_rc rc = tl_engine_claim(e, "tailor simulate", err);
    if (rc) return rc;

    memset(sum, 0, sizeof *sum);
    snprintf(sum->experiment_id, sizeof sum->experiment_id, "%s", xid);
    snprintf(sum->relevance, sizeof sum->relevance, "%s", cosine ? "cosine" : "count");
    for (int a = 0; a < TAILOR_SIM_ARMS; a++) snprintf(sum->arms[a].name, sizeof sum->arms[a].name, "%s", arm_names[a]);

    struct run r = {.e = e, .shop = o->shop_id, .xid = xid, .gen = 1, .o = o};
    tl_buf_init(&r.batch, 0);
    struct orders d;
    memset(&d, 0, sizeof d);
    tl_strtab_init(&d.items);
    tl_strtab_init(&d.custs);
    d.err = err;
    uint32_t *io_off = NULL, *io_val = NULL, *co_off = NULL, *co_val = NULL, *tastes = NULL;
    struct taste_ws w;
    memset(&w, 0, sizeof w);
    struct cand_key *cands = NULL;
    struct shopper *sh = NULL;
    struct visit *visits = NULL;
    size_t n_sh = 0, n_visits = 0;
    int put_done = 0;

    if ((rc = check_experiments(&r, &sum->units_before, err))) goto done;

    /* 1. orders and the relevance model */
    progress(&r, "relevance", 0, 0);
    pthread_mutex_lock(&e->rst_mu);
    rc = e->ops->order_scan(e->rst, o->shop_id, order_cb, &d);
    pthread_mutex_unlock(&e->rst_mu);
    if (d.rc) rc = d.rc;
    if (rc) {
        if (!err->msg[0]) tl_err_set(err, rc, NULL, "reading orders: %s", tl_rc_message(rc));
        goto done;
    }
    sum->orders_used = d.n;
    sum->last_order_ms = d.last_ms;
    sum->customers = d.custs.count;
    if (d.custs.count == 0) {
        rc = tl_err_set(err, TL_EINVAL, NULL,
                        "the shop has no customer with a purchase history to simulate (import orders first)");
        goto done;
    }
    size_t n_items = d.items.count;
    if ((rc = invert(&d, 1, n_items, &io_off, &io_val)) || (rc = invert(&d, 0, d.custs.count, &co_off, &co_val))) {
        tl_err_set(err, rc, NULL, "out of memory");
        goto done;
    }
    w.hmark = tl_calloc(n_items, sizeof *w.hmark);
    w.smark = tl_calloc(n_items, sizeof *w.smark);
    w.cand = tl_malloc(n_items * sizeof *w.cand);
    w.score = tl_malloc(n_items * sizeof *w.score);
    w.count = tl_malloc(n_items * sizeof *w.count);
    w.oweight = tl_malloc(d.n * sizeof *w.oweight);
    w.io_off = io_off;
    w.cosine = cosine;
    w.omark = tl_calloc(d.n, sizeof *w.omark);
    w.ocnt = tl_malloc(d.n * sizeof *w.ocnt);
    w.touched = tl_malloc(d.n * sizeof *w.touched);
    w.heap = tl_malloc(R * sizeof *w.heap);
    cands = tl_malloc(d.custs.count * sizeof *cands);
    uint64_t n_cap = n_want < d.custs.count ? n_want : d.custs.count;
    sh = tl_calloc(n_cap, sizeof *sh);
    tastes = tl_malloc(n_cap * R * sizeof *tastes);
    if (!w.hmark || !w.smark || !w.cand || !w.score || !w.count || !w.oweight || !w.omark || !w.ocnt || !w.touched ||
        !w.heap || !cands || !sh || !tastes) {
        rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        goto done;
    }
    uint64_t seed_mix = tl_hash_u64(o->seed ^ 0x73696d756c617465ULL); /* "simulate" */
    for (uint32_t c = 0; c < d.custs.count; c++)
        cands[c] = (struct cand_key){tl_hash_str(tl_strtab_str(&d.custs, c), seed_mix), c};
    qsort(cands, d.custs.count, sizeof *cands, cmp_cand);
    double taste_sum = 0;
    for (uint32_t k = 0; k < d.custs.count && n_sh < n_cap; k++) {
        uint32_t c = cands[k].cust;
        size_t nt = taste_of(&d, io_off, io_val, co_off, co_val, c, R, &w, tastes + n_sh * R);
        if (nt == 0) continue;
        sh[n_sh] = (struct shopper){.cust = c,
                                    .taste_off = (uint32_t)(n_sh * R),
                                    .n_taste = (uint16_t)nt,
                                    .seed = tl_hash_u64(cands[k].key ^ (o->seed * 0x9e3779b97f4a7c15ULL))};
        taste_sum += (double)nt;
        n_sh++;
    }
    if (n_sh == 0) {
        rc = tl_err_set(err, TL_EINVAL, NULL,
                        "no customer has items that other customers bought with theirs: nothing is relevant to "
                        "anyone, so there is nothing to simulate");
        goto done;
    }
    sum->shoppers = n_sh;
    sum->mean_relevant = taste_sum / (double)n_sh;
    sum->seconds_relevance = (double)(tl_mono_ns() - t0) / 1e9;

    /* 2. the schedule */
    int64_t now = tl_now_ms(), end = o->end_ms > 0 ? o->end_ms : now;
    if (o->end_ms < 0) end = d.last_ms + SIM_END_MARGIN_MS; /* the data's own clock */
    if (end > now) end = now;
    int64_t start = end - (int64_t)days * TL_MS_PER_DAY;
    int64_t span = (int64_t)days * TL_MS_PER_DAY - SIM_END_MARGIN_MS;
    sum->start_ms = start;
    sum->end_ms = end;
    visits = tl_malloc(n_sh * SIM_VISITS_MAX * sizeof *visits);
    if (!visits) {
        rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        goto done;
    }
    for (size_t s = 0; s < n_sh; s++) {
        uint64_t st = sh[s].seed;
        uint32_t nv = 1 + (uint32_t)(rng_next(&st) % SIM_VISITS_MAX);
        int64_t ts[SIM_VISITS_MAX];
        for (uint32_t k = 0; k < nv; k++) ts[k] = start + (int64_t)(rng_unif(&st) * (double)span);
        for (uint32_t k = 1; k < nv; k++) /* sort the few times: insertion */
            for (uint32_t m = k; m > 0 && ts[m] < ts[m - 1]; m--) {
                int64_t tmp = ts[m];
                ts[m] = ts[m - 1];
                ts[m - 1] = tmp;
            }
        for (uint32_t k = 0; k < nv; k++) visits[n_visits++] = (struct visit){ts[k], (uint32_t)s, k};
        sh[s].n_visits = (uint8_t)nv;
        sh[s].first_ms = ts[0];
    }
    qsort(visits, n_visits, sizeof *visits, cmp_visit);
    sum->visits = n_visits;

    /* 3. the experiment, the arms and the exposures (stamped with the first visit) */
    if ((rc = put_experiment(&r, 1, start - SIM_END_MARGIN_MS, 0, err))) goto done;
    put_done = 1;
    progress(&r, "assign", 0, n_visits);
    for (size_t s = 0; s < n_sh; s++) {
        const char *uid = tl_strtab_str(&d.custs, sh[s].cust);
        int arm = arm_of(&r, uid);
        if (arm < 0) {
            rc = tl_err_set(err, TL_EINTERNAL, NULL, "customer %s got no arm of experiment %s", uid, xid);
            goto done;
        }
        sh[s].arm = (uint8_t)arm;
        sum->arms[arm].visitors++;
        batch_begin_event(&r);
        tl_buf_puts(&r.batch, "{\"type\":\"experiment_exposure\",\"experiment_id\":");
        tl_buf_json_str(&r.batch, xid);
        tl_buf_printf(&r.batch, ",\"arm\":\"%s\",\"user_id\":", arm_names[arm]);
        tl_buf_json_str(&r.batch, uid);
        tl_buf_printf(&r.batch, ",\"timestamp\":%lld" SIM_CONTEXT "}", (long long)sh[s].first_ms);
        if (!r.batch.data) {
            rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
            goto done;
        }
        if (r.batch_n >= SIM_BATCH_EVENTS && (rc = flush(&r, err))) goto done;
    }
    if ((rc = flush(&r, err))) goto done;

    /* 4. the visits, in time order */
    for (size_t i = 0; i < n_visits; i++) {
        struct shopper *s = &sh[visits[i].shopper];
        if (s->pending == r.gen && (rc = flush(&r, err))) goto done;
        const char *uid = tl_strtab_str(&d.custs, s->cust);
        if ((rc = do_visit(&r, s, &visits[i], uid, tastes + s->taste_off, &d, sum, end, err))) goto done;
        if ((i & 63) == 0 || i + 1 == n_visits) progress(&r, "visits", i + 1, n_visits);
    }
    if ((rc = flush(&r, err))) goto done;
    sum->events = r.events;

done:
    if (put_done) {
        /* stop it (also after a failure): nobody new is assigned, results stay */
        struct tl_err e2;
        tl_err_clear(&e2);
        enum tl_rc rc2 = put_experiment(&r, 0, sum->start_ms - SIM_END_MARGIN_MS, tl_now_ms(), &e2);
        if (rc == TL_OK && rc2 != TL_OK) {
            *err = e2;
            rc = rc2;
        }
    }
    if (rc == TL_OK) {
        progress(&r, "report", n_visits, n_visits);
        struct tl_buf out;
        tl_buf_init(&out, 0);
        rc = tl_engine_experiments_get(e, o->shop_id, xid, &out, err);
        if (rc == TL_OK) {
            parse_report(out.data, &sum->report);
            if (report) *report = tl_buf_steal(&out);
        }
        tl_buf_free(&out);
    }
    sum->events = r.events;
    sum->seconds = (double)(tl_mono_ns() - t0) / 1e9;
    sum->seconds_recommend = (double)r.ns_recommend / 1e9;
    sum->seconds_ingest = (double)r.ns_ingest / 1e9;
    tl_buf_free(&r.batch);
    tl_strtab_free(&d.items);
    tl_strtab_free(&d.custs);
    tl_free(d.off);
    tl_free(d.item);
    tl_free(d.cust);
    tl_free(io_off);
    tl_free(io_val);
    tl_free(co_off);
    tl_free(co_val);
    tl_free(w.hmark);
    tl_free(w.smark);
    tl_free(w.cand);
    tl_free(w.score);
    tl_free(w.count);
    tl_free(w.oweight);
    tl_free(w.omark);
    tl_free(w.ocnt);
    tl_free(w.touched);
    tl_free(w.heap);
    tl_free(cands);
    tl_free(sh);
    tl_free(tastes);
    tl_free(visits);
    return rc;
}

/* ---- public API ---- */

void tailor_simulate_options_init(struct tailor_simulate_options *o)
{
    memset(o, 0, sizeof *o);
    o->shop_id = TL_DEFAULT_SHOP;
    o->seed = 1;
}

enum tl_rc tailor_simulate(struct tailor *t, const struct tailor_simulate_options *o,
                           struct tailor_simulate_summary *summary, char **report_json, struct tailor_error *err)
{
    struct tl_err e;
    tl_err_clear(&e);
    struct tailor_simulate_summary local;
    memset(&local, 0, sizeof local);
    struct tailor_simulate_summary *sum = summary ? summary : &local;
    if (report_json) *report_json = NULL;
    enum tl_rc rc = t && o ? run_sim(tl_facade_engine(t), o, sum, report_json, &e)
                           : tl_err_set(&e, TL_EINVAL, NULL, "no handle or options");
    if (rc && err) {
        memset(err, 0, sizeof *err);
        err->rc = rc;
        snprintf(err->field, sizeof err->field, "%s", e.field);
        snprintf(err->msg, sizeof err->msg, "%s", e.msg[0] ? e.msg : tl_rc_message(rc));
    }
    return rc;
}
