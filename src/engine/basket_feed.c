/* Start-up co-occurrence counting on a worker thread (see basket_feed.h).
 *
 * Two buffers: the caller fills one while the worker applies the other.
 * State under mu: `fill` is the caller's buffer; `full` says the other one
 * holds orders for the worker (set by hand_off, cleared by the worker when
 * it has applied them). The caller hands off only when `full` is clear, so
 * the worker's buffer never changes under it. */
#include "engine/basket_feed.h"

#include <pthread.h>

#include "core/alloc.h"
#include "engine/internal.h"
#include "engine/itemsets.h"
#include "model/cooc.h"

struct rec {
    struct tl_shop_state *s;
    uint64_t customer;
    uint32_t off, n;
    int has_customer;
};

struct feed_buf {
    struct rec *recs;
    uint32_t *idx;
    uint32_t n_recs, n_idx;
};

struct tl_basket_feed {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct feed_buf b[2];
    int fill; /* buffer the caller fills */
    int full; /* b[1 - fill] holds orders for the worker */
    int stop;
};

/* What the order scan did inline before this feed existed (engine.c
 * load_order_cb): every line grows the customer's set, then the first
 * TL_COOC_BASKET_MAX lines count as the order's basket. Errors (out of
 * memory, a full set table) leave those counts short, as they did there. */
static void apply_one(struct tl_shop_state *s, uint64_t customer, int has_customer, const uint32_t *idx, size_t n)
{
    if (has_customer)
        for (size_t i = 0; i < n; i++)
            (void)tl_itemsets_grow(&s->bought_sets, customer, idx[i], s->cooc, TL_COOC_ALSO_BOUGHT);
    (void)tl_cooc_add_basket(s->cooc, TL_COOC_BOUGHT_TOGETHER, idx, n < TL_COOC_BASKET_MAX ? n : TL_COOC_BASKET_MAX);
}

static void *worker(void *arg)
{
    struct tl_basket_feed *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->full && !f->stop) pthread_cond_wait(&f->cv, &f->mu);
        if (!f->full) break; /* stop, and nothing left */
        struct feed_buf *b = &f->b[1 - f->fill];
        pthread_mutex_unlock(&f->mu);
        for (uint32_t i = 0; i < b->n_recs; i++) {
            const struct rec *r = &b->recs[i];
            apply_one(r->s, r->customer, r->has_customer, b->idx + r->off, r->n);
        }
        b->n_recs = b->n_idx = 0;
        pthread_mutex_lock(&f->mu);
        f->full = 0;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static void feed_free(struct tl_basket_feed *f)
{
    for (int i = 0; i < 2; i++) {
        tl_free(f->b[i].recs);
        tl_free(f->b[i].idx);
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    tl_free(f);
}

struct tl_basket_feed *tl_basket_feed_start(void)
{
    struct tl_basket_feed *f = tl_calloc(1, sizeof *f);
    if (!f) return NULL;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    for (int i = 0; i < 2; i++) {
        f->b[i].recs = tl_malloc(TL_BASKET_FEED_ORDERS * sizeof *f->b[i].recs);
        f->b[i].idx = tl_malloc(TL_BASKET_FEED_LINES * sizeof *f->b[i].idx);
        if (!f->b[i].recs || !f->b[i].idx) {
            feed_free(f);
            return NULL;
        }
    }
    if (pthread_create(&f->th, NULL, worker, f) != 0) {
        feed_free(f);
        return NULL;
    }
    return f;
}

/* Give the caller's buffer to the worker (once it is done with the other). */
static void hand_off(struct tl_basket_feed *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->full) pthread_cond_wait(&f->cv, &f->mu);
    f->fill = 1 - f->fill;
    f->full = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Every order fed so far applied; the worker idle until the next hand-off. */
static void drain(struct tl_basket_feed *f)
{
    if (f->b[f->fill].n_recs) hand_off(f);
    pthread_mutex_lock(&f->mu);
    while (f->full) pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

void tl_basket_feed_add(struct tl_basket_feed *f, struct tl_shop_state *s, uint64_t customer, int has_customer,
                        const uint32_t *idx, size_t n)
{
    if (!f) {
        apply_one(s, customer, has_customer, idx, n);
        return;
    }
    if (n > TL_BASKET_FEED_LINES) { /* larger than a buffer: in order, on the caller, the worker idle */
        drain(f);
        apply_one(s, customer, has_customer, idx, n);
        return;
    }
    struct feed_buf *b = &f->b[f->fill];
    if (b->n_recs == TL_BASKET_FEED_ORDERS || b->n_idx + n > TL_BASKET_FEED_LINES) {
        hand_off(f);
        b = &f->b[f->fill];
    }
    b->recs[b->n_recs++] = (struct rec){s, customer, b->n_idx, (uint32_t)n, has_customer};
    for (size_t i = 0; i < n; i++) b->idx[b->n_idx++] = idx[i];
}

void tl_basket_feed_finish(struct tl_basket_feed *f)
{
    if (!f) return;
    drain(f);
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->th, NULL);
    feed_free(f);
}
