/* Tests for src/model/cooc_model.c, the co-occurrence counts behind the
 * model ops table: which interactions form a set for each relation (same
 * timestamp = one order; all of a user's items; sessions cut at a gap),
 * hand-computed cosine and lift scores with anchors, the snapshot round
 * trip, and a truncated or damaged snapshot at every length. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "core/buf.h"
#include "model/cooc.h"
#include "model/model.h"

#define MIN_MS 60000LL

/* user 0: order at t=0 {0,1,2}, order at t=1h {1,3}
 * user 1: order at t=0 {0,1}, order 10 min later {4}
 * user 2: order at t=0 {2,3} */
static struct tl_dataset *fixture(void)
{
    static const struct {
        uint32_t u, i;
        int64_t ts;
    } rows[] = {{0, 0, 0}, {0, 1, 0}, {0, 2, 0},           {0, 1, 60 * MIN_MS}, {0, 3, 60 * MIN_MS},
                {1, 0, 0}, {1, 1, 0}, {1, 4, 10 * MIN_MS}, {2, 2, 0},           {2, 3, 0}};
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        cr_assert_eq(tl_dataset_builder_add(b, rows[r].u, rows[r].i, 1.0f, rows[r].ts, NULL), TL_OK);
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, 3, 5, &d, NULL), TL_OK);
    tl_dataset_builder_free(b);
    return d;
}

static void *train(const struct tl_dataset *d, const char *rel, const char *sim)
{
    unsigned char p[TL_MODEL_PARAMS_MAX];
    tl_cooc_ops.params_defaults(p);
    struct tl_err e;
    if (rel) cr_assert_eq(tl_cooc_ops.param_set(p, "rel", rel, &e), TL_OK);
    if (sim) cr_assert_eq(tl_cooc_ops.param_set(p, "sim", sim, &e), TL_OK);
    struct tl_train_opts o = {.threads = 1};
    void *m = NULL;
    cr_assert_eq(tl_cooc_ops.train(d, p, &o, &m, &e), TL_OK, "%s", e.msg);
    return m;
}

static size_t ask(const void *m, uint32_t anchor, const uint32_t *hist, size_t nh, struct tl_model_hit *h, size_t k)
{
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = anchor, .history = hist, .n_history = nh};
    size_t n = 99;
    cr_assert_eq(tl_cooc_ops.candidates(m, &q, NULL, NULL, k, h, &n), TL_OK);
    return n;
}

Test(cooc_model, sets_per_relation_and_cosine_scores)
{
    struct tl_dataset *d = fixture();
    struct tl_model_hit h[8];
    /* orders: {0,1,2} {1,3} {0,1} {4} {2,3}: n_0 2, n_1 3, n_2 2, n_3 2;
     * n_01 2, n_02 1, n_12 1, n_13 1, n_23 2 */
    void *m = train(d, "order", NULL);
    size_t n = ask(m, 1, NULL, 0, h, 8);
    cr_assert_eq(n, 3);
    cr_assert_eq(h[0].item, 0); /* 2 / sqrt(3 * 2) */
    cr_assert_float_eq(h[0].score, 2.0 / sqrt(6.0), 1e-6);
    cr_assert_eq(h[0].anchor, 1);
    cr_assert_eq(h[1].item, 2); /* 1 / sqrt(6), ties with 3: lower index first */
    cr_assert_float_eq(h[1].score, 1.0 / sqrt(6.0), 1e-6);
    cr_assert_eq(h[2].item, 3);
    cr_assert_eq(ask(m, 4, NULL, 0, h, 8), 0, "4 was always bought alone");
    /* history (no anchor): anchors 3 and 2 (newest first, distinct), never returned */
    uint32_t hist[] = {2, 3, 3};
    n = ask(m, TL_MODEL_NONE, hist, 3, h, 8);
    for (size_t i = 0; i < n; i++) cr_assert(h[i].item != 2 && h[i].item != 3);
    cr_assert_eq(n, 2);
    cr_assert_eq(h[0].item, 1); /* 1/sqrt(6) + 1/sqrt(6) from 3 and 2 */
    cr_assert_float_eq(h[0].score, 2.0 / sqrt(6.0), 1e-6);
    cr_assert_eq(h[1].item, 0); /* 1 / sqrt(2 * 2) from 2 */
    cr_assert_float_eq(h[1].score, 0.5, 1e-6);
    tl_cooc_ops.free(m);

    /* customers: {0,1,2,3} {0,1,4} {2,3}: n_4 1, n_0 2, n_04 1 */
    m = train(d, "customer", NULL);
    n = ask(m, 4, NULL, 0, h, 8);
    cr_assert_eq(n, 2);
    cr_assert_eq(h[0].item, 0);
    cr_assert_float_eq(h[0].score, 1.0 / sqrt(2.0), 1e-6);
    tl_cooc_ops.free(m);

    /* sessions (gap 30 min): user 0 {0,1,2} | {1,3}; user 1 {0,1,4}; user 2 {2,3} */
    m = train(d, "session", "lift");
    n = ask(m, 4, NULL, 0, h, 8);
    cr_assert_eq(n, 2, "4 shares user 1's session with 0 and 1");
    /* lift of (4, 0): N n_04 / (n_4 n_0) = 4 * 1 / (1 * 2) */
    cr_assert_eq(h[0].item, 0);
    cr_assert_float_eq(h[0].score, 2.0, 1e-6);
    tl_cooc_ops.free(m);
    tl_dataset_free(d);
}

Test(cooc_model, parameters_are_checked)
{
    unsigned char p[TL_MODEL_PARAMS_MAX];
    tl_cooc_ops.params_defaults(p);
    struct tl_err e;
    cr_assert_eq(tl_cooc_ops.param_set(p, "rel", "cart", &e), TL_EINVAL);
    cr_assert_eq(tl_cooc_ops.param_set(p, "sim", "dice", &e), TL_EINVAL);
    cr_assert_eq(tl_cooc_ops.param_set(p, "min_support", "0", &e), TL_EINVAL);
    cr_assert_eq(tl_cooc_ops.param_set(p, "alpha", "9", &e), TL_EINVAL);
    cr_assert_eq(tl_cooc_ops.param_set(p, "window", "3", &e), TL_EINVAL);
    cr_assert(strstr(e.msg, "min_support"), "the message lists the known keys: %s", e.msg);
    cr_assert_eq(tl_model_find("cooc"), &tl_cooc_ops);
}

Test(cooc_model, min_support_drops_rare_pairs)
{
    struct tl_dataset *d = fixture();
    unsigned char p[TL_MODEL_PARAMS_MAX];
    tl_cooc_ops.params_defaults(p);
    cr_assert_eq(tl_cooc_ops.param_set(p, "min_support", "2", NULL), TL_OK);
    void *m = NULL;
    cr_assert_eq(tl_cooc_ops.train(d, p, NULL, &m, NULL), TL_OK);
    struct tl_model_hit h[8];
    cr_assert_eq(ask(m, 1, NULL, 0, h, 8), 1, "only (1, 0) was bought together twice");
    cr_assert_eq(h[0].item, 0);
    tl_cooc_ops.free(m);
    tl_dataset_free(d);
}

Test(cooc_model, snapshot_round_trip_and_damage)
{
    struct tl_dataset *d = fixture();
    void *m = train(d, "order", "cond");
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_cooc_ops.save(m, &b, NULL), TL_OK);
    void *m2 = NULL;
    struct tl_err e;
    cr_assert_eq(tl_cooc_ops.load(b.data, b.len, &m2, &e), TL_OK, "%s", e.msg);
    for (uint32_t a = 0; a < 5; a++) {
        struct tl_model_hit h1[8], h2[8];
        size_t n1 = ask(m, a, NULL, 0, h1, 8), n2 = ask(m2, a, NULL, 0, h2, 8);
        cr_assert_eq(n1, n2);
        for (size_t i = 0; i < n1; i++) {
            cr_assert_eq(h1[i].item, h2[i].item);
            cr_assert_float_eq(h1[i].score, h2[i].score, 1e-7);
        }
    }
    cr_assert_eq(tl_cooc_ops.memory(m2) > 0, 1);
    tl_cooc_ops.free(m2);
    /* every truncation and every flipped byte is refused, never read past */
    for (size_t len = 0; len < b.len; len++) {
        void *x = NULL;
        cr_assert_eq(tl_cooc_ops.load(b.data, len, &x, &e), TL_EPARSE, "length %zu", len);
        cr_assert_null(x);
    }
    for (size_t i = 0; i < b.len; i++) {
        b.data[i] ^= 0x5a;
        void *x = NULL;
        cr_assert_eq(tl_cooc_ops.load(b.data, b.len, &x, &e), TL_EPARSE, "byte %zu", i);
        b.data[i] ^= 0x5a;
    }
    /* a trailing byte */
    cr_assert_eq(tl_buf_append(&b, "x", 1), TL_OK);
    void *x = NULL;
    cr_assert_eq(tl_cooc_ops.load(b.data, b.len, &x, &e), TL_EPARSE);
    tl_buf_free(&b);
    tl_cooc_ops.free(m);
    tl_dataset_free(d);
}

/* A consistent snapshot body whose counts break an invariant (n_ij != n_ji)
 * is refused by tl_cooc_load_rel itself, not only by the checksum. */
Test(cooc_model, asymmetric_counts_are_refused)
{
    struct tl_cooc *c = tl_cooc_new(NULL);
    uint32_t basket[] = {0, 1};
    cr_assert_eq(tl_cooc_add_basket(c, TL_COOC_BOUGHT_TOGETHER, basket, 2), TL_OK);
    cr_assert_eq(tl_cooc_add_basket(c, TL_COOC_BOUGHT_TOGETHER, basket, 2), TL_OK);
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_cooc_save_rel(c, TL_COOC_BOUGHT_TOGETHER, &b), TL_OK);
    /* u64 N, u32 n_nodes, node 0: n, deg, (1, 2); node 1: n, deg, (0, 2) */
    cr_assert_eq(b.len, 12 + 16 + 16);
    struct tl_cooc *c2 = tl_cooc_new(NULL);
    size_t used = 0;
    cr_assert_eq(tl_cooc_load_rel(c2, TL_COOC_BOUGHT_TOGETHER, b.data, b.len, &used, NULL), TL_OK);
    cr_assert_eq(used, b.len);
    cr_assert_eq(tl_cooc_pair_count(c2, TL_COOC_BOUGHT_TOGETHER, 1, 0), 2);
    cr_assert_eq(tl_cooc_sets(c2, TL_COOC_BOUGHT_TOGETHER), 2);
    cr_assert_eq(tl_cooc_pairs(c2, TL_COOC_BOUGHT_TOGETHER), 1);
    tl_cooc_free(c2);
    b.data[12 + 16 + 12] = 1; /* node 1 says n_10 = 1 */
    c2 = tl_cooc_new(NULL);
    cr_assert_eq(tl_cooc_load_rel(c2, TL_COOC_BOUGHT_TOGETHER, b.data, b.len, &used, NULL), TL_EPARSE);
    cr_assert_eq(tl_cooc_pairs(c2, TL_COOC_BOUGHT_TOGETHER), 0, "left empty");
    tl_cooc_free(c2);
    tl_cooc_free(c);
    tl_buf_free(&b);
}
