/* Tests for src/model/baselines.c: popularity counts and order, item-kNN
 * cosine against a brute-force reference, skip/k/ties, snapshots. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "model/baselines.h"

/* users x items (binary); user 0 repeats item 0 */
static const uint32_t U[][4] = {{0, 1, 2, 0}, {0, 1, 9, 9}, {1, 2, 9, 9}, {3, 9, 9, 9}, {0, 3, 9, 9}};

static struct tl_dataset *make(void)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    for (uint32_t u = 0; u < 5; u++)
        for (int i = 0; i < 4; i++)
            if (U[u][i] != 9) cr_assert_eq(tl_dataset_builder_add(b, u, U[u][i], 1.0f, i, NULL), TL_OK);
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, 0, 5, &d, NULL), TL_OK); /* item 4 never seen */
    tl_dataset_builder_free(b);
    return d;
}

static void *train(const struct tl_model_ops *ops, const struct tl_dataset *d, const char *key, const char *val)
{
    unsigned char p[TL_MODEL_PARAMS_MAX];
    ops->params_defaults(p);
    if (key) cr_assert_eq(ops->param_set(p, key, val, NULL), TL_OK);
    struct tl_train_opts o = {.threads = 2, .seed = 1};
    void *m = NULL;
    cr_assert_eq(ops->train(d, p, &o, &m, NULL), TL_OK);
    return m;
}

static int skip_item1(void *ctx, uint32_t item)
{
    (void)ctx;
    return item == 1;
}

Test(baselines, pop_order_and_rows)
{
    struct tl_dataset *d = make();
    void *m = train(&tl_pop_ops, d, NULL, NULL);
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE};
    struct tl_model_hit h[10];
    size_t n = 0;
    cr_assert_eq(tl_pop_ops.candidates(m, &q, NULL, NULL, 10, h, &n), TL_OK);
    /* distinct users: item0 3, item1 3, item2 2, item3 2; item 4 none */
    cr_assert_eq(n, 4);
    uint32_t want[] = {0, 1, 2, 3};
    for (int i = 0; i < 4; i++) cr_assert_eq(h[i].item, want[i]);
    cr_assert_float_eq(h[0].score, 3.0f, 1e-6);
    cr_assert_eq(tl_pop_ops.candidates(m, &q, skip_item1, NULL, 2, h, &n), TL_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(h[1].item, 2);
    cr_assert_eq(tl_pop_ops.candidates(m, &q, NULL, NULL, TL_MODEL_K_MAX + 1, h, &n), TL_EINVAL);
    tl_pop_ops.free(m);
    /* interactions: user 0's repeat makes item 0 count 4 */
    m = train(&tl_pop_ops, d, "count_interactions", "1");
    cr_assert_eq(tl_pop_ops.candidates(m, &q, NULL, NULL, 1, h, &n), TL_OK);
    cr_assert_float_eq(h[0].score, 4.0f, 1e-6);
    tl_pop_ops.free(m);
    struct tl_err e;
    unsigned char p[TL_MODEL_PARAMS_MAX];
    tl_pop_ops.params_defaults(p);
    cr_assert_eq(tl_pop_ops.param_set(p, "nope", "1", &e), TL_EINVAL);
    cr_assert_eq(tl_pop_ops.param_set(p, "count_interactions", "2", &e), TL_EINVAL);
    tl_dataset_free(d);
}

/* brute-force cosine of binary item columns */
static double cosine(uint32_t i, uint32_t j)
{
    int ni = 0, nj = 0, nij = 0;
    for (int u = 0; u < 5; u++) {
        int a = 0, b = 0;
        for (int x = 0; x < 4; x++) {
            a |= U[u][x] == i;
            b |= U[u][x] == j;
        }
        ni += a;
        nj += b;
        nij += a && b;
    }
    return ni && nj ? nij / sqrt((double)ni * nj) : 0.0;
}

Test(baselines, itemknn_matches_bruteforce)
{
    struct tl_dataset *d = make();
    void *m = train(&tl_itemknn_ops, d, NULL, NULL);
    uint32_t hist[] = {0, 3};
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = hist, .n_history = 2};
    struct tl_model_hit h[10];
    size_t n = 0;
    cr_assert_eq(tl_itemknn_ops.candidates(m, &q, NULL, NULL, 10, h, &n), TL_OK);
    /* every item with a nonzero summed similarity: 1, 2 (and 0, 3 themselves
     * through each other) */
    for (size_t i = 0; i < n; i++) {
        double want = cosine(0, h[i].item) * (h[i].item != 0) + cosine(3, h[i].item) * (h[i].item != 3);
        cr_assert_float_eq(h[i].score, want, 1e-5, "item %u", h[i].item);
        if (i) cr_assert(h[i - 1].score > h[i].score || (h[i - 1].score == h[i].score && h[i - 1].item < h[i].item));
    }
    /* anchor: never itself */
    q.anchor = 1;
    cr_assert_eq(tl_itemknn_ops.candidates(m, &q, NULL, NULL, 10, h, &n), TL_OK);
    cr_assert_eq(n, 2); /* 0 and 2 */
    /* cos(1,2) = 2/sqrt(6) = 0.816 > cos(1,0) = 2/3 */
    cr_assert_eq(h[0].item, 2);
    cr_assert_eq(h[1].item, 0);
    cr_assert_float_eq(h[0].score, 2.0 / sqrt(6.0), 1e-6);
    cr_assert_eq(h[0].anchor, 1);
    tl_itemknn_ops.free(m);
    tl_dataset_free(d);
}

static void roundtrip(const struct tl_model_ops *ops, void *m)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(ops->save(m, &b, NULL), TL_OK);
    void *m2 = NULL;
    cr_assert_eq(ops->load(b.data, b.len, &m2, NULL), TL_OK);
    uint32_t hist[] = {0, 2};
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = hist, .n_history = 2};
    struct tl_model_hit h1[10], h2[10];
    size_t n1, n2;
    cr_assert_eq(ops->candidates(m, &q, NULL, NULL, 10, h1, &n1), TL_OK);
    cr_assert_eq(ops->candidates(m2, &q, NULL, NULL, 10, h2, &n2), TL_OK);
    cr_assert_eq(n1, n2);
    cr_assert(n1 > 0);
    for (size_t i = 0; i < n1; i++) {
        cr_assert_eq(h1[i].item, h2[i].item);
        cr_assert_float_eq(h1[i].score, h2[i].score, 0.0);
    }
    ops->free(m2);
    for (size_t len = 0; len < b.len; len++) {
        struct tl_err e;
        tl_err_clear(&e);
        m2 = NULL;
        cr_assert_eq(ops->load(b.data, len, &m2, &e), TL_EPARSE, "%s truncated at %zu", ops->name, len);
        cr_assert_null(m2);
    }
    tl_buf_free(&b);
}

Test(baselines, snapshots)
{
    struct tl_dataset *d = make();
    void *m = train(&tl_pop_ops, d, NULL, NULL);
    roundtrip(&tl_pop_ops, m);
    tl_pop_ops.free(m);
    m = train(&tl_itemknn_ops, d, "neighbors", "2");
    roundtrip(&tl_itemknn_ops, m);
    tl_itemknn_ops.free(m);
    tl_dataset_free(d);
}
