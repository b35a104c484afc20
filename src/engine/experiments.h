/* A/B experiments in the engine (src/engine/experiments.c): definitions,
 * sticky assignment, exposures, per-arm metrics and the report. */
#ifndef TL_ENGINE_EXPERIMENTS_H
#define TL_ENGINE_EXPERIMENTS_H

#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/types.h"

struct tl_engine;
struct tl_exps;

/* What the running experiments change for one shopper's answer. */
struct tl_exp_treatment {
    int personalization;           /* 0: serve the non-personalized fallback */
    char for_you_blend[256];       /* "" = the configured blend */
    char similar_blend[256];       /* "" = the configured blend */
    char cart_blend[256];          /* "" = the configured blend */
    double search_personalization; /* NAN = the configured weight */
};

struct tl_exps *tl_exps_new(void);
void tl_exps_free(struct tl_exps *s);
/* Load the stored definitions (at open). */
enum tl_rc tl_engine_experiments_load(struct tl_engine *e);
/* Which answers an experiment's arms change (an experiment exposes a
 * shopper only where some arm changes the answer, so that every arm, the
 * control too, is exposed at the same touchpoints). */
#define TL_EXP_FOR_YOU 1u /* for_you and session recommendations */
#define TL_EXP_SIMILAR 2u
#define TL_EXP_CART 4u
#define TL_EXP_SEARCH 8u /* search and category pages */

/* The treatment of the shopper in this shop's running experiments that
 * change `what` (TL_EXP_* bits); records (and logs as an
 * experiment_exposure event) a first exposure in those. */
void tl_engine_exp_treatment_for(struct tl_engine *e, uint32_t shop, unsigned what, const char *user_id,
                                 const char *anonymous_id, const char *page_type, const char *country,
                                 struct tl_exp_treatment *t);

/* Count one stored event for the experiments its shopper is exposed in. */
void tl_engine_exp_event(struct tl_engine *e, const struct tl_event *ev);

#endif
