/* Ordered hand-off of batches to worker threads (see relay.h).
 *
 * State under mu: `fill` is the producer's batch; `gen` counts hand-offs,
 * and a worker whose own count is behind processes b[1 - fill]; `pending`
 * is the number of workers not yet done with it. The producer hands off
 * only when pending is 0, so a batch never changes under a worker. */
#include "core/relay.h"

#include <pthread.h>
#include <stdint.h>

#include "core/alloc.h"

struct batch {
    unsigned char *data;
    size_t len;
};

struct worker {
    struct tl_relay *r;
    int index;
    pthread_t th;
};

struct tl_relay {
    tl_relay_fn fn;
    void *ctx;
    size_t cap;
    int n_workers, started;
    struct worker w[TL_RELAY_WORKERS_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct batch b[2];
    int fill;     /* batch the producer fills */
    uint64_t gen; /* hand-offs so far */
    int pending;  /* workers still on b[1 - fill] */
    int stop;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct tl_relay *r = w->r;
    uint64_t done = 0;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (r->gen == done && !r->stop) pthread_cond_wait(&r->cv, &r->mu);
        if (r->gen == done) break; /* stop, and nothing left */
        done = r->gen;
        const struct batch *b = &r->b[1 - r->fill];
        pthread_mutex_unlock(&r->mu);
        r->fn(r->ctx, w->index, b->data, b->len);
        pthread_mutex_lock(&r->mu);
        if (--r->pending == 0) pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void stop_workers(struct tl_relay *r)
{
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->started; i++) pthread_join(r->w[i].th, NULL);
    r->started = 0;
}

static void relay_free(struct tl_relay *r)
{
    tl_free(r->b[0].data);
    tl_free(r->b[1].data);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    tl_free(r);
}

struct tl_relay *tl_relay_start(int workers, size_t batch_bytes, tl_relay_fn fn, void *ctx)
{
    if (workers < 1 || workers > TL_RELAY_WORKERS_MAX || !batch_bytes || !fn) return NULL;
    struct tl_relay *r = tl_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->fn = fn;
    r->ctx = ctx;
    r->cap = batch_bytes;
    r->n_workers = workers;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->b[0].data = tl_malloc(batch_bytes);
    r->b[1].data = tl_malloc(batch_bytes);
    if (!r->b[0].data || !r->b[1].data) {
        relay_free(r);
        return NULL;
    }
    for (int i = 0; i < workers; i++) {
        r->w[i] = (struct worker){r, i, 0};
        if (pthread_create(&r->w[i].th, NULL, worker_main, &r->w[i]) != 0) {
            stop_workers(r);
            relay_free(r);
            return NULL;
        }
        r->started++;
    }
    return r;
}

/* Give the producer's batch to the workers, once they are done with the
 * other, which becomes the producer's (emptied). */
static void hand_off(struct tl_relay *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->pending) pthread_cond_wait(&r->cv, &r->mu);
    r->fill = 1 - r->fill;
    r->b[r->fill].len = 0;
    r->pending = r->n_workers;
    r->gen++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

unsigned char *tl_relay_room(struct tl_relay *r, size_t n)
{
    if (n > r->cap) return NULL;
    if (r->cap - r->b[r->fill].len < n) hand_off(r);
    return r->b[r->fill].data + r->b[r->fill].len;
}

void tl_relay_used(struct tl_relay *r, size_t n) { r->b[r->fill].len += n; }

void tl_relay_drain(struct tl_relay *r)
{
    if (r->b[r->fill].len) hand_off(r);
    pthread_mutex_lock(&r->mu);
    while (r->pending) pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

void tl_relay_finish(struct tl_relay *r)
{
    if (!r) return;
    tl_relay_drain(r);
    stop_workers(r);
    relay_free(r);
}
