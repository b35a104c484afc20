/* `tailor import events FILE`: NDJSON behaviour events, validated exactly
 * like POST /v1/events, stored in one transaction (all or nothing unless
 * skip_bad), applied to profiles.
 *
 * Pipeline over the two cores: a parser thread reads, validates and
 * deduplicates lines into batches of up to IMPORT_BATCH events, each with
 * the stored bodies of its events; the writer thread, inside the import's
 * transaction, applies the events of a window of WINDOW_BATCHES batches to
 * the shoppers' profiles, grouped by shopper (apply_window), and appends
 * each batch to the store as a block of events (store/evblock.h). Packing
 * a batch's events into its block and compressing the block (zstd) is done
 * by whichever thread would otherwise wait (pack_and_compress): the writer
 * packs a batch it takes that is not packed yet, and the parser, finding
 * the queue full, packs queued batches instead of waiting. So the two cores
 * share the work whichever side is slower for the data at hand. At most
 * IMPORT_QUEUE batches are queued and a window held, so memory stays
 * bounded whatever the file size (about 1.5 MB per batch of 2,048 events).
 * Either side stopping (bad line without skip_bad, store error) stops the
 * other.
 *
 * Stored body: the canonical JSON of docs/events.md, in the compact form of
 * the blocks. The parser writes that compact form straight from the line,
 * in the pass that validates it (tl_evfast_parse_compact), instead of the
 * block encoder packing it from the canonical JSON afterwards (parse and
 * pack of a bench event 740 -> 510 ns in one thread, BENCHMARKS.md). No
 * canonical JSON is written then, but for the values the compact form takes
 * as canonical text ("items", "context", unknown fields). The events whose
 * compact body cannot be written so, and those the fast path declines
 * (jansson), keep their canonical JSON, packed by the block encoder as
 * before.
 *
 * A batch owns all its memory in a few buffers that are reused, never freed
 * per event: the parsed strings (the fast path's scratch, sized so that it
 * never reallocates inside a batch: a line that would not fit starts the
 * next batch), the compact bodies, the canonical bodies of the events
 * without one, the lines of all its events, and the jansson trees of the
 * rare events the fast path declines. Consumed batches go back to the
 * parser, which resets and refills them (a glibc free from another thread
 * than the allocating one is several times slower; fresh memory is dear:
 * see BENCHMARKS.md).
 *
 * Deduplication claims a whole batch under one lock
 * (tl_engine_dedupe_claim_many); the import's claims stay pending under its
 * token until the transaction commits. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/group.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/import_events.h"
#include "ingest/csv.h"
#include "ingest/event.h"
#include "ingest/event_fast.h"
#include "ingest/formats.h"

#define IMPORT_BATCH 2048 /* events per hand-over */
#define WINDOW_BATCHES 16 /* batches the writer applies profile by profile (see apply_window) */
#define IMPORT_QUEUE                                                                                                   \
    16 /* batches queued between the threads: the parser fills them while the writer applies a window */
#define SKIPPED_DETAIL_MAX 10
#define EXPECT_BYTES_PER_EVENT 150        /* sizes the dedupe set up front (see producer_main) */
#define EXPECT_MAX 20000000               /* at most 512 MiB of set reserved from a file's size */
#define PREFAULT_FILE_DIV 3               /* writer heap populated up front: a third of the file... */
#define PREFAULT_MAX ((uint64_t)64 << 20) /* ...up to 64 MiB (tl_import_events_run) */
/* Scratch of a batch: 2048 events of up to 448 bytes plus the parser's
 * slack per event (event_fast.h); longer lines end a batch early. */
#define SCRATCH_BYTES ((size_t)IMPORT_BATCH * (448 + TL_EVFAST_SCRATCH_SLACK))

struct batch {
    struct tl_event ev[IMPORT_BATCH];
    uint64_t eid[IMPORT_BATCH];                            /* idempotency hash, 0 if none */
    unsigned char dup[IMPORT_BATCH];                       /* already stored or claimed */
    size_t body_off[IMPORT_BATCH], body_len[IMPORT_BATCH]; /* in cbodies if compact[i], else in bodies */
    unsigned char compact[IMPORT_BATCH];
    size_t lines_off[IMPORT_BATCH];
    size_t n;
    struct tl_buf scratch; /* fast path strings: never reallocated while the batch fills */
    struct tl_buf bodies;  /* canonical bodies of the events without a compact one, until packed (pack_and_compress) */
    struct tl_buf cbodies; /* compact bodies written by the parser (tl_evfast_parse_compact) */
    struct tl_line *lines; /* lines of every event (strings in scratch or a tree) */
    size_t n_lines, cap_lines;
    json_t **objs; /* slow path trees the events' strings point into */
    size_t n_objs, cap_objs;
    struct tl_evblock_enc blk; /* the batch's new events, packed by either thread (pack_and_compress) */
    int zstate;                /* Z_WAITING, Z_BUSY (a thread is packing and compressing blk), Z_DONE; under pipe.mu */
    enum tl_rc zrc;            /* result of packing and compressing blk */
};

enum { Z_WAITING, Z_BUSY, Z_DONE };

struct pipe {
    struct tl_import_events *job;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct batch *q[IMPORT_QUEUE];
    size_t head, count;
    struct batch *spent[IMPORT_QUEUE + WINDOW_BATCHES + 2]; /* consumed, for the producer to reuse */
    size_t n_spent;
    int producer_done, consumer_stop;
    enum tl_rc prc;
    struct tl_err perr;
    struct tl_lines *in;
    atomic_uint_fast64_t consumed;
};

static void batch_reset(struct batch *b)
{
    for (size_t i = 0; i < b->n_objs; i++) json_decref(b->objs[i]);
    b->n_objs = 0;
    b->n = b->n_lines = 0;
    tl_buf_reset(&b->scratch);
    tl_buf_reset(&b->bodies);
    tl_buf_reset(&b->cbodies);
    tl_evblock_enc_reset(&b->blk);
}

static void batch_free(struct batch *b)
{
    if (!b) return;
    batch_reset(b);
    tl_buf_free(&b->scratch);
    tl_buf_free(&b->bodies);
    tl_buf_free(&b->cbodies);
    tl_free(b->lines);
    tl_free(b->objs);
    tl_evblock_enc_free(&b->blk);
    tl_free(b);
}

static struct batch *batch_new(void)
{
    struct batch *b = tl_malloc(sizeof *b);
    if (!b) return NULL;
    /* the per-event arrays are written before they are read: only the tail is cleared */
    memset(&b->n, 0, sizeof *b - offsetof(struct batch, n));
    tl_buf_init(&b->scratch, 0);
    tl_buf_init(&b->bodies, 0);
    tl_buf_init(&b->cbodies, 0);
    tl_evblock_enc_init(&b->blk);
    /* bodies: only the events without a compact body, grown when one comes */
    if (tl_buf_reserve(&b->scratch, SCRATCH_BYTES) || tl_buf_reserve(&b->cbodies, SCRATCH_BYTES)) {
        batch_free(b);
        return NULL;
    }
    return b;
}

/* Room for one more line of len bytes without moving the scratch. */
static int batch_has_room(const struct batch *b, size_t len)
{
    return b->n < IMPORT_BATCH && b->scratch.cap - b->scratch.len > len + TL_EVFAST_SCRATCH_SLACK + 2;
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

/* Parse one line into b's next slot (not yet counted in b->n). Returns
 * TL_OK, or the validation rc with e set; nothing of a rejected line stays
 * referenced (its bytes in the buffers are overwritten by the next line). */
static enum tl_rc parse_line(const char *line, size_t len, int64_t now, struct batch *b, struct tl_line *lines,
                             struct tl_err *e)
{
    struct tl_buf *bodies = &b->bodies;
    struct tl_event *ev = &b->ev[b->n];
    size_t body0 = bodies->len, scratch0 = b->scratch.len, cbody0 = b->cbodies.len, clen = 0;
    int handled = 0;
    enum tl_rc rc = tl_evfast_parse_compact(line, len, now, ev, lines, TL_EVENT_LINES_MAX, &b->scratch, bodies,
                                            &b->cbodies, &clen, &handled);
    json_t *obj = NULL;
    if (rc == TL_OK && !handled) { /* unusual or invalid: jansson, which words the error; buffers as they were */
        json_error_t je;
        obj = json_loadb(line, len, 0, &je);
        if (!obj) {
            rc = tl_err_set(e, TL_EPARSE, NULL, "malformed JSON: %s", je.text);
            e->column = je.column;
        } else if (!json_is_object(obj)) {
            rc = tl_err_set(e, TL_EINVAL, NULL, "expected a JSON object");
        } else {
            rc = tl_event_from_json(obj, now, ev, lines, TL_EVENT_LINES_MAX, e);
            if (rc == TL_OK) rc = tl_event_canonical(ev, obj, bodies);
        }
    }
    if (rc == TL_OK && !clen) rc = tl_buf_putc(bodies, '\0'); /* keep the body's NUL: the next body follows it */
    if (rc == TL_OK && ev->n_lines && b->n_lines + ev->n_lines > b->cap_lines) {
        size_t ncap = b->cap_lines ? b->cap_lines : 256;
        while (ncap < b->n_lines + ev->n_lines) ncap *= 2;
        struct tl_line *nl = tl_realloc(b->lines, ncap * sizeof *nl);
        if (nl) {
            b->lines = nl;
            b->cap_lines = ncap;
        } else {
            rc = TL_ENOMEM;
        }
    }
    if (rc == TL_OK && obj && b->n_objs == b->cap_objs) {
        size_t ncap = b->cap_objs ? 2 * b->cap_objs : 16;
        json_t **no = tl_realloc(b->objs, ncap * sizeof *no);
        if (no) {
            b->objs = no;
            b->cap_objs = ncap;
        } else {
            rc = TL_ENOMEM;
        }
    }
    if (rc) {
        json_decref(obj);
        bodies->len = body0;
        b->cbodies.len = cbody0;
        b->scratch.len = scratch0;
        if (rc == TL_ENOMEM) tl_err_set(e, TL_ENOMEM, NULL, "out of memory");
        return rc;
    }
    if (ev->n_lines) memcpy(b->lines + b->n_lines, ev->lines, ev->n_lines * sizeof *b->lines);
    if (obj) b->objs[b->n_objs++] = obj;
    b->compact[b->n] = clen != 0;
    b->body_off[b->n] = clen ? cbody0 : body0;
    b->body_len[b->n] = clen ? clen : bodies->len - body0 - 1; /* less its NUL */
    b->lines_off[b->n] = b->n_lines;
    b->n_lines += ev->n_lines;
    return TL_OK;
}

/* Pack b's new events with their bodies into its block and compress it:
 * the compact bodies the parser wrote as they are, the others (events the
 * fast path declined, or with a value it does not write compactly) packed
 * from their JSON. The writer stores the block and never reads an event's
 * body (body NULL from here on). */
static enum tl_rc pack_and_compress(struct batch *b)
{
    enum tl_rc rc = TL_OK;
    for (size_t i = 0; i < b->n && rc == TL_OK; i++) {
        if (b->dup[i]) continue;
        struct tl_event *ev = &b->ev[i];
        if (b->compact[i]) {
            rc = tl_evblock_add_compact(&b->blk, ev, b->eid[i], b->cbodies.data + b->body_off[i], b->body_len[i]);
            continue;
        }
        ev->body = b->bodies.data + b->body_off[i];
        ev->body_len = b->body_len[i];
        rc = tl_evblock_add(&b->blk, ev, b->eid[i]);
        ev->body = NULL;
        ev->body_len = 0;
    }
    return rc == TL_OK ? tl_evblock_compress(&b->blk) : rc;
}

/* Pack and compress b, claimed (Z_BUSY) under pp->mu by the caller, who
 * holds the lock again on return. */
static void pack_claimed(struct pipe *pp, struct batch *b)
{
    pthread_mutex_unlock(&pp->mu);
    enum tl_rc rc = pack_and_compress(b);
    pthread_mutex_lock(&pp->mu);
    b->zrc = rc;
    b->zstate = Z_DONE;
    pthread_cond_broadcast(&pp->cv);
}

/* The newest queued batch not packed yet (under pp->mu), or NULL. */
static struct batch *newest_waiting(struct pipe *pp)
{
    for (size_t k = pp->count; k-- > 0;) {
        struct batch *q = pp->q[(pp->head + k) % IMPORT_QUEUE];
        if (q->zstate == Z_WAITING) return q;
    }
    return NULL;
}

/* Hand a batch to the consumer; 0 if the consumer has stopped. While the
 * queue is full, pack and compress the queued batches the writer has not
 * started on, newest first (the writer takes the oldest next). The writer
 * frees queued batches only after joining this thread. */
static int push(struct pipe *pp, struct batch *b)
{
    pthread_mutex_lock(&pp->mu);
    while (pp->count == IMPORT_QUEUE && !pp->consumer_stop) {
        struct batch *t = newest_waiting(pp);
        if (t) {
            t->zstate = Z_BUSY;
            pack_claimed(pp, t);
        } else {
            pthread_cond_wait(&pp->cv, &pp->mu);
        }
    }
    int ok = !pp->consumer_stop;
    if (ok) {
        pp->q[(pp->head + pp->count) % IMPORT_QUEUE] = b;
        pp->count++;
        pthread_cond_broadcast(&pp->cv);
    }
    pthread_mutex_unlock(&pp->mu);
    return ok;
}

/* The next batch for the writer, its block packed and compressed (here if
 * no one has started on it; after the parser if it is packing it). */
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
        if (b->zstate == Z_WAITING) {
            b->zstate = Z_BUSY;
            pack_claimed(pp, b);
        }
        while (b->zstate != Z_DONE) pthread_cond_wait(&pp->cv, &pp->mu);
    }
    pthread_mutex_unlock(&pp->mu);
    return b;
}

/* After the parser's last batch: the queued batches the writer has not
 * started on are packed here, newest first, rather than left to the writer
 * while this core idles (the file's last IMPORT_QUEUE batches). */
static void help_pack(struct pipe *pp)
{
    pthread_mutex_lock(&pp->mu);
    struct batch *t;
    while (!pp->consumer_stop && (t = newest_waiting(pp))) {
        t->zstate = Z_BUSY;
        pack_claimed(pp, t);
    }
    pthread_mutex_unlock(&pp->mu);
}

/* A batch to fill: a spent one reset here, in the allocating thread. */
static struct batch *next_batch(struct pipe *pp)
{
    struct batch *b = NULL;
    pthread_mutex_lock(&pp->mu);
    if (pp->n_spent) b = pp->spent[--pp->n_spent];
    pthread_mutex_unlock(&pp->mu);
    if (!b) return batch_new();
    batch_reset(b);
    return b;
}

/* Writer thread: give a consumed batch back (or free it if the producer is
 * gone). */
static void give_back(struct pipe *pp, struct batch *b)
{
    pthread_mutex_lock(&pp->mu);
    int keep = !pp->producer_done && pp->n_spent < IMPORT_QUEUE + WINDOW_BATCHES + 2;
    if (keep) pp->spent[pp->n_spent++] = b;
    pthread_mutex_unlock(&pp->mu);
    if (!keep) batch_free(b);
}

/* A full batch: claim its idempotency keys (the first of two equal ones in
 * the file wins), point its events at their lines (the buffers no longer
 * move), and hand it over; its new events are packed with their bodies into
 * a block and compressed later, by whichever thread has time (push, pop).
 * TL_ESHUTDOWN if the consumer has stopped. */
static enum tl_rc seal_and_push(struct pipe *pp, struct batch *b)
{
    struct tl_import_events *j = pp->job;
    tl_engine_dedupe_claim_many(j->engine, b->eid, b->n, j->token, b->dup);
    size_t n_new = 0; /* events to pack */
    for (size_t i = 0; i < b->n; i++) {
        struct tl_event *ev = &b->ev[i];
        ev->lines = ev->n_lines ? b->lines + b->lines_off[i] : NULL;
        if (b->dup[i])
            j->duplicates++;
        else
            n_new++;
    }
    b->zstate = n_new ? Z_WAITING : Z_DONE;
    b->zrc = TL_OK;
    return push(pp, b) ? TL_OK : TL_ESHUTDOWN;
}

static void *producer_main(void *arg)
{
    struct pipe *pp = arg;
    struct tl_import_events *j = pp->job;
    /* About one event per EXPECT_BYTES_PER_EVENT bytes of file (ordinary
     * events are 150-250 bytes; a compressed file under-estimates, which
     * only means the set grows as before) */
    uint64_t expect = tl_lines_bytes_total(pp->in) / EXPECT_BYTES_PER_EVENT;
    tl_engine_dedupe_expect(j->engine, (size_t)(expect < EXPECT_MAX ? expect : EXPECT_MAX));
    struct tl_line *lines = tl_malloc(TL_EVENT_LINES_MAX * sizeof *lines);
    struct batch *b = batch_new();
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
        if (!batch_has_room(b, len - k)) {
            if (b->n) {
                rc = seal_and_push(pp, b); /* TL_ESHUTDOWN: the consumer failed; its error wins */
                b = rc == TL_OK ? next_batch(pp) : NULL;
                if (rc) break;
                if (!b) {
                    rc = tl_err_set(&pp->perr, TL_ENOMEM, NULL, "out of memory");
                    break;
                }
            }
            /* a line longer than the whole scratch: it grows before any event points into it */
            if (!batch_has_room(b, len - k) && tl_buf_reserve(&b->scratch, len - k + TL_EVFAST_SCRATCH_SLACK + 3)) {
                rc = tl_err_set(&pp->perr, TL_ENOMEM, NULL, "out of memory");
                break;
            }
        }
        struct tl_err e;
        tl_err_clear(&e);
        enum tl_rc vr = parse_line(line + k, len - k, now, b, lines, &e);
        if (vr == TL_ENOMEM) {
            rc = tl_err_set(&pp->perr, vr, NULL, "out of memory");
            break;
        }
        if (vr) {
            e.line = lineno;
            if (!j->skip_bad) {
                pp->perr = e;
                rc = vr;
                break;
            }
            note_skip(j, &e);
            continue;
        }
        struct tl_event *ev = &b->ev[b->n];
        ev->shop_id = j->shop_id;
        b->eid[b->n] = ev->event_id ? tl_event_id_hash(ev->shop_id, ev->event_id) : 0;
        b->n++;
        if (j->progress && ++since_progress >= 65536) {
            since_progress = 0;
            j->progress(j->progress_ctx, tl_lines_bytes_read(pp->in), tl_lines_bytes_total(pp->in),
                        atomic_load(&pp->consumed));
        }
    }
    if (rc == TL_OK && b && b->n && (rc = seal_and_push(pp, b)) == TL_OK) b = NULL;
    batch_free(b);
    tl_free(lines);
    if (rc == TL_OK) help_pack(pp);
    pthread_mutex_lock(&pp->mu);
    pp->prc = rc;
    pp->producer_done = 1;
    pthread_cond_broadcast(&pp->cv);
    pthread_mutex_unlock(&pp->mu);
    return NULL;
}

/* The writer applies events to profiles a window of WINDOW_BATCHES batches
 * at a time, profile by profile: the events of a window are grouped by
 * their profile's key (core/group.h; groups in the order of their first
 * event, each group's events in file order), so that a profile is read from
 * memory once per window instead of once per event. Between two events of
 * one shopper a file holds thousands of other shoppers' events, which push
 * the profile out of the CPU caches: applying an event in file order was
 * mostly waiting for memory. A profile's state depends only on its own
 * events, in their order, which the grouping keeps; the one event that
 * involves two profiles, a login (both ids: the anonymous profile is
 * merged into the customer's), ends a segment: the events before it are
 * applied, then the login, then the grouping starts again after it. The
 * blocks and orders of a window are stored after its profiles, batch by
 * batch in file order, as before (they need the events' seqs).
 *
 * Profiles are hinted ahead (tl_engine_profile_prefetch) by group: the
 * cache bucket of the group PF_FAR ahead (bench file 2.13 -> 2.01 s,
 * BENCHMARKS.md), the cache entry of the one PF_AHEAD ahead, the profile
 * of the one PF_MID ahead, the profile's lists of the next one; the event
 * records of the window (in the batches, now read out of file order)
 * EV_AHEAD events ahead, their strings EV_STR_AHEAD ahead. */
#define PF_FAR 16
#define PF_AHEAD 8
#define PF_MID 4
#define EV_AHEAD 8
#define EV_STR_AHEAD 4

struct window {
    struct batch *b[WINDOW_BATCHES];
    size_t nb;
    /* the segment being grouped: its events, their keys (strings in kbuf,
     * at key_off until kbuf stops growing) and the keys' hashes */
    const struct tl_event **ev, **gev; /* gev: the events group after group */
    struct tl_pcache_key *keys;
    size_t *key_off;
    uint64_t *hash;
    size_t n, cap;
    struct tl_buf kbuf;
    struct tl_group grp;
    /* the orders of the window's purchases and returns (store_batch,
     * store_orders), and room for their "event:<seq>" ids */
    struct tl_order *orders;
    char (*order_ids)[TL_EVENT_ORDER_ID];
    size_t n_orders;
};

static void window_init(struct window *w)
{
    memset(w, 0, sizeof *w);
    tl_buf_init(&w->kbuf, 0);
    tl_group_init(&w->grp);
}

static void window_free(struct window *w)
{
    tl_free(w->keys); /* the block of the per-event arrays (window_reserve) */
    tl_buf_free(&w->kbuf);
    tl_group_free(&w->grp);
}

/* Room for a whole window's events (a segment never has more) and orders,
 * the per-event arrays in one block. */
static enum tl_rc window_reserve(struct window *w)
{
    size_t need = (size_t)WINDOW_BATCHES * IMPORT_BATCH;
    if (w->cap >= need) return TL_OK;
    struct tl_pcache_key *keys = tl_malloc(need * (sizeof *w->keys + 2 * sizeof *w->ev + sizeof *w->key_off +
                                                   sizeof *w->hash + sizeof *w->orders + sizeof *w->order_ids));
    if (!keys) return TL_ENOMEM;
    w->keys = keys;
    w->ev = (const struct tl_event **)(void *)(keys + need);
    w->gev = w->ev + need;
    w->key_off = (size_t *)(void *)(w->gev + need);
    w->hash = (uint64_t *)(void *)(w->key_off + need);
    w->orders = (struct tl_order *)(void *)(w->hash + need);
    w->order_ids = (char(*)[TL_EVENT_ORDER_ID])(void *)(w->orders + need);
    w->cap = need;
    return TL_OK;
}

static int same_key(const void *ctx, size_t a, size_t b)
{
    const struct tl_pcache_key *k = ctx;
    return k[a].shop == k[b].shop && k[a].len == k[b].len && memcmp(k[a].s, k[b].s, k[a].len) == 0;
}

static void prefetch_event(const struct tl_event *ev)
{
    const char *p = (const char *)ev;
    for (size_t off = 0; off < sizeof *ev; off += 64) __builtin_prefetch(p + off);
}

static void prefetch_event_strings(const struct tl_event *ev)
{
    if (ev->item_id) __builtin_prefetch(ev->item_id);
    if (ev->session_id) __builtin_prefetch(ev->session_id);
}

/* Apply the segment's w->n events, grouped by profile. */
static enum tl_rc apply_segment(struct tl_import_events *j, struct window *w)
{
    size_t n = w->n;
    w->n = 0;
    if (!n) return TL_OK;
    tl_buf_reset(&w->kbuf);
    for (size_t i = 0; i < n; i++) {
        const struct tl_event *ev = w->ev[i];
        enum tl_rc rc = tl_buf_reserve(&w->kbuf, TL_USER_KEY_MAX);
        if (rc) return rc;
        char *k = w->kbuf.data + w->kbuf.len;
        tl_engine_user_key(j->engine, ev->shop_id, ev->user_id, ev->anonymous_id, k);
        w->key_off[i] = w->kbuf.len;
        w->kbuf.len += strlen(k) + 1;
    }
    for (size_t i = 0; i < n; i++) { /* kbuf no longer moves */
        tl_pcache_key_init(&w->keys[i], w->ev[i]->shop_id, w->kbuf.data + w->key_off[i]);
        w->hash[i] = w->keys[i].h;
    }
    enum tl_rc rc = tl_group_by_key(&w->grp, w->hash, n, same_key, w->keys);
    if (rc) return rc;
    const uint32_t *order = w->grp.order, *starts = w->grp.starts;
    size_t ng = w->grp.n_groups;
    for (size_t k = 0; k < n; k++) w->gev[k] = w->ev[order[k]];
    size_t ev_pf = 0, str_pf = 0; /* events hinted so far (records, strings) */
    for (size_t g = 0; g < ng; g++) {
        if (g + PF_FAR < ng) tl_engine_profile_prefetch(j->engine, &w->keys[order[starts[g + PF_FAR]]], -1);
        if (g + PF_AHEAD < ng) tl_engine_profile_prefetch(j->engine, &w->keys[order[starts[g + PF_AHEAD]]], 0);
        if (g + PF_MID < ng) tl_engine_profile_prefetch(j->engine, &w->keys[order[starts[g + PF_MID]]], 1);
        if (g + 1 < ng) tl_engine_profile_prefetch(j->engine, &w->keys[order[starts[g + 1]]], 2);
        for (size_t to = starts[g + 1] + EV_AHEAD < n ? starts[g + 1] + EV_AHEAD : n; ev_pf < to;)
            prefetch_event(w->gev[ev_pf++]);
        for (size_t to = starts[g + 1] + EV_STR_AHEAD < n ? starts[g + 1] + EV_STR_AHEAD : n; str_pf < to;)
            prefetch_event_strings(w->gev[str_pf++]);
        tl_engine_apply_events_as(j->engine, &w->gev[starts[g]], starts[g + 1] - starts[g], &w->keys[order[starts[g]]]);
    }
    return TL_OK;
}

/* An event that names both ids is a login, as for POST /v1/events
 * (engine/events.c): the anonymous id is linked to the customer, in the
 * import's transaction, before the event is applied, so the event meets the
 * anonymous history and the later events of that anonymous id reach the
 * customer's profile. */
static enum tl_rc apply_login(struct tl_import_events *j, const struct tl_event *ev)
{
    int linked = 0;
    enum tl_rc rc =
        tl_engine_link_in_tx(j->engine, j->ops, j->st, ev->shop_id, ev->anonymous_id, ev->user_id, ev->ts_ms, &linked);
    if (rc) return rc;
    char key[TL_USER_KEY_MAX];
    struct tl_pcache_key k;
    tl_engine_user_key(j->engine, ev->shop_id, ev->user_id, ev->anonymous_id, key);
    tl_pcache_key_init(&k, ev->shop_id, key);
    tl_engine_apply_event_as(j->engine, ev, &k);
    return TL_OK;
}

/* The profiles of every new event of the window's batches (writer thread,
 * inside the import's transaction, in profile-only mode: see internal.h). */
static enum tl_rc apply_window(struct tl_import_events *j, struct window *w)
{
    enum tl_rc rc = window_reserve(w);
    w->n = 0;
    for (size_t bi = 0; bi < w->nb && rc == TL_OK; bi++) {
        struct batch *b = w->b[bi];
        for (size_t i = 0; i < b->n && rc == TL_OK; i++) {
            if (b->dup[i]) continue;
            const struct tl_event *ev = &b->ev[i];
            if (ev->user_id && ev->anonymous_id) {
                rc = apply_segment(j, w);
                if (rc == TL_OK) rc = apply_login(j, ev);
            } else {
                w->ev[w->n++] = ev;
            }
        }
    }
    if (rc == TL_OK) rc = apply_segment(j, w);
    return rc;
}

/* The block of a batch whose profiles are applied; the orders of its
 * purchases and returns (which need the events' seqs) are gathered for
 * store_orders. */
static enum tl_rc store_batch(struct tl_import_events *j, struct window *w, struct batch *b, struct tl_err *err)
{
    if (!b->blk.n) return TL_OK;
    int64_t seq;
    enum tl_rc rc = j->ops->event_append_block(j->st, &b->blk, &seq);
    for (size_t i = 0; rc == TL_OK && i < b->n; i++) {
        if (b->dup[i]) continue;
        struct tl_event *ev = &b->ev[i];
        ev->seq = seq++;
        w->n_orders += (size_t)tl_engine_event_order(ev, w->order_ids[w->n_orders], &w->orders[w->n_orders]);
        j->last_seq = ev->seq;
        j->records++;
    }
    if (rc) return tl_err_set(err, rc, NULL, "storing events: %s", tl_rc_message(rc));
    return TL_OK;
}

/* The window's orders in one call of the store (order_upsert_many: an
 * import's orders go in several to an SQLite statement), in file order. */
static enum tl_rc store_orders(struct tl_import_events *j, struct window *w, struct tl_err *err)
{
    enum tl_rc rc = j->ops->order_upsert_many(j->st, j->shop_id, w->orders, w->n_orders);
    if (rc) return tl_err_set(err, rc, NULL, "storing orders: %s", tl_rc_message(rc));
    return TL_OK;
}

/* Apply and store the window's batches, and give them back (also on an
 * error). */
static enum tl_rc flush_window(struct tl_import_events *j, struct pipe *pp, struct window *w, struct tl_err *err)
{
    enum tl_rc rc = TL_OK;
    for (size_t bi = 0; bi < w->nb && rc == TL_OK; bi++)
        if (w->b[bi]->zrc)
            rc = tl_err_set(err, w->b[bi]->zrc, NULL, "packing events: %s", tl_rc_message(w->b[bi]->zrc));
    if (rc == TL_OK && (rc = apply_window(j, w)) != TL_OK)
        rc = tl_err_set(err, rc, NULL, "%s: %s", rc == TL_ENOMEM ? "applying events" : "linking identities",
                        tl_rc_message(rc));
    for (size_t bi = 0; bi < w->nb && rc == TL_OK; bi++) rc = store_batch(j, w, w->b[bi], err);
    if (rc == TL_OK) rc = store_orders(j, w, err); /* the orders point into the batches: before giving them back */
    if (rc == TL_OK && j->ops->write_ahead) j->ops->write_ahead(j->st);
    w->n_orders = 0;
    atomic_store(&pp->consumed, j->records);
    for (size_t bi = 0; bi < w->nb; bi++) give_back(pp, w->b[bi]);
    w->nb = 0;
    return rc;
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
    /* This (the writer) thread's heap takes the profiles and SQLite's
     * memory: about a third of the file's size, measured (BENCHMARKS.md
     * "Page faults"); populated up front instead of page by page, while the
     * parser fills the first batches (before it started, the parser waited
     * for it: 30-40 ms for 64 MiB). */
    uint64_t total = tl_lines_bytes_total(pp.in);
    tl_heap_prefault((size_t)(total / PREFAULT_FILE_DIV < PREFAULT_MAX ? total / PREFAULT_FILE_DIV : PREFAULT_MAX));
    struct window w;
    window_init(&w);
    struct batch *b;
    /* The first windows are shorter (1, 2, 4, 8 batches, then
     * WINDOW_BATCHES): the writer starts applying after the parser's first
     * batch instead of waiting for a whole window of them. */
    size_t want = 1;
    while ((b = pop(&pp))) {
        w.b[w.nb++] = b;
        if (w.nb < want) continue;
        if ((rc = flush_window(j, &pp, &w, err)) != TL_OK) break;
        if (want < WINDOW_BATCHES) want *= 2;
    }
    if (rc == TL_OK && w.nb) rc = flush_window(j, &pp, &w, err);
    window_free(&w);
    if (rc) {
        pthread_mutex_lock(&pp.mu);
        pp.consumer_stop = 1;
        pthread_cond_broadcast(&pp.cv);
        pthread_mutex_unlock(&pp.mu);
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
