/* Import file formats -> domain records (struct tl_item, tl_order,
 * tl_customer), delivered one at a time to a callback. No database writes:
 * the engine's callback stores what it receives (and rolls back on error).
 * User documentation of every format: docs/import-formats.md.
 *
 *   kind       format          default
 *   catalog    csv | ndjson | shopify | woocommerce | online-retail   csv
 *   orders     online-retail | csv | ndjson                         csv
 *   customers  csv | ndjson                                         csv
 *
 * "online-retail" is the UCI Online Retail transaction file: as orders it
 * yields one order per invoice, as a catalog one item per StockCode (a second
 * pass over the same file, see tl_fmt_import_catalog).
 *
 * Paths: "-" is stdin; gzip files are decompressed (see ingest/csv.h).
 *
 * Lifetime: every string in a delivered record (and the lines array of an
 * order) is borrowed from per-record buffers of the importer and is valid
 * only during the callback; copy what you keep.
 *
 * Callback: return 0 (TL_OK) to continue; any other value stops the import
 * and is returned as the import's result. If the callback did not itself
 * put an error into the err passed to the import (err->rc still TL_OK), err
 * gets a generic "stopped by the consumer at line L" message.
 *
 * Bad records: err->line is the record's first line, err->column the 1-based
 * CSV field index (0 for NDJSON, whose field name is in err->field),
 * err->field the column / JSON field name and err->msg the reason and the
 * offending value. Without opts->skip_bad the first bad record ends the
 * import with TL_EINVAL (TL_EPARSE for broken CSV/JSON syntax, TL_ETOOBIG for
 * limits); with skip_bad it is counted in summary->skipped and the first
 * TL_FMT_DETAIL_RECORDS are described in summary->skipped_detail. Problems
 * with the file itself (cannot open, no header, missing required column,
 * unterminated quote at EOF, read errors) always end the import. */
#ifndef TL_INGEST_FORMATS_H
#define TL_INGEST_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/types.h"

#define TL_FMT_DETAIL_RECORDS 10                 /* bad records described in the summary */
#define TL_FMT_DETAIL_MAX 1024                   /* bytes of summary->skipped_detail */
#define TL_FMT_ORDER_LINES_MAX 5000              /* lines of one order (Online Retail max: 1,114) */
#define TL_FMT_ORDER_REOPEN 4                    /* recent orders an interleaved row may rejoin */
#define TL_FMT_SCRATCH_MAX (16u * 1024u * 1024u) /* per-record string storage */
#define TL_FMT_PROGRESS_EVERY 4096               /* records between progress callbacks */

struct tl_fmt_opts {
    int skip_bad;         /* skip and count bad records instead of failing */
    char sep;             /* separator of Tailor's own CSV formats (0 = ',') */
    const char *currency; /* ISO 4217 used when a file has none (shopify, woocommerce,
                             csv rows with an empty currency); NULL = leave absent.
                             online-retail is always GBP. */
    /* Optional progress report, called every TL_FMT_PROGRESS_EVERY records
     * and once at the end. bytes_total is 0 when unknown (pipes). */
    void (*progress)(void *ctx, uint64_t bytes_done, uint64_t bytes_total, uint64_t records);
    void *progress_ctx;
};

struct tl_fmt_summary {
    uint64_t records;                       /* records delivered to the callback */
    uint64_t lines;                         /* input lines read */
    uint64_t skipped;                       /* bad records skipped (skip_bad) */
    uint64_t returns;                       /* orders delivered with is_return = 1 */
    uint64_t dropped;                       /* rows left out by design, not errors: Online Retail non-product
                                               codes and orders left with no line, WooCommerce variations
                                               whose parent is not in the file */
    char skipped_detail[TL_FMT_DETAIL_MAX]; /* "line L, column C (field): reason; ..." */
};

typedef int (*tl_fmt_item_fn)(void *ctx, const struct tl_item *it, long line);
typedef int (*tl_fmt_order_fn)(void *ctx, const struct tl_order *o, long line);
typedef int (*tl_fmt_customer_fn)(void *ctx, const struct tl_customer *cu, long line);

/* 1 if kind ("catalog", "orders", "customers") supports format (NULL = the
 * default), else 0. */
int tl_fmt_supported(const char *kind, const char *format);

/* Import path in format (NULL = "csv"). opts may be NULL (defaults); sum may
 * be NULL. Returns TL_OK, the first bad record's rc (without skip_bad), a
 * file-level error, or the callback's non-zero return. */
enum tl_rc tl_fmt_import_catalog(const char *path, const char *format, const struct tl_fmt_opts *opts,
                                 tl_fmt_item_fn cb, void *ctx, struct tl_fmt_summary *sum, struct tl_err *err);
enum tl_rc tl_fmt_import_orders(const char *path, const char *format, const struct tl_fmt_opts *opts,
                                tl_fmt_order_fn cb, void *ctx, struct tl_fmt_summary *sum, struct tl_err *err);
enum tl_rc tl_fmt_import_customers(const char *path, const char *format, const struct tl_fmt_opts *opts,
                                   tl_fmt_customer_fn cb, void *ctx, struct tl_fmt_summary *sum, struct tl_err *err);

/* ISO 3166-1 alpha-2 code for a country name as written in the Online Retail
 * file (and common English names), case-insensitive: "United Kingdom" ->
 * "GB", "EIRE" -> "IE". A 2-letter input is returned upper-cased from a
 * static table only if it is a code of the table. NULL for unknown names and
 * for "Unspecified", "European Community", "Channel Islands". Static storage. */
const char *tl_fmt_country_code(const char *name);

/* Demo category for an Online Retail description ("Other" if no rule
 * matches). Static storage. See the keyword table in formats.c. */
const char *tl_fmt_demo_category(const char *description);

/* 1 if an Online Retail StockCode is a non-product code (postage, fees,
 * discounts, manual adjustments), case-insensitive. */
int tl_fmt_or_non_product(const char *stock_code);

/* Render e as "line L, column C (field): message" (parts omitted when 0 or
 * empty) into out (size n, always NUL-terminated). Returns out. */
char *tl_fmt_describe_err(const struct tl_err *e, char *out, size_t n);

#endif
