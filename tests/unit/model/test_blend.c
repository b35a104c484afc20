/* Tests for src/model/blend.c: min-max and reciprocal-rank fusion against
 * hand-computed values, reasons, k and ties; the blend model trains its
 * sub-models and survives a snapshot round trip. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "core/buf.h"
#include "model/baselines.h"
#include "model/blend.h"

Test(blend, minmax_fusion)
{
    struct tl_model_hit a[] = {{5, 10.0f, 1}, {6, 6.0f, 2}, {7, 2.0f, 3}};
    struct tl_model_hit b[] = {{7, 1.0f, 9}, {8, 0.5f, 9}};
    struct tl_blend_list l[] = {{a, 3, 1.0f}, {b, 2, 0.5f}};
    struct tl_blend_hit out[4];
    size_t n = 0;
    cr_assert_eq(tl_blend_merge(l, 2, TL_BLEND_MINMAX, 10, 4, out, &n), TL_OK);
    /* a: 5 -> 1, 6 -> 0.5, 7 -> 0; b: 7 -> 1*0.5, 8 -> 0 */
    cr_assert_eq(n, 4);
    cr_assert_eq(out[0].item, 5);
    cr_assert_float_eq(out[0].score, 1.0f, 1e-6);
    cr_assert_eq(out[1].item, 6); /* 0.5, ties with 7 (0 + 0.5): lower index first */
    cr_assert_eq(out[2].item, 7);
    cr_assert_float_eq(out[2].score, 0.5f, 1e-6);
    cr_assert_eq(out[2].source, 1);
    cr_assert_eq(out[2].anchor, 9);
    cr_assert_eq(out[3].item, 8);
    cr_assert_eq(tl_blend_merge(l, 2, TL_BLEND_MINMAX, 10, 1, out, &n), TL_OK);
    cr_assert_eq(n, 1);
}

Test(blend, rrf_fusion)
{
    struct tl_model_hit a[] = {{1, 3.0f, 0}, {2, 2.0f, 0}};
    struct tl_model_hit b[] = {{2, 9.0f, 0}, {3, 1.0f, 0}};
    struct tl_blend_list l[] = {{a, 2, 1.0f}, {b, 2, 1.0f}};
    struct tl_blend_hit out[3];
    size_t n = 0;
    cr_assert_eq(tl_blend_merge(l, 2, TL_BLEND_RRF, 10, 3, out, &n), TL_OK);
    cr_assert_eq(out[0].item, 2);
    cr_assert_float_eq(out[0].score, 60.0 / 62 + 60.0 / 61, 1e-5);
    cr_assert_eq(out[1].item, 1);
    cr_assert_float_eq(out[1].score, 60.0 / 61, 1e-5);
}

static void *train_blend(struct tl_dataset *d)
{
    unsigned char p[TL_MODEL_PARAMS_MAX];
    tl_blend_ops.params_defaults(p);
    struct tl_err e;
    cr_assert_eq(tl_blend_ops.param_set(p, "models", "itemknn:1,pop:0.5", &e), TL_OK);
    cr_assert_eq(tl_blend_ops.param_set(p, "itemknn.neighbors", "3", &e), TL_OK);
    cr_assert_eq(tl_blend_ops.param_set(p, "models", "nosuch:1", &e), TL_EINVAL);
    cr_assert_eq(tl_blend_ops.param_set(p, "norm", "best", &e), TL_EINVAL);
    struct tl_train_opts o = {.threads = 1};
    void *m = NULL;
    cr_assert_eq(tl_blend_ops.train(d, p, &o, &m, &e), TL_OK, "%s", e.msg);
    return m;
}

Test(blend, model_roundtrip)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    for (uint32_t u = 0; u < 20; u++)
        for (uint32_t i = 0; i < 4; i++) tl_dataset_builder_add(b, u, (u + i * i) % 11, 1.0f, i, NULL);
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, 0, 0, &d, NULL), TL_OK);
    tl_dataset_builder_free(b);
    void *m = train_blend(d);
    uint32_t hist[] = {1, 2};
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = hist, .n_history = 2};
    struct tl_model_hit h1[5], h2[5];
    size_t n1 = 0, n2 = 0;
    cr_assert_eq(tl_blend_ops.candidates(m, &q, NULL, NULL, 5, h1, &n1), TL_OK);
    cr_assert_eq(n1, 5);
    struct tl_buf buf;
    tl_buf_init(&buf, 0);
    cr_assert_eq(tl_blend_ops.save(m, &buf, NULL), TL_OK);
    void *m2 = NULL;
    cr_assert_eq(tl_blend_ops.load(buf.data, buf.len, &m2, NULL), TL_OK);
    cr_assert_eq(tl_blend_ops.candidates(m2, &q, NULL, NULL, 5, h2, &n2), TL_OK);
    cr_assert_eq(n1, n2);
    for (size_t i = 0; i < n1; i++) cr_assert_eq(h1[i].item, h2[i].item);
    for (size_t len = 0; len < buf.len; len++) {
        void *m3 = NULL;
        cr_assert_eq(tl_blend_ops.load(buf.data, len, &m3, NULL), TL_EPARSE, "len %zu", len);
    }
    tl_buf_free(&buf);
    tl_blend_ops.free(m);
    tl_blend_ops.free(m2);
    tl_dataset_free(d);
}

static int skip_in(void *ctx, uint32_t item)
{
    const uint32_t *h = ctx;
    return item == h[0] || item == h[1] || item == h[2];
}

/* Offline metrics from the tuning split: recomputed here for the "pop"
 * source by training it alone on the same split (every user's last
 * interaction held out) and ranking for each user with the history masked. */
Test(blend, validation_metrics_match_an_independent_split)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new(), *bs = tl_dataset_builder_new();
    uint32_t items[120][4];
    for (uint32_t u = 0; u < 120; u++)
        for (uint32_t i = 0; i < 4; i++) {
            items[u][i] = (u * 7 + i * (u % 5 + 1)) % 23;
            if (i == 3 && (items[u][3] == items[u][0] || items[u][3] == items[u][1] || items[u][3] == items[u][2]))
                items[u][3] = (items[u][3] + 1) % 23;
            if (i == 3 && (items[u][3] == items[u][0] || items[u][3] == items[u][1] || items[u][3] == items[u][2]))
                items[u][3] = (items[u][3] + 1) % 23;
            tl_dataset_builder_add(b, u, items[u][i], 1.0f, i, NULL);
            if (i < 3) tl_dataset_builder_add(bs, u, items[u][i], 1.0f, i, NULL);
        }
    struct tl_dataset *d = NULL, *ds = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, 120, 23, &d, NULL), TL_OK);
    cr_assert_eq(tl_dataset_builder_finish(bs, 120, 23, &ds, NULL), TL_OK);
    tl_dataset_builder_free(b);
    tl_dataset_builder_free(bs);
    void *m = train_blend(d);
    struct tl_blend_validation v;
    cr_assert_eq(tl_blend_validation(m, &v), 1);
    size_t cases = 0;
    for (uint32_t u = 0; u < 120; u++)
        cases += items[u][3] != items[u][0] && items[u][3] != items[u][1] && items[u][3] != items[u][2];
    cr_assert_eq(v.cases, cases);
    cr_assert_eq(v.n, 2);
    cr_assert_str_eq(v.src[1].name, "pop");
    /* pop alone on the split */
    unsigned char pp[TL_MODEL_PARAMS_MAX];
    tl_pop_ops.params_defaults(pp);
    struct tl_train_opts o = {.threads = 1};
    void *pm = NULL;
    cr_assert_eq(tl_pop_ops.train(ds, pp, &o, &pm, NULL), TL_OK);
    double hr = 0, ndcg = 0;
    for (uint32_t u = 0; u < 120; u++) {
        if (items[u][3] == items[u][0] || items[u][3] == items[u][1] || items[u][3] == items[u][2]) continue;
        struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = items[u], .n_history = 3};
        struct tl_model_hit h[10];
        size_t n = 0;
        cr_assert_eq(tl_pop_ops.candidates(pm, &q, skip_in, items[u], 10, h, &n), TL_OK);
        for (size_t r = 0; r < n; r++)
            if (h[r].item == items[u][3]) {
                hr += 1;
                ndcg += 1.0 / log2((double)r + 2);
                break;
            }
    }
    cr_assert_float_eq(v.src[1].hr10, hr / (double)cases, 1e-6, "%f vs %f", v.src[1].hr10, hr / (double)cases);
    cr_assert_float_eq(v.src[1].ndcg10, ndcg / (double)cases, 1e-6);
    /* the fused list is at least as good as its best source on the cases it was tuned on */
    cr_assert_geq(v.hr10 + 1e-9, v.src[0].hr10 > v.src[1].hr10 ? v.src[0].hr10 : v.src[1].hr10);
    /* the metrics survive a snapshot round trip */
    struct tl_buf buf;
    tl_buf_init(&buf, 0);
    cr_assert_eq(tl_blend_ops.save(m, &buf, NULL), TL_OK);
    void *m2 = NULL;
    cr_assert_eq(tl_blend_ops.load(buf.data, buf.len, &m2, NULL), TL_OK);
    struct tl_blend_validation v2;
    cr_assert_eq(tl_blend_validation(m2, &v2), 1);
    cr_assert_eq(v2.cases, v.cases);
    cr_assert_float_eq(v2.hr10, v.hr10, 1e-6);
    cr_assert_float_eq(v2.src[1].ndcg10, v.src[1].ndcg10, 1e-7);
    tl_buf_free(&buf);
    tl_blend_ops.free(m2);
    tl_blend_ops.free(m);
    tl_pop_ops.free(pm);
    tl_dataset_free(d);
    tl_dataset_free(ds);
}

/* 1 if models a and b (same ops) give the same top 23 for an empty history. */
static int same_lists(const struct tl_model_ops *ops, const void *a, const void *b)
{
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE};
    struct tl_model_hit ha[23], hb[23];
    size_t na = 0, nb = 0;
    cr_assert_eq(ops->candidates(a, &q, NULL, NULL, 23, ha, &na), TL_OK);
    cr_assert_eq(ops->candidates(b, &q, NULL, NULL, 23, hb, &nb), TL_OK);
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (ha[i].item != hb[i].item || ha[i].score != hb[i].score) return 0;
    return 1;
}

/* refit 0 keeps the sub-models trained without each user's latest
 * interaction (the tuning split); refit 1 retrains them on everything;
 * self_valid sources get everything in either case; self_valid needs
 * refit 0. tl_blend_source walks the sources and stops past the last. */
Test(blend, refit_and_self_valid_choose_the_training_data)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new(), *bs = tl_dataset_builder_new();
    for (uint32_t u = 0; u < 120; u++)
        for (uint32_t i = 0; i < 4; i++) {
            uint32_t it = (u * 7 + i * (u % 5 + 1) + (i == 3 ? 11 : 0)) % 23;
            tl_dataset_builder_add(b, u, it, 1.0f, i, NULL);
            if (i < 3) tl_dataset_builder_add(bs, u, it, 1.0f, i, NULL);
        }
    struct tl_dataset *d = NULL, *ds = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, 120, 23, &d, NULL), TL_OK);
    cr_assert_eq(tl_dataset_builder_finish(bs, 120, 23, &ds, NULL), TL_OK);
    tl_dataset_builder_free(b);
    tl_dataset_builder_free(bs);
    unsigned char pp[TL_MODEL_PARAMS_MAX];
    tl_pop_ops.params_defaults(pp);
    struct tl_train_opts o = {.threads = 1};
    void *pop_all = NULL, *pop_split = NULL;
    cr_assert_eq(tl_pop_ops.train(d, pp, &o, &pop_all, NULL), TL_OK);
    cr_assert_eq(tl_pop_ops.train(ds, pp, &o, &pop_split, NULL), TL_OK);
    cr_assert_not(same_lists(&tl_pop_ops, pop_all, pop_split), "the fixture must tell the two apart");

    const char *cases[][3] = {{"1", "", "all"}, {"0", "", "split"}, {"0", "pop", "all"}};
    for (size_t c = 0; c < 3; c++) {
        unsigned char p[TL_MODEL_PARAMS_MAX];
        tl_blend_ops.params_defaults(p);
        struct tl_err e;
        cr_assert_eq(tl_blend_ops.param_set(p, "models", "itemknn:1,pop:0.5", &e), TL_OK);
        cr_assert_eq(tl_blend_ops.param_set(p, "refit", cases[c][0], &e), TL_OK);
        if (cases[c][1][0]) cr_assert_eq(tl_blend_ops.param_set(p, "self_valid", cases[c][1], &e), TL_OK);
        void *m = NULL;
        cr_assert_eq(tl_blend_ops.train(d, p, &o, &m, &e), TL_OK, "%s", e.msg);
        const void *sub = NULL;
        float w = -1;
        cr_assert_eq(tl_blend_source(m, 1, &sub, &w), &tl_pop_ops);
        cr_assert(w >= 0.0f);
        cr_assert_null(tl_blend_source(m, 2, &sub, NULL));
        cr_assert(same_lists(&tl_pop_ops, sub, strcmp(cases[c][2], "all") == 0 ? pop_all : pop_split),
                  "refit %s self_valid '%s': pop should be trained on %s", cases[c][0], cases[c][1], cases[c][2]);
        struct tl_blend_validation v;
        cr_assert_eq(tl_blend_validation(m, &v), 1);
        tl_blend_ops.free(m);
    }
    unsigned char p[TL_MODEL_PARAMS_MAX];
    tl_blend_ops.params_defaults(p);
    struct tl_err e;
    cr_assert_eq(tl_blend_ops.param_set(p, "self_valid", "pop", &e), TL_OK);
    void *m = NULL;
    cr_assert_eq(tl_blend_ops.train(d, p, &o, &m, &e), TL_EINVAL);
    cr_assert(strstr(e.msg, "refit=0"), "%s", e.msg);
    cr_assert_null(m);
    tl_pop_ops.free(pop_all);
    tl_pop_ops.free(pop_split);
    tl_dataset_free(d);
    tl_dataset_free(ds);
}
