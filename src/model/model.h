/* The model ops table: one interface that every trained recommender
 * (association rules, session rules, session-kNN, iALS, EASE, content
 * similarity, ...) implements, so the engine's trainer, the HTTP serving path
 * and `tailor eval` treat them alike.
 *
 * Life cycle of a model:
 *   params_defaults -> param_set* -> train(dataset) -> candidates* (any
 *   threads) -> save / load -> free.
 * A trained model is an immutable snapshot: candidates() never modifies it,
 * so any number of threads may query one model at once without locks, and
 * the engine swaps a whole new snapshot in when training finishes.
 *
 * Items and users are dense uint32 indexes (0 .. n_items-1, 0 .. n_users-1)
 * that the caller maps to and from external ids; a model never sees ids.
 *
 * Training input is a struct tl_dataset (dataset.h): per "user" (a customer,
 * or one session for session models) the items they interacted with in time
 * order, with a confidence weight per interaction. */
#ifndef TL_MODEL_MODEL_H
#define TL_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "model/dataset.h"
#include "tailor/rc.h"

#define TL_MODEL_NONE UINT32_MAX  /* "no user" / "no anchor" in a query */
#define TL_MODEL_K_MAX 10000      /* largest k candidates() accepts */
#define TL_MODEL_HISTORY_MAX 1000 /* history items a query may carry */
#define TL_MODEL_PARAMS_MAX 4096  /* bytes of any model's params struct */

/* What a model is asked. Models use what applies to them and ignore the
 * rest: an item-to-item model reads `anchor` (or, without one, the history);
 * a session model reads the history (the current session's clicks, oldest
 * first); a user model reads `user` when the user was in its training data
 * and otherwise folds the history in. */
struct tl_model_query {
    uint32_t user;           /* dense training user, or TL_MODEL_NONE */
    uint32_t anchor;         /* item for "similar to this", or TL_MODEL_NONE */
    const uint32_t *history; /* borrowed; items oldest first; may be NULL if n_history == 0 */
    const float *hweight;    /* borrowed; confidence per history item; NULL = all 1 */
    const int64_t *hts;      /* borrowed; ms timestamps per history item; NULL = unknown */
    size_t n_history;        /* <= TL_MODEL_HISTORY_MAX */
};

struct tl_model_hit {
    uint32_t item;   /* recommended item */
    float score;     /* model score, higher is better (scale is model-specific) */
    uint32_t anchor; /* history item / anchor that contributed most, or TL_MODEL_NONE */
};

/* Items a caller wants left out (history masking, business rules). Called
 * from candidates() for every item that would otherwise be kept; must be
 * thread-safe for the caller's ctx and must not call back into the model. */
typedef int (*tl_model_skip_fn)(void *ctx, uint32_t item);

/* Options for one training run. */
struct tl_train_opts {
    int threads;   /* worker threads, >= 1 */
    uint64_t seed; /* same seed + same data + same threads -> same model */
    /* Called from the training thread with progress 0..1 and a short phase
     * name ("iteration 3/15"); may be NULL. */
    void (*progress)(void *ctx, double frac, const char *phase);
    void *progress_ctx;
    /* Polled between steps; when *cancel != 0, train returns TL_ESHUTDOWN
     * and frees what it built. May be NULL. */
    const volatile int *cancel;
};

struct tl_model_ops {
    const char *name;   /* "ease", "ials", ... (lowercase, stable: used in config and reasons) */
    size_t params_size; /* sizeof the model's params struct (<= TL_MODEL_PARAMS_MAX) */
    /* Fill *params with the documented defaults. */
    void (*params_defaults)(void *params);
    /* Set one parameter from text ("lambda", "200"). TL_EINVAL naming the
     * key when the key is unknown or the value out of range. */
    enum tl_rc (*param_set)(void *params, const char *key, const char *value, struct tl_err *err);
    /* Train on d with params (NULL = defaults). On success *out owns the new
     * model (free with ops->free). d is only read and may be freed after. */
    enum tl_rc (*train)(const struct tl_dataset *d, const void *params, const struct tl_train_opts *opts, void **out,
                        struct tl_err *err);
    /* Up to k candidates for q, best first (ties: lower item index first),
     * never an item for which skip() != 0. *n receives the count. TL_EINVAL
     * for k > TL_MODEL_K_MAX or a malformed query; an unknown user or anchor
     * is not an error (fewer or no hits). Thread-safe. */
    enum tl_rc (*candidates)(const void *model, const struct tl_model_query *q, tl_model_skip_fn skip, void *skip_ctx,
                             size_t k, struct tl_model_hit *out, size_t *n);
    /* Append the snapshot to out (format documented in the model's .c). */
    enum tl_rc (*save)(const void *model, struct tl_buf *out, struct tl_err *err);
    /* Rebuild a model from save()'s bytes. TL_EPARSE for a damaged or
     * truncated snapshot, naming what was wrong; never reads past len. */
    enum tl_rc (*load)(const void *data, size_t len, void **out, struct tl_err *err);
    /* Bytes held by the model. */
    size_t (*memory)(const void *model);
    void (*free)(void *model);
};

/* Serving must not wake BLAS worker threads: OpenBLAS threads spin
 * (sched_yield) between calls, and a fold-in solve per request would keep
 * every core busy. Call once at server start: BLAS calls outside training
 * then run on the calling thread; training raises the count around its own
 * calls (ease.c, ials.c) and restores it. The first call of a process
 * also stops the workers OpenBLAS started at load (they spin for about
 * 0.1 s before sleeping; the next parallel call starts them again). */
void tl_model_blas_serial(void);

/* 1 if name is a whole entry of the comma-separated list ("a, b"; spaces
 * around entries ignored), 0 otherwise or for a NULL list. */
int tl_model_name_in_list(const char *list, const char *name);

/* The registry of trained models, by name. NULL when unknown. */
const struct tl_model_ops *tl_model_find(const char *name);
/* The i-th registered model (NULL past the end), for listing. */
const struct tl_model_ops *tl_model_at(size_t i);

/* Helper for param_set implementations: parse a finite double in
 * [lo, hi] from value, or TL_EINVAL naming key. */
enum tl_rc tl_model_param_double(const char *key, const char *value, double lo, double hi, double *out,
                                 struct tl_err *err);
/* Same for an integer in [lo, hi]. */
enum tl_rc tl_model_param_long(const char *key, const char *value, long lo, long hi, long *out, struct tl_err *err);

/* Little-endian snapshot helpers shared by save/load implementations. A
 * reader never moves past its end: every get fails (returns 0 and sets
 * r->bad) once the bytes run out. */
struct tl_snap_reader {
    const uint8_t *p;
    size_t len;
    size_t off;
    int bad;
};
enum tl_rc tl_snap_put_u32(struct tl_buf *b, uint32_t v);
enum tl_rc tl_snap_put_u64(struct tl_buf *b, uint64_t v);
enum tl_rc tl_snap_put_f32s(struct tl_buf *b, const float *v, size_t n);
enum tl_rc tl_snap_put_u32s(struct tl_buf *b, const uint32_t *v, size_t n);
uint32_t tl_snap_get_u32(struct tl_snap_reader *r);
uint64_t tl_snap_get_u64(struct tl_snap_reader *r);
/* Copy n values into dst; on failure dst is left untouched and r->bad set. */
void tl_snap_get_f32s(struct tl_snap_reader *r, float *dst, size_t n);
void tl_snap_get_u32s(struct tl_snap_reader *r, uint32_t *dst, size_t n);

#endif
