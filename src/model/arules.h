/* Association rules over baskets for "complete your basket" (model
 * "arules"). A dataset user is one basket (an order, a cart); its items are
 * de-duplicated. Mining finds every rule X => {j} (exactly one item on the
 * right-hand side) with
 *   support(X u {j})  = count(X u {j}) / N            >= min_support
 *   confidence        = support(X u {j}) / support(X) >= min_confidence
 *   min_len <= |X| + 1 <= max_len
 * and lift = confidence / support({j}); N = number of baskets (users with at
 * least one item). Counts and thresholds follow R's arules::apriori, so the
 * published Groceries rule counts are reproduced (see arules.c).
 *
 * candidates(): for the basket q->history, every item j not in it is scored
 * by the best rule X => {j} whose X is a subset of the basket (highest
 * confidence, ties by higher lift, then lower item index); hit.score =
 * confidence, hit.anchor = the item of X that came last in the history.
 * Rules with an empty X (min_len = 1) apply to every basket. */
#ifndef TL_MODEL_ARULES_H
#define TL_MODEL_ARULES_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

#define TL_ARULES_LEN_MAX 32              /* largest max_len (items per rule incl. the RHS) */
#define TL_ARULES_RULES_MAX 50000000u     /* largest max_rules */
#define TL_ARULES_ITEMSETS_MAX 100000000u /* frequent itemsets mining may hold */

/* tl_arules_ops' params struct; param_set keys are the field names. */
struct tl_arules_params {
    double min_support;    /* 0.001: fraction of baskets, (0, 1] */
    double min_confidence; /* 0.1: [0, 1] */
    uint32_t min_len;      /* 2: items per rule incl. the RHS, 1..max_len */
    uint32_t max_len;      /* 10: 1..TL_ARULES_LEN_MAX */
    uint32_t max_rules;    /* 5,000,000: training fails with TL_ETOOBIG beyond (raise min_support) */
    uint32_t min_count;    /* 2: a frequent itemset needs at least this many baskets (guards tiny shops) */
    uint32_t max_itemsets; /* 10,000,000: frequent itemsets mining may hold (TL_ETOOBIG beyond) */
};

/* One rule, as returned by tl_arules_rule. */
struct tl_arules_rule {
    uint32_t lhs[TL_ARULES_LEN_MAX]; /* left-hand side items, ascending item index */
    uint32_t n_lhs;                  /* |X| (rule length = n_lhs + 1) */
    uint32_t rhs;                    /* right-hand side item */
    uint32_t count;                  /* baskets holding X u {rhs} */
    double support;                  /* count / N */
    double confidence;               /* count / count(X) */
    double lift;                     /* confidence / (count(rhs) / N) */
};

extern const struct tl_model_ops tl_arules_ops; /* "arules" */

/* Number of rules of a trained (or loaded) arules model. */
size_t tl_arules_count(const void *model);
/* Rule i (0 .. count-1) into *r. TL_EINVAL for a NULL argument or i out of
 * range. Rules are grouped by left-hand side (a prefix tree over the
 * items ranked by ascending support, walked depth first), rhs ascending
 * inside a group; the order is stable across save/load. O(log nodes). */
enum tl_rc tl_arules_rule(const void *model, size_t i, struct tl_arules_rule *r);
/* Number of baskets N the model was mined from. */
uint32_t tl_arules_baskets(const void *model);

#endif
