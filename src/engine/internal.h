/* Engine internals shared by the engine's .c files (not a public header).
 *
 * Layout of the engine state:
 *   - store handles: `wst` is owned by the writer thread (every write goes
 *     through tl_writer); `rst` serves reads on request threads under rst_mu.
 *   - per shop: the in-memory catalog and the popularity model.
 *   - profiles: one tl_pcache for every shop, keyed by (shop, user key) where
 *     the user key is "u:<customer id>" or "a:<anonymous id>".
 *   - identities: (shop, anonymous id) -> customer id, for stitching.
 *   - dedupe: the set of idempotency hashes of every stored event (and of
 *     imported order ids), so duplicates never touch the store's B-tree.
 *
 * Profile durability (checkpoint + log replay): profiles are snapshotted to
 * the store every checkpoint_interval_ms together with the sequence number S
 * of the last event applied; on start, events with seq > S are replayed. The
 * apply lock makes this exact: a request holds it shared from before its
 * events are queued for commit until they are applied to the profiles; the
 * checkpointer takes it exclusively, so at that instant every committed
 * event is in the profiles. A profile evicted by the LRU between two
 * checkpoints is kept as a serialized blob in `evicted` (not written on its
 * own, which would make replay count its events twice) until the next
 * checkpoint writes it. */
#ifndef TL_ENGINE_INTERNAL_H
#define TL_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "analytics/search_stats.h"
#include "core/map.h"
#include "decide/merch.h"
#include "engine/engine.h"
#include "engine/experiments.h"
#include "engine/feedback.h"
#include "engine/itemsets.h"
#include "engine/trained.h"
#include "engine/writer.h"
#include "model/cooc.h"
#include "model/popularity.h"
#include "profile/cache.h"
#include "profile/profile.h"
#include "search/sindex.h"
#include "store/catalog.h"
#include "store/store.h"

#define TL_MAX_SHOPS 65536u
#define TL_USER_KEY_MAX (TL_ID_MAX + 3) /* "u:" + id + NUL */

/* Training state of a shop (guarded by tl_shop_state.trained_mu). */
enum { TL_TRAIN_IDLE = 0, TL_TRAIN_QUEUED = 1, TL_TRAIN_RUNNING = 2, TL_TRAIN_REQUEUED = 3 };
struct tl_train_status {
    int state;
    double progress; /* 0..1 while running */
    char phase[96];
    uint64_t runs;
    double last_seconds;
    int64_t last_end_ms;
    int64_t trained_seq; /* engine last_seq when the current snapshot's data was read */
    char last_error[TL_ERR_MSG_MAX];
    char last_warning[TL_ERR_MSG_MAX + 32]; /* a model left out of the last run, and why */
};

struct tl_shop_state {
    uint32_t id;
    pthread_mutex_t trained_mu;
    struct tl_trained *trained; /* current model snapshot or NULL (see trained.h) */
    struct tl_train_status train;
    struct tl_catalog *cat;
    struct tl_pop *pop;
    struct tl_cooc *cooc;              /* bought together / also bought / also viewed */
    struct tl_itemsets bought_sets;    /* each customer's purchased items (also bought) */
    struct tl_sindex *six;             /* product search index (engine/search.c); NULL until built */
    pthread_mutex_t six_mu;            /* guards building six and its popularity refresh */
    int64_t six_pop_ms;                /* when popularity was last copied into six */
    uint64_t six_fp;                   /* catalog fingerprint six was built or loaded for */
    int six_dirty;                     /* changed since built / loaded: save at close */
    _Atomic(struct tl_segsnap *) segs; /* micro-segments (engine/segments.c), under trained_mu; NULL until trained */
};

/* Key of a customer's purchase set in tl_shop_state.bought_sets. */
uint64_t tl_engine_customer_key(const char *customer_id);

/* A serialized profile waiting for the next checkpoint. */
struct tl_blob {
    uint32_t shop_id;
    char *key;
    void *data;
    size_t len;
};

struct tl_blobset {
    struct tl_u64map index; /* hash(shop, key) -> slot + 1 */
    struct tl_blob *v;
    size_t n, cap;
};

/* Committed import tokens remembered before their values are rewritten to
 * 1 in one pass over the dedupe set (engine.c tl_engine_dedupe_commit_token). */
#define TL_DEDUPE_DONE_MAX 8

struct tl_engine {
    struct tl_config cfg;
    const struct tl_store_ops *ops;
    struct tl_store *wst;
    struct tl_store *rst;
    pthread_mutex_t rst_mu;
    struct tl_writer *writer;

    pthread_rwlock_t shops_lock;
    struct tl_shop_state **shops; /* indexed by shop id, NULL = not loaded */
    uint32_t shops_cap;

    pthread_rwlock_t keys_lock;
    struct tl_u64map keys; /* hash(key) -> shop_id << 8 | scope */

    pthread_mutex_t ident_mu;
    struct tl_u64map ident; /* hash(shop, anonymous id) -> index in ident_users + 1 */
    struct tl_strtab ident_users;

    pthread_mutex_t dedupe_mu;
    struct tl_u64map dedupe;  /* idempotency hash -> 1 committed, else the pending claimer's token */
    pthread_cond_t dedupe_cv; /* a pending claim was settled */
    atomic_uint_fast64_t dedupe_tokens;
    /* tokens whose claims all committed (tl_engine_dedupe_commit_token): a
     * value equal to one of them means committed, as 1 does */
    uint64_t dedupe_done[TL_DEDUPE_DONE_MAX];
    size_t n_dedupe_done;

    struct tl_pcache *profiles;
    struct tl_profile_params pparams;
    pthread_rwlock_t apply_lock;
    atomic_int_fast64_t last_seq; /* highest committed event seq */
    pthread_mutex_t evicted_mu;
    struct tl_blobset evicted;  /* evicted since the last checkpoint */
    struct tl_blobset inflight; /* being written by the running checkpoint */
    pthread_mutex_t ckpt_mu;    /* one checkpoint at a time */
    int64_t ckpt_seq;           /* sequence number of the last checkpoint written (under ckpt_mu) */

    pthread_t ckpt_thread;
    int ckpt_running;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stopping;
    int discard;         /* skip the final checkpoint */
    int solo;            /* the store in sole use, rst closed (tl_engine_solo_begin) */
    int lock_fd;         /* tl_engine_claim, -1 if not claimed */
    void *startup_views; /* sessions while rebuilding "also viewed" at open */

    atomic_uint_fast64_t n_ingested, n_duplicate, n_rejected;

    /* events the server writes itself, stored in batches (engine/events.c) */
    pthread_mutex_t slog_mu;
    void **slog;           /* pending struct server_event * */
    size_t slog_n;         /* pending count (< TL_SLOG_BATCH_MAX) */
    int64_t slog_first_ms; /* when the oldest pending one was logged */

    struct tl_merch *merch;          /* merchandising rules from config merch_rules (immutable) */
    struct tl_feedback *fb;          /* impressions, clicks, attribution (engine/feedback.h) */
    struct tl_sstats *sstats;        /* search analytics and learned boosts (analytics/search_stats.h) */
    struct tl_exps *exps;            /* A/B experiments (engine/experiments.c) */
    struct tl_eanalytics *analytics; /* KPI roll-ups, seasonality (engine/analytics.c) */

    /* trainer thread (engine/train.c) */
    pthread_t train_thread;
    pthread_mutex_t train_mu;
    pthread_cond_t train_cv;
    int train_inited, train_running, train_stop, train_pending;
    volatile int train_cancel; /* set once at close; polled by training */
};

/* Shop state, loading it if the shop exists in the store. NULL if unknown. */
struct tl_shop_state *tl_engine_shop(struct tl_engine *e, uint32_t shop_id);

/* "u:<id>" or "a:<id>" into out (TL_USER_KEY_MAX bytes), resolving linked
 * anonymous ids to their customer. */
void tl_engine_user_key(struct tl_engine *e, uint32_t shop_id, const char *user_id, const char *anonymous_id,
                        char *out);

/* Append one validated event (writer thread); a purchase or return also
 * writes its order. */
enum tl_rc tl_engine_store_event(const struct tl_store_ops *ops, struct tl_store *st, struct tl_event *ev,
                                 uint64_t eid);
/* The order part of that, for an event already stored (ev->seq set). */
enum tl_rc tl_engine_store_event_order(const struct tl_store_ops *ops, struct tl_store *st, const struct tl_event *ev);
/* The order an event writes, if any (1): a purchase or return with lines,
 * under its order_id or "event:<seq>" written into id[TL_EVENT_ORDER_ID]
 * (o->id then points there). o points into ev and id. */
#define TL_EVENT_ORDER_ID 32
int tl_engine_event_order(const struct tl_event *ev, char *id, struct tl_order *o);

/* Server events are gathered and stored TL_SLOG_BATCH_MAX at a time, once
 * the oldest waited TL_SLOG_DELAY_MS (checked at the next one, and by the
 * checkpoint thread), and before any shopper events are stored (so the
 * stored order is the order things happened): one writer transaction (and
 * fsync) per batch instead of per search. A crash loses at most the
 * pending ones. */
#define TL_SLOG_BATCH_MAX 256
#define TL_SLOG_DELAY_MS 200

/* Store, without waiting, an event the server writes itself (a search it
 * answered, an exposure it recorded): {"type":..., FIELDS, user_id,
 * anonymous_id, timestamp}. fields = JSON object members without braces
 * ("\"results\":3,..."), borrowed. Not applied to profiles or models: the
 * caller has done what applying would do. Dropped silently when the queue
 * is full (they are analytics, not shopper data). */
void tl_engine_log_event(struct tl_engine *e, uint32_t shop_id, enum tl_event_type type, const char *user_id,
                         const char *anonymous_id, int64_t ts_ms, const char *fields);
/* Hand the pending server events to the writer as one transaction (the
 * checkpoint thread calls it every checkpoint interval, close at the end). */
void tl_engine_log_flush(struct tl_engine *e);
/* At close, after the writer stopped: drop what could not be handed over. */
void tl_engine_log_free(struct tl_engine *e);

/* Apply one stored event to the profiles and models (engine/apply.c).
 * Caller holds apply_lock shared (or is single-threaded at start-up). */
void tl_engine_apply_event(struct tl_engine *e, const struct tl_event *ev);
/* Hint that the profile of key (tl_pcache_key_init of a key resolved with
 * tl_engine_user_key) will be applied to soon (tl_pcache_prefetch stages
 * -1..2). */
void tl_engine_profile_prefetch(struct tl_engine *e, const struct tl_pcache_key *key, int stage);
/* tl_engine_apply_event for a profile key already resolved and hashed. */
void tl_engine_apply_event_as(struct tl_engine *e, const struct tl_event *ev, const struct tl_pcache_key *key);
/* tl_engine_apply_event_as of evs[0..n) in order, all of the one profile
 * key (and of its shop): in profile-only mode a few at a time under one lock of the profile
 * (each event's catalog facts looked up before it is taken); otherwise
 * event by event. */
void tl_engine_apply_events_as(struct tl_engine *e, const struct tl_event *const *evs, size_t n,
                               const struct tl_pcache_key *key);
/* Sole use of the store for a bulk import, which holds the process claim
 * (store.h solo): the read handle is closed, as SQLite cannot leave WAL
 * while another connection has the file open, and the writer's handle
 * switched. Until tl_engine_solo_end, rst_mu stays held by the caller (a
 * read on rst would wait), profiles load through the writer's handle
 * (tl_engine_profile_load_via) and a checkpoint makes no log copy. Returns 1
 * if the store is in sole use, 0 if it stays shared (no such mode, or
 * another connection has the file open: the import runs as before). */
int tl_engine_solo_begin(struct tl_engine *e);
/* Back to shared use and the read handle reopened (a failure is logged:
 * what the import committed stays committed). */
void tl_engine_solo_end(struct tl_engine *e);

/* On the calling thread only: apply events and orders to profiles, not to
 * the models. Used by the start-up replay (models are rebuilt from the whole
 * history) and by imports (an import runs in its own process, whose models
 * are never served: the server rebuilds them from the store at start). */
void tl_engine_apply_profile_only(struct tl_engine *e, int on);

/* Feed impressions, clicks and purchases to the feedback tracker (live
 * events and the start-up scan of every stored event). */
void tl_engine_feedback_event(struct tl_engine *e, const struct tl_event *ev);

/* Apply an imported order (purchase or return) to profiles and models. */
void tl_engine_apply_order(struct tl_engine *e, uint32_t shop_id, const struct tl_order *o, int to_models);

/* Link an anonymous id to a customer and merge the anonymous profile into
 * the customer's (engine/users.c). Writes the link through the writer;
 * wait=1 blocks until durable. */
enum tl_rc tl_engine_link(struct tl_engine *e, uint32_t shop_id, const char *anonymous_id, const char *user_id,
                          int wait, int *merged);
/* The same inside a writer job's transaction (an import: the link is
 * stored, or rolled back, with the job's other writes); ts is the time of
 * the login (the event's). *linked is 1 if the two were not linked yet. */
enum tl_rc tl_engine_link_in_tx(struct tl_engine *e, const struct tl_store_ops *ops, struct tl_store *st,
                                uint32_t shop_id, const char *anonymous_id, const char *user_id, int64_t ts,
                                int *linked);

/* Write data to path through path.tmp, fsync and rename: a crash leaves the
 * old file or the new one, never a torn one (engine/train.c). TL_EIO. */
enum tl_rc tl_engine_write_atomic(const char *path, const void *data, size_t len, struct tl_err *err);

/* Micro-segments (engine/segments.c). Train from the shop's stored profiles
 * (after a checkpoint), save to "<db>.segments-<shop>" and publish; load the
 * saved ones at open. */
enum tl_rc tl_engine_segments_train(struct tl_engine *e, uint32_t shop_id, struct tl_err *err);
void tl_engine_segments_load(struct tl_engine *e, struct tl_shop_state *s);
void tl_engine_segments_drop(struct tl_shop_state *s);
/* Label of the shopper's segment for reports ("new visitors" with too little
 * history), into buf; NULL when the shop has no segments yet. p is locked by
 * the caller. */
const char *tl_engine_segment_label(struct tl_shop_state *s, const struct tl_profile *p, int64_t now_ms, char *buf,
                                    size_t n);
/* ,"segment":{"id","name"} member for the profile JSON (nothing when the
 * shop has no segments). */
enum tl_rc tl_engine_segment_json(struct tl_shop_state *s, const struct tl_profile *p, int64_t now_ms,
                                  struct tl_buf *out);

/* Write every dirty profile and the checkpoint sequence (engine/checkpoint.c). */
enum tl_rc tl_engine_checkpoint(struct tl_engine *e);
/* A checkpoint whose profiles are serialized while the caller commits (an
 * import: the serialization, about 0.1 s for 10,000 full profiles, runs
 * beside the commit's writes and fsyncs instead of after them). The caller
 * holds ckpt_mu and apply_lock exclusively from before _begin until after
 * its commit, and applies nothing once _begin is called: the profiles are
 * then exactly the state after the caller's last event. _end (apply_lock
 * released, ckpt_mu still held) waits for the serialization and writes it
 * as the checkpoint of seq if commit_rc is TL_OK; otherwise the blobs are
 * kept for a later checkpoint, as after a failed write. */
struct tl_ckpt_early {
    struct tl_engine *e;
    pthread_t th;
    int begun, threaded;
    enum tl_rc rc;
};
void tl_engine_checkpoint_begin(struct tl_engine *e, struct tl_ckpt_early *ck);
enum tl_rc tl_engine_checkpoint_end(struct tl_engine *e, struct tl_ckpt_early *ck, int64_t seq, enum tl_rc commit_rc);
/* pcache loader/evict callbacks (engine/checkpoint.c). */
enum tl_rc tl_engine_profile_load(void *ctx, uint32_t shop_id, const char *key, struct tl_profile **out);
/* On the calling thread only: load profiles through st (the writer's
 * handle, inside an import's transaction, which writes no profile rows)
 * instead of the read handle; NULL: the read handle again. The import's
 * loads then cost no read transaction each, and need no read handle while
 * the store is in sole use. When st holds no profile row at all (a first
 * import), none is looked up in it: nothing but the import writes st
 * meanwhile, and the import writes no profile row before it ends. */
void tl_engine_profile_load_via(struct tl_engine *e, struct tl_store *st);
void tl_engine_profile_evict(void *ctx, uint32_t shop_id, const char *key, const struct tl_profile *p, int dirty);
void tl_blobset_free(struct tl_blobset *s);
/* order[0..n) sorted in place into the profiles table's key order
 * (shop_id, then the key's bytes as unsigned: BINARY collation), the order
 * in which a checkpoint writes its rows (checkpoint.c). */
void tl_ckpt_sort_blobs(const struct tl_blob **order, size_t n);

/* Idempotency. Each writer of events (a request, an import) takes a token;
 * claim(h, token) returns 0 and marks h pending under token if h is new,
 * 1 if h is committed or pending under the same token (a repeat), and
 * waits while h is pending under another token: that claim may still fail,
 * and acknowledging a duplicate of an event that is then not stored would
 * lose it. A caller claiming several hashes claims them in ascending hash
 * order, so two waiting callers can never wait for each other. h = 0
 * stands for "no key": never claimed, answered 0 (a real hash is 0 with
 * probability 2^-64). */
uint64_t tl_engine_dedupe_token(struct tl_engine *e);
int tl_engine_dedupe_claim(struct tl_engine *e, uint64_t h, uint64_t token);
/* tl_engine_dedupe_claim for n hashes under one lock (0 = no key: skipped),
 * in order, so the first of two equal hashes claims and the second is known.
 * known[i] = 1 where hs[i] was already claimed or stored. */
void tl_engine_dedupe_claim_many(struct tl_engine *e, const uint64_t *hs, size_t n, uint64_t token,
                                 unsigned char *known);
/* Size the set for n more hashes now (a bulk import knows roughly how many
 * are coming): growing it step by step rehashes every hash again each time. */
void tl_engine_dedupe_expect(struct tl_engine *e, size_t n);
/* Resolve pending claims: committed=1 keeps them, 0 releases them. */
void tl_engine_dedupe_settle(struct tl_engine *e, const uint64_t *hs, size_t n, int committed);
/* Mark every claim of token committed (end of a successful import). */
void tl_engine_dedupe_commit_token(struct tl_engine *e, uint64_t token);

/* ---- trained models (engine/train.c) ---- */
typedef void (*tl_engine_train_progress_fn)(void *ctx, double frac, const char *phase);
/* Acquire the shop's current snapshot (NULL if none); tl_trained_release it. */
struct tl_trained *tl_engine_trained(struct tl_shop_state *s);
/* Drop the shop's snapshot (shop teardown). */
void tl_engine_trained_drop(struct tl_shop_state *s);
/* Train every configured model of one shop now, on the calling thread, and
 * publish + save the snapshot. */
enum tl_rc tl_engine_train_shop(struct tl_engine *e, uint32_t shop_id, tl_engine_train_progress_fn fn, void *ctx,
                                struct tl_err *err);
enum tl_rc tl_engine_trained_save(struct tl_engine *e, uint32_t shop_id, const struct tl_trained *t,
                                  struct tl_err *err);
/* Load the shop's snapshot file; TL_ENOTFOUND when there is none. */
enum tl_rc tl_engine_trained_load(struct tl_engine *e, uint32_t shop_id, struct tl_err *err);

/* ---- analytics (engine/analytics.c) ---- */

struct tl_eanalytics *tl_eanalytics_new(void);
void tl_eanalytics_free(struct tl_eanalytics *a);
/* A sale (imported order or purchase) for the seasonality model. */
void tl_engine_analytics_order(struct tl_engine *e, struct tl_shop_state *s, const struct tl_order *o);
/* An anonymous visitor was linked to a customer at ts_ms (tl_kpi_link). */
void tl_engine_analytics_link(struct tl_engine *e, uint32_t shop_id, const char *anonymous_id, const char *user_id,
                              int64_t ts_ms);
/* One stored event for the KPI roll-ups, seasonality and the audit. */
void tl_engine_analytics_event(struct tl_engine *e, const struct tl_event *ev);

/* ---- search (engine/search.c) ---- */

/* Load the shop's saved search index when it matches the catalog, else
 * build it from the catalog (at open, after the catalog is loaded). */
void tl_engine_search_open(struct tl_engine *e, struct tl_shop_state *s);
/* Before the catalog loads: intern the ids of the saved index in their old
 * order, so an unchanged catalog keeps its indexes (and its saved index). */
void tl_engine_search_preorder(struct tl_engine *e, struct tl_shop_state *s);
/* Save a changed index next to the database and free it (at close). */
void tl_engine_search_close(struct tl_engine *e, struct tl_shop_state *s);
/* Keep the index in step with the catalog: item at idx was upserted
 * (it != NULL) or deleted (it == NULL). */
void tl_engine_search_item(struct tl_shop_state *s, uint32_t idx, const struct tl_item *it);
/* Search analytics and learning from one stored event (live and start-up). */
void tl_engine_search_event(struct tl_engine *e, const struct tl_event *ev);

/* Random id "<prefix><16 hex>" for recommendation ids (out >= 24 bytes). */
void tl_engine_random_id(const char *prefix, char *out, size_t n);

#endif
