/* Score blending: the hybrid "for you" recommender's core.
 *
 * tl_blend_merge fuses several ranked candidate lists (one per source model)
 * into one: each list is normalised, weighted and summed per item:
 *   minmax  norm(s) = (s - s_min) / (s_max - s_min) over the list (1 when all
 *           equal), so each source contributes 0..w
 *   rrf     norm(rank) = 60 / (60 + rank), rank from 1 (reciprocal rank
 *           fusion, Cormack et al. 2009, constant 60), scale-free
 *   score(j) = sum_m w_m * norm_m(j)
 * Each fused item remembers the source with the largest weighted term
 * (its "reason") and that source's anchor.
 *
 * The "blend" model (tl_blend_ops) wraps it as a trained model: train()
 * trains each listed sub-model on the same data, candidates() asks each for
 * its top `depth` and fuses them. Parameters:
 *   models  "ease:1,itemknn:0.5"  sub-models and weights (default
 *           "ease:1,sknn:0.5,trend:0.5,itemknn:0.25": item-item CF, similar
 *           sessions, what sells lately, co-occurrence)
 *   depth   candidates fetched per sub-model (default 200)
 *   norm    "minmax" (default) or "rrf"
 *   tune    1 (default): learn the weights on held-out latest interactions
 *           (tune_weights in blend.c); 0: use the configured weights
 *   refit   1 (default): after tuning, retrain the sub-models on all the
 *           data; 0: keep the models trained for tuning (half the cost)
 *   self_valid  sub-models (comma-separated) that hold out each user's
 *           latest item themselves and get all the data (refit 0 only)
 *   recency_days  0 (off): history weights are multiplied by
 *           2^(-(t_latest - t_i) / recency_days days) (needs q->hts in ms)
 *           before every sub-model sees the query: recent items count more
 *   M.KEY   any other key containing a dot is a sub-model parameter
 *           (e.g. "ease.lambda" = "50"), applied when training sub-model M. */
#ifndef TL_MODEL_BLEND_H
#define TL_MODEL_BLEND_H

#include "model/model.h"

#define TL_BLEND_SOURCES_MAX 8
#define TL_BLEND_SUBPARAMS_MAX 16

enum tl_blend_norm { TL_BLEND_MINMAX = 0, TL_BLEND_RRF = 1 };

struct tl_blend_list {
    const struct tl_model_hit *hits; /* best first */
    size_t n;
    float weight;
};

struct tl_blend_hit {
    uint32_t item;
    float score;
    uint32_t source; /* index of the list with the largest weighted term */
    uint32_t anchor; /* that list's anchor for the item */
};

/* Fuse lists into at most k hits, best first (ties: lower item index).
 * n_items bounds item indexes (larger ones are ignored). Scratch is
 * allocated per call. TL_EINVAL for bad arguments, TL_ENOMEM. */
enum tl_rc tl_blend_merge(const struct tl_blend_list *lists, size_t n_lists, enum tl_blend_norm norm, uint32_t n_items,
                          size_t k, struct tl_blend_hit *out, size_t *n);

extern const struct tl_model_ops tl_blend_ops;

/* Offline metrics of a trained blend, from its weight tuning (tune = 1):
 * each shopper's latest interactions held out, sub-models trained on the
 * rest, HR@10 and NDCG@10 (gain 1 / log2(rank + 1) of the first held-out
 * item in the top 10) of the fused list and of each source alone. */
struct tl_blend_validation {
    uint32_t cases; /* validation cases (shoppers) */
    double hr10, ndcg10;
    size_t n;
    struct {
        const char *name; /* static */
        float weight, hr10, ndcg10;
    } src[TL_BLEND_SOURCES_MAX];
};
/* 1 and *out filled when the blend was tuned, else 0. */
int tl_blend_validation(const void *model, struct tl_blend_validation *out);

/* Source i of a trained blend (ops, its trained model in *sub and its
 * weight), or NULL when i is past the last; for reporting each source on
 * its own (tailor eval --sources). */
const struct tl_model_ops *tl_blend_source(const void *model, size_t i, const void **sub, float *weight);

#endif
