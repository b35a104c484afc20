/* Training data as compressed sparse rows by user (see dataset.h).
 *
 * The builder appends (user, item, weight, ts, seq) records into one growable
 * array; finish() sorts them by (user, ts, seq) so each user's row is in
 * time order and equal timestamps keep insertion order, then splits the
 * records into the column arrays and computes row offsets by counting. */
#include "model/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

struct rec {
    uint32_t user;
    uint32_t item;
    float weight;
    int64_t ts;
    uint64_t seq;
};

struct tl_dataset_builder {
    struct rec *r;
    size_t n, cap;
    uint32_t max_user, max_item; /* largest seen + 1 */
};

struct tl_dataset_builder *tl_dataset_builder_new(void) { return tl_calloc(1, sizeof(struct tl_dataset_builder)); }

void tl_dataset_builder_free(struct tl_dataset_builder *b)
{
    if (!b) return;
    tl_free(b->r);
    tl_free(b);
}

enum tl_rc tl_dataset_builder_add(struct tl_dataset_builder *b, uint32_t user, uint32_t item, float weight, int64_t ts,
                                  struct tl_err *err)
{
    if (!b) return tl_err_set(err, TL_EINVAL, NULL, "no dataset builder");
    if (!(weight > 0.0f) || !isfinite(weight))
        return tl_err_set(err, TL_EINVAL, "weight", "interaction weight must be a finite number > 0");
    if (user >= TL_DATASET_IDS_MAX || item >= TL_DATASET_IDS_MAX)
        return tl_err_set(err, TL_ETOOBIG, user >= TL_DATASET_IDS_MAX ? "user" : "item", "index must be below %u",
                          TL_DATASET_IDS_MAX);
    if (b->n >= TL_DATASET_MAX) return tl_err_set(err, TL_ETOOBIG, NULL, "more than %zu interactions", TL_DATASET_MAX);
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        struct rec *nr = tl_realloc(b->r, nc * sizeof *nr);
        if (!nr) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory growing the dataset");
        b->r = nr;
        b->cap = nc;
    }
    b->r[b->n] = (struct rec){user, item, weight, ts, b->n};
    b->n++;
    if (user + 1 > b->max_user) b->max_user = user + 1;
    if (item + 1 > b->max_item) b->max_item = item + 1;
    return TL_OK;
}

static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->user != y->user) return x->user < y->user ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

enum tl_rc tl_dataset_builder_finish(struct tl_dataset_builder *b, uint32_t n_users, uint32_t n_items,
                                     struct tl_dataset **out, struct tl_err *err)
{
    if (!b || !out) return tl_err_set(err, TL_EINVAL, NULL, "no dataset builder or output");
    if (n_users == 0) n_users = b->max_user;
    if (n_items == 0) n_items = b->max_item;
    if (n_users < b->max_user || n_items < b->max_item)
        return tl_err_set(err, TL_EINVAL, n_users < b->max_user ? "n_users" : "n_items",
                          "smaller than an index already added");
    struct tl_dataset *d = tl_calloc(1, sizeof *d);
    if (!d) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    d->n_users = n_users;
    d->n_items = n_items;
    d->n = b->n;
    d->off = tl_calloc((size_t)n_users + 1, sizeof *d->off);
    d->item = tl_malloc((b->n ? b->n : 1) * sizeof *d->item);
    d->weight = tl_malloc((b->n ? b->n : 1) * sizeof *d->weight);
    d->ts = tl_malloc((b->n ? b->n : 1) * sizeof *d->ts);
    if (!d->off || !d->item || !d->weight || !d->ts) {
        tl_dataset_free(d);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    if (b->n) qsort(b->r, b->n, sizeof *b->r, rec_cmp);
    for (size_t i = 0; i < b->n; i++) {
        d->off[b->r[i].user + 1]++;
        d->item[i] = b->r[i].item;
        d->weight[i] = b->r[i].weight;
        d->ts[i] = b->r[i].ts;
    }
    for (uint32_t u = 0; u < n_users; u++) d->off[u + 1] += d->off[u];
    tl_free(b->r);
    b->r = NULL;
    b->n = b->cap = 0;
    b->max_user = b->max_item = 0;
    *out = d;
    return TL_OK;
}

static void text_free(struct tl_item_text *t)
{
    tl_free(t->title);
    tl_free(t->description);
    tl_free(t->brand);
    tl_free(t->category);
    tl_free(t->tags);
    tl_free(t->attrs);
    memset(t, 0, sizeof *t);
}

void tl_dataset_free(struct tl_dataset *d)
{
    if (!d) return;
    if (d->text) {
        for (uint32_t i = 0; i < d->n_items; i++) text_free(&d->text[i]);
        tl_free(d->text);
    }
    tl_free(d->off);
    tl_free(d->item);
    tl_free(d->weight);
    tl_free(d->ts);
    tl_free(d);
}

static int dup_field(char **dst, const char *src)
{
    *dst = NULL;
    if (!src) return 0;
    *dst = tl_strdup(src);
    return *dst ? 0 : -1;
}

enum tl_rc tl_dataset_set_text(struct tl_dataset *d, uint32_t item, const struct tl_item_text *t, struct tl_err *err)
{
    if (!d || !t) return tl_err_set(err, TL_EINVAL, NULL, "no dataset or text");
    if (item >= d->n_items)
        return tl_err_set(err, TL_EINVAL, "item", "item %u outside the dataset's %u items", item, d->n_items);
    if (!d->text) {
        d->text = tl_calloc(d->n_items ? d->n_items : 1, sizeof *d->text);
        if (!d->text) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    struct tl_item_text nt;
    memset(&nt, 0, sizeof nt);
    if (dup_field(&nt.title, t->title) || dup_field(&nt.description, t->description) ||
        dup_field(&nt.brand, t->brand) || dup_field(&nt.category, t->category) || dup_field(&nt.tags, t->tags) ||
        dup_field(&nt.attrs, t->attrs)) {
        text_free(&nt);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    text_free(&d->text[item]);
    d->text[item] = nt;
    return TL_OK;
}

void tl_dataset_item_counts(const struct tl_dataset *d, uint32_t *out)
{
    memset(out, 0, (size_t)d->n_items * sizeof *out);
    for (size_t i = 0; i < d->n; i++) out[d->item[i]]++;
}
