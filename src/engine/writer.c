/* Group-commit writer thread (see writer.h).
 *
 * Invariants: only the writer thread touches the store handle after start;
 * `queue` is a FIFO singly linked list protected by `mu`; a job is freed by
 * its submitter (synchronous jobs live on the submitter's stack) or by the
 * writer (async jobs) after `done` is set. */
#include "engine/writer.h"

#include <pthread.h>
#include <stdatomic.h>

#include "core/alloc.h"
#include "core/log.h"

struct job {
    tl_wjob_fn fn;
    void *arg;
    void (*free_fn)(void *);
    size_t weight;
    int async;
    int unsynced; /* tl_writer_submit_unsynced */
    int bare;     /* tl_writer_run_bare: alone, outside any transaction */
    int done;
    enum tl_rc rc;
    struct job *next;
};

struct tl_writer {
    const struct tl_store_ops *ops;
    struct tl_store *st;
    size_t queue_max;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* queue non-empty or stopping */
    pthread_cond_t done; /* some jobs completed */
    struct job *head, *tail;
    size_t depth;
    int stopping;
    atomic_uint_fast64_t commits;
};

static void run_batch(struct tl_writer *w, struct job *batch)
{
    if (batch->bare) { /* a batch of its own (take_batch) */
        batch->rc = batch->fn(w->ops, w->st, batch->arg);
        return;
    }
    int unsynced = w->ops->skip_sync != NULL;
    for (struct job *j = batch; j; j = j->next) unsynced &= j->unsynced;
    if (unsynced) w->ops->skip_sync(w->st); /* every job of the batch allows it */
    enum tl_rc rc = w->ops->begin(w->st);
    int failed = rc != TL_OK;
    for (struct job *j = batch; j && !failed; j = j->next) {
        j->rc = j->fn(w->ops, w->st, j->arg);
        if (j->rc) failed = 1;
    }
    if (!failed && w->ops->commit(w->st) == TL_OK) {
        atomic_fetch_add(&w->commits, 1);
        return;
    }
    /* Something failed: undo the batch, then give each job its own
     * transaction so only the bad one fails. A batch of one job is not
     * replayed (an import job must not run twice). */
    w->ops->rollback(w->st);
    if (!batch->next) {
        if (batch->rc == TL_OK) batch->rc = TL_ESTORE; /* the commit itself failed */
        return;
    }
    for (struct job *j = batch; j; j = j->next) {
        if (j->unsynced && w->ops->skip_sync) w->ops->skip_sync(w->st);
        if ((j->rc = w->ops->begin(w->st)) != TL_OK) continue;
        j->rc = j->fn(w->ops, w->st, j->arg);
        if (j->rc == TL_OK) j->rc = w->ops->commit(w->st);
        if (j->rc != TL_OK) {
            w->ops->rollback(w->st);
            tl_warn("writer: job failed: %s", tl_rc_message(j->rc));
        } else {
            atomic_fetch_add(&w->commits, 1);
        }
    }
}

/* The jobs of the next transaction (caller holds mu): every queued job up
 * to the first bare one, or that bare job alone. */
static struct job *take_batch(struct tl_writer *w)
{
    struct job *batch = w->head, *last = batch;
    if (!batch->bare)
        while (last->next && !last->next->bare) last = last->next;
    w->head = last->next;
    if (!w->head) w->tail = NULL;
    last->next = NULL;
    return batch;
}

static void *writer_main(void *arg)
{
    struct tl_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping) pthread_cond_wait(&w->work, &w->mu);
        if (!w->head && w->stopping) break;
        struct job *batch = take_batch(w);
        pthread_mutex_unlock(&w->mu);

        run_batch(w, batch);

        pthread_mutex_lock(&w->mu);
        struct job *j = batch;
        while (j) {
            struct job *next = j->next;
            w->depth -= j->weight;
            if (j->async) {
                if (j->free_fn) j->free_fn(j->arg);
                tl_free(j);
            } else {
                j->done = 1;
            }
            j = next;
        }
        pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct tl_writer *tl_writer_start(const struct tl_store_ops *ops, struct tl_store *st, size_t queue_max)
{
    struct tl_writer *w = tl_calloc(1, sizeof *w);
    if (!w) return NULL;
    w->ops = ops;
    w->st = st;
    w->queue_max = queue_max;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->done, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        tl_free(w);
        return NULL;
    }
    return w;
}

void tl_writer_stop(struct tl_writer *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->done);
    tl_free(w);
}

static enum tl_rc enqueue(struct tl_writer *w, struct job *j)
{
    /* Caller holds mu. A single job heavier than the whole queue is still
     * accepted when the queue is empty, so a maximal batch always fits. */
    if (w->stopping) return TL_ESHUTDOWN;
    if (j->weight && !j->bare && w->depth && w->depth + j->weight > w->queue_max)
        return TL_EBUSY; /* flush (weight 0) and bare jobs always queue */
    j->next = NULL;
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->depth += j->weight;
    pthread_cond_signal(&w->work);
    return TL_OK;
}

static enum tl_rc submit(struct tl_writer *w, tl_wjob_fn fn, void *arg, size_t weight, int unsynced, int bare)
{
    struct job j = {.fn = fn, .arg = arg, .weight = weight, .unsynced = unsynced, .bare = bare};
    pthread_mutex_lock(&w->mu);
    enum tl_rc rc = enqueue(w, &j);
    if (rc == TL_OK) {
        while (!j.done) pthread_cond_wait(&w->done, &w->mu);
        rc = j.rc;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

enum tl_rc tl_writer_submit(struct tl_writer *w, tl_wjob_fn fn, void *arg, size_t weight)
{
    return submit(w, fn, arg, weight, 0, 0);
}

enum tl_rc tl_writer_submit_unsynced(struct tl_writer *w, tl_wjob_fn fn, void *arg, size_t weight)
{
    return submit(w, fn, arg, weight, 1, 0);
}

enum tl_rc tl_writer_run_bare(struct tl_writer *w, tl_wjob_fn fn, void *arg)
{
    return submit(w, fn, arg, 1, 0, 1); /* weight 1: seen in the depth, never refused */
}

enum tl_rc tl_writer_submit_async(struct tl_writer *w, tl_wjob_fn fn, void *arg, void (*free_fn)(void *), size_t weight)
{
    struct job *j = tl_calloc(1, sizeof *j);
    if (!j) return TL_ENOMEM;
    j->fn = fn;
    j->arg = arg;
    j->free_fn = free_fn;
    j->weight = weight;
    j->async = 1;
    pthread_mutex_lock(&w->mu);
    enum tl_rc rc = enqueue(w, j);
    pthread_mutex_unlock(&w->mu);
    if (rc) tl_free(j);
    return rc;
}

static enum tl_rc noop(const struct tl_store_ops *ops, struct tl_store *st, void *arg) { return TL_OK; }

void tl_writer_flush(struct tl_writer *w) { tl_writer_submit(w, noop, NULL, 0); }

size_t tl_writer_depth(struct tl_writer *w)
{
    pthread_mutex_lock(&w->mu);
    size_t d = w->depth;
    pthread_mutex_unlock(&w->mu);
    return d;
}

uint64_t tl_writer_commits(struct tl_writer *w) { return atomic_load(&w->commits); }
