/* The composition root: owns the store, the in-memory catalog, profiles and
 * models of every shop, the event writer (group commit) and the trainer.
 * The HTTP layer and the CLI talk only to this API.
 *
 * Response convention: functions that answer an API request write the JSON
 * response body into `out` (a tl_buf the caller owns and initialised). On
 * error they return the rc and fill `err`; if they also wrote a complete
 * error body into `out` (batch errors listing indexes), out->len > 0 and the
 * caller sends it as is; otherwise the caller builds
 * {"error":{"code":tl_rc_code(rc),"message":err.msg,"field":err.field}}.
 * HTTP status by rc: TL_EINVAL/TL_EPARSE 400, TL_ETOOBIG 413, TL_ENOTFOUND 404,
 * TL_EAUTH 401, TL_EFORBIDDEN 403, TL_EBUSY/TL_ESHUTDOWN 503, else 500.
 *
 * Thread safety: every function may be called from any number of HTTP
 * threads at once, except open/close. */
#ifndef TL_ENGINE_ENGINE_H
#define TL_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "engine/config.h"
#include "store/types.h"

struct tl_engine;

/* Open the store at cfg->db_path (creating and migrating it), load catalogs,
 * identities, the dedupe set, profiles checkpoint and models, and start the
 * writer thread. */
enum tl_rc tl_engine_open(const struct tl_config *cfg, struct tl_engine **out, struct tl_err *err);
/* Flush pending events and profiles, stop threads, close the store. */
void tl_engine_close(struct tl_engine *e);
/* The same for a process that exits right after: everything that reaches
 * the store is done (flush, checkpoint, search index, store closed, lock
 * released), but the memory is left to the exit (freeing the profiles, a
 * million small blocks after a large import, took a tenth of the import's
 * time). tailor_close_for_exit calls tl_engine_close instead in sanitizer
 * builds, so their leak checks keep their meaning. */
void tl_engine_close_for_exit(struct tl_engine *e);
/* Make close skip the final profile checkpoint (after a failed import whose
 * in-memory effects the store never received). */
void tl_engine_discard(struct tl_engine *e);

/* Claim the database for one long-running user (a server or an import):
 * an exclusive flock on "<db>.lock", held until close, which also records
 * the holder's pid and purpose. A second claimant gets TL_EBUSY with a
 * message naming the holder: two servers on one file, or an import into the
 * file of a running server (whose memory would not see it), are refused.
 * Short commands (keys, shops) do not claim. */
enum tl_rc tl_engine_claim(struct tl_engine *e, const char *purpose, struct tl_err *err);

/* Resolve an API key (the raw string from the client). TL_EAUTH if unknown. */
enum tl_rc tl_engine_auth(struct tl_engine *e, const char *key, uint32_t *shop_id, enum tl_scope *scope);

/* POST /v1/events: body is one JSON object, a JSON array of objects, or
 * NDJSON. Returns once the accepted events are durable. With partial=0 a
 * batch with any invalid event stores nothing (TL_EINVAL, out lists every
 * bad index with field and reason); with partial=1 valid events are stored
 * and out lists accepted, duplicates and rejected. Success body:
 * {"accepted":N,"duplicates":D,"rejected":[...]} */
enum tl_rc tl_engine_ingest_events(struct tl_engine *e, uint32_t shop_id, const char *body, size_t len, int partial,
                                   struct tl_buf *out, struct tl_err *err);

/* PUT /v1/items: JSON array of item objects (or {"items":[...]}).
 * Success: {"upserted":N}. Same partial semantics as events. */
enum tl_rc tl_engine_put_items(struct tl_engine *e, uint32_t shop_id, const char *body, size_t len, int partial,
                               struct tl_buf *out, struct tl_err *err);
/* GET /v1/items/{id}. public_view 0 (secret key): every field, hidden
 * items too. public_view 1 (public key): the shopper-facing fields
 * (id, title, price, currency, url, image, description, category, brand,
 * available) of a visible item; a hidden one is not found. */
enum tl_rc tl_engine_get_item(struct tl_engine *e, uint32_t shop_id, const char *id, int public_view,
                              struct tl_buf *out, struct tl_err *err);
/* DELETE /v1/items/{id}: {"deleted":"id"} */
enum tl_rc tl_engine_delete_item(struct tl_engine *e, uint32_t shop_id, const char *id, struct tl_buf *out,
                                 struct tl_err *err);

/* POST /v1/identify {"anonymous_id","user_id"}: {"user_id":..,"merged":bool} */
enum tl_rc tl_engine_identify(struct tl_engine *e, uint32_t shop_id, const char *body, size_t len, struct tl_buf *out,
                              struct tl_err *err);

/* GET /v1/users/{id}/profile */
enum tl_rc tl_engine_profile(struct tl_engine *e, uint32_t shop_id, const char *user_id, struct tl_buf *out,
                             struct tl_err *err);

/* GET /v1/recommendations: parameters as parsed from the query string. */
struct tl_rec_query {
    const char *type; /* popular | trending | recently_viewed */
    const char *user_id;
    const char *anonymous_id;
    const char *country;
    const char *item_id;
    const char *exclude;  /* comma-separated item ids, at most 100 */
    const char *category; /* only items in this category path or below it */
    const char *brand;    /* only this brand (case-insensitive) */
    double min_price;     /* NAN = no bound */
    double max_price;
    long max_per_category;     /* diversity: at most this many items per category, 0 = no cap */
    long max_per_brand;        /* and per brand */
    long limit;                /* 1..100, default 10 */
    const char *page_type;     /* the storefront's page type, for experiments targeted by page type */
    const char *for_you_blend; /* internal: an experiment arm's blends (NULL = config) */
    const char *similar_blend;
    const char *cart_blend;
};
enum tl_rc tl_engine_recommend(struct tl_engine *e, uint32_t shop_id, const struct tl_rec_query *q, struct tl_buf *out,
                               struct tl_err *err);

/* GET /v1/search and GET /v1/browse (q NULL or ""): parameters as parsed
 * from the query string (see docs/search.md). */
struct tl_search_req {
    const char *q;
    const char *user_id;
    const char *anonymous_id;
    const char *category; /* subtree */
    const char *brand;    /* comma-separated brands, any of them */
    const char *attrs;    /* "key:value,key:value", all of them */
    double min_price;     /* NAN = no bound */
    double max_price;
    int available_only;
    const char *sort; /* relevance (default) | price_asc | price_desc | newest | popular */
    long page;        /* 1.., default 1 */
    long per_page;    /* 1..100, default 20 */
    int facets;       /* 1 (default): facet counts */
    int browse;       /* 1: GET /v1/browse (category required) */
};
enum tl_rc tl_engine_search(struct tl_engine *e, uint32_t shop_id, const struct tl_search_req *q, struct tl_buf *out,
                            struct tl_err *err);
/* GET /v1/search/suggest: completions of q from past searches that led to
 * clicks, and product hits. */
enum tl_rc tl_engine_search_suggest(struct tl_engine *e, uint32_t shop_id, const char *q, long limit,
                                    struct tl_buf *out, struct tl_err *err);
/* GET /v1/admin/search: search analytics (top and zero-result queries,
 * click-through per query) and the index state. */
enum tl_rc tl_engine_search_report(struct tl_engine *e, uint32_t shop_id, long limit, struct tl_buf *out,
                                   struct tl_err *err);

/* Experiments (docs/experiments.md): PUT /v1/experiments/{id} (create or
 * replace; answers the report), GET /v1/experiments[/{id}] (definitions
 * with per-arm metrics and statistics), DELETE /v1/experiments/{id}, and
 * GET /v1/experiments/assignments (public: the shopper's arms). */
enum tl_rc tl_engine_experiment_put(struct tl_engine *e, uint32_t shop, const char *id, const char *body, size_t len,
                                    struct tl_buf *out, struct tl_err *err);
enum tl_rc tl_engine_experiment_delete(struct tl_engine *e, uint32_t shop, const char *id, struct tl_buf *out,
                                       struct tl_err *err);
enum tl_rc tl_engine_experiments_get(struct tl_engine *e, uint32_t shop, const char *id, struct tl_buf *out,
                                     struct tl_err *err);
enum tl_rc tl_engine_assignments(struct tl_engine *e, uint32_t shop, const char *user_id, const char *anonymous_id,
                                 const char *page_type, const char *country, struct tl_buf *out, struct tl_err *err);

/* GET /v1/admin/kpis?from=&to=&by=: KPI roll-ups (docs/analytics.md);
 * GET /v1/admin/seasonal: seasonal products and recommendations shown out
 * of season. */
enum tl_rc tl_engine_kpi_report(struct tl_engine *e, uint32_t shop, const char *from, const char *to, const char *by,
                                struct tl_buf *out, struct tl_err *err);
enum tl_rc tl_engine_seasonal_report(struct tl_engine *e, uint32_t shop, long limit, struct tl_buf *out,
                                     struct tl_err *err);
/* GET /v1/admin/segments: the shop's micro-segments (docs/segments.md). */
enum tl_rc tl_engine_segments_report(struct tl_engine *e, uint32_t shop, struct tl_buf *out, struct tl_err *err);

/* POST /v1/admin/train: queue a training run of the shop's models (202 +
 * the status); GET /v1/admin/train: the status and the current snapshot. */
enum tl_rc tl_engine_train_request(struct tl_engine *e, uint32_t shop_id, struct tl_buf *out, struct tl_err *err);
enum tl_rc tl_engine_train_status(struct tl_engine *e, uint32_t shop_id, struct tl_buf *out, struct tl_err *err);

/* Start the trainer thread (tailor serve): it trains shops queued at open
 * (no snapshot yet), on POST /v1/admin/train, and every train_interval_s
 * when new data arrived. Stopped (a running training cancelled) by
 * tl_engine_close. */
enum tl_rc tl_engine_trainer_start(struct tl_engine *e);
void tl_engine_trainer_stop(struct tl_engine *e);
/* Train one shop now on the calling thread (tailor train): progress is
 * called with 0..1 and a phase text. */
enum tl_rc tl_engine_train_now(struct tl_engine *e, uint32_t shop_id,
                               void (*progress)(void *ctx, double frac, const char *phase), void *ctx,
                               struct tl_err *err);

/* GET /v1/admin/stats */
enum tl_rc tl_engine_stats(struct tl_engine *e, uint32_t shop_id, struct tl_buf *out, struct tl_err *err);

/* Engine counters for /metrics. */
struct tl_engine_metrics {
    uint64_t events_ingested;
    uint64_t events_duplicate;
    uint64_t events_rejected;
    uint64_t profiles_in_memory;
    uint64_t writer_queue_depth;
};
void tl_engine_metrics(struct tl_engine *e, struct tl_engine_metrics *m);

const struct tl_config *tl_engine_config(const struct tl_engine *e);

#endif
