/* Tests for src/model/blend.c: min-max and reciprocal-rank fusion against
 * hand-computed values, reasons, k and ties; the blend model trains its
 * sub-models and survives a snapshot round trip. */
#include <criterion/criterion.h>
#include <string.h>

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
