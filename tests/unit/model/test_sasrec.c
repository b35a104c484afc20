/* Tests for src/model/sasrec.c: finite-difference gradient checks of every
 * weight block (embedding, positions, layer norms, attention, FFN, output
 * cross-entropy) with and without dropout and across output-layer chunk
 * boundaries; a synthetic "i is followed by i+1" task the model must learn
 * (HR@1 near 1); determinism for a seed; snapshot round trip and rejection
 * of every truncation, a flipped byte and trailing bytes; candidates()
 * against the full ranking (k, skip, ties to the lower index), unknown
 * history items and bad queries; the forward pass against an independent
 * double-precision implementation (2 layers, so causality matters);
 * concurrent queries; parameters; cancellation. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "model/dataset.h"
#include "model/model.h"
#include "model/sasrec.h"

static struct tl_dataset *make_ds(const uint32_t *const *seqs, const size_t *lens, size_t nu, uint32_t n_items)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    cr_assert_not_null(b);
    struct tl_err e;
    int64_t ts = 1;
    for (size_t u = 0; u < nu; u++)
        for (size_t i = 0; i < lens[u]; i++)
            cr_assert_eq(tl_dataset_builder_add(b, (uint32_t)u, seqs[u][i], 1.0f, ts++, &e), TL_OK);
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, (uint32_t)nu, n_items, &d, &e), TL_OK);
    tl_dataset_builder_free(b);
    return d;
}

static void small_params(struct tl_sasrec_params *p)
{
    tl_sasrec_ops.params_defaults(p);
    p->layers = 2;
    p->dim = 8;
    p->heads = 2;
    p->max_len = 5;
}

/* ---------- gradient check ---------- */

static struct tl_dataset *grad_ds(void)
{
    static const uint32_t s0[] = {1, 4, 2, 6, 3, 0, 5, 2, 4}; /* longer than max_len + 1 */
    static const uint32_t s1[] = {3, 3, 5};
    static const uint32_t s2[] = {6, 0, 1, 2};
    static const uint32_t s3[] = {2, 5};
    static const uint32_t s4[] = {4}; /* no training position */
    const uint32_t *seqs[] = {s0, s1, s2, s3, s4};
    size_t lens[] = {9, 3, 4, 2, 1};
    return make_ds(seqs, lens, 5, 7);
}

/* Central differences on every weight, compared per block by
 * |fd - an| / (|fd| + |an|) over the block's vectors. */
static void grad_check(double dropout, size_t chunk, long attn_probs)
{
    struct tl_sasrec_params p;
    small_params(&p);
    p.attn_probs = attn_probs;
    void *m = NULL;
    struct tl_err e;
    cr_assert_eq(tl_sasrec_new_random(&p, 7, 11, &m, &e), TL_OK);
    size_t nw = 0;
    float *w = tl_sasrec_weights(m, &nw);
    /* perturb gains/biases away from 1/0 so their gradients are generic */
    size_t off, len;
    for (size_t i = 0; tl_sasrec_block(m, i, &off, &len); i++)
        for (size_t j = 0; j < len; j++)
            if (i > 1) w[off + j] += 0.1f * (float)sin((double)(off + j) * 1.7);
    struct tl_dataset *d = grad_ds();
    float *an = malloc(nw * sizeof *an);
    double *fd = malloc(nw * sizeof *fd);
    cr_assert(an && fd);
    double loss = 0;
    cr_assert_eq(tl_sasrec_loss(m, d, dropout, 99, chunk, 1, &loss, an, &e), TL_OK);
    cr_assert(isfinite(loss) && loss > 0.5, "loss %g", loss);
    /* 1e-2 crosses ReLU kinks, 1e-3 meets float rounding; with dropout on
     * the attention probabilities one ReLU of this data sits within 3e-3
     * of its kink (the error falls 0.25 -> 0.019 -> 0.002 -> 0.0007 for
     * h = 1e-2, 3e-3, 1e-3, 6e-4): that case uses 1e-3 */
    const float h = attn_probs ? 1e-3f : 3e-3f;
    for (size_t i = 0; i < nw; i++) {
        float keep = w[i];
        double lp, lm;
        w[i] = keep + h;
        cr_assert_eq(tl_sasrec_loss(m, d, dropout, 99, chunk, 1, &lp, NULL, &e), TL_OK);
        w[i] = keep - h;
        cr_assert_eq(tl_sasrec_loss(m, d, dropout, 99, chunk, 1, &lm, NULL, &e), TL_OK);
        w[i] = keep;
        fd[i] = (lp - lm) / (2.0 * (double)h);
    }
    /* padding row 0 of E is never used */
    for (size_t j = 0; j < 8; j++) cr_assert_eq(an[j], 0.0f);
    size_t nb = 0;
    const char *name;
    for (size_t i = 0; (name = tl_sasrec_block(m, i, &off, &len)); i++, nb++) {
        double num = 0, den = 0;
        for (size_t j = off; j < off + len; j++) {
            num += (fd[j] - an[j]) * (fd[j] - an[j]);
            den += fd[j] * fd[j] + (double)an[j] * an[j];
        }
        double rel = sqrt(num) / (sqrt(den) + 1e-7);
        if (strstr(name, ".bk")) {
            /* a key bias shifts every score of a softmax row equally: its
             * gradient is exactly 0 (up to rounding) */
            cr_assert(sqrt(den) < 1e-4, "block %s: |g| %g, expected 0", name, sqrt(den));
            continue;
        }
        cr_assert(den > 1e-10, "block %s has a zero gradient", name);
        cr_assert(rel < 1e-2, "block %s: relative error %g (|g| %g)", name, rel, sqrt(den));
    }
    cr_assert_eq(nb, 2 + 2 * 16 + 2);
    free(an);
    free(fd);
    tl_dataset_free(d);
    tl_sasrec_ops.free(m);
}

Test(sasrec_grad, all_blocks_no_dropout) { grad_check(0.0, 0, 0); }
Test(sasrec_grad, all_blocks_dropout_chunked) { grad_check(0.3, 3, 0); }
/* dropout on the attention probabilities instead of the attention output */
Test(sasrec_grad, all_blocks_attention_probability_dropout) { grad_check(0.3, 0, 1); }

Test(sasrec_grad, chunking_does_not_change_loss)
{
    struct tl_sasrec_params p;
    small_params(&p);
    void *m = NULL;
    struct tl_err e;
    cr_assert_eq(tl_sasrec_new_random(&p, 7, 5, &m, &e), TL_OK);
    struct tl_dataset *d = grad_ds();
    double a, b, c;
    cr_assert_eq(tl_sasrec_loss(m, d, 0.0, 1, 0, 1, &a, NULL, &e), TL_OK);
    cr_assert_eq(tl_sasrec_loss(m, d, 0.0, 1, 1, 1, &b, NULL, &e), TL_OK);
    cr_assert_eq(tl_sasrec_loss(m, d, 0.0, 1, 4, 1, &c, NULL, &e), TL_OK);
    cr_assert_float_eq(a, b, 1e-6);
    cr_assert_float_eq(a, c, 1e-6);
    /* untrained: loss close to log(7) */
    cr_assert(fabs(a - log(7.0)) < 0.5, "loss %g", a);
    tl_dataset_free(d);
    tl_sasrec_ops.free(m);
}

/* ---------- learning a synthetic sequence rule ---------- */

#define SYN_ITEMS 20

static struct tl_dataset *syn_ds(size_t nu, uint64_t seed)
{
    uint32_t *buf = malloc(nu * 12 * sizeof *buf);
    const uint32_t **seqs = malloc(nu * sizeof *seqs);
    size_t *lens = malloc(nu * sizeof *lens);
    uint64_t s = seed;
    for (size_t u = 0; u < nu; u++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t start = (uint32_t)((s >> 33) % SYN_ITEMS);
        lens[u] = 5 + (size_t)((s >> 20) % 7);
        for (size_t i = 0; i < lens[u]; i++) buf[u * 12 + i] = (start + (uint32_t)i) % SYN_ITEMS;
        seqs[u] = buf + u * 12;
    }
    struct tl_dataset *d = make_ds(seqs, lens, nu, SYN_ITEMS);
    free(buf);
    free(seqs);
    free(lens);
    return d;
}

static void syn_params(struct tl_sasrec_params *p)
{
    tl_sasrec_ops.params_defaults(p);
    p->layers = 1;
    p->dim = 16;
    p->heads = 2;
    p->dropout = 0.1;
    p->lr = 0.01;
    p->batch = 32;
    p->max_len = 10;
    p->epochs = 30;
    p->patience = 5;
}

static void *train_syn(const struct tl_sasrec_params *p, uint64_t seed, int threads)
{
    struct tl_dataset *d = syn_ds(200, 42);
    struct tl_train_opts o = {.threads = threads, .seed = seed};
    void *m = NULL;
    struct tl_err e;
    tl_err_clear(&e);
    cr_assert_eq(tl_sasrec_ops.train(d, p, &o, &m, &e), TL_OK, "%s", e.msg);
    tl_dataset_free(d);
    return m;
}

Test(sasrec_train, learns_next_item_rule)
{
    long live = tl_alloc_live();
    struct tl_sasrec_params p;
    syn_params(&p);
    void *m = train_syn(&p, 7, 2);
    struct tl_sasrec_info info;
    tl_sasrec_get_info(m, &info);
    cr_assert(info.epochs_run >= 1 && info.best_epoch >= 1 && info.best_epoch <= info.epochs_run);
    cr_assert(info.best_val_hr > 0.9, "validation HR@10 %g", info.best_val_hr);
    cr_assert(info.last_loss < 1.0, "final loss %g", info.last_loss);
    int hits = 0;
    for (uint32_t a = 0; a < SYN_ITEMS; a++) {
        uint32_t h[3] = {a, (a + 1) % SYN_ITEMS, (a + 2) % SYN_ITEMS};
        struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = h, .n_history = 3};
        struct tl_model_hit out[1];
        size_t n = 0;
        cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, 1, out, &n), TL_OK);
        cr_assert_eq(n, 1);
        cr_assert_eq(out[0].anchor, h[2]);
        hits += out[0].item == (a + 3) % SYN_ITEMS;
    }
    cr_assert(hits >= SYN_ITEMS - 1, "HR@1 %d/%d", hits, SYN_ITEMS);
    tl_sasrec_ops.free(m);
    cr_assert_eq(tl_alloc_live(), live);
}

Test(sasrec_train, loss_decreases_without_validation)
{
    struct tl_sasrec_params p;
    syn_params(&p);
    p.valid = 0;
    p.epochs = 1;
    void *m1 = train_syn(&p, 3, 1);
    p.epochs = 10;
    void *m10 = train_syn(&p, 3, 1);
    struct tl_sasrec_info i1, i10;
    tl_sasrec_get_info(m1, &i1);
    tl_sasrec_get_info(m10, &i10);
    cr_assert_eq(i10.epochs_run, 10);
    cr_assert(i1.last_loss > log((double)SYN_ITEMS) * 0.7, "first epoch loss %g", i1.last_loss);
    cr_assert(i10.last_loss < 0.5 * i1.last_loss, "loss %g -> %g", i1.last_loss, i10.last_loss);
    tl_sasrec_ops.free(m1);
    tl_sasrec_ops.free(m10);
}

static void snap(const void *m, struct tl_buf *b)
{
    struct tl_err e;
    tl_buf_init(b, 0);
    cr_assert_eq(tl_sasrec_ops.save(m, b, &e), TL_OK);
}

Test(sasrec_train, deterministic_for_seed)
{
    struct tl_sasrec_params p;
    syn_params(&p);
    p.epochs = 3;
    void *a = train_syn(&p, 5, 2), *b = train_syn(&p, 5, 2), *c = train_syn(&p, 6, 2);
    struct tl_buf sa, sb, sc;
    snap(a, &sa), snap(b, &sb), snap(c, &sc);
    cr_assert_eq(sa.len, sb.len);
    cr_assert(memcmp(sa.data, sb.data, sa.len) == 0, "same seed, different model");
    cr_assert(sa.len == sc.len && memcmp(sa.data, sc.data, sa.len) != 0, "different seeds, same model");
    tl_buf_free(&sa), tl_buf_free(&sb), tl_buf_free(&sc);
    tl_sasrec_ops.free(a), tl_sasrec_ops.free(b), tl_sasrec_ops.free(c);
}

/* The thread pool splits the output layer by rows and the large sgemm
 * calls by rows or columns, never along the summed dimension: one training
 * step's loss and gradient are the same with one, two and three threads up
 * to float rounding (OpenBLAS may pick another kernel for another matrix
 * height). A row range lost, done twice or added into the wrong item row
 * would move gradient entries by their own size. dim 64 and 300 users make
 * the transformer's sgemm calls large enough to be split; chunk 100 makes
 * the output layer run in several blocks. */
Test(sasrec_grad, thread_count_gives_the_same_gradient)
{
    struct tl_sasrec_params p;
    syn_params(&p);
    p.dim = 64;
    void *m = NULL;
    struct tl_err e;
    cr_assert_eq(tl_sasrec_new_random(&p, SYN_ITEMS, 5, &m, &e), TL_OK);
    size_t nw = 0;
    tl_sasrec_weights(m, &nw);
    struct tl_dataset *d = syn_ds(300, 42);
    float *g[3];
    double loss[3];
    for (int t = 0; t < 3; t++) g[t] = malloc(nw * sizeof *g[t]);
    for (size_t chunk = 0; chunk <= 100; chunk += 100) { /* 0: the whole batch in one block */
        for (int t = 0; t < 3; t++)
            cr_assert_eq(tl_sasrec_loss(m, d, 0.2, 9, chunk, t + 1, &loss[t], g[t], &e), TL_OK, "%s", e.msg);
        double gmax = 0;
        for (size_t i = 0; i < nw; i++) gmax = fmax(gmax, fabs((double)g[0][i]));
        cr_assert(gmax > 0);
        for (int t = 1; t < 3; t++) {
            cr_assert_float_eq(loss[t], loss[0], 1e-6 * loss[0], "%d threads: loss %g vs %g", t + 1, loss[t], loss[0]);
            double worst = 0;
            for (size_t i = 0; i < nw; i++) worst = fmax(worst, fabs((double)g[t][i] - (double)g[0][i]));
            cr_assert(worst <= 1e-4 * gmax, "chunk %zu, %d threads: a gradient entry differs by %g (largest %g)", chunk,
                      t + 1, worst, gmax);
        }
    }
    for (int t = 0; t < 3; t++) free(g[t]);
    tl_dataset_free(d);
    tl_sasrec_ops.free(m);
}

static void cancel_progress(void *ctx, double frac, const char *phase)
{
    (void)frac;
    (void)phase;
    ++*(int *)ctx;
}

Test(sasrec_train, cancel_and_progress)
{
    long live = tl_alloc_live();
    struct tl_sasrec_params p;
    syn_params(&p);
    p.epochs = 2;
    p.valid = 0;
    struct tl_dataset *d = syn_ds(50, 1);
    int calls = 0;
    volatile int cancel = 0;
    struct tl_train_opts o = {
        .threads = 1, .seed = 1, .progress = cancel_progress, .progress_ctx = &calls, .cancel = &cancel};
    void *m = NULL;
    struct tl_err e;
    cr_assert_eq(tl_sasrec_ops.train(d, &p, &o, &m, &e), TL_OK);
    cr_assert_eq(calls, 2);
    tl_sasrec_ops.free(m);
    cancel = 1;
    m = (void *)1;
    cr_assert_eq(tl_sasrec_ops.train(d, &p, &o, &m, &e), TL_ESHUTDOWN);
    cr_assert_null(m);
    tl_dataset_free(d);
    cr_assert_eq(tl_alloc_live(), live);
}

/* ---------- snapshot ---------- */

static void *random_model(uint32_t n_items, uint64_t seed)
{
    struct tl_sasrec_params p;
    small_params(&p);
    p.layers = 1;
    p.dim = 4;
    p.max_len = 3;
    void *m = NULL;
    struct tl_err e;
    cr_assert_eq(tl_sasrec_new_random(&p, n_items, seed, &m, &e), TL_OK);
    return m;
}

Test(sasrec_snapshot, round_trip_and_every_truncation)
{
    long live = tl_alloc_live();
    void *m = random_model(5, 3);
    struct tl_buf b;
    snap(m, &b);
    struct tl_err e;
    void *l = NULL;
    cr_assert_eq(tl_sasrec_ops.load(b.data, b.len, &l, &e), TL_OK);
    struct tl_buf b2;
    snap(l, &b2);
    cr_assert_eq(b.len, b2.len);
    cr_assert(memcmp(b.data, b2.data, b.len) == 0);
    cr_assert_eq(tl_sasrec_ops.memory(l), tl_sasrec_ops.memory(m));
    uint32_t h[2] = {1, 4};
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = h, .n_history = 2};
    struct tl_model_hit o1[5], o2[5];
    size_t n1, n2;
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, 5, o1, &n1), TL_OK);
    cr_assert_eq(tl_sasrec_ops.candidates(l, &q, NULL, NULL, 5, o2, &n2), TL_OK);
    cr_assert_eq(n1, 5);
    cr_assert_eq(n2, 5);
    for (size_t i = 0; i < n1; i++) {
        cr_assert_eq(o1[i].item, o2[i].item);
        cr_assert_eq(o1[i].score, o2[i].score);
    }
    tl_sasrec_ops.free(l);
    for (size_t len = 0; len < b.len; len++) {
        l = (void *)1;
        cr_assert_eq(tl_sasrec_ops.load(b.data, len, &l, &e), TL_EPARSE, "length %zu accepted", len);
        cr_assert_null(l);
    }
    /* one extra byte */
    cr_assert_eq(tl_buf_append(&b, "x", 1), TL_OK);
    cr_assert_eq(tl_sasrec_ops.load(b.data, b.len, &l, &e), TL_EPARSE);
    b.len--;
    /* any flipped byte */
    for (size_t i = 0; i < b.len; i += 7) {
        b.data[i] ^= 0x20;
        cr_assert_eq(tl_sasrec_ops.load(b.data, b.len, &l, &e), TL_EPARSE, "flip at %zu accepted", i);
        b.data[i] ^= 0x20;
    }
    cr_assert_eq(tl_sasrec_ops.load(b.data, b.len, &l, &e), TL_OK);
    tl_sasrec_ops.free(l);
    tl_buf_free(&b), tl_buf_free(&b2);
    tl_sasrec_ops.free(m);
    cr_assert_eq(tl_alloc_live(), live);
}

/* ---------- candidates ---------- */

static int skip_odd(void *ctx, uint32_t item)
{
    (void)ctx;
    return item % 2 == 1;
}

Test(sasrec_candidates, topk_skip_ties_against_full_ranking)
{
    const uint32_t N = 40;
    void *m = random_model(N, 9);
    size_t nw;
    float *w = tl_sasrec_weights(m, &nw);
    size_t off, len;
    cr_assert_str_eq(tl_sasrec_block(m, 0, &off, &len), "E");
    /* items 7 and 12 get identical embeddings: equal scores, 7 first */
    memcpy(w + off + (1 + 12) * 4, w + off + (1 + 7) * 4, 4 * sizeof *w);
    uint32_t h[4] = {3, 99, 7, 21}; /* 99 is unknown and ignored */
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = h, .n_history = 4};
    struct tl_model_hit all[40], top[40];
    size_t na = 0, nt = 0;
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, N, all, &na), TL_OK);
    cr_assert_eq(na, N);
    int seen[40] = {0};
    size_t p7 = 0, p12 = 0;
    for (size_t i = 0; i < na; i++) {
        cr_assert_lt(all[i].item, N);
        cr_assert_eq(seen[all[i].item]++, 0);
        cr_assert_eq(all[i].anchor, 21);
        if (i) {
            cr_assert(all[i - 1].score >= all[i].score);
            if (all[i - 1].score == all[i].score) cr_assert_lt(all[i - 1].item, all[i].item);
        }
        if (all[i].item == 7) p7 = i;
        if (all[i].item == 12) p12 = i;
    }
    cr_assert_eq(all[p7].score, all[p12].score);
    cr_assert_eq(p12, p7 + 1);
    for (size_t k = 0; k <= N; k += 3) {
        cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, k, top, &nt), TL_OK);
        cr_assert_eq(nt, k);
        for (size_t i = 0; i < k; i++) cr_assert_eq(top[i].item, all[i].item);
    }
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q, skip_odd, NULL, 10, top, &nt), TL_OK);
    cr_assert_eq(nt, 10);
    size_t j = 0;
    for (size_t i = 0; i < na && j < 10; i++)
        if (all[i].item % 2 == 0) cr_assert_eq(top[j++].item, all[i].item);
    /* only the newest max_len (3) known items count: h3 = h plus an older 5 */
    uint32_t h2[3] = {99, 7, 21}, h3[5] = {5, 3, 99, 7, 21};
    struct tl_model_query q2 = q, q3 = q;
    q2.history = h2, q2.n_history = 3;
    q3.history = h3, q3.n_history = 5;
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q2, NULL, NULL, 5, top, &nt), TL_OK);
    struct tl_model_hit t3[5];
    size_t n3;
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q3, NULL, NULL, 5, t3, &n3), TL_OK);
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, 5, all, &na), TL_OK);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(t3[i].item, all[i].item);
        cr_assert_eq(t3[i].score, all[i].score);
    }
    tl_sasrec_ops.free(m);
}

Test(sasrec_candidates, empty_unknown_anchor_and_bad_queries)
{
    void *m = random_model(6, 2);
    struct tl_model_hit out[6];
    size_t n = 9;
    uint32_t unk[2] = {6, 1000};
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = unk, .n_history = 2};
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, 6, out, &n), TL_OK);
    cr_assert_eq(n, 0);
    q.n_history = 0, q.history = NULL, q.anchor = 2;
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, 6, out, &n), TL_OK);
    cr_assert_eq(n, 6);
    cr_assert_eq(out[0].anchor, 2);
    uint32_t one = 2;
    struct tl_model_query q1 = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = &one, .n_history = 1};
    struct tl_model_hit o1[6];
    size_t n1;
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q1, NULL, NULL, 6, o1, &n1), TL_OK);
    for (size_t i = 0; i < 6; i++) cr_assert_eq(o1[i].item, out[i].item);
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, TL_MODEL_K_MAX + 1, out, &n), TL_EINVAL);
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, 0, out, &n), TL_OK);
    cr_assert_eq(n, 0);
    q.n_history = 3, q.history = NULL;
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, 3, out, &n), TL_EINVAL);
    q.history = unk, q.n_history = TL_MODEL_HISTORY_MAX + 1;
    cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, 3, out, &n), TL_EINVAL);
    tl_sasrec_ops.free(m);
}

/* ---------- forward pass against an independent double-precision reference ---------- */

struct refm {
    const float *w;
    size_t d, T, H, nl, n;
    size_t off[2 + TL_SASREC_LAYERS_MAX * 16 + 2];
};

static void ref_ln(const double *x, const float *g, const float *b, size_t d, double *y)
{
    double mu = 0, var = 0;
    for (size_t j = 0; j < d; j++) mu += x[j];
    mu /= (double)d;
    for (size_t j = 0; j < d; j++) var += (x[j] - mu) * (x[j] - mu);
    var /= (double)d;
    for (size_t j = 0; j < d; j++) y[j] = g[j] * (x[j] - mu) / sqrt(var + 1e-8) + b[j];
}

/* y[L x d] = x W + b for W [d x d] row-major. */
static void ref_lin(const double *x, size_t L, size_t d, const float *W, const float *b, double *y)
{
    for (size_t t = 0; t < L; t++)
        for (size_t o = 0; o < d; o++) {
            double s = b[o];
            for (size_t i = 0; i < d; i++) s += x[t * d + i] * W[i * d + o];
            y[t * d + o] = s;
        }
}

/* Scores of every item after the sequence seq (dataset indexes), following
 * the formulas in sasrec.c's header, written independently. */
static void ref_scores(const struct refm *r, const uint32_t *seq, size_t L, double *sc)
{
    size_t d = r->d, dh = d / r->H;
    double x[8 * 16], q[8 * 16], Q[8 * 16], K[8 * 16], V[8 * 16], O[8 * 16], a[8 * 16], f[8 * 16], h1[8 * 16];
    cr_assert(L <= 8 && d <= 16);
    const float *E = r->w + r->off[0], *P = r->w + r->off[1];
    for (size_t t = 0; t < L; t++)
        for (size_t j = 0; j < d; j++)
            x[t * d + j] = E[(seq[t] + 1) * d + j] * sqrt((double)d) + P[(r->T - L + t) * d + j];
    for (size_t l = 0; l < r->nl; l++) {
        const size_t *o = r->off + 2 + l * 16;
#define B_(k) (r->w + o[k])
        for (size_t t = 0; t < L; t++) ref_ln(x + t * d, B_(0), B_(1), d, q + t * d);
        ref_lin(q, L, d, B_(2), B_(3), Q);
        ref_lin(x, L, d, B_(4), B_(5), K);
        ref_lin(x, L, d, B_(6), B_(7), V);
        for (size_t h = 0; h < r->H; h++)
            for (size_t t = 0; t < L; t++) {
                double e[8], mx = -1e300, z = 0;
                for (size_t u = 0; u <= t; u++) { /* causal: keys up to t */
                    double s = 0;
                    for (size_t j = h * dh; j < (h + 1) * dh; j++) s += Q[t * d + j] * K[u * d + j];
                    e[u] = s / sqrt((double)dh);
                    if (e[u] > mx) mx = e[u];
                }
                for (size_t u = 0; u <= t; u++) z += (e[u] = exp(e[u] - mx));
                for (size_t j = h * dh; j < (h + 1) * dh; j++) {
                    double s = 0;
                    for (size_t u = 0; u <= t; u++) s += e[u] / z * V[u * d + j];
                    O[t * d + j] = s;
                }
            }
        ref_lin(O, L, d, B_(8), B_(9), a);
        for (size_t i = 0; i < L * d; i++) a[i] += q[i];
        for (size_t t = 0; t < L; t++) ref_ln(a + t * d, B_(10), B_(11), d, f + t * d);
        ref_lin(f, L, d, B_(12), B_(13), h1);
        for (size_t i = 0; i < L * d; i++) h1[i] = h1[i] > 0 ? h1[i] : 0;
        ref_lin(h1, L, d, B_(14), B_(15), x);
        for (size_t i = 0; i < L * d; i++) x[i] += f[i];
#undef B_
    }
    double hf[16];
    size_t nb = 2 + r->nl * 16;
    ref_ln(x + (L - 1) * d, r->w + r->off[nb], r->w + r->off[nb + 1], d, hf);
    for (size_t i = 0; i < r->n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += hf[j] * E[(i + 1) * d + j];
        sc[i] = s;
    }
}

Test(sasrec_forward, matches_reference_implementation)
{
    struct tl_sasrec_params p;
    small_params(&p); /* 2 layers, d 8, 2 heads, max_len 5 */
    p.max_len = 6;
    const uint32_t N = 9;
    void *m = NULL;
    struct tl_err e;
    cr_assert_eq(tl_sasrec_new_random(&p, N, 21, &m, &e), TL_OK);
    struct refm r = {.d = 8, .T = 6, .H = 2, .nl = 2, .n = N};
    size_t nw, len, nb = 0;
    float *w = tl_sasrec_weights(m, &nw);
    r.w = w;
    for (; tl_sasrec_block(m, nb, &r.off[nb], &len); nb++)
        for (size_t j = 0; j < len; j++)
            if (nb > 1) w[r.off[nb] + j] += 0.2f * (float)cos((double)(r.off[nb] + j) * 0.9);
    cr_assert_eq(nb, 2 + 2 * 16 + 2);
    /* the longer history is cut to its newest max_len (6) items */
    const uint32_t h1[] = {4}, h2[] = {2, 7, 7, 0, 5}, h3[] = {8, 1, 3, 6, 2, 0, 4, 4};
    const uint32_t *hs[] = {h1, h2, h3};
    size_t lens[] = {1, 5, 8};
    for (int c = 0; c < 3; c++) {
        double ref[9];
        size_t L = lens[c] < 6 ? lens[c] : 6;
        ref_scores(&r, hs[c] + lens[c] - L, L, ref);
        struct tl_model_query q = {
            .user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = hs[c], .n_history = lens[c]};
        struct tl_model_hit out[9];
        size_t n = 0;
        cr_assert_eq(tl_sasrec_ops.candidates(m, &q, NULL, NULL, N, out, &n), TL_OK);
        cr_assert_eq(n, N);
        for (size_t i = 0; i < n; i++)
            cr_assert(fabs(out[i].score - ref[out[i].item]) < 1e-4 * (1 + fabs(ref[out[i].item])),
                      "case %d item %u: %g vs reference %g", c, out[i].item, out[i].score, ref[out[i].item]);
    }
    tl_sasrec_ops.free(m);
}

/* ---------- concurrent queries ---------- */

struct qarg {
    const void *m;
    struct tl_model_hit first[10];
    int ok;
};

static void *query_thread(void *pv)
{
    struct qarg *a = pv;
    a->ok = 1;
    for (int it = 0; it < 200; it++) {
        uint32_t h[3] = {(uint32_t)it % 30, 5, 11};
        struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = h, .n_history = 3};
        struct tl_model_hit out[10];
        size_t n = 0;
        if (tl_sasrec_ops.candidates(a->m, &q, NULL, NULL, 10, out, &n) != TL_OK || n != 10) a->ok = 0;
        if (it == 0) memcpy(a->first, out, sizeof out);
    }
    return NULL;
}

Test(sasrec_candidates, concurrent_queries_agree)
{
    void *m = random_model(30, 4);
    struct qarg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i].m = m;
        cr_assert_eq(pthread_create(&th[i], NULL, query_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        cr_assert(a[i].ok);
        for (int j = 0; j < 10; j++) {
            cr_assert_eq(a[i].first[j].item, a[0].first[j].item);
            cr_assert_eq(a[i].first[j].score, a[0].first[j].score);
        }
    }
    tl_sasrec_ops.free(m);
}

/* ---------- parameters ---------- */

Test(sasrec_params, defaults_and_errors)
{
    cr_assert_str_eq(tl_sasrec_ops.name, "sasrec");
    cr_assert_leq(tl_sasrec_ops.params_size, TL_MODEL_PARAMS_MAX);
    struct tl_sasrec_params p;
    tl_sasrec_ops.params_defaults(&p);
    cr_assert_eq(p.layers, 2);
    cr_assert_eq(p.dim, 64);
    cr_assert_eq(p.heads, 2);
    cr_assert_float_eq(p.dropout, 0.5, 0);
    cr_assert_float_eq(p.lr, 1e-3, 0);
    cr_assert_eq(p.batch, 256);
    cr_assert_eq(p.max_len, 50);
    struct tl_err e;
    tl_err_clear(&e);
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "layers", "3", &e), TL_OK);
    cr_assert_eq(p.layers, 3);
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "dropout", "0.2", &e), TL_OK);
    cr_assert_float_eq(p.dropout, 0.2, 0);
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "epochs", "7", &e), TL_OK);
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "patience", "0", &e), TL_OK);
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "max_seconds", "5.5", &e), TL_OK);
    cr_assert_float_eq(p.max_seconds, 5.5, 0);
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "max_seconds", "-1", &e), TL_EINVAL);
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "bogus", "1", &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "bogus");
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "dropout", "1.5", &e), TL_EINVAL);
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "dim", "abc", &e), TL_EINVAL);
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "layers", "0", &e), TL_EINVAL);
    /* heads must divide dim: checked at train time */
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "dim", "10", &e), TL_OK);
    cr_assert_eq(tl_sasrec_ops.param_set(&p, "heads", "3", &e), TL_OK);
    struct tl_dataset *d = syn_ds(10, 1);
    struct tl_train_opts o = {.threads = 1, .seed = 1};
    void *m = NULL;
    cr_assert_eq(tl_sasrec_ops.train(d, &p, &o, &m, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "heads");
    tl_dataset_free(d);
}
