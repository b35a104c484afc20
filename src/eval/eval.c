/* Offline evaluation runner (see eval.h). */
#include "eval/eval.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "model/blend.h"
#include "model/model.h"

struct score_job {
    const struct tl_evdata *e;
    const struct tl_model_ops *ops;
    const void *model;
    size_t lo, hi, kmax;
    struct tl_evm m;
    enum tl_rc rc;
};

struct mask_ctx {
    const uint8_t *mask;
};

static int skip_masked(void *ctx, uint32_t item)
{
    const struct mask_ctx *c = ctx;
    return c->mask[item];
}

static void *score_worker(void *arg)
{
    struct score_job *j = arg;
    const struct tl_evdata *e = j->e;
    uint32_t ni = e->train->n_items;
    uint8_t *mask = tl_calloc((size_t)ni + 1, 1);
    struct tl_model_hit *hits = tl_malloc(j->kmax * sizeof *hits);
    uint32_t *list = tl_malloc(j->kmax * sizeof *list);
    if (!mask || !hits || !list) {
        j->rc = TL_ENOMEM;
        goto out;
    }
    for (size_t ci = j->lo; ci < j->hi; ci++) {
        const struct tl_evcase *c = &e->cases[ci];
        const uint32_t *h = e->hist + c->hist_off;
        const int64_t *hts = e->hist_ts + c->hist_off;
        size_t nh = c->n_hist;
        if (nh > TL_MODEL_HISTORY_MAX) { /* keep the most recent */
            h += nh - TL_MODEL_HISTORY_MAX;
            hts += nh - TL_MODEL_HISTORY_MAX;
            nh = TL_MODEL_HISTORY_MAX;
        }
        struct tl_model_query q = {.user = c->user, .anchor = TL_MODEL_NONE, .history = h, .hts = hts, .n_history = nh};
        struct mask_ctx mc = {mask};
        if (c->mask)
            for (uint32_t x = 0; x < c->n_hist; x++) mask[e->hist[c->hist_off + x]] = 1;
        size_t n = 0;
        j->rc = j->ops->candidates(j->model, &q, c->mask ? skip_masked : NULL, &mc, j->kmax, hits, &n);
        if (c->mask)
            for (uint32_t x = 0; x < c->n_hist; x++) mask[e->hist[c->hist_off + x]] = 0;
        if (j->rc) break;
        for (size_t i = 0; i < n; i++) list[i] = hits[i].item;
        tl_evm_add(&j->m, list, n, e->tgt + c->tgt_off, c->n_tgt, e->pop, e->train->n_users);
    }
out:
    tl_free(mask);
    tl_free(hits);
    tl_free(list);
    return NULL;
}

static double now_s(void) { return (double)tl_mono_ns() / 1e9; }

static void train_progress(void *ctx, double frac, const char *phase)
{
    FILE *f = ctx;
    if (phase && strncmp(phase, "tuned", 5) == 0) /* a result worth keeping on screen */
        fprintf(f, "\r  %s\n", phase);
    else
        fprintf(f, "\r  training %3.0f%% %-64.64s", frac * 100.0, phase ? phase : "");
    fflush(f);
}

/* Apply "name.key=value" params that belong to model `name`. */
static enum tl_rc apply_params(const struct tl_model_ops *ops, void *params, const struct tl_eval_run_opts *o,
                               struct tl_err *err)
{
    size_t nl = strlen(ops->name);
    int blend = strcmp(ops->name, "blend") == 0;
    for (size_t i = 0; i < o->n_params; i++) {
        const char *p = o->params[i];
        if (blend && strncmp(p, "blend.", 6) != 0) {
            /* the blender also receives every sub-model's parameters */
            char key[64];
            const char *eq = strchr(p, '=');
            size_t kl = eq ? (size_t)(eq - p) : 0;
            if (!eq || kl == 0 || kl >= sizeof key)
                return tl_err_set(err, TL_EINVAL, "param", "parameter '%s' is not model.key=value", p);
            memcpy(key, p, kl);
            key[kl] = '\0';
            enum tl_rc rc = ops->param_set(params, key, eq + 1, err);
            if (rc) return rc;
            continue;
        }
        if (strncmp(p, ops->name, nl) != 0 || p[nl] != '.') continue;
        const char *eq = strchr(p + nl + 1, '=');
        if (!eq) return tl_err_set(err, TL_EINVAL, "param", "parameter '%s' is not model.key=value", p);
        char key[64];
        size_t kl = (size_t)(eq - (p + nl + 1));
        if (kl == 0 || kl >= sizeof key) return tl_err_set(err, TL_EINVAL, "param", "bad parameter name in '%s'", p);
        memcpy(key, p + nl + 1, kl);
        key[kl] = '\0';
        enum tl_rc rc = ops->param_set(params, key, eq + 1, err);
        if (rc) return rc;
    }
    return TL_OK;
}

static enum tl_rc check_params(const struct tl_eval_run_opts *o, struct tl_err *err)
{
    for (size_t i = 0; i < o->n_params; i++) {
        const char *p = o->params[i];
        const char *dot = strchr(p, '.');
        char name[64];
        size_t nl = dot ? (size_t)(dot - p) : 0;
        if (!dot || nl == 0 || nl >= sizeof name || !strchr(dot, '='))
            return tl_err_set(err, TL_EINVAL, "param", "parameter '%s' is not model.key=value", p);
        memcpy(name, p, nl);
        name[nl] = '\0';
        if (!tl_model_find(name))
            return tl_err_set(err, TL_EINVAL, "param", "parameter '%s' names an unknown model '%s'", p, name);
    }
    return TL_OK;
}

/* Ask a trained model for every case and score the lists into res->m
 * (res->score_s set); the cases are split in contiguous ranges, one per
 * thread. */
static enum tl_rc score_cases(const struct tl_evdata *e, const struct tl_model_ops *ops, const void *model,
                              const struct tl_eval_run_opts *o, struct tl_eval_model_result *res)
{
    enum tl_rc rc = TL_OK;
    size_t kmax = o->ks[o->n_ks - 1];
    int threads = o->threads > 64 ? 64 : o->threads > 0 ? o->threads : 1;
    struct score_job jobs[64];
    pthread_t tid[64];
    int started[64] = {0};
    double t0 = now_s();
    for (int t = 0; t < threads && !rc; t++) {
        jobs[t] = (struct score_job){.e = e,
                                     .ops = ops,
                                     .model = model,
                                     .kmax = kmax,
                                     .lo = e->n_cases * (size_t)t / (size_t)threads,
                                     .hi = e->n_cases * (size_t)(t + 1) / (size_t)threads};
        rc = tl_evm_init(&jobs[t].m, o->ks, o->n_ks, e->train->n_items);
        if (rc) {
            for (int u = 0; u < t; u++) tl_evm_free(&jobs[u].m);
            threads = 0;
        }
    }
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, score_worker, &jobs[t]) == 0;
    if (threads > 0) score_worker(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            score_worker(&jobs[t]);
    }
    res->score_s = now_s() - t0;
    if (threads > 0) {
        res->m = jobs[0].m;
        for (int t = 0; t < threads; t++) {
            if (jobs[t].rc && !rc) rc = jobs[t].rc;
            if (t > 0) {
                tl_evm_merge(&res->m, &jobs[t].m);
                tl_evm_free(&jobs[t].m);
            }
        }
    }
    return rc;
}

/* Train and score one model into out (one row; with o->sources and a blend,
 * one more row per blended source, "blend/NAME", scored from the blend's own
 * trained sub-model). */
static enum tl_rc run_one(const struct tl_evdata *e, const struct tl_model_ops *ops, const struct tl_eval_run_opts *o,
                          struct tl_eval_results *out, struct tl_err *err)
{
    struct tl_eval_model_result *res = &out->r[out->n];
    memset(res, 0, sizeof *res);
    snprintf(res->name, sizeof res->name, "%s", ops->name);
    _Alignas(16) unsigned char params[TL_MODEL_PARAMS_MAX];
    memset(params, 0, sizeof params);
    ops->params_defaults(params);
    enum tl_rc rc = apply_params(ops, params, o, err);
    if (rc) return rc;
    struct tl_train_opts to = {.threads = o->threads > 0 ? o->threads : 1, .seed = o->seed};
    if (o->progress) {
        to.progress = train_progress;
        to.progress_ctx = o->progress;
        fprintf(o->progress, "%s:\n", ops->name);
    }
    void *model = NULL;
    double t0 = now_s();
    rc = ops->train(tl_model_name_in_list(o->self_valid, ops->name) && e->train_valid ? e->train_valid : e->train,
                    params, &to, &model, err);
    res->train_s = now_s() - t0;
    if (rc) return rc;
    res->memory = ops->memory(model);
    rc = score_cases(e, ops, model, o, res);
    if (!rc)
        out->n++;
    else
        tl_evm_free(&res->m); /* frees what a failed scoring allocated (zeroed: nothing) */
    if (o->progress)
        fprintf(o->progress, "\r  trained in %.2f s, scored %zu cases in %.2f s%-30s\n", res->train_s, e->n_cases,
                res->score_s, "");
    const struct tl_model_ops *so;
    const void *sub;
    for (size_t i = 0;
         !rc && o->sources && strcmp(ops->name, "blend") == 0 && (so = tl_blend_source(model, i, &sub, NULL)) != NULL;
         i++) {
        if (out->n == TL_EVAL_MODELS_MAX) {
            rc = TL_EINVAL;
            tl_err_set(err, rc, "models", "at most %d result rows per run", TL_EVAL_MODELS_MAX);
            break;
        }
        struct tl_eval_model_result *sr = &out->r[out->n];
        memset(sr, 0, sizeof *sr);
        snprintf(sr->name, sizeof sr->name, "blend/%s", so->name);
        sr->memory = so->memory(sub);
        rc = score_cases(e, so, sub, o, sr);
        if (!rc) {
            out->n++;
        } else {
            tl_evm_free(&sr->m);
            tl_err_set(err, rc, NULL, "model %s failed while scoring the test cases", sr->name);
        }
    }
    ops->free(model);
    if (rc && !err->msg[0]) tl_err_set(err, rc, NULL, "model %s failed while scoring the test cases", ops->name);
    return rc;
}

enum tl_rc tl_eval_run(const struct tl_evdata *e, const struct tl_eval_run_opts *o, struct tl_eval_results *out,
                       struct tl_err *err)
{
    memset(out, 0, sizeof *out);
    if (!o->models || !*o->models) return tl_err_set(err, TL_EINVAL, "models", "no models to evaluate");
    if (o->n_ks == 0) return tl_err_set(err, TL_EINVAL, "k", "no cutoffs");
    enum tl_rc rc = check_params(o, err);
    if (rc) return rc;
    char list[512];
    if (strlen(o->models) >= sizeof list) return tl_err_set(err, TL_EINVAL, "models", "model list too long");
    strcpy(list, o->models);
    const struct tl_model_ops *ops[TL_EVAL_MODELS_MAX];
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == TL_EVAL_MODELS_MAX)
            return tl_err_set(err, TL_EINVAL, "models", "at most %d models per run", TL_EVAL_MODELS_MAX);
        ops[n] = tl_model_find(tok);
        if (!ops[n]) {
            char known[256] = "";
            for (size_t i = 0; tl_model_at(i); i++) {
                strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
                strncat(known, tl_model_at(i)->name, sizeof known - strlen(known) - 1);
            }
            return tl_err_set(err, TL_EINVAL, "models", "unknown model '%s' (known: %s)", tok, known);
        }
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        if (out->n == TL_EVAL_MODELS_MAX) {
            tl_eval_results_free(out);
            return tl_err_set(err, TL_EINVAL, "models", "at most %d result rows per run", TL_EVAL_MODELS_MAX);
        }
        rc = run_one(e, ops[i], o, out, err);
        if (rc) {
            tl_eval_results_free(out);
            return rc;
        }
    }
    return TL_OK;
}

void tl_eval_results_free(struct tl_eval_results *r)
{
    for (size_t i = 0; i < r->n; i++) tl_evm_free(&r->r[i].m);
    r->n = 0;
}

void tl_eval_print_table(const struct tl_evdata *e, const struct tl_eval_results *r, FILE *out)
{
    if (r->n == 0) return;
    const struct tl_evm *m0 = &r->r[0].m;
    size_t last = m0->n_ks - 1;
    fprintf(out, "%s\n\n%-14s", e->desc, "model");
    for (size_t k = 0; k < m0->n_ks; k++)
        fprintf(out, " HR@%-4zu NDCG@%-3zu MRR@%-4zu Rec@%-4zu", m0->ks[k], m0->ks[k], m0->ks[k], m0->ks[k]);
    fprintf(out, " Cov@%-4zu Pop@%-4zu train_s   MB\n", m0->ks[last], m0->ks[last]);
    for (size_t i = 0; i < r->n; i++) {
        const struct tl_evm *m = &r->r[i].m;
        fprintf(out, "%-14s", r->r[i].name);
        for (size_t k = 0; k < m->n_ks; k++)
            fprintf(out, " %.4f  %.4f  %.4f  %.4f ", tl_evm_hr(m, k), tl_evm_ndcg(m, k), tl_evm_mrr(m, k),
                    tl_evm_recall(m, k));
        fprintf(out, " %.4f  %.4f %7.2f %5.0f\n", tl_evm_coverage(m, last), tl_evm_popularity(m, last), r->r[i].train_s,
                (double)r->r[i].memory / 1e6);
    }
}

static void json_row(FILE *out, int *first, const char *model, const char *metric, size_t k, double v)
{
    fprintf(out, "%s\n  {\"model\": \"%s\", \"metric\": \"%s\", \"k\": %zu, \"value\": %.6f}", *first ? "" : ",", model,
            metric, k, v);
    *first = 0;
}

void tl_eval_print_json(const struct tl_eval_results *r, FILE *out)
{
    int first = 1;
    fputc('[', out);
    for (size_t i = 0; i < r->n; i++) {
        const struct tl_evm *m = &r->r[i].m;
        const char *nm = r->r[i].name;
        for (size_t k = 0; k < m->n_ks; k++) {
            json_row(out, &first, nm, "hr", m->ks[k], tl_evm_hr(m, k));
            json_row(out, &first, nm, "ndcg", m->ks[k], tl_evm_ndcg(m, k));
            json_row(out, &first, nm, "mrr", m->ks[k], tl_evm_mrr(m, k));
            json_row(out, &first, nm, "recall", m->ks[k], tl_evm_recall(m, k));
            json_row(out, &first, nm, "coverage", m->ks[k], tl_evm_coverage(m, k));
            json_row(out, &first, nm, "popularity", m->ks[k], tl_evm_popularity(m, k));
        }
        json_row(out, &first, nm, "cases", 0, (double)m->cases);
        json_row(out, &first, nm, "train_seconds", 0, r->r[i].train_s);
        json_row(out, &first, nm, "score_seconds", 0, r->r[i].score_s);
        json_row(out, &first, nm, "memory_bytes", 0, (double)r->r[i].memory);
    }
    fputs("\n]\n", out);
}
