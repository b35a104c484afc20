/* Start-up co-occurrence counting on worker threads (see basket_feed.h),
 * over a relay (src/core/relay.h) with two workers, one per relation:
 * "bought together" (its own cooc lock and tables) and "also bought" (the
 * customer sets and cooc's other relation). They share nothing, so both
 * apply each batch at once.
 *
 * A record: struct rec, then n u32 catalog indexes, padded to 8 bytes. */
#include "engine/basket_feed.h"

#include <string.h>

#include "core/alloc.h"
#include "core/relay.h"
#include "engine/internal.h"
#include "engine/itemsets.h"
#include "model/cooc.h"

enum { BOUGHT_TOGETHER, ALSO_BOUGHT, WORKERS };

struct rec {
    struct tl_shop_state *s;
    uint64_t customer;
    uint32_t n;
    int32_t has_customer;
};

struct tl_basket_feed {
    struct tl_relay *relay;
};

static size_t rec_size(size_t n) { return sizeof(struct rec) + ((n * sizeof(uint32_t) + 7) & ~(size_t)7); }

/* What the order scan did inline before this feed existed (engine.c
 * load_order_cb), one relation: every line grows the customer's set; the
 * first TL_COOC_BASKET_MAX lines count as the order's basket. Errors (out of
 * memory, a full set table) leave those counts short, as they did there. */
static void apply_rel(int rel, struct tl_shop_state *s, uint64_t customer, int has_customer, const uint32_t *idx,
                      size_t n)
{
    if (rel == BOUGHT_TOGETHER)
        (void)tl_cooc_add_basket(s->cooc, TL_COOC_BOUGHT_TOGETHER, idx,
                                 n < TL_COOC_BASKET_MAX ? n : TL_COOC_BASKET_MAX);
    else if (has_customer)
        for (size_t i = 0; i < n; i++)
            (void)tl_itemsets_grow(&s->bought_sets, customer, idx[i], s->cooc, TL_COOC_ALSO_BOUGHT);
}

static void apply_batch(void *ctx, int worker, const unsigned char *data, size_t len)
{
    (void)ctx;
    for (size_t off = 0; off < len;) {
        struct rec r;
        memcpy(&r, data + off, sizeof r);
        apply_rel(worker, r.s, r.customer, r.has_customer, (const uint32_t *)(data + off + sizeof r), r.n);
        off += rec_size(r.n);
    }
}

struct tl_basket_feed *tl_basket_feed_start(void)
{
    struct tl_basket_feed *f = tl_calloc(1, sizeof *f);
    if (!f) return NULL;
    if (!(f->relay = tl_relay_start(WORKERS, TL_BASKET_FEED_BYTES, apply_batch, NULL))) {
        tl_free(f);
        return NULL; /* the caller counts inline */
    }
    return f;
}

void tl_basket_feed_add(struct tl_basket_feed *f, struct tl_shop_state *s, uint64_t customer, int has_customer,
                        const uint32_t *idx, size_t n)
{
    unsigned char *p = f && n <= UINT32_MAX ? tl_relay_room(f->relay, rec_size(n)) : NULL;
    if (!p) {
        /* no workers; or larger than a batch: in order, on the caller,
         * the workers idle */
        if (f) tl_relay_drain(f->relay);
        apply_rel(ALSO_BOUGHT, s, customer, has_customer, idx, n);
        apply_rel(BOUGHT_TOGETHER, s, customer, has_customer, idx, n);
        return;
    }
    struct rec r = {s, customer, (uint32_t)n, has_customer != 0};
    memcpy(p, &r, sizeof r);
    if (n) memcpy(p + sizeof r, idx, n * sizeof *idx);
    tl_relay_used(f->relay, rec_size(n));
}

void tl_basket_feed_finish(struct tl_basket_feed *f)
{
    if (!f) return;
    tl_relay_finish(f->relay);
    tl_free(f);
}
