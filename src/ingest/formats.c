/* Import formats: CSV / NDJSON files -> struct tl_item / tl_order /
 * tl_customer, one record at a time to a callback (formats.h; user-facing
 * description in docs/import-formats.md).
 *
 * Structure:
 *   - struct run: options, summary, the caller's err, a per-record scratch
 *     arena (strings derived for a record: JSON arrays/objects, stripped
 *     HTML, title case) and a JSON builder buffer. The arena is reset after
 *     every delivered record, so delivered strings are valid only during the
 *     callback. The arena is a chain of blocks (pointers never move) capped
 *     at TL_FMT_SCRATCH_MAX bytes.
 *   - CSV formats read the header, map column names case-insensitively
 *     (any order; missing required columns are a file error at line 1),
 *     then validate each record. Values are trimmed of ASCII blanks in place
 *     in the CSV reader's buffer (tl_csv_field_mut).
 *   - NDJSON catalog items and customers go through the JSON API's own
 *     validators (tl_item_from_json, tl_customer_from_json), so a line is
 *     accepted exactly when PUT /v1/items or the customer API would accept
 *     it; CSV values follow the same limits (TL_ITEM_*, TL_CUSTOMER_*).
 *   - A bad record is described in a struct tl_err (line, 1-based CSV field
 *     column or 0 for JSON, field name, reason with the offending value) and
 *     passed to reject(): with skip_bad it is counted and the first
 *     TL_FMT_DETAIL_RECORDS are rendered into summary->skipped_detail, else
 *     it ends the import.
 *
 * Grouping rules:
 *   - Orders (online-retail, csv): rows of one order are consecutive. An
 *     order is kept open in a small window of the TL_FMT_ORDER_REOPEN + 1
 *     most recently started orders, and emitted when it falls out of the
 *     window or at EOF, so a row whose order id belongs to one of the last
 *     few orders rejoins it (the Online Retail file has one invoice, 542806,
 *     interrupted by another invoice). Emission order = order of first row.
 *   - Shopify: consecutive rows with the same Handle are one product
 *     (variant and image rows follow the product row).
 *   - WooCommerce: "variation" rows are folded into their "variable" parent
 *     (matched by Parent = "id:<ID>" or the parent's SKU, in any order):
 *     parents are held until EOF, then emitted with price = lowest variation
 *     price, stock = sum of variation stock, available = any variation in
 *     stock. Variations whose parent is not in the file are dropped
 *     (summary->dropped).
 *
 * Online Retail (UCI): see or_* below. Orders: one per InvoiceNo; "C..."
 * invoices are returns with |Quantity|; non-product codes
 * (tl_fmt_or_non_product) are dropped from orders and catalog. Catalog: one
 * item per upper-cased StockCode, aggregated over the whole file:
 *   title    = most frequent Description on sale rows (Quantity > 0,
 *              UnitPrice > 0, not "C"); else the most frequent all-upper-case
 *              Description (lower-case ones are stock notes like "damaged");
 *              else the code. Ties -> the description seen first. Title-cased.
 *   price    = UnitPrice of the sale row with the latest InvoiceDate (ties:
 *              the later row), NAN if never sold; available = sold at least once.
 *   category = first matching rule of the keyword table (whole words of the
 *              upper-cased description), else "Other".
 * Timestamps without a zone (Online Retail's UK local time) are taken as UTC. */
#include "ingest/formats.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/map.h"
#include "core/timeutil.h"
#include "ingest/csv.h"
#include "ingest/customer.h"
#include "ingest/item.h"

/* ---- scratch arena ------------------------------------------------------------ */

#define SCRATCH_BLOCK (256u * 1024u)

struct scr_blk {
    struct scr_blk *next;
    size_t cap, used;
    char data[];
};

struct scratch {
    struct scr_blk *head; /* current block first */
    size_t total;         /* bytes handed out since reset */
};

static char *scr_alloc(struct scratch *s, size_t n)
{
    if (s->total + n > TL_FMT_SCRATCH_MAX) return NULL;
    struct scr_blk *b = s->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > SCRATCH_BLOCK ? n : SCRATCH_BLOCK;
        struct scr_blk *nb = tl_malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->cap = cap;
        nb->used = 0;
        nb->next = b;
        s->head = b = nb;
    }
    char *p = b->data + b->used;
    b->used += n;
    s->total += n;
    return p;
}

static const char *scr_strndup(struct scratch *s, const char *p, size_t n)
{
    char *d = scr_alloc(s, n + 1);
    if (!d) return NULL;
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* Keep the oldest block (the last in the chain) for reuse, free the rest. */
static void scr_reset(struct scratch *s)
{
    struct scr_blk *b = s->head;
    while (b && b->next) {
        struct scr_blk *n = b->next;
        tl_free(b);
        b = n;
    }
    s->head = b;
    if (b) b->used = 0;
    s->total = 0;
}

static void scr_free(struct scratch *s)
{
    struct scr_blk *b = s->head;
    while (b) {
        struct scr_blk *n = b->next;
        tl_free(b);
        b = n;
    }
    s->head = NULL;
    s->total = 0;
}

/* ---- run context, errors, delivery --------------------------------------------- */

struct run {
    const struct tl_fmt_opts *o;
    struct tl_fmt_opts defaults;
    struct tl_fmt_summary *sum;
    struct tl_fmt_summary sum_local;
    struct tl_err *err;
    struct tl_err err_local;
    struct scratch scr;
    struct tl_buf tmp; /* JSON builder */
    struct tl_csv *csv;
    struct tl_lines *lines;
    uint64_t next_progress;
};

static void run_init(struct run *r, const struct tl_fmt_opts *o, struct tl_fmt_summary *sum, struct tl_err *err)
{
    memset(r, 0, sizeof *r);
    r->o = o ? o : &r->defaults;
    r->sum = sum ? sum : &r->sum_local;
    memset(r->sum, 0, sizeof *r->sum);
    r->err = err ? err : &r->err_local;
    tl_err_clear(r->err);
    tl_buf_init(&r->tmp, 4u * TL_CSV_RECORD_MAX + 64);
    r->next_progress = TL_FMT_PROGRESS_EVERY;
}

static void run_progress(struct run *r, int final)
{
    if (!r->o->progress) return;
    if (!final && r->sum->records < r->next_progress) return;
    r->next_progress = r->sum->records + TL_FMT_PROGRESS_EVERY;
    uint64_t done = 0, total = 0;
    if (r->csv) {
        done = tl_csv_bytes_read(r->csv);
        total = tl_csv_bytes_total(r->csv);
    } else if (r->lines) {
        done = tl_lines_bytes_read(r->lines);
        total = tl_lines_bytes_total(r->lines);
    }
    r->o->progress(r->o->progress_ctx, done, total, r->sum->records);
}

static void run_finish(struct run *r)
{
    if (r->csv) r->sum->lines = (uint64_t)tl_csv_lines(r->csv);
    run_progress(r, 1);
    tl_csv_close(r->csv);
    tl_lines_close(r->lines);
    r->csv = NULL;
    r->lines = NULL;
    scr_free(&r->scr);
    tl_buf_free(&r->tmp);
}

char *tl_fmt_describe_err(const struct tl_err *e, char *out, size_t n)
{
    if (!out || n == 0) return out;
    size_t k = 0;
    int w;
    out[0] = '\0';
    if (e->line > 0) {
        w = snprintf(out, n, "line %ld", e->line);
        k = w > 0 ? (size_t)w : 0;
        if (e->column > 0 && k < n) {
            w = snprintf(out + k, n - k, ", column %ld", e->column);
            k += w > 0 ? (size_t)w : 0;
        }
    }
    if (e->field[0] && k < n) {
        w = snprintf(out + k, n - k, "%s(%s)", k ? " " : "", e->field);
        k += w > 0 ? (size_t)w : 0;
    }
    if (k < n) snprintf(out + k, n - k, "%s%s", k ? ": " : "", e->msg[0] ? e->msg : tl_rc_message(e->rc));
    return out;
}

/* A bad record: skip and describe it (skip_bad) or end the import with it. */
static enum tl_rc reject(struct run *r, const struct tl_err *e)
{
    enum tl_rc rc = e->rc != TL_OK ? e->rc : TL_EINVAL;
    scr_reset(&r->scr);
    if (!r->o->skip_bad) {
        *r->err = *e;
        r->err->rc = rc;
        return rc;
    }
    r->sum->skipped++;
    if (r->sum->skipped <= TL_FMT_DETAIL_RECORDS) {
        char one[TL_ERR_MSG_MAX + TL_ERR_FIELD_MAX + 64];
        tl_fmt_describe_err(e, one, sizeof one);
        char *d = r->sum->skipped_detail;
        size_t len = strlen(d), cap = sizeof r->sum->skipped_detail;
        int w = snprintf(d + len, cap - len, "%s%s", len ? "; " : "", one);
        if (w < 0 || (size_t)w >= cap - len) memcpy(d + cap - 4, "...", 4);
    }
    return TL_OK;
}

/* After the callback: count, report progress, or stop with its result. */
static enum tl_rc delivered(struct run *r, int cbrc, long line)
{
    scr_reset(&r->scr);
    if (cbrc != 0) {
        if (r->err->rc == TL_OK) {
            tl_err_set(r->err, (enum tl_rc)cbrc, "", "import stopped by the consumer at line %ld", line);
            r->err->line = line;
        }
        return (enum tl_rc)cbrc;
    }
    r->sum->records++;
    run_progress(r, 0);
    return TL_OK;
}

static enum tl_rc oom(struct run *r)
{
    return tl_err_set(r->err, TL_ENOMEM, "", "out of memory (or per-record limit TL_FMT_SCRATCH_MAX reached)");
}

/* Short printable copy of a value for messages. */
static const char *snip(const char *v, char *buf, size_t n)
{
    size_t k = 0;
    for (; v[k] && k + 4 < n && k < 40; k++) buf[k] = (unsigned char)v[k] < 0x20 ? '?' : v[k];
    if (v[k]) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
    return buf;
}

__attribute__((format(printf, 5, 6))) static enum tl_rc ferr(struct tl_err *e, long line, long col, const char *field,
                                                             const char *fmt, ...)
{
    tl_err_clear(e);
    e->rc = TL_EINVAL;
    e->line = line;
    e->column = col;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return TL_EINVAL;
}

/* ---- value validation ------------------------------------------------------------- */

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            k = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + k >= n) return 0; /* truncated sequence */
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Text: valid UTF-8, no control characters except TAB/LF/CR when multiline. */
static enum tl_rc v_text(struct tl_err *e, long line, long col, const char *field, const char *v, size_t max,
                         int multiline)
{
    size_t n = strlen(v);
    char sb[64];
    if (n > max) return ferr(e, line, col, field, "longer than %zu bytes", max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f) {
            if (multiline && (c == '\t' || c == '\n' || c == '\r')) continue;
            return ferr(e, line, col, field, "control character (byte 0x%02x) in \"%s\"", c, snip(v, sb, sizeof sb));
        }
    }
    if (!utf8_valid((const unsigned char *)v, n))
        return ferr(e, line, col, field, "not valid UTF-8: \"%s\"", snip(v, sb, sizeof sb));
    return TL_OK;
}

static enum tl_rc v_id(struct tl_err *e, long line, long col, const char *field, const char *v)
{
    if (!v[0]) return ferr(e, line, col, field, "required, got an empty value");
    if (strlen(v) > TL_ID_MAX) return ferr(e, line, col, field, "ids are at most %d bytes", TL_ID_MAX);
    return v_text(e, line, col, field, v, TL_ID_MAX, 0);
}

/* URL: text without spaces, <= TL_ITEM_URL_MAX (same rule as the JSON API). */
static enum tl_rc v_url(struct tl_err *e, long line, long col, const char *field, const char *v)
{
    enum tl_rc rc = v_text(e, line, col, field, v, TL_ITEM_URL_MAX, 0);
    if (rc) return rc;
    if (strchr(v, ' ')) return ferr(e, line, col, field, "must not contain spaces (percent-encode them as %%20)");
    return TL_OK;
}

/* Number; empty -> NAN (*out). Requires >= 0 (or > 0 when positive). */
static enum tl_rc v_num(struct tl_err *e, long line, long col, const char *field, const char *v, int positive,
                        double *out)
{
    *out = NAN;
    if (!v[0]) return TL_OK;
    char *end;
    char sb[64];
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d))
        return ferr(e, line, col, field, "expected a number, got \"%s\"", snip(v, sb, sizeof sb));
    if (positive ? !(d > 0) : d < 0)
        return ferr(e, line, col, field, "expected a number %s 0, got \"%s\"",
                    positive ? ">" : ">=", snip(v, sb, sizeof sb));
    *out = d;
    return TL_OK;
}

/* Integer >= 0; empty -> -1. */
static enum tl_rc v_count(struct tl_err *e, long line, long col, const char *field, const char *v, int64_t *out)
{
    *out = -1;
    if (!v[0]) return TL_OK;
    char *end;
    char sb[64];
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || x < 0)
        return ferr(e, line, col, field, "expected a whole number >= 0, got \"%s\"", snip(v, sb, sizeof sb));
    *out = x;
    return TL_OK;
}

/* Boolean: 1/0, true/false, yes/no, y/n (any case); empty -> dflt. */
static enum tl_rc v_bool(struct tl_err *e, long line, long col, const char *field, const char *v, int dflt, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "y", "t"};
    static const char *const no[] = {"0", "false", "no", "n", "f"};
    *out = dflt;
    if (!v[0]) return TL_OK;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return TL_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return TL_OK;
        }
    }
    char sb[64];
    return ferr(e, line, col, field, "expected true/false (or 1/0, yes/no), got \"%s\"", snip(v, sb, sizeof sb));
}

/* ISO 4217: three ASCII letters, stored upper-case in out[4]; empty -> dflt. */
static enum tl_rc v_currency(struct tl_err *e, long line, long col, const char *field, const char *v, const char *dflt,
                             char out[4], const char **res)
{
    *res = dflt;
    if (!v[0]) return TL_OK;
    char sb[64];
    if (strlen(v) != 3 || !isalpha((unsigned char)v[0]) || !isalpha((unsigned char)v[1]) ||
        !isalpha((unsigned char)v[2]))
        return ferr(e, line, col, field, "expected a 3-letter ISO 4217 code like \"EUR\", got \"%s\"",
                    snip(v, sb, sizeof sb));
    for (int i = 0; i < 3; i++) out[i] = (char)toupper((unsigned char)v[i]);
    out[3] = '\0';
    *res = out;
    return TL_OK;
}

/* Country: 2-letter code (upper-cased into out[3]) or a known name; empty -> NULL. */
static enum tl_rc v_country(struct tl_err *e, long line, long col, const char *field, const char *v, char out[3],
                            const char **res)
{
    *res = NULL;
    if (!v[0]) return TL_OK;
    if (strlen(v) == 2 && isalpha((unsigned char)v[0]) && isalpha((unsigned char)v[1])) {
        out[0] = (char)toupper((unsigned char)v[0]);
        out[1] = (char)toupper((unsigned char)v[1]);
        out[2] = '\0';
        *res = out;
        return TL_OK;
    }
    *res = tl_fmt_country_code(v);
    if (*res) return TL_OK;
    char sb[64];
    return ferr(e, line, col, field,
                "expected an ISO 3166-1 alpha-2 code like \"GB\" or a known country name, got \"%s\"",
                snip(v, sb, sizeof sb));
}

static int dig(const char **p, int min, int max, int *out)
{
    int v = 0, n = 0;
    while (**p >= '0' && **p <= '9' && n < max) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *out = v;
    return n >= min;
}

/* "M/D/YYYY H:MM[:SS]" (Excel's US rendering of Online Retail dates) -> ms. */
static int parse_us_time(const char *s, int64_t *ms)
{
    int mo, d, y, h = 0, mi = 0, sec = 0;
    const char *p = s;
    if (!dig(&p, 1, 2, &mo) || *p++ != '/' || !dig(&p, 1, 2, &d) || *p++ != '/' || !dig(&p, 4, 4, &y)) return 0;
    if (*p == ' ') {
        p++;
        if (!dig(&p, 1, 2, &h) || *p++ != ':' || !dig(&p, 2, 2, &mi)) return 0;
        if (*p == ':') {
            p++;
            if (!dig(&p, 2, 2, &sec)) return 0;
        }
    }
    if (*p) return 0;
    char iso[64];
    snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, h, mi, sec);
    return tl_time_parse(iso, ms) == TL_OK;
}

/* ISO 8601 (tl_time_parse), "M/D/YYYY H:MM", or integer milliseconds. */
static enum tl_rc v_time(struct tl_err *e, long line, long col, const char *field, const char *v, int64_t *ms)
{
    char sb[64];
    if (!v[0]) return ferr(e, line, col, field, "required: a date/time like 2011-12-09 12:50:00");
    if (tl_time_parse(v, ms) == TL_OK) return TL_OK;
    if (parse_us_time(v, ms)) return TL_OK;
    const char *p = v;
    while (*p >= '0' && *p <= '9') p++;
    if (!*p && p - v >= 10 && p - v <= 15) {
        *ms = strtoll(v, NULL, 10);
        return TL_OK;
    }
    return ferr(e, line, col, field,
                "expected a date/time like 2011-12-09 12:50:00, 2011-12-09T12:50:00Z, 12/9/2011 12:50 or epoch "
                "milliseconds, got \"%s\"",
                snip(v, sb, sizeof sb));
}

/* ---- JSON / text building into the scratch arena ------------------------------------- */

static const char *tmp_commit(struct run *r)
{
    const char *s = scr_strndup(&r->scr, r->tmp.data ? r->tmp.data : "", r->tmp.len);
    tl_buf_reset(&r->tmp);
    return s;
}

/* Split s on sep (sep == ',' honours WooCommerce's "\," escape), trim each
 * part, append non-empty parts as JSON strings to r->tmp (an array). Returns
 * the number of parts; -1 on error. */
static long json_split(struct run *r, const char *s, char sep)
{
    long n = 0;
    const char *p = s;
    char part[TL_CSV_FIELD_MAX + 1] = {0};
    while (*p) {
        size_t k = 0;
        while (*p && *p != sep) {
            if (*p == '\\' && p[1] == sep) p++;
            if (k < TL_CSV_FIELD_MAX) part[k++] = *p;
            p++;
        }
        if (*p) p++;
        size_t a = 0;
        while (a < k && isspace((unsigned char)part[a])) a++;
        while (k > a && isspace((unsigned char)part[k - 1])) k--;
        if (k == a) continue;
        if (k - a > TL_ITEM_TAG_MAX || n >= TL_ITEM_TAGS_MAX) return -2;
        part[k] = '\0';
        if (n > 0 && tl_buf_putc(&r->tmp, ',') != TL_OK) return -1;
        if (tl_buf_json_str(&r->tmp, part + a) != TL_OK) return -1;
        n++;
    }
    return n;
}

#define TAGS_LIMIT_MSG "more than %d tags, or a tag longer than %d bytes"

/* JSON array text of the sep-separated list s, or NULL when empty. *ok = 0
 * on OOM, -1 when there are more than TL_ITEM_TAGS_MAX tags or one is longer
 * than TL_ITEM_TAG_MAX bytes (the JSON API's limits). */
static const char *tags_json(struct run *r, const char *s, char sep, int *ok)
{
    *ok = 1;
    if (!s || !*s) return NULL;
    tl_buf_reset(&r->tmp);
    if (tl_buf_putc(&r->tmp, '[') != TL_OK) goto fail;
    long n = json_split(r, s, sep);
    if (n == -2) {
        *ok = -1;
        tl_buf_reset(&r->tmp);
        return NULL;
    }
    if (n < 0 || tl_buf_putc(&r->tmp, ']') != TL_OK) goto fail;
    if (n == 0) {
        tl_buf_reset(&r->tmp);
        return NULL;
    }
    const char *j = tmp_commit(r);
    if (!j) goto fail;
    return j;
fail:
    *ok = 0;
    tl_buf_reset(&r->tmp);
    return NULL;
}

/* First element of a sep-separated list (trimmed, "\," unescaped), or NULL. */
static const char *first_of_list(struct run *r, const char *s, char sep, int *ok)
{
    *ok = 1;
    const char *p = s;
    while (*p && isspace((unsigned char)*p)) p++;
    tl_buf_reset(&r->tmp);
    while (*p && *p != sep) {
        if (*p == '\\' && p[1] == sep) p++;
        if (tl_buf_putc(&r->tmp, *p++) != TL_OK) {
            *ok = 0;
            return NULL;
        }
    }
    while (r->tmp.len > 0 && isspace((unsigned char)r->tmp.data[r->tmp.len - 1])) r->tmp.len--;
    if (r->tmp.len == 0) return NULL;
    const char *v = tmp_commit(r);
    if (!v) *ok = 0;
    return v;
}

/* Attribute object builder over r->tmp: attrs_begin, attrs_add..., attrs_end. */
struct attrs {
    struct tl_buf b;
    int n;
    int failed;
};

static void attrs_add(struct attrs *a, const char *k, const char *v)
{
    if (!v || !*v || a->failed) return;
    if (tl_buf_putc(&a->b, a->n ? ',' : '{') != TL_OK || tl_buf_json_str(&a->b, k) != TL_OK ||
        tl_buf_putc(&a->b, ':') != TL_OK || tl_buf_json_str(&a->b, v) != TL_OK)
        a->failed = 1;
    a->n++;
}

static const char *attrs_end(struct run *r, struct attrs *a, int *ok)
{
    *ok = 1;
    const char *res = NULL;
    if (!a->failed && a->n > 0) {
        if (tl_buf_putc(&a->b, '}') == TL_OK) res = scr_strndup(&r->scr, a->b.data, a->b.len);
        if (!res) *ok = 0;
    } else if (a->failed) {
        *ok = 0;
    }
    tl_buf_free(&a->b);
    return res;
}

static void utf8_put(struct tl_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    tl_buf_append(b, u, n);
}

/* HTML -> plain text: tags removed (script/style content too), the usual
 * entities decoded, whitespace runs collapsed to one space, trimmed.
 * Returns NULL for empty results; *ok = 0 on OOM. */
static const char *strip_html(struct run *r, const char *h, int *ok)
{
    static const struct {
        const char *name;
        uint32_t cp;
    } ents[] = {{"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},      {"apos", '\''},
                {"nbsp", ' '},     {"ndash", 0x2013}, {"mdash", 0x2014}, {"hellip", 0x2026}, {"rsquo", 0x2019},
                {"lsquo", 0x2018}, {"rdquo", 0x201D}, {"ldquo", 0x201C}, {"eacute", 0xE9},   {"pound", 0xA3},
                {"euro", 0x20AC},  {"copy", 0xA9},    {"reg", 0xAE},     {"trade", 0x2122}};
    *ok = 1;
    if (!h || !*h) return NULL;
    struct tl_buf *b = &r->tmp;
    tl_buf_reset(b);
    int space = 1; /* suppress leading blanks */
    const char *p = h;
    while (*p) {
        if (*p == '<') {
            const char *q = p + 1;
            if (strncasecmp(q, "script", 6) == 0 || strncasecmp(q, "style", 5) == 0) {
                const char *endtag = strncasecmp(q, "script", 6) == 0 ? "</script" : "</style";
                const char *e = strcasestr(q, endtag);
                p = e ? e : p + strlen(p);
            }
            const char *gt = strchr(p, '>');
            if (!gt) break;
            p = gt + 1;
            if (!space) {
                tl_buf_putc(b, ' ');
                space = 1;
            }
            continue;
        }
        if (*p == '&') {
            const char *semi = strchr(p, ';');
            uint32_t cp = 0;
            if (semi && semi - p <= 10) {
                if (p[1] == '#') {
                    char *end;
                    unsigned long v =
                        (p[2] == 'x' || p[2] == 'X') ? strtoul(p + 3, &end, 16) : strtoul(p + 2, &end, 10);
                    if (end == semi && v > 0 && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF)) cp = (uint32_t)v;
                } else {
                    for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++) {
                        size_t l = strlen(ents[i].name);
                        if ((size_t)(semi - p - 1) == l && strncmp(p + 1, ents[i].name, l) == 0) {
                            cp = ents[i].cp;
                            break;
                        }
                    }
                }
            }
            if (cp) {
                p = semi + 1;
                if (cp == ' ' || cp < 0x20) {
                    if (!space) tl_buf_putc(b, ' ');
                    space = 1;
                } else {
                    utf8_put(b, cp);
                    space = 0;
                }
                continue;
            }
        }
        unsigned char c = (unsigned char)*p++;
        if (isspace(c) || c < 0x20) {
            if (!space) tl_buf_putc(b, ' ');
            space = 1;
        } else {
            tl_buf_putc(b, (char)c);
            space = 0;
        }
    }
    while (b->len > 0 && b->data[b->len - 1] == ' ') b->len--;
    if (b->len == 0) return NULL;
    const char *s = tmp_commit(r);
    if (!s) *ok = 0;
    return s;
}

/* "WHITE HANGING HEART T-LIGHT HOLDER" -> "White Hanging Heart T-Light Holder".
 * Only for text without lower-case letters; small words lower-case except
 * first; words with digits kept as they are. */
static const char *title_case(struct run *r, const char *s)
{
    static const char *const small[] = {"OF", "AND", "IN", "WITH", "THE", "A", "FOR", "ON", "TO", "OR", "W/"};
    for (const char *p = s; *p; p++)
        if (islower((unsigned char)*p)) return s;
    size_t n = strlen(s);
    char *d = scr_alloc(&r->scr, n + 1);
    if (!d) return s;
    memcpy(d, s, n + 1);
    size_t i = 0, word = 0;
    while (i < n) {
        while (i < n && d[i] == ' ') i++;
        size_t st = i;
        int has_digit = 0;
        while (i < n && d[i] != ' ') has_digit |= isdigit((unsigned char)d[i++]);
        size_t len = i - st;
        if (len == 0) break;
        int is_small = 0;
        for (size_t k = 0; k < sizeof small / sizeof small[0]; k++)
            if (strlen(small[k]) == len && strncmp(d + st, small[k], len) == 0) is_small = 1;
        if (!has_digit) {
            int cap = !(is_small && word > 0);
            for (size_t k = st; k < i; k++) {
                unsigned char c = (unsigned char)d[k];
                if (!isalpha(c)) {
                    cap = c == '-' || c == '/' || c == '(' || c == '&' || c == '.' || c == '+' || c == ',';
                    continue;
                }
                d[k] = (char)(cap ? toupper(c) : tolower(c));
                cap = 0;
            }
        }
        word++;
    }
    return d;
}

/* ---- tables -------------------------------------------------------------------------- */

static const struct {
    const char *name;
    const char *code; /* NULL: not a single country */
} countries[] = {
    /* the 38 names of the Online Retail file */
    {"United Kingdom", "GB"},
    {"France", "FR"},
    {"Australia", "AU"},
    {"Netherlands", "NL"},
    {"Germany", "DE"},
    {"Norway", "NO"},
    {"EIRE", "IE"},
    {"Switzerland", "CH"},
    {"Spain", "ES"},
    {"Poland", "PL"},
    {"Portugal", "PT"},
    {"Italy", "IT"},
    {"Belgium", "BE"},
    {"Lithuania", "LT"},
    {"Japan", "JP"},
    {"Iceland", "IS"},
    {"Channel Islands", NULL},
    {"Denmark", "DK"},
    {"Cyprus", "CY"},
    {"Sweden", "SE"},
    {"Austria", "AT"},
    {"Israel", "IL"},
    {"Finland", "FI"},
    {"Bahrain", "BH"},
    {"Greece", "GR"},
    {"Hong Kong", "HK"},
    {"Singapore", "SG"},
    {"Lebanon", "LB"},
    {"United Arab Emirates", "AE"},
    {"Saudi Arabia", "SA"},
    {"Czech Republic", "CZ"},
    {"Canada", "CA"},
    {"Unspecified", NULL},
    {"Brazil", "BR"},
    {"USA", "US"},
    {"European Community", NULL},
    {"Malta", "MT"},
    {"RSA", "ZA"},
    /* common English names */
    {"Ireland", "IE"},
    {"United States", "US"},
    {"United States of America", "US"},
    {"US", "US"},
    {"UK", "GB"},
    {"Great Britain", "GB"},
    {"England", "GB"},
    {"Scotland", "GB"},
    {"Wales", "GB"},
    {"Northern Ireland", "GB"},
    {"South Africa", "ZA"},
    {"Czechia", "CZ"},
    {"Luxembourg", "LU"},
    {"New Zealand", "NZ"},
    {"Mexico", "MX"},
    {"China", "CN"},
    {"India", "IN"},
    {"South Korea", "KR"},
    {"Russia", "RU"},
    {"Turkey", "TR"},
    {"Hungary", "HU"},
    {"Romania", "RO"},
    {"Bulgaria", "BG"},
    {"Croatia", "HR"},
    {"Slovenia", "SI"},
    {"Slovakia", "SK"},
    {"Estonia", "EE"},
    {"Latvia", "LV"},
    {"Argentina", "AR"},
    {"Chile", "CL"},
    {"Colombia", "CO"},
    {"Nigeria", "NG"},
    {"Egypt", "EG"},
    {"Thailand", "TH"},
    {"Malaysia", "MY"},
    {"Indonesia", "ID"},
    {"Philippines", "PH"},
    {"Vietnam", "VN"},
    {"Taiwan", "TW"},
    {"Qatar", "QA"},
    {"Kuwait", "KW"},
    {"Oman", "OM"},
    {"Ukraine", "UA"},
};

const char *tl_fmt_country_code(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof countries / sizeof countries[0]; i++)
        if (strcasecmp(name, countries[i].name) == 0) return countries[i].code;
    return NULL;
}

#define CAT_WORDS_MAX 24 /* keywords per category rule */

/* Demo category rules: first rule with a keyword (whole word or phrase of
 * the upper-cased description) wins; no match -> "Other". */
static const struct {
    const char *category;
    const char *words[CAT_WORDS_MAX];
} cat_rules[] = {
    {"Seasonal > Christmas", {"CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE", "SNOWMAN", "NATIVITY"}},
    {"Seasonal > Easter", {"EASTER"}},
    {"Seasonal > Halloween", {"HALLOWEEN"}},
    {"Gift Vouchers", {"VOUCHER"}},
    {"Home > Candles & Lights",
     {"T-LIGHT", "T-LIGHTS", "TLIGHT", "TEALIGHT", "CANDLE", "CANDLES", "CANDLEHOLDER", "LANTERN", "LAMP", "LAMPSHADE",
      "LIGHTS", "LIGHT", "INCENSE", "NIGHTLIGHT"}},
    {"Kitchen > Mugs & Cups", {"MUG", "MUGS", "CUP", "CUPS", "BEAKER", "BEAKERS", "SAUCER", "TEACUP"}},
    {"Bags", {"BAG", "BAGS", "HANDBAG", "PURSE", "SHOPPER", "TOTE", "WALLET", "WASHBAG"}},
    {"Stationery > Cards", {"CARD", "CARDS", "GREETING", "POSTCARD"}},
    {"Stationery > Gift Wrap", {"WRAP", "WRAPPING", "RIBBON", "RIBBONS", "TISSUE PAPER", "GIFT TAG", "GIFT TAGS"}},
    {"Stationery",
     {"NOTEBOOK", "PEN", "PENS", "PENCIL", "PENCILS", "STICKER", "STICKERS", "SKETCHBOOK", "NOTEPAD", "PAD", "CALENDAR",
      "ERASER", "RULER", "TAPE", "ENVELOPES", "JOURNAL"}},
    {"Jewellery",
     {"NECKLACE", "EARRINGS", "BRACELET", "RING", "PENDANT", "BROOCH", "CHARM", "CHARMS", "BEAD", "BEADS", "BANGLE",
      "DIAMANTE"}},
    {"Accessories",
     {"HAIR", "SCARF", "UMBRELLA", "GLOVES", "HAT", "SUNGLASSES", "SLIPPERS", "PARASOL", "HAND WARMER", "LUGGAGE TAG",
      "PASSPORT"}},
    {"Party", {"PARTY", "BUNTING", "BALLOON", "BALLOONS", "BIRTHDAY", "NAPKINS", "CONFETTI", "PINATA"}},
    {"Toys & Games", {"TOY",      "TOYS",      "JIGSAW",   "DOLL",           "DOLLY",    "GAME",      "GAMES",
                      "PUZZLE",   "PLAYHOUSE", "SKIPPING", "TEDDY",          "DOMINOES", "CHILDRENS", "CHILDS",
                      "SPACEBOY", "SOLDIER",   "LADDERS",  "BUILDING BLOCK", "BALL",     "HELICOPTER"}},
    {"Home > Textiles",
     {"CUSHION", "THROW", "BLANKET", "QUILT", "DOORMAT", "CURTAIN", "HOT WATER BOTTLE", "TOWEL", "TOWELS", "APRON",
      "OVEN GLOVE"}},
    {"Kitchen > Baking", {"CAKE", "CAKES", "CASES", "BAKING", "CUPCAKE", "COOKIE", "MOULD", "CAKESTAND", "ICING"}},
    {"Kitchen > Cookware",
     {"PAN", "FRYING", "KITCHEN", "PANTRY", "JAM MAKING", "SCALES", "CHOPPING", "COLANDER", "SIEVE", "GRATER", "EGG"}},
    {"Kitchen > Tableware",
     {"PLATE", "PLATES", "BOWL", "BOWLS", "CUTLERY", "JUG", "TEAPOT", "TEA", "COFFEE", "TRAY", "NAPKIN", "COASTER",
      "COASTERS", "LUNCH", "PICNIC", "DISH"}},
    {"Home > Storage",
     {"STORAGE", "BOX",       "BOXES", "JAR",   "JARS",   "BASKET", "DRAWER",  "CABINET", "TIDY",   "TIN",
      "TINS",    "CONTAINER", "TRUNK", "CRATE", "HAMPER", "BOTTLE", "BASKETS", "BIN",     "BUCKET", "ORGANISER"}},
    {"Home > Clocks & Frames", {"CLOCK", "FRAME", "PHOTO", "PHOTOFRAME", "MIRROR", "PICTURE", "ALARM"}},
    {"Home > Signs & Wall Art",
     {"SIGN", "PLAQUE", "WALL ART", "POSTER", "PRINT", "METAL SIGN", "TILE", "LETTERS", "DOORSIGN"}},
    {"Garden & Outdoor",
     {"GARDEN", "PLANT", "PLANTER", "WATERING", "BIRD", "FEEDER", "BIRDHOUSE", "FLOWER POT", "POT", "HERB"}},
    {"Home > Hooks & Hardware", {"HOOK", "HOOKS", "HANGER", "HANGERS", "KNOB", "KNOBS", "DOORSTOP", "RACK", "DOOR"}},
    {"Bath & Beauty", {"SOAP", "BATHROOM", "BATH", "SPONGE", "COSMETIC", "MAKE UP", "LIP", "NAIL", "TISSUES"}},
    {"Craft & Sewing",
     {"CRAFT", "SEWING", "KNITTING", "FELTCRAFT", "BUTTON", "BUTTONS", "EMBROIDERY", "CROCHET", "PAINT SET",
      "PAPER CHAIN"}},
    {"Home > Decorations",
     {"DECORATION", "DECORATIONS", "GARLAND",      "WREATH", "BELL",      "BELLS",      "ORNAMENT",
      "BAUBLE",     "HANGING",     "HEART",        "HEARTS", "BUTTERFLY", "CHANDELIER", "BIRDS",
      "MAGNETS",    "MAGNET",      "FLYING DUCKS", "FLOWER", "FLOWERS",   "ARTIFICIAL"}},
};

static int is_word_char(unsigned char c) { return isalnum(c) || c == '-' || c == '\''; }

static int has_word(const char *hay, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = hay; (p = strstr(p, w)) != NULL; p++) {
        if ((p == hay || !is_word_char((unsigned char)p[-1])) && !is_word_char((unsigned char)p[n])) return 1;
    }
    return 0;
}

const char *tl_fmt_demo_category(const char *description)
{
    char up[512];
    size_t n = 0;
    for (const char *p = description ? description : ""; *p && n + 1 < sizeof up; p++)
        up[n++] = (char)toupper((unsigned char)*p);
    up[n] = '\0';
    for (size_t i = 0; i < sizeof cat_rules / sizeof cat_rules[0]; i++)
        for (size_t k = 0; k < CAT_WORDS_MAX && cat_rules[i].words[k]; k++)
            if (has_word(up, cat_rules[i].words[k])) return cat_rules[i].category;
    return "Other";
}

/* StockCodes that are not products: postage, carriage, manual adjustments,
 * discounts, fees, bank charges, charity, samples, pads, bad debt. */
int tl_fmt_or_non_product(const char *code)
{
    static const char *const np[] = {"POST",      "D", "M",    "DOT", "BANK CHARGES", "C2", "CRUK",
                                     "AMAZONFEE", "S", "PADS", "B"};
    if (!code || isdigit((unsigned char)code[0])) return 0; /* every product code starts with a digit or letters */
    for (size_t i = 0; i < sizeof np / sizeof np[0]; i++)
        if (strcasecmp(code, np[i]) == 0) return 1;
    return 0;
}

/* ---- CSV header mapping --------------------------------------------------------------------- */

struct hdr {
    size_t n;
    char **names; /* owned copies of the header fields */
};

static void hdr_free(struct hdr *h)
{
    for (size_t i = 0; i < h->n; i++) tl_free(h->names[i]);
    tl_free(h->names);
    h->names = NULL;
    h->n = 0;
}

static char *trim_inplace(char *s, size_t *len)
{
    size_t n = *len, a = 0;
    while (a < n && (s[a] == ' ' || s[a] == '\t')) a++;
    while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    s[n] = '\0';
    *len = n - a;
    return s + a;
}

/* Open the CSV, read the header, map names[] (case-insensitive) to header
 * indexes idx[] (-1 if absent). required[i] != 0 makes a column mandatory.
 * name "A|B" accepts either spelling. */
static enum tl_rc csv_begin(struct run *r, const char *path, char sep, const char *const *names, const int *required,
                            size_t nnames, int *idx, struct hdr *h)
{
    memset(h, 0, sizeof *h);
    enum tl_rc rc = tl_csv_open(path, sep, &r->csv, r->err);
    if (rc != TL_OK) return rc;
    size_t nf;
    rc = tl_csv_next(r->csv, &nf, r->err);
    if (rc != TL_OK) return rc;
    if (nf == 0) return tl_err_set(r->err, TL_EINVAL, "", "empty file: expected a header line with column names");
    h->names = tl_calloc(nf, sizeof *h->names);
    if (!h->names) return oom(r);
    h->n = nf;
    for (size_t i = 0; i < nf; i++) {
        size_t len;
        char *f = trim_inplace(tl_csv_field_mut(r->csv, i, &len), &len);
        h->names[i] = tl_strndup(f, len);
        if (!h->names[i]) return oom(r);
    }
    for (size_t k = 0; k < nnames; k++) {
        idx[k] = -1;
        const char *alts = names[k];
        while (*alts && idx[k] < 0) {
            const char *bar = strchr(alts, '|');
            size_t l = bar ? (size_t)(bar - alts) : strlen(alts);
            for (size_t i = 0; i < nf; i++) {
                if (strlen(h->names[i]) == l && strncasecmp(h->names[i], alts, l) == 0) {
                    if (idx[k] >= 0) {
                        tl_err_set(r->err, TL_EINVAL, h->names[i], "column \"%s\" appears twice in the header",
                                   h->names[i]);
                        r->err->line = 1;
                        r->err->column = (long)i + 1;
                        return TL_EINVAL;
                    }
                    idx[k] = (int)i;
                }
            }
            alts += l + (bar ? 1 : 0);
        }
        if (idx[k] < 0 && required && required[k]) {
            char nm[TL_ERR_FIELD_MAX];
            const char *bar = strchr(names[k], '|');
            snprintf(nm, sizeof nm, "%.*s", bar ? (int)(bar - names[k]) : (int)strlen(names[k]), names[k]);
            tl_err_set(r->err, TL_EINVAL, nm, "missing required column \"%s\" in the header line", nm);
            r->err->line = 1;
            return TL_EINVAL;
        }
    }
    return TL_OK;
}

/* Next data record; *got = 0 at EOF. CSV-level record errors go through
 * reject() (skip_bad may continue); a field-count mismatch is a bad record. */
static enum tl_rc csv_row(struct run *r, const struct hdr *h, int *got)
{
    for (;;) {
        size_t nf;
        struct tl_err e;
        e.rc = TL_OK;
        *got = 0;
        enum tl_rc rc = tl_csv_next(r->csv, &nf, &e);
        if (rc != TL_OK) {
            if (tl_csv_finished(r->csv)) {
                *r->err = e;
                return rc;
            }
            rc = reject(r, &e);
            if (rc != TL_OK) return rc;
            continue;
        }
        if (nf == 0) return TL_OK;
        if (nf != h->n) {
            ferr(&e, tl_csv_line(r->csv), (long)(nf < h->n ? nf : h->n + 1), "",
                 "expected %zu fields as in the header line, found %zu", h->n, nf);
            rc = reject(r, &e);
            if (rc != TL_OK) return rc;
            continue;
        }
        *got = 1;
        return TL_OK;
    }
}

/* Trimmed value of column idx (header index; "" if the column is absent). */
static const char *col(struct run *r, int idx)
{
    if (idx < 0) return "";
    size_t len;
    char *f = tl_csv_field_mut(r->csv, (size_t)idx, &len);
    if (!f) return "";
    return trim_inplace(f, &len);
}

/* ---- catalog: Tailor CSV ------------------------------------------------------------------------ */

enum { C_ID, C_TITLE, C_DESC, C_URL, C_IMAGE, C_PRICE, C_CUR, C_CAT, C_BRAND, C_TAGS, C_AVAIL, C_STOCK, C_VIS, C_N };
static const char *const cat_cols[C_N] = {"id",        "title",    "description", "url",   "image_url",
                                          "price",     "currency", "category",    "brand", "tags",
                                          "available", "stock",    "visible"};
static const int cat_req[C_N] = {[C_ID] = 1, [C_TITLE] = 1};

/* Shared checks of a catalog item (CSV flavours). col = 1-based column of
 * each field or 0. Fills e and returns TL_EINVAL on the first problem. */
static enum tl_rc check_item(const struct tl_item *it, long line, const long *colno, struct tl_err *e)
{
    enum tl_rc rc;
    if ((rc = v_id(e, line, colno[C_ID], cat_cols[C_ID], it->id)) != TL_OK) return rc;
    if (!it->title || !it->title[0])
        return ferr(e, line, colno[C_TITLE], cat_cols[C_TITLE], "required, got an empty value");
    if ((rc = v_text(e, line, colno[C_TITLE], cat_cols[C_TITLE], it->title, TL_ITEM_TITLE_MAX, 0)) != TL_OK) return rc;
    if (it->description &&
        (rc = v_text(e, line, colno[C_DESC], cat_cols[C_DESC], it->description, TL_ITEM_DESCRIPTION_MAX, 1)))
        return rc;
    if (it->url && (rc = v_url(e, line, colno[C_URL], cat_cols[C_URL], it->url))) return rc;
    if (it->image_url && (rc = v_url(e, line, colno[C_IMAGE], cat_cols[C_IMAGE], it->image_url))) return rc;
    if (it->category && (rc = v_text(e, line, colno[C_CAT], cat_cols[C_CAT], it->category, TL_ITEM_CATEGORY_MAX, 0)))
        return rc;
    if (it->brand && (rc = v_text(e, line, colno[C_BRAND], cat_cols[C_BRAND], it->brand, TL_ITEM_BRAND_MAX, 0)))
        return rc;
    if (it->attrs_json && strlen(it->attrs_json) > TL_ITEM_ATTRS_MAX)
        return ferr(e, line, 0, "attributes", "attributes JSON is longer than %d bytes (TL_ITEM_ATTRS_MAX)",
                    TL_ITEM_ATTRS_MAX);
    return TL_OK;
}

static const char *nz(const char *s) { return s && *s ? s : NULL; }

static enum tl_rc catalog_csv(struct run *r, const char *path, tl_fmt_item_fn cb, void *ctx)
{
    int idx[C_N];
    struct hdr h;
    enum tl_rc rc = csv_begin(r, path, r->o->sep, cat_cols, cat_req, C_N, idx, &h);
    if (rc != TL_OK) goto out;
    for (;;) {
        int got;
        if ((rc = csv_row(r, &h, &got)) != TL_OK || !got) break;
        long line = tl_csv_line(r->csv);
        long cn[C_N];
        for (int k = 0; k < C_N; k++) cn[k] = idx[k] + 1;
        struct tl_item it = {0};
        struct tl_err e;
        char cur[4];
        int ok = 1, ok2 = 1;
        it.id = col(r, idx[C_ID]);
        it.title = col(r, idx[C_TITLE]);
        it.description = nz(col(r, idx[C_DESC]));
        it.url = nz(col(r, idx[C_URL]));
        it.image_url = nz(col(r, idx[C_IMAGE]));
        it.category = nz(col(r, idx[C_CAT]));
        it.brand = nz(col(r, idx[C_BRAND]));
        enum tl_rc vr = check_item(&it, line, cn, &e);
        if (!vr) vr = v_num(&e, line, cn[C_PRICE], "price", col(r, idx[C_PRICE]), 0, &it.price);
        if (!vr)
            vr = v_currency(&e, line, cn[C_CUR], "currency", col(r, idx[C_CUR]), r->o->currency, cur, &it.currency);
        if (!vr) vr = v_count(&e, line, cn[C_STOCK], "stock", col(r, idx[C_STOCK]), &it.stock);
        if (!vr) vr = v_bool(&e, line, cn[C_AVAIL], "available", col(r, idx[C_AVAIL]), it.stock != 0, &it.available);
        if (!vr) vr = v_bool(&e, line, cn[C_VIS], "visible", col(r, idx[C_VIS]), 1, &it.visible);
        if (!vr) {
            const char *tags = col(r, idx[C_TAGS]);
            vr = v_text(&e, line, cn[C_TAGS], "tags", tags, TL_CSV_FIELD_MAX, 0);
            if (!vr) it.tags_json = tags_json(r, tags, '|', &ok);
            if (ok < 0) {
                vr = ferr(&e, line, cn[C_TAGS], "tags", TAGS_LIMIT_MSG, TL_ITEM_TAGS_MAX, TL_ITEM_TAG_MAX);
                ok = 1;
            }
        }
        if (!vr) { /* unknown columns -> attrs */
            struct attrs a = {0};
            tl_buf_init(&a.b, 4u * TL_CSV_RECORD_MAX);
            for (size_t i = 0; i < h.n && !vr; i++) {
                int known = 0;
                for (int k = 0; k < C_N; k++) known |= idx[k] == (int)i;
                if (known || !h.names[i][0]) continue;
                const char *v = col(r, (int)i);
                vr = v_text(&e, line, (long)i + 1, h.names[i], v, TL_CSV_FIELD_MAX, 1);
                attrs_add(&a, h.names[i], v);
            }
            it.attrs_json = attrs_end(r, &a, &ok2);
            if (!vr && it.attrs_json && strlen(it.attrs_json) > TL_ITEM_ATTRS_MAX)
                vr = ferr(&e, line, 0, "attributes", "unknown columns add up to more than %d bytes of attributes JSON",
                          TL_ITEM_ATTRS_MAX);
        }
        if (!ok || !ok2) {
            rc = oom(r);
            break;
        }
        if (vr) {
            if ((rc = reject(r, &e)) != TL_OK) break;
            scr_reset(&r->scr);
            continue;
        }
        if ((rc = delivered(r, cb(ctx, &it, line), line)) != TL_OK) break;
    }
out:
    hdr_free(&h);
    return rc;
}

/* ---- catalog: Shopify --------------------------------------------------------------------------- */

enum {
    S_HANDLE,
    S_TITLE,
    S_BODY,
    S_VENDOR,
    S_PCAT,
    S_TYPE,
    S_TAGS,
    S_PUB,
    S_O1N,
    S_O1V,
    S_O2N,
    S_O2V,
    S_O3N,
    S_O3V,
    S_SKU,
    S_QTY,
    S_TRACKER,
    S_POLICY,
    S_PRICE,
    S_IMG,
    S_STATUS,
    S_N
};
static const char *const shop_cols[S_N] = {"Handle",
                                           "Title",
                                           "Body (HTML)",
                                           "Vendor",
                                           "Product Category|Standard Product Type",
                                           "Type",
                                           "Tags",
                                           "Published",
                                           "Option1 Name",
                                           "Option1 Value",
                                           "Option2 Name",
                                           "Option2 Value",
                                           "Option3 Name",
                                           "Option3 Value",
                                           "Variant SKU",
                                           "Variant Inventory Qty",
                                           "Variant Inventory Tracker",
                                           "Variant Inventory Policy",
                                           "Variant Price",
                                           "Image Src",
                                           "Status"};
static const int shop_req[S_N] = {[S_HANDLE] = 1, [S_TITLE] = 1};

#define SHOP_OPT_VALUES_MAX 4096 /* bytes of the joined values of one option */

/* One product being accumulated over its rows (strings owned here). */
struct shop_prod {
    int active;
    int bad; /* a row was bad: skip the rest of this handle */
    long line;
    struct tl_buf handle, title, body, vendor, pcat, type, tags, pub, status, image, sku;
    struct tl_buf optname[3], optvals[3];
    double price;
    int64_t stock;
    int any_continue;
};

static void shop_bufs(struct shop_prod *p, void (*fn)(struct tl_buf *))
{
    struct tl_buf *all[] = {&p->handle,     &p->title,      &p->body,       &p->vendor,     &p->pcat,
                            &p->type,       &p->tags,       &p->pub,        &p->status,     &p->image,
                            &p->sku,        &p->optname[0], &p->optname[1], &p->optname[2], &p->optvals[0],
                            &p->optvals[1], &p->optvals[2]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) fn(all[i]);
}

static void buf_init_field(struct tl_buf *b) { tl_buf_init(b, TL_CSV_FIELD_MAX + 1); }

static int bset(struct tl_buf *b, const char *s)
{
    tl_buf_reset(b);
    return tl_buf_puts(b, s) == TL_OK || !*s ? 1 : 0;
}

static const char *bstr(const struct tl_buf *b) { return b->len ? b->data : NULL; }

/* Add v to the ", "-joined distinct values of an option. */
static void opt_add(struct tl_buf *b, const char *v)
{
    if (!*v) return;
    size_t n = strlen(v);
    const char *p = b->data;
    while (p && *p) {
        const char *e = strstr(p, ", ");
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, v, n) == 0) return;
        p = e ? e + 2 : NULL;
    }
    if (b->len + n + 2 > SHOP_OPT_VALUES_MAX) return;
    if (b->len) tl_buf_puts(b, ", ");
    tl_buf_puts(b, v);
}

static enum tl_rc shop_emit(struct run *r, struct shop_prod *p, tl_fmt_item_fn cb, void *ctx)
{
    p->active = 0;
    if (p->bad) return TL_OK;
    struct tl_item it = {0};
    struct tl_err e;
    int ok1 = 1, ok2 = 1, ok3 = 1, ok4 = 1;
    it.id = bstr(&p->handle);
    it.title = bstr(&p->title);
    it.description = strip_html(r, bstr(&p->body), &ok1);
    it.brand = bstr(&p->vendor);
    it.category = bstr(&p->pcat) ? bstr(&p->pcat) : bstr(&p->type);
    it.tags_json = tags_json(r, bstr(&p->tags), ',', &ok2);
    it.image_url = bstr(&p->image);
    it.price = p->price;
    it.currency = r->o->currency;
    it.stock = p->stock;
    it.available = p->stock != 0 || p->any_continue;
    int published = 1;
    const char *pub = bstr(&p->pub);
    if (pub) published = strcasecmp(pub, "true") == 0 || strcmp(pub, "1") == 0;
    const char *st = bstr(&p->status);
    it.visible = published && (!st || strcasecmp(st, "active") == 0);
    tl_buf_reset(&r->tmp);
    if (tl_buf_printf(&r->tmp, "/products/%s", it.id) != TL_OK) ok3 = 0;
    it.url = ok3 ? tmp_commit(r) : NULL;
    struct attrs a = {0};
    tl_buf_init(&a.b, 4u * TL_CSV_RECORD_MAX);
    if (bstr(&p->pcat)) attrs_add(&a, "product_type", bstr(&p->type));
    attrs_add(&a, "sku", bstr(&p->sku));
    for (int i = 0; i < 3; i++) {
        const char *n = bstr(&p->optname[i]);
        if (n && strcmp(n, "Title") != 0) attrs_add(&a, n, bstr(&p->optvals[i]));
    }
    it.attrs_json = attrs_end(r, &a, &ok4);
    if (!ok1 || ok2 == 0 || !ok3 || !it.url || !ok4) return oom(r);
    long cn[C_N] = {[C_ID] = 0};
    enum tl_rc vr = ok2 < 0 ? ferr(&e, p->line, 0, "tags", TAGS_LIMIT_MSG, TL_ITEM_TAGS_MAX, TL_ITEM_TAG_MAX)
                            : check_item(&it, p->line, cn, &e);
    if (vr) {
        /* name the Shopify column */
        if (strcmp(e.field, "id") == 0)
            snprintf(e.field, sizeof e.field, "Handle");
        else if (strcmp(e.field, "title") == 0)
            snprintf(e.field, sizeof e.field, "Title");
        else if (strcmp(e.field, "description") == 0)
            snprintf(e.field, sizeof e.field, "Body (HTML)");
        else if (strcmp(e.field, "image_url") == 0)
            snprintf(e.field, sizeof e.field, "Image Src");
        else if (strcmp(e.field, "brand") == 0)
            snprintf(e.field, sizeof e.field, "Vendor");
        else if (strcmp(e.field, "tags") == 0)
            snprintf(e.field, sizeof e.field, "Tags");
        enum tl_rc rc = reject(r, &e);
        scr_reset(&r->scr);
        return rc;
    }
    return delivered(r, cb(ctx, &it, p->line), p->line);
}

static enum tl_rc catalog_shopify(struct run *r, const char *path, tl_fmt_item_fn cb, void *ctx)
{
    int idx[S_N];
    struct hdr h;
    struct shop_prod p;
    memset(&p, 0, sizeof p);
    shop_bufs(&p, buf_init_field);
    enum tl_rc rc = csv_begin(r, path, 0, shop_cols, shop_req, S_N, idx, &h);
    if (rc != TL_OK) goto out;
    for (;;) {
        int got;
        if ((rc = csv_row(r, &h, &got)) != TL_OK) break;
        if (!got) {
            if (p.active) rc = shop_emit(r, &p, cb, ctx);
            break;
        }
        long line = tl_csv_line(r->csv);
        const char *handle = col(r, idx[S_HANDLE]);
        struct tl_err e;
        if (!handle[0]) {
            ferr(&e, line, idx[S_HANDLE] + 1, "Handle", "required, got an empty value");
            if ((rc = reject(r, &e)) != TL_OK) break;
            continue;
        }
        if (!p.active || strcmp(handle, p.handle.data) != 0) {
            if (p.active && (rc = shop_emit(r, &p, cb, ctx)) != TL_OK) break;
            shop_bufs(&p, tl_buf_reset);
            p.active = 1;
            p.bad = 0;
            p.line = line;
            p.price = NAN;
            p.stock = -1;
            p.any_continue = 0;
            int ok = bset(&p.handle, handle) && bset(&p.title, col(r, idx[S_TITLE])) &&
                     bset(&p.body, col(r, idx[S_BODY])) && bset(&p.vendor, col(r, idx[S_VENDOR])) &&
                     bset(&p.pcat, col(r, idx[S_PCAT])) && bset(&p.type, col(r, idx[S_TYPE])) &&
                     bset(&p.tags, col(r, idx[S_TAGS])) && bset(&p.pub, col(r, idx[S_PUB])) &&
                     bset(&p.status, col(r, idx[S_STATUS]));
            if (!ok) {
                rc = oom(r);
                break;
            }
        }
        if (p.bad) continue;
        /* per-row: variant and image data */
        const char *img = col(r, idx[S_IMG]);
        if (img[0] && !p.image.len) bset(&p.image, img);
        for (int i = 0; i < 3; i++) {
            const char *on = col(r, idx[S_O1N + 2 * i]);
            if (on[0] && !p.optname[i].len) bset(&p.optname[i], on);
            opt_add(&p.optvals[i], col(r, idx[S_O1V + 2 * i]));
        }
        const char *sku = col(r, idx[S_SKU]);
        if (sku[0] && !p.sku.len) bset(&p.sku, sku);
        double price;
        enum tl_rc vr = v_num(&e, line, idx[S_PRICE] + 1, "Variant Price", col(r, idx[S_PRICE]), 0, &price);
        if (!vr && !isnan(price) && (isnan(p.price) || price < p.price)) p.price = price;
        const char *qty = col(r, idx[S_QTY]);
        if (!vr && qty[0]) {
            char *end;
            char sb[64];
            long long q = strtoll(qty, &end, 10);
            if (end == qty || *end) {
                vr = ferr(&e, line, idx[S_QTY] + 1, "Variant Inventory Qty", "expected a whole number, got \"%s\"",
                          snip(qty, sb, sizeof sb));
            } else {
                if (p.stock < 0) p.stock = 0;
                if (q > 0) p.stock += q; /* oversold variants count as 0 */
            }
        }
        if (strcasecmp(col(r, idx[S_POLICY]), "continue") == 0) p.any_continue = 1;
        if (vr) {
            p.bad = 1;
            if ((rc = reject(r, &e)) != TL_OK) break;
        }
    }
out:
    shop_bufs(&p, tl_buf_free);
    hdr_free(&h);
    return rc;
}

/* ---- catalog: WooCommerce ------------------------------------------------------------------------ */

enum {
    W_ID,
    W_TYPE,
    W_SKU,
    W_NAME,
    W_PUB,
    W_FEAT,
    W_VIS,
    W_SHORT,
    W_DESC,
    W_INSTOCK,
    W_STOCK,
    W_SALE,
    W_REG,
    W_CATS,
    W_TAGS,
    W_IMAGES,
    W_PARENT,
    W_BRANDS,
    W_N
};
static const char *const woo_cols[W_N] = {"ID",
                                          "Type",
                                          "SKU",
                                          "Name",
                                          "Published",
                                          "Is featured?",
                                          "Visibility in catalog",
                                          "Short description",
                                          "Description",
                                          "In stock?",
                                          "Stock",
                                          "Sale price",
                                          "Regular price",
                                          "Categories",
                                          "Tags",
                                          "Images",
                                          "Parent",
                                          "Brands|Brand"};
static const int woo_req[W_N] = {[W_NAME] = 1};

#define WOO_ATTRS_MAX 8 /* "Attribute N name" columns looked at */

/* A variable product held until EOF: the item with all strings packed in
 * one allocation, plus its lookup keys. */
struct woo_parent {
    struct tl_item it;
    char *mem;
    long line;
    char *key_id;  /* "id:<ID>" or NULL */
    char *key_sku; /* SKU or NULL */
};

/* Variation aggregate per parent reference. */
struct woo_agg {
    double price;
    int64_t stock;
    int any_in_stock;
    int used;
};

struct woo_state {
    struct woo_parent *parents;
    size_t n, cap;
    struct tl_strtab refs; /* parent reference -> index into aggs */
    struct woo_agg *aggs;
    size_t naggs, aggs_cap;
};

static char *pack_item(const struct tl_item *src, struct tl_item *dst)
{
    const char *const *s[] = {&src->id,       &src->title,    &src->description, &src->url,       &src->image_url,
                              &src->currency, &src->category, &src->brand,       &src->tags_json, &src->attrs_json};
    const char **d[] = {&dst->id,       &dst->title,    &dst->description, &dst->url,       &dst->image_url,
                        &dst->currency, &dst->category, &dst->brand,       &dst->tags_json, &dst->attrs_json};
    size_t total = 0;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) total += *s[i] ? strlen(*s[i]) + 1 : 0;
    *dst = *src;
    char *mem = tl_malloc(total ? total : 1);
    if (!mem) return NULL;
    char *p = mem;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        if (!*s[i]) continue;
        size_t l = strlen(*s[i]) + 1;
        memcpy(p, *s[i], l);
        *d[i] = p;
        p += l;
    }
    return mem;
}

static struct woo_agg *woo_agg_for(struct woo_state *w, const char *ref)
{
    uint32_t id;
    if (tl_strtab_intern(&w->refs, ref, &id) != TL_OK) return NULL;
    if (id >= w->aggs_cap) {
        size_t nc = w->aggs_cap ? w->aggs_cap * 2 : 64;
        struct woo_agg *na = tl_realloc(w->aggs, nc * sizeof *na);
        if (!na) return NULL;
        memset(na + w->aggs_cap, 0, (nc - w->aggs_cap) * sizeof *na);
        w->aggs = na;
        w->aggs_cap = nc;
    }
    return &w->aggs[id];
}

static const struct woo_agg *woo_agg_find(const struct woo_state *w, const char *ref)
{
    if (!ref) return NULL;
    uint32_t id = tl_strtab_find(&w->refs, ref);
    return id == TL_STRTAB_NONE || !w->aggs[id].used ? NULL : &w->aggs[id];
}

static int has_type(const char *types, const char *t)
{
    /* "simple, downloadable, virtual" */
    size_t n = strlen(t);
    for (const char *p = types; (p = strstr(p, t)) != NULL; p += n)
        if ((p == types || p[-1] == ' ' || p[-1] == ',') && (p[n] == '\0' || p[n] == ',' || p[n] == ' ')) return 1;
    return 0;
}

static enum tl_rc catalog_woo(struct run *r, const char *path, tl_fmt_item_fn cb, void *ctx)
{
    int idx[W_N];
    struct hdr h;
    struct woo_state w;
    memset(&w, 0, sizeof w);
    tl_strtab_init(&w.refs);
    int attr_name[WOO_ATTRS_MAX], attr_val[WOO_ATTRS_MAX];
    enum tl_rc rc = csv_begin(r, path, 0, woo_cols, woo_req, W_N, idx, &h);
    if (rc != TL_OK) goto out;
    if (idx[W_ID] < 0 && idx[W_SKU] < 0) {
        rc = tl_err_set(r->err, TL_EINVAL, "ID", "missing required column \"ID\" (or \"SKU\") in the header line");
        r->err->line = 1;
        goto out;
    }
    for (int a = 0; a < WOO_ATTRS_MAX; a++) {
        attr_name[a] = attr_val[a] = -1;
        char n1[40], n2[40];
        snprintf(n1, sizeof n1, "Attribute %d name", a + 1);
        snprintf(n2, sizeof n2, "Attribute %d value(s)", a + 1);
        for (size_t i = 0; i < h.n; i++) {
            if (strcasecmp(h.names[i], n1) == 0) attr_name[a] = (int)i;
            if (strcasecmp(h.names[i], n2) == 0) attr_val[a] = (int)i;
        }
    }
    for (;;) {
        int got;
        if ((rc = csv_row(r, &h, &got)) != TL_OK || !got) break;
        long line = tl_csv_line(r->csv);
        struct tl_err e;
        const char *type = col(r, idx[W_TYPE]);
        double sale = NAN, reg = NAN;
        int64_t stock;
        int instock = -1;
        enum tl_rc vr = v_num(&e, line, idx[W_SALE] + 1, "Sale price", col(r, idx[W_SALE]), 0, &sale);
        if (!vr) vr = v_num(&e, line, idx[W_REG] + 1, "Regular price", col(r, idx[W_REG]), 0, &reg);
        if (!vr) vr = v_count(&e, line, idx[W_STOCK] + 1, "Stock", col(r, idx[W_STOCK]), &stock);
        if (!vr) {
            const char *is = col(r, idx[W_INSTOCK]);
            if (strcasecmp(is, "backorder") == 0 || strcasecmp(is, "onbackorder") == 0)
                instock = 1;
            else
                vr = v_bool(&e, line, idx[W_INSTOCK] + 1, "In stock?", is, -1, &instock);
        }
        double price = !isnan(sale) ? sale : reg;
        if (!vr && has_type(type, "variation")) {
            const char *parent = col(r, idx[W_PARENT]);
            if (!parent[0]) {
                vr = ferr(&e, line, idx[W_PARENT] + 1, "Parent",
                          "a variation needs its parent (\"id:123\" or the parent SKU)");
            } else {
                struct woo_agg *g = woo_agg_for(&w, parent);
                if (!g) {
                    rc = oom(r);
                    break;
                }
                if (!g->used) {
                    g->used = 1;
                    g->price = NAN;
                    g->stock = -1;
                }
                if (!isnan(price) && (isnan(g->price) || price < g->price)) g->price = price;
                if (stock >= 0) g->stock = (g->stock < 0 ? 0 : g->stock) + stock;
                if (instock == 1 || (instock < 0 && stock != 0)) g->any_in_stock = 1;
                continue;
            }
        }
        if (vr) {
            if ((rc = reject(r, &e)) != TL_OK) break;
            continue;
        }
        struct tl_item it = {0};
        int ok[6] = {1, 1, 1, 1, 1, 1};
        const char *wid = col(r, idx[W_ID]), *sku = col(r, idx[W_SKU]);
        it.id = wid[0] ? wid : sku;
        it.title = col(r, idx[W_NAME]);
        it.description = strip_html(r, col(r, idx[W_DESC]), &ok[0]);
        if (!it.description) it.description = strip_html(r, col(r, idx[W_SHORT]), &ok[1]);
        it.price = price;
        it.currency = r->o->currency;
        it.stock = stock;
        it.available = instock >= 0 ? instock : stock != 0;
        const char *pub = col(r, idx[W_PUB]);
        it.visible = (!pub[0] || strcmp(pub, "1") == 0) && strcasecmp(col(r, idx[W_VIS]), "hidden") != 0;
        const char *cats = col(r, idx[W_CATS]);
        it.category = first_of_list(r, cats, ',', &ok[2]);
        it.tags_json = tags_json(r, col(r, idx[W_TAGS]), ',', &ok[3]);
        it.image_url = first_of_list(r, col(r, idx[W_IMAGES]), ',', &ok[4]);
        it.brand = first_of_list(r, col(r, idx[W_BRANDS]), ',', &ok[5]);
        struct attrs a = {0};
        tl_buf_init(&a.b, 4u * TL_CSV_RECORD_MAX);
        if (wid[0]) attrs_add(&a, "sku", sku);
        if (!isnan(sale) && !isnan(reg)) attrs_add(&a, "regular_price", col(r, idx[W_REG]));
        int several = 0;
        for (const char *q = cats; *q; q++) several |= *q == ',' && (q == cats || q[-1] != '\\');
        if (several) attrs_add(&a, "categories", cats);
        if (strcmp(col(r, idx[W_FEAT]), "1") == 0) attrs_add(&a, "featured", "1");
        for (int k = 0; k < WOO_ATTRS_MAX; k++)
            if (attr_name[k] >= 0 && attr_val[k] >= 0) attrs_add(&a, col(r, attr_name[k]), col(r, attr_val[k]));
        int oka;
        it.attrs_json = attrs_end(r, &a, &oka);
        if (!ok[0] || !ok[1] || !ok[2] || ok[3] == 0 || !ok[4] || !ok[5] || !oka) {
            rc = oom(r);
            break;
        }
        long cn[C_N] = {[C_ID] = wid[0] ? idx[W_ID] + 1 : idx[W_SKU] + 1,
                        [C_TITLE] = idx[W_NAME] + 1,
                        [C_DESC] = idx[W_DESC] + 1,
                        [C_IMAGE] = idx[W_IMAGES] + 1,
                        [C_CAT] = idx[W_CATS] + 1,
                        [C_BRAND] = idx[W_BRANDS] + 1,
                        [C_TAGS] = idx[W_TAGS] + 1};
        if (ok[3] < 0) vr = ferr(&e, line, cn[C_TAGS], "tags", TAGS_LIMIT_MSG, TL_ITEM_TAGS_MAX, TL_ITEM_TAG_MAX);
        if (vr || (vr = check_item(&it, line, cn, &e)) != TL_OK) {
            static const char *const wn[C_N] = {
                [C_ID] = "ID",          [C_TITLE] = "Name",   [C_DESC] = "Description", [C_IMAGE] = "Images",
                [C_CAT] = "Categories", [C_BRAND] = "Brands", [C_TAGS] = "Tags"};
            for (int k = 0; k < C_N; k++)
                if (wn[k] && strcmp(e.field, cat_cols[k]) == 0) snprintf(e.field, sizeof e.field, "%s", wn[k]);
            if (!wid[0] && strcmp(e.field, "ID") == 0) snprintf(e.field, sizeof e.field, "SKU");
            scr_reset(&r->scr);
            if ((rc = reject(r, &e)) != TL_OK) break;
            continue;
        }
        if (has_type(type, "variable")) { /* hold until all variations are seen */
            if (w.n == w.cap) {
                size_t nc = w.cap ? w.cap * 2 : 64;
                struct woo_parent *np = tl_realloc(w.parents, nc * sizeof *np);
                if (!np) {
                    rc = oom(r);
                    break;
                }
                w.parents = np;
                w.cap = nc;
            }
            struct woo_parent *wp = &w.parents[w.n];
            memset(wp, 0, sizeof *wp);
            wp->mem = pack_item(&it, &wp->it);
            wp->line = line;
            if (wid[0]) {
                char k[TL_ID_MAX + 8];
                snprintf(k, sizeof k, "id:%s", wid);
                wp->key_id = tl_strdup(k);
            }
            if (sku[0]) wp->key_sku = tl_strdup(sku);
            w.n++;
            scr_reset(&r->scr);
            if (!wp->mem || (wid[0] && !wp->key_id) || (sku[0] && !wp->key_sku)) {
                rc = oom(r);
                break;
            }
            continue;
        }
        if ((rc = delivered(r, cb(ctx, &it, line), line)) != TL_OK) break;
    }
    /* variable parents, folded with their variations */
    uint64_t matched = 0;
    for (size_t i = 0; i < w.n && rc == TL_OK; i++) {
        struct woo_parent *wp = &w.parents[i];
        const struct woo_agg *g1 = woo_agg_find(&w, wp->key_id), *g2 = woo_agg_find(&w, wp->key_sku);
        for (int k = 0; k < 2; k++) {
            const struct woo_agg *g = k ? g2 : g1;
            if (!g || (k && g2 == g1)) continue;
            matched++;
            if (!isnan(g->price) && (isnan(wp->it.price) || g->price < wp->it.price)) wp->it.price = g->price;
            if (g->stock >= 0) wp->it.stock = (wp->it.stock < 0 ? 0 : wp->it.stock) + g->stock;
            if (g->any_in_stock) wp->it.available = 1;
        }
        rc = delivered(r, cb(ctx, &wp->it, wp->line), wp->line);
    }
    if (rc == TL_OK) {
        uint64_t used = 0;
        for (size_t i = 0; i < w.aggs_cap; i++) used += w.aggs[i].used;
        r->sum->dropped += used > matched ? used - matched : 0;
    }
out:
    for (size_t i = 0; i < w.n; i++) {
        tl_free(w.parents[i].mem);
        tl_free(w.parents[i].key_id);
        tl_free(w.parents[i].key_sku);
    }
    tl_free(w.parents);
    tl_free(w.aggs);
    tl_strtab_free(&w.refs);
    hdr_free(&h);
    return rc;
}

/* ---- NDJSON common ------------------------------------------------------------------------------------ */

/* Next JSON object line; *obj = NULL at EOF. Syntax errors and non-objects
 * are bad records. The caller json_decref()s *obj. */
static enum tl_rc nd_next(struct run *r, json_t **obj, long *lineno)
{
    *obj = NULL;
    for (;;) {
        const char *line;
        size_t len;
        struct tl_err e;
        tl_err_clear(&e);
        enum tl_rc rc = tl_lines_next(r->lines, &line, &len, lineno, &e);
        if (rc == TL_ETOOBIG) {
            if ((rc = reject(r, &e)) != TL_OK) return rc;
            continue;
        }
        if (rc != TL_OK) {
            *r->err = e;
            return rc;
        }
        if (!line) return TL_OK;
        r->sum->lines = (uint64_t)*lineno;
        size_t k = 0;
        while (k < len && isspace((unsigned char)line[k])) k++;
        if (k == len) continue;
        json_error_t je;
        json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
        if (!o || !json_is_object(o)) {
            tl_err_clear(&e);
            e.rc = TL_EPARSE;
            e.line = *lineno;
            if (!o) {
                e.column = je.column > 0 ? je.column : 0;
                snprintf(e.msg, sizeof e.msg, "invalid JSON: %s", je.text);
            } else {
                snprintf(e.msg, sizeof e.msg, "expected one JSON object per line");
            }
            json_decref(o);
            if ((rc = reject(r, &e)) != TL_OK) return rc;
            continue;
        }
        *obj = o;
        return TL_OK;
    }
}

/* String member: JSON string (or integer when as_id, rendered in digits).
 * Absent / null -> NULL; empty strings -> NULL. */
static enum tl_rc j_str(struct run *r, json_t *o, const char *k, long line, int as_id, size_t max, int multiline,
                        const char **out, struct tl_err *e)
{
    *out = NULL;
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return TL_OK;
    if (as_id && json_is_integer(v)) {
        char d[32];
        int n = snprintf(d, sizeof d, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *out = scr_strndup(&r->scr, d, (size_t)n);
        return *out ? TL_OK : oom(r);
    }
    if (!json_is_string(v)) return ferr(e, line, 0, k, "expected a string%s", as_id ? " (or an integer id)" : "");
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) return ferr(e, line, 0, k, "contains a NUL character");
    if (!*s) return TL_OK;
    enum tl_rc rc = as_id ? v_id(e, line, 0, k, s) : v_text(e, line, 0, k, s, max, multiline);
    if (rc) return rc;
    *out = s;
    return TL_OK;
}

/* Number member (JSON number or numeric string); absent/null -> NAN. */
static enum tl_rc j_num(json_t *o, const char *k, long line, int positive, double *out, struct tl_err *e)
{
    *out = NAN;
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return TL_OK;
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (positive ? !(d > 0) : d < 0)
            return ferr(e, line, 0, k, "expected a number %s 0, got %g", positive ? ">" : ">=", d);
        *out = d;
        return TL_OK;
    }
    if (json_is_string(v)) return v_num(e, line, 0, k, json_string_value(v), positive, out);
    return ferr(e, line, 0, k, "expected a number");
}

static enum tl_rc j_bool(json_t *o, const char *k, long line, int dflt, int *out, struct tl_err *e)
{
    *out = dflt;
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return TL_OK;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return TL_OK;
    }
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
        *out = (int)json_integer_value(v);
        return TL_OK;
    }
    if (json_is_string(v)) return v_bool(e, line, 0, k, json_string_value(v), dflt, out);
    return ferr(e, line, 0, k, "expected true or false");
}

static enum tl_rc j_time(json_t *o, const char *k, long line, int64_t *ms, struct tl_err *e)
{
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v)) {
        *ms = json_integer_value(v);
        return TL_OK;
    }
    if (json_is_string(v)) return v_time(e, line, 0, k, json_string_value(v), ms);
    return ferr(e, line, 0, k, "required: an ISO 8601 date/time string or epoch milliseconds");
}

static enum tl_rc nd_open(struct run *r, const char *path) { return tl_lines_open(path, &r->lines, r->err); }

/* ---- catalog: NDJSON ------------------------------------------------------------------------------------------ */

/* One item object via the JSON API's validator (ingest/item.h), so an NDJSON
 * import accepts exactly what PUT /v1/items accepts. Import rules on top:
 * a title is required, an absent currency takes opts->currency, and an
 * absent "available" follows the stock (0 -> not available) as in CSV. */
static enum tl_rc item_from_json(struct run *r, json_t *o, long line, struct tl_item *it, struct tl_err *e)
{
    tl_buf_reset(&r->tmp);
    enum tl_rc rc = tl_item_from_json(o, tl_now_ms(), it, &r->tmp, e);
    if (!rc) rc = tl_item_check_new(it, e);
    if (rc) {
        e->line = line;
        e->column = 0;
        return rc == TL_ENOMEM ? rc : (e->rc = rc);
    }
    if (!it->currency) it->currency = r->o->currency;
    json_t *av = json_object_get(o, "available");
    if ((!av || json_is_null(av)) && it->stock == 0) it->available = 0;
    return TL_OK;
}

static enum tl_rc catalog_ndjson(struct run *r, const char *path, tl_fmt_item_fn cb, void *ctx)
{
    enum tl_rc rc = nd_open(r, path);
    while (rc == TL_OK) {
        json_t *o;
        long line;
        if ((rc = nd_next(r, &o, &line)) != TL_OK || !o) break;
        struct tl_item it;
        struct tl_err e;
        tl_err_clear(&e);
        enum tl_rc vr = item_from_json(r, o, line, &it, &e);
        if (vr == TL_ENOMEM)
            rc = vr;
        else if (vr) {
            scr_reset(&r->scr);
            rc = reject(r, &e);
        } else {
            rc = delivered(r, cb(ctx, &it, line), line);
        }
        json_decref(o);
    }
    return rc;
}

/* ---- orders: accumulation window ---------------------------------------------------------------------- */

struct oline {
    size_t item_off;
    double q, p;
};

struct oslot {
    int used;
    uint64_t seq; /* start order */
    long line;
    struct tl_buf s; /* id, customer, currency, item ids (NUL-separated) */
    size_t id_off, cust_off, cur_off;
    char country[3];
    int has_country;
    int64_t ts;
    int is_return;
    struct oline *lines;
    size_t n, cap;
};

#define OSLOTS (TL_FMT_ORDER_REOPEN + 1)
#define OSLOT_STR_MAX ((size_t)TL_FMT_ORDER_LINES_MAX * (TL_ID_MAX + 1) + 4096)

struct oacc {
    struct oslot slot[OSLOTS];
    int cur; /* slot of the last row, -1 */
    uint64_t seq;
    struct tl_line *out;
    size_t out_cap;
};

static void oacc_init(struct oacc *a)
{
    memset(a, 0, sizeof *a);
    a->cur = -1;
    for (int i = 0; i < OSLOTS; i++) tl_buf_init(&a->slot[i].s, OSLOT_STR_MAX);
}

static void oacc_free(struct oacc *a)
{
    for (int i = 0; i < OSLOTS; i++) {
        tl_buf_free(&a->slot[i].s);
        tl_free(a->slot[i].lines);
    }
    tl_free(a->out);
}

static int oslot_put(struct oslot *s, const char *str, size_t *off)
{
    *off = s->s.len;
    return tl_buf_append(&s->s, str, strlen(str) + 1) == TL_OK;
}

static enum tl_rc oacc_emit(struct run *r, struct oacc *a, int i, tl_fmt_order_fn cb, void *ctx)
{
    struct oslot *s = &a->slot[i];
    s->used = 0;
    if (a->cur == i) a->cur = -1;
    if (s->n == 0) { /* every line was dropped or bad */
        r->sum->dropped++;
        return TL_OK;
    }
    if (s->n > a->out_cap) {
        struct tl_line *nl = tl_realloc(a->out, s->n * sizeof *nl);
        if (!nl) return oom(r);
        a->out = nl;
        a->out_cap = s->n;
    }
    for (size_t k = 0; k < s->n; k++) {
        a->out[k].item_id = s->s.data + s->lines[k].item_off;
        a->out[k].quantity = s->lines[k].q;
        a->out[k].price = s->lines[k].p;
    }
    struct tl_order o = {
        .id = s->s.data + s->id_off,
        .customer_id = s->cust_off == SIZE_MAX ? NULL : s->s.data + s->cust_off,
        .ts_ms = s->ts,
        .country = s->has_country ? s->country : NULL,
        .currency = s->cur_off == SIZE_MAX ? NULL : s->s.data + s->cur_off,
        .is_return = s->is_return,
        .lines = a->out,
        .n_lines = s->n,
    };
    enum tl_rc rc = delivered(r, cb(ctx, &o, s->line), s->line);
    if (rc == TL_OK && o.is_return) r->sum->returns++;
    return rc;
}

static enum tl_rc oacc_flush(struct run *r, struct oacc *a, tl_fmt_order_fn cb, void *ctx)
{
    for (;;) {
        int best = -1;
        for (int i = 0; i < OSLOTS; i++)
            if (a->slot[i].used && (best < 0 || a->slot[i].seq < a->slot[best].seq)) best = i;
        if (best < 0) return TL_OK;
        enum tl_rc rc = oacc_emit(r, a, best, cb, ctx);
        if (rc != TL_OK) return rc;
    }
}

/* Header fields of a row's order (used when the row starts a new order). */
struct ohead {
    const char *id, *customer, *currency, *country;
    int64_t ts;
    int is_return;
};

/* Slot for order h->id: the open one, one of the recent ones, or a new one
 * (emitting the oldest when all are taken). *slot receives it. */
static enum tl_rc oacc_slot(struct run *r, struct oacc *a, const struct ohead *h, long line, tl_fmt_order_fn cb,
                            void *ctx, struct oslot **slot)
{
    if (a->cur >= 0 && strcmp(a->slot[a->cur].s.data + a->slot[a->cur].id_off, h->id) == 0) {
        *slot = &a->slot[a->cur];
        return TL_OK;
    }
    int free_i = -1, oldest = -1;
    for (int i = 0; i < OSLOTS; i++) {
        struct oslot *s = &a->slot[i];
        if (!s->used) {
            if (free_i < 0) free_i = i;
            continue;
        }
        if (strcmp(s->s.data + s->id_off, h->id) == 0) {
            a->cur = i;
            *slot = s;
            return TL_OK;
        }
        if (oldest < 0 || s->seq < a->slot[oldest].seq) oldest = i;
    }
    if (free_i < 0) {
        enum tl_rc rc = oacc_emit(r, a, oldest, cb, ctx);
        if (rc != TL_OK) return rc;
        free_i = oldest;
    }
    struct oslot *s = &a->slot[free_i];
    tl_buf_reset(&s->s);
    s->n = 0;
    s->used = 1;
    s->seq = a->seq++;
    s->line = line;
    s->ts = h->ts;
    s->is_return = h->is_return;
    s->cust_off = s->cur_off = SIZE_MAX;
    s->has_country = h->country != NULL;
    if (h->country) memcpy(s->country, h->country, 3);
    if (!oslot_put(s, h->id, &s->id_off) || (h->customer && !oslot_put(s, h->customer, &s->cust_off)) ||
        (h->currency && !oslot_put(s, h->currency, &s->cur_off))) {
        s->used = 0;
        return oom(r);
    }
    a->cur = free_i;
    *slot = s;
    return TL_OK;
}

/* Add a line; a full order is a bad record (e filled, returns TL_ETOOBIG). */
static enum tl_rc oslot_line(struct run *r, struct oslot *s, const char *item, double q, double p, long line,
                             long colno, const char *field, struct tl_err *e)
{
    if (s->n >= TL_FMT_ORDER_LINES_MAX) {
        ferr(e, line, colno, field, "order has more than %d lines (limit TL_FMT_ORDER_LINES_MAX)",
             TL_FMT_ORDER_LINES_MAX);
        e->rc = TL_ETOOBIG;
        return TL_ETOOBIG;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        struct oline *nl = tl_realloc(s->lines, nc * sizeof *nl);
        if (!nl) return oom(r);
        s->lines = nl;
        s->cap = nc;
    }
    struct oline *l = &s->lines[s->n];
    if (!oslot_put(s, item, &l->item_off)) return oom(r);
    l->q = q;
    l->p = p;
    s->n++;
    return TL_OK;
}

/* ---- Online Retail ------------------------------------------------------------------------------------- */

enum { OR_INV, OR_CODE, OR_DESC, OR_QTY, OR_DATE, OR_PRICE, OR_CUST, OR_COUNTRY, OR_N };
static const char *const or_cols[OR_N] = {
    "InvoiceNo|Invoice",      "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice|Price",
    "CustomerID|Customer ID", "Country"};
static const int or_req[OR_N] = {1, 1, 0, 1, 1, 1, 0, 0};

struct or_row {
    const char *inv, *code, *desc, *cust;
    const char *country; /* ISO code or NULL */
    double qty, price;
    int64_t ts;
    int cancel;
    int adjust; /* stock adjustment row: dropped, not an error (see or_parse) */
};

struct or_cache {
    char date[40];
    int64_t ts;
    char country[64];
    const char *code;
};

/* Parse and check one Online Retail row. strict = order rules (quantity sign
 * must match the invoice kind, price >= 0). */
static enum tl_rc or_parse(struct run *r, const int *idx, struct or_cache *cc, int strict, struct or_row *w,
                           struct tl_err *e)
{
    long line = tl_csv_line(r->csv);
    char sb[64];
    w->adjust = 0;
    w->inv = col(r, idx[OR_INV]);
    if (!w->inv[0]) return ferr(e, line, idx[OR_INV] + 1, "InvoiceNo", "required, got an empty value");
    if (strlen(w->inv) > TL_ID_MAX)
        return ferr(e, line, idx[OR_INV] + 1, "InvoiceNo", "ids are at most %d bytes", TL_ID_MAX);
    w->cancel = w->inv[0] == 'C' || w->inv[0] == 'c';
    size_t cl;
    char *code = idx[OR_CODE] >= 0 ? tl_csv_field_mut(r->csv, (size_t)idx[OR_CODE], &cl) : NULL;
    code = code ? trim_inplace(code, &cl) : NULL;
    if (!code || !code[0]) return ferr(e, line, idx[OR_CODE] + 1, "StockCode", "required, got an empty value");
    for (char *p = code; *p; p++) *p = (char)toupper((unsigned char)*p);
    w->code = code;
    enum tl_rc rc;
    if ((rc = v_id(e, line, idx[OR_CODE] + 1, "StockCode", code))) return rc;
    w->desc = col(r, idx[OR_DESC]);
    /* quantity: integer fast path */
    const char *q = col(r, idx[OR_QTY]);
    {
        const char *p = q;
        int neg = *p == '-';
        p += neg;
        long long v = 0;
        int nd = 0;
        while (*p >= '0' && *p <= '9' && nd < 15) v = v * 10 + (*p++ - '0'), nd++;
        if (nd && !*p) {
            w->qty = (double)(neg ? -v : v);
        } else {
            char *end;
            w->qty = strtod(q, &end);
            if (end == q || *end || !isfinite(w->qty))
                return ferr(e, line, idx[OR_QTY] + 1, "Quantity", "expected a whole number, got \"%s\"",
                            snip(q, sb, sizeof sb));
        }
    }
    const char *pr = col(r, idx[OR_PRICE]);
    char *end;
    w->price = strtod(pr, &end);
    if (end == pr || *end || !isfinite(w->price))
        return ferr(e, line, idx[OR_PRICE] + 1, "UnitPrice", "expected a number, got \"%s\"", snip(pr, sb, sizeof sb));
    const char *d = col(r, idx[OR_DATE]);
    if (!d[0] || strcmp(d, cc->date) != 0) {
        if ((rc = v_time(e, line, idx[OR_DATE] + 1, "InvoiceDate", d, &cc->ts))) {
            cc->date[0] = '\0';
            return rc;
        }
        if (strlen(d) < sizeof cc->date)
            snprintf(cc->date, sizeof cc->date, "%s", d);
        else
            cc->date[0] = '\0';
    }
    w->ts = cc->ts;
    /* customer: "17850.0" -> "17850" */
    size_t ul;
    char *cu = idx[OR_CUST] >= 0 ? tl_csv_field_mut(r->csv, (size_t)idx[OR_CUST], &ul) : NULL;
    cu = cu ? trim_inplace(cu, &ul) : NULL;
    w->cust = NULL;
    if (cu && ul) {
        if (ul > 2 && cu[ul - 2] == '.' && cu[ul - 1] == '0') cu[ul - 2] = '\0';
        if ((rc = v_id(e, line, idx[OR_CUST] + 1, "CustomerID", cu))) return rc;
        w->cust = cu;
    }
    const char *ctry = col(r, idx[OR_COUNTRY]);
    if (strcmp(ctry, cc->country) != 0) {
        snprintf(cc->country, sizeof cc->country, "%s", ctry);
        cc->code = tl_fmt_country_code(ctry);
    }
    w->country = cc->code;
    /* The real file has 1,336 sale-invoice rows with a negative quantity,
     * price 0 and no customer ("damaged", "lost", blank descriptions): stock
     * adjustments, not sales. They are dropped and counted like non-product
     * codes, and so are non-product codes themselves (e.g. "B", "Adjust bad
     * debt", with a negative price) before the sale rules below. */
    if (strict && (tl_fmt_or_non_product(w->code) || (!w->cancel && w->qty <= 0 && w->price == 0 && !w->cust))) {
        w->adjust = 1;
        return TL_OK;
    }
    if (strict) {
        if (w->qty == 0) return ferr(e, line, idx[OR_QTY] + 1, "Quantity", "must not be 0");
        if (!w->cancel && w->qty < 0)
            return ferr(e, line, idx[OR_QTY] + 1, "Quantity",
                        "must be > 0 outside cancellations (InvoiceNo \"C...\"), got %s", snip(q, sb, sizeof sb));
        if (w->price < 0)
            return ferr(e, line, idx[OR_PRICE] + 1, "UnitPrice", "must be >= 0, got %s", snip(pr, sb, sizeof sb));
    }
    return TL_OK;
}

static enum tl_rc orders_online_retail(struct run *r, const char *path, tl_fmt_order_fn cb, void *ctx)
{
    int idx[OR_N];
    struct hdr h;
    struct oacc a;
    struct or_cache cc;
    memset(&cc, 0, sizeof cc);
    oacc_init(&a);
    enum tl_rc rc = csv_begin(r, path, 0, or_cols, or_req, OR_N, idx, &h);
    if (rc != TL_OK) goto out;
    for (;;) {
        int got;
        if ((rc = csv_row(r, &h, &got)) != TL_OK) break;
        if (!got) {
            rc = oacc_flush(r, &a, cb, ctx);
            break;
        }
        struct or_row w;
        struct tl_err e;
        enum tl_rc vr = or_parse(r, idx, &cc, 1, &w, &e);
        if (vr) {
            if ((rc = reject(r, &e)) != TL_OK) break;
            continue;
        }
        if (w.adjust || tl_fmt_or_non_product(w.code)) {
            r->sum->dropped++;
            continue;
        }
        struct ohead oh = {.id = w.inv,
                           .customer = w.cust,
                           .currency = "GBP",
                           .country = w.country,
                           .ts = w.ts,
                           .is_return = w.cancel};
        struct oslot *s;
        long line = tl_csv_line(r->csv);
        if ((rc = oacc_slot(r, &a, &oh, line, cb, ctx, &s)) != TL_OK) break;
        vr = oslot_line(r, s, w.code, fabs(w.qty), w.price, line, idx[OR_CODE] + 1, "StockCode", &e);
        if (vr == TL_ENOMEM) {
            rc = vr;
            break;
        }
        if (vr && (rc = reject(r, &e)) != TL_OK) break;
    }
out:
    oacc_free(&a);
    hdr_free(&h);
    return rc;
}

/* Catalog from the Online Retail file. */
struct or_prod {
    double price;
    int64_t price_ts;
    int sold;
    long line;
};

static enum tl_rc catalog_online_retail(struct run *r, const char *path, tl_fmt_item_fn cb, void *ctx)
{
    int idx[OR_N];
    struct hdr h;
    struct tl_strtab codes, descs;
    struct tl_u64map counts; /* code<<32 | desc -> sale_count<<32 | upper_count */
    struct or_prod *prods = NULL;
    size_t prods_cap = 0, nprods = 0;
    struct or_cache cc;
    memset(&cc, 0, sizeof cc);
    tl_strtab_init(&codes);
    tl_strtab_init(&descs);
    tl_u64map_init(&counts);
    uint32_t *best_sale = NULL, *best_up = NULL;
    uint64_t *best_sale_n = NULL, *best_up_n = NULL;
    enum tl_rc rc = csv_begin(r, path, 0, or_cols, or_req, OR_N, idx, &h);
    if (rc != TL_OK) goto out;
    for (;;) {
        int got;
        if ((rc = csv_row(r, &h, &got)) != TL_OK || !got) break;
        struct or_row w;
        struct tl_err e;
        if (or_parse(r, idx, &cc, 0, &w, &e)) {
            if ((rc = reject(r, &e)) != TL_OK) break;
            continue;
        }
        if (tl_fmt_or_non_product(w.code)) {
            r->sum->dropped++;
            continue;
        }
        uint32_t cid, did;
        if (tl_strtab_intern(&codes, w.code, &cid) != TL_OK) {
            rc = oom(r);
            break;
        }
        if (cid >= prods_cap) {
            size_t nc = prods_cap ? prods_cap * 2 : 1024;
            struct or_prod *np = tl_realloc(prods, nc * sizeof *np);
            if (!np) {
                rc = oom(r);
                break;
            }
            prods = np;
            prods_cap = nc;
        }
        if (cid == nprods) {
            prods[cid] = (struct or_prod){.price = NAN, .price_ts = INT64_MIN, .line = tl_csv_line(r->csv)};
            nprods++;
        }
        int sale = !w.cancel && w.qty > 0 && w.price > 0;
        if (sale) {
            prods[cid].sold = 1;
            if (w.ts >= prods[cid].price_ts) {
                prods[cid].price = w.price;
                prods[cid].price_ts = w.ts;
            }
        }
        if (w.desc[0]) {
            int upper = 1;
            for (const char *p = w.desc; *p && upper; p++) upper = !islower((unsigned char)*p);
            if (!sale && !upper) continue;
            if (tl_strtab_intern(&descs, w.desc, &did) != TL_OK) {
                rc = oom(r);
                break;
            }
            uint64_t key = (uint64_t)cid << 32 | did, v = 0;
            tl_u64map_get(&counts, key, &v);
            v += ((uint64_t)sale << 32) + (uint64_t)upper;
            if (tl_u64map_put(&counts, key, v) != TL_OK) {
                rc = oom(r);
                break;
            }
        }
    }
    if (rc != TL_OK) goto out;
    size_t nc = codes.count;
    best_sale = tl_malloc((nc + 1) * sizeof *best_sale);
    best_up = tl_malloc((nc + 1) * sizeof *best_up);
    best_sale_n = tl_calloc(nc + 1, sizeof *best_sale_n);
    best_up_n = tl_calloc(nc + 1, sizeof *best_up_n);
    if (!best_sale || !best_up || !best_sale_n || !best_up_n) {
        rc = oom(r);
        goto out;
    }
    for (size_t i = 0; i < nc; i++) best_sale[i] = best_up[i] = TL_STRTAB_NONE;
    for (size_t i = 0; i <= counts.cap; i++) {
        uint64_t key, v;
        if (i == counts.cap) {
            if (!counts.has_zero) break;
            key = 0;
            v = counts.zero_val;
        } else {
            if (!counts.keys[i]) continue;
            key = counts.keys[i];
            v = counts.vals[i];
        }
        uint32_t cid = (uint32_t)(key >> 32), did = (uint32_t)key;
        uint64_t sn = v >> 32, un = v & 0xffffffffu;
        if (sn && (sn > best_sale_n[cid] || (sn == best_sale_n[cid] && did < best_sale[cid]))) {
            best_sale_n[cid] = sn;
            best_sale[cid] = did;
        }
        if (un && (un > best_up_n[cid] || (un == best_up_n[cid] && did < best_up[cid]))) {
            best_up_n[cid] = un;
            best_up[cid] = did;
        }
    }
    for (uint32_t cid = 0; cid < nc && rc == TL_OK; cid++) {
        const char *code = tl_strtab_str(&codes, cid);
        uint32_t did = best_sale[cid] != TL_STRTAB_NONE ? best_sale[cid] : best_up[cid];
        const char *desc = did != TL_STRTAB_NONE ? tl_strtab_str(&descs, did) : NULL;
        struct tl_item it = {0};
        it.id = code;
        it.title = desc ? title_case(r, desc) : code;
        it.category = tl_fmt_demo_category(desc ? desc : "");
        it.price = prods[cid].price;
        it.currency = "GBP";
        it.available = prods[cid].sold;
        it.stock = -1;
        it.visible = 1;
        tl_buf_reset(&r->tmp);
        /* the bundled demo storefront's product page (web/demo/product.html) */
        if (tl_buf_printf(&r->tmp, "/demo/product.html?id=%s", code) != TL_OK || !(it.url = tmp_commit(r))) {
            rc = oom(r);
            break;
        }
        rc = delivered(r, cb(ctx, &it, prods[cid].line), prods[cid].line);
    }
out:
    tl_free(best_sale);
    tl_free(best_up);
    tl_free(best_sale_n);
    tl_free(best_up_n);
    tl_free(prods);
    tl_u64map_free(&counts);
    tl_strtab_free(&codes);
    tl_strtab_free(&descs);
    hdr_free(&h);
    return rc;
}

/* ---- orders: Tailor CSV / NDJSON ------------------------------------------------------------------------ */

enum { O_ID, O_CUST, O_TS, O_COUNTRY, O_CUR, O_ITEM, O_QTY, O_PRICE, O_RET, O_N };
static const char *const ord_cols[O_N] = {"order_id", "customer_id", "timestamp", "country",  "currency",
                                          "item_id",  "quantity",    "price",     "is_return"};
static const int ord_req[O_N] = {[O_ID] = 1, [O_TS] = 1, [O_ITEM] = 1, [O_QTY] = 1};

static enum tl_rc orders_csv(struct run *r, const char *path, tl_fmt_order_fn cb, void *ctx)
{
    int idx[O_N];
    struct hdr h;
    struct oacc a;
    oacc_init(&a);
    enum tl_rc rc = csv_begin(r, path, r->o->sep, ord_cols, ord_req, O_N, idx, &h);
    if (rc != TL_OK) goto out;
    for (;;) {
        int got;
        if ((rc = csv_row(r, &h, &got)) != TL_OK) break;
        if (!got) {
            rc = oacc_flush(r, &a, cb, ctx);
            break;
        }
        long line = tl_csv_line(r->csv);
        struct tl_err e;
        struct ohead oh = {0};
        char cur[4], ctry[3];
        const char *item;
        double q, p;
        enum tl_rc vr;
        oh.id = col(r, idx[O_ID]);
        oh.customer = nz(col(r, idx[O_CUST]));
        item = col(r, idx[O_ITEM]);
        if (!(vr = v_id(&e, line, idx[O_ID] + 1, "order_id", oh.id)) &&
            !(vr = oh.customer ? v_id(&e, line, idx[O_CUST] + 1, "customer_id", oh.customer) : TL_OK) &&
            !(vr = v_time(&e, line, idx[O_TS] + 1, "timestamp", col(r, idx[O_TS]), &oh.ts)) &&
            !(vr = v_country(&e, line, idx[O_COUNTRY] + 1, "country", col(r, idx[O_COUNTRY]), ctry, &oh.country)) &&
            !(vr = v_currency(&e, line, idx[O_CUR] + 1, "currency", col(r, idx[O_CUR]), r->o->currency, cur,
                              &oh.currency)) &&
            !(vr = v_id(&e, line, idx[O_ITEM] + 1, "item_id", item)) &&
            !(vr = v_num(&e, line, idx[O_QTY] + 1, "quantity", col(r, idx[O_QTY]), 1, &q)) &&
            !(vr = v_num(&e, line, idx[O_PRICE] + 1, "price", col(r, idx[O_PRICE]), 0, &p)))
            vr = v_bool(&e, line, idx[O_RET] + 1, "is_return", col(r, idx[O_RET]), 0, &oh.is_return);
        if (!vr && isnan(q)) vr = ferr(&e, line, idx[O_QTY] + 1, "quantity", "required: a number > 0");
        if (vr) {
            if ((rc = reject(r, &e)) != TL_OK) break;
            continue;
        }
        char cbuf[3];
        if (oh.country) {
            memcpy(cbuf, oh.country, 3);
            oh.country = cbuf;
        }
        struct oslot *s;
        if ((rc = oacc_slot(r, &a, &oh, line, cb, ctx, &s)) != TL_OK) break;
        vr = oslot_line(r, s, item, q, p, line, idx[O_ITEM] + 1, "item_id", &e);
        if (vr == TL_ENOMEM) {
            rc = vr;
            break;
        }
        if (vr && (rc = reject(r, &e)) != TL_OK) break;
    }
out:
    oacc_free(&a);
    hdr_free(&h);
    return rc;
}

static enum tl_rc orders_ndjson(struct run *r, const char *path, tl_fmt_order_fn cb, void *ctx)
{
    struct tl_line *lines = NULL;
    size_t lines_cap = 0;
    enum tl_rc rc = nd_open(r, path);
    while (rc == TL_OK) {
        json_t *o;
        long line;
        if ((rc = nd_next(r, &o, &line)) != TL_OK || !o) break;
        struct tl_order ord = {0};
        struct tl_err e;
        tl_err_clear(&e);
        char cur[4], ctry[3];
        const char *s;
        enum tl_rc vr;
        if (!(vr = j_str(r, o, "order_id", line, 1, TL_ID_MAX, 0, &ord.id, &e)) && !ord.id)
            vr = ferr(&e, line, 0, "order_id", "required");
        if (!vr) vr = j_str(r, o, "customer_id", line, 1, TL_ID_MAX, 0, &ord.customer_id, &e);
        if (!vr) vr = j_time(o, "timestamp", line, &ord.ts_ms, &e);
        if (!vr && !(vr = j_str(r, o, "country", line, 0, 64, 0, &s, &e)))
            vr = v_country(&e, line, 0, "country", s ? s : "", ctry, &ord.country);
        if (!vr && !(vr = j_str(r, o, "currency", line, 0, 3, 0, &s, &e)))
            vr = v_currency(&e, line, 0, "currency", s ? s : "", r->o->currency, cur, &ord.currency);
        if (!vr) vr = j_bool(o, "is_return", line, 0, &ord.is_return, &e);
        json_t *jl = json_object_get(o, "lines");
        if (!vr && (!json_is_array(jl) || json_array_size(jl) == 0))
            vr = ferr(&e, line, 0, "lines", "required: a non-empty array of {\"item_id\",\"quantity\",\"price\"}");
        if (!vr && json_array_size(jl) > TL_FMT_ORDER_LINES_MAX) {
            vr =
                ferr(&e, line, 0, "lines", "more than %d lines (limit TL_FMT_ORDER_LINES_MAX)", TL_FMT_ORDER_LINES_MAX);
            e.rc = TL_ETOOBIG;
        }
        if (!vr && json_array_size(jl) > lines_cap) {
            size_t nc = json_array_size(jl);
            struct tl_line *nl = tl_realloc(lines, nc * sizeof *nl);
            if (!nl) {
                vr = oom(r);
            } else {
                lines = nl;
                lines_cap = nc;
            }
        }
        for (size_t i = 0; !vr && i < json_array_size(jl); i++) {
            json_t *li = json_array_get(jl, i);
            char fname[64];
            snprintf(fname, sizeof fname, "lines[%zu]", i);
            if (!json_is_object(li)) {
                vr = ferr(&e, line, 0, fname, "expected an object {\"item_id\",\"quantity\",\"price\"}");
                break;
            }
            struct tl_line *L = &lines[i];
            if (!(vr = j_str(r, li, "item_id", line, 1, TL_ID_MAX, 0, &L->item_id, &e)) && !L->item_id)
                vr = ferr(&e, line, 0, "item_id", "required");
            if (!vr && !(vr = j_num(li, "quantity", line, 1, &L->quantity, &e)) && isnan(L->quantity))
                vr = ferr(&e, line, 0, "quantity", "required: a number > 0");
            if (!vr) vr = j_num(li, "price", line, 0, &L->price, &e);
            if (vr && vr != TL_ENOMEM) {
                char f2[TL_ERR_FIELD_MAX];
                memcpy(f2, e.field, sizeof f2);
                snprintf(e.field, sizeof e.field, "%.40s.%.40s", fname, f2);
            }
        }
        if (vr == TL_ENOMEM) {
            rc = vr;
        } else if (vr) {
            scr_reset(&r->scr);
            rc = reject(r, &e);
        } else {
            ord.lines = lines;
            ord.n_lines = json_array_size(jl);
            rc = delivered(r, cb(ctx, &ord, line), line);
            if (rc == TL_OK && ord.is_return) r->sum->returns++;
        }
        json_decref(o);
    }
    tl_free(lines);
    return rc;
}

/* ---- customers ---------------------------------------------------------------------------------------------- */

enum { U_ID, U_EMAIL, U_NAME, U_COUNTRY, U_CEMAIL, U_CPERS, U_TIER, U_N };
static const char *const cust_cols[U_N] = {
    "id", "email", "name", "country", "consent_email", "consent_personalization", "member_tier"};
static const int cust_req[U_N] = {[U_ID] = 1};

static enum tl_rc check_email(struct tl_err *e, long line, long colno, const char *field, const char *v)
{
    char sb[64];
    enum tl_rc rc = v_text(e, line, colno, field, v, TL_CUSTOMER_EMAIL_MAX, 0);
    if (rc) return rc;
    const char *at = strchr(v, '@'), *dom = at ? at + 1 : NULL;
    size_t dn = dom ? strlen(dom) : 0;
    /* the JSON API's shape rules (ingest/customer.c): one '@', local part
     * 1..64 bytes, a domain with an inner dot, no blanks */
    if (!at || at == v || at - v > 64 || strchr(dom, '@') || strpbrk(v, " \t") || !strchr(dom, '.') || dom[0] == '.' ||
        dom[dn - 1] == '.' || strstr(dom, ".."))
        return ferr(e, line, colno, field, "expected an e-mail address like name@example.com, got \"%s\"",
                    snip(v, sb, sizeof sb));
    return TL_OK;
}

static enum tl_rc customers_csv(struct run *r, const char *path, tl_fmt_customer_fn cb, void *ctx)
{
    int idx[U_N];
    struct hdr h;
    enum tl_rc rc = csv_begin(r, path, r->o->sep, cust_cols, cust_req, U_N, idx, &h);
    if (rc != TL_OK) goto out;
    for (;;) {
        int got;
        if ((rc = csv_row(r, &h, &got)) != TL_OK || !got) break;
        long line = tl_csv_line(r->csv);
        struct tl_customer cu = {0};
        struct tl_err e;
        char ctry[3];
        enum tl_rc vr;
        cu.id = col(r, idx[U_ID]);
        cu.email = nz(col(r, idx[U_EMAIL]));
        cu.name = nz(col(r, idx[U_NAME]));
        cu.member_tier = nz(col(r, idx[U_TIER]));
        if (!(vr = v_id(&e, line, idx[U_ID] + 1, "id", cu.id)) &&
            !(vr = cu.email ? check_email(&e, line, idx[U_EMAIL] + 1, "email", cu.email) : TL_OK) &&
            !(vr = cu.name ? v_text(&e, line, idx[U_NAME] + 1, "name", cu.name, TL_CUSTOMER_NAME_MAX, 0) : TL_OK) &&
            !(vr = cu.member_tier
                       ? v_text(&e, line, idx[U_TIER] + 1, "member_tier", cu.member_tier, TL_CUSTOMER_TIER_MAX, 0)
                       : TL_OK) &&
            !(vr = v_country(&e, line, idx[U_COUNTRY] + 1, "country", col(r, idx[U_COUNTRY]), ctry, &cu.country)) &&
            !(vr = v_bool(&e, line, idx[U_CEMAIL] + 1, "consent_email", col(r, idx[U_CEMAIL]), -1, &cu.consent_email)))
            vr = v_bool(&e, line, idx[U_CPERS] + 1, "consent_personalization", col(r, idx[U_CPERS]), -1,
                        &cu.consent_personalization);
        if (vr) {
            if ((rc = reject(r, &e)) != TL_OK) break;
            continue;
        }
        if ((rc = delivered(r, cb(ctx, &cu, line), line)) != TL_OK) break;
    }
out:
    hdr_free(&h);
    return rc;
}

static enum tl_rc customers_ndjson(struct run *r, const char *path, tl_fmt_customer_fn cb, void *ctx)
{
    enum tl_rc rc = nd_open(r, path);
    while (rc == TL_OK) {
        json_t *o;
        long line;
        if ((rc = nd_next(r, &o, &line)) != TL_OK || !o) break;
        struct tl_customer cu;
        struct tl_err e;
        tl_err_clear(&e);
        enum tl_rc vr = tl_customer_from_json(o, tl_now_ms(), &cu, &e);
        if (vr) {
            e.rc = vr;
            e.line = line;
            e.column = 0;
        }
        if (vr == TL_ENOMEM) {
            rc = vr;
        } else if (vr) {
            scr_reset(&r->scr);
            rc = reject(r, &e);
        } else {
            rc = delivered(r, cb(ctx, &cu, line), line);
        }
        json_decref(o);
    }
    return rc;
}

/* ---- entry points ---------------------------------------------------------------------------------------------- */

static int fmt_is(const char *format, const char *name) { return strcasecmp(format ? format : "csv", name) == 0; }

int tl_fmt_supported(const char *kind, const char *format)
{
    if (!kind) return 0;
    if (strcmp(kind, "catalog") == 0)
        return fmt_is(format, "csv") || fmt_is(format, "ndjson") || fmt_is(format, "shopify") ||
               fmt_is(format, "woocommerce") || fmt_is(format, "online-retail");
    if (strcmp(kind, "orders") == 0)
        return fmt_is(format, "csv") || fmt_is(format, "ndjson") || fmt_is(format, "online-retail");
    if (strcmp(kind, "customers") == 0) return fmt_is(format, "csv") || fmt_is(format, "ndjson");
    return 0;
}

static enum tl_rc unknown_format(struct run *r, const char *kind, const char *format, const char *list)
{
    return tl_err_set(r->err, TL_EINVAL, "format", "unknown %s format \"%s\" (expected one of: %s)", kind,
                      format ? format : "", list);
}

enum tl_rc tl_fmt_import_catalog(const char *path, const char *format, const struct tl_fmt_opts *opts,
                                 tl_fmt_item_fn cb, void *ctx, struct tl_fmt_summary *sum, struct tl_err *err)
{
    struct run r;
    run_init(&r, opts, sum, err);
    enum tl_rc rc;
    if (fmt_is(format, "csv"))
        rc = catalog_csv(&r, path, cb, ctx);
    else if (fmt_is(format, "ndjson"))
        rc = catalog_ndjson(&r, path, cb, ctx);
    else if (fmt_is(format, "shopify"))
        rc = catalog_shopify(&r, path, cb, ctx);
    else if (fmt_is(format, "woocommerce"))
        rc = catalog_woo(&r, path, cb, ctx);
    else if (fmt_is(format, "online-retail"))
        rc = catalog_online_retail(&r, path, cb, ctx);
    else
        rc = unknown_format(&r, "catalog", format, "csv, ndjson, shopify, woocommerce, online-retail");
    run_finish(&r);
    return rc;
}

enum tl_rc tl_fmt_import_orders(const char *path, const char *format, const struct tl_fmt_opts *opts,
                                tl_fmt_order_fn cb, void *ctx, struct tl_fmt_summary *sum, struct tl_err *err)
{
    struct run r;
    run_init(&r, opts, sum, err);
    enum tl_rc rc;
    if (fmt_is(format, "csv"))
        rc = orders_csv(&r, path, cb, ctx);
    else if (fmt_is(format, "ndjson"))
        rc = orders_ndjson(&r, path, cb, ctx);
    else if (fmt_is(format, "online-retail"))
        rc = orders_online_retail(&r, path, cb, ctx);
    else
        rc = unknown_format(&r, "orders", format, "csv, ndjson, online-retail");
    run_finish(&r);
    return rc;
}

enum tl_rc tl_fmt_import_customers(const char *path, const char *format, const struct tl_fmt_opts *opts,
                                   tl_fmt_customer_fn cb, void *ctx, struct tl_fmt_summary *sum, struct tl_err *err)
{
    struct run r;
    run_init(&r, opts, sum, err);
    enum tl_rc rc;
    if (fmt_is(format, "csv"))
        rc = customers_csv(&r, path, cb, ctx);
    else if (fmt_is(format, "ndjson"))
        rc = customers_ndjson(&r, path, cb, ctx);
    else
        rc = unknown_format(&r, "customers", format, "csv, ndjson");
    run_finish(&r);
    return rc;
}
