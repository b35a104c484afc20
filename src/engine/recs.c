/* GET /v1/recommendations for the foundation types: popular, trending
 * (global or per country, from src/model/popularity) and recently_viewed
 * (from the shopper's profile, excluding purchased items).
 *
 * Serving rules applied to every type: never an item that is not servable
 * (hidden, unavailable, out of stock, price <= 0, or known only from events),
 * never the anchor item_id. Every item carries a reason; every response a
 * fresh recommendation_id for attribution. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/timeutil.h"
#include "engine/internal.h"
#include "engine/recs.h"

#define RECENT_IDS_MAX TL_PROFILE_RECENT_MAX
#define CART_EXCLUDE_MAX 64 /* cart lines excluded from popular/trending */

/* Category filter: "Home" matches "Home" and "Home > Candles", not "Homeware". */
static int in_category(const char *item_cat, const char *want)
{
    if (!item_cat) return 0;
    size_t n = strlen(want);
    if (strncasecmp(item_cat, want, n) != 0) return 0;
    return item_cat[n] == '\0' || strncmp(item_cat + n, " >", 2) == 0;
}

static int bought_before(const struct skip_ctx *c, const struct tl_item *it)
{
    if (!c->n_bought) return 0;
    uint64_t h = tl_profile_item_hash(it->id);
    size_t lo = 0, hi = c->n_bought;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->bought[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == c->n_bought || c->bought[lo] != h) return 0;
    /* consumables: categories listed in rebuy_categories may be bought again */
    for (const char *p = c->rebuy; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char want[256];
        if (n && n < sizeof want) {
            memcpy(want, p, n);
            want[n] = '\0';
            if (in_category(it->category, want)) return 0;
        }
        p = comma ? comma + 1 : p + n;
    }
    return 1;
}

/* Called by the model for each candidate: skip what may not be shown
 * (serving rules, then the request's exclusions and filters). Takes the
 * catalog read lock itself (the model holds none of ours). */
int tl_recs_skip(void *ctx, uint32_t idx)
{
    struct skip_ctx *c = ctx;
    if (idx == c->anchor) return 1;
    for (size_t i = 0; i < c->n_hide; i++)
        if (c->hide[i] == idx) return 1;
    if (!c->cat_locked) tl_catalog_rdlock(c->cat);
    const struct tl_item *it = tl_catalog_get(c->cat, idx);
    int skip = !tl_catalog_servable(it);
    for (size_t i = 0; !skip && i < c->n_exclude; i++)
        if (strcmp(c->exclude[i], it->id) == 0) skip = 1;
    for (size_t i = 0; !skip && i < c->n_req_exclude; i++)
        if (strncmp(c->req_exclude[i].s, it->id, c->req_exclude[i].n) == 0 && it->id[c->req_exclude[i].n] == '\0')
            skip = 1;
    if (!skip && bought_before(c, it)) skip = 1;
    if (!skip && c->category && !in_category(it->category, c->category)) skip = 1;
    if (!skip && c->brand && (!it->brand || strcasecmp(it->brand, c->brand) != 0)) skip = 1;
    if (!skip && c->min_price > 0 && it->price < c->min_price) skip = 1;
    if (!skip && c->max_price > 0 && it->price > c->max_price) skip = 1;
    if (!skip && c->merch && tl_merch_excluded(c->merch, c->type_bit, it)) skip = 1;
    if (!c->cat_locked) tl_catalog_unlock(c->cat);
    return skip;
}

static int cap_ok(uint64_t *hs, uint32_t *ns, size_t *n, long max, const char *name, int commit)
{
    if (max <= 0 || !name || !*name) return 1;
    uint64_t h = tl_hash_str(name, 0);
    for (size_t i = 0; i < *n; i++)
        if (hs[i] == h) {
            if (ns[i] >= (uint32_t)max) return 0;
            if (commit) ns[i]++;
            return 1;
        }
    if (commit && *n < RECS_LIMIT_MAX) {
        hs[*n] = h;
        ns[(*n)++] = 1;
    }
    return 1;
}

/* 1 if it may be shown next (and counts it), 0 if a cap is full. */
int tl_recs_admit(struct diversity *d, const struct tl_item *it)
{
    if (!cap_ok(d->cat_h, d->cat_n, &d->ncat, d->max_cat, it->category, 0) ||
        !cap_ok(d->brand_h, d->brand_n, &d->nbrand, d->max_brand, it->brand, 0))
        return 0;
    cap_ok(d->cat_h, d->cat_n, &d->ncat, d->max_cat, it->category, 1);
    cap_ok(d->brand_h, d->brand_n, &d->nbrand, d->max_brand, it->brand, 1);
    return 1;
}

size_t tl_recs_fetch(const struct tl_rec_query *q)
{
    size_t k = (size_t)q->limit;
    if (q->max_per_category > 0 || q->max_per_brand > 0) k *= DIVERSITY_FETCH;
    return k < RECS_LIMIT_MAX ? k : RECS_LIMIT_MAX;
}

/* ?exclude=a,b,c into sc (empty entries ignored). */
static enum tl_rc parse_exclude(const char *list, struct skip_ctx *sc, struct tl_err *err)
{
    sc->n_req_exclude = 0;
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n) {
            if (sc->n_req_exclude == REQUEST_EXCLUDE_MAX)
                return tl_err_set(err, TL_EINVAL, "exclude", "exclude lists at most %d item ids", REQUEST_EXCLUDE_MAX);
            sc->req_exclude[sc->n_req_exclude].s = p;
            sc->req_exclude[sc->n_req_exclude++].n = n;
        }
        p = comma ? comma + 1 : p + n;
    }
    return TL_OK;
}

void tl_recs_item_fields_json(struct tl_buf *out, const struct tl_item *it)
{
    tl_buf_puts(out, "{\"id\":");
    tl_buf_json_str(out, it->id);
    tl_buf_puts(out, ",\"title\":");
    tl_buf_json_str(out, it->title);
    if (isnan(it->price))
        tl_buf_puts(out, ",\"price\":null");
    else
        tl_buf_printf(out, ",\"price\":%.2f", it->price);
    if (it->currency) {
        tl_buf_puts(out, ",\"currency\":");
        tl_buf_json_str(out, it->currency);
    }
    tl_buf_puts(out, ",\"url\":");
    tl_buf_json_str_or_null(out, it->url);
    tl_buf_puts(out, ",\"image\":");
    tl_buf_json_str_or_null(out, it->image_url);
}

void tl_recs_item_json(struct tl_buf *out, const struct tl_item *it, double score, const char *reason_json, int first)
{
    if (!first) tl_buf_putc(out, ',');
    tl_recs_item_fields_json(out, it);
    tl_buf_printf(out, ",\"score\":%.6g,\"reason\":%s}", score, reason_json);
}

static enum tl_rc recs_popular(struct tl_engine *e, struct tl_shop_state *s, const struct tl_rec_query *q,
                               struct skip_ctx *sc, enum tl_pop_kind kind, struct tl_buf *out, struct tl_err *err)
{
    struct tl_pop_hit hits[RECS_LIMIT_MAX];
    size_t n = 0;
    struct tl_pop_info info;
    enum tl_rc rc = tl_pop_top_ex(s->pop, kind, q->country, tl_recs_fetch(q), tl_recs_skip, sc, hits, &n, &info);
    if (rc == TL_EINVAL) return tl_err_set(err, rc, "country", "country must be a 2-letter ISO 3166-1 code");
    if (rc) return tl_err_set(err, rc, NULL, "recommendation failed: %s", tl_rc_message(rc));
    const char *model = kind == TL_POP_POPULAR ? "popular" : "trending";
    struct tl_recs_cand *c = tl_malloc((n ? n : 1) * sizeof *c);
    if (!c) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    /* reason.country echoes the requested country in either scope, so
     * {"scope":"global","country":"NO"} reads "asked for NO, too little
     * data there, these are global". */
    for (size_t i = 0; i < n; i++) {
        c[i].idx = hits[i].item;
        c[i].score = hits[i].score;
        if (q->country)
            snprintf(c[i].reason, sizeof c[i].reason, "{\"model\":\"%s\",\"scope\":\"%s\",\"country\":\"%.2s\"}", model,
                     info.scope, q->country);
        else
            snprintf(c[i].reason, sizeof c[i].reason, "{\"model\":\"%s\",\"scope\":\"global\"}", model);
    }
    tl_buf_puts(out, ",\"scope\":");
    tl_buf_json_str(out, info.scope);
    if (q->country && *q->country)
        tl_buf_printf(out, ",\"country_weight\":%.3g,\"country_min\":%.3g", info.country_weight, info.country_min);
    rc = tl_recs_emit(e, s, q, sc, c, n, out);
    tl_free(c);
    return rc;
}

static enum tl_rc recs_recent(struct tl_engine *e, struct tl_shop_state *s, uint32_t shop_id,
                              const struct tl_rec_query *q, struct skip_ctx *sc, struct tl_buf *out, struct tl_err *err)
{
    if (!q->user_id && !q->anonymous_id) return tl_recs_emit(e, s, q, sc, NULL, 0, out);
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(e, shop_id, q->user_id, q->anonymous_id, key);
    struct tl_profile *p;
    struct tl_pcache_guard g;
    enum tl_rc rc = tl_pcache_lock(e->profiles, shop_id, key, 0, &p, &g);
    if (rc == TL_ENOTFOUND) return tl_recs_emit(e, s, q, sc, NULL, 0, out);
    if (rc) return tl_err_set(err, rc, NULL, "profile could not be loaded: %s", tl_rc_message(rc));
    /* Candidates under the profile lock (views not bought since), then the
     * profile is released before the catalog filters run. */
    uint32_t idx[RECENT_IDS_MAX];
    int64_t when[RECENT_IDS_MAX];
    size_t nv = 0, nc = 0;
    const struct tl_profile_view *views = tl_profile_views(p, &nv);
    int64_t newest = nv ? views[0].ts_ms : 0;
    for (size_t i = 0; i < nv && nc < RECENT_IDS_MAX; i++) {
        if (tl_profile_has_purchased(p, views[i].item_id)) continue;
        uint32_t j = tl_catalog_find(s->cat, views[i].item_id);
        if (j == TL_CAT_NONE) continue;
        idx[nc] = j;
        when[nc++] = views[i].ts_ms;
    }
    tl_pcache_unlock(&g);
    struct tl_recs_cand *c = tl_malloc((nc ? nc : 1) * sizeof *c);
    if (!c) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < nc; i++) {
        if (tl_recs_skip(sc, idx[i])) continue; /* anchor, cart-free rules, request filters */
        char ts[32];
        tl_time_format(when[i], ts, sizeof ts);
        c[n].idx = idx[i];
        /* Score: recency in [0,1], 1 for the latest view, halving per day
         * before it (2^(-(t_latest - t)/1 day)). */
        c[n].score = exp2(-(double)(newest - when[i]) / (double)TL_MS_PER_DAY);
        snprintf(c[n].reason, sizeof c[n].reason, "{\"model\":\"recently_viewed\",\"viewed_at\":\"%s\"}", ts);
        n++;
    }
    rc = tl_recs_emit(e, s, q, sc, c, n, out);
    tl_free(c);
    return rc;
}

static enum tl_cooc_sim cooc_sim(const char *name)
{
    if (strcmp(name, "cosine") == 0) return TL_COOC_COSINE;
    if (strcmp(name, "jaccard") == 0) return TL_COOC_JACCARD;
    if (strcmp(name, "lift") == 0) return TL_COOC_LIFT;
    return TL_COOC_COND; /* the config loader accepts nothing else */
}

/* bought_together / also_bought / also_viewed (anchor: item_id) and cart
 * (anchors: the shopper's cart, bought-together relation): items sharing
 * orders, customers or sessions with the anchor, scored by the configured similarity
 * (src/model/cooc.c; default conditional probability damped by the
 * neighbour's popularity, n_ij / (n_i * n_j^0.5)) over pairs seen in at
 * least cooc_min_support orders. The reason names the anchor that
 * contributed most and the number of orders the pair shares. */
static enum tl_rc recs_cooc(struct tl_engine *e, struct tl_shop_state *s, const struct tl_rec_query *q,
                            struct skip_ctx *sc, enum tl_cooc_rel rel, int cart_mode, struct tl_buf *out,
                            struct tl_err *err)
{
    uint32_t anchors[CART_EXCLUDE_MAX];
    size_t na = 0;
    if (cart_mode) {
        for (size_t i = 0; i < sc->n_exclude && na < CART_EXCLUDE_MAX; i++) {
            uint32_t idx = tl_catalog_find(s->cat, sc->exclude[i]);
            if (idx != TL_CAT_NONE) anchors[na++] = idx;
        }
    } else {
        if (!q->item_id || !*q->item_id)
            return tl_err_set(err, TL_EINVAL, "item_id", "item_id is required for type=%s", q->type);
        if (sc->anchor != TL_CAT_NONE) anchors[na++] = sc->anchor;
    }
    struct tl_cooc_hit hits[RECS_LIMIT_MAX];
    size_t n = 0;
    enum tl_rc rc = TL_OK;
    const struct tl_config *cfg = &e->cfg;
    if (na == 1)
        rc = tl_cooc_top(s->cooc, rel, anchors[0], cooc_sim(cfg->cooc_similarity), tl_recs_fetch(q),
                         (uint32_t)cfg->cooc_min_support, tl_recs_skip, sc, hits, &n);
    else if (na > 1)
        rc = tl_cooc_top_multi(s->cooc, rel, anchors, na, cooc_sim(cfg->cooc_similarity), tl_recs_fetch(q),
                               (uint32_t)cfg->cooc_min_support, tl_recs_skip, sc, hits, &n);
    if (rc) return tl_err_set(err, rc, NULL, "recommendation failed: %s", tl_rc_message(rc));
    struct tl_recs_cand *c = tl_malloc((n ? n : 1) * sizeof *c);
    if (!c) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    size_t nc = 0;
    tl_catalog_rdlock(s->cat);
    for (size_t i = 0; i < n; i++) {
        const char *anchor = tl_catalog_id(s->cat, hits[i].anchor);
        if (!anchor) continue;
        struct tl_buf reason;
        tl_buf_init(&reason, RECS_REASON_MAX - 1);
        tl_buf_printf(&reason, "{\"model\":\"%s\",\"anchor\":", q->type);
        tl_buf_json_str(&reason, anchor);
        /* support: orders (bought together, cart), customers (also bought)
         * or sessions (also viewed) that hold both items */
        tl_buf_printf(&reason, ",\"%s\":%u}",
                      rel == TL_COOC_ALSO_BOUGHT   ? "customers"
                      : rel == TL_COOC_ALSO_VIEWED ? "sessions"
                                                   : "orders",
                      hits[i].support);
        c[nc].idx = hits[i].item;
        c[nc].score = hits[i].score;
        snprintf(c[nc].reason, sizeof c[nc].reason, "%s", reason.data ? reason.data : "{}");
        tl_buf_free(&reason);
        nc++;
    }
    tl_catalog_unlock(s->cat);
    rc = tl_recs_emit(e, s, q, sc, c, nc, out);
    tl_free(c);
    return rc;
}

enum tl_rc tl_engine_recommend(struct tl_engine *e, uint32_t shop_id, const struct tl_rec_query *q, struct tl_buf *out,
                               struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, NULL, "shop %u does not exist", shop_id);
    if (!q->type || !*q->type)
        return tl_err_set(
            err, TL_EINVAL, "type",
            "type is required: for_you, similar, session, popular, trending, recently_viewed, bought_together, "
            "also_bought, also_viewed or cart");
    if (q->limit < 1 || q->limit > RECS_LIMIT_MAX)
        return tl_err_set(err, TL_EINVAL, "limit", "limit must be an integer from 1 to %d", RECS_LIMIT_MAX);
    if (q->country && *q->country &&
        (strlen(q->country) != 2 || !((q->country[0] | 32) >= 'a' && (q->country[0] | 32) <= 'z') ||
         !((q->country[1] | 32) >= 'a' && (q->country[1] | 32) <= 'z')))
        return tl_err_set(err, TL_EINVAL, "country", "country must be a 2-letter ISO 3166-1 code");
    char country[3] = {0};
    struct tl_rec_query qq = *q;
    if (q->country && *q->country) {
        country[0] = (char)(q->country[0] & ~32);
        country[1] = (char)(q->country[1] & ~32);
        qq.country = country;
    } else {
        qq.country = NULL;
    }
    /* A/B experiments: an arm may turn personalization off (for_you and
     * session are then the non-personalized fallback, bestsellers) or use
     * other blends for for_you, similar or cart. Only these types look the
     * shopper up (and record an exposure). */
    struct tl_exp_treatment tr;
    int personal = strcmp(q->type, "for_you") == 0 || strcmp(q->type, "session") == 0;
    if ((q->user_id || q->anonymous_id) &&
        (personal || strcmp(q->type, "similar") == 0 || strcmp(q->type, "cart") == 0)) {
        unsigned what = personal ? TL_EXP_FOR_YOU : strcmp(q->type, "similar") == 0 ? TL_EXP_SIMILAR : TL_EXP_CART;
        tl_engine_exp_treatment_for(e, shop_id, what, q->user_id, q->anonymous_id, q->page_type, qq.country, &tr);
        if (personal && !tr.personalization)
            qq.type = "popular";
        else if (tr.for_you_blend[0])
            qq.for_you_blend = tr.for_you_blend;
        if (tr.similar_blend[0]) qq.similar_blend = tr.similar_blend;
        if (tr.cart_blend[0]) qq.cart_blend = tr.cart_blend;
    }
    q = &qq; /* the type may have changed */
    struct skip_ctx sc;
    memset(&sc, 0, sizeof sc);
    sc.cat = s->cat;
    sc.anchor = TL_CAT_NONE;
    if (q->item_id) sc.anchor = tl_catalog_find(s->cat, q->item_id);
    if (parse_exclude(q->exclude, &sc, err) != TL_OK) return TL_EINVAL;
    sc.category = q->category && *q->category ? q->category : NULL;
    sc.brand = q->brand && *q->brand ? q->brand : NULL;
    sc.min_price = isnan(q->min_price) ? 0 : q->min_price;
    sc.max_price = isnan(q->max_price) ? 0 : q->max_price;
    sc.div.max_cat = q->max_per_category;
    sc.div.max_brand = q->max_per_brand;
    sc.merch = e->merch;
    sc.type = q->type;
    sc.type_bit = tl_merch_type_bit(q->type);
    if (sc.min_price > 0 && sc.max_price > 0 && sc.min_price > sc.max_price)
        return tl_err_set(err, TL_EINVAL, "min_price", "min_price is above max_price");
    /* For a known shopper, popular and trending leave out what is already in
     * the cart (copied: the profile lock is not held while ranking). */
    char cart_buf[CART_EXCLUDE_MAX][TL_ID_MAX + 1];
    const char *cart_ids[CART_EXCLUDE_MAX];
    if ((q->user_id || q->anonymous_id) && strcmp(q->type, "recently_viewed") != 0) {
        char key[TL_USER_KEY_MAX];
        tl_engine_user_key(e, shop_id, q->user_id, q->anonymous_id, key);
        sc.fb_user = tl_feedback_user(shop_id, key);
        struct tl_profile *p;
        struct tl_pcache_guard g;
        if (tl_pcache_lock(e->profiles, shop_id, key, 0, &p, &g) == TL_OK) {
            const char *ids[CART_EXCLUDE_MAX];
            size_t n = tl_profile_cart_ids(p, ids, CART_EXCLUDE_MAX);
            for (size_t i = 0; i < n; i++) {
                snprintf(cart_buf[i], sizeof cart_buf[i], "%s", ids[i]);
                cart_ids[i] = cart_buf[i];
            }
            sc.n_bought = tl_profile_purchased_hashes(p, sc.bought, TL_PROFILE_PURCHASED_MAX);
            tl_pcache_unlock(&g);
            sc.exclude = cart_ids;
            sc.n_exclude = n;
            sc.rebuy = e->cfg.rebuy_categories;
        }
    }

    /* the id names the type, so clicks are attributed even after a restart */
    int type_index = tl_feedback_type_index(q->type);
    char rid[32], prefix[8];
    snprintf(prefix, sizeof prefix, "r_%s_", tl_feedback_type_code(type_index));
    tl_engine_random_id(prefix, rid, sizeof rid);
    tl_buf_puts(out, "{\"recommendation_id\":");
    tl_buf_json_str(out, rid);
    tl_buf_puts(out, ",\"type\":");
    tl_buf_json_str(out, q->type);
    enum tl_rc rc;
    if (strcmp(q->type, "popular") == 0)
        rc = recs_popular(e, s, &qq, &sc, TL_POP_POPULAR, out, err);
    else if (strcmp(q->type, "trending") == 0)
        rc = recs_popular(e, s, &qq, &sc, TL_POP_TRENDING, out, err);
    else if (strcmp(q->type, "recently_viewed") == 0)
        rc = recs_recent(e, s, shop_id, &qq, &sc, out, err);
    else if (strcmp(q->type, "bought_together") == 0)
        rc = recs_cooc(e, s, &qq, &sc, TL_COOC_BOUGHT_TOGETHER, 0, out, err);
    else if (strcmp(q->type, "also_bought") == 0)
        rc = recs_cooc(e, s, &qq, &sc, TL_COOC_ALSO_BOUGHT, 0, out, err);
    else if (strcmp(q->type, "also_viewed") == 0)
        rc = recs_cooc(e, s, &qq, &sc, TL_COOC_ALSO_VIEWED, 0, out, err);
    else if (strcmp(q->type, "cart") == 0)
        rc = tl_recs_cart_has_rules(s) ? tl_recs_cart(e, s, &qq, &sc, out, err)
                                       : recs_cooc(e, s, &qq, &sc, TL_COOC_BOUGHT_TOGETHER, 1, out, err);
    else if (strcmp(q->type, "for_you") == 0)
        rc = tl_recs_for_you(e, s, shop_id, &qq, &sc, out, err);
    else if (strcmp(q->type, "similar") == 0)
        rc = tl_recs_similar(e, s, &qq, &sc, out, err);
    else if (strcmp(q->type, "session") == 0)
        rc = tl_recs_session(e, s, shop_id, &qq, &sc, out, err);
    else
        rc = tl_err_set(err, TL_EINVAL, "type",
                        "unknown type \"%s\": expected for_you, similar, session, popular, trending, "
                        "recently_viewed, bought_together, also_bought, also_viewed or cart",
                        q->type);
    if (rc)
        tl_buf_reset(out); /* no half-written success body on error */
    else if (type_index >= 0)
        tl_feedback_served(e->fb, shop_id, type_index);
    return rc;
}
