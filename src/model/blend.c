/* Score blending and the "blend" model (formulas in blend.h).
 *
 * Merge: a per-call open-addressing table over the candidates, so fusing L
 * lists of depth D costs O(L D) memory and O(L D log k) time, independent of
 * the catalog size.
 *
 * Snapshot of the blend model: u32 magic 'BLN2', u32 n_items, u32 depth,
 * u32 norm, f64 recency_days (as u64 bits), u32 validation cases, f32
 * blend HR@10, f32 blend NDCG@10, u32 n_sources, then per source: u32 name
 * length, name bytes, f32 weight, f32 HR@10, f32 NDCG@10 (validation; 0
 * when not tuned), u64 snapshot length, the sub-model's own snapshot bytes.
 * Version 1 ('BLN1': no validation fields) still loads. */
#include "model/blend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/topk.h"

#define BLEND_MAGIC 0x314e4c42u    /* "BLN1" */
#define BLEND_MAGIC_V2 0x324e4c42u /* "BLN2" */
#define RRF_K 60.0                 /* reciprocal rank fusion constant */

/* Per-call accumulator: open addressing over the candidate items (at most
 * the total length of the lists), so a call costs O(total) memory and time
 * whatever the catalog size. Slot key UINT32_MAX = empty. */
struct acc_slot {
    uint32_t item;
    uint32_t source;
    uint32_t anchor;
    float sum;
    float best;
};

static struct acc_slot *acc_find(struct acc_slot *t, size_t mask, uint32_t item)
{
    size_t i = (size_t)(((uint64_t)item * 0x9e3779b97f4a7c15ULL) >> 32) & mask;
    while (t[i].item != UINT32_MAX && t[i].item != item) i = (i + 1) & mask;
    return &t[i];
}

enum tl_rc tl_blend_merge(const struct tl_blend_list *lists, size_t n_lists, enum tl_blend_norm norm, uint32_t n_items,
                          size_t k, struct tl_blend_hit *out, size_t *n)
{
    if (!n || (n_lists && !lists) || (k && !out) || n_lists > TL_BLEND_SOURCES_MAX) return TL_EINVAL;
    *n = 0;
    if (k == 0 || n_items == 0) return TL_OK;
    size_t total = 0;
    for (size_t l = 0; l < n_lists; l++) total += lists[l].n;
    size_t cap = 16;
    while (cap < 2 * total) cap *= 2;
    struct acc_slot *t = tl_malloc(cap * sizeof *t);
    uint32_t *touched = tl_malloc((total + 1) * sizeof *touched);
    struct tl_topk_entry *heap = tl_malloc(k * sizeof *heap);
    enum tl_rc rc = TL_OK;
    if (!t || !touched || !heap) {
        rc = TL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < cap; i++) t[i].item = UINT32_MAX;
    size_t nt = 0;
    for (size_t l = 0; l < n_lists; l++) {
        const struct tl_blend_list *L = &lists[l];
        if (L->n == 0 || !(L->weight > 0.0f)) continue;
        float smax = -INFINITY, smin = INFINITY;
        for (size_t i = 0; i < L->n; i++) {
            smax = fmaxf(smax, L->hits[i].score);
            smin = fminf(smin, L->hits[i].score);
        }
        for (size_t i = 0; i < L->n; i++) {
            uint32_t it = L->hits[i].item;
            if (it >= n_items) continue;
            double v;
            if (norm == TL_BLEND_RRF)
                v = RRF_K / (RRF_K + (double)(i + 1));
            else
                v = smax > smin ? (L->hits[i].score - smin) / (double)(smax - smin) : 1.0;
            float term = (float)(L->weight * v);
            struct acc_slot *a = acc_find(t, cap - 1, it);
            if (a->item == UINT32_MAX) {
                *a = (struct acc_slot){it, 0, 0, 0.0f, -1.0f};
                touched[nt++] = it;
            }
            a->sum += term;
            if (term > a->best) {
                a->best = term;
                a->source = (uint32_t)l;
                a->anchor = L->hits[i].anchor;
            }
        }
    }
    struct tl_topk h;
    tl_topk_init(&h, heap, k);
    for (size_t i = 0; i < nt; i++) tl_topk_push(&h, touched[i], acc_find(t, cap - 1, touched[i])->sum);
    size_t got = tl_topk_sort(&h);
    for (size_t i = 0; i < got; i++) {
        const struct acc_slot *a = acc_find(t, cap - 1, heap[i].id);
        out[i] = (struct tl_blend_hit){heap[i].id, (float)heap[i].score, a->source, a->anchor};
    }
    *n = got;
out:
    tl_free(t);
    tl_free(touched);
    tl_free(heap);
    return rc;
}

/* ---- the blend model ------------------------------------------------------ */

struct blend_params {
    char models[160];
    long depth;
    long norm;
    long tune;
    long refit;          /* 1: retrain the sub-models on all the data after tuning */
    char self_valid[64]; /* sub-models that hold out their own latest item (refit 0 only) */
    double recency_days;
    size_t n_sub;
    char sub[TL_BLEND_SUBPARAMS_MAX][2][40]; /* "ease.lambda", "50" */
};

_Static_assert(sizeof(struct blend_params) <= TL_MODEL_PARAMS_MAX, "blend params too large");
struct source {
    const struct tl_model_ops *ops;
    void *model;
    float weight;
    float val_hr, val_ndcg; /* alone, on the validation cases (0 when not tuned) */
};

struct blend {
    uint32_t n_items;
    uint32_t depth;
    enum tl_blend_norm norm;
    double recency_days;
    uint32_t tuned_cases; /* validation cases the weights were tuned on (0 = configured weights) */
    double tuned_hr;      /* their HR@10 with the chosen weights */
    double tuned_ndcg;    /* and NDCG@10 */
    size_t n;
    struct source s[TL_BLEND_SOURCES_MAX];
};

static void blend_defaults(void *params)
{
    struct blend_params *p = params;
    memset(p, 0, sizeof *p);
    strcpy(p->models, "ease:1,sknn:0.5,trend:0.5,itemknn:0.25");
    p->depth = 200;
    p->norm = TL_BLEND_MINMAX;
    p->recency_days = 0;
    p->tune = 1;
    p->refit = 1;
}

/* Parse "name:weight,..." into sources (ops and weights only). */
static enum tl_rc parse_models(const char *spec, struct source *s, size_t *n, struct tl_err *err)
{
    char tmp[160];
    if (strlen(spec) >= sizeof tmp) return tl_err_set(err, TL_EINVAL, "models", "blend model list too long");
    strcpy(tmp, spec);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        double w = 1.0;
        if (colon) {
            *colon = '\0';
            if (tl_model_param_double("models", colon + 1, 0.0, 1000.0, &w, err))
                return tl_err_set(err, TL_EINVAL, "models", "weight of '%s' must be a number from 0 to 1000", tok);
        }
        const struct tl_model_ops *ops = tl_model_find(tok);
        if (!ops || strcmp(tok, "blend") == 0)
            return tl_err_set(err, TL_EINVAL, "models", "blend: unknown or unusable model '%s'", tok);
        if (*n == TL_BLEND_SOURCES_MAX)
            return tl_err_set(err, TL_EINVAL, "models", "blend: at most %d models", TL_BLEND_SOURCES_MAX);
        s[*n].ops = ops;
        s[*n].weight = (float)w;
        s[*n].model = NULL;
        (*n)++;
    }
    if (*n == 0) return tl_err_set(err, TL_EINVAL, "models", "blend needs at least one model");
    return TL_OK;
}

static enum tl_rc blend_param(void *params, const char *key, const char *value, struct tl_err *err)
{
    struct blend_params *p = params;
    if (strcmp(key, "models") == 0) {
        struct source s[TL_BLEND_SOURCES_MAX];
        size_t n;
        enum tl_rc rc = parse_models(value, s, &n, err);
        if (rc) return rc;
        strcpy(p->models, value);
        return TL_OK;
    }
    if (strcmp(key, "depth") == 0) return tl_model_param_long(key, value, 1, TL_MODEL_K_MAX, &p->depth, err);
    if (strcmp(key, "tune") == 0) return tl_model_param_long(key, value, 0, 1, &p->tune, err);
    if (strcmp(key, "refit") == 0) return tl_model_param_long(key, value, 0, 1, &p->refit, err);
    if (strcmp(key, "self_valid") == 0) {
        if (strlen(value) >= sizeof p->self_valid) return tl_err_set(err, TL_EINVAL, key, "self_valid list too long");
        strcpy(p->self_valid, value);
        return TL_OK;
    }
    if (strcmp(key, "recency_days") == 0) return tl_model_param_double(key, value, 0, 36500, &p->recency_days, err);
    if (strcmp(key, "norm") == 0) {
        if (strcmp(value, "minmax") == 0)
            p->norm = TL_BLEND_MINMAX;
        else if (strcmp(value, "rrf") == 0)
            p->norm = TL_BLEND_RRF;
        else
            return tl_err_set(err, TL_EINVAL, key, "norm must be minmax or rrf");
        return TL_OK;
    }
    if (strchr(key, '.')) {
        if (strlen(key) >= sizeof p->sub[0][0] || strlen(value) >= sizeof p->sub[0][1])
            return tl_err_set(err, TL_EINVAL, key, "sub-model parameter too long");
        for (size_t i = 0; i < p->n_sub; i++)
            if (strcmp(p->sub[i][0], key) == 0) {
                strcpy(p->sub[i][1], value);
                return TL_OK;
            }
        if (p->n_sub == TL_BLEND_SUBPARAMS_MAX)
            return tl_err_set(err, TL_EINVAL, key, "at most %d sub-model parameters", TL_BLEND_SUBPARAMS_MAX);
        strcpy(p->sub[p->n_sub][0], key);
        strcpy(p->sub[p->n_sub][1], value);
        p->n_sub++;
        return TL_OK;
    }
    return tl_err_set(err, TL_EINVAL, key,
                      "model blend has no parameter %s (known: models, depth, norm, tune, refit, self_valid, "
                      "recency_days, M.KEY)",
                      key);
}

static void blend_free(void *m)
{
    struct blend *b = m;
    if (!b) return;
    for (size_t i = 0; i < b->n; i++)
        if (b->s[i].model) b->s[i].ops->free(b->s[i].model);
    tl_free(b);
}

struct sub_progress {
    const struct tl_train_opts *outer;
    size_t i, n;
    double from, span; /* this phase's share of the whole run */
};

static void sub_progress_fn(void *ctx, double frac, const char *phase)
{
    struct sub_progress *sp = ctx;
    sp->outer->progress(sp->outer->progress_ctx, sp->from + sp->span * ((double)sp->i + frac) / (double)sp->n, phase);
}

/* Train every sub-model of b on d, those named in p->self_valid on d_self
 * (b->s[i].model set; frees nothing on error). */
static enum tl_rc train_subs(struct blend *b, const struct blend_params *p, const struct tl_dataset *d,
                             const struct tl_dataset *d_self, const struct tl_train_opts *opts, double from,
                             double span, struct tl_err *err)
{
    enum tl_rc rc = TL_OK;
    for (size_t i = 0; !rc && i < b->n; i++) {
        const struct tl_model_ops *ops = b->s[i].ops;
        _Alignas(16) unsigned char sp[TL_MODEL_PARAMS_MAX];
        memset(sp, 0, sizeof sp);
        ops->params_defaults(sp);
        size_t nl = strlen(ops->name);
        for (size_t j = 0; !rc && j < p->n_sub; j++)
            if (strncmp(p->sub[j][0], ops->name, nl) == 0 && p->sub[j][0][nl] == '.')
                rc = ops->param_set(sp, p->sub[j][0] + nl + 1, p->sub[j][1], err);
        if (rc) break;
        struct tl_train_opts so = opts ? *opts : (struct tl_train_opts){.threads = 1};
        struct sub_progress spc = {opts, i, b->n, from, span};
        if (opts && opts->progress) {
            so.progress = sub_progress_fn;
            so.progress_ctx = &spc;
        }
        rc = ops->train(tl_model_name_in_list(p->self_valid, ops->name) ? d_self : d, sp, &so, &b->s[i].model, err);
    }
    return rc;
}

static void free_subs(struct blend *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->s[i].model) {
            b->s[i].ops->free(b->s[i].model);
            b->s[i].model = NULL;
        }
}

/* ---- weight tuning ----------------------------------------------------------
 * With tune = 1 the weights are learned on a validation split of the
 * training data that mirrors "what comes next": for every user, the
 * interactions at their latest timestamp (the last order, the last click)
 * are held out; the targets are the held-out items not seen earlier in the
 * user's row, the history is everything earlier (masked). Users with no
 * earlier history or no such target are not cases. Sub-models are trained
 * on the data without the held-out interactions, each is asked once for its
 * top `depth` per case (at most TUNE_CASES cases, users taken evenly), and
 * every weight vector of the grid (first model 1; each other one of
 * TUNE_GRID) is scored by HR@10 (ties: MRR@10) of the fused lists. The best
 * weights are kept and the sub-models retrained on all the data.
 *
 * refit = 0 keeps the sub-models trained for tuning instead (one training
 * instead of two; they have not seen each user's latest interactions, which
 * the query history still carries at serving time). Sub-models named in
 * self_valid (refit = 0 only) are trained for tuning on all the data: they
 * hold out each user's latest item themselves (SASRec with valid = 1 stops
 * early on it) and never train on it, so the fused lists are still scored
 * on items no source has learnt from. The two hold-outs coincide when every
 * user's latest interaction is one item (sequences); SASRec does not hold
 * out an item of users with fewer than 3, whom the blend may take as cases. */
#define TUNE_CASES 3000
#define TUNE_K 10
static const float TUNE_GRID[] = {0.0f, 0.25f, 0.5f, 1.0f, 2.0f};
#define TUNE_NG (sizeof TUNE_GRID / sizeof TUNE_GRID[0])

struct tune_case {
    size_t tgt_off, n_tgt;
    size_t hist_off, n_hist;
};

struct mask_set {
    const uint32_t *h;
    size_t n;
};

static int skip_hist(void *ctx, uint32_t item)
{
    const struct mask_set *m = ctx;
    for (size_t i = 0; i < m->n; i++)
        if (m->h[i] == item) return 1;
    return 0;
}

static int in_range(const uint32_t *a, size_t lo, size_t hi, uint32_t x)
{
    for (size_t i = lo; i < hi; i++)
        if (a[i] == x) return 1;
    return 0;
}

/* Start of u's held-out tail (interactions at the latest timestamp) and
 * whether u is a validation case (earlier history and a new item there). */
static size_t tail_start(const struct tl_dataset *d, uint32_t u, int *is_case)
{
    size_t lo = d->off[u], hi = d->off[u + 1];
    *is_case = 0;
    if (hi - lo < 2) return hi;
    size_t t = hi - 1;
    while (t > lo && d->ts[t - 1] == d->ts[hi - 1]) t--;
    if (t == lo) return hi; /* everything at one time: nothing earlier to predict from */
    for (size_t x = t; x < hi && !*is_case; x++) *is_case = !in_range(d->item, lo, t, d->item[x]);
    return t;
}

static enum tl_rc tune_weights(struct blend *b, const struct blend_params *p, const struct tl_dataset *d,
                               const struct tl_train_opts *opts, struct tl_err *err)
{
    if (b->n < 2) return TL_OK;
    struct tl_dataset_builder *db = tl_dataset_builder_new();
    struct tune_case *cs = tl_malloc(TUNE_CASES * sizeof *cs);
    uint32_t *hist = tl_malloc((d->n + 1) * sizeof *hist), *tgt = tl_malloc((d->n + 1) * sizeof *tgt);
    int64_t *hts = tl_malloc((d->n + 1) * sizeof *hts);
    struct tl_dataset *dv = NULL;
    struct tl_model_hit *lists = NULL;
    size_t *lens = NULL;
    enum tl_rc rc = (!db || !cs || !hist || !hts || !tgt) ? TL_ENOMEM : TL_OK;
    size_t nc = 0, nh = 0, nt = 0, eligible = 0, seen = 0;
    for (uint32_t u = 0; !rc && u < d->n_users; u++) {
        int c;
        tail_start(d, u, &c);
        eligible += c;
    }
    size_t stride = eligible > TUNE_CASES ? (eligible + TUNE_CASES - 1) / TUNE_CASES : 1;
    for (uint32_t u = 0; !rc && u < d->n_users; u++) {
        size_t lo = d->off[u], hi = d->off[u + 1];
        int is_case;
        size_t t = tail_start(d, u, &is_case);
        if (is_case && seen++ % stride == 0 && nc < TUNE_CASES) {
            struct tune_case *k = &cs[nc++];
            k->tgt_off = nt;
            for (size_t x = t; x < hi; x++)
                if (!in_range(d->item, lo, t, d->item[x]) && !in_range(tgt, k->tgt_off, nt, d->item[x]))
                    tgt[nt++] = d->item[x];
            k->n_tgt = nt - k->tgt_off;
            k->hist_off = nh;
            for (size_t x = t - lo > TL_MODEL_HISTORY_MAX ? t - TL_MODEL_HISTORY_MAX : lo; x < t; x++) {
                hist[nh] = d->item[x];
                hts[nh++] = d->ts[x];
            }
            k->n_hist = nh - k->hist_off;
        }
        for (size_t x = lo; !rc && x < t; x++)
            rc = tl_dataset_builder_add(db, u, d->item[x], d->weight[x], d->ts[x], err);
    }
    if (!rc) rc = tl_dataset_builder_finish(db, d->n_users, d->n_items, &dv, err);
    if (!rc && d->text)
        for (uint32_t i = 0; !rc && i < d->n_items; i++) rc = tl_dataset_set_text(dv, i, &d->text[i], err);
    if (rc || nc < 50) /* too little to learn from: keep the configured weights */
        goto out;
    size_t depth = b->depth;
    rc = train_subs(b, p, dv, d, opts, 0.0, p->refit ? 0.5 : 1.0, err);
    lists = rc ? NULL : tl_malloc(nc * b->n * depth * sizeof *lists);
    lens = rc ? NULL : tl_calloc(nc * b->n, sizeof *lens);
    if (!rc && (!lists || !lens)) rc = TL_ENOMEM;
    for (size_t c = 0; !rc && c < nc; c++) {
        struct mask_set ms = {hist + cs[c].hist_off, cs[c].n_hist};
        struct tl_model_query q = {.user = TL_MODEL_NONE,
                                   .anchor = TL_MODEL_NONE,
                                   .history = hist + cs[c].hist_off,
                                   .hts = hts + cs[c].hist_off,
                                   .n_history = cs[c].n_hist};
        for (size_t i = 0; !rc && i < b->n; i++)
            rc = b->s[i].ops->candidates(b->s[i].model, &q, skip_hist, &ms, depth, lists + (c * b->n + i) * depth,
                                         &lens[c * b->n + i]);
    }
    if (p->refit) free_subs(b);
    /* each source alone: HR@10 and NDCG@10 (gain 1 / log2(rank + 1) of the
     * first held-out item in the top 10, rank from 1) */
    for (size_t i = 0; !rc && i < b->n; i++) {
        double hr = 0, ndcg = 0;
        for (size_t c = 0; c < nc; c++) {
            const struct tl_model_hit *l = lists + (c * b->n + i) * depth;
            size_t n = lens[c * b->n + i] < TUNE_K ? lens[c * b->n + i] : TUNE_K;
            for (size_t r = 0; r < n; r++)
                if (in_range(tgt, cs[c].tgt_off, cs[c].tgt_off + cs[c].n_tgt, l[r].item)) {
                    hr += 1;
                    ndcg += 1.0 / log2((double)r + 2.0);
                    break;
                }
        }
        b->s[i].val_hr = (float)(hr / (double)nc);
        b->s[i].val_ndcg = (float)(ndcg / (double)nc);
    }
    double best_ndcg = 0;
    size_t combos = 1;
    for (size_t i = 1; i < b->n; i++) combos *= TUNE_NG;
    double best_hr = -1, best_mrr = -1;
    float best_w[TL_BLEND_SOURCES_MAX];
    struct tl_blend_hit fused[TUNE_K];
    for (size_t combo = 0; !rc && combo < combos; combo++) {
        float w[TL_BLEND_SOURCES_MAX];
        w[0] = 1.0f;
        size_t x = combo;
        for (size_t i = 1; i < b->n; i++) {
            w[i] = TUNE_GRID[x % TUNE_NG];
            x /= TUNE_NG;
        }
        double hr = 0, mrr = 0, ndcg = 0;
        for (size_t c = 0; !rc && c < nc; c++) {
            struct tl_blend_list L[TL_BLEND_SOURCES_MAX];
            for (size_t i = 0; i < b->n; i++)
                L[i] = (struct tl_blend_list){lists + (c * b->n + i) * depth, lens[c * b->n + i], w[i]};
            size_t nf = 0;
            rc = tl_blend_merge(L, b->n, b->norm, b->n_items, TUNE_K, fused, &nf);
            for (size_t r = 0; r < nf; r++)
                if (in_range(tgt, cs[c].tgt_off, cs[c].tgt_off + cs[c].n_tgt, fused[r].item)) {
                    hr += 1;
                    mrr += 1.0 / (double)(r + 1);
                    ndcg += 1.0 / log2((double)r + 2.0);
                    break;
                }
        }
        if (hr > best_hr || (hr == best_hr && mrr > best_mrr)) {
            best_hr = hr;
            best_mrr = mrr;
            best_ndcg = ndcg;
            memcpy(best_w, w, sizeof w);
        }
    }
    if (!rc) {
        for (size_t i = 0; i < b->n; i++) b->s[i].weight = best_w[i];
        b->tuned_cases = (uint32_t)nc;
        b->tuned_hr = best_hr / (double)nc;
        b->tuned_ndcg = best_ndcg / (double)nc;
        if (opts && opts->progress) {
            char msg[160];
            size_t o = (size_t)snprintf(msg, sizeof msg, "tuned on %zu cases:", nc);
            for (size_t i = 0; i < b->n && o < sizeof msg; i++)
                o += (size_t)snprintf(msg + o, sizeof msg - o, " %s:%g", b->s[i].ops->name, (double)best_w[i]);
            opts->progress(opts->progress_ctx, 0.5, msg);
        }
    }
out:
    tl_dataset_builder_free(db);
    tl_dataset_free(dv);
    tl_free(cs);
    tl_free(hist);
    tl_free(hts);
    tl_free(tgt);
    tl_free(lists);
    tl_free(lens);
    if (rc == TL_ENOMEM) tl_err_set(err, rc, NULL, "out of memory tuning the blend");
    return rc;
}

static enum tl_rc blend_train(const struct tl_dataset *d, const void *params, const struct tl_train_opts *opts,
                              void **out, struct tl_err *err)
{
    struct blend_params defp;
    blend_defaults(&defp);
    const struct blend_params *p = params ? params : &defp;
    struct blend *b = tl_calloc(1, sizeof *b);
    if (!b) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    b->n_items = d->n_items;
    b->depth = (uint32_t)p->depth;
    b->norm = (enum tl_blend_norm)p->norm;
    b->recency_days = p->recency_days;
    enum tl_rc rc = parse_models(p->models, b->s, &b->n, err);
    if (!rc && p->self_valid[0] && (p->refit || !p->tune))
        rc = tl_err_set(err, TL_EINVAL, "self_valid", "blend self_valid needs tune=1 and refit=0");
    if (!rc && p->tune) rc = tune_weights(b, p, d, opts, err);
    /* refit 0 keeps the tuning models, unless too little data to tune on */
    int kept = !p->refit && b->tuned_cases > 0;
    if (!rc && !kept) rc = train_subs(b, p, d, d, opts, p->tune ? 0.5 : 0.0, p->tune ? 0.5 : 1.0, err);
    if (rc) {
        blend_free(b);
        return rc;
    }
    *out = b;
    return TL_OK;
}

static enum tl_rc blend_candidates(const void *m, const struct tl_model_query *q, tl_model_skip_fn skip, void *ctx,
                                   size_t k, struct tl_model_hit *out, size_t *n)
{
    const struct blend *b = m;
    if (!b || !q || !n || (k && !out) || k > TL_MODEL_K_MAX) return TL_EINVAL;
    *n = 0;
    size_t depth = b->depth > k ? b->depth : k;
    struct tl_model_hit *buf = tl_malloc(b->n * depth * sizeof *buf);
    struct tl_blend_hit *fused = tl_malloc((k ? k : 1) * sizeof *fused);
    struct tl_blend_list lists[TL_BLEND_SOURCES_MAX];
    enum tl_rc rc = (!buf || !fused) ? TL_ENOMEM : TL_OK;
    /* recency: history weights w_i *= 2^(-(t_latest - t_i) / half-life) */
    struct tl_model_query rq = *q;
    float w[TL_MODEL_HISTORY_MAX];
    if (!rc && b->recency_days > 0 && q->hts && q->n_history) {
        int64_t latest = q->hts[0];
        for (size_t i = 1; i < q->n_history; i++)
            if (q->hts[i] > latest) latest = q->hts[i];
        for (size_t i = 0; i < q->n_history; i++) {
            double age_days = (double)(latest - q->hts[i]) / 86400000.0;
            double wi = q->hweight ? q->hweight[i] : 1.0;
            w[i] = (float)(wi * exp2(-age_days / b->recency_days));
            if (!(w[i] > 0.0f)) w[i] = 1e-30f;
        }
        rq.hweight = w;
    }
    for (size_t i = 0; !rc && i < b->n; i++) {
        lists[i] = (struct tl_blend_list){buf + i * depth, 0, b->s[i].weight};
        rc = b->s[i].ops->candidates(b->s[i].model, &rq, skip, ctx, depth, buf + i * depth, &lists[i].n);
    }
    size_t got = 0;
    if (!rc) rc = tl_blend_merge(lists, b->n, b->norm, b->n_items, k, fused, &got);
    for (size_t i = 0; !rc && i < got; i++)
        out[i] = (struct tl_model_hit){fused[i].item, fused[i].score, fused[i].anchor};
    if (!rc) *n = got;
    tl_free(buf);
    tl_free(fused);
    return rc;
}

static enum tl_rc blend_save(const void *m, struct tl_buf *out, struct tl_err *err)
{
    const struct blend *b = m;
    enum tl_rc rc = tl_snap_put_u32(out, BLEND_MAGIC_V2);
    if (!rc) rc = tl_snap_put_u32(out, b->n_items);
    if (!rc) rc = tl_snap_put_u32(out, b->depth);
    if (!rc) rc = tl_snap_put_u32(out, (uint32_t)b->norm);
    uint64_t rbits;
    memcpy(&rbits, &b->recency_days, 8);
    if (!rc) rc = tl_snap_put_u64(out, rbits);
    float fv[2] = {(float)b->tuned_hr, (float)b->tuned_ndcg};
    if (!rc) rc = tl_snap_put_u32(out, b->tuned_cases);
    if (!rc) rc = tl_snap_put_f32s(out, fv, 2);
    if (!rc) rc = tl_snap_put_u32(out, (uint32_t)b->n);
    for (size_t i = 0; !rc && i < b->n; i++) {
        const char *name = b->s[i].ops->name;
        rc = tl_snap_put_u32(out, (uint32_t)strlen(name));
        if (!rc) rc = tl_buf_append(out, name, strlen(name));
        if (!rc) rc = tl_snap_put_f32s(out, &b->s[i].weight, 1);
        float sv[2] = {b->s[i].val_hr, b->s[i].val_ndcg};
        if (!rc) rc = tl_snap_put_f32s(out, sv, 2);
        size_t at = out->len;
        if (!rc) rc = tl_snap_put_u64(out, 0); /* length, patched below */
        if (!rc) rc = b->s[i].ops->save(b->s[i].model, out, err);
        if (!rc) {
            uint64_t len = out->len - at - 8;
            for (int x = 0; x < 8; x++) out->data[at + (size_t)x] = (char)(uint8_t)(len >> (8 * x));
        }
    }
    return rc ? tl_err_set(err, rc, NULL, "cannot write the blend snapshot") : TL_OK;
}

static enum tl_rc blend_load(const void *data, size_t len, void **outp, struct tl_err *err)
{
    struct tl_snap_reader r = {data, len, 0, 0};
    uint32_t magic = tl_snap_get_u32(&r);
    if (magic != BLEND_MAGIC && magic != BLEND_MAGIC_V2)
        return tl_err_set(err, TL_EPARSE, NULL, "not a blend snapshot");
    int v2 = magic == BLEND_MAGIC_V2;
    struct blend *b = tl_calloc(1, sizeof *b);
    if (!b) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    b->n_items = tl_snap_get_u32(&r);
    b->depth = tl_snap_get_u32(&r);
    uint32_t norm = tl_snap_get_u32(&r);
    uint64_t rbits = tl_snap_get_u64(&r);
    memcpy(&b->recency_days, &rbits, 8);
    float fv[2] = {0, 0};
    if (v2) {
        b->tuned_cases = tl_snap_get_u32(&r);
        tl_snap_get_f32s(&r, fv, 2);
        b->tuned_hr = fv[0];
        b->tuned_ndcg = fv[1];
    }
    uint32_t n = tl_snap_get_u32(&r);
    enum tl_rc rc = TL_OK;
    if (r.bad || norm > 1 || n == 0 || !(b->recency_days >= 0 && b->recency_days <= 36500) ||
        !(fv[0] >= 0 && fv[0] <= 1) || !(fv[1] >= 0 && fv[1] <= 1) || n > TL_BLEND_SOURCES_MAX || b->depth == 0 ||
        b->depth > TL_MODEL_K_MAX)
        rc = tl_err_set(err, TL_EPARSE, NULL, "blend snapshot truncated or damaged (header)");
    b->norm = (enum tl_blend_norm)norm;
    for (uint32_t i = 0; !rc && i < n; i++) {
        uint32_t nl = tl_snap_get_u32(&r);
        char name[64];
        if (r.bad || nl == 0 || nl >= sizeof name || nl > len - r.off) {
            rc = tl_err_set(err, TL_EPARSE, NULL, "blend snapshot truncated or damaged (model name)");
            break;
        }
        memcpy(name, r.p + r.off, nl);
        name[nl] = '\0';
        r.off += nl;
        tl_snap_get_f32s(&r, &b->s[i].weight, 1);
        float sv[2] = {0, 0};
        if (v2) tl_snap_get_f32s(&r, sv, 2);
        b->s[i].val_hr = sv[0];
        b->s[i].val_ndcg = sv[1];
        uint64_t sl = tl_snap_get_u64(&r);
        b->s[i].ops = tl_model_find(name);
        if (r.bad || !b->s[i].ops || sl > len - r.off || !isfinite(b->s[i].weight) || !(sv[0] >= 0 && sv[0] <= 1) ||
            !(sv[1] >= 0 && sv[1] <= 1)) {
            rc = tl_err_set(err, TL_EPARSE, NULL, "blend snapshot truncated or damaged (model %s)", name);
            break;
        }
        rc = b->s[i].ops->load(r.p + r.off, (size_t)sl, &b->s[i].model, err);
        if (rc) break;
        b->n = i + 1;
        r.off += (size_t)sl;
    }
    if (!rc && r.off != len) rc = tl_err_set(err, TL_EPARSE, NULL, "blend snapshot has trailing bytes");
    if (rc) {
        blend_free(b);
        return rc == TL_ENOMEM ? rc : TL_EPARSE;
    }
    *outp = b;
    return TL_OK;
}

static size_t blend_memory(const void *m)
{
    const struct blend *b = m;
    size_t s = b ? sizeof *b : 0;
    for (size_t i = 0; b && i < b->n; i++) s += b->s[i].ops->memory(b->s[i].model);
    return s;
}

const struct tl_model_ops tl_blend_ops = {
    .name = "blend",
    .params_size = sizeof(struct blend_params),
    .params_defaults = blend_defaults,
    .param_set = blend_param,
    .train = blend_train,
    .candidates = blend_candidates,
    .save = blend_save,
    .load = blend_load,
    .memory = blend_memory,
    .free = blend_free,
};

int tl_blend_validation(const void *model, struct tl_blend_validation *out)
{
    const struct blend *b = model;
    memset(out, 0, sizeof *out);
    if (!b || !b->tuned_cases) return 0;
    out->cases = b->tuned_cases;
    out->hr10 = b->tuned_hr;
    out->ndcg10 = b->tuned_ndcg;
    out->n = b->n;
    for (size_t i = 0; i < b->n; i++) {
        out->src[i].name = b->s[i].ops->name;
        out->src[i].weight = b->s[i].weight;
        out->src[i].hr10 = b->s[i].val_hr;
        out->src[i].ndcg10 = b->s[i].val_ndcg;
    }
    return 1;
}

const struct tl_model_ops *tl_blend_source(const void *model, size_t i, const void **sub, float *weight)
{
    const struct blend *b = model;
    if (!b || i >= b->n) return NULL;
    if (sub) *sub = b->s[i].model;
    if (weight) *weight = b->s[i].weight;
    return b->s[i].ops;
}
