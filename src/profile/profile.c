/* Real-time shopper profile (see profile.h for the API, docs/profiles.md for
 * users).
 *
 * Invariants
 *  - views[] holds at most TL_PROFILE_RECENT_MAX distinct item ids, sorted by
 *    ts_ms descending (most recent first; equal timestamps: the most recently
 *    applied first).
 *  - cart[] holds at most TL_PROFILE_CART_MAX distinct item ids with
 *    quantity > 0, in the order the lines were created.
 *  - aff[k] holds at most TL_PROFILE_AFF_MAX distinct names with score > 0;
 *    each stores (score, t_ref): the decayed sum as of t_ref.
 *  - bought[] holds at most TL_PROFILE_PURCHASED_MAX entries sorted by the
 *    64-bit item hash, strictly ascending (binary search for membership).
 *  - orders_h[] is a FIFO of at most TL_PROFILE_ORDERS_MAX order-id hashes.
 *  - Timestamps are ms since the epoch; 0 means "never" (events need ts > 0).
 *
 * Time decay (affinities and price band), half-life H (default 14 days):
 *      score(t) = sum_i w_i * 2^(-(t - t_i) / H)
 *  kept lazily as (S, t_ref). Adding weight w at time t:
 *      t >= t_ref:  S = S * 2^(-(t - t_ref)/H) + w;  t_ref = t
 *      t <  t_ref:  S = S + w * 2^(-(t_ref - t)/H)   (out-of-order import)
 *  Both give the same S(t) for any later t, whatever the arrival order.
 *  Reading at now: S * 2^(-(now - t_ref)/H). A return (w < 0) clamps at 0
 *  and an entry whose score reaches 0 is dropped.
 *  Weights: product_view 1 (1.5 when dwell >= 10 s or scroll >= 0.5),
 *  add_to_cart 3, purchase 5 (per line), return -3 (per line),
 *  category_view 0.5 (to the viewed category).
 *  Category paths "A > B > C": the full path gets w, and when the path has
 *  more than one level its top level "A" also gets w/2 (so a shopper who
 *  browses many leaf categories of one department builds a department
 *  affinity). Intermediate levels are not credited.
 *  Eviction: when a new name arrives at a full table, the existing scores are
 *  compared at T = max(all t_ref, t) and the lowest is dropped for the
 *  newcomer (so an interest that grows by many small events can enter; a
 *  one-off is the next to go). An out-of-order newcomer (t < T) enters only
 *  if its own decayed weight at T beats that lowest score.
 *
 * Price band: a decayed weighted Welford mean/variance over the prices of
 * viewed, carted and purchased items, with the same weights and decay:
 *      (W, M, S2, t_ref); add x with weight w at t >= t_ref:
 *        d = 2^(-(t - t_ref)/H); W *= d; S2 *= d; t_ref = t
 *      (t < t_ref: w *= 2^(-(t_ref - t)/H) instead)
 *        W' = W + w; M' = M + (x - M) * w / W'; S2 += w * (x - M) * (x - M')
 *      sd = sqrt(S2 / W); band = [M - sd, M + sd].
 *  Merging two at a common time: W = Wa + Wb, M = (Wa Ma + Wb Mb) / W,
 *      S2 = S2a + S2b + Wa Wb / W (Ma - Mb)^2.
 *
 * Sessions: an event continues the current session unless (a) it carries a
 * session_id different from the current one, or (b) it comes more than
 * session_timeout after the last activity; then a new session starts, with
 * the event's session_id or the generated id "<user_key>-<start ms>".
 * Events older than the last activity never start a session: they count in
 * the current one if they carry its id or fall within timeout of its start
 * (extending the start backwards), otherwise they belong to a past session
 * and only update the long-term state.
 *
 * Cart: add_to_cart adds quantity (absent = 1), remove_from_cart subtracts
 * (absent = the whole line), a line at <= 0 is removed. A purchase removes
 * the purchased items from the cart, or the whole cart when it lists no
 * item; only lines added at or before the purchase time (so an out-of-order
 * old purchase does not empty a newer cart). At 200 lines the oldest line is
 * dropped.
 *
 * Purchases (RFM): orders = distinct order ids (the last 256 remembered as
 * hashes; purchase events without order_id count one each), units = sum of
 * quantities (absent = 1), monetary = sum quantity * price over priced
 * lines; returns = return events, returned_value = sum quantity * price.
 * The purchased set stores XXH3 hashes of item ids (seed TL_PROFILE_SEED
 * below: persisted, never change it) with the last purchase time; when full,
 * the oldest purchase is dropped.
 *
 * Binary format, version 1 (all integers little-endian; f64/f32 are IEEE-754
 * bit patterns; str = u16 length + bytes, no terminator, no NUL inside):
 *   u8  version (= 1)
 *   str user_key (1..128)
 *   u8  n_anon (<= 16), n_anon x str
 *   str country (0 or 2 upper-case letters), i64 country_ts
 *   i64 half_life_ms (> 0), i64 first_seen, i64 last_seen
 *   u8  has_session; if 1: str session_id, i64 start, i64 last,
 *       u32 views, u32 carts, u32 searches, u32 events
 *   u32 sessions_total
 *   u8  n_counts (<= number of event types), n_counts x u32 (type 1, 2, ...)
 *   u8  n_views (<= 50), each: str item_id, i64 ts, i32 dwell_ms, f32 scroll
 *   u16 n_cart (<= 200), each: str item_id, f64 quantity, f64 price, i64 added
 *   2 x (u8 n (<= 32), each: str name, f64 score, i64 t_ref)  categories, brands
 *   f64 W, f64 mean, f64 S2, i64 t_ref                          price band
 *   i64 first_purchase, i64 last_purchase, u32 orders, f64 units,
 *   f64 monetary, u32 returns, f64 returned_value                RFM
 *   u16 n_orders (<= 256), n x u64 order hash (oldest first)
 *   u16 n_bought (<= 500), each: u64 item hash (strictly ascending), i64 ts
 *   u32 checksum: low 32 bits of XXH3-64(all preceding bytes, seed 0)
 * Deserialize checks the checksum, every length and count against its
 * maximum, the sort orders and value ranges, and that no byte is left over.
 */
#include "profile/profile.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/timeutil.h"

#define TL_PROFILE_VERSION 1
#define TL_PROFILE_SEED 0x7461696c6f72ULL /* "tailor": persisted hashes */
#define ALLOC_OVERHEAD 16
/* Recently viewed: bytes of an id slot in the profile's pool (ids of up to
 * 31 bytes); spare slots in front of the list (a move per VIEW_SLACK new
 * views); pool slots (a full list takes the new id before it drops its
 * oldest). */
#define VIEW_ID_INLINE 32
#define VIEW_SLACK 6
#define VIEW_POOL (TL_PROFILE_RECENT_MAX + 1)
_Static_assert(VIEW_POOL <= 64, "vids_used is a 64-bit set of pool slots");

struct aff {
    char *name;
    double score;
    int64_t t_ref;
    uint32_t h; /* aff_hash(name): compared before the names (not persisted) */
};

struct aff_set {
    struct aff *v;
    uint32_t n, cap;
};

struct bought {
    uint64_t h;
    int64_t ts;
};

struct tl_profile {
    char *key;
    char *anon[TL_PROFILE_ANON_MAX];
    uint32_t n_anon;
    char country[3];
    int64_t country_ts;
    int64_t half_life_ms;
    int64_t session_timeout_ms;
    int64_t first_seen, last_seen;

    /* The current session's id, inline: every event compares its session
     * id with it, and a separately allocated string was a cache miss each
     * time. has_sid 0: no session yet. */
    char sid[TL_PROFILE_SESSION_ID_MAX + 1];
    int has_sid;
    int64_t s_start, s_last;
    uint32_t s_views, s_carts, s_searches, s_events;
    uint32_t sessions_total;

    uint32_t counts[TL_EV_MAX_];

    /* Recently viewed, newest first: views[0 .. n_views) are the slots
     * [v0, v0 + n_views) of vbase (cap_views slots), so that a view newer
     * than all others (the usual case) takes slot v0 - 1 without moving the
     * list; when v0 is 0 the list moves to the end of the buffer first.
     * Ids of fewer than VIEW_ID_INLINE bytes live in vids (a slot each,
     * taken slots in vids_used), longer ones are allocated on their own.
     * The same block holds, after the cap_views views, a view_hash per slot
     * (view_hashes): a view's look-up scans those 4-byte hashes, 4 cache
     * lines for a full list instead of the 19 of the views themselves. */
    struct tl_profile_view *views, *vbase;
    uint32_t n_views, cap_views, v0;
    char (*vids)[VIEW_ID_INLINE];
    uint32_t cap_vids;
    uint64_t vids_used;
    struct tl_profile_cart_line *cart;
    uint32_t n_cart, cap_cart;
    struct aff_set aff[2];

    double pw, pmean, ps2;
    int64_t pt;

    int64_t first_purchase, last_purchase;
    uint32_t orders;
    double units, monetary;
    uint32_t returns;
    double returned_value;

    uint64_t *orders_h;
    uint32_t n_orders_h, cap_orders_h;
    struct bought *bought;
    uint32_t n_bought, cap_bought;
};

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

/* The engine keys profiles "u:<customer id>" / "a:<anonymous id>" so that a
 * customer id and an anonymous id with the same text stay apart. What a
 * shopper or the API sees is the id without that type prefix. */
static const char *public_id(const char *key)
{
    if (key && (key[0] == 'u' || key[0] == 'a') && key[1] == ':') return key + 2;
    return key;
}

static double decay(int64_t dt, int64_t h)
{
    if (dt <= 0) return 1.0;
    return exp2(-(double)dt / (double)h);
}

static uint64_t item_hash(const char *s) { return tl_hash_str(s, TL_PROFILE_SEED); }

/* Grow *arr (elements of size elem) so that it holds need elements, never
 * beyond max. */
static enum tl_rc grow(void **arr, uint32_t *cap, size_t elem, uint32_t need, uint32_t max)
{
    if (need <= *cap) return TL_OK;
    if (need > max) return TL_ETOOBIG;
    uint32_t nc = *cap ? *cap * 2 : 4;
    if (nc < need) nc = need;
    if (nc > max) nc = max;
    void *np = tl_realloc(*arr, (size_t)nc * elem);
    if (!np) return TL_ENOMEM;
    *arr = np;
    *cap = nc;
    return TL_OK;
}

/* Copy s truncated to max bytes at a UTF-8 boundary into out (max+1 bytes). */
static void copy_trunc(char *out, const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    memcpy(out, s, n);
    out[n] = 0;
}

static int id_ok(const char *s, size_t max)
{
    if (!s) return 1;
    size_t n = strnlen(s, max + 1);
    return n >= 1 && n <= max;
}

static int country_ok(const char *c)
{
    if (!c || !c[0]) return 1;
    return ((c[0] | 0x20) >= 'a' && (c[0] | 0x20) <= 'z' && (c[1] | 0x20) >= 'a' && (c[1] | 0x20) <= 'z' && c[2] == 0);
}

static int qty_ok(double q) { return isnan(q) || (isfinite(q) && q >= 0); }
static int price_ok(double x) { return isnan(x) || (isfinite(x) && x >= 0); }

/* ------------------------------------------------------------------ */
/* lifecycle                                                           */

void tl_profile_params_default(struct tl_profile_params *params)
{
    params->half_life_ms = TL_PROFILE_HALF_LIFE_DEFAULT_MS;
    params->session_timeout_ms = TL_PROFILE_SESSION_TIMEOUT_DEFAULT_MS;
}

static void view_id_free(struct tl_profile *p, char *id);

struct tl_profile *tl_profile_new(const char *user_key)
{
    if (!user_key || !id_ok(user_key, TL_PROFILE_KEY_MAX)) return NULL;
    struct tl_profile *p = tl_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->key = tl_strdup(user_key);
    if (!p->key) {
        tl_free(p);
        return NULL;
    }
    p->half_life_ms = TL_PROFILE_HALF_LIFE_DEFAULT_MS;
    p->session_timeout_ms = TL_PROFILE_SESSION_TIMEOUT_DEFAULT_MS;
    return p;
}

void tl_profile_free(struct tl_profile *p)
{
    if (!p) return;
    tl_free(p->key);
    for (uint32_t i = 0; i < p->n_anon; i++) tl_free(p->anon[i]);
    for (uint32_t i = 0; i < p->n_views; i++) view_id_free(p, p->views[i].item_id);
    tl_free(p->vbase);
    tl_free(p->vids);
    for (uint32_t i = 0; i < p->n_cart; i++) tl_free(p->cart[i].item_id);
    tl_free(p->cart);
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < p->aff[k].n; i++) tl_free(p->aff[k].v[i].name);
        tl_free(p->aff[k].v);
    }
    tl_free(p->orders_h);
    tl_free(p->bought);
    tl_free(p);
}

/* ------------------------------------------------------------------ */
/* affinities                                                          */

/* Hash of an affinity name: aff_find compares it before the strings, which
 * saves most of up to TL_PROFILE_AFF_MAX string comparisons (each a cache
 * miss on a separately allocated name) per credited category or brand. */
static uint32_t aff_hash(const char *name) { return (uint32_t)tl_hash_str(name, 0x616666ULL); }

static int aff_find_h(const struct aff_set *s, const char *name, uint32_t h)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->v[i].h == h && strcmp(s->v[i].name, name) == 0) return (int)i;
    return -1;
}

static int aff_find(const struct aff_set *s, const char *name) { return aff_find_h(s, name, aff_hash(name)); }

static void aff_remove(struct aff_set *s, uint32_t i)
{
    tl_free(s->v[i].name);
    s->v[i] = s->v[s->n - 1];
    s->n--;
}

/* Add weight w at time ts to name (truncated to TL_PROFILE_NAME_MAX). */
static enum tl_rc aff_add(struct aff_set *s, const char *raw, double w, int64_t ts, int64_t h)
{
    if (!raw || !raw[0] || w == 0) return TL_OK;
    char name[TL_PROFILE_NAME_MAX + 1];
    copy_trunc(name, raw, TL_PROFILE_NAME_MAX);
    if (!name[0]) return TL_OK;
    uint32_t nh = aff_hash(name);
    int i = aff_find_h(s, name, nh);
    if (i >= 0) {
        struct aff *e = &s->v[i];
        if (ts >= e->t_ref) {
            e->score = e->score * decay(ts - e->t_ref, h) + w;
            e->t_ref = ts;
        } else {
            e->score += w * decay(e->t_ref - ts, h);
        }
        if (!(e->score > 0)) aff_remove(s, (uint32_t)i);
        return TL_OK;
    }
    if (w < 0) return TL_OK; /* clamp: nothing to take away from */
    if (s->n < TL_PROFILE_AFF_MAX) {
        enum tl_rc rc = grow((void **)&s->v, &s->cap, sizeof *s->v, s->n + 1, TL_PROFILE_AFF_MAX);
        if (rc) return rc;
        char *dup = tl_strdup(name);
        if (!dup) return TL_ENOMEM;
        s->v[s->n++] = (struct aff){dup, w, ts, nh};
        return TL_OK;
    }
    int64_t t = ts;
    for (uint32_t k = 0; k < s->n; k++)
        if (s->v[k].t_ref > t) t = s->v[k].t_ref;
    uint32_t lo = 0;
    double lo_score = INFINITY;
    for (uint32_t k = 0; k < s->n; k++) {
        double sc = s->v[k].score * decay(t - s->v[k].t_ref, h);
        if (sc < lo_score) {
            lo_score = sc;
            lo = k;
        }
    }
    /* an out-of-order newcomer only enters if it beats the lowest at T */
    if (ts < t && w * decay(t - ts, h) <= lo_score) return TL_OK;
    char *dup = tl_strdup(name);
    if (!dup) return TL_ENOMEM;
    tl_free(s->v[lo].name);
    s->v[lo] = (struct aff){dup, w, ts, nh};
    return TL_OK;
}

/* Full path with w, its top level (when different) with w/2. */
static enum tl_rc credit_category(struct tl_profile *p, const char *path, double w, int64_t ts)
{
    if (!path || !path[0]) return TL_OK;
    enum tl_rc rc = aff_add(&p->aff[TL_PROFILE_CATEGORY], path, w, ts, p->half_life_ms);
    if (rc) return rc;
    const char *gt = strchr(path, '>');
    if (!gt) return TL_OK;
    const char *b = path;
    while (*b == ' ' || *b == '\t') b++;
    const char *e = gt;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
    size_t n = (size_t)(e - b);
    if (n == 0) return TL_OK;
    if (n > TL_PROFILE_NAME_MAX) n = TL_PROFILE_NAME_MAX;
    char top[TL_PROFILE_NAME_MAX + 1];
    memcpy(top, b, n);
    top[n] = 0;
    return aff_add(&p->aff[TL_PROFILE_CATEGORY], top, w * TL_PROFILE_TOP_LEVEL_FACTOR, ts, p->half_life_ms);
}

static enum tl_rc credit(struct tl_profile *p, const char *cat, const char *brand, double w, int64_t ts)
{
    enum tl_rc rc = credit_category(p, cat, w, ts);
    if (rc) return rc;
    return aff_add(&p->aff[TL_PROFILE_BRAND], brand, w, ts, p->half_life_ms);
}

/* ------------------------------------------------------------------ */
/* price band                                                          */

static void price_add(struct tl_profile *p, double x, double w, int64_t ts)
{
    if (!isfinite(x) || x < 0 || !(w > 0)) return;
    if (!(p->pw > 0)) {
        p->pw = w;
        p->pmean = x;
        p->ps2 = 0;
        p->pt = ts;
        return;
    }
    if (ts >= p->pt) {
        double d = decay(ts - p->pt, p->half_life_ms);
        p->pw *= d;
        p->ps2 *= d;
        p->pt = ts;
    } else {
        w *= decay(p->pt - ts, p->half_life_ms);
    }
    double nw = p->pw + w;
    if (!(nw > 0)) return;
    double delta = x - p->pmean;
    double nmean = p->pmean + delta * w / nw;
    p->ps2 += w * delta * (x - nmean);
    if (p->ps2 < 0) p->ps2 = 0;
    p->pmean = nmean;
    p->pw = nw;
}

/* ------------------------------------------------------------------ */
/* recently viewed                                                     */

/* Hash of a viewed item id: the dedupe loop below compares hashes first,
 * which saves most of up to 50 string comparisons per view. */
static uint32_t view_hash(const char *item) { return (uint32_t)tl_hash_str(item, 0x76696577ULL); }

static int view_id_pooled(const struct tl_profile *p, const char *id)
{
    uintptr_t a = (uintptr_t)id, lo = (uintptr_t)p->vids; /* integers: id may point anywhere */
    return p->vids && a >= lo && a < lo + p->cap_vids * sizeof *p->vids;
}

static int vids_full(const struct tl_profile *p)
{
    return p->vids_used == (p->cap_vids == 64 ? ~0ULL : (1ULL << p->cap_vids) - 1);
}

/* Grow the id pool by one slot or more (grow: doubling, at most
 * VIEW_POOL); the views' ids in it follow it. */
static void vids_grow(struct tl_profile *p)
{
    uintptr_t old = (uintptr_t)p->vids;
    size_t slot[TL_PROFILE_RECENT_MAX]; /* pool slot of each view, or SIZE_MAX */
    for (uint32_t i = 0; i < p->n_views; i++)
        slot[i] = view_id_pooled(p, p->views[i].item_id)
                      ? (size_t)((uintptr_t)p->views[i].item_id - old) / VIEW_ID_INLINE
                      : SIZE_MAX;
    if (grow((void **)&p->vids, &p->cap_vids, sizeof *p->vids, p->cap_vids + 1, VIEW_POOL) != TL_OK) return;
    for (uint32_t i = 0; i < p->n_views; i++)
        if (slot[i] != SIZE_MAX) p->views[i].item_id = p->vids[slot[i]];
}

/* Copy of a viewed item id: a slot of the profile's id pool when it is
 * short (most ids: the slots keep a profile's ids together instead of one
 * allocation each), else its own allocation. The pool grows with the list
 * (4, 8, 16, 32 slots, then VIEW_POOL), so a profile of a few views keeps
 * a small one. */
static char *view_id_dup(struct tl_profile *p, const char *item)
{
    size_t n = strlen(item);
    if (n < VIEW_ID_INLINE) {
        if (vids_full(p) && p->cap_vids < VIEW_POOL) vids_grow(p); /* a failure: the id is allocated below */
        if (!vids_full(p)) {
            unsigned k = (unsigned)__builtin_ctzll(~p->vids_used);
            p->vids_used |= 1ULL << k;
            memcpy(p->vids[k], item, n + 1);
            return p->vids[k];
        }
    }
    return tl_strndup(item, n);
}

static void view_id_free(struct tl_profile *p, char *id)
{
    if (view_id_pooled(p, id))
        p->vids_used &= ~(1ULL << (size_t)((id - p->vids[0]) / VIEW_ID_INLINE));
    else
        tl_free(id);
}

/* Bytes of a views block of cap slots: the views, then a hash per slot. */
static size_t views_block(uint32_t cap) { return (size_t)cap * (sizeof(struct tl_profile_view) + sizeof(uint32_t)); }

/* view_hash of views[i] is view_hashes(p)[i]. */
static uint32_t *view_hashes(const struct tl_profile *p)
{
    return (uint32_t *)(void *)(p->vbase + p->cap_views) + p->v0;
}

/* Make room for one more view in front of views[0]: move the list (views
 * and hashes) to the end of its block, into a larger block if it is full
 * (grown as grow() does, at most TL_PROFILE_RECENT_MAX + VIEW_SLACK
 * slots). */
static enum tl_rc views_room_in_front(struct tl_profile *p)
{
    if (p->v0 > 0) return TL_OK;
    uint32_t n = p->n_views, cap = p->cap_views, max = TL_PROFILE_RECENT_MAX + VIEW_SLACK;
    const uint32_t *oh = p->vbase ? view_hashes(p) : NULL;
    if (n + 1 > cap) {
        if (n + 1 > max) return TL_ETOOBIG;
        uint32_t nc = cap ? cap * 2 : 4;
        if (nc > max) nc = max;
        struct tl_profile_view *nb = tl_malloc(views_block(nc));
        if (!nb) return TL_ENOMEM;
        if (n) {
            memcpy(nb + (nc - n), p->views, n * sizeof *nb);
            memcpy((uint32_t *)(void *)(nb + nc) + (nc - n), oh, n * sizeof *oh);
        }
        tl_free(p->vbase);
        p->vbase = nb;
        p->cap_views = nc;
    } else {
        memmove(p->vbase + (cap - n), p->vbase, n * sizeof *p->vbase);
        memmove((uint32_t *)(void *)(p->vbase + cap) + (cap - n), oh, n * sizeof *oh);
    }
    p->v0 = p->cap_views - n;
    p->views = p->vbase + p->v0;
    return TL_OK;
}

static enum tl_rc views_add(struct tl_profile *p, const char *item, int64_t ts, int64_t dwell, double scroll)
{
    uint32_t h = view_hash(item);
    int32_t dw = dwell < 0 ? -1 : dwell > INT32_MAX ? INT32_MAX : (int32_t)dwell;
    float sc = isnan(scroll) ? NAN : (float)scroll;
    uint32_t i;
    const uint32_t *hs = view_hashes(p);
    for (i = 0; i < p->n_views; i++)
        if (hs[i] == h && strcmp(p->views[i].item_id, item) == 0) break;
    int full = p->n_views == TL_PROFILE_RECENT_MAX;
    if (i == p->n_views && full && ts < p->views[p->n_views - 1].ts_ms) return TL_OK;
    enum tl_rc rc = views_room_in_front(p); /* fails (profile unchanged) only when it cannot grow */
    if (rc) return rc;
    struct tl_profile_view v;
    uint32_t *vh = view_hashes(p);
    if (i < p->n_views) {
        v = p->views[i];
        if (ts > v.ts_ms) v.ts_ms = ts;
        if (dw > v.dwell_ms) v.dwell_ms = dw;
        if (!isnan(sc) && (isnan(v.scroll) || sc > v.scroll)) v.scroll = sc;
        /* take it out: the newer ones move one slot back */
        memmove(&p->views[1], &p->views[0], i * sizeof *p->views);
        memmove(&vh[1], &vh[0], i * sizeof *vh);
        p->views++;
        vh++;
        p->v0++;
        p->n_views--;
    } else {
        char *dup = view_id_dup(p, item);
        if (!dup) return TL_ENOMEM;
        if (full) view_id_free(p, p->views[--p->n_views].item_id);
        v = (struct tl_profile_view){dup, ts, dw, sc};
    }
    /* v goes after the views newer than it, which move one slot forward */
    uint32_t pos = 0;
    while (pos < p->n_views && p->views[pos].ts_ms > v.ts_ms) pos++;
    p->views--;
    vh--;
    p->v0--;
    memmove(&p->views[0], &p->views[1], pos * sizeof *p->views);
    memmove(&vh[0], &vh[1], pos * sizeof *vh);
    p->views[pos] = v;
    vh[pos] = h;
    p->n_views++;
    return TL_OK;
}

/* ------------------------------------------------------------------ */
/* cart                                                                */

/* A cart holds up to TL_PROFILE_CART_MAX lines: their hashes are compared
 * first, the ids only on a match (as for recently viewed). */
static int cart_find(const struct tl_profile *p, const char *item)
{
    uint32_t h = view_hash(item);
    for (uint32_t i = 0; i < p->n_cart; i++)
        if (p->cart[i].h == h && strcmp(p->cart[i].item_id, item) == 0) return (int)i;
    return -1;
}

static void cart_remove_at(struct tl_profile *p, uint32_t i)
{
    tl_free(p->cart[i].item_id);
    memmove(&p->cart[i], &p->cart[i + 1], (p->n_cart - i - 1) * sizeof *p->cart);
    p->n_cart--;
}

static enum tl_rc cart_add(struct tl_profile *p, const char *item, double qty, double price, int64_t ts)
{
    if (qty == 0) return TL_OK;
    int i = cart_find(p, item);
    if (i >= 0) {
        struct tl_profile_cart_line *l = &p->cart[i];
        l->quantity += qty;
        if (!isnan(price)) l->price = price;
        if (ts < l->added_ms) l->added_ms = ts;
        return TL_OK;
    }
    char *dup = tl_strdup(item);
    if (!dup) return TL_ENOMEM;
    if (p->n_cart == TL_PROFILE_CART_MAX) {
        uint32_t old = 0;
        for (uint32_t k = 1; k < p->n_cart; k++)
            if (p->cart[k].added_ms < p->cart[old].added_ms) old = k;
        cart_remove_at(p, old);
    }
    enum tl_rc rc = grow((void **)&p->cart, &p->cap_cart, sizeof *p->cart, p->n_cart + 1, TL_PROFILE_CART_MAX);
    if (rc) {
        tl_free(dup);
        return rc;
    }
    p->cart[p->n_cart++] = (struct tl_profile_cart_line){dup, qty, price, ts, view_hash(dup)};
    return TL_OK;
}

static void cart_sub(struct tl_profile *p, const char *item, double qty)
{
    int i = cart_find(p, item);
    if (i < 0) return;
    if (isnan(qty)) {
        cart_remove_at(p, (uint32_t)i);
        return;
    }
    p->cart[i].quantity -= qty;
    if (p->cart[i].quantity <= 1e-9) cart_remove_at(p, (uint32_t)i);
}

/* ------------------------------------------------------------------ */
/* purchased set and orders                                            */

/* Index of h in bought[] or the insertion point (found: *hit = 1). */
static uint32_t bought_search(const struct tl_profile *p, uint64_t h, int *hit)
{
    uint32_t lo = 0, hi = p->n_bought;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->bought[mid].h < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    *hit = lo < p->n_bought && p->bought[lo].h == h;
    return lo;
}

static enum tl_rc bought_add(struct tl_profile *p, uint64_t h, int64_t ts)
{
    int hit;
    uint32_t pos = bought_search(p, h, &hit);
    if (hit) {
        if (ts > p->bought[pos].ts) p->bought[pos].ts = ts;
        return TL_OK;
    }
    if (p->n_bought == TL_PROFILE_PURCHASED_MAX) {
        uint32_t old = 0;
        for (uint32_t k = 1; k < p->n_bought; k++)
            if (p->bought[k].ts < p->bought[old].ts) old = k;
        if (ts < p->bought[old].ts) return TL_OK;
        memmove(&p->bought[old], &p->bought[old + 1], (p->n_bought - old - 1) * sizeof *p->bought);
        p->n_bought--;
        if (old < pos) pos--;
    }
    enum tl_rc rc =
        grow((void **)&p->bought, &p->cap_bought, sizeof *p->bought, p->n_bought + 1, TL_PROFILE_PURCHASED_MAX);
    if (rc) return rc;
    memmove(&p->bought[pos + 1], &p->bought[pos], (p->n_bought - pos) * sizeof *p->bought);
    p->bought[pos] = (struct bought){h, ts};
    p->n_bought++;
    return TL_OK;
}

static int order_known(const struct tl_profile *p, uint64_t h)
{
    for (uint32_t i = 0; i < p->n_orders_h; i++)
        if (p->orders_h[i] == h) return 1;
    return 0;
}

static enum tl_rc order_remember(struct tl_profile *p, uint64_t h)
{
    if (p->n_orders_h == TL_PROFILE_ORDERS_MAX) {
        memmove(&p->orders_h[0], &p->orders_h[1], (p->n_orders_h - 1) * sizeof *p->orders_h);
        p->n_orders_h--;
    }
    enum tl_rc rc =
        grow((void **)&p->orders_h, &p->cap_orders_h, sizeof *p->orders_h, p->n_orders_h + 1, TL_PROFILE_ORDERS_MAX);
    if (rc) return rc;
    p->orders_h[p->n_orders_h++] = h;
    return TL_OK;
}

/* ------------------------------------------------------------------ */
/* identity                                                            */

static enum tl_rc anon_add(struct tl_profile *p, const char *id)
{
    if (!id || !id[0] || strcmp(id, p->key) == 0) return TL_OK;
    for (uint32_t i = 0; i < p->n_anon; i++)
        if (strcmp(p->anon[i], id) == 0) return TL_OK;
    char *dup = tl_strdup(id);
    if (!dup) return TL_ENOMEM;
    if (p->n_anon == TL_PROFILE_ANON_MAX) {
        tl_free(p->anon[0]);
        memmove(&p->anon[0], &p->anon[1], (TL_PROFILE_ANON_MAX - 1) * sizeof p->anon[0]);
        p->n_anon--;
    }
    p->anon[p->n_anon++] = dup;
    return TL_OK;
}

static void country_set(struct tl_profile *p, const char *c, int64_t ts)
{
    if (!c || !c[0] || ts < p->country_ts) return;
    p->country[0] = (char)(c[0] & ~0x20);
    p->country[1] = (char)(c[1] & ~0x20);
    p->country[2] = 0;
    p->country_ts = ts;
}

enum tl_rc tl_profile_set_country(struct tl_profile *p, const char *country, int64_t ts_ms)
{
    if (!p || !country_ok(country)) return TL_EINVAL;
    country_set(p, country, ts_ms);
    return TL_OK;
}

/* ------------------------------------------------------------------ */
/* sessions                                                            */

static enum tl_rc session_start(struct tl_profile *p, int64_t ts, const char *sid)
{
    char gen[TL_PROFILE_SESSION_ID_MAX + 1];
    if (!sid) {
        snprintf(gen, sizeof gen, "%s-%lld", public_id(p->key), (long long)ts);
        sid = gen;
    }
    copy_trunc(p->sid, sid, TL_PROFILE_SESSION_ID_MAX); /* event_ok checked the length */
    p->has_sid = 1;
    p->s_start = p->s_last = ts;
    p->s_views = p->s_carts = p->s_searches = p->s_events = 0;
    p->sessions_total++;
    return TL_OK;
}

/* Decide which session ev belongs to; *in_current = 1 if the current one. */
static enum tl_rc session_apply(struct tl_profile *p, const struct tl_profile_event *ev, int *in_current)
{
    int64_t ts = ev->ts_ms;
    const char *sid = ev->session_id;
    *in_current = 0;
    if (!p->has_sid) {
        enum tl_rc rc = session_start(p, ts, sid);
        if (rc) return rc;
        *in_current = 1;
        return TL_OK;
    }
    if (ts >= p->s_last) {
        if ((sid && strcmp(sid, p->sid) != 0) || ts - p->s_last > p->session_timeout_ms) {
            enum tl_rc rc = session_start(p, ts, sid);
            if (rc) return rc;
        }
        p->s_last = ts;
        *in_current = 1;
        return TL_OK;
    }
    /* older than the last activity */
    if (sid) {
        if (strcmp(sid, p->sid) != 0) return TL_OK;
    } else if (ts < p->s_start && p->s_start - ts > p->session_timeout_ms) {
        return TL_OK;
    }
    if (ts < p->s_start) p->s_start = ts;
    *in_current = 1;
    return TL_OK;
}

/* ------------------------------------------------------------------ */
/* apply                                                               */

struct line_ref {
    const char *item;
    double qty, price;
    const char *cat, *brand;
};

static size_t line_count(const struct tl_profile_event *ev)
{
    if (ev->n_lines) return ev->n_lines;
    return ev->item_id ? 1 : 0;
}

static struct line_ref line_at(const struct tl_profile_event *ev, size_t i)
{
    if (!ev->n_lines) return (struct line_ref){ev->item_id, ev->quantity, ev->price, ev->category, ev->brand};
    return (struct line_ref){ev->lines[i].item_id, ev->lines[i].quantity, ev->lines[i].price,
                             ev->line_categories ? ev->line_categories[i] : NULL,
                             ev->line_brands ? ev->line_brands[i] : NULL};
}

static int event_ok(const struct tl_profile_event *ev)
{
    if ((int)ev->type <= (int)TL_EV_NONE || (int)ev->type >= (int)TL_EV_MAX_) return 0;
    if (ev->ts_ms <= 0) return 0;
    if (!id_ok(ev->session_id, TL_PROFILE_SESSION_ID_MAX) || !id_ok(ev->item_id, TL_ID_MAX) ||
        !id_ok(ev->order_id, TL_ID_MAX))
        return 0;
    if (!country_ok(ev->country)) return 0;
    if (!price_ok(ev->price) || !qty_ok(ev->quantity)) return 0;
    if (!isnan(ev->scroll_depth) && !(ev->scroll_depth >= 0 && ev->scroll_depth <= 1)) return 0;
    if (ev->n_lines > TL_EVENT_LINES_MAX || (ev->n_lines && !ev->lines)) return 0;
    for (size_t i = 0; i < ev->n_lines; i++) {
        const struct tl_line *l = &ev->lines[i];
        if (!l->item_id || !id_ok(l->item_id, TL_ID_MAX) || !price_ok(l->price) || !qty_ok(l->quantity)) return 0;
    }
    return 1;
}

static double or_one(double q) { return isnan(q) ? 1.0 : q; }

static enum tl_rc apply_purchase(struct tl_profile *p, const struct tl_profile_event *ev)
{
    int64_t ts = ev->ts_ms;
    size_t n = line_count(ev);
    enum tl_rc rc;
    for (size_t i = 0; i < n; i++) {
        struct line_ref l = line_at(ev, i);
        if ((rc = credit(p, l.cat, l.brand, TL_PROFILE_W_PURCHASE, ts))) return rc;
        price_add(p, l.price, TL_PROFILE_W_PURCHASE, ts);
        if ((rc = bought_add(p, item_hash(l.item), ts))) return rc;
        int c = cart_find(p, l.item);
        if (c >= 0 && p->cart[c].added_ms <= ts) cart_remove_at(p, (uint32_t)c);
        double q = or_one(l.qty);
        p->units += q;
        if (!isnan(l.price)) p->monetary += q * l.price;
    }
    if (n == 0)
        for (uint32_t i = p->n_cart; i-- > 0;)
            if (p->cart[i].added_ms <= ts) cart_remove_at(p, i);
    if (ev->order_id) {
        uint64_t h = item_hash(ev->order_id);
        if (!order_known(p, h)) {
            if ((rc = order_remember(p, h))) return rc;
            p->orders++;
        }
    } else {
        p->orders++;
    }
    if (!p->first_purchase || ts < p->first_purchase) p->first_purchase = ts;
    if (ts > p->last_purchase) p->last_purchase = ts;
    return TL_OK;
}

enum tl_rc tl_profile_apply(struct tl_profile *p, const struct tl_profile_event *ev,
                            const struct tl_profile_params *params)
{
    if (!p || !ev || !event_ok(ev)) return TL_EINVAL;
    if (params) {
        if (params->half_life_ms <= 0 || params->session_timeout_ms <= 0) return TL_EINVAL;
        p->half_life_ms = params->half_life_ms;
        p->session_timeout_ms = params->session_timeout_ms;
    }
    int64_t ts = ev->ts_ms;
    int cur;
    enum tl_rc rc = session_apply(p, ev, &cur);
    if (rc) return rc;
    if (cur) p->s_events++;
    p->counts[ev->type]++;
    if (!p->first_seen || ts < p->first_seen) p->first_seen = ts;
    if (ts > p->last_seen) p->last_seen = ts;
    country_set(p, ev->country, ts);

    size_t n = line_count(ev);
    switch (ev->type) {
    case TL_EV_PRODUCT_VIEW: {
        if (cur) p->s_views++;
        if (!ev->item_id) break;
        int engaged = ev->dwell_ms >= TL_PROFILE_ENGAGED_DWELL_MS ||
                      (!isnan(ev->scroll_depth) && ev->scroll_depth >= TL_PROFILE_ENGAGED_SCROLL);
        double w = engaged ? TL_PROFILE_W_VIEW_ENGAGED : TL_PROFILE_W_VIEW;
        if ((rc = views_add(p, ev->item_id, ts, ev->dwell_ms, ev->scroll_depth))) return rc;
        if ((rc = credit(p, ev->category, ev->brand, w, ts))) return rc;
        price_add(p, ev->price, w, ts);
        break;
    }
    case TL_EV_CATEGORY_VIEW:
        return credit_category(p, ev->category, TL_PROFILE_W_CATEGORY_VIEW, ts);
    case TL_EV_SEARCH:
        if (cur) p->s_searches++;
        break;
    case TL_EV_ADD_TO_CART:
        if (cur) p->s_carts++;
        for (size_t i = 0; i < n; i++) {
            struct line_ref l = line_at(ev, i);
            if ((rc = cart_add(p, l.item, or_one(l.qty), l.price, ts))) return rc;
            if ((rc = credit(p, l.cat, l.brand, TL_PROFILE_W_CART, ts))) return rc;
            price_add(p, l.price, TL_PROFILE_W_CART, ts);
        }
        break;
    case TL_EV_REMOVE_FROM_CART:
        for (size_t i = 0; i < n; i++) {
            struct line_ref l = line_at(ev, i);
            cart_sub(p, l.item, l.qty);
        }
        break;
    case TL_EV_PURCHASE:
        return apply_purchase(p, ev);
    case TL_EV_RETURN:
        p->returns++;
        for (size_t i = 0; i < n; i++) {
            struct line_ref l = line_at(ev, i);
            if (!isnan(l.price)) p->returned_value += or_one(l.qty) * l.price;
            if ((rc = credit(p, l.cat, l.brand, TL_PROFILE_W_RETURN, ts))) return rc;
        }
        break;
    default:
        break;
    }
    return TL_OK;
}

/* ------------------------------------------------------------------ */
/* serialization                                                       */

/* The blob is written in two passes: the first measures every string
 * (strlen once each, kept in struct lens) and the whole size, the buffer
 * is reserved once, and the second writes through a pointer without
 * further checks. Integers are little-endian, n bytes (p_le: the byte
 * stores of a constant n merge into one store); strings are a 2-byte
 * length and the bytes (no NUL). */
struct lens {
    uint16_t key, anon[TL_PROFILE_ANON_MAX], country, sid, views[TL_PROFILE_RECENT_MAX], cart[TL_PROFILE_CART_MAX],
        aff[2][TL_PROFILE_AFF_MAX];
};

static inline unsigned char *p_le(unsigned char *w, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) w[i] = (unsigned char)(v >> (8 * i));
    return w + n;
}

static inline unsigned char *p_f64(unsigned char *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return p_le(w, u, 8);
}

static inline unsigned char *p_str(unsigned char *w, const char *s, uint16_t n)
{
    w = p_le(w, n, 2);
    if (n) memcpy(w, s, n);
    return w + n;
}

/* Length of s (NULL: 0) into *n; 0 if it does not fit the 2-byte length. */
static int measure(const char *s, uint16_t *n)
{
    size_t k = s ? strlen(s) : 0;
    *n = (uint16_t)k;
    return k <= UINT16_MAX;
}

/* Bytes of p's blob (SIZE_MAX if a string is too long), its strings'
 * lengths into l. */
static size_t blob_size(const struct tl_profile *p, struct lens *l)
{
    int ok = measure(p->key, &l->key) & measure(p->country, &l->country);
    l->sid = 0;
    size_t n = 1 + 2 + l->key + 1 + 2 + l->country + 4 * 8 + 1;
    for (uint32_t i = 0; i < p->n_anon; i++) {
        ok &= measure(p->anon[i], &l->anon[i]);
        n += 2 + l->anon[i];
    }
    if (p->has_sid) {
        ok &= measure(p->sid, &l->sid);
        n += 2 + l->sid + 2 * 8 + 4 * 4;
    }
    n += 4 + 1 + 4 * (TL_EV_MAX_ - 1) + 1;
    for (uint32_t i = 0; i < p->n_views; i++) {
        ok &= measure(p->views[i].item_id, &l->views[i]);
        n += 2 + l->views[i] + 8 + 4 + 4;
    }
    n += 2;
    for (uint32_t i = 0; i < p->n_cart; i++) {
        ok &= measure(p->cart[i].item_id, &l->cart[i]);
        n += 2 + l->cart[i] + 3 * 8;
    }
    for (int k = 0; k < 2; k++) {
        n += 1;
        for (uint32_t i = 0; i < p->aff[k].n; i++) {
            ok &= measure(p->aff[k].v[i].name, &l->aff[k][i]);
            n += 2 + l->aff[k][i] + 2 * 8;
        }
    }
    n += 4 * 8 + 2 * 8 + 4 + 2 * 8 + 4 + 8;                                /* price band, purchase summary, returns */
    n += 2 + 8 * (size_t)p->n_orders_h + 2 + 16 * (size_t)p->n_bought + 4; /* order and item hashes, checksum */
    return ok ? n : SIZE_MAX;
}

enum tl_rc tl_profile_serialize(const struct tl_profile *p, struct tl_buf *out)
{
    if (!p || !out) return TL_EINVAL;
    struct lens l;
    size_t size = blob_size(p, &l);
    if (size == SIZE_MAX) return TL_ETOOBIG;
    enum tl_rc rc = tl_buf_reserve(out, size);
    if (rc) return rc;
    unsigned char *w0 = (unsigned char *)out->data + out->len, *w = w0;
    *w++ = TL_PROFILE_VERSION;
    w = p_str(w, p->key, l.key);
    *w++ = (unsigned char)p->n_anon;
    for (uint32_t i = 0; i < p->n_anon; i++) w = p_str(w, p->anon[i], l.anon[i]);
    w = p_str(w, p->country, l.country);
    w = p_le(w, (uint64_t)p->country_ts, 8);
    w = p_le(w, (uint64_t)p->half_life_ms, 8);
    w = p_le(w, (uint64_t)p->first_seen, 8);
    w = p_le(w, (uint64_t)p->last_seen, 8);
    *w++ = p->has_sid ? 1 : 0;
    if (p->has_sid) {
        w = p_str(w, p->sid, l.sid);
        w = p_le(w, (uint64_t)p->s_start, 8);
        w = p_le(w, (uint64_t)p->s_last, 8);
        w = p_le(w, p->s_views, 4);
        w = p_le(w, p->s_carts, 4);
        w = p_le(w, p->s_searches, 4);
        w = p_le(w, p->s_events, 4);
    }
    w = p_le(w, p->sessions_total, 4);
    *w++ = TL_EV_MAX_ - 1;
    for (int t = 1; t < TL_EV_MAX_; t++) w = p_le(w, p->counts[t], 4);
    *w++ = (unsigned char)p->n_views;
    for (uint32_t i = 0; i < p->n_views; i++) {
        const struct tl_profile_view *v = &p->views[i];
        uint32_t sb;
        memcpy(&sb, &v->scroll, 4);
        w = p_str(w, v->item_id, l.views[i]);
        w = p_le(w, (uint64_t)v->ts_ms, 8);
        w = p_le(w, (uint32_t)v->dwell_ms, 4);
        w = p_le(w, sb, 4);
    }
    w = p_le(w, p->n_cart, 2);
    for (uint32_t i = 0; i < p->n_cart; i++) {
        w = p_str(w, p->cart[i].item_id, l.cart[i]);
        w = p_f64(w, p->cart[i].quantity);
        w = p_f64(w, p->cart[i].price);
        w = p_le(w, (uint64_t)p->cart[i].added_ms, 8);
    }
    for (int k = 0; k < 2; k++) {
        *w++ = (unsigned char)p->aff[k].n;
        for (uint32_t i = 0; i < p->aff[k].n; i++) {
            w = p_str(w, p->aff[k].v[i].name, l.aff[k][i]);
            w = p_f64(w, p->aff[k].v[i].score);
            w = p_le(w, (uint64_t)p->aff[k].v[i].t_ref, 8);
        }
    }
    w = p_f64(w, p->pw);
    w = p_f64(w, p->pmean);
    w = p_f64(w, p->ps2);
    w = p_le(w, (uint64_t)p->pt, 8);
    w = p_le(w, (uint64_t)p->first_purchase, 8);
    w = p_le(w, (uint64_t)p->last_purchase, 8);
    w = p_le(w, p->orders, 4);
    w = p_f64(w, p->units);
    w = p_f64(w, p->monetary);
    w = p_le(w, p->returns, 4);
    w = p_f64(w, p->returned_value);
    w = p_le(w, p->n_orders_h, 2);
    for (uint32_t i = 0; i < p->n_orders_h; i++) w = p_le(w, p->orders_h[i], 8);
    w = p_le(w, p->n_bought, 2);
    for (uint32_t i = 0; i < p->n_bought; i++) {
        w = p_le(w, p->bought[i].h, 8);
        w = p_le(w, (uint64_t)p->bought[i].ts, 8);
    }
    w = p_le(w, (uint32_t)tl_hash(w0, (size_t)(w - w0), 0), 4);
    if ((size_t)(w - w0) != size) return TL_EINTERNAL; /* blob_size disagrees with the writes: a bug the tests catch */
    out->len += (size_t)(w - w0);
    out->data[out->len] = '\0';
    return TL_OK;
}

struct rd {
    const uint8_t *p;
    size_t n, off;
    int bad, oom;
};

static uint64_t r_le(struct rd *r, int n)
{
    if (r->bad || r->n - r->off < (size_t)n) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += (size_t)n;
    return v;
}

static int64_t r_i64(struct rd *r) { return (int64_t)r_le(r, 8); }

static double r_f64(struct rd *r)
{
    uint64_t u = r_le(r, 8);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* A string of minlen..maxlen bytes without NUL; NULL (r->bad / r->oom) on
 * failure. */
static char *r_str(struct rd *r, size_t minlen, size_t maxlen)
{
    size_t n = (size_t)r_le(r, 2);
    if (r->bad || n < minlen || n > maxlen || r->n - r->off < n || memchr(r->p + r->off, 0, n)) {
        r->bad = 1;
        return NULL;
    }
    char *s = tl_strndup((const char *)r->p + r->off, n);
    if (!s) {
        r->oom = 1;
        return NULL;
    }
    r->off += n;
    return s;
}

static int fin_nonneg(double d) { return isfinite(d) && d >= 0; }

#define CHECK(cond, what)                                                                                              \
    do {                                                                                                               \
        if (r.oom) goto oom;                                                                                           \
        if (r.bad || !(cond)) {                                                                                        \
            reason = (what);                                                                                           \
            goto bad;                                                                                                  \
        }                                                                                                              \
    } while (0)

enum tl_rc tl_profile_deserialize(const void *blob, size_t len, struct tl_profile **out, struct tl_err *err)
{
    const char *reason = NULL;
    struct tl_profile *p = NULL;
    if (!out) return TL_EINVAL;
    *out = NULL;
    if (!blob || len < 5) return tl_err_set(err, TL_EPARSE, "profile", "profile blob truncated (%zu bytes)", len);
    if (len > TL_PROFILE_BLOB_MAX)
        return tl_err_set(err, TL_EPARSE, "profile", "profile blob of %zu bytes exceeds %zu", len, TL_PROFILE_BLOB_MAX);
    const uint8_t *b = blob;
    uint32_t sum =
        (uint32_t)b[len - 4] | (uint32_t)b[len - 3] << 8 | (uint32_t)b[len - 2] << 16 | (uint32_t)b[len - 1] << 24;
    if ((uint32_t)tl_hash(b, len - 4, 0) != sum)
        return tl_err_set(err, TL_EPARSE, "profile", "profile blob checksum mismatch (truncated or corrupt)");
    if (b[0] != TL_PROFILE_VERSION)
        return tl_err_set(err, TL_EPARSE, "profile", "unknown profile blob version %u (expected %u)", b[0],
                          TL_PROFILE_VERSION);
    struct rd r = {b, len - 4, 1, 0, 0};
    p = tl_calloc(1, sizeof *p);
    if (!p) return tl_err_set(err, TL_ENOMEM, "profile", "out of memory");
    p->session_timeout_ms = TL_PROFILE_SESSION_TIMEOUT_DEFAULT_MS;

    p->key = r_str(&r, 1, TL_PROFILE_KEY_MAX);
    CHECK(1, "user key");
    uint32_t n = (uint32_t)r_le(&r, 1);
    CHECK(n <= TL_PROFILE_ANON_MAX, "anonymous id count");
    for (uint32_t i = 0; i < n; i++) {
        p->anon[i] = r_str(&r, 1, TL_PROFILE_KEY_MAX);
        CHECK(1, "anonymous id");
        p->n_anon++;
    }
    char *c = r_str(&r, 0, 2);
    CHECK(1, "country");
    int cok = (c[0] == 0) || (c[1] && country_ok(c) && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z');
    memcpy(p->country, c, strlen(c) + 1);
    tl_free(c);
    CHECK(cok, "country");
    p->country_ts = r_i64(&r);
    p->half_life_ms = r_i64(&r);
    CHECK(p->half_life_ms > 0, "half-life");
    p->first_seen = r_i64(&r);
    p->last_seen = r_i64(&r);
    CHECK(p->first_seen >= 0 && p->last_seen >= p->first_seen, "first/last seen");
    uint32_t has_s = (uint32_t)r_le(&r, 1);
    CHECK(has_s <= 1, "session flag");
    if (has_s) {
        char *sid = r_str(&r, 1, TL_PROFILE_SESSION_ID_MAX);
        CHECK(1, "session id");
        memcpy(p->sid, sid, strlen(sid) + 1);
        p->has_sid = 1;
        tl_free(sid);
        p->s_start = r_i64(&r);
        p->s_last = r_i64(&r);
        CHECK(p->s_start > 0 && p->s_last >= p->s_start, "session times");
        p->s_views = (uint32_t)r_le(&r, 4);
        p->s_carts = (uint32_t)r_le(&r, 4);
        p->s_searches = (uint32_t)r_le(&r, 4);
        p->s_events = (uint32_t)r_le(&r, 4);
    }
    p->sessions_total = (uint32_t)r_le(&r, 4);
    n = (uint32_t)r_le(&r, 1);
    CHECK(n <= TL_EV_MAX_ - 1, "event counter count");
    for (uint32_t t = 1; t <= n; t++) p->counts[t] = (uint32_t)r_le(&r, 4);

    n = (uint32_t)r_le(&r, 1);
    CHECK(n <= TL_PROFILE_RECENT_MAX, "recently viewed count");
    if (n) {
        p->vbase = p->views = tl_calloc(1, views_block(n));
        if (!p->views) goto oom;
        p->cap_views = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct tl_profile_view *v = &p->views[i];
        char *id = r_str(&r, 1, TL_ID_MAX);
        CHECK(1, "viewed item id");
        v->item_id = view_id_dup(p, id);
        tl_free(id);
        if (!v->item_id) goto oom;
        view_hashes(p)[i] = view_hash(v->item_id);
        p->n_views++;
        v->ts_ms = r_i64(&r);
        v->dwell_ms = (int32_t)(uint32_t)r_le(&r, 4);
        uint32_t sb = (uint32_t)r_le(&r, 4);
        memcpy(&v->scroll, &sb, 4);
        CHECK(v->ts_ms > 0 && v->dwell_ms >= -1 && (isnan(v->scroll) || (v->scroll >= 0 && v->scroll <= 1)),
              "viewed item fields");
        CHECK(i == 0 || p->views[i - 1].ts_ms >= v->ts_ms, "recently viewed order");
        for (uint32_t k = 0; k < i; k++) CHECK(strcmp(p->views[k].item_id, v->item_id) != 0, "duplicate view");
    }
    n = (uint32_t)r_le(&r, 2);
    CHECK(n <= TL_PROFILE_CART_MAX, "cart line count");
    if (n) {
        p->cart = tl_calloc(n, sizeof *p->cart);
        if (!p->cart) goto oom;
        p->cap_cart = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct tl_profile_cart_line *l = &p->cart[i];
        l->item_id = r_str(&r, 1, TL_ID_MAX);
        CHECK(1, "cart item id");
        p->n_cart++;
        l->h = view_hash(l->item_id);
        l->quantity = r_f64(&r);
        l->price = r_f64(&r);
        l->added_ms = r_i64(&r);
        CHECK(isfinite(l->quantity) && l->quantity > 0 && price_ok(l->price) && l->added_ms > 0, "cart line fields");
        for (uint32_t k = 0; k < i; k++) CHECK(strcmp(p->cart[k].item_id, l->item_id) != 0, "duplicate cart line");
    }
    for (int k = 0; k < 2; k++) {
        struct aff_set *s = &p->aff[k];
        n = (uint32_t)r_le(&r, 1);
        CHECK(n <= TL_PROFILE_AFF_MAX, "affinity count");
        if (n) {
            s->v = tl_calloc(n, sizeof *s->v);
            if (!s->v) goto oom;
            s->cap = n;
        }
        for (uint32_t i = 0; i < n; i++) {
            struct aff *a = &s->v[i];
            a->name = r_str(&r, 1, TL_PROFILE_NAME_MAX);
            CHECK(1, "affinity name");
            a->h = a->name ? aff_hash(a->name) : 0;
            s->n++;
            a->score = r_f64(&r);
            a->t_ref = r_i64(&r);
            CHECK(isfinite(a->score) && a->score > 0, "affinity score");
            for (uint32_t j = 0; j < i; j++) CHECK(strcmp(s->v[j].name, a->name) != 0, "duplicate affinity");
        }
    }
    p->pw = r_f64(&r);
    p->pmean = r_f64(&r);
    p->ps2 = r_f64(&r);
    p->pt = r_i64(&r);
    CHECK(fin_nonneg(p->pw) && fin_nonneg(p->pmean) && fin_nonneg(p->ps2), "price band");
    p->first_purchase = r_i64(&r);
    p->last_purchase = r_i64(&r);
    CHECK(p->first_purchase >= 0 && p->last_purchase >= p->first_purchase, "purchase times");
    p->orders = (uint32_t)r_le(&r, 4);
    p->units = r_f64(&r);
    p->monetary = r_f64(&r);
    p->returns = (uint32_t)r_le(&r, 4);
    p->returned_value = r_f64(&r);
    CHECK(fin_nonneg(p->units) && fin_nonneg(p->monetary) && fin_nonneg(p->returned_value), "purchase totals");
    n = (uint32_t)r_le(&r, 2);
    CHECK(n <= TL_PROFILE_ORDERS_MAX, "order id count");
    if (n) {
        p->orders_h = tl_calloc(n, sizeof *p->orders_h);
        if (!p->orders_h) goto oom;
        p->cap_orders_h = n;
    }
    for (uint32_t i = 0; i < n; i++) p->orders_h[i] = r_le(&r, 8);
    p->n_orders_h = n;
    CHECK(1, "order ids");
    n = (uint32_t)r_le(&r, 2);
    CHECK(n <= TL_PROFILE_PURCHASED_MAX, "purchased item count");
    if (n) {
        p->bought = tl_calloc(n, sizeof *p->bought);
        if (!p->bought) goto oom;
        p->cap_bought = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        p->bought[i].h = r_le(&r, 8);
        p->bought[i].ts = r_i64(&r);
        p->n_bought++;
        CHECK(i == 0 || p->bought[i - 1].h < p->bought[i].h, "purchased set order");
    }
    CHECK(r.off == r.n, "trailing bytes");
    *out = p;
    return TL_OK;
bad:
    tl_profile_free(p);
    return tl_err_set(err, TL_EPARSE, "profile", "corrupt profile blob: bad %s at byte %zu", reason, r.off);
oom:
    tl_profile_free(p);
    return tl_err_set(err, TL_ENOMEM, "profile", "out of memory reading profile blob");
}

/* ------------------------------------------------------------------ */
/* merge                                                               */

static enum tl_rc clone(const struct tl_profile *p, struct tl_profile **out)
{
    struct tl_buf b;
    tl_buf_init(&b, TL_PROFILE_BLOB_MAX);
    enum tl_rc rc = tl_profile_serialize(p, &b);
    if (!rc) rc = tl_profile_deserialize(b.data, b.len, out, NULL);
    tl_buf_free(&b);
    if (rc == TL_OK) (*out)->session_timeout_ms = p->session_timeout_ms;
    return rc == TL_EPARSE ? TL_EINTERNAL : rc;
}

static enum tl_rc merge_into(struct tl_profile *t, const struct tl_profile *f)
{
    enum tl_rc rc;
    if ((rc = anon_add(t, f->key))) return rc;
    for (uint32_t i = 0; i < f->n_anon; i++)
        if ((rc = anon_add(t, f->anon[i]))) return rc;
    if (f->country[0] && (!t->country[0] || f->country_ts > t->country_ts)) {
        memcpy(t->country, f->country, 3);
        t->country_ts = f->country_ts;
    }
    if (f->first_seen && (!t->first_seen || f->first_seen < t->first_seen)) t->first_seen = f->first_seen;
    if (f->last_seen > t->last_seen) t->last_seen = f->last_seen;
    if (f->has_sid && (!t->has_sid || f->s_last > t->s_last)) {
        memcpy(t->sid, f->sid, sizeof t->sid);
        t->has_sid = 1;
        t->s_start = f->s_start;
        t->s_last = f->s_last;
        t->s_views = f->s_views;
        t->s_carts = f->s_carts;
        t->s_searches = f->s_searches;
        t->s_events = f->s_events;
    }
    t->sessions_total += f->sessions_total;
    for (int k = 1; k < TL_EV_MAX_; k++) t->counts[k] += f->counts[k];
    for (uint32_t i = 0; i < f->n_views; i++) {
        const struct tl_profile_view *v = &f->views[i];
        if ((rc = views_add(t, v->item_id, v->ts_ms, v->dwell_ms, isnan(v->scroll) ? NAN : (double)v->scroll)))
            return rc;
    }
    for (uint32_t i = 0; i < f->n_cart; i++) {
        const struct tl_profile_cart_line *l = &f->cart[i];
        int c = cart_find(t, l->item_id);
        if (c >= 0 && isnan(t->cart[c].price) && !isnan(l->price)) t->cart[c].price = l->price;
        if ((rc = cart_add(t, l->item_id, l->quantity, c >= 0 ? NAN : l->price, l->added_ms))) return rc;
    }
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < f->aff[k].n; i++) {
            const struct aff *a = &f->aff[k].v[i];
            if ((rc = aff_add(&t->aff[k], a->name, a->score, a->t_ref, t->half_life_ms))) return rc;
        }
    if (f->pw > 0) {
        if (!(t->pw > 0)) {
            t->pw = f->pw;
            t->pmean = f->pmean;
            t->ps2 = f->ps2;
            t->pt = f->pt;
        } else {
            int64_t tc = t->pt > f->pt ? t->pt : f->pt;
            double wa = t->pw * decay(tc - t->pt, t->half_life_ms);
            double sa = t->ps2 * decay(tc - t->pt, t->half_life_ms);
            double wb = f->pw * decay(tc - f->pt, t->half_life_ms);
            double sb = f->ps2 * decay(tc - f->pt, t->half_life_ms);
            double w = wa + wb;
            if (w > 0) {
                double d = t->pmean - f->pmean;
                t->pmean = (wa * t->pmean + wb * f->pmean) / w;
                t->ps2 = sa + sb + wa * wb / w * d * d;
                t->pw = w;
                t->pt = tc;
            }
        }
    }
    if (f->first_purchase && (!t->first_purchase || f->first_purchase < t->first_purchase))
        t->first_purchase = f->first_purchase;
    if (f->last_purchase > t->last_purchase) t->last_purchase = f->last_purchase;
    uint32_t common = 0;
    for (uint32_t i = 0; i < f->n_orders_h; i++) {
        if (order_known(t, f->orders_h[i])) {
            common++;
        } else if ((rc = order_remember(t, f->orders_h[i]))) {
            return rc;
        }
    }
    t->orders += f->orders >= common ? f->orders - common : 0;
    t->units += f->units;
    t->monetary += f->monetary;
    t->returns += f->returns;
    t->returned_value += f->returned_value;
    for (uint32_t i = 0; i < f->n_bought; i++)
        if ((rc = bought_add(t, f->bought[i].h, f->bought[i].ts))) return rc;
    return TL_OK;
}

enum tl_rc tl_profile_merge(struct tl_profile *into, const struct tl_profile *from)
{
    if (!into || !from || into == from) return TL_EINVAL;
    struct tl_profile *t;
    enum tl_rc rc = clone(into, &t);
    if (rc) return rc;
    rc = merge_into(t, from);
    if (rc) {
        tl_profile_free(t);
        return rc;
    }
    struct tl_profile tmp = *into;
    *into = *t;
    *t = tmp;
    tl_profile_free(t);
    return TL_OK;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

/* JSON is appended through tl_buf, each step checked. */
#define W(x)                                                                                                           \
    do {                                                                                                               \
        if ((rc = (x))) goto fail;                                                                                     \
    } while (0)

static enum tl_rc j_num(struct tl_buf *b, double x)
{
    if (!isfinite(x)) return tl_buf_puts(b, "null");
    if (x == 0) return tl_buf_putc(b, '0');
    return tl_buf_printf(b, "%.10g", x);
}

static enum tl_rc j_time(struct tl_buf *b, int64_t ms)
{
    if (ms <= 0) return tl_buf_puts(b, "null");
    char t[40];
    tl_time_format(ms, t, sizeof t);
    return tl_buf_printf(b, "\"%s\"", t);
}

static enum tl_rc j_affs(struct tl_buf *b, const struct tl_profile *p, enum tl_profile_aff_kind k, int64_t now)
{
    const char *names[TL_PROFILE_AFF_MAX];
    double scores[TL_PROFILE_AFF_MAX];
    size_t n = tl_profile_top_affinities(p, k, now, names, scores, TL_PROFILE_AFF_MAX);
    enum tl_rc rc;
    W(tl_buf_putc(b, '['));
    for (size_t i = 0; i < n; i++) {
        W(tl_buf_puts(b, i ? ",{\"name\":" : "{\"name\":"));
        W(tl_buf_json_str(b, names[i]));
        W(tl_buf_puts(b, ",\"score\":"));
        W(tl_buf_printf(b, "%.6g", scores[i]));
        W(tl_buf_putc(b, '}'));
    }
    W(tl_buf_putc(b, ']'));
    return TL_OK;
fail:
    return rc;
}

enum tl_rc tl_profile_to_json(const struct tl_profile *p, int64_t now_ms, struct tl_buf *out)
{
    if (!p || !out) return TL_EINVAL;
    size_t start = out->len;
    enum tl_rc rc;
    W(tl_buf_puts(out, "{\"user_id\":"));
    W(tl_buf_json_str(out, public_id(p->key)));
    W(tl_buf_puts(out, ",\"anonymous_ids\":["));
    for (uint32_t i = 0; i < p->n_anon; i++) {
        if (i) W(tl_buf_putc(out, ','));
        W(tl_buf_json_str(out, public_id(p->anon[i])));
    }
    W(tl_buf_puts(out, "],\"country\":"));
    if (p->country[0])
        W(tl_buf_json_str(out, p->country));
    else
        W(tl_buf_puts(out, "null"));
    W(tl_buf_puts(out, ",\"session\":"));
    if (p->has_sid) {
        W(tl_buf_puts(out, "{\"id\":"));
        W(tl_buf_json_str(out, p->sid));
        W(tl_buf_puts(out, ",\"started_at\":"));
        W(j_time(out, p->s_start));
        W(tl_buf_puts(out, ",\"last_activity\":"));
        W(j_time(out, p->s_last));
        int active = now_ms >= p->s_last && now_ms - p->s_last <= p->session_timeout_ms;
        W(tl_buf_printf(out, ",\"active\":%s,\"views\":%u,\"carts\":%u,\"searches\":%u,\"events\":%u}",
                        active ? "true" : "false", p->s_views, p->s_carts, p->s_searches, p->s_events));
    } else {
        W(tl_buf_puts(out, "null"));
    }
    W(tl_buf_printf(out, ",\"sessions_total\":%u,\"recently_viewed\":[", p->sessions_total));
    for (uint32_t i = 0; i < p->n_views; i++) {
        const struct tl_profile_view *v = &p->views[i];
        W(tl_buf_puts(out, i ? ",{\"item_id\":" : "{\"item_id\":"));
        W(tl_buf_json_str(out, v->item_id));
        W(tl_buf_puts(out, ",\"viewed_at\":"));
        W(j_time(out, v->ts_ms));
        if (v->dwell_ms >= 0)
            W(tl_buf_printf(out, ",\"dwell_ms\":%d", (int)v->dwell_ms));
        else
            W(tl_buf_puts(out, ",\"dwell_ms\":null"));
        if (isnan(v->scroll))
            W(tl_buf_puts(out, ",\"scroll_depth\":null"));
        else /* stored as float: print the 3 significant digits it carries */
            W(tl_buf_printf(out, ",\"scroll_depth\":%.3g", (double)v->scroll));
        W(tl_buf_putc(out, '}'));
    }
    W(tl_buf_puts(out, "],\"cart\":["));
    for (uint32_t i = 0; i < p->n_cart; i++) {
        const struct tl_profile_cart_line *l = &p->cart[i];
        W(tl_buf_puts(out, i ? ",{\"item_id\":" : "{\"item_id\":"));
        W(tl_buf_json_str(out, l->item_id));
        W(tl_buf_puts(out, ",\"quantity\":"));
        W(j_num(out, l->quantity));
        W(tl_buf_puts(out, ",\"price\":"));
        W(j_num(out, l->price));
        W(tl_buf_puts(out, ",\"added_at\":"));
        W(j_time(out, l->added_ms));
        W(tl_buf_putc(out, '}'));
    }
    W(tl_buf_puts(out, "],\"affinities\":{\"categories\":"));
    W(j_affs(out, p, TL_PROFILE_CATEGORY, now_ms));
    W(tl_buf_puts(out, ",\"brands\":"));
    W(j_affs(out, p, TL_PROFILE_BRAND, now_ms));
    W(tl_buf_puts(out, "},\"price_band\":"));
    double mean, lo, hi;
    if (tl_profile_price_band(p, &mean, &lo, &hi)) {
        W(tl_buf_puts(out, "{\"mean\":"));
        W(j_num(out, mean));
        W(tl_buf_puts(out, ",\"low\":"));
        W(j_num(out, lo));
        W(tl_buf_puts(out, ",\"high\":"));
        W(j_num(out, hi));
        W(tl_buf_putc(out, '}'));
    } else {
        W(tl_buf_puts(out, "null"));
    }
    W(tl_buf_printf(out, ",\"purchases\":{\"orders\":%u,\"units\":", p->orders));
    W(j_num(out, p->units));
    W(tl_buf_puts(out, ",\"monetary\":"));
    W(j_num(out, p->monetary));
    W(tl_buf_puts(out, ",\"first_at\":"));
    W(j_time(out, p->first_purchase));
    W(tl_buf_puts(out, ",\"last_at\":"));
    W(j_time(out, p->last_purchase));
    W(tl_buf_puts(out, ",\"recency_days\":"));
    if (p->last_purchase > 0) {
        int64_t d = now_ms > p->last_purchase ? (now_ms - p->last_purchase) / TL_MS_PER_DAY : 0;
        W(tl_buf_printf(out, "%lld", (long long)d));
    } else {
        W(tl_buf_puts(out, "null"));
    }
    W(tl_buf_printf(out, ",\"returns\":%u,\"returned_value\":", p->returns));
    W(j_num(out, p->returned_value));
    W(tl_buf_puts(out, "},\"counts\":{"));
    for (int t = 1; t < TL_EV_MAX_; t++)
        W(tl_buf_printf(out, "%s\"%s\":%u", t > 1 ? "," : "", tl_event_type_str((enum tl_event_type)t), p->counts[t]));
    W(tl_buf_puts(out, "},\"first_seen\":"));
    W(j_time(out, p->first_seen));
    W(tl_buf_puts(out, ",\"last_seen\":"));
    W(j_time(out, p->last_seen));
    W(tl_buf_putc(out, '}'));
    return TL_OK;
fail:
    out->len = start;
    if (out->data) out->data[start] = 0;
    return rc;
}

/* Every 64-byte line of [a, a + n). */
static void prefetch_range(const void *a, size_t n)
{
    const char *c = a;
    if (!c || !n) return;
    for (size_t off = 0; off < n; off += 64) __builtin_prefetch(c + off);
    __builtin_prefetch(c + n - 1); /* the last line when a is not line-aligned */
}

/* Level 3: the strings outside the profile's own arrays. */
static void prefetch_strings(const struct tl_profile *p)
{
    for (uint32_t i = 0; i < p->n_anon; i++) __builtin_prefetch(p->anon[i]);
    for (uint32_t i = 0; i < p->n_views; i++)
        if (!view_id_pooled(p, p->views[i].item_id)) __builtin_prefetch(p->views[i].item_id);
    for (uint32_t i = 0; i < p->n_cart; i++) __builtin_prefetch(p->cart[i].item_id);
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < p->aff[k].n; i++) __builtin_prefetch(p->aff[k].v[i].name);
}

void tl_profile_prefetch(const struct tl_profile *p, int level)
{
    if (!p) return;
    switch (level) {
    case 0:
        prefetch_range(p, sizeof *p);
        break;
    case 1:
        if (p->n_views) {
            prefetch_range(view_hashes(p), p->n_views * sizeof(uint32_t));
            __builtin_prefetch(p->views); /* a new view goes in front, the oldest may leave */
            __builtin_prefetch(&p->views[p->n_views - 1]);
        }
        if (p->vids) __builtin_prefetch(p->vids);
        break;
    case 2:
        if (p->key) __builtin_prefetch(p->key);
        prefetch_range(p->views, p->n_views * sizeof *p->views);
        prefetch_range(p->vids, p->cap_vids * sizeof *p->vids);
        prefetch_range(p->cart, p->n_cart * sizeof *p->cart);
        for (int k = 0; k < 2; k++) prefetch_range(p->aff[k].v, p->aff[k].n * sizeof *p->aff[k].v);
        prefetch_range(p->orders_h, p->n_orders_h * sizeof *p->orders_h);
        prefetch_range(p->bought, p->n_bought * sizeof *p->bought);
        break;
    default:
        prefetch_strings(p);
    }
}

/* ------------------------------------------------------------------ */
/* accessors                                                           */

static size_t str_mem(const char *s) { return s ? strlen(s) + 1 + ALLOC_OVERHEAD : 0; }

size_t tl_profile_memory(const struct tl_profile *p)
{
    if (!p) return 0;
    size_t m = sizeof *p + ALLOC_OVERHEAD + str_mem(p->key);
    for (uint32_t i = 0; i < p->n_anon; i++) m += str_mem(p->anon[i]);
    if (p->cap_views) m += views_block(p->cap_views) + ALLOC_OVERHEAD;
    if (p->vids) m += p->cap_vids * sizeof *p->vids + ALLOC_OVERHEAD;
    for (uint32_t i = 0; i < p->n_views; i++)
        if (!view_id_pooled(p, p->views[i].item_id)) m += str_mem(p->views[i].item_id);
    if (p->cap_cart) m += p->cap_cart * sizeof *p->cart + ALLOC_OVERHEAD;
    for (uint32_t i = 0; i < p->n_cart; i++) m += str_mem(p->cart[i].item_id);
    for (int k = 0; k < 2; k++) {
        if (p->aff[k].cap) m += p->aff[k].cap * sizeof(struct aff) + ALLOC_OVERHEAD;
        for (uint32_t i = 0; i < p->aff[k].n; i++) m += str_mem(p->aff[k].v[i].name);
    }
    if (p->cap_orders_h) m += p->cap_orders_h * sizeof *p->orders_h + ALLOC_OVERHEAD;
    if (p->cap_bought) m += p->cap_bought * sizeof *p->bought + ALLOC_OVERHEAD;
    return m;
}

const char *tl_profile_user_key(const struct tl_profile *p) { return p->key; }
const char *tl_profile_country(const struct tl_profile *p) { return p->country; }
size_t tl_profile_linked_count(const struct tl_profile *p) { return p->n_anon; }
const char *tl_profile_linked_id(const struct tl_profile *p, size_t i) { return i < p->n_anon ? p->anon[i] : NULL; }
int64_t tl_profile_first_seen(const struct tl_profile *p) { return p->first_seen; }
int64_t tl_profile_last_seen(const struct tl_profile *p) { return p->last_seen; }
uint32_t tl_profile_sessions_total(const struct tl_profile *p) { return p->sessions_total; }

const char *tl_profile_session(const struct tl_profile *p, int64_t *start_ms, int64_t *last_ms)
{
    if (start_ms) *start_ms = p->s_start;
    if (last_ms) *last_ms = p->s_last;
    return p->has_sid ? p->sid : NULL;
}

const struct tl_profile_view *tl_profile_views(const struct tl_profile *p, size_t *n)
{
    *n = p->n_views;
    return p->views;
}

size_t tl_profile_recent_ids(const struct tl_profile *p, const char **ids, size_t max)
{
    size_t n = p->n_views < max ? p->n_views : max;
    for (size_t i = 0; i < n; i++) ids[i] = p->views[i].item_id;
    return n;
}

const struct tl_profile_cart_line *tl_profile_cart(const struct tl_profile *p, size_t *n)
{
    *n = p->n_cart;
    return p->cart;
}

size_t tl_profile_cart_ids(const struct tl_profile *p, const char **ids, size_t max)
{
    size_t n = p->n_cart < max ? p->n_cart : max;
    for (size_t i = 0; i < n; i++) ids[i] = p->cart[i].item_id;
    return n;
}

int tl_profile_has_purchased(const struct tl_profile *p, const char *item_id)
{
    if (!p || !item_id) return 0;
    int hit;
    bought_search(p, item_hash(item_id), &hit);
    return hit;
}

size_t tl_profile_purchased_count(const struct tl_profile *p) { return p->n_bought; }

size_t tl_profile_purchased_hashes(const struct tl_profile *p, uint64_t *out, size_t max)
{
    size_t n = p->n_bought < max ? p->n_bought : max;
    for (size_t i = 0; i < n; i++) out[i] = p->bought[i].h;
    return n;
}

uint64_t tl_profile_item_hash(const char *item_id) { return item_hash(item_id); }

double tl_profile_affinity(const struct tl_profile *p, enum tl_profile_aff_kind kind, const char *name, int64_t now_ms)
{
    if (!p || !name || (kind != TL_PROFILE_CATEGORY && kind != TL_PROFILE_BRAND)) return 0;
    char key[TL_PROFILE_NAME_MAX + 1];
    copy_trunc(key, name, TL_PROFILE_NAME_MAX);
    int i = aff_find(&p->aff[kind], key);
    if (i < 0) return 0;
    const struct aff *a = &p->aff[kind].v[i];
    return a->score * decay(now_ms - a->t_ref, p->half_life_ms);
}

size_t tl_profile_top_affinities(const struct tl_profile *p, enum tl_profile_aff_kind kind, int64_t now_ms,
                                 const char **names, double *scores, size_t max)
{
    if (!p || (kind != TL_PROFILE_CATEGORY && kind != TL_PROFILE_BRAND)) return 0;
    const struct aff_set *s = &p->aff[kind];
    const char *nm[TL_PROFILE_AFF_MAX];
    double sc[TL_PROFILE_AFF_MAX];
    for (uint32_t i = 0; i < s->n; i++) {
        double v = s->v[i].score * decay(now_ms - s->v[i].t_ref, p->half_life_ms);
        uint32_t j = i;
        while (j > 0 && (sc[j - 1] < v || (sc[j - 1] == v && strcmp(nm[j - 1], s->v[i].name) > 0))) {
            sc[j] = sc[j - 1];
            nm[j] = nm[j - 1];
            j--;
        }
        sc[j] = v;
        nm[j] = s->v[i].name;
    }
    size_t n = s->n < max ? s->n : max;
    for (size_t i = 0; i < n; i++) {
        if (names) names[i] = nm[i];
        if (scores) scores[i] = sc[i];
    }
    return n;
}

int tl_profile_price_band(const struct tl_profile *p, double *mean, double *low, double *high)
{
    if (!p || !(p->pw > 0)) return 0;
    double sd = sqrt(p->ps2 / p->pw);
    if (mean) *mean = p->pmean;
    if (low) *low = p->pmean - sd < 0 ? 0 : p->pmean - sd;
    if (high) *high = p->pmean + sd;
    return 1;
}

const char *tl_profile_price_label(double mean, double low_threshold, double high_threshold)
{
    if (mean < low_threshold) return "low";
    if (mean > high_threshold) return "high";
    return "mid";
}

void tl_profile_rfm(const struct tl_profile *p, struct tl_profile_rfm *out)
{
    out->first_ms = p->first_purchase;
    out->last_ms = p->last_purchase;
    out->orders = p->orders;
    out->units = p->units;
    out->monetary = p->monetary;
    out->returns = p->returns;
    out->returned_value = p->returned_value;
}

uint32_t tl_profile_count(const struct tl_profile *p, enum tl_event_type t)
{
    if (!p || (int)t <= 0 || t >= TL_EV_MAX_) return 0;
    return p->counts[t];
}
