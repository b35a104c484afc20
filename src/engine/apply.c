/* Applying committed events and imported orders to the real-time state:
 * the shopper's profile (always) and the shop's models (popularity,
 * co-occurrence), except on threads in profile-only mode (start-up replay,
 * imports).
 *
 * Catalog facts the profile needs (category, brand, price of the item) are
 * looked up under the catalog's read lock and copied before the profile is
 * locked. Lock order where two are held: profile shard, then catalog or a
 * model's lock (note_view; recs_recent in recs.c); the catalog lock is never
 * held while a profile lock is taken, so a writer waiting on the
 * (writer-preferring) catalog lock cannot close a cycle. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "engine/internal.h"

#define NAME_MAX_BYTES 128 /* category/brand copied per line */

static _Thread_local int profile_only; /* see tl_engine_apply_profile_only (internal.h) */

void tl_engine_apply_profile_only(struct tl_engine *e, int on) { profile_only = on; }

struct item_facts {
    uint32_t idx;
    char category[NAME_MAX_BYTES];
    char brand[NAME_MAX_BYTES];
    double price;
    int known;
};

/* out = s cut to NAME_MAX_BYTES - 1 bytes ("" for NULL), as snprintf did. */
static void copy_name(char *out, const char *s)
{
    size_t n = s ? strnlen(s, NAME_MAX_BYTES - 1) : 0;
    memcpy(out, s ? s : "", n);
    out[n] = 0;
}

static void facts(struct tl_shop_state *s, const char *item_id, struct item_facts *f)
{
    f->category[0] = f->brand[0] = 0;
    f->price = NAN;
    f->known = 0;
    f->idx = TL_CAT_NONE; /* items not in the catalog feed no model */
    if (!item_id) return;
    tl_catalog_rdlock(s->cat);
    f->idx = tl_catalog_find_locked(s->cat, item_id);
    const struct tl_item *it = f->idx == TL_CAT_NONE ? NULL : tl_catalog_get(s->cat, f->idx);
    if (it) {
        f->known = 1;
        copy_name(f->category, it->category);
        copy_name(f->brand, it->brand);
        f->price = it->price;
    }
    tl_catalog_unlock(s->cat);
}

/* Category and brand of every line of a purchase / return / order, for
 * the profile; purchases also count in the popularity and bought-together
 * models. One block
 * holds the pointer arrays and the copied names (caller frees `store`). */
struct line_facts {
    const char **cats, **brands;
    char *store;
};

static enum tl_rc resolve_lines(struct tl_shop_state *s, const struct tl_line *lines, size_t n, const char *country,
                                int64_t ts, int count_purchase, const char *customer, struct line_facts *out)
{
    memset(out, 0, sizeof *out);
    if (!n) return TL_OK;
    out->store = tl_malloc(n * (2 * sizeof(char *) + 2 * NAME_MAX_BYTES));
    if (!out->store) return TL_ENOMEM;
    out->cats = (const char **)(void *)out->store;
    out->brands = out->cats + n;
    char *names = (char *)(out->brands + n);
    uint32_t basket[TL_COOC_BASKET_MAX];
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        struct item_facts f;
        facts(s, lines[i].item_id, &f);
        char *c = names + 2 * i * NAME_MAX_BYTES, *b = c + NAME_MAX_BYTES;
        memcpy(c, f.category, NAME_MAX_BYTES);
        memcpy(b, f.brand, NAME_MAX_BYTES);
        out->cats[i] = f.known && c[0] ? c : NULL;
        out->brands[i] = f.known && b[0] ? b : NULL;
        if (count_purchase && f.known) {
            tl_pop_add(s->pop, f.idx, country, ts, TL_EV_PURCHASE, lines[i].quantity);
            if (nb < TL_COOC_BASKET_MAX) basket[nb++] = f.idx;
            if (customer) /* "also bought": the customer's set grows */
                tl_itemsets_grow(&s->bought_sets, tl_engine_customer_key(customer), f.idx, s->cooc,
                                 TL_COOC_ALSO_BOUGHT);
        }
    }
    /* A purchase is a basket for "bought together" (the model keeps the
     * first TL_COOC_BASKET_MAX distinct items). */
    if (nb) tl_cooc_add_basket(s->cooc, TL_COOC_BOUGHT_TOGETHER, basket, nb);
    return TL_OK;
}

#define SESSION_PAIRS_MAX 20 /* session items a new view pairs with (also viewed) */

/* "Also viewed": a product view joins the shopper's current session; it
 * pairs with the session's other items (the SESSION_PAIRS_MAX most recent,
 * to bound the work of one view), unless it was viewed in this session
 * already. Called with the profile locked, before (prev_ts) and after the
 * view is applied. */
static void note_view(struct tl_shop_state *s, const struct tl_profile *p, const char *item, int64_t prev_ts)
{
    uint32_t idx = tl_catalog_find(s->cat, item);
    int64_t start = 0, last = 0;
    if (idx == TL_CAT_NONE || !tl_profile_session(p, &start, &last)) return;
    if (prev_ts >= start) return; /* a repeat within the session */
    size_t nv = 0;
    const struct tl_profile_view *views = tl_profile_views(p, &nv);
    uint32_t existing[SESSION_PAIRS_MAX];
    size_t ne = 0;
    /* views are newest first; the model wants join order: fill backwards */
    for (size_t i = 0; i < nv && ne < SESSION_PAIRS_MAX; i++) {
        if (views[i].ts_ms < start || strcmp(views[i].item_id, item) == 0) continue;
        uint32_t j = tl_catalog_find(s->cat, views[i].item_id);
        if (j != TL_CAT_NONE) existing[ne++] = j;
    }
    for (size_t i = 0; i < ne / 2; i++) {
        uint32_t t = existing[i];
        existing[i] = existing[ne - 1 - i];
        existing[ne - 1 - i] = t;
    }
    tl_cooc_add_to_set(s->cooc, TL_COOC_ALSO_VIEWED, existing, ne, idx);
}

static int64_t last_view_of(const struct tl_profile *p, const char *item)
{
    size_t nv = 0;
    const struct tl_profile_view *views = tl_profile_views(p, &nv);
    for (size_t i = 0; i < nv; i++)
        if (strcmp(views[i].item_id, item) == 0) return views[i].ts_ms;
    return INT64_MIN;
}

/* An event as the profile takes it: its item's catalog facts (category,
 * brand, price) and its lines' (which pe points into). */
struct prepared {
    struct item_facts f;
    struct line_facts lf;
    struct tl_profile_event pe;
};

static void prepare(struct tl_shop_state *s, const struct tl_event *ev, struct prepared *pr)
{
    struct item_facts *f = &pr->f;
    facts(s, ev->item_id, f);
    pr->pe = (struct tl_profile_event){
        .type = ev->type,
        .ts_ms = ev->ts_ms,
        .session_id = ev->session_id,
        .item_id = ev->item_id,
        .category = ev->type == TL_EV_CATEGORY_VIEW ? ev->category : (f->known ? f->category : NULL),
        .brand = f->known ? f->brand : NULL,
        .price = !isnan(ev->price) ? ev->price : f->price,
        .quantity = ev->quantity,
        .dwell_ms = ev->dwell_ms,
        .scroll_depth = ev->scroll_depth,
        .country = ev->country,
        .order_id = ev->order_id,
        .lines = ev->lines,
        .n_lines = ev->n_lines,
    };

    /* Purchases and returns carry lines: resolve each line's category and
     * brand (and count purchases in the model). */
    if (resolve_lines(s, ev->lines, ev->n_lines, ev->country, ev->ts_ms, !profile_only && ev->type == TL_EV_PURCHASE,
                      ev->user_id, &pr->lf) == TL_OK &&
        ev->n_lines) {
        pr->pe.line_categories = pr->lf.cats;
        pr->pe.line_brands = pr->lf.brands;
    }
    if (!profile_only && f->known && (ev->type == TL_EV_PRODUCT_VIEW || ev->type == TL_EV_ADD_TO_CART))
        tl_pop_add(s->pop, f->idx, ev->country, ev->ts_ms, ev->type, isnan(ev->quantity) ? 1 : ev->quantity);
}

/* Apply prepared events pr[0..n) of the profile key in order, under one
 * lock of the profile. */
static void apply_profile(struct tl_engine *e, const struct tl_pcache_key *key, const struct prepared *pr, size_t n)
{
    struct tl_profile *p;
    struct tl_pcache_guard g;
    if (!n) return;
    if (tl_pcache_lock_key(e->profiles, key, 1, &p, &g) != TL_OK) {
        tl_warn("profile %s of shop %u could not be loaded; event not applied to it", key->s, key->shop);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct tl_profile_event *pe = &pr[i].pe;
        int view = !profile_only && pe->type == TL_EV_PRODUCT_VIEW && pe->item_id;
        int64_t prev_ts = view ? last_view_of(p, pe->item_id) : 0;
        tl_profile_apply(p, pe, &e->pparams);
        if (view) {
            struct tl_shop_state *s = tl_engine_shop(e, key->shop);
            if (s) note_view(s, p, pe->item_id, prev_ts);
        }
    }
    tl_pcache_mark_dirty(&g);
    tl_pcache_unlock(&g);
}

void tl_engine_profile_prefetch(struct tl_engine *e, const struct tl_pcache_key *key, int stage)
{
    tl_pcache_prefetch(e->profiles, key, stage);
}

void tl_engine_apply_event(struct tl_engine *e, const struct tl_event *ev)
{
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(e, ev->shop_id, ev->user_id, ev->anonymous_id, key);
    struct tl_pcache_key k;
    tl_pcache_key_init(&k, ev->shop_id, key);
    tl_engine_apply_event_as(e, ev, &k);
}

void tl_engine_apply_event_as(struct tl_engine *e, const struct tl_event *ev, const struct tl_pcache_key *key)
{
    struct tl_shop_state *s = tl_engine_shop(e, ev->shop_id);
    if (!s) return;
    struct prepared pr;
    prepare(s, ev, &pr);
    apply_profile(e, key, &pr, 1);
    tl_free(pr.lf.store);
    if (!profile_only) {
        tl_engine_feedback_event(e, ev);
        tl_engine_search_event(e, ev);
        tl_engine_exp_event(e, ev);
        tl_engine_analytics_event(e, ev);
    }
}

#define GROUP_CHUNK 8 /* events prepared, then applied under one lock of their profile */

void tl_engine_apply_events_as(struct tl_engine *e, const struct tl_event *const *evs, size_t n,
                               const struct tl_pcache_key *key)
{
    if (!profile_only) { /* the models' side effects keep the events' order with the profile's */
        for (size_t i = 0; i < n; i++) tl_engine_apply_event_as(e, evs[i], key);
        return;
    }
    struct tl_shop_state *s = tl_engine_shop(e, key->shop); /* the shop of every event of the key */
    if (!s) return;
    struct prepared pr[GROUP_CHUNK];
    for (size_t i = 0; i < n; i += GROUP_CHUNK) {
        size_t m = n - i < GROUP_CHUNK ? n - i : GROUP_CHUNK;
        /* catalog facts before the profile lock: the catalog lock is never
         * taken inside it */
        for (size_t t = 0; t < m; t++) prepare(s, evs[i + t], &pr[t]);
        apply_profile(e, key, pr, m);
        for (size_t t = 0; t < m; t++) tl_free(pr[t].lf.store);
    }
}

void tl_engine_feedback_event(struct tl_engine *e, const struct tl_event *ev)
{
    if (ev->type != TL_EV_REC_IMPRESSION && ev->type != TL_EV_REC_CLICK && ev->type != TL_EV_PURCHASE) return;
    struct tl_shop_state *s = tl_engine_shop(e, ev->shop_id);
    if (!s || !e->fb) return;
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(e, ev->shop_id, ev->user_id, ev->anonymous_id, key);
    uint64_t user = tl_feedback_user(ev->shop_id, key);
    int type = tl_feedback_type_of_rid(ev->recommendation_id);
    if (ev->type == TL_EV_REC_CLICK) {
        uint32_t idx = tl_catalog_find(s->cat, ev->item_id);
        if (idx != TL_CAT_NONE) tl_feedback_clicked(e->fb, ev->shop_id, user, type, idx, ev->ts_ms);
        return;
    }
    /* A click made as an anonymous visitor who has logged in since was
     * recorded under the anonymous key (a replay after a restart resolves
     * both to the customer): a purchase also looks there. */
    uint64_t alt[TL_PROFILE_ANON_MAX + 1];
    size_t n_alt = 0;
    if (ev->type == TL_EV_PURCHASE && key[0] == 'u') {
        char ak[TL_USER_KEY_MAX];
        if (ev->anonymous_id) {
            snprintf(ak, sizeof ak, "a:%s", ev->anonymous_id);
            alt[n_alt++] = tl_feedback_user(ev->shop_id, ak);
        }
        struct tl_profile *p;
        struct tl_pcache_guard g;
        if (tl_pcache_lock(e->profiles, ev->shop_id, key, 0, &p, &g) == TL_OK) {
            for (size_t i = 0; i < tl_profile_linked_count(p) && n_alt <= TL_PROFILE_ANON_MAX; i++) {
                const char *id = tl_profile_linked_id(p, i); /* a profile key ("a:<id>") */
                snprintf(ak, sizeof ak, "%s%s", strncmp(id, "a:", 2) == 0 ? "" : "a:", id);
                uint64_t h = tl_feedback_user(ev->shop_id, ak);
                if (!n_alt || alt[0] != h) alt[n_alt++] = h;
            }
            tl_pcache_unlock(&g);
        }
    }
    uint32_t items[64];
    size_t n = 0;
    for (size_t i = 0; i < ev->n_lines; i++) {
        uint32_t idx = tl_catalog_find(s->cat, ev->lines[i].item_id);
        if (idx == TL_CAT_NONE) continue;
        if (ev->type == TL_EV_PURCHASE) {
            double q = isnan(ev->lines[i].quantity) ? 1.0 : ev->lines[i].quantity;
            double p = isnan(ev->lines[i].price) ? 0.0 : ev->lines[i].price;
            int used = tl_feedback_purchased(e->fb, ev->shop_id, user, idx, q * p, ev->ts_ms);
            for (size_t a = 0; !used && a < n_alt; a++)
                used = tl_feedback_purchased(e->fb, ev->shop_id, alt[a], idx, q * p, ev->ts_ms);
        } else if (n < sizeof items / sizeof items[0]) {
            items[n++] = idx;
        }
    }
    if (ev->type == TL_EV_REC_IMPRESSION && n) tl_feedback_shown(e->fb, ev->shop_id, user, type, items, n, ev->ts_ms);
}

void tl_engine_apply_order(struct tl_engine *e, uint32_t shop_id, const struct tl_order *o, int to_models)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return;
    if (to_models && !profile_only) tl_engine_analytics_order(e, s, o);
    struct line_facts lf;
    if (resolve_lines(s, o->lines, o->n_lines, o->country, o->ts_ms, to_models && !profile_only && !o->is_return,
                      o->customer_id, &lf) != TL_OK)
        return;
    if (!o->customer_id) { /* guest order: no profile */
        tl_free(lf.store);
        return;
    }
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(e, shop_id, o->customer_id, NULL, key);
    struct prepared pr = {.pe = {
                              .type = o->is_return ? TL_EV_RETURN : TL_EV_PURCHASE,
                              .ts_ms = o->ts_ms,
                              .price = NAN,
                              .quantity = NAN,
                              .dwell_ms = -1,
                              .scroll_depth = NAN,
                              .country = o->country,
                              .order_id = o->id,
                              .lines = o->lines,
                              .n_lines = o->n_lines,
                              .line_categories = lf.cats,
                              .line_brands = lf.brands,
                          }};
    struct tl_pcache_key k;
    tl_pcache_key_init(&k, shop_id, key);
    apply_profile(e, &k, &pr, 1);
    tl_free(lf.store);
}
