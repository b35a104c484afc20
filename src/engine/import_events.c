/* `tailor import events FILE`: NDJSON behaviour events, validated exactly
 * like POST /v1/events, stored in one transaction (all or nothing unless
 * skip_bad), applied to profiles and models.
 *
 * Pipeline over the two cores: a producer thread reads and parses lines
 * (the JSON parse is most of the per-event cost) into batches of
 * IMPORT_BATCH events; the writer thread, inside the import's transaction,
 * takes the batches from a bounded queue (IMPORT_QUEUE batches, so memory
 * stays bounded whatever the file size) and appends them. Deduplication and
 * the in-memory apply (profiles, models) run on the parser thread, which
 * balances the two: SQLite alone keeps the writer busy. Either side stopping (bad line without skip_bad, store error)
 * stops the other. Consumed batches go back to the producer, which frees
 * what it allocated: a glibc free from another thread than the one that
 * allocated is several times slower (arena locking), and was 15% of the
 * writer's time when the writer freed them.
 *
 * Stored body: the canonical JSON of docs/events.md, written by
 * tl_evfast_canonical straight from the line (jansson only for events the
 * fast path declines). */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/import_events.h"
#include "ingest/csv.h"
#include "ingest/event.h"
#include "ingest/event_fast.h"
#include "ingest/formats.h"

#define IMPORT_BATCH 2048 /* events per hand-over */
#define IMPORT_QUEUE 4    /* batches in flight between the threads */
#define SKIPPED_DETAIL_MAX 10

struct parsed {
    struct tl_event ev;
    json_t *obj;           /* slow path: strings point into it */
    struct tl_buf scratch; /* fast path: strings point into it */
    struct tl_buf body;    /* canonical JSON: the stored body */
    uint64_t eid;          /* idempotency hash claimed, 0 if none */
    struct tl_line *lines; /* owned copy */
};

struct batch {
    struct parsed v[IMPORT_BATCH];
    size_t n;
};

struct pipe {
    struct tl_import_events *job;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct batch *q[IMPORT_QUEUE];
    size_t head, count;
    struct batch *spent[IMPORT_QUEUE + 2]; /* consumed, for the producer to free */
    size_t n_spent;
    int producer_done, consumer_stop;
    enum tl_rc prc;
    struct tl_err perr;
    struct tl_lines *in;
    atomic_uint_fast64_t consumed;
};

static void parsed_free(struct parsed *p)
{
    json_decref(p->obj);
    tl_buf_free(&p->scratch);
    tl_buf_free(&p->body);
    tl_free(p->lines);
    memset(p, 0, sizeof *p);
}

static void batch_free(struct batch *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) parsed_free(&b->v[i]);
    tl_free(b);
}

static void note_skip(struct tl_import_events *j, const struct tl_err *e)
{
    if (j->skipped < SKIPPED_DETAIL_MAX) {
        size_t used = strlen(j->skipped_detail);
        char d[256];
        tl_fmt_describe_err(e, d, sizeof d);
        snprintf(j->skipped_detail + used, sizeof j->skipped_detail - used, "%s%s", used ? "; " : "", d);
    }
    j->skipped++;
}

/* Parse one line into p. Returns TL_OK, or the validation rc with e set. */
static enum tl_rc parse_line(const char *line, size_t len, int64_t now, struct parsed *p, struct tl_line *lines,
                             struct tl_err *e)
{
    int handled = 0;
    tl_buf_init(&p->scratch, 0);
    tl_buf_init(&p->body, 0);
    enum tl_rc rc = tl_evfast_parse(line, len, now, &p->ev, lines, TL_EVENT_LINES_MAX, &p->scratch, &handled);
    if (rc == TL_OK && handled) rc = tl_evfast_canonical(line, len, &p->ev, &p->body, &handled);
    if (rc == TL_OK && !handled) { /* unusual or invalid: jansson, which words the error */
        json_error_t je;
        p->obj = json_loadb(line, len, 0, &je);
        if (!p->obj) {
            rc = tl_err_set(e, TL_EPARSE, NULL, "malformed JSON: %s", je.text);
            e->column = je.column;
        } else if (!json_is_object(p->obj)) {
            rc = tl_err_set(e, TL_EINVAL, NULL, "expected a JSON object");
        } else {
            rc = tl_event_from_json(p->obj, now, &p->ev, lines, TL_EVENT_LINES_MAX, e);
            if (rc == TL_OK) rc = tl_event_canonical(&p->ev, p->obj, &p->body);
        }
    }
    if (rc == TL_OK && p->ev.n_lines) {
        p->lines = tl_malloc(p->ev.n_lines * sizeof *p->lines);
        if (!p->lines) return tl_err_set(e, TL_ENOMEM, NULL, "out of memory");
        memcpy(p->lines, p->ev.lines, p->ev.n_lines * sizeof *p->lines);
        p->ev.lines = p->lines;
    }
    return rc;
}

/* Hand a batch to the consumer; 0 if the consumer has stopped. */
static int push(struct pipe *pp, struct batch *b)
{
    pthread_mutex_lock(&pp->mu);
    while (pp->count == IMPORT_QUEUE && !pp->consumer_stop) pthread_cond_wait(&pp->cv, &pp->mu);
    int ok = !pp->consumer_stop;
    if (ok) {
        pp->q[(pp->head + pp->count) % IMPORT_QUEUE] = b;
        pp->count++;
        pthread_cond_broadcast(&pp->cv);
    }
    pthread_mutex_unlock(&pp->mu);
    return ok;
}

static struct batch *pop(struct pipe *pp)
{
    pthread_mutex_lock(&pp->mu);
    while (pp->count == 0 && !pp->producer_done) pthread_cond_wait(&pp->cv, &pp->mu);
    struct batch *b = NULL;
    if (pp->count) {
        b = pp->q[pp->head];
        pp->head = (pp->head + 1) % IMPORT_QUEUE;
        pp->count--;
        pthread_cond_broadcast(&pp->cv);
    }
    pthread_mutex_unlock(&pp->mu);
    return b;
}

/* A fresh batch: a spent one cleaned here, in the allocating thread. */
static struct batch *next_batch(struct pipe *pp)
{
    struct batch *spent[IMPORT_QUEUE + 2];
    pthread_mutex_lock(&pp->mu);
    size_t n = pp->n_spent;
    memcpy(spent, pp->spent, n * sizeof *spent);
    pp->n_spent = 0;
    pthread_mutex_unlock(&pp->mu);
    struct batch *b = NULL;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < spent[i]->n; k++) parsed_free(&spent[i]->v[k]);
        spent[i]->n = 0;
        if (!b)
            b = spent[i];
        else
            tl_free(spent[i]);
    }
    return b ? b : tl_calloc(1, sizeof *b);
}

/* Writer thread: give a consumed batch back (or free it if the producer is
 * gone). */
static void give_back(struct pipe *pp, struct batch *b)
{
    pthread_mutex_lock(&pp->mu);
    int keep = !pp->producer_done && pp->n_spent < IMPORT_QUEUE + 2;
    if (keep) pp->spent[pp->n_spent++] = b;
    pthread_mutex_unlock(&pp->mu);
    if (!keep) batch_free(b);
}

static void *producer_main(void *arg)
{
    struct pipe *pp = arg;
    struct tl_import_events *j = pp->job;
    tl_engine_apply_profile_only(j->engine, 1); /* see internal.h: imports feed profiles only */
    struct tl_line *lines = tl_malloc(TL_EVENT_LINES_MAX * sizeof *lines);
    struct batch *b = tl_calloc(1, sizeof *b);
    enum tl_rc rc = lines && b ? TL_OK : tl_err_set(&pp->perr, TL_ENOMEM, NULL, "out of memory");
    int64_t now = tl_now_ms();
    uint64_t since_progress = 0;
    const char *line;
    size_t len;
    long lineno;
    while (rc == TL_OK && (rc = tl_lines_next(pp->in, &line, &len, &lineno, &pp->perr)) == TL_OK && line) {
        j->lines++;
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == len) continue; /* blank line */
        struct parsed *p = &b->v[b->n];
        struct tl_err e;
        tl_err_clear(&e);
        enum tl_rc vr = parse_line(line + k, len - k, now, p, lines, &e);
        if (vr == TL_ENOMEM) {
            parsed_free(p);
            rc = tl_err_set(&pp->perr, vr, NULL, "out of memory");
            break;
        }
        if (vr) {
            parsed_free(p);
            e.line = lineno;
            if (!j->skip_bad) {
                pp->perr = e;
                rc = vr;
                break;
            }
            note_skip(j, &e);
            continue;
        }
        p->ev.shop_id = j->shop_id;
        p->ev.body = p->body.data;
        p->ev.body_len = p->body.len; /* saves SQLite a strlen */
        if (p->ev.event_id) {
            p->eid = tl_event_id_hash(p->ev.shop_id, p->ev.event_id);
            if (tl_engine_dedupe_claim(j->engine, p->eid, j->token)) {
                j->duplicates++;
                parsed_free(p);
                continue;
            }
        }
        /* In-memory effects run here, not on the writer: the writer is the
         * bottleneck (SQLite), this thread has room, and a failed import is
         * discarded as a whole (tl_engine_discard) anyway. */
        tl_engine_apply_event(j->engine, &p->ev);
        if (++b->n == IMPORT_BATCH) {
            if (!push(pp, b)) {
                rc = TL_ESHUTDOWN; /* the consumer failed; its error wins */
                break;
            }
            b = next_batch(pp);
            if (!b) {
                rc = tl_err_set(&pp->perr, TL_ENOMEM, NULL, "out of memory");
                break;
            }
        }
        if (j->progress && ++since_progress >= 65536) {
            since_progress = 0;
            j->progress(j->progress_ctx, tl_lines_bytes_read(pp->in), tl_lines_bytes_total(pp->in),
                        atomic_load(&pp->consumed));
        }
    }
    if (rc == TL_OK && b && b->n) {
        if (!push(pp, b)) rc = TL_ESHUTDOWN;
        b = NULL;
    }
    batch_free(b);
    tl_free(lines);
    pthread_mutex_lock(&pp->mu);
    pp->prc = rc;
    pp->producer_done = 1;
    pthread_cond_broadcast(&pp->cv);
    pthread_mutex_unlock(&pp->mu);
    return NULL;
}

/* Store one parsed event (writer thread, inside the import's transaction).
 * Dedupe and the in-memory apply already ran on the parser thread. */
static enum tl_rc consume_one(struct tl_import_events *j, struct parsed *p, struct tl_err *err)
{
    struct tl_event *ev = &p->ev;
    enum tl_rc rc = tl_engine_store_event(j->ops, j->st, ev, p->eid);
    if (rc) return tl_err_set(err, rc, NULL, "storing an event: %s", tl_rc_message(rc));
    if (ev->seq > j->last_seq) j->last_seq = ev->seq;
    j->records++;
    return TL_OK;
}

enum tl_rc tl_import_events_run(struct tl_import_events *j, struct tl_err *err)
{
    struct pipe pp;
    memset(&pp, 0, sizeof pp);
    pp.job = j;
    enum tl_rc rc = tl_lines_open(j->path, &pp.in, err);
    if (rc) return rc;
    pthread_mutex_init(&pp.mu, NULL);
    pthread_cond_init(&pp.cv, NULL);
    pthread_t producer;
    if (pthread_create(&producer, NULL, producer_main, &pp) != 0) {
        tl_lines_close(pp.in);
        return tl_err_set(err, TL_EINTERNAL, NULL, "cannot start the parser thread");
    }
    struct batch *b;
    while ((b = pop(&pp))) {
        for (size_t i = 0; rc == TL_OK && i < b->n; i++) rc = consume_one(j, &b->v[i], err);
        atomic_store(&pp.consumed, j->records);
        give_back(&pp, b);
        if (rc) {
            pthread_mutex_lock(&pp.mu);
            pp.consumer_stop = 1;
            pthread_cond_broadcast(&pp.cv);
            pthread_mutex_unlock(&pp.mu);
            break;
        }
    }
    pthread_join(producer, NULL);
    for (size_t i = 0; i < pp.n_spent; i++) batch_free(pp.spent[i]);
    while (pp.count) { /* batches left after a consumer failure */
        batch_free(pp.q[pp.head]);
        pp.head = (pp.head + 1) % IMPORT_QUEUE;
        pp.count--;
    }
    if (rc == TL_OK && pp.prc) {
        rc = pp.prc;
        *err = pp.perr;
    }
    if (rc == TL_OK && j->progress)
        j->progress(j->progress_ctx, tl_lines_bytes_read(pp.in), tl_lines_bytes_total(pp.in), j->records);
    tl_lines_close(pp.in);
    pthread_mutex_destroy(&pp.mu);
    pthread_cond_destroy(&pp.cv);
    return rc;
}
