/* Tests for src/profile/profile.c: sessions, recently viewed, cart, decayed
 * affinities (checked against the formula), price band, RFM, out-of-order
 * events, merge, JSON, binary round trip and corrupt blobs. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/timeutil.h"
#include "profile/profile.h"

#define T0 1700000000000LL /* 2023-11-14 */
#define MIN TL_MS_PER_MIN
#define DAY TL_MS_PER_DAY

static struct tl_profile_event ev(enum tl_event_type type, int64_t ts)
{
    struct tl_profile_event e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.ts_ms = ts;
    e.price = NAN;
    e.quantity = NAN;
    e.dwell_ms = -1;
    e.scroll_depth = NAN;
    return e;
}

static void view(struct tl_profile *p, const char *item, int64_t ts, const char *cat, const char *brand, double price)
{
    struct tl_profile_event e = ev(TL_EV_PRODUCT_VIEW, ts);
    e.item_id = item;
    e.category = cat;
    e.brand = brand;
    e.price = price;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
}

static void cart(struct tl_profile *p, enum tl_event_type t, const char *item, double qty, double price, int64_t ts)
{
    struct tl_profile_event e = ev(t, ts);
    e.item_id = item;
    e.quantity = qty;
    e.price = price;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
}

static json_t *to_json(const struct tl_profile *p, int64_t now)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_profile_to_json(p, now, &b), TL_OK);
    json_error_t je;
    json_t *j = json_loadb(b.data, b.len, 0, &je);
    cr_assert_not_null(j, "invalid JSON: %s in %s", je.text, b.data);
    tl_buf_free(&b);
    return j;
}

static void blob(const struct tl_profile *p, struct tl_buf *b)
{
    tl_buf_init(b, 0);
    cr_assert_eq(tl_profile_serialize(p, b), TL_OK);
}

/* A profile touching every field. */
static struct tl_profile *rich(void)
{
    struct tl_profile *p = tl_profile_new("cust-1");
    cr_assert_not_null(p);
    for (int i = 0; i < 55; i++) {
        char id[16];
        snprintf(id, sizeof id, "sku-%d", i);
        struct tl_profile_event e = ev(TL_EV_PRODUCT_VIEW, T0 + i * MIN);
        e.item_id = id;
        e.category = i % 2 ? "Home > Kitchen > Mugs" : "Garden > Tools";
        e.brand = i % 3 ? "Acme" : "Bolt";
        e.price = 5 + i;
        e.dwell_ms = i * 500;
        e.scroll_depth = (i % 10) / 10.0;
        e.country = "gb";
        e.session_id = i < 30 ? "s1" : "s2";
        cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    }
    cart(p, TL_EV_ADD_TO_CART, "sku-1", 2, 9.5, T0 + 60 * MIN);
    cart(p, TL_EV_ADD_TO_CART, "sku-2", NAN, NAN, T0 + 61 * MIN);
    struct tl_line lines[2] = {{"sku-3", 1, 12.0}, {"sku-4", 2, 3.5}};
    const char *cats[2] = {"Home > Kitchen > Mugs", NULL};
    struct tl_profile_event e = ev(TL_EV_PURCHASE, T0 + 62 * MIN);
    e.order_id = "o-1";
    e.lines = lines;
    e.n_lines = 2;
    e.line_categories = cats;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    e = ev(TL_EV_RETURN, T0 + 63 * MIN);
    e.lines = lines;
    e.n_lines = 1;
    e.line_categories = cats;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    e = ev(TL_EV_SEARCH, T0 + 64 * MIN);
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    struct tl_profile *a = tl_profile_new("anon-9");
    view(a, "sku-x", T0 - DAY, "Toys", "Zed", 20);
    cr_assert_eq(tl_profile_merge(p, a), TL_OK);
    tl_profile_free(a);
    return p;
}

Test(profile, new_rejects_bad_keys)
{
    cr_assert_null(tl_profile_new(NULL));
    cr_assert_null(tl_profile_new(""));
    char big[TL_PROFILE_KEY_MAX + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cr_assert_null(tl_profile_new(big));
    big[TL_PROFILE_KEY_MAX] = 0;
    struct tl_profile *p = tl_profile_new(big);
    cr_assert_not_null(p);
    cr_assert_str_eq(tl_profile_user_key(p), big);
    cr_assert_str_eq(tl_profile_country(p), "");
    cr_assert_null(tl_profile_session(p, NULL, NULL));
    tl_profile_free(p);
}

Test(profile, session_split_after_30_minutes)
{
    struct tl_profile *p = tl_profile_new("u1");
    view(p, "a", T0, NULL, NULL, NAN);
    view(p, "b", T0 + 29 * MIN, NULL, NULL, NAN);
    int64_t start, last;
    const char *sid = tl_profile_session(p, &start, &last);
    cr_assert_str_eq(sid, "u1-1700000000000");
    cr_assert_eq(start, T0);
    cr_assert_eq(last, T0 + 29 * MIN);
    cr_assert_eq(tl_profile_sessions_total(p), 1);
    /* exactly 30 minutes of inactivity still continues */
    view(p, "c", T0 + 59 * MIN, NULL, NULL, NAN);
    cr_assert_eq(tl_profile_sessions_total(p), 1);
    /* 30 minutes + 1 ms splits */
    view(p, "d", T0 + 89 * MIN + 1, NULL, NULL, NAN);
    cr_assert_eq(tl_profile_sessions_total(p), 2);
    sid = tl_profile_session(p, &start, &last);
    cr_assert_eq(start, T0 + 89 * MIN + 1);
    char want[64];
    snprintf(want, sizeof want, "u1-%lld", (long long)(T0 + 89 * MIN + 1));
    cr_assert_str_eq(sid, want);
    json_t *j = to_json(p, T0 + 90 * MIN);
    json_t *s = json_object_get(j, "session");
    cr_assert_eq(json_integer_value(json_object_get(s, "views")), 1);
    cr_assert(json_is_true(json_object_get(s, "active")));
    json_decref(j);
    j = to_json(p, T0 + 200 * MIN);
    cr_assert(json_is_false(json_object_get(json_object_get(j, "session"), "active")));
    json_decref(j);
    tl_profile_free(p);
}

Test(profile, session_id_change_and_custom_timeout)
{
    struct tl_profile *p = tl_profile_new("u1");
    struct tl_profile_params prm = {TL_PROFILE_HALF_LIFE_DEFAULT_MS, 5 * MIN};
    struct tl_profile_event e = ev(TL_EV_SEARCH, T0);
    e.session_id = "abc";
    cr_assert_eq(tl_profile_apply(p, &e, &prm), TL_OK);
    e.ts_ms = T0 + MIN;
    cr_assert_eq(tl_profile_apply(p, &e, &prm), TL_OK);
    cr_assert_eq(tl_profile_sessions_total(p), 1);
    e.session_id = "def";
    e.ts_ms = T0 + 2 * MIN;
    cr_assert_eq(tl_profile_apply(p, &e, &prm), TL_OK);
    cr_assert_eq(tl_profile_sessions_total(p), 2);
    cr_assert_str_eq(tl_profile_session(p, NULL, NULL), "def");
    /* 6 minutes later with the same id: the 5-minute timeout splits */
    e.ts_ms = T0 + 8 * MIN;
    cr_assert_eq(tl_profile_apply(p, &e, &prm), TL_OK);
    cr_assert_eq(tl_profile_sessions_total(p), 3);
    /* an old event of a past session leaves the current one alone */
    e.session_id = "abc";
    e.ts_ms = T0 + MIN / 2;
    cr_assert_eq(tl_profile_apply(p, &e, &prm), TL_OK);
    int64_t start;
    cr_assert_str_eq(tl_profile_session(p, &start, NULL), "def");
    cr_assert_eq(start, T0 + 8 * MIN);
    cr_assert_eq(tl_profile_sessions_total(p), 3);
    cr_assert_eq(tl_profile_count(p, TL_EV_SEARCH), 5);
    json_t *j = to_json(p, T0 + 8 * MIN);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "session"), "searches")), 1);
    json_decref(j);
    tl_profile_free(p);
}

Test(profile, recently_viewed_dedupe_cap_and_order)
{
    struct tl_profile *p = tl_profile_new("u");
    for (int i = 0; i < 60; i++) {
        char id[16];
        snprintf(id, sizeof id, "i%d", i);
        view(p, id, T0 + i * 1000, NULL, NULL, NAN);
    }
    const char *ids[64];
    size_t n = tl_profile_recent_ids(p, ids, 64);
    cr_assert_eq(n, TL_PROFILE_RECENT_MAX);
    cr_assert_str_eq(ids[0], "i59");
    cr_assert_str_eq(ids[49], "i10");
    /* re-view moves to the front, keeps max dwell / scroll */
    struct tl_profile_event e = ev(TL_EV_PRODUCT_VIEW, T0 + 100000);
    e.item_id = "i20";
    e.dwell_ms = 4000;
    e.scroll_depth = 0.3;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    e.ts_ms = T0 + 100001;
    e.dwell_ms = 1000;
    e.scroll_depth = 0.8;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    size_t nv;
    const struct tl_profile_view *v = tl_profile_views(p, &nv);
    cr_assert_eq(nv, 50);
    cr_assert_str_eq(v[0].item_id, "i20");
    cr_assert_eq(v[0].ts_ms, T0 + 100001);
    cr_assert_eq(v[0].dwell_ms, 4000);
    cr_assert_float_eq(v[0].scroll, 0.8f, 1e-6);
    cr_assert_str_eq(v[1].item_id, "i59");
    for (size_t i = 0; i < nv; i++)
        for (size_t k = i + 1; k < nv; k++) cr_assert_str_neq(v[i].item_id, v[k].item_id);
    /* out of order: older than everything kept is ignored when full */
    view(p, "old", T0 - 5000, NULL, NULL, NAN);
    n = tl_profile_recent_ids(p, ids, 64);
    for (size_t i = 0; i < n; i++) cr_assert_str_neq(ids[i], "old");
    /* out of order in the middle goes to its place by timestamp */
    view(p, "mid", T0 + 30500, NULL, NULL, NAN);
    v = tl_profile_views(p, &nv);
    for (size_t i = 1; i < nv; i++) cr_assert_geq(v[i - 1].ts_ms, v[i].ts_ms);
    size_t pos = 0;
    while (strcmp(v[pos].item_id, "mid") != 0) pos++;
    cr_assert_str_eq(v[pos - 1].item_id, "i31");
    cr_assert_str_eq(v[pos + 1].item_id, "i30");
    /* an older re-view of a kept item does not move it forward */
    view(p, "i59", T0 + 1, NULL, NULL, NAN);
    v = tl_profile_views(p, &nv);
    cr_assert_str_eq(v[1].item_id, "i59");
    cr_assert_eq(v[1].ts_ms, T0 + 59000);
    tl_profile_free(p);
}

/* Recently viewed against a plain model of its rules (newest first; a
 * re-view keeps the max dwell / scroll and the latest time and moves to
 * its place; a full list ignores views older than its oldest and drops its
 * oldest for a newer one; equal times: the most recently applied first),
 * over random views of ids of every storage class (pool slot: < 32 bytes;
 * own allocation: 32 and more), times mostly rising with some going back,
 * and a serialize / deserialize round trip every 97 views after which the
 * copy carries on. */
struct ref_view {
    char id[128];
    int64_t ts;
    int32_t dwell;
    float scroll;
};

static void ref_apply(struct ref_view *r, size_t *n, const char *id, int64_t ts, int32_t dwell, float scroll)
{
    struct ref_view v;
    size_t i = 0;
    while (i < *n && strcmp(r[i].id, id) != 0) i++;
    if (i < *n) {
        v = r[i];
        if (ts > v.ts) v.ts = ts;
        if (dwell > v.dwell) v.dwell = dwell;
        if (!isnan(scroll) && (isnan(v.scroll) || scroll > v.scroll)) v.scroll = scroll;
        memmove(&r[i], &r[i + 1], (*n - i - 1) * sizeof *r);
        (*n)--;
    } else {
        if (*n == TL_PROFILE_RECENT_MAX && ts < r[*n - 1].ts) return;
        if (*n == TL_PROFILE_RECENT_MAX) (*n)--;
        snprintf(v.id, sizeof v.id, "%s", id);
        v.ts = ts;
        v.dwell = dwell;
        v.scroll = scroll;
    }
    size_t pos = 0;
    while (pos < *n && r[pos].ts > v.ts) pos++;
    memmove(&r[pos + 1], &r[pos], (*n - pos) * sizeof *r);
    r[pos] = v;
    (*n)++;
}

static void expect_views(const struct tl_profile *p, const struct ref_view *r, size_t n, long step)
{
    size_t nv;
    const struct tl_profile_view *v = tl_profile_views(p, &nv);
    cr_assert_eq(nv, n, "step %ld: %zu views, expected %zu", step, nv, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(v[i].item_id, r[i].id, "step %ld, view %zu", step, i);
        cr_assert_eq(v[i].ts_ms, r[i].ts, "step %ld, view %zu", step, i);
        cr_assert_eq(v[i].dwell_ms, r[i].dwell, "step %ld, view %zu", step, i);
        cr_assert(isnan(r[i].scroll) ? isnan(v[i].scroll) : v[i].scroll == r[i].scroll, "step %ld, view %zu", step, i);
    }
    const char *ids[TL_PROFILE_RECENT_MAX];
    cr_assert_eq(tl_profile_recent_ids(p, ids, TL_PROFILE_RECENT_MAX), n);
    for (size_t i = 0; i < n; i++) cr_assert_str_eq(ids[i], r[i].id);
}

Test(profile, recently_viewed_matches_reference_model)
{
    static const size_t lens[] = {1, 3, 8, 30, 31, 32, 33, 64, 127};
    char ids[90][128];
    for (int k = 0; k < 90; k++) {
        size_t len = lens[k % 9];
        for (size_t c = 0; c < len; c++) ids[k][c] = (char)('a' + (k * 7 + (int)c) % 26);
        ids[k][0] = (char)('0' + k / 10); /* distinct two-digit prefixes, then the filler */
        if (len >= 2) ids[k][1] = (char)('0' + k % 10);
        ids[k][len] = 0;
    }
    struct tl_profile *p = tl_profile_new("u:ref");
    for (int level = 0; level < 4; level++) { /* an empty profile: no lists yet */
        tl_profile_prefetch(p, level);
        tl_profile_prefetch(NULL, level);
    }
    struct ref_view ref[TL_PROFILE_RECENT_MAX];
    size_t n = 0;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int64_t now = T0;
    for (long step = 0; step < 20000; step++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        /* a working set that drifts: mostly among 60 ids, sometimes any */
        int k = (int)((seed >> 8) % 100) < 85 ? (int)((step / 500 + (seed >> 20) % 60) % 90) : (int)((seed >> 20) % 90);
        int back = (seed >> 40) % 10 == 0; /* one view in ten goes back in time */
        int64_t ts = back ? now - (int64_t)((seed >> 44) % 200000) : (now += (int64_t)((seed >> 44) % 3));
        int32_t dwell = (seed >> 30) % 4 == 0 ? -1 : (int32_t)((seed >> 32) % 30000);
        float scroll = (seed >> 50) % 3 == 0 ? NAN : (float)((seed >> 52) % 101) / 100.0f;
        struct tl_profile_event e = ev(TL_EV_PRODUCT_VIEW, ts);
        e.item_id = ids[k];
        e.dwell_ms = dwell;
        e.scroll_depth = scroll;
        tl_profile_prefetch(p, (int)(step % 4)); /* a hint: changes nothing */
        cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
        ref_apply(ref, &n, ids[k], ts, dwell, scroll);
        expect_views(p, ref, n, step);
        if (step % 97 == 96) {
            struct tl_buf b;
            blob(p, &b);
            struct tl_profile *q = NULL;
            cr_assert_eq(tl_profile_deserialize(b.data, b.len, &q, NULL), TL_OK);
            expect_views(q, ref, n, step);
            tl_buf_free(&b);
            tl_profile_free(p);
            p = q;
        }
    }
    cr_assert_eq(n, TL_PROFILE_RECENT_MAX);
    tl_profile_free(p);
}

/* The serializer's hints (levels 2 and 3: every list, then the strings
 * they point to) on a profile with all of them: viewed ids pooled and long,
 * cart lines, both affinities, linked ids, orders and purchases. Reading
 * them changes nothing (same blob before and after; the sanitizers check
 * that level 3 reads only live pointers). */
Test(profile, serializer_hints_change_nothing)
{
    struct tl_profile *p = rich();
    char id[80];
    for (int i = 0; i < 6; i++) { /* ids too long for a pool slot */
        snprintf(id, sizeof id, "a-viewed-item-id-longer-than-a-pool-slot-%d", i);
        view(p, id, T0 + (70 + i) * MIN, "Garden > Tools", "Acme", 7.0);
    }
    struct tl_buf before, after;
    blob(p, &before);
    for (int level = 0; level < 4; level++) tl_profile_prefetch(p, level);
    blob(p, &after);
    cr_assert_eq(before.len, after.len);
    cr_assert_eq(memcmp(before.data, after.data, before.len), 0);
    tl_buf_free(&before);
    tl_buf_free(&after);
    tl_profile_free(p);
}

Test(profile, longest_session_id_kept_whole)
{
    char sid[TL_PROFILE_SESSION_ID_MAX + 1];
    memset(sid, 's', TL_PROFILE_SESSION_ID_MAX);
    sid[TL_PROFILE_SESSION_ID_MAX] = 0;
    struct tl_profile *p = tl_profile_new("u:long");
    struct tl_profile_event e = ev(TL_EV_PAGE_VIEW, T0);
    e.session_id = sid;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_str_eq(tl_profile_session(p, NULL, NULL), sid);
    struct tl_buf b;
    blob(p, &b);
    struct tl_profile *q = NULL;
    cr_assert_eq(tl_profile_deserialize(b.data, b.len, &q, NULL), TL_OK);
    cr_assert_str_eq(tl_profile_session(q, NULL, NULL), sid);
    /* the same id continues the session; one byte more is refused */
    e.ts_ms = T0 + 1000;
    cr_assert_eq(tl_profile_apply(q, &e, NULL), TL_OK);
    cr_assert_eq(tl_profile_sessions_total(q), 1);
    char over[TL_PROFILE_SESSION_ID_MAX + 2];
    memset(over, 's', TL_PROFILE_SESSION_ID_MAX + 1);
    over[TL_PROFILE_SESSION_ID_MAX + 1] = 0;
    e.session_id = over;
    cr_assert_eq(tl_profile_apply(q, &e, NULL), TL_EINVAL);
    cr_assert_str_eq(tl_profile_session(q, NULL, NULL), sid);
    /* a merge carries the newer session over */
    struct tl_profile *c = tl_profile_new("u:cust");
    struct tl_profile_event o = ev(TL_EV_PAGE_VIEW, T0 - DAY);
    o.session_id = "old";
    cr_assert_eq(tl_profile_apply(c, &o, NULL), TL_OK);
    cr_assert_eq(tl_profile_merge(c, q), TL_OK);
    cr_assert_str_eq(tl_profile_session(c, NULL, NULL), sid);
    tl_buf_free(&b);
    tl_profile_free(c);
    tl_profile_free(q);
    tl_profile_free(p);
}

Test(profile, cart_add_remove_purchase)
{
    struct tl_profile *p = tl_profile_new("u");
    cart(p, TL_EV_ADD_TO_CART, "a", 2, 10, T0);
    cart(p, TL_EV_ADD_TO_CART, "a", NAN, 11, T0 + 1);
    cart(p, TL_EV_ADD_TO_CART, "b", 1, NAN, T0 + 2);
    cart(p, TL_EV_ADD_TO_CART, "c", 4, 1, T0 + 3);
    size_t n;
    const struct tl_profile_cart_line *l = tl_profile_cart(p, &n);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(l[0].item_id, "a");
    cr_assert_float_eq(l[0].quantity, 3, 1e-12);
    cr_assert_float_eq(l[0].price, 11, 1e-12);
    cr_assert_eq(l[0].added_ms, T0);
    cr_assert(isnan(l[1].price));
    cart(p, TL_EV_REMOVE_FROM_CART, "a", 1, NAN, T0 + 4);
    l = tl_profile_cart(p, &n);
    cr_assert_float_eq(l[0].quantity, 2, 1e-12);
    cart(p, TL_EV_REMOVE_FROM_CART, "a", 5, NAN, T0 + 5);   /* below zero removes */
    cart(p, TL_EV_REMOVE_FROM_CART, "zzz", 1, NAN, T0 + 5); /* unknown: no-op */
    cart(p, TL_EV_REMOVE_FROM_CART, "b", NAN, NAN, T0 + 6); /* no quantity: whole line */
    const char *ids[8];
    cr_assert_eq(tl_profile_cart_ids(p, ids, 8), 1);
    cr_assert_str_eq(ids[0], "c");
    cart(p, TL_EV_ADD_TO_CART, "d", 1, 5, T0 + 7);
    cart(p, TL_EV_ADD_TO_CART, "e", 1, 5, T0 + 100);
    /* purchase of c empties that line only */
    struct tl_profile_event e = ev(TL_EV_PURCHASE, T0 + 8);
    e.item_id = "c";
    e.quantity = 4;
    e.price = 1;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_eq(tl_profile_cart_ids(p, ids, 8), 2);
    cr_assert_str_eq(ids[0], "d");
    /* a purchase listing no item empties lines added at or before it */
    e = ev(TL_EV_PURCHASE, T0 + 50);
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_eq(tl_profile_cart_ids(p, ids, 8), 1);
    cr_assert_str_eq(ids[0], "e");
    tl_profile_free(p);
}

Test(profile, cart_cap_drops_oldest_line)
{
    struct tl_profile *p = tl_profile_new("u");
    for (int i = 0; i < TL_PROFILE_CART_MAX + 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        cart(p, TL_EV_ADD_TO_CART, id, 1, 1, T0 + i);
    }
    size_t n;
    const struct tl_profile_cart_line *l = tl_profile_cart(p, &n);
    cr_assert_eq(n, TL_PROFILE_CART_MAX);
    for (size_t i = 0; i < n; i++) cr_assert_geq(l[i].added_ms, T0 + 5);
    tl_profile_free(p);
}

Test(profile, decay_half_life_exact)
{
    struct tl_profile *p = tl_profile_new("u");
    int64_t now = T0 + 100 * DAY;
    view(p, "x", now - 14 * DAY, "Shoes", "Nike", NAN);
    view(p, "y", now, "Hats", "Puma", NAN);
    view(p, "z", now - 28 * DAY, "Socks", NULL, NAN);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "Hats", now), 1.0, 1e-12);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "Shoes", now), 0.5, 1e-12);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "Socks", now), 0.25, 1e-12);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_BRAND, "Nike", now), 0.5, 1e-12);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_BRAND, "Nike", now + 14 * DAY), 0.25, 1e-12);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "Nope", now), 0.0, 1e-12);
    /* a second view of Shoes now: 1 + 0.5 */
    view(p, "x2", now, "Shoes", NULL, NAN);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "Shoes", now), 1.5, 1e-12);
    /* general formula at an arbitrary time, custom half-life */
    struct tl_profile *q = tl_profile_new("v");
    struct tl_profile_params prm = {7 * DAY, 30 * MIN};
    int64_t ts[3] = {T0, T0 + 3 * DAY + 17, T0 + 9 * DAY};
    for (int i = 0; i < 3; i++) {
        struct tl_profile_event e = ev(TL_EV_ADD_TO_CART, ts[i]);
        e.item_id = "k";
        e.category = "Cat";
        cr_assert_eq(tl_profile_apply(q, &e, &prm), TL_OK);
    }
    int64_t at = T0 + 20 * DAY;
    double want = 0;
    for (int i = 0; i < 3; i++) want += 3.0 * exp2(-(double)(at - ts[i]) / (double)(7 * DAY));
    cr_assert_float_eq(tl_profile_affinity(q, TL_PROFILE_CATEGORY, "Cat", at), want, 1e-12);
    tl_profile_free(q);
    tl_profile_free(p);
}

Test(profile, weights_by_event_type_and_category_paths)
{
    struct tl_profile *p = tl_profile_new("u");
    struct tl_profile_event e = ev(TL_EV_PRODUCT_VIEW, T0);
    e.item_id = "a";
    e.category = "Home > Kitchen > Mugs";
    e.brand = "B1";
    e.dwell_ms = 10000;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "Home > Kitchen > Mugs", T0), 1.5, 1e-12);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "Home", T0), 0.75, 1e-12);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "Home > Kitchen", T0), 0, 1e-12);
    e.dwell_ms = 9999;
    e.scroll_depth = 0.5;
    e.brand = "B2";
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_BRAND, "B2", T0), 1.5, 1e-12);
    e.scroll_depth = 0.49;
    e.brand = "B3";
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_BRAND, "B3", T0), 1.0, 1e-12);
    e = ev(TL_EV_CATEGORY_VIEW, T0);
    e.category = "Garden";
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "Garden", T0), 0.5, 1e-12);
    e = ev(TL_EV_ADD_TO_CART, T0);
    e.item_id = "c";
    e.brand = "B4";
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_BRAND, "B4", T0), 3.0, 1e-12);
    e.type = TL_EV_PURCHASE;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_BRAND, "B4", T0), 8.0, 1e-12);
    e.type = TL_EV_RETURN;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_BRAND, "B4", T0), 5.0, 1e-12);
    /* returns clamp at zero and drop the entry */
    e.brand = "B3";
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_BRAND, "B3", T0), 0, 1e-12);
    e.brand = "never-seen";
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    const char *names[40];
    double sc[40];
    size_t n = tl_profile_top_affinities(p, TL_PROFILE_BRAND, T0, names, sc, 40);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(names[0], "B4");
    cr_assert_str_eq(names[1], "B1");
    cr_assert_str_eq(names[2], "B2");
    /* over-long names are truncated at a UTF-8 boundary, not rejected */
    char longname[600];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    longname[TL_PROFILE_NAME_MAX - 1] = (char)0xC3; /* 2-byte char straddling the limit */
    longname[TL_PROFILE_NAME_MAX] = (char)0xA9;
    e = ev(TL_EV_CATEGORY_VIEW, T0);
    e.category = longname;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    n = tl_profile_top_affinities(p, TL_PROFILE_CATEGORY, T0, names, sc, 40);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (names[i][0] == 'x') {
            cr_assert_eq(strlen(names[i]), TL_PROFILE_NAME_MAX - 1);
            found = 1;
        }
    cr_assert(found);
    tl_profile_free(p);
}

Test(profile, affinity_top32_evicts_lowest)
{
    struct tl_profile *p = tl_profile_new("u");
    /* category i gets i+1 views */
    for (int i = 0; i < 40; i++) {
        char c[16];
        snprintf(c, sizeof c, "cat%02d", i);
        for (int k = 0; k <= i; k++) {
            struct tl_profile_event e = ev(TL_EV_CATEGORY_VIEW, T0);
            e.category = c;
            cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
        }
    }
    const char *names[40];
    double sc[40];
    size_t n = tl_profile_top_affinities(p, TL_PROFILE_CATEGORY, T0, names, sc, 40);
    cr_assert_eq(n, TL_PROFILE_AFF_MAX);
    cr_assert_str_eq(names[0], "cat39");
    cr_assert_float_eq(sc[0], 20.0, 1e-9);
    for (size_t i = 1; i < n; i++) cr_assert_geq(sc[i - 1], sc[i]);
    /* each newcomer evicted the lowest: the 32 strongest survive */
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "cat07", T0), 0, 1e-12);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "cat08", T0), 4.5, 1e-12);
    cr_assert_str_eq(names[n - 1], "cat08");
    /* the survivors are mostly the strongest; a weak newcomer does not enter */
    struct tl_profile_event e = ev(TL_EV_CATEGORY_VIEW, T0 - 365 * DAY);
    e.category = "weak";
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "weak", T0), 0, 1e-12);
    /* a strong newcomer evicts the current lowest */
    double low = sc[n - 1];
    const char *low_name = names[n - 1];
    char low_copy[32];
    snprintf(low_copy, sizeof low_copy, "%s", low_name);
    e = ev(TL_EV_PURCHASE, T0);
    e.item_id = "big";
    e.category = "strong";
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, "strong", T0), 5.0, 1e-12);
    cr_assert_float_eq(tl_profile_affinity(p, TL_PROFILE_CATEGORY, low_copy, T0), 0, 1e-12);
    cr_assert_lt(low, 5.0);
    tl_profile_free(p);
}

Test(profile, out_of_order_events_same_result)
{
    int64_t ts[6] = {T0 + 5 * DAY, T0, T0 + 20 * DAY, T0 + 3 * DAY, T0 + 20 * DAY - 1, T0 + 9 * DAY};
    double prices[6] = {10, 30, 50, 20, 40, 60};
    struct tl_profile *a = tl_profile_new("u"), *b = tl_profile_new("u");
    /* a in the given (shuffled) order, b sorted by time */
    int order[6] = {1, 3, 0, 5, 4, 2};
    for (int i = 0; i < 6; i++) view(a, "x", ts[i], "C", "B", prices[i]);
    for (int i = 0; i < 6; i++) view(b, "x", ts[order[i]], "C", "B", prices[order[i]]);
    int64_t now = T0 + 30 * DAY;
    double want = 0;
    for (int i = 0; i < 6; i++) want += exp2(-(double)(now - ts[i]) / (double)(14 * DAY));
    cr_assert_float_eq(tl_profile_affinity(a, TL_PROFILE_CATEGORY, "C", now), want, 1e-12);
    cr_assert_float_eq(tl_profile_affinity(b, TL_PROFILE_CATEGORY, "C", now), want, 1e-12);
    double ma, la, ha, mb, lb, hb;
    cr_assert(tl_profile_price_band(a, &ma, &la, &ha));
    cr_assert(tl_profile_price_band(b, &mb, &lb, &hb));
    cr_assert_float_eq(ma, mb, 1e-9);
    cr_assert_float_eq(ha, hb, 1e-9);
    /* the decayed mean by the formula */
    double sw = 0, swx = 0;
    for (int i = 0; i < 6; i++) {
        double w = exp2(-(double)(now - ts[i]) / (double)(14 * DAY));
        sw += w;
        swx += w * prices[i];
    }
    cr_assert_float_eq(ma, swx / sw, 1e-9);
    cr_assert_eq(tl_profile_first_seen(a), T0);
    cr_assert_eq(tl_profile_last_seen(a), T0 + 20 * DAY);
    size_t n;
    cr_assert_eq(tl_profile_views(a, &n)[0].ts_ms, T0 + 20 * DAY);
    tl_profile_free(a);
    tl_profile_free(b);
}

Test(profile, price_band)
{
    struct tl_profile *p = tl_profile_new("u");
    double m, lo, hi;
    cr_assert_eq(tl_profile_price_band(p, &m, &lo, &hi), 0);
    view(p, "a", T0, NULL, NULL, 10);
    view(p, "b", T0, NULL, NULL, 20);
    view(p, "c", T0, NULL, NULL, 30);
    view(p, "d", T0, NULL, NULL, NAN); /* unpriced: ignored */
    cr_assert(tl_profile_price_band(p, &m, &lo, &hi));
    double sd = sqrt(200.0 / 3.0);
    cr_assert_float_eq(m, 20, 1e-9);
    cr_assert_float_eq(lo, 20 - sd, 1e-9);
    cr_assert_float_eq(hi, 20 + sd, 1e-9);
    cr_assert_str_eq(tl_profile_price_label(m, 25, 100), "low");
    cr_assert_str_eq(tl_profile_price_label(m, 10, 100), "mid");
    cr_assert_str_eq(tl_profile_price_label(m, 5, 15), "high");
    /* decay: 100 viewed 14 days before 10 -> weights 0.5 and 1 */
    struct tl_profile *q = tl_profile_new("v");
    view(q, "a", T0, NULL, NULL, 100);
    view(q, "b", T0 + 14 * DAY, NULL, NULL, 10);
    cr_assert(tl_profile_price_band(q, &m, &lo, &hi));
    cr_assert_float_eq(m, 40, 1e-9);
    /* weighted variance: (0.5*60^2 + 1*30^2)/1.5 = 1800 */
    cr_assert_float_eq(hi - m, sqrt(1800.0), 1e-9);
    cr_assert_float_eq(lo, 0, 1e-12); /* clamped */
    /* cart weight 3 */
    struct tl_profile *r = tl_profile_new("w");
    view(r, "a", T0, NULL, NULL, 10);
    cart(r, TL_EV_ADD_TO_CART, "b", 1, 50, T0);
    cr_assert(tl_profile_price_band(r, &m, NULL, NULL));
    cr_assert_float_eq(m, 40, 1e-9);
    tl_profile_free(p);
    tl_profile_free(q);
    tl_profile_free(r);
}

Test(profile, rfm_and_purchased_set)
{
    struct tl_profile *p = tl_profile_new("u");
    struct tl_line lines[2] = {{"a", 2, 10}, {"b", NAN, 5}};
    struct tl_profile_event e = ev(TL_EV_PURCHASE, T0 + DAY);
    e.order_id = "o1";
    e.lines = lines;
    e.n_lines = 2;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    e.ts_ms = T0 + DAY + 1; /* same order again (a second event of it) */
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    struct tl_profile_rfm r;
    tl_profile_rfm(p, &r);
    cr_assert_eq(r.orders, 1);
    cr_assert_float_eq(r.units, 6, 1e-12);
    cr_assert_float_eq(r.monetary, 50, 1e-12);
    e = ev(TL_EV_PURCHASE, T0); /* earlier, no order id: counts one each */
    e.item_id = "c";
    e.price = 7;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    e.ts_ms = T0 + 10 * DAY;
    e.item_id = "d";
    e.price = NAN; /* no price: units but no money */
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    e = ev(TL_EV_RETURN, T0 + 11 * DAY);
    e.order_id = "o1";
    e.lines = lines;
    e.n_lines = 1;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    tl_profile_rfm(p, &r);
    cr_assert_eq(r.orders, 3);
    cr_assert_float_eq(r.units, 8, 1e-12);
    cr_assert_float_eq(r.monetary, 57, 1e-12);
    cr_assert_eq(r.first_ms, T0);
    cr_assert_eq(r.last_ms, T0 + 10 * DAY);
    cr_assert_eq(r.returns, 1);
    cr_assert_float_eq(r.returned_value, 20, 1e-12);
    cr_assert(tl_profile_has_purchased(p, "a"));
    cr_assert(tl_profile_has_purchased(p, "d"));
    cr_assert_not(tl_profile_has_purchased(p, "zzz"));
    cr_assert_not(tl_profile_has_purchased(p, NULL));
    json_t *j = to_json(p, T0 + 13 * DAY + 5);
    json_t *pu = json_object_get(j, "purchases");
    cr_assert_eq(json_integer_value(json_object_get(pu, "orders")), 3);
    cr_assert_eq(json_integer_value(json_object_get(pu, "recency_days")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(pu, "first_at")), "2023-11-14T22:13:20.000Z");
    cr_assert_float_eq(json_number_value(json_object_get(pu, "monetary")), 57, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "counts"), "purchase")), 4);
    json_decref(j);
    tl_profile_free(p);
}

Test(profile, purchased_set_cap_keeps_most_recent)
{
    struct tl_profile *p = tl_profile_new("u");
    for (int i = 0; i < 600; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        struct tl_profile_event e = ev(TL_EV_PURCHASE, T0 + i * 1000);
        e.item_id = id;
        cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    }
    cr_assert_eq(tl_profile_purchased_count(p), TL_PROFILE_PURCHASED_MAX);
    cr_assert_not(tl_profile_has_purchased(p, "p0"));
    cr_assert_not(tl_profile_has_purchased(p, "p99"));
    cr_assert(tl_profile_has_purchased(p, "p100"));
    cr_assert(tl_profile_has_purchased(p, "p599"));
    /* an old purchase does not displace newer ones */
    struct tl_profile_event e = ev(TL_EV_PURCHASE, T0 - 1);
    e.item_id = "ancient";
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_not(tl_profile_has_purchased(p, "ancient"));
    cr_assert(tl_profile_has_purchased(p, "p100"));
    tl_profile_free(p);
}

Test(profile, country_last_non_empty_wins)
{
    struct tl_profile *p = tl_profile_new("u");
    struct tl_profile_event e = ev(TL_EV_PAGE_VIEW, T0);
    e.country = "gb";
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_str_eq(tl_profile_country(p), "GB");
    e.ts_ms = T0 + 1;
    e.country = "";
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_str_eq(tl_profile_country(p), "GB");
    e.country = "FR";
    e.ts_ms = T0 - 1; /* older: does not win */
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    cr_assert_str_eq(tl_profile_country(p), "GB");
    cr_assert_eq(tl_profile_set_country(p, "de", T0 + 2), TL_OK);
    cr_assert_str_eq(tl_profile_country(p), "DE");
    cr_assert_eq(tl_profile_set_country(p, "DEU", T0 + 3), TL_EINVAL);
    cr_assert_eq(tl_profile_set_country(p, "1x", T0 + 3), TL_EINVAL);
    cr_assert_str_eq(tl_profile_country(p), "DE");
    tl_profile_free(p);
}

Test(profile, invalid_events_rejected_and_profile_unchanged)
{
    struct tl_profile *p = rich();
    struct tl_buf before, after;
    blob(p, &before);
    struct tl_line badline[1] = {{NULL, 1, 1}};
    struct tl_line negprice[1] = {{"x", 1, -1}};
    char longid[TL_ID_MAX + 2];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    struct tl_profile_event e;
    struct tl_profile_params bad = {0, 1};
    for (int c = 0; c < 13; c++) {
        e = ev(TL_EV_PRODUCT_VIEW, T0 + 999 * DAY);
        e.item_id = "ok";
        const struct tl_profile_params *prm = NULL;
        switch (c) {
        case 0:
            e.type = TL_EV_NONE;
            break;
        case 1:
            e.type = (enum tl_event_type)99;
            break;
        case 2:
            e.ts_ms = 0;
            break;
        case 3:
            e.item_id = longid;
            break;
        case 4:
            e.item_id = "";
            break;
        case 5:
            e.price = -1;
            break;
        case 6:
            e.scroll_depth = 1.5;
            break;
        case 7:
            e.country = "GBR";
            break;
        case 8:
            e.quantity = INFINITY;
            break;
        case 9:
            e.n_lines = 1;
            break; /* lines NULL */
        case 10:
            e.lines = badline;
            e.n_lines = 1;
            break;
        case 11:
            e.lines = negprice;
            e.n_lines = 1;
            break;
        case 12:
            prm = &bad;
            break;
        }
        cr_assert_eq(tl_profile_apply(p, &e, prm), TL_EINVAL, "case %d", c);
    }
    cr_assert_eq(tl_profile_apply(NULL, &e, NULL), TL_EINVAL);
    cr_assert_eq(tl_profile_apply(p, NULL, NULL), TL_EINVAL);
    blob(p, &after);
    cr_assert_eq(before.len, after.len);
    cr_assert(memcmp(before.data, after.data, before.len) == 0);
    tl_buf_free(&before);
    tl_buf_free(&after);
    tl_profile_free(p);
}

Test(profile, merge_anonymous_into_customer)
{
    struct tl_profile *cust = tl_profile_new("c1");
    struct tl_profile *anon = tl_profile_new("anon-1");
    view(cust, "a", T0, "Shoes", "Nike", 50);
    view(cust, "b", T0 + 2 * DAY, "Hats", NULL, 10);
    view(anon, "c", T0 + DAY, "Shoes", "Adidas", 30);
    view(anon, "b", T0 + 3 * DAY, NULL, NULL, NAN);
    cart(cust, TL_EV_ADD_TO_CART, "k", 1, 5, T0 + 2 * DAY);
    cart(anon, TL_EV_ADD_TO_CART, "k", 2, 6, T0 + 3 * DAY);
    cart(anon, TL_EV_ADD_TO_CART, "m", 1, 1, T0 + 3 * DAY);
    struct tl_profile_event e = ev(TL_EV_PURCHASE, T0 + DAY);
    e.order_id = "shared";
    e.item_id = "z";
    e.price = 10;
    cr_assert_eq(tl_profile_apply(cust, &e, NULL), TL_OK);
    cr_assert_eq(tl_profile_apply(anon, &e, NULL), TL_OK); /* same order seen by both */
    e.order_id = "own";
    e.item_id = "y";
    e.ts_ms = T0 + 3 * DAY;
    e.country = "FR";
    cr_assert_eq(tl_profile_apply(anon, &e, NULL), TL_OK);
    int64_t now = T0 + 5 * DAY;
    double want_shoes = tl_profile_affinity(cust, TL_PROFILE_CATEGORY, "Shoes", now) +
                        tl_profile_affinity(anon, TL_PROFILE_CATEGORY, "Shoes", now);
    double want_z = tl_profile_affinity(cust, TL_PROFILE_CATEGORY, "Hats", now);
    uint32_t cust_sessions = tl_profile_sessions_total(cust);
    cr_assert_eq(cust_sessions, 2);
    cr_assert_eq(tl_profile_merge(cust, anon), TL_OK);
    cr_assert_eq(tl_profile_merge(cust, cust), TL_EINVAL);
    cr_assert_eq(tl_profile_linked_count(cust), 1);
    cr_assert_str_eq(tl_profile_linked_id(cust, 0), "anon-1");
    cr_assert_null(tl_profile_linked_id(cust, 1));
    cr_assert_str_eq(tl_profile_country(cust), "FR");
    const char *ids[8];
    size_t n = tl_profile_recent_ids(cust, ids, 8);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(ids[0], "b");
    cr_assert_str_eq(ids[1], "c");
    cr_assert_str_eq(ids[2], "a");
    size_t nc;
    const struct tl_profile_cart_line *l = tl_profile_cart(cust, &nc);
    cr_assert_eq(nc, 2);
    cr_assert_str_eq(l[0].item_id, "k");
    cr_assert_float_eq(l[0].quantity, 3, 1e-12);
    cr_assert_eq(l[0].added_ms, T0 + 2 * DAY);
    cr_assert_float_eq(tl_profile_affinity(cust, TL_PROFILE_CATEGORY, "Shoes", now), want_shoes, 1e-12);
    cr_assert_float_eq(tl_profile_affinity(cust, TL_PROFILE_CATEGORY, "Hats", now), want_z, 1e-12);
    cr_assert_gt(tl_profile_affinity(cust, TL_PROFILE_BRAND, "Adidas", now), 0);
    struct tl_profile_rfm r;
    tl_profile_rfm(cust, &r);
    cr_assert_eq(r.orders, 2); /* "shared" counted once */
    cr_assert_float_eq(r.units, 3, 1e-12);
    cr_assert_float_eq(r.monetary, 30, 1e-12);
    cr_assert(tl_profile_has_purchased(cust, "y"));
    cr_assert(tl_profile_has_purchased(cust, "z"));
    cr_assert_eq(tl_profile_count(cust, TL_EV_PRODUCT_VIEW), 4);
    cr_assert_eq(tl_profile_first_seen(cust), T0);
    cr_assert_eq(tl_profile_last_seen(cust), T0 + 3 * DAY);
    /* the newer session (anon's) became current */
    cr_assert_str_eq(tl_profile_session(cust, NULL, NULL), tl_profile_session(anon, NULL, NULL));
    cr_assert_eq(tl_profile_sessions_total(cust), tl_profile_sessions_total(anon) + cust_sessions);
    /* price band combined equals one profile that saw everything */
    struct tl_profile *all = tl_profile_new("all");
    view(all, "a", T0, NULL, NULL, 50);
    view(all, "b", T0 + 2 * DAY, NULL, NULL, 10);
    view(all, "c", T0 + DAY, NULL, NULL, 30);
    cart(all, TL_EV_ADD_TO_CART, "k", 1, 5, T0 + 2 * DAY);
    cart(all, TL_EV_ADD_TO_CART, "k", 2, 6, T0 + 3 * DAY);
    cart(all, TL_EV_ADD_TO_CART, "m", 1, 1, T0 + 3 * DAY);
    e = ev(TL_EV_PURCHASE, T0 + DAY);
    e.item_id = "z";
    e.price = 10;
    cr_assert_eq(tl_profile_apply(all, &e, NULL), TL_OK);
    cr_assert_eq(tl_profile_apply(all, &e, NULL), TL_OK);
    e.item_id = "y";
    e.ts_ms = T0 + 3 * DAY;
    cr_assert_eq(tl_profile_apply(all, &e, NULL), TL_OK);
    double m1, l1, h1, m2, l2, h2;
    cr_assert(tl_profile_price_band(cust, &m1, &l1, &h1));
    cr_assert(tl_profile_price_band(all, &m2, &l2, &h2));
    cr_assert_float_eq(m1, m2, 1e-9);
    cr_assert_float_eq(h1, h2, 1e-9);
    /* merging the same anonymous profile twice links it once */
    struct tl_profile *anon2 = tl_profile_new("anon-2");
    cr_assert_eq(tl_profile_merge(anon2, cust), TL_OK); /* pulls c1 and anon-1 */
    cr_assert_eq(tl_profile_linked_count(anon2), 2);
    cr_assert_eq(tl_profile_merge(cust, anon2), TL_OK);
    cr_assert_eq(tl_profile_linked_count(cust), 2);
    tl_profile_free(anon2);
    tl_profile_free(all);
    tl_profile_free(cust);
    tl_profile_free(anon);
}

Test(profile, linked_ids_capped)
{
    struct tl_profile *c = tl_profile_new("c");
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "a%d", i);
        struct tl_profile *a = tl_profile_new(id);
        cr_assert_eq(tl_profile_merge(c, a), TL_OK);
        tl_profile_free(a);
    }
    cr_assert_eq(tl_profile_linked_count(c), TL_PROFILE_ANON_MAX);
    cr_assert_str_eq(tl_profile_linked_id(c, 0), "a4");
    cr_assert_str_eq(tl_profile_linked_id(c, 15), "a19");
    tl_profile_free(c);
}

Test(profile, json_shape)
{
    struct tl_profile *p = rich();
    int64_t now = T0 + 65 * MIN;
    json_t *j = to_json(p, now);
    cr_assert_str_eq(json_string_value(json_object_get(j, "user_id")), "cust-1");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "anonymous_ids"), 0)), "anon-9");
    cr_assert_str_eq(json_string_value(json_object_get(j, "country")), "GB");
    json_t *s = json_object_get(j, "session");
    cr_assert_str_eq(json_string_value(json_object_get(s, "id")), "s2");
    cr_assert(json_is_true(json_object_get(s, "active")));
    cr_assert_str_eq(json_string_value(json_object_get(s, "started_at")), "2023-11-14T22:43:20.000Z");
    json_t *rv = json_object_get(j, "recently_viewed");
    cr_assert_eq(json_array_size(rv), 50);
    json_t *v0 = json_array_get(rv, 0);
    cr_assert_str_eq(json_string_value(json_object_get(v0, "item_id")), "sku-54");
    cr_assert_eq(json_integer_value(json_object_get(v0, "dwell_ms")), 27000);
    cr_assert(json_is_number(json_object_get(v0, "scroll_depth")));
    json_t *cartj = json_object_get(j, "cart");
    cr_assert_eq(json_array_size(cartj), 2);
    cr_assert(json_is_null(json_object_get(json_array_get(cartj, 1), "price")));
    json_t *cats = json_object_get(json_object_get(j, "affinities"), "categories");
    cr_assert_geq(json_array_size(cats), 4);
    for (size_t i = 1; i < json_array_size(cats); i++)
        cr_assert_geq(json_number_value(json_object_get(json_array_get(cats, i - 1), "score")),
                      json_number_value(json_object_get(json_array_get(cats, i), "score")));
    cr_assert(json_is_array(json_object_get(json_object_get(j, "affinities"), "brands")));
    json_t *pb = json_object_get(j, "price_band");
    cr_assert_lt(json_number_value(json_object_get(pb, "low")), json_number_value(json_object_get(pb, "high")));
    json_t *counts = json_object_get(j, "counts");
    cr_assert_eq(json_integer_value(json_object_get(counts, "product_view")), 56);
    cr_assert_eq(json_integer_value(json_object_get(counts, "recommendation_click")), 0);
    cr_assert_eq(json_object_size(counts), TL_EV_MAX_ - 1);
    cr_assert_str_eq(json_string_value(json_object_get(j, "first_seen")), "2023-11-13T22:13:20.000Z");
    json_decref(j);
    /* an empty profile has nulls, not garbage */
    struct tl_profile *e = tl_profile_new("x\"y\n");
    j = to_json(e, now);
    cr_assert_str_eq(json_string_value(json_object_get(j, "user_id")), "x\"y\n");
    cr_assert(json_is_null(json_object_get(j, "session")));
    cr_assert(json_is_null(json_object_get(j, "price_band")));
    cr_assert(json_is_null(json_object_get(j, "country")));
    cr_assert(json_is_null(json_object_get(json_object_get(j, "purchases"), "recency_days")));
    cr_assert(json_is_null(json_object_get(j, "first_seen")));
    json_decref(j);
    /* a too-small buffer fails cleanly and leaves it as it was */
    struct tl_buf small;
    tl_buf_init(&small, 64);
    cr_assert_eq(tl_buf_puts(&small, "pre"), TL_OK);
    cr_assert_eq(tl_profile_to_json(p, now, &small), TL_ETOOBIG);
    cr_assert_eq(small.len, 3);
    tl_buf_free(&small);
    tl_profile_free(e);
    tl_profile_free(p);
}

/* The bytes of version 1 blobs are what earlier builds stored: the blobs
 * of three fixed profiles (empty; rich(); rich() with viewed ids too long
 * for a pool slot, a linked id and a cart line added) keep their length
 * and their XXH3 hash. A change to how the serializer writes must not
 * change them. */
static void expect_blob(const struct tl_profile *p, size_t len, uint64_t h)
{
    struct tl_buf b;
    blob(p, &b);
    cr_assert_eq(b.len, len, "blob of %s: %zu bytes", tl_profile_user_key(p), b.len);
    cr_assert_eq(tl_hash(b.data, b.len, 0), h, "blob of %s: hash 0x%016llxULL", tl_profile_user_key(p),
                 (unsigned long long)tl_hash(b.data, b.len, 0));
    tl_buf_free(&b);
}

Test(profile, serialized_bytes_are_stable)
{
    struct tl_profile *e = tl_profile_new("e");
    expect_blob(e, 186, 0xbb60c13ea47ce4d9ULL);
    tl_profile_free(e);
    struct tl_profile *p = rich();
    expect_blob(p, 1738, 0xedf49e434bb25c9dULL);
    char id[80];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "a-viewed-item-id-longer-than-a-pool-slot-%d", i);
        view(p, id, T0 + (70 + i) * MIN, "Garden > Tools", "Acme", 7.0);
    }
    cart(p, TL_EV_ADD_TO_CART, "sku-9", 1, 2.25, T0 + 80 * MIN);
    struct tl_profile *a = tl_profile_new("anon-10");
    view(a, "sku-y", T0 - DAY, "Toys", "Zed", 20);
    cr_assert_eq(tl_profile_merge(p, a), TL_OK);
    tl_profile_free(a);
    expect_blob(p, 1926, 0xee153aa8119b59b0ULL);
    tl_profile_free(p);
}

Test(profile, serialize_round_trip)
{
    struct tl_profile *p = rich();
    struct tl_buf a, b, ja, jb;
    blob(p, &a);
    struct tl_profile *q = NULL;
    struct tl_err err;
    tl_err_clear(&err);
    cr_assert_eq(tl_profile_deserialize(a.data, a.len, &q, &err), TL_OK, "%s", err.msg);
    blob(q, &b);
    cr_assert_eq(a.len, b.len);
    cr_assert(memcmp(a.data, b.data, a.len) == 0);
    tl_buf_init(&ja, 0);
    tl_buf_init(&jb, 0);
    cr_assert_eq(tl_profile_to_json(p, T0 + DAY, &ja), TL_OK);
    cr_assert_eq(tl_profile_to_json(q, T0 + DAY, &jb), TL_OK);
    cr_assert_str_eq(ja.data, jb.data);
    cr_assert(tl_profile_has_purchased(q, "sku-3"));
    /* the copy keeps working */
    view(q, "new", T0 + 2 * DAY, "Toys", NULL, 1);
    cr_assert_gt(tl_profile_affinity(q, TL_PROFILE_CATEGORY, "Toys", T0 + 2 * DAY), 1.0);
    /* empty profile round trip */
    struct tl_profile *e = tl_profile_new("e"), *e2 = NULL;
    struct tl_buf eb;
    blob(e, &eb);
    cr_assert_eq(tl_profile_deserialize(eb.data, eb.len, &e2, NULL), TL_OK);
    cr_assert_str_eq(tl_profile_user_key(e2), "e");
    tl_buf_free(&eb);
    tl_profile_free(e);
    tl_profile_free(e2);
    tl_buf_free(&a);
    tl_buf_free(&b);
    tl_buf_free(&ja);
    tl_buf_free(&jb);
    tl_profile_free(q);
    tl_profile_free(p);
}

static void expect_parse_error(const void *data, size_t len)
{
    struct tl_profile *q = (struct tl_profile *)(uintptr_t)1;
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_profile_deserialize(data, len, &q, &err);
    cr_assert_eq(rc, TL_EPARSE, "len %zu: rc %d", len, rc);
    cr_assert_null(q);
    cr_assert_str_eq(err.field, "profile");
    cr_assert_neq(err.msg[0], 0);
}

/* Rewrite the trailing checksum so structural checks are reached. */
static void reseal(unsigned char *d, size_t len)
{
    uint32_t h = (uint32_t)tl_hash(d, len - 4, 0);
    for (int i = 0; i < 4; i++) d[len - 4 + (size_t)i] = (unsigned char)(h >> (8 * i));
}

Test(profile, corrupt_blobs_rejected)
{
    long live0 = tl_alloc_live();
    struct tl_profile *p = rich();
    struct tl_buf a;
    blob(p, &a);
    tl_profile_free(p);
    p = NULL;
    unsigned char *d = malloc(a.len + 16);
    /* every truncation */
    for (size_t n = 0; n < a.len; n++) {
        memcpy(d, a.data, n);
        expect_parse_error(d, n);
    }
    /* every truncation re-sealed with a valid checksum (structural checks) */
    for (size_t n = 5; n < a.len; n++) {
        memcpy(d, a.data, n - 4);
        reseal(d, n);
        expect_parse_error(d, n);
    }
    /* trailing garbage, re-sealed */
    memcpy(d, a.data, a.len - 4);
    memset(d + a.len - 4, 0xAB, 3);
    reseal(d, a.len + 3);
    expect_parse_error(d, a.len + 3);
    /* every single-bit flip */
    for (size_t i = 0; i < a.len; i++) {
        memcpy(d, a.data, a.len);
        d[i] ^= 0x10;
        expect_parse_error(d, a.len);
    }
    /* wrong version, valid checksum */
    memcpy(d, a.data, a.len);
    d[0] = 2;
    reseal(d, a.len);
    expect_parse_error(d, a.len);
    /* count byte of anonymous ids too large, valid checksum */
    memcpy(d, a.data, a.len);
    size_t keylen = (size_t)d[1] | (size_t)d[2] << 8;
    d[3 + keylen] = 200;
    reseal(d, a.len);
    expect_parse_error(d, a.len);
    /* random byte flips re-sealed: must never crash, and either parse or fail cleanly */
    srand(7);
    for (int it = 0; it < 20000; it++) {
        memcpy(d, a.data, a.len);
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++) d[1 + (size_t)rand() % (a.len - 5)] = (unsigned char)rand();
        reseal(d, a.len);
        struct tl_profile *q = NULL;
        enum tl_rc rc = tl_profile_deserialize(d, a.len, &q, NULL);
        cr_assert(rc == TL_OK || rc == TL_EPARSE);
        if (rc == TL_OK) {
            struct tl_buf j;
            tl_buf_init(&j, 0);
            cr_assert_eq(tl_profile_to_json(q, T0, &j), TL_OK);
            tl_buf_free(&j);
            tl_profile_free(q);
        } else {
            cr_assert_null(q);
        }
    }
    /* random bytes */
    for (int it = 0; it < 20000; it++) {
        size_t n = (size_t)rand() % 200;
        unsigned char r[200];
        for (size_t k = 0; k < n; k++) r[k] = (unsigned char)rand();
        if (n) r[0] = 1;
        expect_parse_error(r, n);
    }
    /* oversize */
    expect_parse_error(a.data, TL_PROFILE_BLOB_MAX + 1);
    cr_assert_eq(tl_profile_deserialize(NULL, 10, &p, NULL), TL_EPARSE);
    cr_assert_null(p);
    free(d);
    tl_buf_free(&a);
    cr_assert_eq(tl_alloc_live(), live0);
}

Test(profile, allocation_failures_are_clean)
{
    /* every allocation of merge and deserialize failing in turn: no crash,
     * no leak, and merge leaves its target unchanged */
    struct tl_profile *p = rich();
    struct tl_profile *a = tl_profile_new("anon-z");
    view(a, "q", T0 + DAY, "New", "Brand", 3);
    cart(a, TL_EV_ADD_TO_CART, "q", 1, 3, T0 + DAY);
    struct tl_buf before;
    blob(p, &before);
    int succeeded = 0;
    for (long k = 0; k < 2000 && !succeeded; k++) {
        long live = tl_alloc_live();
        tl_alloc_fail_after(k);
        enum tl_rc rc = tl_profile_merge(p, a);
        tl_alloc_fail_after(-1);
        if (rc == TL_OK) {
            succeeded = 1;
            break;
        }
        cr_assert_eq(rc, TL_ENOMEM);
        cr_assert_eq(tl_alloc_live(), live);
        struct tl_buf now;
        blob(p, &now);
        cr_assert_eq(now.len, before.len);
        cr_assert(memcmp(now.data, before.data, now.len) == 0);
        tl_buf_free(&now);
    }
    cr_assert(succeeded);
    succeeded = 0;
    for (long k = 0; k < 2000 && !succeeded; k++) {
        long live = tl_alloc_live();
        struct tl_profile *q = NULL;
        tl_alloc_fail_after(k);
        enum tl_rc rc = tl_profile_deserialize(before.data, before.len, &q, NULL);
        tl_alloc_fail_after(-1);
        if (rc == TL_OK) {
            succeeded = 1;
            tl_profile_free(q);
            break;
        }
        cr_assert_eq(rc, TL_ENOMEM);
        cr_assert_eq(tl_alloc_live(), live);
    }
    cr_assert(succeeded);
    /* apply under failures: no crash, the profile stays serializable */
    for (long k = 0; k < 20; k++) {
        struct tl_profile_event e = ev(TL_EV_PRODUCT_VIEW, T0 + 100 * DAY + k);
        char id[32];
        snprintf(id, sizeof id, "f%ld", k);
        e.item_id = id;
        e.category = "Fresh > Cat";
        e.brand = "FreshBrand";
        e.session_id = id;
        tl_alloc_fail_after(k % 4);
        enum tl_rc rc = tl_profile_apply(p, &e, NULL);
        tl_alloc_fail_after(-1);
        cr_assert(rc == TL_OK || rc == TL_ENOMEM);
        struct tl_buf now;
        blob(p, &now);
        struct tl_profile *q = NULL;
        cr_assert_eq(tl_profile_deserialize(now.data, now.len, &q, NULL), TL_OK);
        tl_profile_free(q);
        tl_buf_free(&now);
    }
    tl_buf_free(&before);
    tl_profile_free(a);
    tl_profile_free(p);
}

Test(profile, memory_of_typical_profile)
{
    struct tl_profile *p = tl_profile_new("customer-000123");
    for (int i = 0; i < 50; i++) {
        char id[24], cat[48];
        snprintf(id, sizeof id, "SKU-%06d", i);
        snprintf(cat, sizeof cat, "Department %d > Category %d", i % 4, i % 20);
        view(p, id, T0 + i * MIN, cat, i % 5 ? "Acme" : "Bolt", 10 + i);
    }
    for (int i = 0; i < 5; i++) {
        char id[24];
        snprintf(id, sizeof id, "SKU-%06d", i);
        cart(p, TL_EV_ADD_TO_CART, id, 1, 10 + i, T0 + 60 * MIN);
    }
    size_t n = tl_profile_top_affinities(p, TL_PROFILE_CATEGORY, T0, NULL, NULL, 64);
    cr_assert_eq(n, 24); /* 20 leaf paths + 4 departments */
    size_t m = tl_profile_memory(p);
    struct tl_buf b;
    blob(p, &b);
    fprintf(stderr,
            "profile memory: %zu bytes in memory, %zu bytes serialized "
            "(50 views, 5 cart lines, 24 categories, 2 brands)\n",
            m, b.len);
    cr_assert_gt(m, 3000);
    cr_assert_lt(m, 12000);
    tl_buf_free(&b);
    tl_profile_free(p);
}

/* A full cart (200 lines): each line is found again by its id, after a
 * reload too (the line hashes are rebuilt), and ids that share a hash
 * prefix or differ in one byte are told apart. */
Test(profile, full_cart_lines_are_found_before_and_after_reload)
{
    struct tl_profile *p = tl_profile_new("u");
    char id[32];
    for (int i = 0; i < TL_PROFILE_CART_MAX; i++) {
        snprintf(id, sizeof id, "sku-%05d", i);
        cart(p, TL_EV_ADD_TO_CART, id, 1, 2, T0 + i);
    }
    for (int i = 0; i < TL_PROFILE_CART_MAX; i += 7) {
        snprintf(id, sizeof id, "sku-%05d", i);
        cart(p, TL_EV_ADD_TO_CART, id, 1, NAN, T0 + 1000 + i); /* the same line, one more */
    }
    size_t n;
    const struct tl_profile_cart_line *l = tl_profile_cart(p, &n);
    cr_assert_eq(n, TL_PROFILE_CART_MAX, "no line was added twice");
    for (size_t i = 0; i < n; i++) cr_assert_float_eq(l[i].quantity, i % 7 == 0 ? 2 : 1, 1e-12, "line %zu", i);
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_profile_serialize(p, &b), TL_OK);
    struct tl_profile *q = NULL;
    cr_assert_eq(tl_profile_deserialize(b.data, b.len, &q, NULL), TL_OK);
    for (int i = 0; i < TL_PROFILE_CART_MAX; i += 3) {
        snprintf(id, sizeof id, "sku-%05d", i);
        cart(q, TL_EV_REMOVE_FROM_CART, id, NAN, NAN, T0 + 5000 + i);
    }
    cart(q, TL_EV_REMOVE_FROM_CART, "sku-0000", NAN, NAN, T0 + 9000); /* a prefix of the ids: no line */
    l = tl_profile_cart(q, &n);
    cr_assert_eq(n, TL_PROFILE_CART_MAX - (TL_PROFILE_CART_MAX + 2) / 3, "every third line removed after reload");
    for (size_t i = 0; i < n; i++) cr_assert_neq(atoi(l[i].item_id + 4) % 3, 0, "%s", l[i].item_id);
    tl_buf_free(&b);
    tl_profile_free(q);
    tl_profile_free(p);
}
