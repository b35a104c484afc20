/* Tailor public C API: `tailor simulate`, a SIMULATED A/B test of
 * personalization on a shop's own data.
 *
 * tailor_simulate() runs synthetic shoppers through the shop in-process, in
 * a 50/50 experiment (docs/experiments.md) whose arm 0 "off" turns
 * personalization off (for_you is served as bestsellers) and whose arm 1
 * "on" serves the configured for_you blend, and returns the experiment's
 * report (the JSON of GET /v1/experiments/{id}).
 *
 * The shoppers are NOT real: each is a real customer of the shop (their id,
 * so the engine knows their purchase history) whose reactions to what they
 * are shown are drawn from a response model: an item is "relevant" to the
 * shopper when it is among the items other customers most often bought in
 * the same order as the shopper's own purchases, and relevant items are
 * clicked and bought more often. The model, its constants and its limits
 * are described in src/engine/simulate.c. The result measures how well
 * Tailor finds what the data says a customer wants; it is not a forecast of
 * a real store's uplift.
 *
 * Side effects: the experiment definition is stored (created or replaced,
 * status "running" while the simulation runs, "stopped" at the end) and
 * every simulated event (exposures, recommendation impressions and clicks,
 * product views, add to cart, purchases with their orders) is stored like a
 * real one, so a server started afterwards shows the experiment. Re-running
 * with the same experiment id replaces the definition but APPENDS events:
 * shoppers simulated again keep their arm and the report counts both runs;
 * use another experiment id for a separate run. Purchases are written as
 * orders with ids starting "sim-", which the relevance model of later runs
 * ignores but the next training of the shop's models uses like real ones
 * (run it on a copy of a database whose models matter).
 *
 * The database is used in-process: the handle must hold the database (no
 * server may be running on it; tailor_open already refuses then). Another
 * running experiment in the shop would mix its changes into the answers,
 * so the run is refused (TL_EINVAL, field "experiment") while one exists. */
#ifndef TAILOR_SIMULATE_H
#define TAILOR_SIMULATE_H

#include <stdint.h>

#include "tailor/tailor.h"

#define TAILOR_SIM_DEFAULT_EXPERIMENT "simulated-personalization"
#define TAILOR_SIM_ARMS 2

struct tailor_simulate_progress {
    uint64_t visits_done;
    uint64_t visits_total;
    const char *phase; /* "relevance", "assign", "visits", "report" */
};
typedef void (*tailor_simulate_progress_fn)(void *ctx, const struct tailor_simulate_progress *p);

struct tailor_simulate_options {
    uint32_t shop_id;                     /* the shop (1 = default) */
    uint64_t shoppers;                    /* 1..1,000,000; 0 = 2000. At most the customers with a history */
    uint32_t days;                        /* 1..365; 0 = 14: visits spread over the last `days` days */
    uint64_t seed;                        /* same seed and data: same shoppers, arms and reactions */
    const char *experiment_id;            /* NULL = TAILOR_SIM_DEFAULT_EXPERIMENT */
    uint32_t relevant;                    /* R, items relevant to a shopper, 1..1000; 0 = 30 */
    const char *relevance;                /* "count" (NULL: raw co-purchase counts) or "cosine" */
    int64_t end_ms;                       /* end of the simulated period, epoch ms, not after now;
                                             0 = now; -1 = the shop's latest order + 1 h (the data's clock) */
    tailor_simulate_progress_fn progress; /* may be NULL */
    void *progress_ctx;
};

/* What the simulator itself did, per arm (0 "off", 1 "on"): the report of
 * the experiment should show the same numbers for a fresh experiment id. */
struct tailor_simulate_arm {
    char name[8];
    uint64_t visitors;       /* simulated shoppers assigned to the arm */
    uint64_t visits;         /* for_you answers served (= recommendation_impression events) */
    uint64_t shown;          /* items shown */
    uint64_t shown_relevant; /* of them relevant to the shopper */
    uint64_t clicks;         /* recommendation_click events */
    uint64_t buyers;         /* shoppers with at least one purchase */
    uint64_t orders;         /* purchase events (one per visit with a purchase) */
    uint64_t items_bought;   /* purchase lines */
    double revenue;          /* sum of line prices (quantity 1) */
};

/* The experiment report's headline numbers (parsed from report_json; NAN
 * when the report has no value, e.g. no conversions in the control). */
struct tailor_simulate_report_arm {
    uint64_t visitors, conversions, orders;
    double revenue;
    double conversion_rate, conversion_rate_lo, conversion_rate_hi; /* Wilson 95% */
};
struct tailor_simulate_report {
    struct tailor_simulate_report_arm arms[TAILOR_SIM_ARMS];
    double diff, diff_lo, diff_hi;       /* on - off conversion rate, 95% */
    double uplift, uplift_lo, uplift_hi; /* (on - off) / off, 95% */
    double z, p_value;                   /* two-proportion z-test (fixed horizon) */
    double sequential_p_value;           /* always-valid (mSPRT, daily looks) */
    double srm_chi2, srm_p_value;        /* sample-ratio mismatch */
    int srm_flagged;                     /* p < 0.001: the split is broken */
    double rpv_uplift, rpv_p_value;      /* revenue per visitor (Welch) */
};

struct tailor_simulate_summary {
    uint64_t customers;    /* customers with a purchase history (candidates) */
    uint64_t orders_used;  /* orders read for the relevance model */
    uint64_t shoppers;     /* simulated */
    uint64_t visits;       /* total */
    uint64_t events;       /* events stored */
    uint64_t mismatches;   /* answers whose type disagreed with the arm (should be 0) */
    uint64_t units_before; /* visitors the experiment had before this run (re-run) */
    double mean_relevant;  /* mean size of a shopper's relevant set (<= R) */
    int64_t last_order_ms; /* the latest stored order (the data's clock) */
    int64_t start_ms;      /* simulated period */
    int64_t end_ms;
    double seconds;           /* the whole run, of which: */
    double seconds_relevance; /*   reading orders and the relevant sets */
    double seconds_recommend; /*   for_you answers (tl_engine_recommend) */
    double seconds_ingest;    /*   storing and applying the events */
    char experiment_id[129];
    char relevance[8]; /* "count" or "cosine" */
    struct tailor_simulate_arm arms[TAILOR_SIM_ARMS];
    struct tailor_simulate_report report;
};

/* Fill o with the defaults above (shop 1, seed 1). */
void tailor_simulate_options_init(struct tailor_simulate_options *o);

/* Run the simulation. On success *report_json (caller frees with
 * tailor_free; may be NULL to skip) holds the experiment report and
 * summary (may be NULL) what was simulated. Errors: TL_EINVAL (an option,
 * err->field names it: "shoppers", "days", "relevant", "relevance", "end",
 * "experiment"),
 * TL_ENOTFOUND (shop), TL_EBUSY (the database is claimed by another
 * process), TL_ENOMEM, store errors. */
enum tl_rc tailor_simulate(struct tailor *t, const struct tailor_simulate_options *o,
                           struct tailor_simulate_summary *summary, char **report_json, struct tailor_error *err);

#endif
