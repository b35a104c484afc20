/* Two baseline models behind the model ops table (model.h), used by the
 * offline evaluation as reference points and by the blender:
 *
 *   "pop"      popularity: items ranked by the number of distinct training
 *              users who interacted with them (not personalised); with
 *              count_interactions = 1, by the number of interactions.
 *   "trend"    time-decayed popularity: sum over users of
 *              2^(-(t_max - t_ui) / half_life_days), t_ui the user's latest
 *              interaction with the item, t_max the newest in the data (the
 *              data's "now"): what sells lately (seasonality).
 *   "itemknn"  item-to-item cosine over the binary user x item matrix:
 *              sim(i,j) = |U_i n U_j| / sqrt(|U_i| |U_j|), each item keeps
 *              its `neighbors` most similar items; score(j) = sum over the
 *              query's distinct history items h of sim(h, j) (or the
 *              anchor's neighbour list when q->anchor is set). */
#ifndef TL_MODEL_BASELINES_H
#define TL_MODEL_BASELINES_H

#include "model/model.h"

extern const struct tl_model_ops tl_pop_ops;
extern const struct tl_model_ops tl_trend_ops;
extern const struct tl_model_ops tl_itemknn_ops;

struct tl_pop_params {
    long count_interactions; /* 0: distinct users per item (default); 1: interactions */
};

struct tl_trend_params {
    double half_life_days; /* 30 */
};

struct tl_itemknn_params {
    long neighbors; /* 100: neighbours kept per item, 1..10000 */
};

#endif
