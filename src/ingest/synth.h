/* Synthetic store generator (`tailor gen`, include/tailor/gen.h): a catalog,
 * an order history and a behaviour event stream with latent structure
 * (taste clusters, Zipf popularity, sessions), written in the import formats
 * of docs/import-formats.md and docs/events.md. The model of the store and
 * the exact constants are in the comment at the top of synth.c.
 *
 * Files written into opts->dir: catalog.csv | catalog.ndjson,
 * orders.csv | orders.ndjson, events.ndjson (TL_SYNTH_*_FILE names).
 *
 * The world (tastes, items, shopper draws) is a pure function of the
 * options: tl_synth_world_new + the accessors below let tests (and
 * evaluation code) read the ground truth that the files only show
 * indirectly. Item i (0-based) has the id "p<i+1>", shopper s the customer
 * id "c<s+1>" and an anonymous id "a-<16 hex digits>". */
#ifndef TL_INGEST_SYNTH_H
#define TL_INGEST_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define TL_SYNTH_ITEMS_MAX 10000000ull     /* --items */
#define TL_SYNTH_SHOPPERS_MAX 100000000ull /* --shoppers */
#define TL_SYNTH_TASTES_MAX 65535u         /* --tastes (also <= items) */
#define TL_SYNTH_TASTES_DEFAULT 50u
#define TL_SYNTH_DAYS_MAX 3650u
#define TL_SYNTH_DAYS_DEFAULT 90u
#define TL_SYNTH_VIEWS_MAX 1000.0 /* --views-per-shopper (mean) */
#define TL_SYNTH_VIEWS_DEFAULT 10.0
#define TL_SYNTH_ORDERS_MAX 100.0 /* --orders-per-shopper (mean) */
#define TL_SYNTH_ORDERS_DEFAULT 1.5
#define TL_SYNTH_SHOPPER_TASTES_MAX 3 /* tastes mixed by one shopper */

#define TL_SYNTH_EVENTS_FILE "events.ndjson"

struct tl_synth_progress {
    uint64_t shoppers_done, shoppers_total;
    uint64_t bytes; /* written so far, all files */
};

struct tl_synth_opts {
    uint64_t n_items, n_shoppers, seed;
    uint32_t n_tastes;                            /* 0 = min(TL_SYNTH_TASTES_DEFAULT, n_items) */
    uint32_t days;                                /* 0 = TL_SYNTH_DAYS_DEFAULT */
    double orders_per_shopper, views_per_shopper; /* means; < 0 = defaults */
    int64_t end_ms;                               /* last moment of the history; 0 = now rounded down to the hour */
    const char *dir;                              /* output directory (created if missing); NULL = "." */
    int ndjson;                                   /* catalog and orders as NDJSON instead of CSV */
    int force;                                    /* overwrite existing output files */
    void (*progress)(void *ctx, const struct tl_synth_progress *p); /* may be NULL */
    void *progress_ctx;
};

struct tl_synth_summary {
    uint64_t items, shoppers, orders, order_lines, guest_orders;
    uint64_t events, product_views, add_to_carts, searches, category_views;
    uint64_t identified; /* shoppers with at least one event carrying both ids */
    uint64_t bytes_catalog, bytes_orders, bytes_events;
    int64_t start_ms, end_ms; /* the simulated period */
    double seconds;
};

/* Check opts (ranges, format, end time vs now_ms) without touching the
 * disk. TL_EINVAL with err->field naming the option ("items", "shoppers",
 * "tastes", "orders-per-shopper", "views-per-shopper", "days", "end"). */
enum tl_rc tl_synth_check(const struct tl_synth_opts *o, int64_t now_ms, struct tl_err *err);

/* Generate the three files. Refuses (TL_EEXIST, nothing written) when one
 * of them exists and !o->force. On any error the files created so far are
 * removed. sum may be NULL. */
enum tl_rc tl_synth_run(const struct tl_synth_opts *o, struct tl_synth_summary *sum, struct tl_err *err);

/* File names for o (static strings). */
const char *tl_synth_catalog_file(const struct tl_synth_opts *o);
const char *tl_synth_orders_file(const struct tl_synth_opts *o);

/* ---- ground truth, for tests and evaluation ---- */

struct tl_synth_world;

/* Build the world of o (tastes, items, popularity tables): O(n_items)
 * memory, no I/O. Same checks as tl_synth_check except the end time. */
enum tl_rc tl_synth_world_new(const struct tl_synth_opts *o, struct tl_synth_world **out, struct tl_err *err);
void tl_synth_world_free(struct tl_synth_world *w);

uint32_t tl_synth_world_tastes(const struct tl_synth_world *w);
/* Taste of item i (0-based). */
uint32_t tl_synth_item_taste(const struct tl_synth_world *w, uint64_t item);
/* Number of items of taste t. */
uint64_t tl_synth_taste_items(const struct tl_synth_world *w, uint32_t t);

struct tl_synth_shopper_info {
    uint32_t n_tastes;
    uint32_t tastes[TL_SYNTH_SHOPPER_TASTES_MAX];
    double weights[TL_SYNTH_SHOPPER_TASTES_MAX]; /* sum to 1 */
    int anonymous_only;                          /* never sends user_id; guest orders */
    char country[3];
    double price_sensitivity; /* 0..1 */
};
/* The latent draws of shopper s (0-based), exactly as the generator used
 * them. */
void tl_synth_shopper(const struct tl_synth_world *w, uint64_t s, struct tl_synth_shopper_info *out);

#endif
