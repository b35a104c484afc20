/* Popular and trending items of one shop, globally and per country, updated
 * incrementally on every event and read by many threads at once.
 *
 * Items are dense uint32 indexes assigned by the engine's in-memory catalog
 * (0 .. TL_POP_ITEMS_MAX-1). Countries are ISO 3166-1 alpha-2 codes (two
 * ASCII letters, either case) or NULL / "" for unknown.
 *
 * Scores (formulas and constants in popularity.c):
 *   popular  P_i  = sum_e w_e * 2^(-(T - t_e) / H_pop)          (H_pop 30 d)
 *   trending z_i  = (S_i - E_i) / sqrt(E_i + k),  E_i = L_i * h_s / h_l
 *            where S and L are the same decayed sums with half-lives
 *            h_s = 3 d and h_l = 28 d, k = 5; only S - E > 0 and S >= 2 trend.
 * T is the data clock: the latest event time seen (tl_pop_clock), not the
 * wall clock, so a store replayed from 2011 still ranks meaningfully.
 *
 * Country scope: a request for country C uses C's own counters only when C's
 * decayed short-window weight (half-life h_s) at the data clock is at least
 * trending_country_min (default 30); otherwise it falls back to the global
 * counters and reports scope "global".
 *
 * Thread safety: every function except tl_pop_new/tl_pop_free may be called
 * from any number of threads at once (writers and readers). */
#ifndef TL_MODEL_POPULARITY_H
#define TL_MODEL_POPULARITY_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/types.h"
#include "tailor/rc.h"

#define TL_POP_ITEMS_MAX (1u << 24)     /* item indexes must be below this */
#define TL_POP_COUNTRIES_MAX 256        /* distinct countries tracked per shop */
#define TL_POP_K_MAX 10000              /* largest k tl_pop_top accepts */
#define TL_POP_CACHE_K_MAX 10000        /* largest cached list */
#define TL_POP_TS_MAX 253402300799999LL /* 9999-12-31T23:59:59.999Z */

enum tl_pop_kind { TL_POP_POPULAR = 1, TL_POP_TRENDING = 2 };

/* How a purchase line's quantity affects its weight. */
enum tl_pop_qty {
    TL_POP_QTY_IGNORE = 0, /* one order line counts w_purchase (default) */
    TL_POP_QTY_LOG = 1     /* w_purchase * log2(1 + q): q=1 -> 1x, q=3 -> 2x */
};

struct tl_pop_params {
    double w_view;                 /* 1: product_view */
    double w_cart;                 /* 3: add_to_cart */
    double w_purchase;             /* 5: purchase, per order line */
    enum tl_pop_qty purchase_qty;  /* TL_POP_QTY_IGNORE */
    double popular_half_life_days; /* 30: H_pop */
    double trending_short_days;    /* 3: h_s */
    double trending_long_days;     /* 28: h_l, must be > h_s */
    double trending_prior_k;       /* 5: k in sqrt(E + k) */
    double trending_min_short;     /* 2: minimum S to trend */
    double trending_country_min;   /* 30: country short-window weight needed */
    /* Read cache (see popularity.c "Serving"): */
    size_t cache_k;             /* 200: entries per cached list; 0 = always scan */
    int64_t cache_max_age_ms;   /* 1000: a changed list is rebuilt after this */
    int64_t cache_min_age_ms;   /* 100: ... or once at least this old and */
    uint64_t cache_max_updates; /* 1000: ... this many events arrived */
    size_t scan_direct_max;     /* 4096: scopes with <= this many items are scanned exactly */
};

struct tl_pop_hit {
    uint32_t item;
    double score; /* P_i for popular, z_i for trending, at the data clock */
};

/* What a tl_pop_top_ex answer was based on. */
struct tl_pop_info {
    const char *scope;     /* "global" | "country" (static strings) */
    double country_weight; /* requested country's decayed short-window weight
                            * at the data clock (0 if none / unknown) */
    double country_min;    /* the threshold it was compared to */
    int64_t clock_ms;      /* data clock the scores refer to */
    int from_cache;        /* 1: served from a cached snapshot */
};

struct tl_pop;

/* Defaults listed above. */
void tl_pop_params_defaults(struct tl_pop_params *p);
/* TL_EINVAL with the field name when a parameter is out of range. */
enum tl_rc tl_pop_params_check(const struct tl_pop_params *p, struct tl_err *err);

/* New empty model; p NULL = defaults. NULL on invalid params (see
 * tl_pop_params_check) or out of memory. Caller frees with tl_pop_free. */
struct tl_pop *tl_pop_new(const struct tl_pop_params *p);
void tl_pop_free(struct tl_pop *m);

/* Apply one event about `item`. product_view, add_to_cart and purchase (one
 * call per order line, `quantity` used only with TL_POP_QTY_LOG) count; other
 * types (returns included) return TL_OK and change nothing. Errors, with
 * nothing applied: TL_EINVAL (bad country, ts_ms outside 0..TL_POP_TS_MAX, NULL model),
 * TL_ETOOBIG (item >= TL_POP_ITEMS_MAX), TL_ENOMEM. Timestamps may arrive in
 * any order. A 257th distinct country is counted globally only. */
enum tl_rc tl_pop_add(struct tl_pop *m, uint32_t item, const char *country, int64_t ts_ms, enum tl_event_type type,
                      double quantity);

/* Up to k items, best first, skipping items for which skip(ctx, item) != 0
 * (skip may be NULL). `out` has room for k hits; *n_out receives the count;
 * *scope_out (may be NULL) receives "country" or "global". country NULL/""
 * = global. TL_EINVAL: bad kind, bad country, k > TL_POP_K_MAX, NULL out.
 * skip may be called concurrently from several threads and must not call
 * back into this model. */
enum tl_rc tl_pop_top(struct tl_pop *m, enum tl_pop_kind kind, const char *country, size_t k,
                      int (*skip)(void *ctx, uint32_t item), void *skip_ctx, struct tl_pop_hit *out, size_t *n_out,
                      const char **scope_out);
/* Same, with the scope decision detail in *info (may be NULL). */
enum tl_rc tl_pop_top_ex(struct tl_pop *m, enum tl_pop_kind kind, const char *country, size_t k,
                         int (*skip)(void *ctx, uint32_t item), void *skip_ctx, struct tl_pop_hit *out, size_t *n_out,
                         struct tl_pop_info *info);

/* Rebuild every cached list that is stale (see cache_* params) and return how
 * many were rebuilt. Optional: call it from a background thread (every
 * cache_min_age_ms or so) and readers practically never pay for a rebuild;
 * without it the first reader that finds a list stale rebuilds it. */
size_t tl_pop_refresh(struct tl_pop *m);

/* Data clock: the latest event time applied (ms), 0 before any event. */
int64_t tl_pop_clock(const struct tl_pop *m);
/* Bytes held by the model (counters, country tables, cached lists). */
size_t tl_pop_memory(const struct tl_pop *m);

#endif
