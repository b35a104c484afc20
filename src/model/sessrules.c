/* Session rules (see sessrules.h): the session-rec "AssociationRules" (AR)
 * and "SequentialRules" (SR) baselines as Tailor models "session_ar" and
 * "session_sr", reproducing the reference scores exactly.
 *
 * TRAINING SCAN
 *   Sessions are read in dataset order (user 0, 1, ...), each session's
 *   clicks in time order (dataset.h), repeated clicks kept. For the click at
 *   position t (0-based) of a session s:
 *     AR: for every earlier position p < t (p < max_session_len, t likewise):
 *           c[s_t][s_p] += 1 and c[s_p][s_t] += 1
 *         so a pair of an item with itself (a repeated click) adds 2 to
 *         c[a][a], and a click repeated r times pairs r times.
 *     SR: for d = 1 .. min(steps, t): c[s_{t-d}][s_t] += w(d),
 *         w(d) = 1/d (div), 1/(d*d) (quadratic), 1 (same), 1/log10(d+1.7)
 *         (log); a click after the same item (a -> a) counts too.
 *   Weights are summed in double in scan order (the reference's order, so
 *   the sums are bit-identical to it).
 *
 * PRUNING (ties matter for exact reproduction)
 *   Per item a, its partners are ranked by weight descending; equal weights
 *   keep the order in which the partner was first paired with a during the
 *   scan (the reference keeps insertion-ordered dicts and
 *   Counter.most_common, which prefers earlier entries on ties). The best
 *   `pruning` partners are kept (all when pruning = 0). Implementation: one
 *   global entry array in first-insertion order (src, dst, weight) with a
 *   hash map (src << 32 | dst) -> entry; a stable counting sort by src keeps
 *   the insertion order inside each src, then a sort by (weight desc, entry
 *   index asc) per src.
 *
 * SCORES AND QUERIES
 *   score(a -> b) = w(a, b) / max_b' w(a, b') over a's kept list, stored as
 *   float in (0, 1]. Each list is stored sorted by (score desc, item asc), so
 *   candidates() walks the list of the last history item, drops skip()ped
 *   items and returns the first k: O(pruning), no allocation. Unknown items
 *   (>= n_items or without rules) give no hits.
 *
 * MEMORY
 *   Model: n_items + 1 offsets (size_t) + per kept rule 8 bytes (item,
 *   score). Training: per distinct pair 16 bytes of entry plus the hash map
 *   (16 bytes per slot, load <= 0.7); at most TL_SESSRULES_PAIRS_MAX pairs
 *   (TL_ETOOBIG beyond). AR costs O(L^2) per session of L counted clicks,
 *   hence max_session_len (default 1000; the reference has no cap, and
 *   sessions of the reference data are far shorter).
 *
 * THREADS
 *   Training is one sequential scan (the result depends on scan order), so
 *   opts->threads is not used beyond 1; deterministic, seed unused. Cancel
 *   is polled every 256 sessions; progress reported every 1/64 of the
 *   sessions. candidates() only reads the model.
 *
 * SNAPSHOT FORMAT (little-endian, model.h helpers)
 *   u32 magic 0x52534C54 ("TLSR"), u32 version 1, u32 kind (0 = AR, 1 = SR),
 *   u32 pruning, u32 steps, u32 weighting, u32 max_session_len,
 *   u32 n_items, u64 n_rules,
 *   u32 len[n_items]            rules per item (sum = n_rules, each <= pruning when pruning > 0)
 *   u32 item[n_rules]           partner items, lists concatenated by item
 *   f32 score[n_rules]          scores in (0, 1], each list sorted by (score desc, item asc)
 *   nothing after. load() checks every field and returns TL_EPARSE otherwise. */
#include "model/sessrules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/map.h"

#define MAGIC 0x52534C54u
#define VERSION 1u
#define KIND_AR 0u
#define KIND_SR 1u
#define CANCEL_EVERY 256

struct sr_model {
    uint32_t kind;
    struct tl_sessrules_params p;
    uint32_t n_items;
    size_t n_rules;
    size_t *off;    /* n_items + 1 */
    uint32_t *item; /* n_rules */
    float *score;   /* n_rules */
};

/* ---------- params ---------- */

static void defaults(struct tl_sessrules_params *p)
{
    p->pruning = 20;
    p->steps = 10;
    p->weighting = TL_SESSRULES_DIV;
    p->max_session_len = 1000;
}

static void ar_defaults(void *params) { defaults(params); }
static void sr_defaults(void *params) { defaults(params); }

static enum tl_rc set_pruning(struct tl_sessrules_params *p, const char *key, const char *value, struct tl_err *err)
{
    long v;
    enum tl_rc rc = tl_model_param_long(key, value, 0, TL_SESSRULES_PRUNING_MAX, &v, err);
    if (rc == TL_OK) p->pruning = (uint32_t)v;
    return rc;
}

static enum tl_rc ar_param_set(void *params, const char *key, const char *value, struct tl_err *err)
{
    struct tl_sessrules_params *p = params;
    if (!p || !key) return tl_err_set(err, TL_EINVAL, NULL, "params and key are required");
    if (strcmp(key, "pruning") == 0) return set_pruning(p, key, value, err);
    if (strcmp(key, "max_session_len") == 0) {
        long v;
        enum tl_rc rc = tl_model_param_long(key, value, 0, TL_SESSRULES_SESSION_MAX, &v, err);
        if (rc == TL_OK) p->max_session_len = (uint32_t)v;
        return rc;
    }
    return tl_err_set(err, TL_EINVAL, key, "unknown session_ar parameter '%s' (pruning, max_session_len)", key);
}

static enum tl_rc sr_param_set(void *params, const char *key, const char *value, struct tl_err *err)
{
    struct tl_sessrules_params *p = params;
    if (!p || !key) return tl_err_set(err, TL_EINVAL, NULL, "params and key are required");
    if (strcmp(key, "pruning") == 0) return set_pruning(p, key, value, err);
    if (strcmp(key, "steps") == 0) {
        long v;
        enum tl_rc rc = tl_model_param_long(key, value, 1, TL_SESSRULES_STEPS_MAX, &v, err);
        if (rc == TL_OK) p->steps = (uint32_t)v;
        return rc;
    }
    if (strcmp(key, "weighting") == 0) {
        static const char *const names[] = {"div", "quadratic", "same", "log"};
        for (uint32_t i = 0; i < 4; i++)
            if (value && strcmp(value, names[i]) == 0) {
                p->weighting = i;
                return TL_OK;
            }
        return tl_err_set(err, TL_EINVAL, key, "weighting must be one of div, quadratic, same, log");
    }
    return tl_err_set(err, TL_EINVAL, key, "unknown session_sr parameter '%s' (pruning, steps, weighting)", key);
}

static enum tl_rc check_params(uint32_t kind, const struct tl_sessrules_params *p, struct tl_err *err)
{
    if (p->pruning > TL_SESSRULES_PRUNING_MAX)
        return tl_err_set(err, TL_EINVAL, "pruning", "pruning must be 0..%d", TL_SESSRULES_PRUNING_MAX);
    if (kind == KIND_SR && (p->steps < 1 || p->steps > TL_SESSRULES_STEPS_MAX))
        return tl_err_set(err, TL_EINVAL, "steps", "steps must be 1..%d", TL_SESSRULES_STEPS_MAX);
    if (kind == KIND_SR && p->weighting > TL_SESSRULES_LOG)
        return tl_err_set(err, TL_EINVAL, "weighting", "weighting must be div, quadratic, same or log");
    if (kind == KIND_AR && p->max_session_len > TL_SESSRULES_SESSION_MAX)
        return tl_err_set(err, TL_EINVAL, "max_session_len", "max_session_len must be 0..%d", TL_SESSRULES_SESSION_MAX);
    return TL_OK;
}

/* ---------- training ---------- */

struct entry {
    uint32_t src, dst;
    double w;
};

struct counter {
    struct entry *e;
    size_t n, cap;
    struct tl_u64map idx; /* src << 32 | dst -> entry index */
};

static enum tl_rc counter_add(struct counter *c, uint32_t src, uint32_t dst, double w)
{
    uint64_t key = (uint64_t)src << 32 | dst, at;
    if (tl_u64map_get(&c->idx, key, &at)) {
        c->e[at].w += w;
        return TL_OK;
    }
    if (c->n == c->cap) {
        if (c->cap >= TL_SESSRULES_PAIRS_MAX) return TL_ETOOBIG;
        size_t cap = c->cap ? c->cap * 2 : 1024;
        if (cap > TL_SESSRULES_PAIRS_MAX) cap = TL_SESSRULES_PAIRS_MAX;
        struct entry *ne = tl_realloc(c->e, cap * sizeof *ne);
        if (!ne) return TL_ENOMEM;
        c->e = ne;
        c->cap = cap;
    }
    enum tl_rc rc = tl_u64map_put(&c->idx, key, c->n);
    if (rc) return rc;
    c->e[c->n++] = (struct entry){src, dst, w};
    return TL_OK;
}

static double weight_of(uint32_t weighting, uint32_t d)
{
    switch (weighting) {
    case TL_SESSRULES_QUADRATIC:
        return 1.0 / ((double)d * (double)d);
    case TL_SESSRULES_SAME:
        return 1.0;
    case TL_SESSRULES_LOG:
        return 1.0 / log10((double)d + 1.7);
    default:
        return 1.0 / (double)d;
    }
}

/* Entries of one src: weight desc, then insertion (entry index) asc. */
struct rank_ent {
    double w;
    size_t idx;
};

static int cmp_rank(const void *a, const void *b)
{
    const struct rank_ent *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

struct kept {
    uint32_t item;
    float score;
};

static int cmp_kept(const void *a, const void *b)
{
    const struct kept *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

static void model_free(void *vm)
{
    struct sr_model *m = vm;
    if (!m) return;
    tl_free(m->off);
    tl_free(m->item);
    tl_free(m->score);
    tl_free(m);
}

/* Build the pruned, normalised model from the counted entries. */
static enum tl_rc build_model(struct counter *c, uint32_t kind, const struct tl_sessrules_params *p, uint32_t n_items,
                              struct sr_model **out, struct tl_err *err)
{
    enum tl_rc rc = TL_ENOMEM;
    size_t *start = tl_calloc((size_t)n_items + 1, sizeof *start);
    size_t *order = tl_malloc((c->n ? c->n : 1) * sizeof *order);
    struct rank_ent *tmp = NULL;
    struct kept *kb = NULL;
    struct sr_model *m = tl_calloc(1, sizeof *m);
    if (!start || !order || !m) goto fail;
    m->kind = kind;
    m->p = *p;
    m->n_items = n_items;
    /* stable counting sort of entry indexes by src */
    for (size_t i = 0; i < c->n; i++) start[c->e[i].src + 1]++;
    size_t max_deg = 0;
    for (uint32_t a = 0; a < n_items; a++) {
        if (start[a + 1] > max_deg) max_deg = start[a + 1];
        start[a + 1] += start[a];
    }
    {
        size_t *fill = tl_malloc(((size_t)n_items + 1) * sizeof *fill);
        if (!fill) goto fail;
        memcpy(fill, start, ((size_t)n_items + 1) * sizeof *fill);
        for (size_t i = 0; i < c->n; i++) order[fill[c->e[i].src]++] = i;
        tl_free(fill);
    }
    size_t total = 0;
    for (uint32_t a = 0; a < n_items; a++) {
        size_t deg = start[a + 1] - start[a];
        total += p->pruning && deg > p->pruning ? p->pruning : deg;
    }
    m->off = tl_malloc(((size_t)n_items + 1) * sizeof *m->off);
    m->item = tl_malloc((total ? total : 1) * sizeof *m->item);
    m->score = tl_malloc((total ? total : 1) * sizeof *m->score);
    tmp = tl_malloc((max_deg ? max_deg : 1) * sizeof *tmp);
    kb = tl_malloc((max_deg ? max_deg : 1) * sizeof *kb);
    if (!m->off || !m->item || !m->score || !tmp || !kb) goto fail;
    size_t at = 0;
    for (uint32_t a = 0; a < n_items; a++) {
        m->off[a] = at;
        size_t deg = start[a + 1] - start[a];
        if (deg == 0) continue;
        for (size_t j = 0; j < deg; j++) {
            size_t ei = order[start[a] + j];
            tmp[j] = (struct rank_ent){c->e[ei].w, ei};
        }
        qsort(tmp, deg, sizeof *tmp, cmp_rank);
        size_t keep = p->pruning && deg > p->pruning ? p->pruning : deg;
        double mx = tmp[0].w;
        for (size_t j = 0; j < keep; j++) kb[j] = (struct kept){c->e[tmp[j].idx].dst, (float)(tmp[j].w / mx)};
        qsort(kb, keep, sizeof *kb, cmp_kept);
        for (size_t j = 0; j < keep; j++) {
            m->item[at + j] = kb[j].item;
            m->score[at + j] = kb[j].score;
        }
        at += keep;
    }
    m->off[n_items] = at;
    m->n_rules = at;
    rc = TL_OK;
fail:
    tl_free(start);
    tl_free(order);
    tl_free(tmp);
    tl_free(kb);
    if (rc) {
        model_free(m);
        return tl_err_set(err, rc, NULL, "out of memory building session rules");
    }
    *out = m;
    return TL_OK;
}

static enum tl_rc train_kind(uint32_t kind, const struct tl_dataset *d, const void *params,
                             const struct tl_train_opts *opts, void **out, struct tl_err *err)
{
    struct tl_sessrules_params p;
    defaults(&p);
    if (params) p = *(const struct tl_sessrules_params *)params;
    if (!d || !out) return tl_err_set(err, TL_EINVAL, NULL, "dataset and out are required");
    *out = NULL;
    enum tl_rc rc = check_params(kind, &p, err);
    if (rc) return rc;
    struct counter c = {0};
    tl_u64map_init(&c.idx);
    uint32_t every = d->n_users / 64 + 1;
    for (uint32_t u = 0; u < d->n_users; u++) {
        if (opts && opts->cancel && u % CANCEL_EVERY == 0 && *opts->cancel) {
            rc = tl_err_set(err, TL_ESHUTDOWN, NULL, "training cancelled");
            goto done;
        }
        if (opts && opts->progress && u % every == 0)
            opts->progress(opts->progress_ctx, (double)u / d->n_users, "counting session rules");
        const uint32_t *s = d->item + d->off[u];
        size_t len = d->off[u + 1] - d->off[u];
        if (kind == KIND_AR) {
            if (p.max_session_len && len > p.max_session_len) len = p.max_session_len;
            for (size_t t = 1; t < len && rc == TL_OK; t++)
                for (size_t q = 0; q < t && rc == TL_OK; q++) {
                    rc = counter_add(&c, s[q], s[t], 1.0);
                    if (rc == TL_OK) rc = counter_add(&c, s[t], s[q], 1.0);
                }
        } else {
            for (size_t t = 1; t < len && rc == TL_OK; t++) {
                size_t back = t < p.steps ? t : p.steps;
                for (size_t i = 1; i <= back && rc == TL_OK; i++)
                    rc = counter_add(&c, s[t - i], s[t], weight_of(p.weighting, (uint32_t)i));
            }
        }
        if (rc == TL_ETOOBIG) {
            rc = tl_err_set(err, rc, NULL, "more than %u distinct item pairs", TL_SESSRULES_PAIRS_MAX);
            goto done;
        }
        if (rc) {
            rc = tl_err_set(err, rc, NULL, "out of memory counting session rules");
            goto done;
        }
    }
    struct sr_model *m = NULL;
    rc = build_model(&c, kind, &p, d->n_items, &m, err);
    if (rc == TL_OK) {
        *out = m;
        if (opts && opts->progress) opts->progress(opts->progress_ctx, 1.0, "done");
    }
done:
    tl_free(c.e);
    tl_u64map_free(&c.idx);
    return rc;
}

static enum tl_rc ar_train(const struct tl_dataset *d, const void *params, const struct tl_train_opts *opts, void **out,
                           struct tl_err *err)
{
    return train_kind(KIND_AR, d, params, opts, out, err);
}

static enum tl_rc sr_train(const struct tl_dataset *d, const void *params, const struct tl_train_opts *opts, void **out,
                           struct tl_err *err)
{
    return train_kind(KIND_SR, d, params, opts, out, err);
}

/* ---------- queries ---------- */

static enum tl_rc candidates(const void *vm, const struct tl_model_query *q, tl_model_skip_fn skip, void *skip_ctx,
                             size_t k, struct tl_model_hit *out, size_t *n)
{
    const struct sr_model *m = vm;
    if (n) *n = 0;
    if (!m || !q || !n || (!out && k > 0) || k > TL_MODEL_K_MAX || q->n_history > TL_MODEL_HISTORY_MAX ||
        (q->n_history > 0 && !q->history))
        return TL_EINVAL;
    uint32_t a = q->n_history ? q->history[q->n_history - 1] : q->anchor;
    if (a == TL_MODEL_NONE || a >= m->n_items) return TL_OK;
    size_t got = 0;
    for (size_t i = m->off[a]; i < m->off[a + 1] && got < k; i++) {
        if (skip && skip(skip_ctx, m->item[i])) continue;
        out[got++] = (struct tl_model_hit){m->item[i], m->score[i], a};
    }
    *n = got;
    return TL_OK;
}

/* ---------- snapshot ---------- */

static enum tl_rc save(const void *vm, struct tl_buf *b, struct tl_err *err)
{
    const struct sr_model *m = vm;
    if (!m || !b) return tl_err_set(err, TL_EINVAL, NULL, "model and buffer are required");
    enum tl_rc rc = TL_OK;
    uint32_t hdr[] = {MAGIC,     VERSION, m->kind, m->p.pruning, m->p.steps, m->p.weighting, m->p.max_session_len,
                      m->n_items};
    rc = tl_snap_put_u32s(b, hdr, sizeof hdr / sizeof hdr[0]);
    if (!rc) rc = tl_snap_put_u64(b, m->n_rules);
    for (uint32_t a = 0; !rc && a < m->n_items; a++) rc = tl_snap_put_u32(b, (uint32_t)(m->off[a + 1] - m->off[a]));
    if (!rc) rc = tl_snap_put_u32s(b, m->item, m->n_rules);
    if (!rc) rc = tl_snap_put_f32s(b, m->score, m->n_rules);
    if (rc) return tl_err_set(err, rc, NULL, "cannot write session rules snapshot");
    return TL_OK;
}

static enum tl_rc load(const void *data, size_t len, void **out, struct tl_err *err)
{
    if (!out || (!data && len)) return tl_err_set(err, TL_EINVAL, NULL, "data and out are required");
    *out = NULL;
    struct tl_snap_reader r = {data, len, 0, 0};
    uint32_t hdr[8];
    tl_snap_get_u32s(&r, hdr, 8);
    uint64_t n_rules = tl_snap_get_u64(&r);
    if (r.bad) return tl_err_set(err, TL_EPARSE, NULL, "session rules snapshot: truncated header");
    if (hdr[0] != MAGIC || hdr[1] != VERSION)
        return tl_err_set(err, TL_EPARSE, NULL, "session rules snapshot: bad magic or version");
    if (hdr[2] != KIND_AR && hdr[2] != KIND_SR)
        return tl_err_set(err, TL_EPARSE, NULL, "session rules snapshot: bad kind %u", hdr[2]);
    struct tl_sessrules_params p = {hdr[3], hdr[4], hdr[5], hdr[6]};
    if (check_params(hdr[2], &p, NULL) != TL_OK)
        return tl_err_set(err, TL_EPARSE, NULL, "session rules snapshot: bad parameters");
    uint32_t n_items = hdr[7];
    if (n_items > TL_DATASET_IDS_MAX || (uint64_t)n_items * 4 > len - r.off ||
        n_rules > (len - r.off - (uint64_t)n_items * 4) / 8)
        return tl_err_set(err, TL_EPARSE, NULL, "session rules snapshot: truncated (%u items, %llu rules)", n_items,
                          (unsigned long long)n_rules);
    struct sr_model *m = tl_calloc(1, sizeof *m);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    m->kind = hdr[2];
    m->p = p;
    m->n_items = n_items;
    m->n_rules = (size_t)n_rules;
    m->off = tl_malloc(((size_t)n_items + 1) * sizeof *m->off);
    m->item = tl_malloc((n_rules ? (size_t)n_rules : 1) * sizeof *m->item);
    m->score = tl_malloc((n_rules ? (size_t)n_rules : 1) * sizeof *m->score);
    if (!m->off || !m->item || !m->score) {
        model_free(m);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    const char *why = NULL;
    size_t at = 0;
    for (uint32_t a = 0; a < n_items && !why; a++) {
        uint32_t l = tl_snap_get_u32(&r);
        m->off[a] = at;
        if (p.pruning && l > p.pruning) why = "list longer than pruning";
        at += l;
        if (at > n_rules) why = "list lengths exceed the rule count";
    }
    m->off[n_items] = at;
    if (!why && at != n_rules) why = "list lengths do not add up to the rule count";
    if (!why) {
        tl_snap_get_u32s(&r, m->item, m->n_rules);
        tl_snap_get_f32s(&r, m->score, m->n_rules);
        if (r.bad)
            why = "truncated rules";
        else if (r.off != len)
            why = "trailing bytes";
    }
    for (uint32_t a = 0; a < n_items && !why; a++)
        for (size_t i = m->off[a]; i < m->off[a + 1] && !why; i++) {
            float s = m->score[i];
            if (m->item[i] >= n_items)
                why = "item out of range";
            else if (!(s > 0.0f && s <= 1.0f))
                why = "score outside (0, 1]";
            else if (i > m->off[a] && (s > m->score[i - 1] || (s == m->score[i - 1] && m->item[i] <= m->item[i - 1])))
                why = "list not sorted by score then item";
        }
    if (why) {
        model_free(m);
        return tl_err_set(err, TL_EPARSE, NULL, "session rules snapshot: %s", why);
    }
    *out = m;
    return TL_OK;
}

static size_t memory(const void *vm)
{
    const struct sr_model *m = vm;
    if (!m) return 0;
    return sizeof *m + ((size_t)m->n_items + 1) * sizeof *m->off + m->n_rules * (sizeof *m->item + sizeof *m->score);
}

const struct tl_model_ops tl_sessar_ops = {
    .name = "session_ar",
    .params_size = sizeof(struct tl_sessrules_params),
    .params_defaults = ar_defaults,
    .param_set = ar_param_set,
    .train = ar_train,
    .candidates = candidates,
    .save = save,
    .load = load,
    .memory = memory,
    .free = model_free,
};

const struct tl_model_ops tl_sessseq_ops = {
    .name = "session_sr",
    .params_size = sizeof(struct tl_sessrules_params),
    .params_defaults = sr_defaults,
    .param_set = sr_param_set,
    .train = sr_train,
    .candidates = candidates,
    .save = save,
    .load = load,
    .memory = memory,
    .free = model_free,
};
