/* Real-time shopper profile: the in-memory state of one shopper of one shop
 * (identity, current session, recently viewed, cart, decayed category/brand
 * affinities, price band, purchase summary (RFM), purchased-items set, event
 * counters). Pure in-memory logic: the engine feeds events in with
 * tl_profile_apply() and persists the blob of tl_profile_serialize() through
 * the store; this module never touches the store.
 *
 * Every collection has a named maximum (below). A profile is not thread-safe:
 * the caller serialises access (src/profile/cache.h hands out locked
 * profiles). See src/profile/profile.c for the algorithms and the binary
 * format, docs/profiles.md for the user-facing description. */
#ifndef TL_PROFILE_PROFILE_H
#define TL_PROFILE_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/types.h"

/* ---- maxima ---- */
#define TL_PROFILE_KEY_MAX (TL_ID_MAX + 8) /* bytes of a user key: an id plus room for a short prefix */
#define TL_PROFILE_SESSION_ID_MAX (TL_PROFILE_KEY_MAX + 24) /* explicit ids or "<key>-<ms>" */
#define TL_PROFILE_ANON_MAX 16                              /* linked anonymous ids (oldest dropped) */
#define TL_PROFILE_RECENT_MAX 50                            /* recently viewed distinct items */
#define TL_PROFILE_CART_MAX 200                             /* cart lines (oldest line dropped) */
#define TL_PROFILE_AFF_MAX 32                               /* categories, and separately brands */
#define TL_PROFILE_NAME_MAX 256                             /* bytes of a category path / brand kept */
#define TL_PROFILE_PURCHASED_MAX 500                        /* purchased-item set (most recent kept) */
#define TL_PROFILE_ORDERS_MAX 256                           /* order ids remembered for distinct counting */
#define TL_PROFILE_BLOB_MAX ((size_t)1 << 20)               /* largest serialized profile accepted */

/* ---- defaults and weights (see profile.c for the formulas) ---- */
#define TL_PROFILE_HALF_LIFE_DEFAULT_MS (14LL * 24 * 3600 * 1000) /* 14 days */
#define TL_PROFILE_SESSION_TIMEOUT_DEFAULT_MS (30LL * 60 * 1000)  /* 30 minutes */
#define TL_PROFILE_W_VIEW 1.0
#define TL_PROFILE_W_VIEW_ENGAGED 1.5 /* dwell >= 10 s or scroll >= 0.5 */
#define TL_PROFILE_ENGAGED_DWELL_MS 10000
#define TL_PROFILE_ENGAGED_SCROLL 0.5
#define TL_PROFILE_W_CART 3.0
#define TL_PROFILE_W_PURCHASE 5.0
#define TL_PROFILE_W_RETURN (-3.0)
#define TL_PROFILE_W_CATEGORY_VIEW 0.5
#define TL_PROFILE_TOP_LEVEL_FACTOR 0.5 /* "A > B > C" also credits "A" with half */

struct tl_profile; /* opaque */

struct tl_profile_params {
    int64_t half_life_ms;       /* affinity / price-band half-life H, > 0 */
    int64_t session_timeout_ms; /* inactivity that starts a new session, > 0 */
};

/* An event as the profile sees it. Strings are borrowed for the call.
 * category / brand are resolved by the engine from the catalog (NULL when
 * unknown). For multi-line events (purchase, return, cart with lines),
 * line_categories[i] / line_brands[i] belong to lines[i]; either array may be
 * NULL and any entry may be NULL. When n_lines == 0 and item_id is set, the
 * event is treated as one line {item_id, quantity, price}.
 * quantity / price: NAN when absent; dwell_ms: < 0 when absent;
 * scroll_depth: NAN when absent, else 0..1. */
struct tl_profile_event {
    enum tl_event_type type;
    int64_t ts_ms;
    const char *session_id;
    const char *item_id;
    const char *category;
    const char *brand;
    double price;
    double quantity;
    int64_t dwell_ms;
    double scroll_depth;
    const char *country;
    const char *order_id;
    const struct tl_line *lines;
    size_t n_lines;
    const char *const *line_categories;
    const char *const *line_brands;
};

/* Read-only views of a profile's lists (valid until the next mutation). */
struct tl_profile_view {
    char *item_id;
    int64_t ts_ms;    /* latest view */
    int32_t dwell_ms; /* max seen, -1 unknown */
    float scroll;     /* max seen, NAN unknown */
};

struct tl_profile_cart_line {
    char *item_id;
    double quantity; /* > 0 */
    double price;    /* unit price, NAN unknown */
    int64_t added_ms;
    uint32_t h; /* hash of item_id: compared before the ids (internal) */
};

enum tl_profile_aff_kind { TL_PROFILE_CATEGORY = 0, TL_PROFILE_BRAND = 1 };

/* New empty profile for user_key (1..TL_PROFILE_KEY_MAX bytes), with default
 * params. NULL on bad key or out of memory. Caller frees with
 * tl_profile_free. */
struct tl_profile *tl_profile_new(const char *user_key);
void tl_profile_free(struct tl_profile *p);

/* Fill params with the defaults (14 days, 30 minutes). */
void tl_profile_params_default(struct tl_profile_params *params);

/* Apply one event. params NULL = the profile's current params (defaults for a
 * new profile); the half-life is remembered in the profile (merge and JSON
 * use it). Events may arrive out of order. TL_EINVAL (profile unchanged) on a
 * bad event (unknown type, negative timestamp, over-long id, negative price,
 * scroll outside 0..1, country not two letters, bad params). TL_ENOMEM may
 * leave the event partly applied; the profile stays consistent. */
enum tl_rc tl_profile_apply(struct tl_profile *p, const struct tl_profile_event *ev,
                            const struct tl_profile_params *params);

/* Identity stitching: merge `from` (usually an anonymous shopper) into `into`
 * (the customer). `from` is not modified. On error `into` is unchanged. */
enum tl_rc tl_profile_merge(struct tl_profile *into, const struct tl_profile *from);

/* Country from the customer record (ISO-2, any case; NULL/"" ignored). Wins
 * over event countries older than ts_ms. TL_EINVAL if not two letters. */
enum tl_rc tl_profile_set_country(struct tl_profile *p, const char *country, int64_t ts_ms);

/* JSON body of GET /v1/users/{id}/profile (appended to out); scores decayed
 * to now_ms, session "active" judged at now_ms. */
enum tl_rc tl_profile_to_json(const struct tl_profile *p, int64_t now_ms, struct tl_buf *out);

/* Versioned binary blob (appended to out). */
enum tl_rc tl_profile_serialize(const struct tl_profile *p, struct tl_buf *out);
/* Rebuild a profile from a blob. TL_EPARSE (err filled) on truncated,
 * corrupt or unknown-version blobs; TL_ENOMEM. *out owned by the caller. */
enum tl_rc tl_profile_deserialize(const void *blob, size_t len, struct tl_profile **out, struct tl_err *err);

/* Start loading into the CPU cache what applying an event reads: level 0
 * the profile's own first lines, level 1 (once those are loaded) the
 * recently viewed list and its ids. For serializing (tl_profile_serialize):
 * level 0, then level 2 (every list of the profile, whole), then level 3
 * (the strings the lists point to: cart ids, affinity names, long viewed
 * ids, linked ids), each once the one before is loaded. A hint only. */
void tl_profile_prefetch(const struct tl_profile *p, int level);

/* Approximate heap bytes used by p (struct, arrays, strings, 16 bytes of
 * allocator overhead per allocation). */
size_t tl_profile_memory(const struct tl_profile *p);

/* ---- read accessors ---- */
const char *tl_profile_user_key(const struct tl_profile *p);
/* ISO-2 upper case, "" when unknown. */
const char *tl_profile_country(const struct tl_profile *p);
size_t tl_profile_linked_count(const struct tl_profile *p);
const char *tl_profile_linked_id(const struct tl_profile *p, size_t i); /* NULL if out of range */
int64_t tl_profile_first_seen(const struct tl_profile *p);              /* 0 if no event yet */
int64_t tl_profile_last_seen(const struct tl_profile *p);
/* Current session (NULL id when none). */
const char *tl_profile_session(const struct tl_profile *p, int64_t *start_ms, int64_t *last_ms);
uint32_t tl_profile_sessions_total(const struct tl_profile *p);
/* Recently viewed, most recent first. */
const struct tl_profile_view *tl_profile_views(const struct tl_profile *p, size_t *n);
/* Copies up to max ids (borrowed pointers) in order; returns the number copied. */
size_t tl_profile_recent_ids(const struct tl_profile *p, const char **ids, size_t max);
const struct tl_profile_cart_line *tl_profile_cart(const struct tl_profile *p, size_t *n);
size_t tl_profile_cart_ids(const struct tl_profile *p, const char **ids, size_t max);
/* 1 if item_id is among the (most recent TL_PROFILE_PURCHASED_MAX) purchased items. */
int tl_profile_has_purchased(const struct tl_profile *p, const char *item_id);
size_t tl_profile_purchased_count(const struct tl_profile *p);
/* The purchased set as item hashes, ascending (up to max); with
 * tl_profile_item_hash a caller can test membership after releasing the
 * profile. */
size_t tl_profile_purchased_hashes(const struct tl_profile *p, uint64_t *out, size_t max);
uint64_t tl_profile_item_hash(const char *item_id);
/* Decayed affinity of one category path / brand at now_ms (0 if absent). */
double tl_profile_affinity(const struct tl_profile *p, enum tl_profile_aff_kind kind, const char *name, int64_t now_ms);
/* Top affinities at now_ms, highest first; names borrowed. Returns count. */
size_t tl_profile_top_affinities(const struct tl_profile *p, enum tl_profile_aff_kind kind, int64_t now_ms,
                                 const char **names, double *scores, size_t max);
/* Price band: returns 0 when no priced item was seen; else 1 with mean and
 * [low, high] = [mean - sd, mean + sd] (low clamped at 0). */
int tl_profile_price_band(const struct tl_profile *p, double *mean, double *low, double *high);
/* "low" if mean < low_threshold, "high" if mean > high_threshold, else "mid". */
const char *tl_profile_price_label(double mean, double low_threshold, double high_threshold);
/* Purchase summary. */
struct tl_profile_rfm {
    int64_t first_ms, last_ms; /* 0 when no purchase */
    uint32_t orders;
    double units;
    double monetary;
    uint32_t returns;
    double returned_value;
};
void tl_profile_rfm(const struct tl_profile *p, struct tl_profile_rfm *out);
uint32_t tl_profile_count(const struct tl_profile *p, enum tl_event_type t);

#endif
