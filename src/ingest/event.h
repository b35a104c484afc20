/* Behaviour events: JSON validation into struct tl_event, the canonical body
 * that is stored, request-body splitting (object / array / NDJSON) and the
 * idempotency key. The user-facing format is documented in docs/events.md.
 *
 * No database writes happen here: the engine calls these functions, then
 * dedupes, stores and applies the events.
 *
 * Ownership: every string in a struct tl_event filled by tl_event_from_json
 * is borrowed from the jansson object it was parsed from, and stays valid
 * while that object is alive and not modified further by the caller.
 * tl_event_from_json normalises some values in place in the object (ids sent
 * as JSON integers become decimal strings, "country" becomes upper case), so
 * that the borrowed strings and the stored body agree. */
#ifndef TL_INGEST_EVENT_H
#define TL_INGEST_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/types.h"

/* Limits (bytes of UTF-8 unless said otherwise). */
#define TL_EVENT_QUERY_MAX 1000                    /* "query" of a search */
#define TL_EVENT_TEXT_MAX 1000                     /* "category" and other short texts */
#define TL_EVENT_ID_MAX 128                        /* "event_id" */
#define TL_EVENT_FUTURE_MS (24LL * 60 * 60 * 1000) /* max clock skew ahead of now */
#define TL_EVENT_MIN_TS_MS 946684800000LL          /* 2000-01-01T00:00:00Z */
#define TL_EVENT_DWELL_MAX_MS (24LL * 60 * 60 * 1000)

/* Validate one event object. now_ms is the server's clock (default and upper
 * bound for "timestamp"). lines_buf (capacity lines_cap, may be NULL when
 * lines_cap is 0) receives the purchase / return / checkout / impression
 * lines; out->lines points into it. out->shop_id, out->seq and out->body are
 * left 0/NULL for the caller. On failure err names the field and the reason
 * and rc is TL_EINVAL (TL_ETOOBIG when there are more lines than lines_cap or
 * TL_EVENT_LINES_MAX, TL_ENOMEM if an in-place normalisation cannot allocate). */
enum tl_rc tl_event_from_json(json_t *obj, int64_t now_ms, struct tl_event *out, struct tl_line *lines_buf,
                              size_t lines_cap, struct tl_err *err);

/* Append to out the compact JSON body to store for ev: obj (the object ev was
 * parsed from) with "timestamp" set to ev->ts_ms as an ISO 8601 UTC string
 * ("2024-05-01T10:00:00.000Z") and "country" set to ev->country. obj is
 * modified accordingly. The text starts at the value out->len had on entry
 * and is NUL-terminated; out is not reset. Errors: TL_ENOMEM, TL_ETOOBIG
 * (out->max reached; out is left as it was on entry). */
enum tl_rc tl_event_canonical(const struct tl_event *ev, json_t *obj, struct tl_buf *out);

/* Split a request body into a new jansson array of objects (caller owns it:
 * json_decref). Accepts one JSON object, a JSON array of objects (possibly
 * empty), or NDJSON (one object per line, "\n" or "\r\n", blank lines
 * ignored). Errors: empty body or one with only whitespace -> TL_EINVAL;
 * malformed JSON -> TL_EPARSE with err->line / err->column set (for NDJSON
 * the line of the body) and both in the message; an element that is not an
 * object -> TL_EINVAL naming its 0-based index (and line for NDJSON); more
 * than TL_BATCH_MAX elements -> TL_ETOOBIG. *array_out is NULL on error.
 * Used for items and customers too, so messages say "record", not "event". */
enum tl_rc tl_event_split_body(const char *body, size_t len, json_t **array_out, struct tl_err *err);

/* Idempotency key of (shop_id, event_id): XXH3-64 of the event id bytes with
 * seed shop_id, with 0 mapped to 1. Returns 0 (= "no key") only when event_id
 * is NULL. Persisted (events.eid_hash): never change the formula. */
uint64_t tl_event_id_hash(uint32_t shop_id, const char *event_id);

/* ---- Field validators shared by src/ingest/item.c and customer.c ----
 * Common contract: JSON null counts as absent; on error they fill err with
 * field and reason and return TL_EINVAL (TL_ENOMEM if an in-place
 * replacement cannot allocate). Strings returned are borrowed from obj. */

/* "object", "array", "string", "number", "boolean" or "null". */
const char *tl_event_field_type_name(const json_t *v);
/* v must be a string of 1..max bytes with no NUL and no control character
 * (C0, DEL, C1); allow_newlines permits tab, CR and LF. */
enum tl_rc tl_event_field_check_str(const json_t *v, const char *field, size_t max, int allow_newlines,
                                    struct tl_err *err);
/* obj[key] as an id (see tl_event_field_check_str with allow_newlines 0). A
 * JSON integer is accepted when allow_int and replaced in obj by its decimal
 * string. field names the field in errors (NULL = key). *out = NULL when
 * absent; absent and required is an error. */
enum tl_rc tl_event_field_id(json_t *obj, const char *key, const char *field, size_t max, int required, int allow_int,
                             const char **out, struct tl_err *err);
/* obj[key] as a text of at most max bytes without control characters
 * (allow_newlines: tab/CR/LF allowed). Required texts must be non-empty;
 * an empty optional text gives *out = NULL. */
enum tl_rc tl_event_field_text(json_t *obj, const char *key, size_t max, int required, int allow_newlines,
                               const char **out, struct tl_err *err);
/* obj["country"]: two ASCII letters, upper-cased in place in obj. */
enum tl_rc tl_event_field_country(json_t *obj, const char **out, struct tl_err *err);
/* obj[key] boolean; *out untouched when absent. */
enum tl_rc tl_event_field_bool(json_t *obj, const char *key, int *out, struct tl_err *err);
/* obj[key] as ISO 8601 string or integer epoch ms; *present = 0 if absent. */
enum tl_rc tl_event_field_time(json_t *obj, const char *key, int64_t *out, int *present, struct tl_err *err);

#endif
