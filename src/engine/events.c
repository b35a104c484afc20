/* POST /v1/events: validate, deduplicate, commit (group commit through the
 * writer), then apply to profiles and models.
 *
 * Order of operations for one request:
 *   1. split the body (object, array or NDJSON; at most TL_BATCH_MAX);
 *   2. validate every event; without ?partial=true one bad event rejects the
 *      whole batch (nothing stored) and the answer lists every bad index;
 *   3. claim each event_id hash in the dedupe set (a claimed or committed
 *      hash, or a repeat inside the same batch, is a duplicate: acknowledged,
 *      counted, not stored);
 *   4. take apply_lock shared, submit one writer job with every new event
 *      (purchases also write their order) and wait for the commit;
 *   5. apply the committed events to profiles and models, release the lock;
 *   6. answer {"accepted","duplicates","rejected"}.
 * If the commit fails, the claims are released so a retry is not mistaken
 * for a duplicate. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "engine/internal.h"
#include "ingest/event.h"
#include "ingest/event_fast.h"

struct pending {
    struct tl_event ev;
    uint64_t eid;
    struct tl_buf body;
    struct tl_line *lines; /* owned copy when the event has lines */
    int dup;               /* event_id already stored or earlier in the batch */
};

struct claim {
    uint64_t h;
    size_t i; /* index in the batch */
};

static int claim_cmp(const void *a, const void *b)
{
    const struct claim *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

struct ev_job {
    struct pending *v;
    size_t n;
    int64_t max_seq;
};

enum tl_rc tl_engine_store_event(const struct tl_store_ops *ops, struct tl_store *st, struct tl_event *ev, uint64_t eid)
{
    enum tl_rc rc = ops->event_append(st, ev, eid);
    return rc ? rc : tl_engine_store_event_order(ops, st, ev);
}

int tl_engine_event_order(const struct tl_event *ev, char *id, struct tl_order *o)
{
    if (!((ev->type == TL_EV_PURCHASE || ev->type == TL_EV_RETURN) && ev->n_lines)) return 0;
    /* The orders table is the purchase ledger (models count purchases from
     * it at start-up): a purchase or return event also writes its order,
     * under its order_id or "event:<seq>". */
    if (!ev->order_id) snprintf(id, TL_EVENT_ORDER_ID, "event:%lld", (long long)ev->seq);
    *o = (struct tl_order){ev->order_id ? ev->order_id : id, ev->user_id, ev->ts_ms,  ev->country, NULL,
                           ev->type == TL_EV_RETURN,         ev->lines,   ev->n_lines};
    return 1;
}

enum tl_rc tl_engine_store_event_order(const struct tl_store_ops *ops, struct tl_store *st, const struct tl_event *ev)
{
    char id[TL_EVENT_ORDER_ID];
    struct tl_order o;
    return tl_engine_event_order(ev, id, &o) ? ops->order_upsert(st, ev->shop_id, &o) : TL_OK;
}

static enum tl_rc write_events(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    struct ev_job *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        struct pending *p = &j->v[i];
        enum tl_rc rc = tl_engine_store_event(ops, st, &p->ev, p->eid);
        if (rc) return rc;
        if (p->ev.seq > j->max_seq) j->max_seq = p->ev.seq;
    }
    return TL_OK;
}

static void reject_json(struct tl_buf *rej, size_t *nrej, size_t index, const struct tl_err *err)
{
    tl_buf_printf(rej, "%s{\"index\":%zu,\"field\":", *nrej ? "," : "", index);
    tl_buf_json_str(rej, err->field);
    tl_buf_puts(rej, ",\"message\":");
    tl_buf_json_str(rej, err->msg);
    tl_buf_putc(rej, '}');
    (*nrej)++;
}

/* The parse phase: every element of the body either becomes a pending
 * event or a rejection. Fast path (src/ingest/event_fast.c) for ordinary
 * events, jansson for the rest; either way the stored body is the canonical
 * JSON of docs/events.md (tl_evfast_parse_canonical writes it without a
 * tree, in the pass that validates). */
struct parse_state {
    struct pending *v;
    size_t n, nv, nrej;
    json_t **objs; /* slow-path objects kept alive until the end */
    size_t nobjs;
    struct tl_buf scratch; /* fast-path strings of the whole batch */
    struct tl_buf rej;
};

static enum tl_rc keep_event(struct parse_state *ps, struct pending *p, uint32_t shop_id, struct tl_err *err)
{
    p->ev.shop_id = shop_id;
    if (p->ev.n_lines) {
        p->lines = tl_malloc(p->ev.n_lines * sizeof *p->lines);
        if (!p->lines) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        memcpy(p->lines, p->ev.lines, p->ev.n_lines * sizeof *p->lines);
        p->ev.lines = p->lines;
    }
    ps->nv++;
    return TL_OK;
}

/* Whole body through jansson (bodies the splitter does not handle). */
static enum tl_rc parse_slow(struct parse_state *ps, uint32_t shop_id, const char *body, size_t len, int64_t now,
                             struct tl_line *lines_buf, struct tl_err *err)
{
    json_t *arr = NULL;
    enum tl_rc rc = tl_event_split_body(body, len, &arr, err);
    if (rc) return rc;
    ps->n = json_array_size(arr);
    ps->v = tl_calloc(ps->n ? ps->n : 1, sizeof *ps->v);
    ps->objs = tl_calloc(1, sizeof *ps->objs);
    if (!ps->v || !ps->objs) {
        json_decref(arr);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    ps->objs[ps->nobjs++] = arr;
    for (size_t i = 0; i < ps->n; i++) {
        json_t *obj = json_array_get(arr, i);
        struct pending *p = &ps->v[ps->nv];
        struct tl_err e1;
        tl_err_clear(&e1);
        if (tl_event_from_json(obj, now, &p->ev, lines_buf, TL_EVENT_LINES_MAX, &e1) != TL_OK) {
            reject_json(&ps->rej, &ps->nrej, i, &e1);
            continue;
        }
        tl_buf_init(&p->body, 0);
        if (tl_event_canonical(&p->ev, obj, &p->body) != TL_OK)
            return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        p->ev.body = p->body.data;
        p->ev.body_len = p->body.len;
        if ((rc = keep_event(ps, p, shop_id, err))) return rc;
    }
    return TL_OK;
}

static enum tl_rc parse_body(struct parse_state *ps, uint32_t shop_id, const char *body, size_t len, int64_t now,
                             struct tl_line *lines_buf, struct tl_err *err)
{
    struct tl_span *spans = tl_malloc(TL_BATCH_MAX * sizeof *spans);
    if (!spans) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    size_t n = 0;
    int handled = 0;
    enum tl_rc rc = tl_evfast_split(body, len, spans, TL_BATCH_MAX, &n, &handled);
    if (rc == TL_ETOOBIG || rc || !handled) {
        tl_free(spans);
        /* The slow splitter words every body error, oversize included. */
        return parse_slow(ps, shop_id, body, len, now, lines_buf, err);
    }
    ps->n = n;
    ps->v = tl_calloc(n ? n : 1, sizeof *ps->v);
    ps->objs = tl_calloc(n ? n : 1, sizeof *ps->objs);
    if (!ps->v || !ps->objs || tl_buf_reserve(&ps->scratch, tl_evfast_scratch_need(len, n)) != TL_OK) {
        tl_free(spans);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const char *text = body + spans[i].off;
        struct pending *p = &ps->v[ps->nv];
        tl_buf_init(&p->body, 0); /* may get memory even when declined: freed unless kept */
        rc = tl_evfast_parse_canonical(text, spans[i].len, now, &p->ev, lines_buf, TL_EVENT_LINES_MAX, &ps->scratch,
                                       &p->body, &handled);
        if (rc) break;
        if (!handled) {
            json_error_t je;
            json_t *obj = json_loadb(text, spans[i].len, JSON_REJECT_DUPLICATES, &je);
            if (!obj) { /* malformed: the whole body is rejected, worded by the slow splitter */
                json_t *arr = NULL;
                rc = tl_event_split_body(body, len, &arr, err);
                json_decref(arr);
                if (rc == TL_OK) rc = tl_err_set(err, TL_EPARSE, NULL, "malformed JSON in element %zu: %s", i, je.text);
                break;
            }
            ps->objs[ps->nobjs++] = obj;
            struct tl_err e1;
            tl_err_clear(&e1);
            if (tl_event_from_json(obj, now, &p->ev, lines_buf, TL_EVENT_LINES_MAX, &e1) != TL_OK) {
                reject_json(&ps->rej, &ps->nrej, i, &e1);
                tl_buf_free(&p->body); /* the slot is reused by the next element */
                continue;
            }
            if ((rc = tl_event_canonical(&p->ev, obj, &p->body)) != TL_OK) break;
        }
        p->ev.body = p->body.data; /* canonical JSON (docs/events.md "What is stored") */
        p->ev.body_len = p->body.len;
        if ((rc = keep_event(ps, p, shop_id, err))) break;
    }
    if (rc) tl_buf_free(&ps->v[ps->nv].body); /* the element it stopped at (not kept) */
    tl_free(spans);
    return rc;
}

static void parse_state_free(struct parse_state *ps)
{
    if (ps->v)
        for (size_t i = 0; i < ps->nv; i++) {
            tl_buf_free(&ps->v[i].body);
            tl_free(ps->v[i].lines);
        }
    for (size_t i = 0; i < ps->nobjs; i++) json_decref(ps->objs[i]);
    tl_free(ps->objs);
    tl_free(ps->v);
    tl_buf_free(&ps->scratch);
    tl_buf_free(&ps->rej);
}

enum tl_rc tl_engine_ingest_events(struct tl_engine *e, uint32_t shop_id, const char *body, size_t len, int partial,
                                   struct tl_buf *out, struct tl_err *err)
{
    if (!tl_engine_shop(e, shop_id)) return tl_err_set(err, TL_ENOTFOUND, NULL, "shop %u does not exist", shop_id);
    struct parse_state ps;
    memset(&ps, 0, sizeof ps);
    tl_buf_init(&ps.scratch, 0);
    tl_buf_init(&ps.rej, 0);
    struct claim *claims = NULL;
    uint64_t *owned = NULL;
    size_t ndup = 0, nclaims = 0;
    struct tl_line *lines_buf = tl_malloc(TL_EVENT_LINES_MAX * sizeof *lines_buf);
    enum tl_rc rc = lines_buf ? parse_body(&ps, shop_id, body, len, tl_now_ms(), lines_buf, err)
                              : tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    if (rc) goto done;
    struct pending *v = ps.v;
    size_t n = ps.n, nv = ps.nv, nrej = ps.nrej;
    struct tl_buf rej = ps.rej;
    claims = tl_calloc(n ? n : 1, sizeof *claims);
    owned = tl_calloc(n ? n : 1, sizeof *owned);
    if (!claims || !owned) {
        rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        goto done;
    }
    if (nrej && !partial) {
        atomic_fetch_add(&e->n_rejected, nrej);
        tl_buf_reset(out);
        tl_buf_printf(out,
                      "{\"error\":{\"code\":\"invalid\",\"message\":\"%zu of %zu events are invalid; nothing "
                      "was stored (send ?partial=true to store the valid ones)\"},\"rejected\":[",
                      nrej, n);
        tl_buf_append(out, rej.data ? rej.data : "", rej.len);
        tl_buf_puts(out, "]}");
        rc = tl_err_set(err, TL_EINVAL, NULL, "%zu of %zu events are invalid", nrej, n);
        goto done;
    }
    /* Deduplicate: claim every event_id in ascending hash order (see
     * tl_engine_dedupe_claim: no two requests can wait for each other); in
     * a batch, the first occurrence of an id is the one stored. */
    uint64_t token = tl_engine_dedupe_token(e);
    for (size_t i = 0; i < nv; i++)
        if (v[i].ev.event_id) {
            v[i].eid = tl_event_id_hash(shop_id, v[i].ev.event_id);
            claims[nclaims].h = v[i].eid;
            claims[nclaims++].i = i;
        }
    qsort(claims, nclaims, sizeof *claims, claim_cmp);
    for (size_t k = 0; k < nclaims; k++)
        if (tl_engine_dedupe_claim(e, claims[k].h, token)) v[claims[k].i].eid = 0, v[claims[k].i].dup = 1;
    size_t nkeep = 0;
    for (size_t i = 0; i < nv; i++) {
        struct pending *p = &v[i];
        if (p->dup) {
            ndup++;
            tl_buf_free(&p->body);
            tl_free(p->lines);
            continue;
        }
        if (nkeep != i) v[nkeep] = *p;
        nkeep++;
    }
    /* Our own claims, to settle after the commit. */
    size_t nown = 0;
    for (size_t i = 0; i < nkeep; i++)
        if (v[i].eid) owned[nown++] = v[i].eid;
    nv = nkeep;
    ps.nv = nv; /* entries past nkeep were moved down or freed */
    if (nv) {
        struct ev_job job = {v, nv, 0};
        pthread_rwlock_rdlock(&e->apply_lock);
        /* the server's own pending events first: a search or an exposure
         * keeps its place before the clicks and purchases that follow it
         * (the writer is FIFO; replays after a restart depend on the order) */
        tl_engine_log_flush(e);
        rc = tl_writer_submit(e->writer, write_events, &job, nv);
        if (rc == TL_OK) {
            int64_t cur = atomic_load(&e->last_seq);
            while (job.max_seq > cur && !atomic_compare_exchange_weak(&e->last_seq, &cur, job.max_seq)) {
            }
            /* An event that names both ids is a login: stitch first, so the
             * event itself (a purchase at checkout, say) meets the history
             * of the anonymous visitor, as a replay after a restart would */
            for (size_t i = 0; i < nv; i++) {
                if (v[i].ev.user_id && v[i].ev.anonymous_id)
                    tl_engine_link(e, shop_id, v[i].ev.anonymous_id, v[i].ev.user_id, 0, NULL);
                tl_engine_apply_event(e, &v[i].ev);
            }
        }
        pthread_rwlock_unlock(&e->apply_lock);
        tl_engine_dedupe_settle(e, owned, nown, rc == TL_OK);
        if (rc) {
            tl_err_set(err, rc, NULL,
                       rc == TL_EBUSY ? "too many events waiting to be written; retry shortly"
                                      : "events could not be stored: %s",
                       tl_rc_message(rc));
            goto done;
        }
    }
    atomic_fetch_add(&e->n_ingested, nv);
    atomic_fetch_add(&e->n_duplicate, ndup);
    atomic_fetch_add(&e->n_rejected, nrej);
    tl_buf_printf(out, "{\"accepted\":%zu,\"duplicates\":%zu,\"rejected\":[", nv, ndup);
    tl_buf_append(out, rej.data ? rej.data : "", rej.len);
    tl_buf_puts(out, "]}");
done:
    parse_state_free(&ps);
    tl_free(claims);
    tl_free(owned);
    tl_free(lines_buf);
    return rc;
}

/* ---- events the server writes itself ---- */

struct server_event {
    struct tl_event ev;
    char *body, *user_id, *anonymous_id;
};

static void free_server_event(void *arg)
{
    struct server_event *l = arg;
    tl_free(l->body);
    tl_free(l->user_id);
    tl_free(l->anonymous_id);
    tl_free(l);
}

struct slog_batch {
    struct server_event **v;
    size_t n;
};

/* One transaction for the batch; an event the store refuses is skipped
 * (they are analytics: the others still go in). */
static enum tl_rc write_slog_batch(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    struct slog_batch *b = arg;
    for (size_t i = 0; i < b->n; i++) {
        enum tl_rc rc = tl_engine_store_event(ops, st, &b->v[i]->ev, 0);
        if (rc == TL_ESTORE || rc == TL_EIO) return rc;
    }
    return TL_OK;
}

static void free_slog_batch(void *arg)
{
    struct slog_batch *b = arg;
    for (size_t i = 0; i < b->n; i++) free_server_event(b->v[i]);
    tl_free(b->v);
    tl_free(b);
}

/* Submit what is pending (caller holds slog_mu). */
static void slog_submit_locked(struct tl_engine *e)
{
    if (!e->slog_n) return;
    struct slog_batch *b = tl_malloc(sizeof *b);
    if (!b) return; /* keep them pending: the next flush tries again */
    b->v = (struct server_event **)e->slog;
    b->n = e->slog_n;
    e->slog = NULL;
    e->slog_n = 0;
    if (tl_writer_submit_async(e->writer, write_slog_batch, b, free_slog_batch, b->n) != TL_OK)
        free_slog_batch(b); /* queue full: dropped, as documented */
}

void tl_engine_log_free(struct tl_engine *e)
{
    for (size_t i = 0; i < e->slog_n; i++) free_server_event(e->slog[i]);
    tl_free(e->slog);
    e->slog = NULL;
    e->slog_n = 0;
}

void tl_engine_log_flush(struct tl_engine *e)
{
    if (!e->writer) return;
    pthread_mutex_lock(&e->slog_mu);
    slog_submit_locked(e);
    pthread_mutex_unlock(&e->slog_mu);
}

void tl_engine_log_event(struct tl_engine *e, uint32_t shop_id, enum tl_event_type type, const char *user_id,
                         const char *anonymous_id, int64_t ts_ms, const char *fields)
{
    if (!e->writer) return;
    struct tl_buf b;
    tl_buf_init(&b, 0);
    tl_buf_printf(&b, "{\"type\":\"%s\",%s", tl_event_type_str(type), fields);
    if (user_id) {
        tl_buf_puts(&b, ",\"user_id\":");
        tl_buf_json_str(&b, user_id);
    }
    if (anonymous_id) {
        tl_buf_puts(&b, ",\"anonymous_id\":");
        tl_buf_json_str(&b, anonymous_id);
    }
    tl_buf_printf(&b, ",\"timestamp\":%lld}", (long long)ts_ms);
    struct server_event *l = tl_calloc(1, sizeof *l);
    if (!l || !b.data) {
        tl_free(l);
        tl_buf_free(&b);
        return;
    }
    l->body = b.data; /* ownership moves to the entry */
    l->user_id = tl_strdup(user_id);
    l->anonymous_id = tl_strdup(anonymous_id);
    l->ev = (struct tl_event){.shop_id = shop_id,
                              .type = type,
                              .ts_ms = ts_ms,
                              .user_id = l->user_id,
                              .anonymous_id = l->anonymous_id,
                              .quantity = NAN,
                              .price = NAN,
                              .dwell_ms = -1,
                              .scroll_depth = NAN,
                              .body = l->body,
                              .body_len = strlen(l->body)};
    int64_t now = tl_now_ms();
    pthread_mutex_lock(&e->slog_mu);
    if (!e->slog && !(e->slog = tl_malloc(TL_SLOG_BATCH_MAX * sizeof *e->slog))) {
        pthread_mutex_unlock(&e->slog_mu);
        free_server_event(l);
        return;
    }
    if (!e->slog_n) e->slog_first_ms = now;
    e->slog[e->slog_n++] = l;
    if (e->slog_n >= TL_SLOG_BATCH_MAX || now - e->slog_first_ms >= TL_SLOG_DELAY_MS) slog_submit_locked(e);
    pthread_mutex_unlock(&e->slog_mu);
}
