/* Catalog items: JSON validation into struct tl_item, the API representation
 * and request-body splitting. The JSON form is documented in src/ingest/item.c
 * and docs/events.md (catalog section).
 *
 * Ownership and lifetime (tl_item_from_json):
 * - id, title, description, url, image_url, currency, brand and a category
 *   sent as a string are borrowed from the jansson object (valid while it is
 *   alive and not modified further). Ids sent as JSON integers and lower-case
 *   currencies are replaced in place in the object.
 * - tags_json, attrs_json and a category sent as an array are derived text
 *   written into the caller's scratch buffer (appended, NUL-terminated). They
 *   stay valid until scratch is next appended to, reset or freed: when
 *   processing a batch, use or copy each item before tl_buf_reset(scratch)
 *   and the next call. */
#ifndef TL_INGEST_ITEM_H
#define TL_INGEST_ITEM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/types.h"

/* Limits (bytes of UTF-8 unless said otherwise). */
#define TL_ITEM_TITLE_MAX 1000
#define TL_ITEM_DESCRIPTION_MAX 65536
#define TL_ITEM_URL_MAX 2048
#define TL_ITEM_BRAND_MAX 256
#define TL_ITEM_CATEGORY_MAX 1000     /* joined path */
#define TL_ITEM_CATEGORY_DEPTH_MAX 16 /* levels in an array category */
#define TL_ITEM_TAGS_MAX 100          /* tags per item */
#define TL_ITEM_TAG_MAX 100           /* bytes per tag */
#define TL_ITEM_ATTRS_MAX 16384       /* bytes of compact attributes JSON */

/* Validate one item object. now_ms gives created_ms / updated_ms unless the
 * object carries "created_at" / "updated_at". Defaults: available 1, stock
 * -1, visible 1, price NAN, absent strings NULL. "title" may be absent (an
 * update of an existing item); call tl_item_check_new for a new item. On
 * error rc is TL_EINVAL (TL_ENOMEM / TL_ETOOBIG from scratch) and err names
 * the field. */
enum tl_rc tl_item_from_json(json_t *obj, int64_t now_ms, struct tl_item *out, struct tl_buf *scratch,
                             struct tl_err *err);

/* TL_EINVAL (field "title") unless it has a title: required for new items. */
enum tl_rc tl_item_check_new(const struct tl_item *it, struct tl_err *err);

/* Append the API representation of it to out: a JSON object with the input
 * field names (id, title, description, url, image_url, price, currency,
 * category, brand, tags, available, stock, attributes, visible) plus
 * created_at / updated_at as ISO 8601 strings. Absent values are null (stock
 * -1 -> null), absent tags [] and attributes {}. tags_json / attrs_json are
 * inserted as they are (they hold valid JSON by the tl_item invariant). */
enum tl_rc tl_item_to_json(const struct tl_item *it, struct tl_buf *out);

/* Split a PUT /v1/items body into a new jansson array of objects (caller
 * json_decrefs): a JSON array of items, {"items":[...]}, a single item
 * object, or NDJSON. Same errors and limit (TL_BATCH_MAX) as
 * tl_event_split_body. */
enum tl_rc tl_items_split_body(const char *body, size_t len, json_t **array_out, struct tl_err *err);

#endif
