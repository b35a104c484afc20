/* Start-up counting of the order-based co-occurrence relations on a second
 * thread. Opening a database replays every stored order into "bought
 * together" (one set per order) and "also bought" (one set per customer,
 * grown order by order); those counts are most of the order scan's work
 * (random access into tables far larger than the caches). The scan hands
 * each order's catalog indexes to this feed and goes on reading the next
 * orders, popularity and analytics; two worker threads, one per relation,
 * apply them in scan order, exactly as the scan itself did before:
 *   tl_itemsets_grow(&s->bought_sets, customer, idx) for every line, and
 *   tl_cooc_add_basket(s->cooc, TL_COOC_BOUGHT_TOGETHER, first 100 lines)
 * (the two relations share no state, so their order relative to each other
 * does not matter). Between tl_basket_feed_start and tl_basket_feed_finish
 * the workers are the only users of the fed shops' cooc and bought_sets;
 * the caller touches neither. Memory is bounded: two batches of
 * TL_BASKET_FEED_BYTES (src/core/relay.h), one filled while the workers
 * apply the other. */
#ifndef TL_ENGINE_BASKET_FEED_H
#define TL_ENGINE_BASKET_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "tailor/rc.h"

/* bytes per batch: 24 per order plus 4 per line (an order of more lines
 * than fit is applied on the caller) */
#define TL_BASKET_FEED_BYTES ((size_t)512 * 1024)

struct tl_shop_state;
struct tl_basket_feed;

/* The worker threads started; NULL (and the caller counts inline, as
 * tl_basket_feed_add then does) when they cannot be. */
struct tl_basket_feed *tl_basket_feed_start(void);
/* One order of shop s: customer key (tl_engine_customer_key), has_customer
 * 0 for none; idx[0..n) its lines' catalog indexes in line order. f NULL
 * applies it at once on the caller. */
void tl_basket_feed_add(struct tl_basket_feed *f, struct tl_shop_state *s, uint64_t customer, int has_customer,
                        const uint32_t *idx, size_t n);
/* Waits until every order fed is applied, stops the workers, frees f. */
void tl_basket_feed_finish(struct tl_basket_feed *f);

#endif
