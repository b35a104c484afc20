/* Catalog items: validation of the JSON form into struct tl_item, the API
 * representation (tl_item_to_json) and body splitting.
 *
 * JSON form (every field but "id" optional; null = absent):
 *   id          string of 1..TL_ID_MAX bytes, or a JSON integer (converted)
 *   title       non-empty string (required for a new item: tl_item_check_new)
 *   description string, tab/newlines allowed, <= TL_ITEM_DESCRIPTION_MAX
 *   url, image_url  string <= TL_ITEM_URL_MAX, no whitespace/control chars
 *   price       number >= 0
 *   currency    3 ASCII letters (ISO 4217), upper-cased
 *   category    "A > B > C" or ["A","B","C"] (joined with " > ")
 *   brand       string
 *   tags        array of strings -> tags_json (compact JSON array text;
 *               an empty array gives NULL, shown as [] by tl_item_to_json)
 *   available   boolean (default true)
 *   stock       integer >= 0 (default: unknown, -1)
 *   attributes  object -> attrs_json (compact JSON object text; {} -> NULL)
 *   visible     boolean (default true)
 *   created_at, updated_at  ISO 8601 or epoch ms (default now)
 * Unknown fields are ignored (items have no stored body).
 *
 * Invariants: tags_json is NULL or a JSON array of strings; attrs_json is
 * NULL or a JSON object; both are compact jansson dumps, so tl_item_to_json
 * can insert them verbatim. Derived strings are appended to scratch and the
 * pointers are taken only after the last append (a realloc cannot leave a
 * dangling pointer inside one call).
 *
 * Numbers out: price is printed with 15 significant digits when that reads
 * back to the same double (19.99 -> "19.99"), else 17 (always exact). */
#include "ingest/item.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "ingest/event.h"

static json_t *get(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return (v && !json_is_null(v)) ? v : NULL;
}

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

/* Append compact JSON of v plus a NUL to scratch; *off = its offset. */
static enum tl_rc dump_into(struct tl_buf *scratch, const json_t *v, size_t *off, const char *field, struct tl_err *err)
{
    *off = scratch->len;
    struct dump_ctx ctx = {scratch, TL_OK};
    if (json_dump_callback(v, dump_cb, &ctx, JSON_COMPACT | JSON_REAL_PRECISION(15)) != 0 ||
        (ctx.rc = tl_buf_putc(scratch, '\0')) != TL_OK) {
        enum tl_rc rc = ctx.rc ? ctx.rc : TL_ENOMEM;
        return tl_err_set(err, rc, field, "%s: cannot store (%s)", field, tl_rc_message(rc));
    }
    return TL_OK;
}

static enum tl_rc get_url(json_t *obj, const char *key, const char **out, struct tl_err *err)
{
    enum tl_rc rc = tl_event_field_text(obj, key, TL_ITEM_URL_MAX, 0, 0, out, err);
    if (rc || !*out) return rc;
    if (strpbrk(*out, " "))
        return tl_err_set(err, TL_EINVAL, key, "%s must not contain spaces (percent-encode them as %%20)", key);
    return TL_OK;
}

static enum tl_rc get_currency(json_t *obj, const char **out, struct tl_err *err)
{
    *out = NULL;
    json_t *v = get(obj, "currency");
    if (!v) return TL_OK;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    int ok = s && json_string_length(v) == 3;
    for (int i = 0; ok && i < 3; i++) ok = isalpha((unsigned char)s[i]) && (unsigned char)s[i] < 0x80;
    if (!ok)
        return tl_err_set(err, TL_EINVAL, "currency", "currency must be 3 letters (ISO 4217, e.g. \"EUR\")%s%s",
                          s ? "" : ", got ", s ? "" : tl_event_field_type_name(v));
    if (islower((unsigned char)s[0]) || islower((unsigned char)s[1]) || islower((unsigned char)s[2])) {
        char up[4] = {(char)toupper((unsigned char)s[0]), (char)toupper((unsigned char)s[1]),
                      (char)toupper((unsigned char)s[2]), 0};
        if (json_string_set(v, up)) return tl_err_set(err, TL_ENOMEM, "currency", "out of memory");
        s = json_string_value(v);
    }
    *out = s;
    return TL_OK;
}

/* category: string kept as is, or array joined with " > " into scratch.
 * *borrowed or *off (SIZE_MAX = none) gives the result. */
static enum tl_rc get_category(json_t *obj, struct tl_buf *scratch, const char **borrowed, size_t *off,
                               struct tl_err *err)
{
    *borrowed = NULL;
    *off = SIZE_MAX;
    json_t *v = get(obj, "category");
    if (!v) return TL_OK;
    if (json_is_string(v)) return tl_event_field_text(obj, "category", TL_ITEM_CATEGORY_MAX, 0, 0, borrowed, err);
    if (!json_is_array(v))
        return tl_err_set(err, TL_EINVAL, "category",
                          "category must be a string \"A > B\" or an array of strings, got %s",
                          tl_event_field_type_name(v));
    size_t n = json_array_size(v);
    if (n == 0) return TL_OK;
    if (n > TL_ITEM_CATEGORY_DEPTH_MAX)
        return tl_err_set(err, TL_EINVAL, "category", "category has %zu levels; at most %d allowed", n,
                          TL_ITEM_CATEGORY_DEPTH_MAX);
    size_t start = scratch->len, total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *el = json_array_get(v, i);
        char f[32];
        snprintf(f, sizeof f, "category[%zu]", i);
        enum tl_rc rc = tl_event_field_check_str(el, f, TL_ITEM_CATEGORY_MAX, 0, err);
        if (rc) return rc;
        if (strchr(json_string_value(el), '>'))
            return tl_err_set(err, TL_EINVAL, f, "%s must not contain '>' (it separates levels)", f);
        total += json_string_length(el) + (i ? 3 : 0);
        if (total > TL_ITEM_CATEGORY_MAX)
            return tl_err_set(err, TL_EINVAL, "category", "category path is longer than %d bytes",
                              TL_ITEM_CATEGORY_MAX);
        if ((i && (rc = tl_buf_puts(scratch, " > "))) || (rc = tl_buf_puts(scratch, json_string_value(el))))
            return tl_err_set(err, rc, "category", "category: cannot store (%s)", tl_rc_message(rc));
    }
    enum tl_rc rc = tl_buf_putc(scratch, '\0');
    if (rc) return tl_err_set(err, rc, "category", "category: cannot store (%s)", tl_rc_message(rc));
    *off = start;
    return TL_OK;
}

static enum tl_rc get_tags(json_t *obj, struct tl_buf *scratch, size_t *off, struct tl_err *err)
{
    *off = SIZE_MAX;
    json_t *v = get(obj, "tags");
    if (!v) return TL_OK;
    if (!json_is_array(v))
        return tl_err_set(err, TL_EINVAL, "tags", "tags must be an array of strings, got %s",
                          tl_event_field_type_name(v));
    size_t n = json_array_size(v);
    if (n == 0) return TL_OK; /* no tags: NULL, shown as [] */
    if (n > TL_ITEM_TAGS_MAX)
        return tl_err_set(err, TL_EINVAL, "tags", "%zu tags; at most %d allowed", n, TL_ITEM_TAGS_MAX);
    for (size_t i = 0; i < n; i++) {
        char f[32];
        snprintf(f, sizeof f, "tags[%zu]", i);
        enum tl_rc rc = tl_event_field_check_str(json_array_get(v, i), f, TL_ITEM_TAG_MAX, 0, err);
        if (rc) return rc;
    }
    return dump_into(scratch, v, off, "tags", err);
}

static enum tl_rc get_attrs(json_t *obj, struct tl_buf *scratch, size_t *off, struct tl_err *err)
{
    *off = SIZE_MAX;
    json_t *v = get(obj, "attributes");
    if (!v) return TL_OK;
    if (!json_is_object(v))
        return tl_err_set(err, TL_EINVAL, "attributes", "attributes must be an object, got %s",
                          tl_event_field_type_name(v));
    if (json_object_size(v) == 0) return TL_OK; /* no attributes: NULL, shown as {} */
    enum tl_rc rc = dump_into(scratch, v, off, "attributes", err);
    if (rc) return rc;
    size_t n = scratch->len - *off - 1;
    if (n > TL_ITEM_ATTRS_MAX) {
        scratch->len = *off;
        scratch->data[*off] = '\0';
        *off = SIZE_MAX;
        return tl_err_set(err, TL_EINVAL, "attributes", "attributes are %zu bytes as JSON; at most %d allowed", n,
                          TL_ITEM_ATTRS_MAX);
    }
    return TL_OK;
}

enum tl_rc tl_item_from_json(json_t *obj, int64_t now_ms, struct tl_item *out, struct tl_buf *scratch,
                             struct tl_err *err)
{
    enum tl_rc rc;
    memset(out, 0, sizeof *out);
    out->price = NAN;
    out->available = 1;
    out->stock = -1;
    out->visible = 1;
    out->created_ms = out->updated_ms = now_ms;
    if (!scratch) return tl_err_set(err, TL_EINVAL, "", "tl_item_from_json: scratch buffer is required");
    if (!obj || !json_is_object(obj))
        return tl_err_set(err, TL_EINVAL, "", "an item must be a JSON object, got %s",
                          obj ? tl_event_field_type_name(obj) : "nothing");

    if ((rc = tl_event_field_id(obj, "id", NULL, TL_ID_MAX, 1, 1, &out->id, err))) return rc;
    json_t *t = get(obj, "title");
    if (t && json_is_string(t) && json_string_length(t) == 0)
        return tl_err_set(err, TL_EINVAL, "title", "title must not be empty");
    if ((rc = tl_event_field_text(obj, "title", TL_ITEM_TITLE_MAX, 0, 0, &out->title, err))) return rc;
    if ((rc = tl_event_field_text(obj, "description", TL_ITEM_DESCRIPTION_MAX, 0, 1, &out->description, err)))
        return rc;
    if ((rc = get_url(obj, "url", &out->url, err))) return rc;
    if ((rc = get_url(obj, "image_url", &out->image_url, err))) return rc;
    if ((rc = tl_event_field_text(obj, "brand", TL_ITEM_BRAND_MAX, 0, 0, &out->brand, err))) return rc;
    if ((rc = get_currency(obj, &out->currency, err))) return rc;

    json_t *v = get(obj, "price");
    if (v) {
        if (!json_is_number(v))
            return tl_err_set(err, TL_EINVAL, "price", "price must be a number >= 0, got %s",
                              tl_event_field_type_name(v));
        double p = json_number_value(v);
        if (!isfinite(p) || p < 0) return tl_err_set(err, TL_EINVAL, "price", "price must be >= 0, got %g", p);
        out->price = p;
    }
    if ((rc = tl_event_field_bool(obj, "available", &out->available, err))) return rc;
    if ((rc = tl_event_field_bool(obj, "visible", &out->visible, err))) return rc;
    v = get(obj, "stock");
    if (v) {
        if (!json_is_integer(v))
            return tl_err_set(err, TL_EINVAL, "stock", "stock must be an integer >= 0, got %s%s",
                              tl_event_field_type_name(v), json_is_real(v) ? " with a fraction" : "");
        if (json_integer_value(v) < 0)
            return tl_err_set(err, TL_EINVAL, "stock", "stock must be >= 0, got %" JSON_INTEGER_FORMAT,
                              json_integer_value(v));
        out->stock = (int64_t)json_integer_value(v);
    }
    int present;
    if ((rc = tl_event_field_time(obj, "created_at", &out->created_ms, &present, err))) return rc;
    if ((rc = tl_event_field_time(obj, "updated_at", &out->updated_ms, &present, err))) return rc;

    /* derived text into scratch; pointers taken after the last append */
    size_t entry_len = scratch->len, cat_off, tags_off, attrs_off;
    const char *cat;
    if ((rc = get_category(obj, scratch, &cat, &cat_off, err)) || (rc = get_tags(obj, scratch, &tags_off, err)) ||
        (rc = get_attrs(obj, scratch, &attrs_off, err))) {
        scratch->len = entry_len;
        if (scratch->data) scratch->data[entry_len] = '\0';
        return rc;
    }
    out->category = cat_off != SIZE_MAX ? scratch->data + cat_off : cat;
    out->tags_json = tags_off != SIZE_MAX ? scratch->data + tags_off : NULL;
    out->attrs_json = attrs_off != SIZE_MAX ? scratch->data + attrs_off : NULL;
    return TL_OK;
}

enum tl_rc tl_item_check_new(const struct tl_item *it, struct tl_err *err)
{
    if (!it->title || !*it->title)
        return tl_err_set(err, TL_EINVAL, "title", "title is required for a new item (a non-empty string)");
    return TL_OK;
}

/* ---------- API representation ---------- */

static enum tl_rc put_str(struct tl_buf *b, const char *key, const char *val, int first)
{
    enum tl_rc rc = tl_buf_printf(b, "%s\"%s\":", first ? "" : ",", key);
    if (rc) return rc;
    return val ? tl_buf_json_str(b, val) : tl_buf_puts(b, "null");
}

static enum tl_rc put_double(struct tl_buf *b, double d)
{
    char s[40];
    snprintf(s, sizeof s, "%.15g", d);
    if (strtod(s, NULL) != d) snprintf(s, sizeof s, "%.17g", d);
    return tl_buf_puts(b, s);
}

enum tl_rc tl_item_to_json(const struct tl_item *it, struct tl_buf *out)
{
    size_t start = out->len;
    char created[40], updated[40];
    tl_time_format(it->created_ms, created, sizeof created);
    tl_time_format(it->updated_ms, updated, sizeof updated);
    enum tl_rc rc;
    if ((rc = tl_buf_putc(out, '{')) || (rc = put_str(out, "id", it->id, 1)) ||
        (rc = put_str(out, "title", it->title, 0)) || (rc = put_str(out, "description", it->description, 0)) ||
        (rc = put_str(out, "url", it->url, 0)) || (rc = put_str(out, "image_url", it->image_url, 0)) ||
        (rc = tl_buf_puts(out, ",\"price\":")) ||
        (rc = isfinite(it->price) ? put_double(out, it->price) : tl_buf_puts(out, "null")) ||
        (rc = put_str(out, "currency", it->currency, 0)) || (rc = put_str(out, "category", it->category, 0)) ||
        (rc = put_str(out, "brand", it->brand, 0)) || (rc = tl_buf_puts(out, ",\"tags\":")) ||
        (rc = tl_buf_puts(out, it->tags_json ? it->tags_json : "[]")) ||
        (rc = tl_buf_printf(out, ",\"available\":%s", it->available ? "true" : "false")) ||
        (rc = it->stock >= 0 ? tl_buf_printf(out, ",\"stock\":%" PRId64, it->stock)
                             : tl_buf_puts(out, ",\"stock\":null")) ||
        (rc = tl_buf_puts(out, ",\"attributes\":")) ||
        (rc = tl_buf_puts(out, it->attrs_json ? it->attrs_json : "{}")) ||
        (rc = tl_buf_printf(out, ",\"visible\":%s", it->visible ? "true" : "false")) ||
        (rc = put_str(out, "created_at", created, 0)) || (rc = put_str(out, "updated_at", updated, 0)) ||
        (rc = tl_buf_putc(out, '}'))) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
        return rc;
    }
    return TL_OK;
}

/* ---------- body splitting ---------- */

enum tl_rc tl_items_split_body(const char *body, size_t len, json_t **array_out, struct tl_err *err)
{
    json_t *arr;
    enum tl_rc rc = tl_event_split_body(body, len, &arr, err);
    if (rc) return rc;
    json_t *first = json_array_get(arr, 0);
    json_t *inner = first ? json_object_get(first, "items") : NULL;
    if (json_array_size(arr) == 1 && json_is_array(inner) && !json_object_get(first, "id")) {
        size_t n = json_array_size(inner);
        if (n > TL_BATCH_MAX) {
            json_decref(arr);
            return tl_err_set(err, TL_ETOOBIG, "items",
                              "more than %d records in one body; split it into several requests", TL_BATCH_MAX);
        }
        for (size_t i = 0; i < n; i++) {
            json_t *el = json_array_get(inner, i);
            if (!json_is_object(el)) {
                rc = tl_err_set(err, TL_EINVAL, "items",
                                "items element %zu (0-based) is %s; each item must be a JSON object", i,
                                tl_event_field_type_name(el));
                json_decref(arr);
                return rc;
            }
        }
        json_incref(inner);
        json_decref(arr);
        arr = inner;
    }
    *array_out = arr;
    return TL_OK;
}
