/* Training data shared by every model (model.h): interactions grouped by
 * "user" (a customer, or one session for session models), each user's
 * interactions in time order, as compressed sparse rows.
 *
 * Invariants after tl_dataset_builder_finish:
 *   off[0] = 0, off[u] <= off[u+1], off[n_users] = n;
 *   user u's interactions are item[off[u] .. off[u+1]-1], sorted by ts
 *   ascending, equal timestamps in the order they were added (stable);
 *   every item < n_items; every weight > 0 and finite.
 * Repeated (user, item) interactions are kept: session models need repeated
 * clicks; models that want a set de-duplicate themselves.
 *
 * A dataset is immutable once finished and may be read by many threads. */
#ifndef TL_MODEL_DATASET_H
#define TL_MODEL_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "tailor/rc.h"

#define TL_DATASET_MAX ((size_t)1 << 31) /* interactions one dataset may hold */
#define TL_DATASET_IDS_MAX (1u << 28)    /* users / items below this */

/* Optional item content for content models. Every field may be NULL. */
struct tl_item_text {
    char *title;
    char *description;
    char *brand;
    char *category; /* path, levels separated by " > " */
    char *tags;     /* comma-separated */
    char *attrs;    /* free "key: value" text, one or more, separated by ';' */
};

struct tl_dataset {
    uint32_t n_users;
    uint32_t n_items;
    size_t n;                  /* interactions */
    size_t *off;               /* n_users + 1 row offsets */
    uint32_t *item;            /* n item indexes */
    float *weight;             /* n confidence weights (> 0) */
    int64_t *ts;               /* n timestamps (ms since the epoch, or sequence numbers) */
    struct tl_item_text *text; /* n_items entries, or NULL when no content is known */
};

struct tl_dataset_builder;

/* NULL on out of memory. Free with tl_dataset_builder_free (NULL allowed). */
struct tl_dataset_builder *tl_dataset_builder_new(void);
void tl_dataset_builder_free(struct tl_dataset_builder *b);
/* Append one interaction. TL_EINVAL for weight <= 0 or not finite,
 * TL_ETOOBIG for user/item >= TL_DATASET_IDS_MAX or more than
 * TL_DATASET_MAX interactions, TL_ENOMEM. Nothing is added on error. */
enum tl_rc tl_dataset_builder_add(struct tl_dataset_builder *b, uint32_t user, uint32_t item, float weight, int64_t ts,
                                  struct tl_err *err);
/* Sort and freeze. n_users / n_items may be 0 to mean "largest index seen
 * + 1"; a larger value keeps room for users/items without interactions;
 * TL_EINVAL if smaller than an index seen. On success *out owns a new
 * dataset (tl_dataset_free) and the builder is emptied for reuse. */
enum tl_rc tl_dataset_builder_finish(struct tl_dataset_builder *b, uint32_t n_users, uint32_t n_items,
                                     struct tl_dataset **out, struct tl_err *err);
void tl_dataset_free(struct tl_dataset *d);

/* Attach content to item i (copies the strings; NULL fields stay NULL).
 * Allocates d->text on first use. TL_EINVAL for i >= n_items. */
enum tl_rc tl_dataset_set_text(struct tl_dataset *d, uint32_t item, const struct tl_item_text *t, struct tl_err *err);

/* Number of interactions per item (out has n_items entries). */
void tl_dataset_item_counts(const struct tl_dataset *d, uint32_t *out);

#endif
