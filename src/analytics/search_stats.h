/* Search analytics and learning from behaviour, per shop: what shoppers
 * search for, which searches find nothing, which lead to clicks, carts and
 * purchases, and which products shoppers choose for a query (the learned
 * boost search ranking uses).
 *
 * Fed with events in time order per shopper (live, and once at start from
 * the stored events, which are the record: nothing here is persisted on its
 * own). Thread-safe: one mutex; readers copy what they need out.
 *
 * Ownership: the object owns every string it keeps; strings passed in are
 * borrowed for the call. */
#ifndef TL_ANALYTICS_SEARCH_STATS_H
#define TL_ANALYTICS_SEARCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "tailor/rc.h"

#define TL_SSTATS_QUERY_MAX 200         /* bytes of a normalised query kept */
#define TL_SSTATS_QUERIES_MAX 200000u   /* distinct (shop, query) tracked; beyond, new ones are dropped */
#define TL_SSTATS_PAIRS_MAX 2000000u    /* (query, item) learned pairs tracked */
#define TL_SSTATS_SHOPPERS_MAX 1000000u /* shoppers whose last search is remembered */
#define TL_SSTATS_LEARNED_MAX 64        /* learned items returned per query */

enum tl_sstats_action { TL_SSTATS_CLICK = 0, TL_SSTATS_CART, TL_SSTATS_PURCHASE };

struct tl_sstats_params {
    int64_t follow_ms;                  /* an action this soon after a search credits it (30 min) */
    int64_t dedupe_ms;                  /* the same shopper repeating a query within this counts once (30 min) */
    double half_life_days;              /* decay of learned (query, item) scores (30) */
    double w_click, w_cart, w_purchase; /* credit per action (1, 3, 5) */
};

struct tl_sstats;

/* NULL params = defaults above. Returns NULL on out of memory. */
struct tl_sstats *tl_sstats_new(const struct tl_sstats_params *p);
void tl_sstats_free(struct tl_sstats *st);

/* Normalise a query for counting: trim, lower-case ASCII, collapse runs of
 * white space to one space, cut at TL_SSTATS_QUERY_MAX bytes on a UTF-8
 * boundary. Writes into out (cap >= TL_SSTATS_QUERY_MAX + 1); returns length. */
size_t tl_sstats_normalize(const char *q, char *out, size_t cap);

/* A shopper searched. results < 0 when unknown (an event sent by a
 * storefront), else the number of matches the server found. shopper is a
 * stable hash of the shopper (0 = unknown: counted, never credited). */
void tl_sstats_search(struct tl_sstats *st, uint32_t shop, uint64_t shopper, const char *query, long results,
                      int64_t ts_ms);
/* A shopper clicked / carted / bought item (catalog index) at ts_ms: credits
 * their last search if it was within follow_ms. */
void tl_sstats_action(struct tl_sstats *st, uint32_t shop, uint64_t shopper, uint32_t item, enum tl_sstats_action a,
                      double amount, int64_t ts_ms);

/* Learned items of a normalised query at now_ms: up to max (item, weight)
 * with weight in (0, 1] = score / best score of the query, best first.
 * Returns the count. */
size_t tl_sstats_learned(struct tl_sstats *st, uint32_t shop, const char *norm_query, int64_t now_ms, uint32_t *items,
                         double *weights, size_t max);

/* Completions of a normalised prefix from the shop's past searches that
 * led to at least one click: up to max queries, most clicked-through first
 * (ties: alphabetical). Served from a sorted snapshot rebuilt at most every
 * TL_SSTATS_COMPLETE_REFRESH_MS when something changed; a prefix scans at
 * most TL_SSTATS_COMPLETE_SCAN entries of it. Returns the count. */
#define TL_SSTATS_COMPLETE_REFRESH_MS 5000
#define TL_SSTATS_COMPLETE_SCAN 4096
size_t tl_sstats_complete(struct tl_sstats *st, uint32_t shop, const char *norm_prefix,
                          char (*out)[TL_SSTATS_QUERY_MAX + 1], uint32_t *counts, size_t max);

/* {"queries_tracked":N,"top":[{"query","searches","zero_results",
 *  "clicked_searches","clicks","carts","purchases","ctr"}...],
 *  "zero_results":[{"query","searches","zero_results"}...],"queries_dropped":N}
 * for shop, top `limit` each (by searches, by zero results). ctr =
 * clicked_searches / searches (searches followed by at least one click). */
enum tl_rc tl_sstats_report_json(struct tl_sstats *st, uint32_t shop, size_t limit, struct tl_buf *out);

#endif
