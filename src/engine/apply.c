/* Applying committed events and imported orders to the real-time state:
 * the shopper's profile (always) and the shop's popularity model.
 *
 * Catalog facts the profile needs (category, brand, price of the item) are
 * looked up under the catalog's read lock and copied, so no lock is held
 * across the two structures. Lock order where both are held: catalog, then
 * profile shard; nothing takes them the other way round. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "engine/internal.h"

#define NAME_MAX_BYTES 128 /* category/brand copied per line */

static _Thread_local int profile_only; /* start-up replay: models already rebuilt */

void tl_engine_apply_profile_only(struct tl_engine *e, int on);
void tl_engine_apply_profile_only(struct tl_engine *e, int on) { profile_only = on; }

struct item_facts {
    uint32_t idx;
    char category[NAME_MAX_BYTES];
    char brand[NAME_MAX_BYTES];
    double price;
    int known;
};

static void facts(struct tl_shop_state *s, const char *item_id, struct item_facts *f)
{
    memset(f, 0, sizeof *f);
    f->price = NAN;
    f->idx = TL_CAT_NONE;
    if (!item_id) return;
    if (tl_catalog_intern(s->cat, item_id, &f->idx) != TL_OK) f->idx = TL_CAT_NONE;
    tl_catalog_rdlock(s->cat);
    const struct tl_item *it = f->idx == TL_CAT_NONE ? NULL : tl_catalog_get(s->cat, f->idx);
    if (it) {
        f->known = 1;
        snprintf(f->category, sizeof f->category, "%s", it->category ? it->category : "");
        snprintf(f->brand, sizeof f->brand, "%s", it->brand ? it->brand : "");
        f->price = it->price;
    }
    tl_catalog_unlock(s->cat);
}

#define APPLY_LINES_MAX TL_EVENT_LINES_MAX

static void apply_profile(struct tl_engine *e, uint32_t shop_id, const char *key, struct tl_profile_event *pe)
{
    struct tl_profile *p;
    struct tl_pcache_guard g;
    if (tl_pcache_lock(e->profiles, shop_id, key, 1, &p, &g) != TL_OK) {
        tl_warn("profile %s of shop %u could not be loaded; event not applied to it", key, shop_id);
        return;
    }
    tl_profile_apply(p, pe, &e->pparams);
    tl_pcache_mark_dirty(&g);
    tl_pcache_unlock(&g);
}

void tl_engine_apply_event(struct tl_engine *e, const struct tl_event *ev)
{
    struct tl_shop_state *s = tl_engine_shop(e, ev->shop_id);
    if (!s) return;
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(e, ev->shop_id, ev->user_id, ev->anonymous_id, key);

    struct item_facts f;
    facts(s, ev->item_id, &f);
    struct tl_profile_event pe = {
        .type = ev->type,
        .ts_ms = ev->ts_ms,
        .session_id = ev->session_id,
        .item_id = ev->item_id,
        .category = ev->type == TL_EV_CATEGORY_VIEW ? ev->category : (f.known ? f.category : NULL),
        .brand = f.known ? f.brand : NULL,
        .price = !isnan(ev->price) ? ev->price : f.price,
        .quantity = ev->quantity,
        .dwell_ms = ev->dwell_ms,
        .scroll_depth = ev->scroll_depth,
        .country = ev->country,
        .order_id = ev->order_id,
        .lines = ev->lines,
        .n_lines = ev->n_lines,
    };

    /* Purchases and returns carry lines: resolve each line's category and
     * brand. Static-size arrays: n_lines <= TL_EVENT_LINES_MAX (validated). */
    static _Thread_local char cats[APPLY_LINES_MAX][NAME_MAX_BYTES], brands[APPLY_LINES_MAX][NAME_MAX_BYTES];
    static _Thread_local const char *cat_ptrs[APPLY_LINES_MAX], *brand_ptrs[APPLY_LINES_MAX];
    size_t n = ev->n_lines < APPLY_LINES_MAX ? ev->n_lines : APPLY_LINES_MAX;
    for (size_t i = 0; i < n; i++) {
        struct item_facts lf;
        facts(s, ev->lines[i].item_id, &lf);
        snprintf(cats[i], sizeof cats[i], "%s", lf.category);
        snprintf(brands[i], sizeof brands[i], "%s", lf.brand);
        cat_ptrs[i] = lf.known && lf.category[0] ? cats[i] : NULL;
        brand_ptrs[i] = lf.known && lf.brand[0] ? brands[i] : NULL;
        if (!profile_only && ev->type == TL_EV_PURCHASE && lf.idx != TL_CAT_NONE)
            tl_pop_add(s->pop, lf.idx, ev->country, ev->ts_ms, TL_EV_PURCHASE, ev->lines[i].quantity);
    }
    if (n) {
        pe.line_categories = cat_ptrs;
        pe.line_brands = brand_ptrs;
    }
    if (!profile_only && f.idx != TL_CAT_NONE && (ev->type == TL_EV_PRODUCT_VIEW || ev->type == TL_EV_ADD_TO_CART))
        tl_pop_add(s->pop, f.idx, ev->country, ev->ts_ms, ev->type, isnan(ev->quantity) ? 1 : ev->quantity);

    apply_profile(e, ev->shop_id, key, &pe);
}

void tl_engine_apply_order(struct tl_engine *e, uint32_t shop_id, const struct tl_order *o, int to_models)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return;
    static _Thread_local char cats[APPLY_LINES_MAX][NAME_MAX_BYTES], brands[APPLY_LINES_MAX][NAME_MAX_BYTES];
    static _Thread_local const char *cat_ptrs[APPLY_LINES_MAX], *brand_ptrs[APPLY_LINES_MAX];
    size_t n = o->n_lines < APPLY_LINES_MAX ? o->n_lines : APPLY_LINES_MAX;
    for (size_t i = 0; i < n; i++) {
        struct item_facts lf;
        facts(s, o->lines[i].item_id, &lf);
        snprintf(cats[i], sizeof cats[i], "%s", lf.category);
        snprintf(brands[i], sizeof brands[i], "%s", lf.brand);
        cat_ptrs[i] = lf.known && lf.category[0] ? cats[i] : NULL;
        brand_ptrs[i] = lf.known && lf.brand[0] ? brands[i] : NULL;
        if (to_models && !o->is_return && lf.idx != TL_CAT_NONE)
            tl_pop_add(s->pop, lf.idx, o->country, o->ts_ms, TL_EV_PURCHASE, o->lines[i].quantity);
    }
    if (!o->customer_id) return; /* guest order: no profile */
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(e, shop_id, o->customer_id, NULL, key);
    struct tl_profile_event pe = {
        .type = o->is_return ? TL_EV_RETURN : TL_EV_PURCHASE,
        .ts_ms = o->ts_ms,
        .price = NAN,
        .quantity = NAN,
        .dwell_ms = -1,
        .scroll_depth = NAN,
        .country = o->country,
        .order_id = o->id,
        .lines = o->lines,
        .n_lines = n,
        .line_categories = cat_ptrs,
        .line_brands = brand_ptrs,
    };
    apply_profile(e, shop_id, key, &pe);
}
