/* Session rules for session-based next-click recommendation: two models of
 * the session-rec framework (Ludewig & Jannach 2018, "Evaluation of
 * session-based recommendation algorithms"), trained on a dataset whose
 * users are sessions (clicks in time order, repeats kept), predicting from
 * the LAST item of q->history (or q->anchor when the history is empty).
 *
 *   session_ar  association rules: every ordered pair of clicks of a session
 *               counts 1 both ways; the best `pruning` partners per item are
 *               kept; score = count / max count of the item's list.
 *   session_sr  sequential rules: a click b after a click a at distance d
 *               (1 <= d <= steps) adds w(d) to rule a -> b (w = 1/d "div",
 *               1/d^2 "quadratic", 1 "same", 1/log10(d + 1.7) "log"); same
 *               pruning and normalisation.
 *
 * Exact details (self pairs, tie-breaking of the pruning) are in
 * sessrules.c. candidates(): the item's list, best first (ties: lower item
 * index), never more than `pruning` entries; hit.anchor = the item predicted
 * from. The item itself may be among the hits (as in the reference); pass a
 * skip() that masks the history to leave it out. */
#ifndef TL_MODEL_SESSRULES_H
#define TL_MODEL_SESSRULES_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

#define TL_SESSRULES_PRUNING_MAX 10000    /* largest `pruning` (partners kept per item) */
#define TL_SESSRULES_STEPS_MAX 1000       /* largest `steps` of session_sr */
#define TL_SESSRULES_SESSION_MAX 100000   /* largest `max_session_len` of session_ar */
#define TL_SESSRULES_PAIRS_MAX (1u << 28) /* distinct (item, partner) pairs while training */

enum tl_sessrules_weighting {
    TL_SESSRULES_DIV = 0,       /* w(d) = 1/d (reference default) */
    TL_SESSRULES_QUADRATIC = 1, /* w(d) = 1/d^2 */
    TL_SESSRULES_SAME = 2,      /* w(d) = 1 */
    TL_SESSRULES_LOG = 3        /* w(d) = 1/log10(d + 1.7) */
};

/* Parameters of both models (each ignores the fields that are not its own). */
struct tl_sessrules_params {
    uint32_t pruning;         /* 20: partners kept per item (0 = keep all) */
    uint32_t steps;           /* 10: session_sr only, clicks looked back */
    uint32_t weighting;       /* TL_SESSRULES_DIV: session_sr only */
    uint32_t max_session_len; /* 1000: session_ar only, first clicks of a session that count (0 = all) */
};

extern const struct tl_model_ops tl_sessar_ops;  /* "session_ar" */
extern const struct tl_model_ops tl_sessseq_ops; /* "session_sr" */

#endif
