/* Domain records shared by the store, ingestion, profiles, models and the
 * engine. Plain structs; string fields are borrowed (const char *) unless a
 * function says it transfers ownership. NULL means "absent".
 *
 * Ids: every record belongs to a shop (uint32 shop_id, 1 = the default shop).
 * Item ids, customer ids, anonymous ids and order ids are the shop's own
 * strings (1..TL_ID_MAX bytes of UTF-8, no control characters). */
#ifndef TL_STORE_TYPES_H
#define TL_STORE_TYPES_H

#include <stddef.h>
#include <stdint.h>

#define TL_ID_MAX 128      /* max bytes of any id */
#define TL_DEFAULT_SHOP 1u /* shop created by the first migration */
#define TL_BATCH_MAX 10000 /* max events / items per HTTP request */

enum tl_scope { TL_SCOPE_PUBLIC = 1, TL_SCOPE_SECRET = 2 };

/* Event types. Values are persisted (events.type): never renumber. */
#define TL_EVENT_TYPES(X)                                                                                              \
    X(TL_EV_PAGE_VIEW, 1, "page_view")                                                                                 \
    X(TL_EV_PRODUCT_VIEW, 2, "product_view")                                                                           \
    X(TL_EV_CATEGORY_VIEW, 3, "category_view")                                                                         \
    X(TL_EV_SEARCH, 4, "search")                                                                                       \
    X(TL_EV_ADD_TO_CART, 5, "add_to_cart")                                                                             \
    X(TL_EV_REMOVE_FROM_CART, 6, "remove_from_cart")                                                                   \
    X(TL_EV_CHECKOUT_START, 7, "checkout_start")                                                                       \
    X(TL_EV_PURCHASE, 8, "purchase")                                                                                   \
    X(TL_EV_REC_IMPRESSION, 9, "recommendation_impression")                                                            \
    X(TL_EV_REC_CLICK, 10, "recommendation_click")                                                                     \
    X(TL_EV_RETURN, 11, "return")                                                                                      \
    X(TL_EV_EXPOSURE, 12, "experiment_exposure")

enum tl_event_type {
    TL_EV_NONE = 0,
#define TL_EV_ENUM(name, val, str) name = val,
    TL_EVENT_TYPES(TL_EV_ENUM)
#undef TL_EV_ENUM
        TL_EV_MAX_
};

/* "product_view" -> TL_EV_PRODUCT_VIEW; TL_EV_NONE if unknown. */
enum tl_event_type tl_event_type_from_str(const char *s);
/* TL_EV_PRODUCT_VIEW -> "product_view"; "unknown" if out of range. */
const char *tl_event_type_str(enum tl_event_type t);

/* One line of a purchase / return / cart event or an order. */
struct tl_line {
    const char *item_id;
    double quantity; /* > 0 for purchases, the returned amount for returns */
    double price;    /* unit price, >= 0; NAN when unknown */
};

#define TL_EVENT_LINES_MAX 1000

/* A validated behaviour event (see src/ingest/event.c for the JSON form).
 * A new string field must also be listed in STR_FIELDS of
 * src/engine/scan_relay.c, which copies events with their strings. */
struct tl_event {
    int64_t seq; /* store sequence, 0 before it is stored */
    uint32_t shop_id;
    enum tl_event_type type;
    int64_t ts_ms;                 /* event time */
    const char *event_id;          /* idempotency key or NULL */
    const char *user_id;           /* customer id or NULL */
    const char *anonymous_id;      /* browser id or NULL; one of the two is set */
    const char *session_id;        /* NULL: derived from inactivity */
    const char *item_id;           /* main item (views, cart, clicks) or NULL */
    double quantity;               /* cart events; NAN if absent */
    double price;                  /* NAN if absent */
    const char *query;             /* search */
    const char *category;          /* category_view / page context category */
    const char *country;           /* ISO 3166-1 alpha-2, upper case, or NULL */
    const char *order_id;          /* purchase / return */
    const char *recommendation_id; /* impression / click attribution */
    int64_t dwell_ms;              /* -1 if absent */
    double scroll_depth;           /* 0..1, NAN if absent */
    const struct tl_line *lines;   /* purchase / return / impression items */
    size_t n_lines;
    const char *body; /* the validated event as JSON text */
    size_t body_len;  /* bytes of body; 0 = NUL-terminated */
};

/* Catalog item. tags_json / attrs_json hold a JSON array / object text. */
struct tl_item {
    const char *id;
    const char *title;
    const char *description;
    const char *url;
    const char *image_url;
    double price;         /* NAN when unknown */
    const char *currency; /* ISO 4217, e.g. "GBP" */
    const char *category; /* path "Home > Kitchen > Mugs" */
    const char *brand;
    const char *tags_json;  /* e.g. ["christmas","gift"] */
    int available;          /* 1 in stock / purchasable, 0 not */
    int64_t stock;          /* units, -1 unknown */
    const char *attrs_json; /* free attributes {"colour":"red"} */
    int visible;            /* 0 = hidden from every shopper-facing answer */
    int64_t created_ms;
    int64_t updated_ms;
};

/* Customer. anonymous ids are linked through identities (store). */
struct tl_customer {
    const char *id;
    const char *email;
    const char *name;
    const char *country;         /* ISO alpha-2 or NULL */
    int consent_email;           /* -1 unknown, 0 no, 1 yes */
    int consent_personalization; /* -1 unknown, 0 no, 1 yes */
    const char *member_tier;
    int64_t created_ms;
    int64_t updated_ms;
};

/* Order (purchase) or return (Online Retail cancellation "C..."). */
struct tl_order {
    const char *id;
    const char *customer_id; /* NULL for guest orders */
    int64_t ts_ms;
    const char *country;
    const char *currency;
    int is_return;
    const struct tl_line *lines;
    size_t n_lines;
};

#endif
