/* Offline evaluation runner: trains every requested model on an evdata's
 * training set (through the model ops table), asks each for the top
 * max(ks) items of every test case (history masked where the protocol says
 * so), and scores the lists with eval/metrics.h. Cases are split into fixed
 * contiguous ranges, one per thread. */
#ifndef TL_EVAL_EVAL_H
#define TL_EVAL_EVAL_H

#include <stdio.h>

#include "eval/evdata.h"
#include "eval/metrics.h"

#define TL_EVAL_MODELS_MAX 16
#define TL_EVAL_PARAMS_MAX 64

struct tl_eval_model_result {
    char name[48];
    double train_s; /* wall seconds of train() */
    double score_s; /* wall seconds scoring every case */
    size_t memory;  /* bytes held by the trained model */
    struct tl_evm m;
};

struct tl_eval_run_opts {
    const char *models;        /* comma-separated registry names */
    const char *self_valid;    /* comma-separated models trained on evdata.train_valid when it exists (they
                                * hold out their own validation item); NULL = none */
    int sources;               /* 1: a blend's row is followed by one row per source ("blend/NAME") */
    const char *const *params; /* "model.key=value" */
    size_t n_params;
    size_t ks[TL_EVM_KS_MAX];
    size_t n_ks;
    int threads;
    uint64_t seed;
    FILE *progress; /* NULL = quiet */
};

struct tl_eval_results {
    size_t n;
    struct tl_eval_model_result r[TL_EVAL_MODELS_MAX];
};

/* TL_EINVAL for an unknown model or parameter (naming it). */
enum tl_rc tl_eval_run(const struct tl_evdata *e, const struct tl_eval_run_opts *o, struct tl_eval_results *out,
                       struct tl_err *err);
void tl_eval_results_free(struct tl_eval_results *r);
/* One row per model: metrics at each k, coverage and popularity at the
 * largest k, training seconds, memory. */
void tl_eval_print_table(const struct tl_evdata *e, const struct tl_eval_results *r, FILE *out);
/* A JSON array of {"model","metric","k","value"} rows (train_seconds,
 * score_seconds, memory_bytes and cases with k 0). */
void tl_eval_print_json(const struct tl_eval_results *r, FILE *out);

#endif
