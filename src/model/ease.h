/* EASE: "Embarrassingly Shallow Autoencoders for Sparse Data" (Steck 2019),
 * an item-to-item linear model with a closed-form solution, behind the model
 * ops table (model.h) under the name "ease".
 *
 *   X  binary user x item matrix (a user's repeated interactions count once)
 *   G  = X^T X + lambda I
 *   P  = G^-1                    (single-precision Cholesky, see ease.c)
 *   B  = -P / diag(P) column-wise: B_ij = -P_ij / P_jj, B_jj = 0
 *   score(j | history H) = sum_{i in H} B_ij      (distinct H, weights 1)
 *
 * Memory: B is dense, n_items^2 * 4 bytes (10,000 items = 400 MB, 30,000
 * items = 3.6 GB), both while training and while serving; train refuses
 * more than `max_items` items with TL_ETOOBIG. The snapshot is as large:
 * save() needs an output buffer whose max allows 4 n^2 bytes (the tl_buf
 * default of 1 GiB holds about 16,000 items).
 *
 * Parameters (param_set key, default, range):
 *   lambda     200    L2 weight, > 0 .. 1e7 (the evaluation uses 50 on the
 *                     Amazon sets, 200 on Online Retail)
 *   max_items  30000  1 .. 46000 (TL_EASE_MAX_ITEMS_LIMIT)
 *
 * Serving (candidates):
 *   - q->anchor set (and < n_items): row B[anchor], "similar to this";
 *   - else q->history (n_history > 0): sum of the history items' rows;
 *   - else q->user a training user: that user's training row (the same
 *     result as passing the same items as history);
 *   - otherwise no hits.
 * Items not seen in training are never returned (their B column is 0 and
 * they have no evidence). The anchor itself is never returned; history items
 * are returned unless skip() removes them (callers mask through skip()).
 * hit.anchor = the history item with the largest term B_ij (ties: lower
 * index). Thread-safe; one O(n_items) scratch allocation per call. */
#ifndef TL_MODEL_EASE_H
#define TL_MODEL_EASE_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

#define TL_EASE_LAMBDA_DEFAULT 200.0
#define TL_EASE_MAX_ITEMS_DEFAULT 30000
#define TL_EASE_MAX_ITEMS_LIMIT 46000 /* keeps n^2 below 2^31 for 32-bit LAPACK indexing */

struct tl_ease_params {
    double lambda;    /* 200: ridge weight added to the diagonal of X^T X */
    size_t max_items; /* 30000: train refuses larger item counts (TL_ETOOBIG) */
};

struct tl_ease;

extern const struct tl_model_ops tl_ease_ops;

/* Direct access for tests and evaluation (model must come from tl_ease_ops). */
uint32_t tl_ease_n_items(const struct tl_ease *m);
/* Row i of B (n_items floats, borrowed), NULL if i >= n_items. */
const float *tl_ease_row(const struct tl_ease *m, uint32_t i);
/* Dense scores of a history into out[n_items] (duplicates and items >=
 * n_items ignored); the same arithmetic as candidates(). */
void tl_ease_scores(const struct tl_ease *m, const uint32_t *items, size_t n, float *out);

#endif
