/* Tailor public C API: what the `tailor` command line (cli/) and embedders
 * use. Opaque handles; every function that can fail returns enum tl_rc and
 * fills a struct tailor_error.
 *
 * Ownership: strings passed in are borrowed for the call; strings returned
 * through char ** are owned by the caller and freed with tailor_free(). */
#ifndef TAILOR_TAILOR_H
#define TAILOR_TAILOR_H

#include <stddef.h>
#include <stdint.h>

#include "tailor/rc.h"

#define TAILOR_VERSION "0.1.0"

struct tailor;

struct tailor_error {
    enum tl_rc rc;
    char field[96];
    char msg[320];
    long line;   /* 1-based input line for imports, 0 if n/a */
    long column; /* 1-based input column for imports, 0 if n/a */
};

struct tailor_options {
    const char *db_path;     /* NULL = "tailor.db" */
    const char *config_path; /* NULL = none (defaults) */
    int port;                /* 0 = config or 8080 */
    const char *demo_key;    /* NULL = config's demo_key: public key the demo storefront uses */
    int admin_only;          /* 1: open only what shop and key management needs
                              * (no catalog, profiles or models loaded, nothing
                              * checkpointed): fast, and safe beside a running
                              * server. Only tailor_shop_* and tailor_key_create
                              * may be called on such a handle. */
};

/* Open the engine over a database (created and migrated if needed). */
enum tl_rc tailor_open(const struct tailor_options *opt, struct tailor **out, struct tailor_error *err);
void tailor_close(struct tailor *t);
/* Close for a process that exits right after: all data reaches the store as
 * with tailor_close, but memory is not freed (the exit does that at once).
 * Nothing may use t afterwards. */
void tailor_close_for_exit(struct tailor *t);
void tailor_free(void *p);

/* Serve HTTP until SIGTERM/SIGINT, then drain in-flight requests and flush.
 * Logs the listening address. */
enum tl_rc tailor_serve(struct tailor *t, struct tailor_error *err);

/* Shops: create a shop (TL_EEXIST if taken); resolve a name to its id
 * (NULL or "" = the default shop, id 1). */
enum tl_rc tailor_shop_create(struct tailor *t, const char *name, uint32_t *id, struct tailor_error *err);
enum tl_rc tailor_shop_find(struct tailor *t, const char *name, uint32_t *id, struct tailor_error *err);

/* Create an API key for shop_id with scope "public" or "secret". The key is
 * returned once in *key (caller frees); only its hash is stored. */
enum tl_rc tailor_key_create(struct tailor *t, uint32_t shop_id, const char *scope, char **key,
                             struct tailor_error *err);

/* Imports. kind: "catalog", "orders", "customers", "events".
 * format: catalog csv|ndjson|shopify|woocommerce; orders online-retail|csv|ndjson;
 * customers csv|ndjson; events ndjson. NULL = the kind's default (csv, csv,
 * csv, ndjson). Files ending in .gz are decompressed. Without skip_bad the
 * first bad record aborts the import and nothing is committed; err names the
 * line, column, field and reason. With skip_bad, bad records are skipped and
 * counted, and the first few are reported through the summary. */
struct tailor_import_progress {
    uint64_t bytes_done;
    uint64_t bytes_total; /* 0 if unknown (stdin) */
    uint64_t records;
};
typedef void (*tailor_progress_fn)(void *ctx, const struct tailor_import_progress *p);

struct tailor_import_summary {
    uint64_t records;    /* records imported (items, orders, customers, events) */
    uint64_t lines;      /* input lines read */
    uint64_t skipped;    /* bad records skipped (skip_bad) */
    uint64_t duplicates; /* events whose event_id was already stored */
    uint64_t returns;    /* orders: cancellations imported as returns */
    double seconds;
    char skipped_detail[1024]; /* first skipped records: "line L col C field: reason; ..." */
};

enum tl_rc tailor_import(struct tailor *t, uint32_t shop_id, const char *kind, const char *format, const char *path,
                         int skip_bad, tailor_progress_fn progress, void *progress_ctx,
                         struct tailor_import_summary *summary, struct tailor_error *err);

/* Shift the time of every order imported by the next tailor_import calls
 * on t by ms (positive = later): replays an old order history as if it
 * were recent (the demo store's 2010-2011 orders end near today, so
 * popularity and trending decay as in a live shop). Imported orders then
 * carry the shifted time; an order shifted past now + 24 h is rejected like
 * any future time. Orders only. */
void tailor_import_set_time_shift(struct tailor *t, int64_t ms);

/* Train every configured model of one shop now (on the calling thread) and
 * save the snapshot a server loads at start; progress (may be NULL) gets
 * 0..1 and a phase text. On success *status_json (caller frees with
 * tailor_free) holds the shop's training status as GET /v1/admin/train
 * shows it. */
typedef void (*tailor_train_progress_fn)(void *ctx, double frac, const char *phase);
enum tl_rc tailor_train(struct tailor *t, uint32_t shop_id, tailor_train_progress_fn progress, void *progress_ctx,
                        char **status_json, struct tailor_error *err);

/* ---- offline evaluation (`tailor eval`) ----------------------------------- */

/* One evaluation run over public data files; protocols and metrics are in
 * docs/evaluation.md and src/eval/evdata.h. Results go to `out` as a table
 * (or a JSON array of {"model","metric","k","value"} rows with json = 1);
 * progress to `progress` (may be NULL). */
struct tailor_eval_options {
    const char *protocol;        /* "sessions", "sequences", "orders" or "search" */
    const char *products_path;   /* search: catalog CSV (product_uid,product_title[,...]) */
    const char *judgements_path; /* search: judgements CSV, or TREC qrels with queries_path */
    const char *queries_path;    /* search: TREC topics "qid<TAB>query" (qrels only) */
    const char *train_path;      /* sessions: training clicks */
    const char *test_path;       /* sessions: test clicks */
    const char *path;            /* sequences, orders: the one input file */
    long sessions;               /* sessions: keep the first N test sessions (0 = all) */
    const char *split_date;      /* orders: YYYY-MM-DD, train strictly before it (UTC) */
    int buy_again;               /* orders: evaluate re-purchases instead of new items */
    const char *models;          /* comma-separated; NULL = the protocol's default list */
    int sources;                 /* 1: after a blend's row, one row per blended source ("blend/NAME") */
    const char *self_valid;      /* sequences: comma-separated models that hold out their own
                                  * validation item; they train on each user's items but the last */
    const char *const *params;   /* "model.key=value" overrides (borrowed) */
    size_t n_params;
    const char *ks; /* cutoffs "10,20"; NULL = the protocol's default */
    int threads;    /* 0 = 2 */
    uint64_t seed;  /* training seed */
    int json;
    void *out;      /* FILE * for the results (NULL = stdout) */
    void *json_out; /* FILE * for a JSON copy of the results as well, or NULL */
    void *progress; /* FILE * for progress lines, or NULL */
};
enum tl_rc tailor_eval(const struct tailor_eval_options *o, struct tailor_error *err);
/* The default model list of a protocol (static string), NULL if unknown. */
const char *tailor_eval_default_models(const char *protocol);

#endif
