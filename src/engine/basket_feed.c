/* Start-up co-occurrence counting on worker threads (see basket_feed.h).
 *
 * Two workers, one per relation: "bought together" (its own cooc lock and
 * tables) and "also bought" (the customer sets and cooc's other relation).
 * They share nothing, so both apply each buffer at once. Two buffers: the
 * caller fills one while the workers apply the other. State under mu:
 * `fill` is the caller's buffer; `gen` counts hand-offs, and a worker whose
 * own count is behind applies b[1 - fill]; `pending` is the number of
 * workers not yet done with it. The caller hands off only when pending is 0,
 * so a buffer never changes under a worker. */
#include "engine/basket_feed.h"

#include <pthread.h>

#include "core/alloc.h"
#include "engine/internal.h"
#include "engine/itemsets.h"
#include "model/cooc.h"

enum { BOUGHT_TOGETHER, ALSO_BOUGHT, WORKERS };

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

struct tl_basket_feed;

struct worker {
    struct tl_basket_feed *f;
    int rel; /* BOUGHT_TOGETHER or ALSO_BOUGHT */
    pthread_t th;
};

struct tl_basket_feed {
    struct worker w[WORKERS];
    int started; /* workers running */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct feed_buf b[2];
    int fill;     /* buffer the caller fills */
    uint64_t gen; /* hand-offs so far */
    int pending;  /* workers still applying b[1 - fill] */
    int stop;
};

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

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct tl_basket_feed *f = w->f;
    uint64_t done = 0;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (f->gen == done && !f->stop) pthread_cond_wait(&f->cv, &f->mu);
        if (f->gen == done) break; /* stop, and nothing left */
        done = f->gen;
        const struct feed_buf *b = &f->b[1 - f->fill];
        pthread_mutex_unlock(&f->mu);
        for (uint32_t i = 0; i < b->n_recs; i++) {
            const struct rec *r = &b->recs[i];
            apply_rel(w->rel, r->s, r->customer, r->has_customer, b->idx + r->off, r->n);
        }
        pthread_mutex_lock(&f->mu);
        if (--f->pending == 0) pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static void stop_workers(struct tl_basket_feed *f)
{
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    for (int i = 0; i < f->started; i++) pthread_join(f->w[i].th, NULL);
    f->started = 0;
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
    for (int i = 0; i < WORKERS; i++) {
        f->w[i] = (struct worker){f, i, 0};
        if (pthread_create(&f->w[i].th, NULL, worker_main, &f->w[i]) != 0) {
            stop_workers(f); /* nothing was fed yet: the caller counts inline */
            feed_free(f);
            return NULL;
        }
        f->started++;
    }
    return f;
}

/* Give the caller's buffer to the workers, once they are done with the
 * other, which becomes the caller's (emptied). */
static void hand_off(struct tl_basket_feed *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->pending) pthread_cond_wait(&f->cv, &f->mu);
    f->fill = 1 - f->fill;
    f->b[f->fill].n_recs = f->b[f->fill].n_idx = 0;
    f->pending = WORKERS;
    f->gen++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Every order fed so far applied; the workers idle until the next hand-off. */
static void drain(struct tl_basket_feed *f)
{
    if (f->b[f->fill].n_recs) hand_off(f);
    pthread_mutex_lock(&f->mu);
    while (f->pending) pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

void tl_basket_feed_add(struct tl_basket_feed *f, struct tl_shop_state *s, uint64_t customer, int has_customer,
                        const uint32_t *idx, size_t n)
{
    if (!f || n > TL_BASKET_FEED_LINES) {
        /* no workers; or larger than a buffer: in order, on the caller,
         * the workers idle */
        if (f) drain(f);
        apply_rel(ALSO_BOUGHT, s, customer, has_customer, idx, n);
        apply_rel(BOUGHT_TOGETHER, s, customer, has_customer, idx, n);
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
    stop_workers(f);
    feed_free(f);
}
