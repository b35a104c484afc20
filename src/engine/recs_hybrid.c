/* GET /v1/recommendations types served by trained models (engine/train.c)
 * blended with the live signals:
 *
 *   for_you  the hybrid: every source of config for_you_blend
 *            ("ials:1,itemknn:0.5,sknn:0.5,cooc:0.3") is asked for its top
 *            candidates for the shopper's history; lists are fused by
 *            min-max normalisation and weights (src/model/blend.h):
 *              score(j) = sum_s w_s * (x_sj - min_s) / (max_s - min_s)
 *            History = the customer's purchases (weight_purchase), the last
 *            views oldest first (weight_view) and the cart (weight_cart).
 *            Source names: a trained model (whole history), "sknn" (only
 *            the current session's views), "cooc" (live co-occurrence:
 *            customers who bought the history items also bought; also
 *            "also_viewed", "also_bought", "bought_together" by name),
 *            "trending"/"popular" (non-personal prior).
 *            Fallback chain: no history (a first-time visitor) or nothing
 *            found -> trending in the shopper's country (request `country`,
 *            else the profile's) -> global; a short list is topped up from
 *            the same trending list. One product view is history, so it
 *            changes the next answer.
 *   similar  sources of similar_blend ("ials:1,itemknn:0.7,content:0.4")
 *            anchored on item_id; an item the models never saw (added after
 *            training) is served from the live "also viewed" and "bought
 *            together" counts, topped up from trending.
 *   cart     once association rules are trained: cart_blend
 *            ("arules:1,bought_together:1") over the cart's items, the
 *            rules' confidence fused with the live bought-together counts
 *            (before that: bought together alone, engine/recs.c);
 *   session  session kNN over the current session's views (live: no
 *            retraining needed for a new session); no session yet or no
 *            neighbours -> also_viewed of the session's items -> trending.
 *
 * Every item's reason names the answering type, the source model and the
 * history item that contributed most ("anchor"), e.g.
 * {"model":"for_you","source":"ials","anchor":"85123A"}. Models are read
 * from the shop's current snapshot, acquired for the request and released
 * at the end, so a training run never blocks a request. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "engine/recs.h"
#include "model/blend.h"

#define HIST_MAX 200        /* history items sent to the models */
#define SOURCE_DEPTH_MIN 50 /* candidates fetched per source (at least) */
#define COOC_ANCHORS 20     /* most recent history items used as co-occurrence anchors */

struct history {
    uint32_t cat[HIST_MAX]; /* catalog indexes, oldest first */
    float w[HIST_MAX];
    int64_t ts[HIST_MAX];
    size_t n;
    size_t session_from; /* cat[session_from..n) are views of the current session */
    size_t n_session;
    char country[3];
};

static void hist_add(struct history *h, uint32_t c, float w, int64_t ts)
{
    if (c == TL_CAT_NONE || h->n == HIST_MAX) return;
    h->cat[h->n] = c;
    h->w[h->n] = w;
    h->ts[h->n] = ts;
    h->n++;
}

/* The shopper's history from the profile and the customer's purchases. */
static void load_history(struct tl_engine *e, struct tl_shop_state *s, uint32_t shop_id, const struct tl_rec_query *q,
                         struct history *h)
{
    memset(h, 0, sizeof *h);
    if (!q->user_id && !q->anonymous_id) return;
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(e, shop_id, q->user_id, q->anonymous_id, key);
    if (strncmp(key, "u:", 2) == 0) {
        uint32_t bought[TL_COOC_BASKET_MAX];
        size_t nb = tl_itemsets_get(&s->bought_sets, tl_engine_customer_key(key + 2), bought, TL_COOC_BASKET_MAX);
        for (size_t i = 0; i < nb && i < HIST_MAX / 2; i++) hist_add(h, bought[i], (float)e->cfg.weight_purchase, 0);
    }
    struct tl_profile *p;
    struct tl_pcache_guard g;
    if (tl_pcache_lock(e->profiles, shop_id, key, 0, &p, &g) != TL_OK) return;
    size_t nv = 0, nc = 0;
    const struct tl_profile_view *v = tl_profile_views(p, &nv);
    int64_t sess_start = 0, sess_last = 0;
    const char *sid = tl_profile_session(p, &sess_start, &sess_last);
    h->session_from = h->n;
    for (size_t i = nv; i-- > 0;) { /* views are newest first */
        uint32_t c = tl_catalog_find(s->cat, v[i].item_id);
        if (c == TL_CAT_NONE) continue;
        if (!(sid && v[i].ts_ms >= sess_start)) h->session_from = h->n + 1;
        hist_add(h, c, (float)e->cfg.weight_view, v[i].ts_ms);
    }
    if (h->session_from > h->n) h->session_from = h->n;
    h->n_session = h->n - h->session_from;
    const struct tl_profile_cart_line *cart = tl_profile_cart(p, &nc);
    for (size_t i = 0; i < nc; i++)
        hist_add(h, tl_catalog_find(s->cat, cart[i].item_id), (float)e->cfg.weight_cart, cart[i].added_ms);
    const char *country = tl_profile_country(p);
    if (country) snprintf(h->country, sizeof h->country, "%.2s", country);
    tl_pcache_unlock(&g);
}

/* skip() adapter: model item -> catalog item -> serving rules. */
struct model_skip {
    const struct tl_trained *t;
    struct skip_ctx *sc;
};

static int skip_model_item(void *ctx, uint32_t m)
{
    struct model_skip *ms = ctx;
    uint32_t c = tl_trained_to_cat(ms->t, m);
    if (c == UINT32_MAX || c == TL_CAT_NONE) return 1;
    return tl_recs_skip(ms->sc, c);
}

/* One fused source: hits in catalog indexes. */
struct source {
    char name[24];
    float weight;
    struct tl_model_hit *hits;
    size_t n;
};

#define SOURCES_MAX TL_BLEND_SOURCES_MAX

/* Ask a trained model; hits are converted to catalog indexes. */
static enum tl_rc ask_model(const struct tl_trained *t, const char *name, const struct history *h, size_t from,
                            uint32_t anchor_cat, struct skip_ctx *sc, size_t depth, struct source *out)
{
    const struct tl_model_ops *ops = NULL;
    void *m = tl_trained_find(t, name, &ops);
    out->n = 0;
    if (!m) return TL_OK;
    uint32_t hist[HIST_MAX];
    float w[HIST_MAX];
    int64_t ts[HIST_MAX];
    size_t n = 0;
    for (size_t i = from; h && i < h->n; i++) {
        uint32_t mi = tl_trained_from_cat(t, h->cat[i]);
        if (mi == TL_MODEL_NONE) continue;
        hist[n] = mi;
        w[n] = h->w[i];
        ts[n++] = h->ts[i];
    }
    struct tl_model_query mq = {.user = TL_MODEL_NONE,
                                .anchor =
                                    anchor_cat == TL_CAT_NONE ? TL_MODEL_NONE : tl_trained_from_cat(t, anchor_cat),
                                .history = hist,
                                .hweight = w,
                                .hts = ts,
                                .n_history = n};
    if (anchor_cat != TL_CAT_NONE && mq.anchor == TL_MODEL_NONE) return TL_OK; /* an item the model never saw */
    if (anchor_cat == TL_CAT_NONE && n == 0) return TL_OK;
    struct model_skip ms = {t, sc};
    /* Trained models take no lock of ours, so the catalog read lock is held
     * across the query once instead of per skipped item (the per-call
     * atomic operations were a fifth of a query's time at 100,000 items). */
    tl_catalog_rdlock(sc->cat);
    sc->cat_locked = 1;
    enum tl_rc rc = ops->candidates(m, &mq, skip_model_item, &ms, depth, out->hits, &out->n);
    sc->cat_locked = 0;
    tl_catalog_unlock(sc->cat);
    if (rc) return rc;
    for (size_t i = 0; i < out->n; i++) {
        out->hits[i].item = tl_trained_to_cat(t, out->hits[i].item);
        if (out->hits[i].anchor != TL_MODEL_NONE) out->hits[i].anchor = tl_trained_to_cat(t, out->hits[i].anchor);
    }
    return TL_OK;
}

/* Live co-occurrence from several anchors (catalog indexes). */
static enum tl_rc ask_cooc(struct tl_engine *e, struct tl_shop_state *s, enum tl_cooc_rel rel, const uint32_t *anchors,
                           size_t na, struct skip_ctx *sc, size_t depth, struct source *out)
{
    out->n = 0;
    if (na == 0) return TL_OK;
    struct tl_cooc_hit *ch = tl_malloc(depth * sizeof *ch);
    if (!ch) return TL_ENOMEM;
    size_t n = 0;
    /* cosine: comparable across anchors of different popularity */
    enum tl_rc rc = tl_cooc_top_multi(s->cooc, rel, anchors, na, TL_COOC_COSINE, depth,
                                      (uint32_t)e->cfg.cooc_min_support, tl_recs_skip, sc, ch, &n);
    for (size_t i = 0; rc == TL_OK && i < n; i++)
        out->hits[i] = (struct tl_model_hit){ch[i].item, (float)ch[i].score, ch[i].anchor};
    if (rc == TL_OK) out->n = n;
    tl_free(ch);
    return rc;
}

static enum tl_rc ask_pop(struct tl_shop_state *s, enum tl_pop_kind kind, const char *country, struct skip_ctx *sc,
                          size_t depth, struct source *out)
{
    struct tl_pop_hit *ph = tl_malloc(depth * sizeof *ph);
    if (!ph) return TL_ENOMEM;
    size_t n = 0;
    enum tl_rc rc = tl_pop_top_ex(s->pop, kind, country, depth, tl_recs_skip, sc, ph, &n, NULL);
    out->n = 0;
    for (size_t i = 0; rc == TL_OK && i < n; i++)
        out->hits[i] = (struct tl_model_hit){ph[i].item, (float)ph[i].score, TL_MODEL_NONE};
    if (rc == TL_OK) out->n = n;
    tl_free(ph);
    return rc;
}

/* Parse "name:weight,..." into sources (weights 0..1000). */
static size_t parse_blend(const char *spec, struct source *src, struct tl_model_hit *pool, size_t depth)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", spec);
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ",", &save); tok && n < SOURCES_MAX; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *colon = strchr(tok, ':');
        double w = 1.0;
        if (colon) {
            *colon = '\0';
            w = atof(colon + 1);
        }
        if (!(w > 0) || !*tok) continue;
        snprintf(src[n].name, sizeof src[n].name, "%s", tok);
        src[n].weight = (float)w;
        src[n].hits = pool + n * depth;
        src[n].n = 0;
        n++;
    }
    return n;
}

/* A small set of catalog indexes (the answer's candidates): open
 * addressing sized for at most `cap / 2` members. */
struct idset {
    uint32_t *slot; /* UINT32_MAX = empty */
    size_t mask;
};

static int idset_init(struct idset *st, size_t members)
{
    size_t cap = 16;
    while (cap < 2 * members) cap *= 2;
    st->slot = tl_malloc(cap * sizeof *st->slot);
    st->mask = cap - 1;
    if (!st->slot) return -1;
    memset(st->slot, 0xff, cap * sizeof *st->slot);
    return 0;
}

/* 1 if x was already in the set (else adds it and returns 0). */
static int idset_add(struct idset *st, uint32_t x)
{
    size_t i = (size_t)(((uint64_t)x * 0x9e3779b97f4a7c15ULL) >> 32) & st->mask;
    while (st->slot[i] != UINT32_MAX) {
        if (st->slot[i] == x) return 1;
        i = (i + 1) & st->mask;
    }
    st->slot[i] = x;
    return 0;
}

/* Fused hits (catalog indexes) as answer candidates, with the reason
 * {"model":type,"source":..,"anchor":..}. */
static size_t fused_cands(struct tl_shop_state *s, const struct tl_rec_query *q, const struct tl_blend_hit *f,
                          size_t nf, const struct source *src, struct idset *in_set, struct tl_recs_cand *c)
{
    tl_catalog_rdlock(s->cat);
    for (size_t i = 0; i < nf; i++) {
        struct tl_buf reason;
        tl_buf_init(&reason, RECS_REASON_MAX - 1);
        tl_buf_printf(&reason, "{\"model\":\"%s\",\"source\":\"%s\"", q->type, src[f[i].source].name);
        const char *anchor = f[i].anchor != TL_MODEL_NONE ? tl_catalog_id(s->cat, f[i].anchor) : NULL;
        if (anchor) {
            tl_buf_puts(&reason, ",\"anchor\":");
            tl_buf_json_str(&reason, anchor);
        }
        tl_buf_putc(&reason, '}');
        c[i].idx = f[i].item;
        c[i].score = f[i].score;
        snprintf(c[i].reason, sizeof c[i].reason, "%s", reason.data ? reason.data : "{}");
        tl_buf_free(&reason);
        idset_add(in_set, f[i].item);
    }
    tl_catalog_unlock(s->cat);
    return nf;
}

/* Top-up candidates from trending (country, else global), after the model
 * ones: their scores are set below the last model score (halving), so a
 * re-ordering by score keeps them last. Returns how many were added. */
static size_t top_up(struct tl_shop_state *s, const struct tl_rec_query *q, struct skip_ctx *sc, const char *country,
                     struct idset *in_set, struct tl_recs_cand *c, size_t n)
{
    size_t want = 2 * (size_t)q->limit;
    struct tl_pop_hit ph[2 * RECS_LIMIT_MAX];
    size_t got = 0, added = 0;
    struct tl_pop_info info;
    if (tl_pop_top_ex(s->pop, TL_POP_TRENDING, country, want, tl_recs_skip, sc, ph, &got, &info) != TL_OK) return 0;
    double floor = n ? c[n - 1].score : 1.0;
    if (!(floor > 0)) floor = 1.0;
    for (size_t i = 0; i < got; i++) {
        if (idset_add(in_set, ph[i].item)) continue;
        struct tl_recs_cand *x = &c[n + added];
        x->idx = ph[i].item;
        x->score = floor * exp2(-(double)(added + 1));
        snprintf(x->reason, sizeof x->reason, "{\"model\":\"trending\",\"scope\":\"%s\",\"fallback\":true}",
                 info.scope);
        added++;
    }
    return added;
}

/* Shared driver: fuse the sources, write the items, top up. */
static enum tl_rc serve_blend(struct tl_engine *e, struct tl_shop_state *s, const struct tl_rec_query *q,
                              struct skip_ctx *sc, const char *spec, const struct history *h, uint32_t anchor,
                              const char *country, int allow_top_up, struct tl_buf *out, struct tl_err *err)
{
    size_t depth = tl_recs_fetch(q) * 2;
    if (depth < SOURCE_DEPTH_MIN) depth = SOURCE_DEPTH_MIN;
    uint32_t n_cat;
    tl_catalog_rdlock(s->cat);
    n_cat = tl_catalog_size(s->cat);
    tl_catalog_unlock(s->cat);
    struct tl_model_hit *pool = tl_malloc(SOURCES_MAX * depth * sizeof *pool);
    struct tl_blend_hit *fused = tl_malloc(depth * sizeof *fused);
    struct idset shown_set = {NULL, 0};
    int set_ok = idset_init(&shown_set, depth + 2 * (size_t)q->limit) == 0;
    struct source src[SOURCES_MAX];
    struct tl_blend_list lists[SOURCES_MAX];
    enum tl_rc rc = (!pool || !fused || !set_ok) ? TL_ENOMEM : TL_OK;
    struct tl_trained *t = tl_engine_trained(s);
    size_t ns = rc ? 0 : parse_blend(spec, src, pool, depth), nf = 0;
    uint32_t anchors[COOC_ANCHORS];
    size_t na = 0;
    if (anchor != TL_CAT_NONE)
        anchors[na++] = anchor;
    else
        for (size_t i = h->n; i-- > 0 && na < COOC_ANCHORS;) anchors[na++] = h->cat[i];
    for (size_t i = 0; rc == TL_OK && i < ns; i++) {
        const char *nm = src[i].name;
        if (strcmp(nm, "cooc") == 0)
            rc = ask_cooc(e, s, anchor != TL_CAT_NONE ? TL_COOC_ALSO_VIEWED : TL_COOC_ALSO_BOUGHT, anchors, na, sc,
                          depth, &src[i]);
        else if (strcmp(nm, "also_viewed") == 0)
            rc = ask_cooc(e, s, TL_COOC_ALSO_VIEWED, anchors, na, sc, depth, &src[i]);
        else if (strcmp(nm, "also_bought") == 0)
            rc = ask_cooc(e, s, TL_COOC_ALSO_BOUGHT, anchors, na, sc, depth, &src[i]);
        else if (strcmp(nm, "bought_together") == 0)
            rc = ask_cooc(e, s, TL_COOC_BOUGHT_TOGETHER, anchors, na, sc, depth, &src[i]);
        else if (strcmp(nm, "trending") == 0 || strcmp(nm, "popular") == 0)
            rc = ask_pop(s, nm[0] == 't' ? TL_POP_TRENDING : TL_POP_POPULAR, country, sc, depth, &src[i]);
        else if (strcmp(nm, "sknn") == 0 || strncmp(nm, "session_", 8) == 0)
            rc = ask_model(t, nm, h, h ? h->session_from : 0, TL_CAT_NONE, sc, depth, &src[i]);
        else
            rc = ask_model(t, nm, h, 0, anchor, sc, depth, &src[i]);
        lists[i] = (struct tl_blend_list){src[i].hits, src[i].n, src[i].weight};
    }
    if (rc == TL_OK) rc = tl_blend_merge(lists, ns, TL_BLEND_MINMAX, n_cat, depth, fused, &nf);
    tl_trained_release(t);
    struct tl_recs_cand *c = rc ? NULL : tl_malloc((nf + 2 * (size_t)q->limit + 1) * sizeof *c);
    if (rc == TL_OK && !c) rc = TL_ENOMEM;
    if (rc == TL_OK) {
        size_t n = fused_cands(s, q, fused, nf, src, &shown_set, c);
        /* enough left for the limit after the caps? else top up from trending */
        if (allow_top_up &&
            n < (size_t)q->limit * (q->max_per_category > 0 || q->max_per_brand > 0 ? DIVERSITY_FETCH : 1))
            n += top_up(s, q, sc, country, &shown_set, c, n);
        if (allow_top_up && nf == 0) tl_buf_puts(out, ",\"fallback\":\"trending\"");
        rc = tl_recs_emit(e, s, q, sc, c, n, out);
    }
    tl_free(c);
    tl_free(pool);
    tl_free(fused);
    tl_free(shown_set.slot);
    if (rc) return tl_err_set(err, rc, NULL, "recommendation failed: %s", tl_rc_message(rc));
    return TL_OK;
}

/* Items of the current session are not recommended back (they are on the
 * shopper's screen already; recently_viewed serves them). */
static void hide_session(const struct history *h, struct skip_ctx *sc)
{
    for (size_t i = h->session_from; i < h->session_from + h->n_session; i++)
        if (sc->n_hide < sizeof sc->hide / sizeof sc->hide[0]) sc->hide[sc->n_hide++] = h->cat[i];
}

enum tl_rc tl_recs_for_you(struct tl_engine *e, struct tl_shop_state *s, uint32_t shop_id, const struct tl_rec_query *q,
                           struct skip_ctx *sc, struct tl_buf *out, struct tl_err *err)
{
    struct history *h = tl_malloc(sizeof *h);
    if (!h) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    load_history(e, s, shop_id, q, h);
    hide_session(h, sc);
    const char *country = q->country ? q->country : (h->country[0] ? h->country : NULL);
    const char *spec = q->for_you_blend && *q->for_you_blend ? q->for_you_blend : e->cfg.for_you_blend;
    enum tl_rc rc = serve_blend(e, s, q, sc, spec, h, TL_CAT_NONE, country, 1, out, err);
    tl_free(h);
    return rc;
}

enum tl_rc tl_recs_similar(struct tl_engine *e, struct tl_shop_state *s, const struct tl_rec_query *q,
                           struct skip_ctx *sc, struct tl_buf *out, struct tl_err *err)
{
    if (!q->item_id || !*q->item_id)
        return tl_err_set(err, TL_EINVAL, "item_id", "item_id is required for type=similar");
    struct history *h = tl_calloc(1, sizeof *h);
    if (!h) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    struct tl_trained *t = tl_engine_trained(s);
    int known = sc->anchor != TL_CAT_NONE && tl_trained_from_cat(t, sc->anchor) != TL_MODEL_NONE;
    tl_trained_release(t);
    /* An item the models never saw: its live neighbours instead. */
    const char *spec = !known                                  ? "also_viewed:1,bought_together:0.5"
                       : q->similar_blend && *q->similar_blend ? q->similar_blend
                                                               : e->cfg.similar_blend;
    enum tl_rc rc = serve_blend(e, s, q, sc, spec, h, sc->anchor, q->country, 1, out, err);
    tl_free(h);
    return rc;
}

enum tl_rc tl_recs_session(struct tl_engine *e, struct tl_shop_state *s, uint32_t shop_id, const struct tl_rec_query *q,
                           struct skip_ctx *sc, struct tl_buf *out, struct tl_err *err)
{
    struct history *h = tl_malloc(sizeof *h);
    if (!h) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    load_history(e, s, shop_id, q, h);
    hide_session(h, sc);
    /* only the current session's views count */
    memmove(h->cat, h->cat + h->session_from, h->n_session * sizeof *h->cat);
    memmove(h->w, h->w + h->session_from, h->n_session * sizeof *h->w);
    memmove(h->ts, h->ts + h->session_from, h->n_session * sizeof *h->ts);
    h->n = h->n_session;
    h->session_from = 0;
    const char *country = q->country ? q->country : (h->country[0] ? h->country : NULL);
    enum tl_rc rc = serve_blend(e, s, q, sc, "sknn:1,also_viewed:0.3", h, TL_CAT_NONE, country, 1, out, err);
    tl_free(h);
    return rc;
}

int tl_recs_cart_has_rules(struct tl_shop_state *s)
{
    struct tl_trained *t = tl_engine_trained(s);
    int has = tl_trained_find(t, "arules", NULL) != NULL;
    tl_trained_release(t);
    return has;
}

enum tl_rc tl_recs_cart(struct tl_engine *e, struct tl_shop_state *s, const struct tl_rec_query *q, struct skip_ctx *sc,
                        struct tl_buf *out, struct tl_err *err)
{
    struct history *h = tl_calloc(1, sizeof *h);
    if (!h) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < sc->n_exclude; i++) hist_add(h, tl_catalog_find(s->cat, sc->exclude[i]), 1.0f, 0);
    /* complete the basket: rules whose left side the cart holds, and items
     * bought in the same orders; no trending top-up (an empty cart has no
     * complements) */
    const char *spec = q->cart_blend && *q->cart_blend ? q->cart_blend : e->cfg.cart_blend;
    enum tl_rc rc = serve_blend(e, s, q, sc, spec, h, TL_CAT_NONE, q->country, 0, out, err);
    tl_free(h);
    return rc;
}
