/* Shared pieces of GET /v1/recommendations (engine/recs.c for the
 * foundation and co-occurrence types, engine/recs_hybrid.c for the trained
 * model types): the per-request skip rules, diversity caps and the item
 * JSON writer. Internal to the engine. */
#ifndef TL_ENGINE_RECS_H
#define TL_ENGINE_RECS_H

#include "decide/merch.h"
#include "engine/internal.h"

#define RECS_LIMIT_MAX 100

/* Diversity: at most max_cat items per category and max_brand per brand in
 * one answer (0 = no cap). Names are tracked by 64-bit hash. When a cap is
 * set the models are asked for DIVERSITY_FETCH times the limit (at most
 * RECS_LIMIT_MAX) so that enough candidates survive the caps. */
#define DIVERSITY_FETCH 4

struct diversity {
    long max_cat, max_brand;
    uint64_t cat_h[RECS_LIMIT_MAX], brand_h[RECS_LIMIT_MAX];
    uint32_t cat_n[RECS_LIMIT_MAX], brand_n[RECS_LIMIT_MAX];
    size_t ncat, nbrand;
};

#define REQUEST_EXCLUDE_MAX 100 /* ids in ?exclude= */

struct skip_ctx {
    struct tl_catalog *cat;
    uint32_t anchor;
    const char *const *exclude; /* item ids (the shopper's cart) */
    size_t n_exclude;
    struct {
        const char *s;
        size_t n;
    } req_exclude[REQUEST_EXCLUDE_MAX]; /* ?exclude= ids, pointing into the query */
    size_t n_req_exclude;
    const char *category;                      /* ?category= path: the item's path equals it or lies below it */
    const char *brand;                         /* ?brand=, case-insensitive */
    double min_price, max_price;               /* applied when > 0 */
    uint64_t bought[TL_PROFILE_PURCHASED_MAX]; /* the shopper's purchases (item hashes, ascending) */
    size_t n_bought;
    const char *rebuy;            /* config rebuy_categories: comma-separated paths exempt from that rule */
    struct diversity div;         /* caps of this answer, counted as items are written */
    const struct tl_merch *merch; /* merchandising rules (exclude applies in tl_recs_skip) */
    uint32_t type_bit;            /* tl_merch_type_bit of the requested type */
    const char *type;             /* the requested type (reasons) */
    int cat_locked;               /* the caller holds the catalog read lock (lock-free models only) */
    uint64_t fb_user;             /* tl_feedback_user of the shopper, 0 = anonymous request */
    uint32_t hide[64];            /* catalog indexes never shown (the current session's views) */
    size_t n_hide;
};

/* One candidate of an answer: catalog index, score and the reason JSON
 * object that explains it. Handlers collect candidates best first and hand
 * them to tl_recs_emit, which applies the merchandising rules (boost/bury
 * factors, pins) and the shopper feedback, then the diversity caps and the
 * limit, and writes the items. */
#define RECS_REASON_MAX 224
struct tl_recs_cand {
    uint32_t idx;
    double score;
    char reason[RECS_REASON_MAX];
};

/* Write ,"items":[...]} from n candidates (best first; the array is
 * reordered in place). Takes the catalog lock itself. */
enum tl_rc tl_recs_emit(struct tl_engine *e, struct tl_shop_state *s, const struct tl_rec_query *q, struct skip_ctx *sc,
                        struct tl_recs_cand *c, size_t n, struct tl_buf *out);

/* Serving rules + request filters for catalog index idx: 1 = leave out.
 * ctx is a struct skip_ctx. Takes the catalog read lock itself. */
int tl_recs_skip(void *ctx, uint32_t idx);
/* Diversity caps: 1 if it may be shown next (and counts it). */
int tl_recs_admit(struct diversity *d, const struct tl_item *it);
/* Candidates to ask a model for (the limit, more when caps are set). */
size_t tl_recs_fetch(const struct tl_rec_query *q);
/* One item object of "items" (catalog read lock held). */
/* The shopper-facing fields of it as an unterminated JSON object
 * ({"id","title","price","currency","url","image"), for callers that add more. */
void tl_recs_item_fields_json(struct tl_buf *out, const struct tl_item *it);
void tl_recs_item_json(struct tl_buf *out, const struct tl_item *it, double score, const char *reason_json, int first);
/* Trained-model types (engine/recs_hybrid.c): for_you, similar, session.
 * Write ,"items":[...]} (and ,"fallback":..). */
enum tl_rc tl_recs_for_you(struct tl_engine *e, struct tl_shop_state *s, uint32_t shop_id, const struct tl_rec_query *q,
                           struct skip_ctx *sc, struct tl_buf *out, struct tl_err *err);
enum tl_rc tl_recs_similar(struct tl_engine *e, struct tl_shop_state *s, const struct tl_rec_query *q,
                           struct skip_ctx *sc, struct tl_buf *out, struct tl_err *err);
/* cart with association rules (when the shop's snapshot has them). */
int tl_recs_cart_has_rules(struct tl_shop_state *s);
enum tl_rc tl_recs_cart(struct tl_engine *e, struct tl_shop_state *s, const struct tl_rec_query *q, struct skip_ctx *sc,
                        struct tl_buf *out, struct tl_err *err);
enum tl_rc tl_recs_session(struct tl_engine *e, struct tl_shop_state *s, uint32_t shop_id, const struct tl_rec_query *q,
                           struct skip_ctx *sc, struct tl_buf *out, struct tl_err *err);

#endif
