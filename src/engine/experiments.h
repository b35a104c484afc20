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
    double search_personalization; /* NAN = the configured weight */
};

struct tl_exps *tl_exps_new(void);
void tl_exps_free(struct tl_exps *s);
/* Load the stored definitions (at open). */
enum tl_rc tl_engine_experiments_load(struct tl_engine *e);
/* The treatment of the shopper in this shop's running experiments; records
 * (and logs as an experiment_exposure event) a first exposure. */
void tl_engine_exp_treatment(struct tl_engine *e, uint32_t shop, const char *user_id, const char *anonymous_id,
                             const char *page_type, const char *country, struct tl_exp_treatment *t);
/* Count one stored event for the experiments its shopper is exposed in. */
void tl_engine_exp_event(struct tl_engine *e, const struct tl_event *ev);

#endif
