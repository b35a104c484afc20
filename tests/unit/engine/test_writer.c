/* Tests for src/engine/writer.c with a real SQLite store in a mkdtemp()
 * directory: jobs commit; jobs queued together are grouped into one
 * transaction; a failing job in a batch fails alone (its own writes rolled
 * back) while its neighbours commit; a single failing job is not replayed;
 * a failing commit is reported; queue_max answers TL_EBUSY when full; async
 * jobs run and their free_fn is called (also on failure); flush waits; stop
 * drains the queue and later submits answer TL_ESHUTDOWN.
 *
 * A "gate" job blocks the writer thread on a condition variable so that the
 * tests control exactly which jobs are queued together. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../store/sync_count.h"
#include "core/alloc.h"
#include "engine/writer.h"

static const struct tl_store_ops *ops = &tl_store_sqlite;
static char dir[64], path[128];
static struct tl_store *st;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tl_writer_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/w.db", dir);
    struct tl_err err;
    tl_err_clear(&err);
    cr_assert_eq(ops->open(path, TL_SYNC_OS, &st, &err), TL_OK, "%s", err.msg);
}

static void teardown(void)
{
    ops->close(st);
    st = NULL;
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(writer, .init = setup, .fini = teardown, .timeout = 30);

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait (bounded) until the writer's queued weight reaches want. */
static void wait_depth(struct tl_writer *w, size_t want)
{
    for (int i = 0; i < 5000 && tl_writer_depth(w) != want; i++) sleep_ms(1);
    cr_assert_eq(tl_writer_depth(w), want, "queue depth never reached %zu", want);
}

/* ---- the gate: an async job that holds the writer until opened ---- */

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, open;
};

static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static enum tl_rc gate_job(const struct tl_store_ops *o, struct tl_store *s, void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->entered = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return TL_OK;
}

static void gate_close_and_submit(struct tl_writer *w, size_t weight)
{
    pthread_mutex_lock(&gate.mu);
    gate.entered = 0;
    gate.open = 0;
    pthread_mutex_unlock(&gate.mu);
    cr_assert_eq(tl_writer_submit_async(w, gate_job, &gate, NULL, weight), TL_OK);
    pthread_mutex_lock(&gate.mu);
    while (!gate.entered) pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = 1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

/* ---- jobs ---- */

struct meta_job {
    char key[32];
    int64_t val;
    int fail; /* write, then return TL_EINVAL */
    atomic_int calls;
    enum tl_rc rc; /* result of submit */
    struct tl_writer *w;
};

static enum tl_rc meta_fn(const struct tl_store_ops *o, struct tl_store *s, void *arg)
{
    struct meta_job *j = arg;
    atomic_fetch_add(&j->calls, 1);
    enum tl_rc rc = o->meta_set(s, j->key, j->val);
    if (rc) return rc;
    return j->fail ? TL_EINVAL : TL_OK;
}

static void *submit_thread(void *arg)
{
    struct meta_job *j = arg;
    j->rc = tl_writer_submit(j->w, meta_fn, j, 1);
    return NULL;
}

static int meta_has(const char *key, int64_t *v)
{
    int64_t x;
    enum tl_rc rc = ops->meta_get(st, key, &x);
    if (v) *v = x;
    return rc == TL_OK;
}

Test(writer, jobs_commit)
{
    struct tl_writer *w = tl_writer_start(ops, st, 1000);
    cr_assert_not_null(w);
    struct meta_job j = {.key = "one", .val = 11};
    cr_assert_eq(tl_writer_submit(w, meta_fn, &j, 1), TL_OK);
    cr_assert_eq(atomic_load(&j.calls), 1);
    cr_assert_eq(tl_writer_commits(w), 1);
    cr_assert_eq(tl_writer_depth(w), 0);
    struct meta_job k = {.key = "two", .val = 22};
    cr_assert_eq(tl_writer_submit(w, meta_fn, &k, 0), TL_OK, "weight 0 is fine");
    cr_assert_eq(tl_writer_commits(w), 2);
    tl_writer_stop(w);
    int64_t v;
    cr_assert(meta_has("one", &v));
    cr_assert_eq(v, 11);
    cr_assert(meta_has("two", &v));
    cr_assert_eq(v, 22);
}

static void *submit_unsynced_thread(void *arg)
{
    struct meta_job *j = arg;
    j->rc = tl_writer_submit_unsynced(j->w, meta_fn, j, 1);
    return NULL;
}

/* Two jobs submitted by two threads while the gate holds the writer, so
 * that they form one batch; the syncs that batch made. */
static int syncs_of_a_batch(struct tl_writer *w, void *(*first)(void *), struct meta_job *a, void *(*second)(void *),
                            struct meta_job *b)
{
    pthread_t t1, t2;
    gate_close_and_submit(w, 0);
    uint64_t commits = tl_writer_commits(w);
    pthread_create(&t1, NULL, first, a);
    pthread_create(&t2, NULL, second, b);
    wait_depth(w, 2);
    int before = sync_count();
    gate_open();
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    cr_assert_eq(tl_writer_commits(w), commits + 2, "the gate's commit, then one for both jobs");
    return sync_count() - before;
}

/* Writes that can be rebuilt (tl_writer_submit_unsynced) commit without a
 * sync when every job of the batch asked for it; one ordinary job in the
 * batch makes it synced. Syncs counted at the VFS (sync_count.h) on a store
 * opened with TL_SYNC_FULL. */
Test(writer, a_batch_of_unsynced_jobs_is_not_synced_unless_one_job_needs_it)
{
    ops->close(st);
    sync_count_install();
    struct tl_err err;
    tl_err_clear(&err);
    cr_assert_eq(ops->open(path, TL_SYNC_FULL, &st, &err), TL_OK, "%s", err.msg);
    struct tl_writer *w = tl_writer_start(ops, st, 1000);
    cr_assert_not_null(w);
    /* (the first commit after the reopen starts the log afresh, and SQLite
     * syncs a new log's header whatever the mode) */
    struct meta_job b = {.key = "b", .val = 2, .w = w};
    int c0 = sync_count();
    cr_assert_eq(tl_writer_submit(w, meta_fn, &b, 1), TL_OK);
    int c1 = sync_count();
    cr_assert_gt(c1, c0, "an ordinary job: synced");
    struct meta_job a = {.key = "a", .val = 1, .w = w};
    cr_assert_eq(tl_writer_submit_unsynced(w, meta_fn, &a, 1), TL_OK);
    cr_assert_eq(sync_count(), c1, "an unsynced job alone: no sync");

    /* two unsynced jobs in one batch; an unsynced job and an ordinary one */
    struct meta_job u1 = {.key = "u1", .val = 3, .w = w}, u2 = {.key = "u2", .val = 4, .w = w};
    cr_assert_eq(syncs_of_a_batch(w, submit_unsynced_thread, &u1, submit_unsynced_thread, &u2), 0,
                 "a batch of unsynced jobs: no sync");
    cr_assert_eq(u1.rc, TL_OK);
    cr_assert_eq(u2.rc, TL_OK);
    struct meta_job u3 = {.key = "u3", .val = 5, .w = w}, o = {.key = "o", .val = 6, .w = w};
    cr_assert_gt(syncs_of_a_batch(w, submit_unsynced_thread, &u3, submit_thread, &o), 0,
                 "one ordinary job in the batch: synced");
    tl_writer_stop(w);
    const char *keys[] = {"a", "b", "u1", "u2", "u3", "o"};
    for (size_t i = 0; i < 6; i++) cr_assert(meta_has(keys[i], NULL), "%s committed", keys[i]);
}

#define NTHREADS 6

Test(writer, failing_job_fails_alone_in_a_batch)
{
    struct tl_writer *w = tl_writer_start(ops, st, 1000);
    cr_assert_not_null(w);
    gate_close_and_submit(w, 1);
    /* Several threads submit while the writer is held: they form one batch. */
    static struct meta_job jobs[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        snprintf(jobs[i].key, sizeof jobs[i].key, "k%d", i);
        jobs[i].val = i;
        jobs[i].fail = i == 2;
        jobs[i].w = w;
        cr_assert_eq(pthread_create(&th[i], NULL, submit_thread, &jobs[i]), 0);
    }
    wait_depth(w, 1 + NTHREADS);
    uint64_t commits_before = tl_writer_commits(w);
    gate_open();
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NTHREADS; i++) {
        if (i == 2)
            cr_assert_eq(jobs[i].rc, TL_EINVAL, "the bad job reports its own error");
        else
            cr_assert_eq(jobs[i].rc, TL_OK, "job %d failed with %d because of its neighbour", i, jobs[i].rc);
        cr_assert_geq(atomic_load(&jobs[i].calls), 1);
    }
    /* The gate's batch commits once after it opens; then each good job of
     * the failed batch is replayed in its own transaction. */
    cr_assert_eq(commits_before, 0);
    cr_assert_eq(tl_writer_commits(w), 1 + (NTHREADS - 1));
    tl_writer_stop(w);
    for (int i = 0; i < NTHREADS; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        cr_assert_eq(meta_has(key, NULL), i != 2, "key %s: committed = %d", key, meta_has(key, NULL));
    }
}

Test(writer, batch_is_one_transaction)
{
    struct tl_writer *w = tl_writer_start(ops, st, 1000);
    gate_close_and_submit(w, 1);
    static struct meta_job jobs[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        snprintf(jobs[i].key, sizeof jobs[i].key, "g%d", i);
        jobs[i].w = w;
        cr_assert_eq(pthread_create(&th[i], NULL, submit_thread, &jobs[i]), 0);
    }
    wait_depth(w, 1 + NTHREADS);
    uint64_t c0 = tl_writer_commits(w);
    gate_open();
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NTHREADS; i++) {
        cr_assert_eq(jobs[i].rc, TL_OK);
        cr_assert_eq(atomic_load(&jobs[i].calls), 1, "a good batch runs each job once");
    }
    /* The gate's batch commits only after it opens; the queued jobs then
     * add exactly one group commit. */
    cr_assert_eq(c0, 0);
    cr_assert_eq(tl_writer_commits(w), 2, "gate batch + one group commit");
    tl_writer_stop(w);
}

Test(writer, single_failing_job_not_replayed)
{
    struct tl_writer *w = tl_writer_start(ops, st, 1000);
    struct meta_job j = {.key = "bad", .fail = 1};
    cr_assert_eq(tl_writer_submit(w, meta_fn, &j, 1), TL_EINVAL);
    cr_assert_eq(atomic_load(&j.calls), 1, "ran %d times", atomic_load(&j.calls));
    cr_assert_eq(tl_writer_commits(w), 0);
    /* The writer keeps working after a failure. */
    struct meta_job ok = {.key = "good"};
    cr_assert_eq(tl_writer_submit(w, meta_fn, &ok, 1), TL_OK);
    tl_writer_stop(w);
    cr_assert_eq(meta_has("bad", NULL), 0, "the failed job's write was rolled back");
    cr_assert(meta_has("good", NULL));
}

/* An ops table whose commit always fails (everything else is SQLite). */
static struct tl_store_ops failing_commit_ops;
static enum tl_rc fail_commit(struct tl_store *s)
{
    tl_store_sqlite.rollback(s);
    return TL_ESTORE;
}

Test(writer, failing_commit_is_reported)
{
    failing_commit_ops = tl_store_sqlite;
    failing_commit_ops.commit = fail_commit;
    struct tl_writer *w = tl_writer_start(&failing_commit_ops, st, 1000);
    struct meta_job j = {.key = "lost"};
    cr_assert_eq(tl_writer_submit(w, meta_fn, &j, 1), TL_ESTORE);
    cr_assert_eq(atomic_load(&j.calls), 1);
    cr_assert_eq(tl_writer_commits(w), 0);
    tl_writer_stop(w);
    cr_assert_eq(meta_has("lost", NULL), 0);
}

/* ---- async jobs ---- */

struct async_arg {
    atomic_int *ran;
    atomic_int *freed;
    int fail;
    int seq;
    atomic_int *order; /* records the sequence of execution */
    int *log;
};

static enum tl_rc async_fn(const struct tl_store_ops *o, struct tl_store *s, void *arg)
{
    struct async_arg *a = arg;
    int pos = atomic_fetch_add(a->ran, 1);
    if (a->log && pos < 64) a->log[pos] = a->seq;
    char key[32];
    snprintf(key, sizeof key, "async%d", a->seq);
    enum tl_rc rc = o->meta_set(s, key, a->seq);
    if (rc) return rc;
    return a->fail ? TL_EINVAL : TL_OK;
}

static void async_free(void *arg)
{
    struct async_arg *a = arg;
    atomic_fetch_add(a->freed, 1);
    tl_free(a);
}

static struct async_arg *mk_async(atomic_int *ran, atomic_int *freed, int seq, int fail, int *log)
{
    struct async_arg *a = tl_calloc(1, sizeof *a);
    cr_assert_not_null(a);
    a->ran = ran;
    a->freed = freed;
    a->seq = seq;
    a->fail = fail;
    a->log = log;
    return a;
}

Test(writer, async_jobs_run_in_order_and_are_freed)
{
    long live0 = tl_alloc_live();
    struct tl_writer *w = tl_writer_start(ops, st, 1000);
    atomic_int ran = 0, freed = 0;
    int log[64] = {0};
    for (int i = 0; i < 20; i++)
        cr_assert_eq(tl_writer_submit_async(w, async_fn, mk_async(&ran, &freed, i, i == 7, log), async_free, 1), TL_OK);
    tl_writer_flush(w);
    cr_assert_geq(atomic_load(&ran), 20, "flush returned before the async jobs ran");
    cr_assert_eq(atomic_load(&freed), 20, "free_fn runs for every job, failed ones included");
    /* First executions are in FIFO order (replays after a failure may
     * repeat some jobs, so only check the first pass of each). */
    int seen[20] = {0}, next = 0;
    for (int i = 0; i < atomic_load(&ran) && i < 64; i++) {
        if (seen[log[i]]) continue;
        seen[log[i]] = 1;
        cr_assert_eq(log[i], next, "job %d ran before job %d", log[i], next);
        next++;
    }
    cr_assert_eq(tl_writer_depth(w), 0);
    tl_writer_stop(w);
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof key, "async%d", i);
        cr_assert_eq(meta_has(key, NULL), i != 7, "%s", key);
    }
    cr_assert_eq(tl_alloc_live(), live0, "async jobs leaked");
}

struct bare_arg {
    struct tl_writer *w;
    atomic_int *ran;
    int *log;
    enum tl_rc solo_rc, rc;
};

/* Logs 100 at its turn; store.h solo answers TL_EINVAL inside a
 * transaction, so its result says whether the job ran outside one. */
static enum tl_rc bare_fn(const struct tl_store_ops *o, struct tl_store *s, void *arg)
{
    struct bare_arg *b = arg;
    int pos = atomic_fetch_add(b->ran, 1);
    if (pos < 64) b->log[pos] = 100;
    b->solo_rc = o->solo(s, 1);
    if (b->solo_rc == TL_OK) o->solo(s, 0);
    return TL_OK;
}

static void *bare_thread(void *arg)
{
    struct bare_arg *b = arg;
    b->rc = tl_writer_run_bare(b->w, bare_fn, b);
    return NULL;
}

/* A bare job runs alone and outside any transaction, after the jobs queued
 * before it and before those queued after: the queue is cut into two
 * transactions around it. A full queue does not refuse it. */
Test(writer, a_bare_job_runs_alone_outside_a_transaction_in_queue_order)
{
    long live0 = tl_alloc_live();
    struct tl_writer *w = tl_writer_start(ops, st, 3);
    gate_close_and_submit(w, 1);
    atomic_int ran = 0, freed = 0;
    int log[64] = {0};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(tl_writer_submit_async(w, async_fn, mk_async(&ran, &freed, i, 0, log), async_free, 1), TL_OK);
    wait_depth(w, 3);
    struct bare_arg b = {.w = w, .ran = &ran, .log = log, .solo_rc = TL_EINTERNAL, .rc = TL_EINTERNAL};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, bare_thread, &b), 0);
    wait_depth(w, 4); /* over queue_max 3, and queued */
    struct async_arg *refused = mk_async(&ran, &freed, 3, 0, log);
    cr_assert_eq(tl_writer_submit_async(w, async_fn, refused, async_free, 1), TL_EBUSY,
                 "an ordinary job over queue_max is refused");
    tl_free(refused);
    cr_assert_eq(tl_writer_submit_async(w, async_fn, mk_async(&ran, &freed, 2, 0, log), async_free, 0), TL_OK);
    uint64_t c0 = tl_writer_commits(w);
    gate_open();
    pthread_join(th, NULL);
    tl_writer_flush(w);
    cr_assert_eq(b.rc, TL_OK);
    cr_assert_eq(b.solo_rc, TL_OK, "the bare job ran inside a transaction");
    int want[] = {0, 1, 100, 2};
    cr_assert_eq(atomic_load(&ran), 4);
    for (int i = 0; i < 4; i++) cr_assert_eq(log[i], want[i], "position %d: %d, not %d", i, log[i], want[i]);
    /* the gate's, the two before, the one after (and the flush) */
    cr_assert_eq(tl_writer_commits(w) - c0, 4, "commits: %llu", (unsigned long long)(tl_writer_commits(w) - c0));
    tl_writer_stop(w);
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "async%d", i);
        cr_assert(meta_has(key, NULL), "%s", key);
    }
    cr_assert_eq(tl_alloc_live(), live0);
}

Test(writer, async_null_free_fn)
{
    struct tl_writer *w = tl_writer_start(ops, st, 1000);
    struct meta_job j = {.key = "nf", .val = 3};
    cr_assert_eq(tl_writer_submit_async(w, meta_fn, &j, NULL, 1), TL_OK);
    tl_writer_flush(w);
    cr_assert_eq(atomic_load(&j.calls), 1);
    tl_writer_stop(w);
    cr_assert(meta_has("nf", NULL));
}

/* ---- back-pressure ---- */

Test(writer, queue_max_answers_busy_when_full)
{
    struct tl_writer *w = tl_writer_start(ops, st, 10);
    gate_close_and_submit(w, 1); /* in flight, still counted */
    atomic_int ran = 0, freed = 0;
    cr_assert_eq(tl_writer_submit_async(w, async_fn, mk_async(&ran, &freed, 1, 0, NULL), async_free, 3), TL_OK);
    cr_assert_eq(tl_writer_submit_async(w, async_fn, mk_async(&ran, &freed, 2, 0, NULL), async_free, 3), TL_OK);
    cr_assert_eq(tl_writer_submit_async(w, async_fn, mk_async(&ran, &freed, 3, 0, NULL), async_free, 3), TL_OK);
    cr_assert_eq(tl_writer_depth(w), 10, "exactly full");
    struct async_arg *rej = mk_async(&ran, &freed, 4, 0, NULL);
    cr_assert_eq(tl_writer_submit_async(w, async_fn, rej, async_free, 1), TL_EBUSY);
    /* A rejected async job is not the writer's: free_fn is not called. */
    cr_assert_eq(atomic_load(&freed), 0);
    tl_free(rej);
    struct meta_job sj = {.key = "busy"};
    cr_assert_eq(tl_writer_submit(w, meta_fn, &sj, 1), TL_EBUSY, "synchronous submit is refused too");
    cr_assert_eq(atomic_load(&sj.calls), 0);
    cr_assert_eq(tl_writer_depth(w), 10);
    gate_open();
    tl_writer_flush(w);
    cr_assert_eq(atomic_load(&ran), 3);
    cr_assert_eq(atomic_load(&freed), 3);
    cr_assert_eq(tl_writer_depth(w), 0);
    /* Room again. */
    cr_assert_eq(tl_writer_submit(w, meta_fn, &sj, 1), TL_OK);
    tl_writer_stop(w);
}

Test(writer, oversized_job_accepted_on_empty_queue)
{
    struct tl_writer *w = tl_writer_start(ops, st, 10);
    struct meta_job j = {.key = "big"};
    cr_assert_eq(tl_writer_submit(w, meta_fn, &j, 1000), TL_OK, "a job heavier than queue_max fits when empty");
    tl_writer_stop(w);
    cr_assert(meta_has("big", NULL));
}

/* ---- flush ---- */

struct flusher {
    struct tl_writer *w;
    atomic_int done;
};

static void *flush_thread(void *arg)
{
    struct flusher *f = arg;
    tl_writer_flush(f->w);
    atomic_store(&f->done, 1);
    return NULL;
}

Test(writer, flush_waits_for_queued_jobs)
{
    struct tl_writer *w = tl_writer_start(ops, st, 1000);
    gate_close_and_submit(w, 1);
    struct flusher f = {.w = w};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, flush_thread, &f), 0);
    sleep_ms(100);
    cr_assert_eq(atomic_load(&f.done), 0, "flush returned while a job was still running");
    gate_open();
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&f.done), 1);
    tl_writer_stop(w);
}

Test(writer, flush_waits_even_when_queue_is_over_its_limit)
{
    /* A job heavier than queue_max is accepted on an empty queue (writer.c);
     * while it runs the depth exceeds queue_max. flush() must still wait
     * for it ("everything queued before this call is committed"). */
    struct tl_writer *w = tl_writer_start(ops, st, 10);
    gate_close_and_submit(w, 50);
    struct flusher f = {.w = w};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, flush_thread, &f), 0);
    sleep_ms(100);
    int early = atomic_load(&f.done);
    gate_open();
    pthread_join(th, NULL);
    tl_writer_stop(w);
    cr_assert_eq(early, 0, "flush returned at once while a queued job had not been committed");
}

/* ---- stop ---- */

struct stopper {
    struct tl_writer *w;
};

static void *stop_thread(void *arg)
{
    struct stopper *s = arg;
    tl_writer_stop(s->w);
    return NULL;
}

Test(writer, stop_drains_queue_then_refuses)
{
    long live0 = tl_alloc_live();
    struct tl_writer *w = tl_writer_start(ops, st, 1000);
    gate_close_and_submit(w, 1);
    atomic_int ran = 0, freed = 0;
    for (int i = 0; i < 10; i++)
        cr_assert_eq(tl_writer_submit_async(w, async_fn, mk_async(&ran, &freed, i, 0, NULL), async_free, 1), TL_OK);
    struct stopper s = {w};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, stop_thread, &s), 0);
    sleep_ms(100); /* stop has set its flag and is waiting for the thread */
    atomic_int r2 = 0, f2 = 0;
    struct async_arg *late = mk_async(&r2, &f2, 99, 0, NULL);
    cr_assert_eq(tl_writer_submit_async(w, async_fn, late, async_free, 1), TL_ESHUTDOWN);
    tl_free(late);
    struct meta_job sj = {.key = "late"};
    cr_assert_eq(tl_writer_submit(w, meta_fn, &sj, 1), TL_ESHUTDOWN);
    gate_open();
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&ran), 10, "stop must run every queued job");
    cr_assert_eq(atomic_load(&freed), 10);
    cr_assert_eq(tl_alloc_live(), live0);
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof key, "async%d", i);
        cr_assert(meta_has(key, NULL), "%s not committed", key);
    }
    cr_assert_eq(meta_has("late", NULL), 0);
}

Test(writer, stop_null_and_idle)
{
    tl_writer_stop(NULL);
    long live0 = tl_alloc_live();
    struct tl_writer *w = tl_writer_start(ops, st, 1000);
    cr_assert_not_null(w);
    tl_writer_stop(w);
    cr_assert_eq(tl_alloc_live(), live0);
}
