/* Content-similarity recommender ("content"): item-to-item similarity over
 * the catalog text (struct tl_item_text in dataset.h) with saturated-tf x IDF
 * weights and cosine similarity. It needs no interactions, so it answers for
 * cold items (new products nobody has seen yet) as well as for old ones.
 *
 * Training (tl_content_ops.train) reads d->text only and ignores the
 * interactions; for every item it keeps its top `neighbours` most similar
 * items. candidates():
 *   anchor set            -> that item's neighbours (hit.anchor = anchor);
 *   no anchor, a history  -> score(j) = sum_p r_p * sim(h_p, j), with the
 *                            recency weight r_p = hweight_p *
 *                            2^(-(n-1-p) / history_half_life) (p = 0 oldest,
 *                            n-1 newest, so the newest weighs most);
 *                            hit.anchor = the history item whose single term
 *                            r_p * sim(h_p, j) is largest. Recency is by
 *                            position only (q->hts is ignored); q->user is
 *                            ignored; history items are not removed (use
 *                            skip()).
 * Formulas, defaults and the snapshot format: src/model/content.c.
 *
 * Params (param_set keys; defaults in brackets):
 *   w_title [3]  w_brand [2]  w_category [2]  w_tags [1]  w_attrs [1]
 *   w_description [0.5]   field weights, each 0..100
 *   k1 [1.2]              tf saturation, 0..100
 *   neighbours [50]       kept per item, 1..1000
 *   min_sim [0]           neighbours need cosine > min_sim, 0..1
 *   max_postings [1000]   postings kept per term for candidate generation
 *                         (its highest-weight items), 2..2^28; lists of
 *                         terms with more items are cut (content.c
 *                         "PRUNING": then neighbours are approximate)
 *   history_half_life [3] positions, 0.01..1000 */
#ifndef TL_MODEL_CONTENT_H
#define TL_MODEL_CONTENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/dataset.h"
#include "model/model.h"
#include "tailor/rc.h"

#define TL_CONTENT_NEIGHBOURS_MAX 1000u /* largest `neighbours` param */
#define TL_CONTENT_TOKEN_MAX 64         /* bytes of one token; longer ones are cut */

struct tl_content_params {
    double w_title;           /* 3: field weights (0..100; 0 drops the field) */
    double w_brand;           /* 2: words + "brand:<value>" */
    double w_category;        /* 2: words + "cat:<path prefix>" per level */
    double w_tags;            /* 1: words + "tag:<value>" per tag */
    double w_attrs;           /* 1: words */
    double w_description;     /* 0.5: words */
    double k1;                /* 1.2: tf = raw (k1 + 1) / (raw + k1) */
    uint32_t neighbours;      /* 50: N kept per item (1..TL_CONTENT_NEIGHBOURS_MAX) */
    double min_sim;           /* 0: neighbours need cosine > min_sim */
    uint32_t max_postings;    /* 1000: M, postings kept per term */
    double history_half_life; /* 3: history positions per halving of weight */
};

extern const struct tl_model_ops tl_content_ops;

/* Score a text that was not in the training data (an item added after
 * training) against the trained items with the trained vocabulary and IDF:
 * up to k items best first (ties: lower index), cosine scores, hit.anchor =
 * TL_MODEL_NONE, never an item for which skip() != 0 (skip may be NULL).
 * Terms the model never saw count in the new text's norm with the IDF of a
 * term in one document. Cost O(total terms of the model) (a scan). t may
 * have any fields NULL; *n = 0 when nothing matches. Thread-safe.
 * Per call: one double per vocabulary term (calloc) and a k-entry heap.
 * TL_EINVAL for NULL model/t/n, out NULL with k > 0, k > TL_MODEL_K_MAX;
 * TL_ENOMEM. */
enum tl_rc tl_content_similar_text(const void *model, const struct tl_item_text *t, tl_model_skip_fn skip,
                                   void *skip_ctx, size_t k, struct tl_model_hit *out, size_t *n, struct tl_err *err);

/* The features one text yields, for tests and debugging: calls emit(ctx,
 * feature, weight) for every (feature string, summed field weight) before
 * saturation and IDF, in first-appearance order. p NULL = defaults. */
enum tl_rc tl_content_features(const struct tl_item_text *t, const struct tl_content_params *p,
                               void (*emit)(void *ctx, const char *feature, double raw), void *ctx);

#endif
