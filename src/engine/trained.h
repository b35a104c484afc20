/* Trained model snapshots of a shop (engine/train.c).
 *
 * A struct tl_trained holds every model trained for one shop in one run,
 * plus the mapping between the models' item indexes and the catalog's. It
 * is immutable once published and reference counted: a request acquires the
 * shop's current snapshot (a mutex-protected pointer copy and increment,
 * never waiting for training), uses it and releases it; the trainer
 * publishes a new one by swapping the pointer and releasing the old, which
 * is freed when its last reader lets go.
 *
 * Item spaces: models were trained with item index = catalog index at
 * training time. Catalog indexes are not persisted, so a snapshot loaded
 * from disk maps its items back through their ids: model_to_cat[m] is the
 * current catalog index of model item m (TL_CAT_NONE if gone) and
 * cat_to_model[c] (c < n_cat) the reverse (TL_MODEL_NONE for items the
 * models never saw). */
#ifndef TL_ENGINE_TRAINED_H
#define TL_ENGINE_TRAINED_H

#include <stdatomic.h>
#include <stdint.h>

#include "model/model.h"

#define TL_TRAINED_MODELS_MAX 8

struct tl_trained_entry {
    char name[24];
    const struct tl_model_ops *ops;
    void *model;
    double seconds; /* training time */
};

struct tl_trained {
    atomic_int refs;
    uint32_t n_items;       /* model item space */
    uint32_t *model_to_cat; /* n_items */
    uint32_t n_cat;
    uint32_t *cat_to_model; /* n_cat */
    char **ids;             /* n_items item ids (for the snapshot file) */
    size_t n;
    struct tl_trained_entry m[TL_TRAINED_MODELS_MAX];
    int64_t trained_at_ms;
    double seconds;
    uint64_t users, interactions, sessions, baskets;
};

/* The model named `name` in t, or NULL (ops through *ops when not NULL). */
void *tl_trained_find(const struct tl_trained *t, const char *name, const struct tl_model_ops **ops);
/* Model index of catalog index c, TL_MODEL_NONE if unknown to the models. */
uint32_t tl_trained_from_cat(const struct tl_trained *t, uint32_t c);
/* Catalog index of model index m, UINT32_MAX if none. */
uint32_t tl_trained_to_cat(const struct tl_trained *t, uint32_t m);
void tl_trained_release(struct tl_trained *t);

#endif
