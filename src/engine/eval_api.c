/* Public entry point of the offline evaluation (tailor_eval in
 * include/tailor/tailor.h): reads the protocol's files into an evdata, runs
 * the models, prints the table or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "eval/eval.h"
#include "eval/search_eval.h"
#include "model/model.h"
#include "tailor/tailor.h"

/* Default models per protocol, in display order; names not registered in
 * this build are left out. */
static const char *const defaults[][2] = {
    {"sessions", "pop,itemknn,session_ar,session_sr,sknn"},
    {"sequences", "pop,itemknn,ials,ease,sknn,sasrec,blend"},
    {"orders", "pop,trend,itemknn,cooc,ials,ease,sknn,blend"},
    {"search", "sqlite-fts5,tailor-sindex"},
};

const char *tailor_eval_default_models(const char *protocol)
{
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (protocol && strcmp(protocol, defaults[i][0]) == 0) return defaults[i][1];
    return NULL;
}

static void to_public(struct tailor_error *out, const struct tl_err *in, enum tl_rc rc)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    out->rc = rc;
    snprintf(out->field, sizeof out->field, "%s", in->field);
    snprintf(out->msg, sizeof out->msg, "%s", in->msg);
    out->line = in->line;
    out->column = in->column;
}

/* Registered models of a comma list, into buf. */
static void registered_only(const char *list, char *buf, size_t n)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", list);
    buf[0] = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (tl_model_find(tok)) {
            if (buf[0]) strncat(buf, ",", n - strlen(buf) - 1);
            strncat(buf, tok, n - strlen(buf) - 1);
        }
}

static enum tl_rc parse_ks(const char *s, struct tl_eval_run_opts *o, struct tl_err *err)
{
    o->n_ks = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > TL_MODEL_K_MAX || (*end && *end != ',') || o->n_ks == TL_EVM_KS_MAX ||
            (o->n_ks && (size_t)v <= o->ks[o->n_ks - 1]))
            return tl_err_set(err, TL_EINVAL, "k",
                              "cutoffs must be up to %d increasing integers from 1 to %d, like 10,20", TL_EVM_KS_MAX,
                              TL_MODEL_K_MAX);
        o->ks[o->n_ks++] = (size_t)v;
        p = *end ? end + 1 : end;
    }
    if (o->n_ks == 0) return tl_err_set(err, TL_EINVAL, "k", "no cutoffs given");
    return TL_OK;
}

static enum tl_rc parse_date(const char *s, int64_t *ms, struct tl_err *err)
{
    int y, m, d;
    char tail;
    if (!s || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
        return tl_err_set(err, TL_EINVAL, "split-date", "split date must be YYYY-MM-DD");
    int yy = y - (m <= 2), era = yy / 400, yoe = yy - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *ms = ((int64_t)era * 146097 + doe - 719468) * 86400000LL;
    return TL_OK;
}

/* `tailor eval search`: Tailor's index against SQLite FTS5 on the same
 * products and judgements (src/eval/search_eval.h). */
static enum tl_rc eval_search(const struct tailor_eval_options *o, struct tl_err *err)
{
    if (!o->products_path || !o->judgements_path)
        return tl_err_set(err, TL_EINVAL, "products", "search needs --products FILE and --judgements FILE");
    struct tl_seval_opts so = {o->products_path, o->judgements_path, o->queries_path, o->progress};
    struct tl_seval_result *r = tl_calloc(1, sizeof *r);
    if (!r) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    enum tl_rc rc = tl_seval_compare(&so, r, err);
    if (rc == TL_OK) {
        FILE *out = o->out ? o->out : stdout;
        json_t *j = o->json || o->json_out ? tl_seval_result_json(r) : NULL;
        if (o->json && j)
            json_dumpf(j, out, JSON_INDENT(2)), fputc('\n', out);
        else
            tl_seval_result_print(r, out);
        if (o->json_out && j) json_dumpf(j, o->json_out, JSON_INDENT(2)), fputc('\n', o->json_out);
        json_decref(j);
    }
    tl_free(r);
    return rc;
}

enum tl_rc tailor_eval(const struct tailor_eval_options *o, struct tailor_error *perr)
{
    struct tl_err err;
    tl_err_clear(&err);
    struct tl_evdata *e = NULL;
    enum tl_rc rc = TL_OK;
    const char *proto = o ? o->protocol : NULL;
    const char *def = tailor_eval_default_models(proto);
    if (!def) {
        rc = tl_err_set(&err, TL_EINVAL, "protocol", "protocol must be sessions, sequences, orders or search");
        goto out;
    }
    FILE *progress = o->progress;
    FILE *out = o->out ? o->out : stdout;
    if (strcmp(proto, "search") == 0) {
        rc = eval_search(o, &err);
        goto out;
    }
    if (strcmp(proto, "sessions") == 0) {
        if (!o->train_path || !o->test_path) {
            rc = tl_err_set(&err, TL_EINVAL, "train", "sessions needs --train FILE and --test FILE");
            goto out;
        }
        rc = tl_evdata_sessions(o->train_path, o->test_path, o->sessions, &e, &err);
    } else if (strcmp(proto, "sequences") == 0) {
        rc = o->path ? tl_evdata_sequences(o->path, &e, &err)
                     : tl_err_set(&err, TL_EINVAL, "file", "sequences needs a FILE");
    } else {
        int64_t split = 0;
        if (!o->path)
            rc = tl_err_set(&err, TL_EINVAL, "file", "orders needs a FILE");
        else if ((rc = parse_date(o->split_date, &split, &err)) == TL_OK)
            rc = tl_evdata_orders(o->path, split, o->buy_again, &e, &err);
    }
    if (rc) goto out;
    if (e->n_cases == 0) {
        rc = tl_err_set(&err, TL_EINVAL, NULL, "no test cases in the input (%s)", e->desc);
        goto out;
    }
    if (progress) fprintf(progress, "%s\n", e->desc);
    struct tl_eval_run_opts ro = {.params = o->params,
                                  .n_params = o->n_params,
                                  .threads = o->threads > 0 ? o->threads : 2,
                                  .seed = o->seed,
                                  .progress = progress};
    char models[512];
    if (o->models)
        snprintf(models, sizeof models, "%s", o->models);
    else
        registered_only(def, models, sizeof models);
    ro.models = models;
    ro.self_valid = o->self_valid;
    ro.sources = o->sources;
    const char *ks = o->ks ? o->ks : "10,20";
    if ((rc = parse_ks(ks, &ro, &err)) != TL_OK) goto out;
    struct tl_eval_results res;
    if ((rc = tl_eval_run(e, &ro, &res, &err)) != TL_OK) goto out;
    if (o->json)
        tl_eval_print_json(&res, out);
    else
        tl_eval_print_table(e, &res, out);
    if (o->json_out) tl_eval_print_json(&res, o->json_out);
    tl_eval_results_free(&res);
out:
    tl_evdata_free(e);
    if (rc) to_public(perr, &err, rc);
    return rc;
}
