/* iALS: implicit-feedback matrix factorisation (Hu, Koren, Volinsky 2008)
 * trained by alternating least squares with conjugate-gradient row updates
 * (Takacs, Pilaszy, Tikk 2011), behind the model ops table as "ials".
 *
 * Model: user factors x_u and item factors y_i (f floats each), score
 * x_u . y_i. Training minimises
 *   sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + reg (sum_u |x_u|^2 + sum_i |y_i|^2)
 * over ALL (u, i) pairs, with p_ui = 1 and c_ui = 1 + alpha * w_ui for the
 * observed pairs (w_ui = summed dataset weight of user u's interactions with
 * item i) and p_ui = 0, c_ui = 1 elsewhere. Formulas and the CG update are in
 * ials.c.
 *
 * Parameters (param_set key, default, range):
 *   factors         64    1 .. 512
 *   regularization  0.1   0 .. 1e6  (reg, added to the diagonal of Y^T Y)
 *   alpha           10    0 .. 1e6  (confidence slope on the summed weight)
 *   iterations      15    1 .. 1000 (one iteration = users then items)
 *   cg_steps        3     1 .. 512  (CG steps per row per iteration)
 * Why these defaults (Amazon Beauty, S3Rec protocol, 64 factors, HR@10):
 * alpha 1 -> 0.040, 5 -> 0.047, 10 -> 0.048, 20 -> 0.049, 40 -> 0.049, so
 * 10 is near the plateau while keeping c_ui moderate when engine weights
 * (view 1 < cart < purchase, summed) grow large; regularization 0.1 .. 10
 * makes no difference there (100: -0.001, 300: -0.02). Quality grows with
 * factors (128: 0.056, 256: 0.062, 512: 0.065) at f^2 .. f^3 cost.
 * The seed and thread count come from struct tl_train_opts. The trained
 * factors depend on the seed only: they are bit-identical for any thread
 * count (see ials.c "Determinism").
 *
 * Serving (candidates):
 *   - q->anchor set and a known item: cosine(y_anchor, y_j) ("similar
 *     items"); the anchor itself is never returned; hit.anchor = anchor;
 *   - else q->user a training user with interactions: x_u . y_j
 *     (hit.anchor = TL_MODEL_NONE, also for the fold-in);
 *   - else q->history non-empty: x is folded in (exact solve of the user's
 *     normal equations against the fixed item factors, confidences from
 *     q->hweight summed per item, or 1 per occurrence when NULL), then x . y_j;
 *   - otherwise no hits.
 * Items never seen in training are never returned (their factors are 0).
 * History items are not removed automatically: callers mask through skip().
 * Thread-safe; per call O(k) heap scratch, plus O(f^2) for a fold-in
 * (which costs O(|history| f^2 + f^3)). */
#ifndef TL_MODEL_IALS_H
#define TL_MODEL_IALS_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

#define TL_IALS_FACTORS_MAX 512

struct tl_ials_params {
    int factors;           /* 64 */
    double regularization; /* 0.1 */
    double alpha;          /* 10 */
    int iterations;        /* 15 */
    int cg_steps;          /* 3 */
};

struct tl_ials;

extern const struct tl_model_ops tl_ials_ops;

/* Read access for tests, evaluation and benchmarks (model from tl_ials_ops). */
uint32_t tl_ials_n_users(const struct tl_ials *m);
uint32_t tl_ials_n_items(const struct tl_ials *m);
uint32_t tl_ials_factors(const struct tl_ials *m);
/* Borrowed factor rows (f floats), NULL when out of range. */
const float *tl_ials_user(const struct tl_ials *m, uint32_t u);
const float *tl_ials_item(const struct tl_ials *m, uint32_t i);

/* Fold a history in: x (f floats) = exact solution of
 *   (Y^T Y + reg I + sum_i (c_i - 1) y_i y_i^T) x = sum_i c_i y_i
 * with c_i = 1 + alpha * (summed weight of item i in the history; weight 1
 * per occurrence when w is NULL). Items >= n_items or unseen are ignored;
 * an empty history gives x = 0. TL_EINVAL for n > TL_MODEL_HISTORY_MAX,
 * TL_ENOMEM. */
enum tl_rc tl_ials_fold_in(const struct tl_ials *m, const uint32_t *items, const float *w, size_t n, float *x);

/* Dense scores into out[n_items] for what candidates() would use (a known
 * user's vector, else the folded-in history); unseen items score 0. */
enum tl_rc tl_ials_scores(const struct tl_ials *m, uint32_t user, const uint32_t *items, const float *w, size_t n,
                          float *out);

/* The training objective (see above) of the model on d (the same data it
 * was trained on), computed in double in O(nnz f + n_users f^2). */
double tl_ials_loss(const struct tl_ials *m, const struct tl_dataset *d, const struct tl_ials_params *p);

/* The row kernel, exposed for tests and the benchmark: `steps` CG steps on
 *   (gram + sum_k cm1[k] y_k y_k^T) x = sum_k (1 + cm1[k]) y_k,
 * y_k = Y + idx[k] * f, gram = Y^T Y + reg I (f x f, row-major, full),
 * starting from x. scratch holds 3 f floats. */
void tl_ials_cg_row(const float *gram, const float *Y, size_t f, const uint32_t *idx, const float *cm1, size_t nnz,
                    int steps, float *x, float *scratch);

#endif
