/* Behaviour events: validation of the JSON form (docs/events.md) into
 * struct tl_event, the canonical stored body, splitting of request bodies and
 * the idempotency key.
 *
 * Invariants
 * - Every string in a filled struct tl_event is borrowed from the jansson
 *   object: no allocation per field. Values that need normalising are
 *   replaced in place in the object (ids sent as JSON integers become their
 *   decimal string, "country" is upper-cased), so the borrowed strings, the
 *   stored body and a later re-parse of that body agree.
 * - JSON null for an optional field means "absent". Unknown top-level fields
 *   are accepted untouched and kept in the body (forward compatibility).
 * - The first problem found is reported (field + reason); nothing is
 *   partially reported as valid (the caller ignores *out on error).
 *
 * Algorithm
 * - tl_event_from_json: one jansson hash lookup per known field (about 20),
 *   checks in a fixed order: type, timestamp, ids, per-type requirements,
 *   numbers, texts. Timestamp bounds: TL_EVENT_MIN_TS_MS (2000-01-01) <= ts
 *   <= now + TL_EVENT_FUTURE_MS (24 h). Ids: 1..TL_ID_MAX bytes, no C0/C1
 *   control character (U+0000-U+001F, U+007F, U+0080-U+009F), valid UTF-8
 *   (guaranteed by jansson).
 * - tl_event_canonical: sets "timestamp" to the ISO form, dumps compact with
 *   jansson (reals with 15 significant digits, so 19.99 stays "19.99"; a
 *   decimal with at most 15 significant digits round-trips exactly).
 * - tl_event_split_body: first non-blank byte '[' -> one JSON array; '{' ->
 *   one JSON object, unless jansson reports "end of input expected" after the
 *   first object, in which case the body is NDJSON and is parsed line by line
 *   (memchr for '\n'; trailing '\r' and blank lines ignored). Duplicate keys
 *   are rejected (JSON_REJECT_DUPLICATES). A leading UTF-8 BOM is skipped.
 * - tl_event_id_hash: XXH3_64(event_id bytes, seed = shop_id); 0 -> 1. */
#include "ingest/event.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/hash.h"
#include "core/timeutil.h"

#define QTY_MAX 1e9 /* sanity bound for quantities */

/* ---------- generic field helpers (file-local) ---------- */

const char *tl_event_field_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* Offset of the first control character (C0, DEL, C1) in s[0..n), or -1.
 * allow_ws permits tab, LF and CR. */
static long find_control(const char *s, size_t n, int allow_ws)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != 0x7f && c != 0xc2) continue;
        if (c == 0xc2) {
            if (i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) return (long)i;
            continue;
        }
        if (allow_ws && (c == '\t' || c == '\n' || c == '\r')) continue;
        return (long)i;
    }
    return -1;
}

/* Value of key, NULL when absent or JSON null. */
static json_t *get(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return (v && !json_is_null(v)) ? v : NULL;
}

enum tl_rc tl_event_field_check_str(const json_t *v, const char *field, size_t max, int allow_newlines,
                                    struct tl_err *err)
{
    if (!json_is_string(v))
        return tl_err_set(err, TL_EINVAL, field, "%s must be a string, got %s", field, tl_event_field_type_name(v));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0) return tl_err_set(err, TL_EINVAL, field, "%s must not be empty", field);
    if (n > max) return tl_err_set(err, TL_EINVAL, field, "%s is %zu bytes; at most %zu allowed", field, n, max);
    if (strlen(s) != n || find_control(s, n, allow_newlines) >= 0)
        return tl_err_set(err, TL_EINVAL, field, "%s must not contain control characters", field);
    return TL_OK;
}

/* An id in obj[key]: non-empty string of at most max bytes without control
 * characters; a JSON integer is accepted when allow_int and replaced in obj
 * by its decimal string. *out = NULL when absent (error if required). */
enum tl_rc tl_event_field_id(json_t *obj, const char *key, const char *field, size_t max, int required, int allow_int,
                             const char **out, struct tl_err *err)
{
    *out = NULL;
    if (!field) field = key;
    json_t *v = get(obj, key);
    if (!v) {
        if (required) return tl_err_set(err, TL_EINVAL, field, "%s is required", field);
        return TL_OK;
    }
    if (json_is_integer(v) && allow_int) {
        char num[32];
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        json_t *s = json_string(num);
        if (!s || json_object_set_new(obj, key, s)) return tl_err_set(err, TL_ENOMEM, field, "out of memory");
        v = s;
    }
    if (!json_is_string(v))
        return tl_err_set(err, TL_EINVAL, field, "%s must be a string%s, got %s", field,
                          allow_int ? " or an integer" : "", tl_event_field_type_name(v));
    enum tl_rc rc = tl_event_field_check_str(v, field, max, 0, err);
    if (rc) return rc;
    *out = json_string_value(v);
    return TL_OK;
}

/* A text field: string of at most max bytes without control characters. */
enum tl_rc tl_event_field_text(json_t *obj, const char *key, size_t max, int required, int allow_newlines,
                               const char **out, struct tl_err *err)
{
    *out = NULL;
    json_t *v = get(obj, key);
    if (!v) {
        if (required) return tl_err_set(err, TL_EINVAL, key, "%s is required", key);
        return TL_OK;
    }
    if (!json_is_string(v))
        return tl_err_set(err, TL_EINVAL, key, "%s must be a string, got %s", key, tl_event_field_type_name(v));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 && required) return tl_err_set(err, TL_EINVAL, key, "%s must not be empty", key);
    if (n > max) return tl_err_set(err, TL_EINVAL, key, "%s is %zu bytes; at most %zu allowed", key, n, max);
    if (strlen(s) != n || find_control(s, n, allow_newlines) >= 0)
        return tl_err_set(err, TL_EINVAL, key, "%s must not contain control characters", key);
    *out = n ? s : NULL;
    return TL_OK;
}

/* A number in obj[key]; *present = 0 when absent. */
static enum tl_rc get_number(json_t *obj, const char *key, const char *field, double *out, int *present,
                             struct tl_err *err)
{
    *present = 0;
    json_t *v = get(obj, key);
    if (!v) return TL_OK;
    if (!json_is_number(v))
        return tl_err_set(err, TL_EINVAL, field, "%s must be a number, got %s", field, tl_event_field_type_name(v));
    double d = json_number_value(v);
    if (!isfinite(d)) return tl_err_set(err, TL_EINVAL, field, "%s must be a finite number", field);
    *out = d;
    *present = 1;
    return TL_OK;
}

static enum tl_rc get_quantity(json_t *obj, const char *field, double *out, int *present, struct tl_err *err)
{
    json_t *v = get(obj, "quantity");
    if (v && !json_is_number(v))
        return tl_err_set(err, TL_EINVAL, field, "%s must be a number > 0, got %s", field, tl_event_field_type_name(v));
    enum tl_rc rc = get_number(obj, "quantity", field, out, present, err);
    if (rc) return rc;
    if (*present && !(*out > 0 && *out <= QTY_MAX))
        return tl_err_set(err, TL_EINVAL, field, "%s must be a number > 0 (at most %g), got %g", field, QTY_MAX, *out);
    return TL_OK;
}

static enum tl_rc get_price(json_t *obj, const char *field, double *out, int *present, struct tl_err *err)
{
    json_t *v = get(obj, "price");
    if (v && !json_is_number(v))
        return tl_err_set(err, TL_EINVAL, field, "%s must be a number >= 0, got %s", field,
                          tl_event_field_type_name(v));
    enum tl_rc rc = get_number(obj, "price", field, out, present, err);
    if (rc) return rc;
    if (*present && *out < 0) return tl_err_set(err, TL_EINVAL, field, "%s must be >= 0, got %g", field, *out);
    return TL_OK;
}

/* "country": two ASCII letters, upper-cased in place. */
enum tl_rc tl_event_field_country(json_t *obj, const char **out, struct tl_err *err)
{
    *out = NULL;
    json_t *v = get(obj, "country");
    if (!v) return TL_OK;
    if (!json_is_string(v))
        return tl_err_set(err, TL_EINVAL, "country", "country must be a 2-letter ISO 3166-1 code, got %s",
                          tl_event_field_type_name(v));
    const char *s = json_string_value(v);
    if (json_string_length(v) != 2 || !isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]) ||
        (unsigned char)s[0] >= 0x80 || (unsigned char)s[1] >= 0x80)
        return tl_err_set(err, TL_EINVAL, "country", "country must be a 2-letter ISO 3166-1 code such as \"GB\"");
    if (islower((unsigned char)s[0]) || islower((unsigned char)s[1])) {
        char up[3] = {(char)toupper((unsigned char)s[0]), (char)toupper((unsigned char)s[1]), 0};
        if (json_string_set(v, up)) return tl_err_set(err, TL_ENOMEM, "country", "out of memory");
        s = json_string_value(v);
    }
    *out = s;
    return TL_OK;
}

enum tl_rc tl_event_field_bool(json_t *obj, const char *key, int *out, struct tl_err *err)
{
    json_t *v = get(obj, key);
    if (!v) return TL_OK;
    if (!json_is_boolean(v))
        return tl_err_set(err, TL_EINVAL, key, "%s must be true or false, got %s", key, tl_event_field_type_name(v));
    *out = json_is_true(v) ? 1 : 0;
    return TL_OK;
}

enum tl_rc tl_event_field_time(json_t *obj, const char *key, int64_t *out, int *present, struct tl_err *err)
{
    *present = 0;
    json_t *v = get(obj, key);
    if (!v) return TL_OK;
    int64_t ts;
    if (json_is_string(v)) {
        if (tl_time_parse(json_string_value(v), &ts) != TL_OK)
            return tl_err_set(err, TL_EINVAL, key,
                              "%s must be ISO 8601 like \"2024-05-01T10:00:00Z\" or integer epoch milliseconds", key);
    } else if (json_is_integer(v)) {
        ts = (int64_t)json_integer_value(v);
    } else {
        return tl_err_set(err, TL_EINVAL, key, "%s must be an ISO 8601 string or integer epoch milliseconds, got %s%s",
                          key, tl_event_field_type_name(v), json_is_real(v) ? " with a fraction" : "");
    }
    *out = ts;
    *present = 1;
    return TL_OK;
}

/* "timestamp": ISO 8601 string or integer epoch milliseconds; absent = now. */
static enum tl_rc get_timestamp(json_t *obj, int64_t now_ms, int64_t *out, struct tl_err *err)
{
    int present;
    int64_t ts = 0;
    enum tl_rc rc = tl_event_field_time(obj, "timestamp", &ts, &present, err);
    if (rc) return rc;
    if (!present) {
        *out = now_ms;
        return TL_OK;
    }
    json_t *v = get(obj, "timestamp");
    if (ts < TL_EVENT_MIN_TS_MS) {
        if (json_is_integer(v) && ts >= 946684800LL && ts < 100000000000LL)
            return tl_err_set(err, TL_EINVAL, "timestamp",
                              "timestamp %" PRId64 " looks like seconds; send milliseconds since the epoch", ts);
        return tl_err_set(err, TL_EINVAL, "timestamp", "timestamp is before 2000-01-01");
    }
    if (ts > now_ms + TL_EVENT_FUTURE_MS)
        return tl_err_set(err, TL_EINVAL, "timestamp",
                          "timestamp is more than 24 hours in the future (check the sender's clock)");
    *out = ts;
    return TL_OK;
}

/* ---------- lines (items) ---------- */

/* One line object {"item_id","quantity","price"}; idx for the field name. */
static enum tl_rc parse_line(json_t *o, size_t idx, int price_required, struct tl_line *ln, struct tl_err *err)
{
    char f[64];
    enum tl_rc rc;
    int present;
    snprintf(f, sizeof f, "items[%zu].item_id", idx);
    if ((rc = tl_event_field_id(o, "item_id", f, TL_ID_MAX, 1, 1, &ln->item_id, err))) return rc;
    snprintf(f, sizeof f, "items[%zu].quantity", idx);
    ln->quantity = 1;
    if ((rc = get_quantity(o, f, &ln->quantity, &present, err))) return rc;
    snprintf(f, sizeof f, "items[%zu].price", idx);
    ln->price = NAN;
    if ((rc = get_price(o, f, &ln->price, &present, err))) return rc;
    if (!present && price_required)
        return tl_err_set(err, TL_EINVAL, f, "%s is required (unit price, a number >= 0)", f);
    return TL_OK;
}

/* "items" of purchase / return / checkout_start / recommendation_impression.
 * Returns the number of lines in *n (0 when absent). */
static enum tl_rc parse_items(json_t *obj, enum tl_event_type type, struct tl_line *buf, size_t cap, size_t *n,
                              struct tl_err *err)
{
    *n = 0;
    json_t *items = get(obj, "items");
    if (!items) return TL_OK;
    int impression = type == TL_EV_REC_IMPRESSION;
    if (!json_is_array(items))
        return tl_err_set(err, TL_EINVAL, "items", "items must be an array of %s, got %s",
                          impression ? "item ids or {\"item_id\"} objects" : "{\"item_id\",\"quantity\",\"price\"}",
                          tl_event_field_type_name(items));
    size_t count = json_array_size(items);
    size_t max = cap < TL_EVENT_LINES_MAX ? cap : TL_EVENT_LINES_MAX;
    if (count > max)
        return tl_err_set(err, TL_ETOOBIG, "items", "items has %zu lines; at most %zu allowed", count, max);
    if (count == 0 && (type == TL_EV_PURCHASE || type == TL_EV_RETURN))
        return tl_err_set(err, TL_EINVAL, "items", "items must not be empty for %s", tl_event_type_str(type));
    for (size_t i = 0; i < count; i++) {
        json_t *el = json_array_get(items, i);
        struct tl_line *ln = &buf[i];
        char f[64];
        snprintf(f, sizeof f, "items[%zu]", i);
        if (impression && (json_is_string(el) || json_is_integer(el))) {
            if (json_is_integer(el)) {
                char num[32];
                snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(el));
                json_t *s = json_string(num);
                if (!s || json_array_set_new(items, i, s)) return tl_err_set(err, TL_ENOMEM, f, "out of memory");
                el = s;
            }
            enum tl_rc rc = tl_event_field_check_str(el, f, TL_ID_MAX, 0, err);
            if (rc) return rc;
            ln->item_id = json_string_value(el);
            ln->quantity = 1;
            ln->price = NAN;
            continue;
        }
        if (!json_is_object(el))
            return tl_err_set(err, TL_EINVAL, f, "%s must be %s, got %s", f,
                              impression ? "an item id or an object with item_id" : "an object with item_id",
                              tl_event_field_type_name(el));
        enum tl_rc rc = parse_line(el, i, type == TL_EV_PURCHASE, ln, err);
        if (rc) return rc;
    }
    *n = count;
    return TL_OK;
}

/* ---------- event ---------- */

static int is_view(enum tl_event_type t)
{
    return t == TL_EV_PAGE_VIEW || t == TL_EV_PRODUCT_VIEW || t == TL_EV_CATEGORY_VIEW;
}

static int needs_item(enum tl_event_type t)
{
    return t == TL_EV_PRODUCT_VIEW || t == TL_EV_ADD_TO_CART || t == TL_EV_REMOVE_FROM_CART || t == TL_EV_REC_CLICK;
}

static enum tl_rc event_type(json_t *obj, enum tl_event_type *out, struct tl_err *err)
{
    static const char names[] = "page_view, product_view, category_view, search, add_to_cart, "
                                "remove_from_cart, checkout_start, purchase, recommendation_impression, "
                                "recommendation_click, return, experiment_exposure";
    json_t *v = get(obj, "type");
    if (!v) return tl_err_set(err, TL_EINVAL, "type", "type is required (one of %s)", names);
    if (!json_is_string(v))
        return tl_err_set(err, TL_EINVAL, "type", "type must be a string, got %s", tl_event_field_type_name(v));
    *out = tl_event_type_from_str(json_string_value(v));
    if (*out == TL_EV_NONE) {
        char shown[48];
        snprintf(shown, sizeof shown, "%s", json_string_value(v));
        for (char *c = shown; *c; c++)
            if ((unsigned char)*c < 0x20) *c = '?';
        return tl_err_set(err, TL_EINVAL, "type", "unknown event type \"%s\" (expected one of %s)", shown, names);
    }
    return TL_OK;
}

enum tl_rc tl_event_from_json(json_t *obj, int64_t now_ms, struct tl_event *out, struct tl_line *lines_buf,
                              size_t lines_cap, struct tl_err *err)
{
    enum tl_rc rc;
    int present;
    memset(out, 0, sizeof *out);
    out->quantity = NAN;
    out->price = NAN;
    out->scroll_depth = NAN;
    out->dwell_ms = -1;
    if (!obj || !json_is_object(obj))
        return tl_err_set(err, TL_EINVAL, "", "an event must be a JSON object, got %s",
                          obj ? tl_event_field_type_name(obj) : "nothing");

    enum tl_event_type type;
    if ((rc = event_type(obj, &type, err))) return rc;
    out->type = type;
    if ((rc = get_timestamp(obj, now_ms, &out->ts_ms, err))) return rc;

    /* who */
    if ((rc = tl_event_field_id(obj, "user_id", "user_id", TL_ID_MAX, 0, 1, &out->user_id, err))) return rc;
    if ((rc = tl_event_field_id(obj, "anonymous_id", "anonymous_id", TL_ID_MAX, 0, 1, &out->anonymous_id, err)))
        return rc;
    if (!out->user_id && !out->anonymous_id)
        return tl_err_set(err, TL_EINVAL, "user_id", "user_id or anonymous_id is required (a non-empty string)");
    if ((rc = tl_event_field_id(obj, "session_id", "session_id", TL_ID_MAX, 0, 1, &out->session_id, err))) return rc;
    if ((rc = tl_event_field_id(obj, "event_id", "event_id", TL_EVENT_ID_MAX, 0, 0, &out->event_id, err))) return rc;

    /* what */
    if ((rc = tl_event_field_id(obj, "item_id", "item_id", TL_ID_MAX, needs_item(type), 1, &out->item_id, err))) {
        if (err && err->rc == TL_EINVAL && !get(obj, "item_id"))
            tl_err_set(err, TL_EINVAL, "item_id", "item_id is required for %s", tl_event_type_str(type));
        return rc;
    }
    if ((rc = get_quantity(obj, "quantity", &out->quantity, &present, err))) return rc;
    if (!present && (type == TL_EV_ADD_TO_CART || type == TL_EV_REMOVE_FROM_CART)) out->quantity = 1;
    int price_present;
    if ((rc = get_price(obj, "price", &out->price, &price_present, err))) return rc;

    if ((rc = tl_event_field_text(obj, "query", TL_EVENT_QUERY_MAX, type == TL_EV_SEARCH, 0, &out->query, err)))
        return rc;
    if ((rc = tl_event_field_text(obj, "category", TL_EVENT_TEXT_MAX, type == TL_EV_CATEGORY_VIEW, 0, &out->category,
                                  err)))
        return rc;
    if ((rc = tl_event_field_country(obj, &out->country, err))) return rc;
    if ((rc = tl_event_field_id(obj, "order_id", "order_id", TL_ID_MAX, 0, 1, &out->order_id, err))) return rc;
    if ((rc = tl_event_field_id(obj, "recommendation_id", "recommendation_id", TL_ID_MAX, 0, 0, &out->recommendation_id,
                                err)))
        return rc;

    /* engagement (views) */
    json_t *v = get(obj, "dwell_ms");
    if (v) {
        if (!json_is_integer(v))
            return tl_err_set(err, TL_EINVAL, "dwell_ms", "dwell_ms must be a non-negative integer, got %s%s",
                              tl_event_field_type_name(v), json_is_real(v) ? " with a fraction" : "");
        json_int_t d = json_integer_value(v);
        if (d < 0 || d > TL_EVENT_DWELL_MAX_MS)
            return tl_err_set(err, TL_EINVAL, "dwell_ms",
                              "dwell_ms must be between 0 and 86400000 (24 hours), got %" JSON_INTEGER_FORMAT, d);
        if (is_view(type)) out->dwell_ms = (int64_t)d;
    }
    v = get(obj, "scroll_depth");
    if (v) {
        if (!json_is_number(v))
            return tl_err_set(err, TL_EINVAL, "scroll_depth", "scroll_depth must be a number between 0 and 1, got %s",
                              tl_event_field_type_name(v));
        double d = json_number_value(v);
        if (d < 0) return tl_err_set(err, TL_EINVAL, "scroll_depth", "scroll_depth must be >= 0, got %g", d);
        if (d > 1)
            return tl_err_set(err, TL_EINVAL, "scroll_depth",
                              "scroll_depth is a fraction between 0 and 1, got %g (send %g for %g%%)", d, d / 100, d);
        if (is_view(type)) out->scroll_depth = d;
    }

    if (type == TL_EV_EXPOSURE) {
        /* experiment_exposure: the shopper saw an experiment's treatment */
        static const char *const req[] = {"experiment_id", "arm"};
        for (size_t i = 0; i < 2; i++) {
            json_t *x = get(obj, req[i]);
            if (!json_is_string(x) || json_string_length(x) == 0 || json_string_length(x) > TL_ID_MAX)
                return tl_err_set(err, TL_EINVAL, req[i],
                                  "%s is required for experiment_exposure: a string of 1 to %d bytes", req[i],
                                  TL_ID_MAX);
        }
    }

    v = get(obj, "context");
    if (v && !json_is_object(v))
        return tl_err_set(err, TL_EINVAL, "context", "context must be an object, got %s", tl_event_field_type_name(v));

    /* lines */
    if (type == TL_EV_PURCHASE || type == TL_EV_RETURN || type == TL_EV_CHECKOUT_START ||
        type == TL_EV_REC_IMPRESSION) {
        if ((rc = parse_items(obj, type, lines_buf, lines_cap, &out->n_lines, err))) return rc;
        if (out->n_lines == 0 && (type == TL_EV_PURCHASE || type == TL_EV_RETURN)) {
            /* one-line shortcut: item_id + quantity (default 1) + price */
            if (!out->item_id)
                return tl_err_set(err, TL_EINVAL, "items",
                                  "%s needs \"items\" (array of {\"item_id\",\"quantity\",\"price\"}) or "
                                  "item_id, quantity and price",
                                  tl_event_type_str(type));
            if (type == TL_EV_PURCHASE && !price_present)
                return tl_err_set(err, TL_EINVAL, "price", "price is required for a purchase (unit price >= 0)");
            if (lines_cap < 1 || !lines_buf)
                return tl_err_set(err, TL_ETOOBIG, "items", "no room for purchase lines (lines_cap is 0)");
            lines_buf[0].item_id = out->item_id;
            lines_buf[0].quantity = isnan(out->quantity) ? 1 : out->quantity;
            lines_buf[0].price = out->price;
            out->n_lines = 1;
        }
        if (out->n_lines) out->lines = lines_buf;
    }
    return TL_OK;
}

/* ---------- canonical body ---------- */

struct dump_ctx {
    struct tl_buf *b;
    enum tl_rc rc;
};

static int dump_cb(const char *buffer, size_t size, void *data)
{
    struct dump_ctx *c = data;
    c->rc = tl_buf_append(c->b, buffer, size);
    return c->rc == TL_OK ? 0 : -1;
}

enum tl_rc tl_event_canonical(const struct tl_event *ev, json_t *obj, struct tl_buf *out)
{
    if (!ev || !obj || !json_is_object(obj) || !out) return TL_EINVAL;
    char iso[40];
    tl_time_format(ev->ts_ms, iso, sizeof iso);
    json_t *ts = json_object_get(obj, "timestamp");
    if (!json_is_string(ts) || strcmp(json_string_value(ts), iso) != 0) {
        json_t *s = json_string(iso);
        if (!s || json_object_set_new(obj, "timestamp", s)) return TL_ENOMEM;
    }
    if (ev->country) {
        json_t *c = json_object_get(obj, "country");
        if (!json_is_string(c) || strcmp(json_string_value(c), ev->country) != 0) {
            json_t *s = json_string(ev->country);
            if (!s || json_object_set_new(obj, "country", s)) return TL_ENOMEM;
        }
    }
    size_t start = out->len;
    struct dump_ctx ctx = {out, TL_OK};
    if (json_dump_callback(obj, dump_cb, &ctx, JSON_COMPACT | JSON_REAL_PRECISION(15)) != 0) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
        return ctx.rc != TL_OK ? ctx.rc : TL_ENOMEM;
    }
    return TL_OK;
}

/* ---------- body splitting ---------- */

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static enum tl_rc parse_error(struct tl_err *err, const json_error_t *je, long line, long column, int ndjson)
{
    enum tl_rc rc = tl_err_set(err, TL_EPARSE, "", "malformed JSON%s at line %ld, column %ld: %s",
                               ndjson ? " (NDJSON)" : "", line, column, je->text);
    if (err) {
        err->line = line;
        err->column = column;
    }
    return rc;
}

static enum tl_rc too_many(struct tl_err *err)
{
    return tl_err_set(err, TL_ETOOBIG, "", "more than %d records in one body; split it into several requests",
                      TL_BATCH_MAX);
}

static enum tl_rc split_ndjson(const char *p, size_t len, json_t *arr, struct tl_err *err)
{
    const char *end = p + len;
    long lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        const char *s = p;
        while (s < le && is_blank(*s)) s++;
        if (s < le) {
            if (json_array_size(arr) >= TL_BATCH_MAX) return too_many(err);
            json_error_t je;
            size_t n = (size_t)(le - p);
            json_t *v = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
            if (!v) return parse_error(err, &je, lineno, je.column > 0 ? je.column : 1, 1);
            if (!json_is_object(v)) {
                enum tl_rc rc = tl_err_set(err, TL_EINVAL, "", "line %ld (record %zu): expected a JSON object, got %s",
                                           lineno, json_array_size(arr), tl_event_field_type_name(v));
                if (err) err->line = lineno;
                json_decref(v);
                return rc;
            }
            if (json_array_append_new(arr, v)) return tl_err_set(err, TL_ENOMEM, "", "out of memory");
        }
        p = nl ? nl + 1 : end;
    }
    return TL_OK;
}

enum tl_rc tl_event_split_body(const char *body, size_t len, json_t **array_out, struct tl_err *err)
{
    *array_out = NULL;
    if (!body) len = 0;
    const char *p = body, *end = body + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* UTF-8 BOM */
    const char *start = p;
    while (p < end && is_blank(*p)) p++;
    if (p == end) return tl_err_set(err, TL_EINVAL, "", "empty body: expected a JSON object, array or NDJSON");
    json_error_t je;
    if (*p == '[') {
        json_t *arr = json_loadb(start, (size_t)(end - start), JSON_REJECT_DUPLICATES, &je);
        if (!arr) return parse_error(err, &je, je.line, je.column, 0);
        size_t n = json_array_size(arr);
        if (n > TL_BATCH_MAX) {
            json_decref(arr);
            return too_many(err);
        }
        for (size_t i = 0; i < n; i++) {
            json_t *el = json_array_get(arr, i);
            if (!json_is_object(el)) {
                enum tl_rc rc =
                    tl_err_set(err, TL_EINVAL, "", "element %zu (0-based) is %s; each record must be a JSON object", i,
                               tl_event_field_type_name(el));
                json_decref(arr);
                return rc;
            }
        }
        *array_out = arr;
        return TL_OK;
    }
    if (*p != '{')
        return tl_err_set(err, TL_EPARSE, "", "expected a JSON object, an array of objects or NDJSON; got '%c'",
                          (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f ? *p : '?');
    json_t *arr = json_array();
    if (!arr) return tl_err_set(err, TL_ENOMEM, "", "out of memory");
    json_t *one = json_loadb(start, (size_t)(end - start), JSON_REJECT_DUPLICATES, &je);
    enum tl_rc rc = TL_OK;
    if (one) {
        if (json_array_append_new(arr, one)) rc = tl_err_set(err, TL_ENOMEM, "", "out of memory");
    } else if (json_error_code(&je) == json_error_end_of_input_expected) {
        rc = split_ndjson(start, (size_t)(end - start), arr, err);
    } else {
        rc = parse_error(err, &je, je.line, je.column, 0);
    }
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *array_out = arr;
    return TL_OK;
}

/* ---------- idempotency ---------- */

uint64_t tl_event_id_hash(uint32_t shop_id, const char *event_id)
{
    if (!event_id) return 0;
    uint64_t h = tl_hash(event_id, strlen(event_id), (uint64_t)shop_id);
    return h ? h : 1;
}
