/* Popular and trending items of one shop (see popularity.h for the API).
 *
 * SIGNALS AND WEIGHTS
 *   product_view w_view = 1, add_to_cart w_cart = 3, purchase w_purchase = 5
 *   per order line. Quantity does not multiply by default: in wholesale data
 *   (the bundled Online Retail store has lines of 12, 480 and 80,995 units)
 *   one buyer's bulk line would outweigh hundreds of shoppers; what we rank
 *   is how many shoppers want an item. TL_POP_QTY_LOG gives w * log2(1 + q)
 *   (q not finite or < 1 counts as 1) for shops that want some volume signal.
 *   Returns subtract nothing: a return still shows the item drew demand;
 *   returns arrive long after the purchase (subtracting at return time would
 *   remove more than the purchase's decayed weight and can go negative,
 *   which breaks the Poisson model below); Online Retail "C" invoices are
 *   largely order corrections; and return rate is a quality signal that
 *   belongs to ranking rules, not to demand. Other event types carry no
 *   signal here and are ignored.
 *
 * DECAYED COUNTS AND THE SHOP-WIDE REFERENCE TIME
 *   A decayed count with half-life H at time T is
 *       C(T) = sum_e w_e * 2^(-(T - t_e) / H).
 *   Each counter is stored scaled to one shop-wide reference time t_ref:
 *       v = sum_e w_e * 2^((t_e - t_ref) / H),   C(T) = v * 2^(-(T - t_ref)/H).
 *   Adding an event is one exp2 and one add (lazy decay: nothing else is
 *   touched), events may arrive in any order (an older event simply gets a
 *   factor < 1), and all items share the same factor 2^(-(T - t_ref)/H), so
 *   the popular ORDER is the order of v and is the same at every T >= any
 *   event: ranking "now" or at the data clock gives the same list, only the
 *   absolute scores differ. To keep v from overflowing when time moves far
 *   past t_ref, an event later than t_ref + 32 * (smallest half-life) moves
 *   t_ref to that event's time and multiplies every stored v by
 *   2^(-(delta)/H) (O(items), happens once per 32 half-lives of data, i.e.
 *   every 96 days with h_s = 3 d). So factors stay within 2^32 above and old
 *   values only shrink (they underflow to 0 after ~1000 half-lives, when they
 *   are irrelevant anyway).
 *
 * DATA CLOCK
 *   T = the latest event time applied (tl_pop_clock), not the wall clock:
 *   the bundled demo data is from 2010-2011 and would otherwise have decayed
 *   to nothing. Popular order does not depend on T (see above); trending
 *   does, and is computed at T. Ingestion must reject far-future timestamps
 *   (one event in 2099 would move the clock and make everything else old).
 *
 * POPULAR   P_i(T) = sum_e w_e * 2^(-(T - t_e)/H_pop), H_pop = 30 days.
 *
 * TRENDING  Two decayed counts per item: S (half-life h_s = 3 d) and L
 *   (h_l = 28 d). At a steady rate r a decayed count with half-life h tends
 *   to r * h / ln 2, so the short count expected from the item's baseline is
 *       E = L * h_s / h_l.
 *   Score z = (S - E) / sqrt(E + k), k = 5: a Poisson z-score (variance of a
 *   count ~ its mean) with a prior k that damps items with tiny counts (one
 *   view of a never-seen item is not a trend). An item trends only when
 *   S - E > 0 and S >= trending_min_short (2). A steadily popular item has
 *   S ~= E, i.e. z <= ~0, and is excluded.
 *
 * COUNTRIES
 *   Events with a country also update the same counters keyed by (country,
 *   item) in a sparse per-country table (item -> slot hash map plus
 *   structure-of-arrays), at most TL_POP_COUNTRIES_MAX countries per shop
 *   (a 257th is counted globally only). A query for country C uses C's
 *   counters only when C's total short-window weight sum_i S_i(T) >=
 *   trending_country_min (30, i.e. about 30 * ln 2 / 3 d ~= 7 weighted events
 *   a day); otherwise it falls back to the global counters. The same rule is
 *   used for popular and trending, so one request never mixes scopes, and the
 *   answer reports the scope used (and the weight and threshold).
 *
 * CONCURRENCY AND SERVING
 *   One pthread rwlock (writer-preferring) per model guards the counters;
 *   several threads may call tl_pop_add at once (they serialise on it).
 *   tl_pop_add holds the write lock for O(1) work (plus an amortised array
 *   growth or, rarely, a rescale). Reads use a cached top list per (kind,
 *   scope): an immutable snapshot (top cache_k = 200 items with scores, the
 *   scope decision, the generation it was built at) reached through a
 *   pointer that a tiny per-slot mutex guards only for "take a reference" /
 *   "swap" (reference counted; the last holder frees it). A reader serves
 *   from the snapshot without touching the counter lock, applying skip()
 *   while it walks the list. Generation = number of applied events. A
 *   snapshot is stale when the generation moved and either it is older than
 *   cache_max_age_ms (1 s) or cache_max_updates (1000) events arrived and it
 *   is older than cache_min_age_ms (100 ms): so a list is rebuilt at most
 *   every 100 ms, and any change shows within 1 s. A list unchanged since it
 *   was built is never stale, so with no new events answers are exact.
 *   Rebuild = one scan under the read lock, done by tl_pop_refresh (meant
 *   for a background thread) or else by the first reader that finds the list
 *   stale; only one thread rebuilds a slot (a per-slot flag), the others keep
 *   serving the old snapshot. When skip() removes so many entries that fewer
 *   than k remain and the snapshot was truncated, or k > cache_k, or
 *   cache_k = 0, the reader scans the counters directly (exact, skip() under
 *   the read lock and only for items that would enter the heap). Scopes with
 *   <= scan_direct_max (4096) items are always scanned directly (exact,
 *   ~2-15 us).
 *   Why (bench/bench_popularity.c on this 2-core machine, under load from
 *   other builds): an exact scan for top 10 of 20,000 items takes ~15-30 us
 *   p50 / 70-110 us p99; of 100,000 items ~100-190 us p50 and a p99 of
 *   0.2-8 ms (preemption while scanning); 10,000 such scans a second would
 *   also need more than a whole core. From the cache: ~0.1 us p50 and
 *   ~0.1-0.2 us p99 at both sizes; paced at 10,000 queries/s while a writer
 *   applies 2 M events/s, p99 ~1 us (p99.9 ~0.2-0.7 ms: rebuilds and
 *   preemption).
 *
 * TRENDING CAVEATS (by design, documented in docs/recommendations.md)
 *   - Warm-up: L needs a few h_l to reach its steady value (it is short by
 *     the factor 2^(-age/h_l)), so an item younger than ~2 months at a steady
 *     rate shows a positive score: new items with traction trend.
 *   - Right after an item's own event the newest event counts fully in both
 *     S and L, so a perfectly steady item oscillates around 0 (about +-0.5
 *     event of S - E); trending_min_short and z keep that far below bursts.

 * INVARIANTS
 *   - global arrays are dense: index = item, n = highest item seen + 1;
 *     untouched items hold 0.
 *   - country c's slot j holds item items[j]; idx maps item -> j.
 *   - code_idx[code] is -1 or the index of an initialised country, written
 *     once under the write lock (release) and read without it (acquire).
 *   - all v >= 0, t_ref <= clock once has_ref. */
#include "model/popularity.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/alloc.h"
#include "core/map.h"
#include "core/timeutil.h"
#include "core/topk.h"

#define N_CODES (26 * 26)                  /* all two-letter codes */
#define RESCALE_HALF_LIVES 32.0            /* move t_ref after this many smallest half-lives */
#define GLOBAL_MIN_CAP 1024                /* first global array size */
#define COUNTRY_MIN_CAP 64                 /* first per-country array size */
#define STACK_HEAP 128                     /* top-k storage kept on the stack up to this k */
#define N_SLOTS (1 + TL_POP_COUNTRIES_MAX) /* slot 0 = global, 1 + c = country c */

enum { C_POP = 0, C_SHORT = 1, C_LONG = 2, N_CTR = 3 };

static const char SCOPE_GLOBAL[] = "global";
static const char SCOPE_COUNTRY[] = "country";

/* Counters of one scope (global: dense, items == NULL). */
struct ctrs {
    uint32_t *items;  /* country: item of each slot */
    double *v[N_CTR]; /* scaled decayed sums, see header comment */
    size_t n, cap;
    double tot[N_CTR];    /* scaled sums over all items */
    struct tl_u64map idx; /* country: item -> slot */
    atomic_size_t n_pub;  /* copy of n readable without the lock */
};

struct country {
    char code[3];
    struct ctrs c;
};

/* Immutable cached answer for one (kind, scope). */
struct snap {
    atomic_long refs;
    uint64_t gen;          /* model generation it was built at */
    uint64_t built_ns;     /* tl_mono_ns() at build */
    int use_global;        /* country slot: too little data, use global */
    int truncated;         /* more qualifying items existed than n */
    double country_weight; /* country slot: S total at build */
    int64_t clock_ms;
    size_t n;
    size_t bytes;
    struct tl_topk_entry e[]; /* best first */
};

struct slot {
    pthread_mutex_t mu; /* guards snap (reference take / swap only) */
    struct snap *snap;
    atomic_int building;
};

struct tl_pop {
    struct tl_pop_params p;
    double hl_ms[N_CTR]; /* half-lives in ms */
    double rescale_span; /* ms */
    pthread_rwlock_t lock;
    int has_ref;        /* under lock */
    int64_t t_ref;      /* under lock */
    atomic_llong clock; /* written under the write lock */
    atomic_ullong gen;  /* applied events; written under the write lock */
    atomic_ullong countries_dropped;
    struct ctrs global;
    struct country *countries[TL_POP_COUNTRIES_MAX];
    int n_countries;
    atomic_short code_idx[N_CODES];
    struct slot slots[2][N_SLOTS];
};

/* ---------- parameters ---------- */

void tl_pop_params_defaults(struct tl_pop_params *p)
{
    memset(p, 0, sizeof *p);
    p->w_view = 1.0;
    p->w_cart = 3.0;
    p->w_purchase = 5.0;
    p->purchase_qty = TL_POP_QTY_IGNORE;
    p->popular_half_life_days = 30.0;
    p->trending_short_days = 3.0;
    p->trending_long_days = 28.0;
    p->trending_prior_k = 5.0;
    p->trending_min_short = 2.0;
    p->trending_country_min = 30.0;
    p->cache_k = 200;
    p->cache_max_age_ms = 1000;
    p->cache_min_age_ms = 100;
    p->cache_max_updates = 1000;
    p->scan_direct_max = 4096;
}

static int nonneg(double x) { return isfinite(x) && x >= 0; }

enum tl_rc tl_pop_params_check(const struct tl_pop_params *p, struct tl_err *err)
{
    if (!p) return tl_err_set(err, TL_EINVAL, "params", "parameters are required");
    if (!nonneg(p->w_view)) return tl_err_set(err, TL_EINVAL, "w_view", "must be a finite number >= 0");
    if (!nonneg(p->w_cart)) return tl_err_set(err, TL_EINVAL, "w_cart", "must be a finite number >= 0");
    if (!nonneg(p->w_purchase)) return tl_err_set(err, TL_EINVAL, "w_purchase", "must be a finite number >= 0");
    if (p->purchase_qty != TL_POP_QTY_IGNORE && p->purchase_qty != TL_POP_QTY_LOG)
        return tl_err_set(err, TL_EINVAL, "purchase_qty", "must be TL_POP_QTY_IGNORE or TL_POP_QTY_LOG");
    const struct {
        const char *name;
        double v;
    } hl[] = {{"popular_half_life_days", p->popular_half_life_days},
              {"trending_short_days", p->trending_short_days},
              {"trending_long_days", p->trending_long_days}};
    for (size_t i = 0; i < sizeof hl / sizeof hl[0]; i++)
        if (!isfinite(hl[i].v) || hl[i].v < 1e-3 || hl[i].v > 36500)
            return tl_err_set(err, TL_EINVAL, hl[i].name, "must be between 0.001 and 36500 days, got %g", hl[i].v);
    if (!(p->trending_long_days > p->trending_short_days))
        return tl_err_set(err, TL_EINVAL, "trending_long_days", "must be greater than trending_short_days (%g)",
                          p->trending_short_days);
    if (!isfinite(p->trending_prior_k) || p->trending_prior_k <= 0)
        return tl_err_set(err, TL_EINVAL, "trending_prior_k", "must be a finite number > 0");
    if (!nonneg(p->trending_min_short))
        return tl_err_set(err, TL_EINVAL, "trending_min_short", "must be a finite number >= 0");
    if (!nonneg(p->trending_country_min))
        return tl_err_set(err, TL_EINVAL, "trending_country_min", "must be a finite number >= 0");
    if (p->cache_k > TL_POP_CACHE_K_MAX)
        return tl_err_set(err, TL_EINVAL, "cache_k", "must be <= %d", TL_POP_CACHE_K_MAX);
    if (p->cache_max_age_ms < 0) return tl_err_set(err, TL_EINVAL, "cache_max_age_ms", "must be >= 0");
    if (p->cache_min_age_ms < 0 || p->cache_min_age_ms > p->cache_max_age_ms)
        return tl_err_set(err, TL_EINVAL, "cache_min_age_ms", "must be between 0 and cache_max_age_ms (%lld)",
                          (long long)p->cache_max_age_ms);
    return TL_OK;
}

/* ---------- counters ---------- */

static void ctrs_init(struct ctrs *c)
{
    memset(c, 0, sizeof *c);
    tl_u64map_init(&c->idx);
    atomic_init(&c->n_pub, 0);
}

static void ctrs_free(struct ctrs *c)
{
    tl_free(c->items);
    for (int j = 0; j < N_CTR; j++) tl_free(c->v[j]);
    tl_u64map_free(&c->idx);
}

/* Grow every array of c to hold `need` slots. Arrays that grew before a
 * failure stay larger than cap, which is harmless. */
static enum tl_rc ctrs_reserve(struct ctrs *c, size_t need, size_t min_cap, int with_items)
{
    if (need <= c->cap) return TL_OK;
    size_t ncap = c->cap ? c->cap : min_cap;
    while (ncap < need) ncap *= 2;
    if (ncap > TL_POP_ITEMS_MAX) ncap = TL_POP_ITEMS_MAX;
    for (int j = 0; j < N_CTR; j++) {
        double *a = tl_realloc(c->v[j], ncap * sizeof *a);
        if (!a) return TL_ENOMEM;
        memset(a + c->cap, 0, (ncap - c->cap) * sizeof *a);
        c->v[j] = a;
    }
    if (with_items) {
        uint32_t *a = tl_realloc(c->items, ncap * sizeof *a);
        if (!a) return TL_ENOMEM;
        c->items = a;
    }
    c->cap = ncap;
    return TL_OK;
}

static size_t ctrs_memory(const struct ctrs *c)
{
    size_t b = c->cap * N_CTR * sizeof(double);
    if (c->items) b += c->cap * sizeof(uint32_t);
    b += c->idx.cap * 2 * sizeof(uint64_t);
    return b;
}

static void ctrs_scale(struct ctrs *c, const double g[N_CTR])
{
    for (int j = 0; j < N_CTR; j++) {
        double *v = c->v[j];
        for (size_t i = 0; i < c->n; i++) v[i] *= g[j];
        c->tot[j] *= g[j];
    }
}

/* ---------- lifecycle ---------- */

struct tl_pop *tl_pop_new(const struct tl_pop_params *p)
{
    struct tl_pop_params d;
    if (!p) {
        tl_pop_params_defaults(&d);
        p = &d;
    }
    if (tl_pop_params_check(p, NULL) != TL_OK) return NULL;
    struct tl_pop *m = tl_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->p = *p;
    m->hl_ms[C_POP] = p->popular_half_life_days * (double)TL_MS_PER_DAY;
    m->hl_ms[C_SHORT] = p->trending_short_days * (double)TL_MS_PER_DAY;
    m->hl_ms[C_LONG] = p->trending_long_days * (double)TL_MS_PER_DAY;
    double mn = fmin(m->hl_ms[C_POP], fmin(m->hl_ms[C_SHORT], m->hl_ms[C_LONG]));
    m->rescale_span = RESCALE_HALF_LIVES * mn;

    pthread_rwlockattr_t a;
    if (pthread_rwlockattr_init(&a) != 0) goto fail_mem;
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&m->lock, &a);
    pthread_rwlockattr_destroy(&a);
    if (rc != 0) goto fail_mem;

    atomic_init(&m->clock, 0);
    atomic_init(&m->gen, 0);
    atomic_init(&m->countries_dropped, 0);
    ctrs_init(&m->global);
    for (int i = 0; i < N_CODES; i++) atomic_init(&m->code_idx[i], -1);
    int ninit = 0;
    for (int k = 0; k < 2; k++)
        for (int s = 0; s < N_SLOTS; s++) {
            if (pthread_mutex_init(&m->slots[k][s].mu, NULL) != 0) goto fail_slots;
            m->slots[k][s].snap = NULL;
            atomic_init(&m->slots[k][s].building, 0);
            ninit++;
        }
    return m;

fail_slots:
    for (int i = 0; i < ninit; i++) pthread_mutex_destroy(&m->slots[i / N_SLOTS][i % N_SLOTS].mu);
    pthread_rwlock_destroy(&m->lock);
fail_mem:
    tl_free(m);
    return NULL;
}

static void snap_release(struct snap *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) tl_free(s);
}

void tl_pop_free(struct tl_pop *m)
{
    if (!m) return;
    for (int k = 0; k < 2; k++)
        for (int s = 0; s < N_SLOTS; s++) {
            snap_release(m->slots[k][s].snap);
            pthread_mutex_destroy(&m->slots[k][s].mu);
        }
    for (int c = 0; c < m->n_countries; c++) {
        ctrs_free(&m->countries[c]->c);
        tl_free(m->countries[c]);
    }
    ctrs_free(&m->global);
    pthread_rwlock_destroy(&m->lock);
    tl_free(m);
}

/* ---------- updates ---------- */

/* -1: none (NULL or ""), -2: invalid, else 0..675. */
static int country_code(const char *s)
{
    if (!s || !s[0]) return -1;
    int a = s[0], b = s[1];
    if (a >= 'a' && a <= 'z') a -= 'a' - 'A';
    if (b >= 'a' && b <= 'z') b -= 'a' - 'A';
    if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z' || s[2] != '\0') return -2;
    return (a - 'A') * 26 + (b - 'A');
}

static double event_weight(const struct tl_pop_params *p, enum tl_event_type type, double quantity)
{
    switch (type) {
    case TL_EV_PRODUCT_VIEW:
        return p->w_view;
    case TL_EV_ADD_TO_CART:
        return p->w_cart;
    case TL_EV_PURCHASE:
        if (p->purchase_qty == TL_POP_QTY_LOG) {
            double q = (isfinite(quantity) && quantity >= 1) ? quantity : 1.0;
            return p->w_purchase * log1p(q) / M_LN2;
        }
        return p->w_purchase;
    default:
        return 0.0; /* returns and non-item events carry no popularity signal */
    }
}

/* Country index for code, creating it; -1 when the table is full. */
static int country_get_or_add(struct tl_pop *m, int code, enum tl_rc *rc)
{
    int ci = atomic_load_explicit(&m->code_idx[code], memory_order_relaxed);
    *rc = TL_OK;
    if (ci >= 0) return ci;
    if (m->n_countries >= TL_POP_COUNTRIES_MAX) {
        atomic_fetch_add_explicit(&m->countries_dropped, 1, memory_order_relaxed);
        return -1;
    }
    struct country *c = tl_calloc(1, sizeof *c);
    if (!c) {
        *rc = TL_ENOMEM;
        return -1;
    }
    c->code[0] = (char)('A' + code / 26);
    c->code[1] = (char)('A' + code % 26);
    ctrs_init(&c->c);
    ci = m->n_countries++;
    m->countries[ci] = c;
    atomic_store_explicit(&m->code_idx[code], (short)ci, memory_order_release);
    return ci;
}

/* Slot of item in country counters, creating it. */
static enum tl_rc country_slot(struct ctrs *c, uint32_t item, size_t *slot)
{
    uint64_t v;
    if (tl_u64map_get(&c->idx, item, &v)) {
        *slot = (size_t)v;
        return TL_OK;
    }
    enum tl_rc rc = ctrs_reserve(c, c->n + 1, COUNTRY_MIN_CAP, 1);
    if (rc) return rc;
    rc = tl_u64map_put(&c->idx, item, c->n);
    if (rc) return rc;
    *slot = c->n;
    c->items[c->n] = item;
    for (int j = 0; j < N_CTR; j++) c->v[j][c->n] = 0.0;
    c->n++;
    atomic_store_explicit(&c->n_pub, c->n, memory_order_relaxed);
    return TL_OK;
}

/* Move t_ref forward to t, rescaling every stored value (write lock held). */
static void rescale(struct tl_pop *m, int64_t t)
{
    double g[N_CTR];
    for (int j = 0; j < N_CTR; j++) g[j] = exp2(-(double)(t - m->t_ref) / m->hl_ms[j]);
    ctrs_scale(&m->global, g);
    for (int c = 0; c < m->n_countries; c++) ctrs_scale(&m->countries[c]->c, g);
    m->t_ref = t;
}

enum tl_rc tl_pop_add(struct tl_pop *m, uint32_t item, const char *country, int64_t ts_ms, enum tl_event_type type,
                      double quantity)
{
    if (!m) return TL_EINVAL;
    int code = country_code(country);
    if (code == -2) return TL_EINVAL;
    if (ts_ms < 0 || ts_ms > TL_POP_TS_MAX) return TL_EINVAL;
    if (item >= TL_POP_ITEMS_MAX) return TL_ETOOBIG;
    double w = event_weight(&m->p, type, quantity);
    if (!(w > 0)) return TL_OK;

    pthread_rwlock_wrlock(&m->lock);
    enum tl_rc rc = ctrs_reserve(&m->global, (size_t)item + 1, GLOBAL_MIN_CAP, 0);
    struct ctrs *cc = NULL;
    size_t cslot = 0;
    if (rc == TL_OK && code >= 0) {
        int ci = country_get_or_add(m, code, &rc);
        if (ci >= 0) {
            cc = &m->countries[ci]->c;
            rc = country_slot(cc, item, &cslot);
        }
    }
    if (rc != TL_OK) {
        pthread_rwlock_unlock(&m->lock);
        return rc;
    }
    if (!m->has_ref) {
        m->has_ref = 1;
        m->t_ref = ts_ms;
    } else if ((double)(ts_ms - m->t_ref) > m->rescale_span) {
        rescale(m, ts_ms);
    }
    struct ctrs *g = &m->global;
    if ((size_t)item >= g->n) {
        g->n = (size_t)item + 1;
        atomic_store_explicit(&g->n_pub, g->n, memory_order_relaxed);
    }
    for (int j = 0; j < N_CTR; j++) {
        double add = w * exp2((double)(ts_ms - m->t_ref) / m->hl_ms[j]);
        g->v[j][item] += add;
        g->tot[j] += add;
        if (cc) {
            cc->v[j][cslot] += add;
            cc->tot[j] += add;
        }
    }
    if (ts_ms > atomic_load_explicit(&m->clock, memory_order_relaxed))
        atomic_store_explicit(&m->clock, ts_ms, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->gen, 1, memory_order_release);
    pthread_rwlock_unlock(&m->lock);
    return TL_OK;
}

/* ---------- scans (read lock held) ---------- */

/* Decay factor from t_ref to the clock for counter j. */
static double decay_to_clock(const struct tl_pop *m, int j)
{
    if (!m->has_ref) return 0.0;
    int64_t t = atomic_load_explicit(&m->clock, memory_order_relaxed);
    return exp2(-(double)(t - m->t_ref) / m->hl_ms[j]);
}

static double country_weight_locked(const struct tl_pop *m, int ci)
{
    return m->countries[ci]->c.tot[C_SHORT] * decay_to_clock(m, C_SHORT);
}

/* Push every qualifying item of c into h (skip() only for items h would
 * keep). Returns the number of qualifying items. */
static size_t scan(const struct tl_pop *m, enum tl_pop_kind kind, const struct ctrs *c, struct tl_topk *h,
                   int (*skip)(void *, uint32_t), void *ctx)
{
    size_t qualified = 0;
    const uint32_t *items = c->items;
    if (kind == TL_POP_POPULAR) {
        const double *v = c->v[C_POP];
        double d = decay_to_clock(m, C_POP);
        double thr = tl_topk_threshold(h);
        for (size_t i = 0; i < c->n; i++) {
            if (!(v[i] > 0)) continue;
            qualified++;
            double s = v[i] * d;
            if (s < thr) continue;
            uint32_t id = items ? items[i] : (uint32_t)i;
            if (!tl_topk_accepts(h, id, s)) continue;
            if (skip && skip(ctx, id)) continue;
            tl_topk_push(h, id, s);
            thr = tl_topk_threshold(h);
        }
        return qualified;
    }
    const double *vs = c->v[C_SHORT], *vl = c->v[C_LONG];
    double ds = decay_to_clock(m, C_SHORT), dl = decay_to_clock(m, C_LONG);
    double ratio = m->p.trending_short_days / m->p.trending_long_days;
    double k = m->p.trending_prior_k, smin = m->p.trending_min_short;
    double thr = tl_topk_threshold(h);
    for (size_t i = 0; i < c->n; i++) {
        double S = vs[i] * ds;
        if (S < smin || !(S > 0)) continue;
        double E = vl[i] * dl * ratio;
        if (!(S > E)) continue;
        qualified++;
        double z = (S - E) / sqrt(E + k);
        if (z < thr) continue;
        uint32_t id = items ? items[i] : (uint32_t)i;
        if (!tl_topk_accepts(h, id, z)) continue;
        if (skip && skip(ctx, id)) continue;
        tl_topk_push(h, id, z);
        thr = tl_topk_threshold(h);
    }
    return qualified;
}

/* ---------- snapshots ---------- */

static struct snap *slot_acquire(struct slot *sl)
{
    pthread_mutex_lock(&sl->mu);
    struct snap *s = sl->snap;
    if (s) atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&sl->mu);
    return s;
}

static void slot_publish(struct slot *sl, struct snap *s)
{
    pthread_mutex_lock(&sl->mu);
    struct snap *old = sl->snap;
    sl->snap = s;
    pthread_mutex_unlock(&sl->mu);
    snap_release(old);
}

static int snap_fresh(const struct tl_pop *m, const struct snap *s, uint64_t gen, uint64_t now_ns)
{
    if (s->gen == gen) return 1;
    uint64_t age = now_ns - s->built_ns;
    if (age >= (uint64_t)m->p.cache_max_age_ms * 1000000ULL) return 0;
    return gen - s->gen < m->p.cache_max_updates || age < (uint64_t)m->p.cache_min_age_ms * 1000000ULL;
}

/* Build a snapshot for (kind, ci) (ci -1 = global). Returned with refs 1. */
static struct snap *snap_build(struct tl_pop *m, enum tl_pop_kind kind, int ci)
{
    size_t cap = m->p.cache_k;
    size_t bytes = sizeof(struct snap) + cap * sizeof(struct tl_topk_entry);
    struct snap *s = tl_malloc(bytes);
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    atomic_init(&s->refs, 1);
    s->bytes = bytes;
    struct tl_topk h;
    tl_topk_init(&h, s->e, cap);
    pthread_rwlock_rdlock(&m->lock);
    s->gen = atomic_load_explicit(&m->gen, memory_order_acquire);
    s->built_ns = tl_mono_ns();
    s->clock_ms = atomic_load_explicit(&m->clock, memory_order_relaxed);
    const struct ctrs *c = &m->global;
    if (ci >= 0) {
        s->country_weight = country_weight_locked(m, ci);
        if (s->country_weight < m->p.trending_country_min) s->use_global = 1;
        c = &m->countries[ci]->c;
    }
    if (!s->use_global) {
        size_t q = scan(m, kind, c, &h, NULL, NULL);
        s->truncated = q > h.n;
    }
    pthread_rwlock_unlock(&m->lock);
    s->n = tl_topk_sort(&h);
    return s;
}

/* Rebuild slot (kind, ci) unless another thread is already doing it.
 * Returns the new snapshot with a reference for the caller, or NULL. */
static struct snap *slot_rebuild(struct tl_pop *m, enum tl_pop_kind kind, int ci)
{
    struct slot *sl = &m->slots[kind - 1][ci + 1];
    int expect = 0;
    if (!atomic_compare_exchange_strong(&sl->building, &expect, 1)) return NULL;
    struct snap *ns = snap_build(m, kind, ci);
    if (ns) {
        atomic_fetch_add_explicit(&ns->refs, 1, memory_order_relaxed); /* the caller's */
        slot_publish(sl, ns);
    }
    atomic_store(&sl->building, 0);
    return ns;
}

/* A reference to a usable snapshot of (kind, ci), rebuilding it when stale;
 * NULL when none exists yet and another thread is building it (or no
 * memory): the caller then scans directly. */
static struct snap *snap_get(struct tl_pop *m, enum tl_pop_kind kind, int ci)
{
    struct snap *s = slot_acquire(&m->slots[kind - 1][ci + 1]);
    if (s && snap_fresh(m, s, atomic_load_explicit(&m->gen, memory_order_acquire), tl_mono_ns())) return s;
    struct snap *ns = slot_rebuild(m, kind, ci);
    if (!ns) return s; /* stale (or none) while another thread rebuilds */
    snap_release(s);
    return ns;
}

size_t tl_pop_refresh(struct tl_pop *m)
{
    if (!m) return 0;
    size_t rebuilt = 0;
    for (int k = 0; k < 2; k++)
        for (int si = 0; si < N_SLOTS; si++) {
            struct snap *s = slot_acquire(&m->slots[k][si]);
            if (!s) continue; /* never read: nothing to keep warm */
            int fresh = snap_fresh(m, s, atomic_load_explicit(&m->gen, memory_order_acquire), tl_mono_ns());
            snap_release(s);
            if (fresh) continue;
            struct snap *ns = slot_rebuild(m, (enum tl_pop_kind)(k + 1), si - 1);
            if (ns) rebuilt++;
            snap_release(ns);
        }
    return rebuilt;
}

/* ---------- queries ---------- */

/* Exact scan of one scope with skip (read lock taken here). For a country
 * (ci >= 0) the scope rule is applied first; returns 0 and leaves *n_out
 * alone when the country falls back to global. */
static int top_direct(struct tl_pop *m, enum tl_pop_kind kind, int ci, size_t k, int (*skip)(void *, uint32_t),
                      void *ctx, struct tl_topk *h, struct tl_pop_info *info)
{
    pthread_rwlock_rdlock(&m->lock);
    info->clock_ms = atomic_load_explicit(&m->clock, memory_order_relaxed);
    const struct ctrs *c = &m->global;
    if (ci >= 0) {
        info->country_weight = country_weight_locked(m, ci);
        if (info->country_weight < m->p.trending_country_min) {
            pthread_rwlock_unlock(&m->lock);
            return 0;
        }
        c = &m->countries[ci]->c;
    }
    scan(m, kind, c, h, skip, ctx);
    pthread_rwlock_unlock(&m->lock);
    info->from_cache = 0;
    return 1;
}

static size_t scope_size(const struct tl_pop *m, int ci)
{
    const struct ctrs *c = ci < 0 ? &m->global : &m->countries[ci]->c;
    return atomic_load_explicit(&c->n_pub, memory_order_relaxed);
}

/* Answer for one scope into h. Returns 0 if a country scope fell back. */
static int top_scope(struct tl_pop *m, enum tl_pop_kind kind, int ci, size_t k, int (*skip)(void *, uint32_t),
                     void *ctx, struct tl_topk *h, struct tl_pop_info *info)
{
    int cache = m->p.cache_k > 0 && k <= m->p.cache_k && scope_size(m, ci) > m->p.scan_direct_max;
    if (!cache) return top_direct(m, kind, ci, k, skip, ctx, h, info);
    struct snap *s = snap_get(m, kind, ci);
    if (!s) return top_direct(m, kind, ci, k, skip, ctx, h, info);
    if (ci >= 0) info->country_weight = s->country_weight;
    if (s->use_global) {
        snap_release(s);
        return 0;
    }
    info->clock_ms = s->clock_ms;
    info->from_cache = 1;
    for (size_t i = 0; i < s->n && h->n < k; i++) {
        if (skip && skip(ctx, s->e[i].id)) continue;
        h->e[h->n++] = s->e[i]; /* already best first: appending keeps the order */
    }
    int complete = h->n == k || !s->truncated;
    snap_release(s);
    if (complete) return 2; /* 2: h->e is already sorted */
    h->n = 0;
    return top_direct(m, kind, ci, k, skip, ctx, h, info);
}

enum tl_rc tl_pop_top_ex(struct tl_pop *m, enum tl_pop_kind kind, const char *country, size_t k,
                         int (*skip)(void *ctx, uint32_t item), void *skip_ctx, struct tl_pop_hit *out, size_t *n_out,
                         struct tl_pop_info *info)
{
    struct tl_pop_info tmp;
    if (!info) info = &tmp;
    memset(info, 0, sizeof *info);
    info->scope = SCOPE_GLOBAL;
    if (n_out) *n_out = 0;
    if (!m || !n_out || (!out && k > 0)) return TL_EINVAL;
    info->country_min = m->p.trending_country_min;
    info->clock_ms = tl_pop_clock(m);
    if (kind != TL_POP_POPULAR && kind != TL_POP_TRENDING) return TL_EINVAL;
    if (k > TL_POP_K_MAX) return TL_EINVAL;
    int code = country_code(country);
    if (code == -2) return TL_EINVAL;
    if (k == 0) return TL_OK;

    struct tl_topk_entry stack[STACK_HEAP];
    struct tl_topk_entry *buf = stack;
    if (k > STACK_HEAP) {
        buf = tl_malloc(k * sizeof *buf);
        if (!buf) return TL_ENOMEM;
    }
    struct tl_topk h;
    tl_topk_init(&h, buf, k);
    int ci = code >= 0 ? atomic_load_explicit(&m->code_idx[code], memory_order_acquire) : -1;
    int r = 0;
    if (ci >= 0) {
        r = top_scope(m, kind, ci, k, skip, skip_ctx, &h, info);
        if (r) info->scope = SCOPE_COUNTRY;
    }
    if (!r) r = top_scope(m, kind, -1, k, skip, skip_ctx, &h, info);
    size_t n = r == 2 ? h.n : tl_topk_sort(&h);
    for (size_t i = 0; i < n; i++) {
        out[i].item = buf[i].id;
        out[i].score = buf[i].score;
    }
    *n_out = n;
    if (buf != stack) tl_free(buf);
    return TL_OK;
}

enum tl_rc tl_pop_top(struct tl_pop *m, enum tl_pop_kind kind, const char *country, size_t k,
                      int (*skip)(void *ctx, uint32_t item), void *skip_ctx, struct tl_pop_hit *out, size_t *n_out,
                      const char **scope_out)
{
    struct tl_pop_info info;
    enum tl_rc rc = tl_pop_top_ex(m, kind, country, k, skip, skip_ctx, out, n_out, &info);
    if (scope_out) *scope_out = info.scope;
    return rc;
}

int64_t tl_pop_clock(const struct tl_pop *m)
{
    if (!m) return 0;
    return atomic_load_explicit(&((struct tl_pop *)m)->clock, memory_order_relaxed);
}

size_t tl_pop_memory(const struct tl_pop *cm)
{
    if (!cm) return 0;
    struct tl_pop *m = (struct tl_pop *)cm; /* locks are not const */
    size_t b = sizeof *m;
    pthread_rwlock_rdlock(&m->lock);
    b += ctrs_memory(&m->global);
    for (int c = 0; c < m->n_countries; c++) b += sizeof(struct country) + ctrs_memory(&m->countries[c]->c);
    pthread_rwlock_unlock(&m->lock);
    for (int k = 0; k < 2; k++)
        for (int s = 0; s < N_SLOTS; s++) {
            struct slot *sl = &m->slots[k][s];
            pthread_mutex_lock(&sl->mu);
            if (sl->snap) b += sl->snap->bytes;
            pthread_mutex_unlock(&sl->mu);
        }
    return b;
}
