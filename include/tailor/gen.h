/* Tailor public C API: the synthetic store generator behind `tailor gen`.
 *
 * tailor_gen() writes three files into a directory, in the formats that
 * `tailor import` reads unchanged (docs/import-formats.md, docs/events.md):
 *
 *   catalog.csv   (or catalog.ndjson)  items: id p1..pN, title, description,
 *                                      url, price, currency, category, brand,
 *                                      tags, available, stock, colour
 *   orders.csv    (or orders.ndjson)   orders of 1-5 lines; customer ids
 *                                      c1..cM, empty for guest orders
 *   events.ndjson                      product_view (dwell_ms, scroll_depth),
 *                                      add_to_cart, search, category_view
 *
 * The store has latent structure (taste clusters with their own vocabulary,
 * brands and price level; Zipf popularity inside a taste; shoppers mixing
 * 1-3 tastes, with a country and a price sensitivity; sessions spread over
 * `days` days ending at `end_ms`; anonymous-only and identifying shoppers).
 * The model and its constants are described in src/ingest/synth.c.
 *
 * Deterministic: the same options (including end_ms) give byte-identical
 * files. Memory is O(items); shoppers are streamed. No allocation is left
 * behind; nothing is written on a validation error, and partial files are
 * removed on a runtime error. */
#ifndef TAILOR_GEN_H
#define TAILOR_GEN_H

#include <stdint.h>

#include "tailor/tailor.h"

#define TAILOR_GEN_EVENTS_FILE "events.ndjson"

struct tailor_gen_progress {
    uint64_t shoppers_done;
    uint64_t shoppers_total;
    uint64_t bytes; /* written so far, all three files */
};
typedef void (*tailor_gen_progress_fn)(void *ctx, const struct tailor_gen_progress *p);

struct tailor_gen_options {
    uint64_t items;                  /* 1..10,000,000 */
    uint64_t shoppers;               /* 1..100,000,000 */
    uint64_t seed;                   /* any value; same seed, same files */
    uint32_t tastes;                 /* 1..min(items, 65535); 0 = min(50, items) */
    uint32_t days;                   /* 1..3650; 0 = 90 */
    double orders_per_shopper;       /* mean orders per shopper, 0..100; < 0 = 1.5 */
    double views_per_shopper;        /* mean product views per shopper, 1..1000; < 0 = 10 */
    int64_t end_ms;                  /* end of the history, epoch ms, not after now;
                                        0 = now rounded down to the whole hour (UTC) */
    const char *out_dir;             /* created if missing; NULL = "." */
    const char *format;              /* catalog and orders: "csv" (NULL) or "ndjson" */
    int force;                       /* overwrite existing files (else TL_EEXIST) */
    tailor_gen_progress_fn progress; /* may be NULL; called every 4,096 shoppers and at the end */
    void *progress_ctx;
};

/* Fill o with the defaults above (zero sizes: the caller sets items and
 * shoppers). */
void tailor_gen_options_init(struct tailor_gen_options *o);

/* Validate o without touching the disk: TL_EINVAL with err->field naming
 * the option ("items", "shoppers", "tastes", "days", "orders-per-shopper",
 * "views-per-shopper", "end", "format") and a message saying what is
 * allowed. */
enum tl_rc tailor_gen_check(const struct tailor_gen_options *o, struct tailor_error *err);

/* Parse a time for end_ms: ISO 8601 ("2024-05-01", "2024-05-01T10:00:00Z",
 * "2024-05-01T12:00:00+02:00"; no zone = UTC) or whole epoch milliseconds.
 * TL_EINVAL (err->field "end") on anything else. */
enum tl_rc tailor_gen_parse_time(const char *s, int64_t *ms, struct tailor_error *err);

struct tailor_gen_summary {
    uint64_t items, shoppers;
    uint64_t orders, order_lines, guest_orders;
    uint64_t events; /* = product_views + add_to_carts + searches + category_views */
    uint64_t product_views, add_to_carts, searches, category_views;
    uint64_t identified; /* shoppers whose events carry both anonymous_id and user_id */
    uint64_t bytes_catalog, bytes_orders, bytes_events;
    int64_t start_ms, end_ms; /* the simulated period */
    double seconds;
    char catalog_file[16]; /* "catalog.csv" or "catalog.ndjson" (inside out_dir) */
    char orders_file[16];  /* "orders.csv" or "orders.ndjson" */
};

/* Generate the store. Errors: TL_EINVAL (as tailor_gen_check), TL_EEXIST
 * (a target file exists and !force; nothing written), TL_EIO (cannot create
 * the directory or write; partial files removed), TL_ENOMEM. summary may be
 * NULL. */
enum tl_rc tailor_gen(const struct tailor_gen_options *o, struct tailor_gen_summary *summary, struct tailor_error *err);

#endif
