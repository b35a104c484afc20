/* Session-based k-nearest-neighbours recommender (V-SKNN, Ludewig & Jannach
 * 2018) behind the model ops table (model.h). Formulas, constants and the
 * snapshot format are in sknn.c.
 *
 * Training data: a struct tl_dataset whose "users" are past sessions, each
 * session's clicks in time order (repeats allowed). Serving: the current
 * session's clicks in q->history (oldest first); nothing else is needed, so
 * the model answers for sessions it has never seen ("live"). Without a
 * history, q->anchor is used as a one-click session. q->hweight, when given,
 * scales each click's position weight; q->hts and q->user are not used.
 *
 * hit.score is the item's summed neighbour score divided by the best
 * item's (the best scored item has 1, before skip() is applied);
 * hit.anchor is the current-session item through which the item's single
 * largest contribution came (the most recent click shared with that
 * neighbour session; on equal contributions, the more recent neighbour's).
 *
 * Parameters (param_set key, value, default):
 *   k              neighbour sessions scored, 1..100000           500
 *   sample_size    most recent candidate sessions sharing an item
 *                  with the current session, 1..1048576           5000
 *   similarity     vec | cosine | jaccard                         vec
 *   decay          position weight of current clicks:
 *                  same | linear | div | log | quadratic          quadratic
 *   match_decay    weight of a neighbour by the recency of the
 *                  most recent click it shares:
 *                  same | linear | div | log | quadratic          div
 *   idf_weight     lambda in score * (1 + lambda * idf), 0..1000  5
 *   max_history    use only the last N clicks, 0 = all, 0..1000   0
 *   neighbor_decay lambda: weigh a neighbour's item by
 *                  exp(-distance to the match / lambda) in that
 *                  session (STAN's lambda_3), 0 = off, 0..1000     0
 * The defaults are the session-rec framework's V-SKNN configuration for
 * the RSC15 sample (k 500, sample 5000, quadratic, div, idf 5). */
#ifndef TL_MODEL_SKNN_H
#define TL_MODEL_SKNN_H

#include <stdint.h>

#include "model/model.h"

#define TL_SKNN_K_MAX 100000u
#define TL_SKNN_SAMPLE_MAX (1u << 20)
#define TL_SKNN_IDF_WEIGHT_MAX 1000.0
#define TL_SKNN_NEIGHBOR_DECAY_MAX 1000.0

/* Decay shapes. For a position weight (decay) with click i of L (1-based,
 * repeats counted) and d = L - i clicks after it; for a match weight
 * (match_decay) with step s >= 1 (1 = the last click):
 *   same       1                       1
 *   linear     max(0, 1 - 0.1 d)       max(0, 1 - 0.1 s)
 *   div        i / L                   1 / s
 *   log        1 / log10(d + 1.7)      1 / log10(s + 1.7)
 *   quadratic  (i / L)^2               1 / s^2 */
enum tl_sknn_decay { TL_SKNN_SAME = 0, TL_SKNN_LINEAR = 1, TL_SKNN_DIV = 2, TL_SKNN_LOG = 3, TL_SKNN_QUADRATIC = 4 };

/* W = sum of the position weights of the current session's distinct items
 * present in neighbour n, c = their count, m = distinct items of the
 * current session, |n| = distinct items of n:
 *   vec     W / m
 *   cosine  W / sqrt(m |n|)
 *   jaccard W / (m + |n| - c)
 * With decay "same" (W = c) these are the binary set similarities. */
enum tl_sknn_sim { TL_SKNN_SIM_VEC = 0, TL_SKNN_SIM_COSINE = 1, TL_SKNN_SIM_JACCARD = 2 };

struct tl_sknn_params {
    uint32_t k;
    uint32_t sample_size;
    enum tl_sknn_sim similarity;
    enum tl_sknn_decay decay;
    enum tl_sknn_decay match_decay;
    double idf_weight;
    uint32_t max_history;
    double neighbor_decay;
};

extern const struct tl_model_ops tl_sknn_ops;

#endif
