/* The co-occurrence counts (cooc.h) as a trained model behind the model ops
 * table, named "cooc": the same counts the engine keeps live, built from a
 * dataset in one pass, so `tailor eval` and the "blend" model can use them
 * like any other model, and a snapshot can be saved and loaded.
 *
 * PARAMETERS
 *   rel          which sets count together (default "order"):
 *                  order     interactions of one user at the same timestamp
 *                            (one order: "frequently bought together")
 *                  customer  all of a user's items ("customers who bought
 *                            this also bought")
 *                  session   a user's interactions split where the gap
 *                            between two exceeds session_gap_min minutes
 *                            ("also viewed")
 *   sim          cosine (default) | jaccard | lift | cond (cooc.h formulas)
 *   min_support  pairs seen in fewer sets are ignored (default 1)
 *   alpha        popularity damping of cond (default 0.5)
 *   session_gap_min  30
 *   A set counts its first TL_COOC_BASKET_MAX distinct items (cooc.c).
 *
 * CANDIDATES
 *   Anchors: q->anchor when given, else the distinct history items, newest
 *   first, at most TL_COOC_ANCHORS_MAX. score(j) = sum over anchors a of
 *   sim(a, j) (tl_cooc_top_multi); anchors are never returned; each hit
 *   names the anchor with the largest term. Users are not used: an unknown
 *   history item simply has no neighbours.
 *
 * SNAPSHOT (little-endian)
 *   u32 magic 0x31434F43 ("COC1"), u32 rel, u32 sim, u32 min_support,
 *   u64 alpha (IEEE double bits), u32 session_gap_min, then the relation's
 *   counts as tl_cooc_save_rel writes them (cooc.h), then u64 checksum =
 *   tl_hash(all preceding bytes, seed 0xC0C1). load() rejects a wrong
 *   magic, out-of-range parameters, a checksum mismatch, damaged counts and
 *   trailing bytes with TL_EPARSE. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "model/cooc.h"
#include "model/model.h"

#define COC_MAGIC 0x31434F43u
#define COC_SEED 0xC0C1u
#define GAP_MAX_MIN (7 * 24 * 60) /* a session gap of at most a week */
#define BASKET_ITEMS 1000         /* items of one set passed to the counter at a time (it keeps 100) */

struct coc_params {
    long rel, sim, min_support, gap_min;
    double alpha;
};

struct coc_model {
    struct tl_cooc *c;
    struct coc_params p;
};

static const char *const REL_NAMES[] = {"order", "customer", "session"};
static const enum tl_cooc_rel REL_OF[] = {TL_COOC_BOUGHT_TOGETHER, TL_COOC_ALSO_BOUGHT, TL_COOC_ALSO_VIEWED};
static const char *const SIM_NAMES[] = {"cosine", "jaccard", "lift", "cond"};

static void coc_defaults(void *pv)
{
    struct coc_params *p = pv;
    *p = (struct coc_params){.rel = 0, .sim = TL_COOC_COSINE, .min_support = 1, .gap_min = 30, .alpha = 0.5};
}

static int name_index(const char *const *names, size_t n, const char *v)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], v) == 0) return (int)i;
    return -1;
}

static enum tl_rc coc_param(void *pv, const char *key, const char *value, struct tl_err *err)
{
    struct coc_params *p = pv;
    if (strcmp(key, "rel") == 0) {
        int i = name_index(REL_NAMES, 3, value);
        if (i < 0) return tl_err_set(err, TL_EINVAL, key, "rel must be order, customer or session");
        p->rel = i;
        return TL_OK;
    }
    if (strcmp(key, "sim") == 0) {
        int i = name_index(SIM_NAMES, 4, value);
        if (i < 0) return tl_err_set(err, TL_EINVAL, key, "sim must be cosine, jaccard, lift or cond");
        p->sim = i;
        return TL_OK;
    }
    if (strcmp(key, "min_support") == 0) return tl_model_param_long(key, value, 1, 1000000, &p->min_support, err);
    if (strcmp(key, "session_gap_min") == 0) return tl_model_param_long(key, value, 1, GAP_MAX_MIN, &p->gap_min, err);
    if (strcmp(key, "alpha") == 0) return tl_model_param_double(key, value, 0.0, TL_COOC_ALPHA_MAX, &p->alpha, err);
    return tl_err_set(err, TL_EINVAL, key,
                      "model cooc has no parameter %s (known: rel, sim, min_support, alpha, session_gap_min)", key);
}

static void coc_free(void *pv)
{
    struct coc_model *m = pv;
    if (!m) return;
    tl_cooc_free(m->c);
    tl_free(m);
}

static struct coc_model *coc_new(const struct coc_params *p)
{
    struct coc_model *m = tl_calloc(1, sizeof *m);
    struct tl_cooc_params cp = {.alpha = p->alpha};
    if (m) m->c = tl_cooc_new(&cp);
    if (!m || !m->c) {
        coc_free(m);
        return NULL;
    }
    m->p = *p;
    return m;
}

/* Count user u's interactions [lo, hi) as the sets of the relation. */
static enum tl_rc count_user(struct coc_model *m, const struct tl_dataset *d, size_t lo, size_t hi)
{
    enum tl_cooc_rel rel = REL_OF[m->p.rel];
    int64_t gap_ms = (int64_t)m->p.gap_min * 60000;
    size_t start = lo;
    for (size_t x = lo + 1; x <= hi; x++) {
        int cut = x == hi;
        if (!cut && m->p.rel == 0) cut = d->ts[x] != d->ts[x - 1];
        if (!cut && m->p.rel == 2) cut = d->ts[x] - d->ts[x - 1] > gap_ms;
        if (!cut) continue;
        size_t n = x - start < BASKET_ITEMS ? x - start : BASKET_ITEMS;
        enum tl_rc rc = tl_cooc_add_basket(m->c, rel, d->item + start, n);
        if (rc) return rc;
        start = x;
    }
    return TL_OK;
}

static enum tl_rc coc_train(const struct tl_dataset *d, const void *pv, const struct tl_train_opts *opts, void **out,
                            struct tl_err *err)
{
    struct coc_params defp;
    coc_defaults(&defp);
    const struct coc_params *p = pv ? pv : &defp;
    if (!d || !out) return tl_err_set(err, TL_EINVAL, NULL, "dataset and out are required");
    *out = NULL;
    if (p->rel < 0 || p->rel > 2 || p->sim < 0 || p->sim > 3)
        return tl_err_set(err, TL_EINVAL, "rel", "bad co-occurrence parameters");
    struct coc_model *m = coc_new(p);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    enum tl_rc rc = TL_OK;
    for (uint32_t u = 0; !rc && u < d->n_users; u++) {
        if (d->off[u + 1] > d->off[u]) rc = count_user(m, d, d->off[u], d->off[u + 1]);
        if ((u & 4095) == 0 && opts) {
            if (opts->cancel && *opts->cancel) rc = TL_ESHUTDOWN;
            if (opts->progress) opts->progress(opts->progress_ctx, (double)u / (double)d->n_users, "counting");
        }
    }
    if (rc) {
        coc_free(m);
        if (rc == TL_ESHUTDOWN) return tl_err_set(err, rc, NULL, "training cancelled");
        return tl_err_set(err, rc, NULL, "cannot count co-occurrences: %s", tl_rc_message(rc));
    }
    *out = m;
    return TL_OK;
}

static enum tl_rc coc_candidates(const void *pv, const struct tl_model_query *q, tl_model_skip_fn skip, void *ctx,
                                 size_t k, struct tl_model_hit *out, size_t *n)
{
    const struct coc_model *m = pv;
    if (!m || !q || !n || (k && !out) || k > TL_MODEL_K_MAX || q->n_history > TL_MODEL_HISTORY_MAX ||
        (q->n_history && !q->history))
        return TL_EINVAL;
    *n = 0;
    uint32_t anchors[TL_COOC_ANCHORS_MAX];
    size_t na = 0;
    if (q->anchor != TL_MODEL_NONE) {
        anchors[na++] = q->anchor;
    } else {
        for (size_t i = q->n_history; i-- > 0 && na < TL_COOC_ANCHORS_MAX;) {
            size_t j = 0;
            while (j < na && anchors[j] != q->history[i]) j++;
            if (j == na) anchors[na++] = q->history[i];
        }
    }
    if (na == 0 || k == 0) return TL_OK;
    struct tl_cooc_hit stack[64], *hits = k <= 64 ? stack : tl_malloc(k * sizeof *hits);
    if (!hits) return TL_ENOMEM;
    size_t got = 0;
    /* the counts are only read; tl_cooc takes its read lock internally */
    enum tl_rc rc = tl_cooc_top_multi(m->c, REL_OF[m->p.rel], anchors, na, (enum tl_cooc_sim)m->p.sim, k,
                                      (uint32_t)m->p.min_support, skip, ctx, hits, &got);
    if (rc == TL_ETOOBIG) { /* an anchor beyond what the counts can hold: no neighbours */
        rc = TL_OK;
        got = 0;
    }
    for (size_t i = 0; !rc && i < got; i++)
        out[i] = (struct tl_model_hit){hits[i].item, (float)hits[i].score, hits[i].anchor};
    if (!rc) *n = got;
    if (hits != stack) tl_free(hits);
    return rc;
}

static enum tl_rc coc_save(const void *pv, struct tl_buf *out, struct tl_err *err)
{
    const struct coc_model *m = pv;
    size_t start = out->len;
    uint64_t abits;
    memcpy(&abits, &m->p.alpha, 8);
    enum tl_rc rc = tl_snap_put_u32(out, COC_MAGIC);
    if (!rc) rc = tl_snap_put_u32(out, (uint32_t)m->p.rel);
    if (!rc) rc = tl_snap_put_u32(out, (uint32_t)m->p.sim);
    if (!rc) rc = tl_snap_put_u32(out, (uint32_t)m->p.min_support);
    if (!rc) rc = tl_snap_put_u64(out, abits);
    if (!rc) rc = tl_snap_put_u32(out, (uint32_t)m->p.gap_min);
    if (!rc) rc = tl_cooc_save_rel(m->c, REL_OF[m->p.rel], out);
    if (!rc) rc = tl_snap_put_u64(out, tl_hash(out->data + start, out->len - start, COC_SEED));
    return rc ? tl_err_set(err, rc, NULL, "cannot write the co-occurrence snapshot") : TL_OK;
}

static enum tl_rc coc_load(const void *data, size_t len, void **out, struct tl_err *err)
{
    if (!data || len < 8 || !out) return tl_err_set(err, TL_EPARSE, NULL, "co-occurrence snapshot too short");
    *out = NULL;
    struct tl_snap_reader tail = {(const uint8_t *)data + len - 8, 8, 0, 0};
    if (tl_snap_get_u64(&tail) != tl_hash(data, len - 8, COC_SEED))
        return tl_err_set(err, TL_EPARSE, NULL, "co-occurrence snapshot damaged (checksum)");
    struct tl_snap_reader r = {data, len - 8, 0, 0};
    struct coc_params p;
    uint32_t magic = tl_snap_get_u32(&r);
    p.rel = tl_snap_get_u32(&r);
    p.sim = tl_snap_get_u32(&r);
    p.min_support = tl_snap_get_u32(&r);
    uint64_t abits = tl_snap_get_u64(&r);
    memcpy(&p.alpha, &abits, 8);
    p.gap_min = tl_snap_get_u32(&r);
    if (r.bad || magic != COC_MAGIC || p.rel > 2 || p.sim > 3 || p.min_support < 1 || p.gap_min < 1 ||
        p.gap_min > GAP_MAX_MIN || !(p.alpha >= 0 && p.alpha <= TL_COOC_ALPHA_MAX))
        return tl_err_set(err, TL_EPARSE, NULL, "not a co-occurrence snapshot, or a damaged header");
    struct coc_model *m = coc_new(&p);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    size_t used = 0;
    enum tl_rc rc = tl_cooc_load_rel(m->c, REL_OF[p.rel], r.p + r.off, r.len - r.off, &used, err);
    if (!rc && r.off + used != r.len)
        rc = tl_err_set(err, TL_EPARSE, NULL, "co-occurrence snapshot has trailing bytes");
    if (rc) {
        coc_free(m);
        return rc == TL_ENOMEM ? rc : TL_EPARSE;
    }
    *out = m;
    return TL_OK;
}

static size_t coc_memory(const void *pv)
{
    const struct coc_model *m = pv;
    return m ? sizeof *m + tl_cooc_memory(m->c) : 0;
}

const struct tl_model_ops tl_cooc_ops = {
    .name = "cooc",
    .params_size = sizeof(struct coc_params),
    .params_defaults = coc_defaults,
    .param_set = coc_param,
    .train = coc_train,
    .candidates = coc_candidates,
    .save = coc_save,
    .load = coc_load,
    .memory = coc_memory,
    .free = coc_free,
};
