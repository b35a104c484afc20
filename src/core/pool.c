/* Fork-join pool (see pool.h).
 *
 * Hand-off: the caller writes the job (fn, ctx, n), sets `pending` to the
 * worker count and bumps `gen` (release) under the mutex, then broadcasts.
 * A worker that sees a new gen (acquire) runs its range and decrements
 * `pending`; the one that brings it to 0 signals `done` under the mutex, and
 * the caller re-checks `pending` under the mutex before sleeping, so no
 * wake-up is lost. Both sides spin SPIN_ITERS pause loops before sleeping. */
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>

#include "core/alloc.h"

#define SPIN_ITERS 2000 /* pause loops before sleeping: 2000 x 65-140 cycles, ~40-100 us */

struct worker {
    struct tl_pool *p;
    int index;
};

struct tl_pool {
    int threads, started;
    pthread_t th[TL_POOL_MAX];
    struct worker wk[TL_POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    atomic_uint gen;
    atomic_int pending;
    int stop;
    tl_pool_fn fn;
    void *ctx;
    size_t n;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_part(struct tl_pool *p, int t)
{
    size_t a = p->n * (size_t)t / (size_t)p->threads, b = p->n * (size_t)(t + 1) / (size_t)p->threads;
    if (a < b) p->fn(p->ctx, a, b);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct tl_pool *p = w->p;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int i = 0; i < SPIN_ITERS && g == seen; i++) {
            cpu_relax();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !p->stop)
                pthread_cond_wait(&p->go, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (g == seen || p->stop) break; /* stop is written before its gen bump */
        seen = g;
        run_part(p, w->index);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

struct tl_pool *tl_pool_new(int threads)
{
    struct tl_pool *p = tl_calloc(1, sizeof *p);
    if (!p) return NULL;
    if (threads < 1) threads = 1;
    if (threads > TL_POOL_MAX) threads = TL_POOL_MAX;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    p->threads = 1;
    for (int t = 1; t < threads; t++) {
        p->wk[t] = (struct worker){p, t};
        if (pthread_create(&p->th[t], NULL, worker_main, &p->wk[t]) != 0) break;
        p->started = t;
    }
    p->threads = p->started + 1;
    return p;
}

void tl_pool_free(struct tl_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t <= p->started; t++) pthread_join(p->th[t], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    tl_free(p);
}

int tl_pool_threads(const struct tl_pool *p) { return p ? p->threads : 1; }

void tl_pool_for(struct tl_pool *p, size_t n, tl_pool_fn fn, void *ctx)
{
    if (!p || p->threads <= 1 || n < 2 * (size_t)p->threads) {
        if (n) fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn, p->ctx = ctx, p->n = n;
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    run_part(p, 0);
    for (int i = 0; i < SPIN_ITERS && atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++) cpu_relax();
    if (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
