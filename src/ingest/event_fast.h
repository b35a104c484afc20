/* Fast path for behaviour events: validation of ordinary events straight
 * from their JSON text, without building a jansson tree, their canonical
 * stored body (in the same pass, or by a second walk), and splitting of a
 * request body into its elements without parsing them. Both only ever accept
 * a subset of what the jansson path (src/ingest/event.c) accepts, with
 * identical results; for anything else they say "not handled" and the caller
 * runs the jansson path, which produces the proper error message.
 *
 * Intended use (POST /v1/events, NDJSON import):
 *
 *   struct tl_span spans[...]; size_t n; int handled;
 *   rc = tl_evfast_split(body, len, spans, TL_BATCH_MAX, &n, &handled);
 *   if (rc == TL_ETOOBIG) -> 413 "more than 10000 records in one body ..."
 *   if (!handled)         -> whole body through tl_event_split_body (+ slow path)
 *   tl_buf_reserve(&scratch, tl_evfast_scratch_need(len, n));  // optional, see below
 *   for each span i:
 *       tl_evfast_parse_canonical(body + off, span len, now, &ev, lines, cap,
 *                                 &scratch, &bodies, &h);
 *       if (!h) {  // unusual or invalid event, or an escape somewhere:
 *                  // jansson for this one element
 *           obj = json_loadb(body + off, span len, JSON_REJECT_DUPLICATES, &je);
 *           if (!obj) -> the BODY is malformed: run tl_event_split_body on the
 *                        whole body for the error (line / column) and stop;
 *           tl_event_from_json(obj, now, ...) -> ok or a per-event rejection,
 *           then tl_event_canonical(&ev, obj, &bodies);
 *       }
 *
 * tl_evfast_split does not validate the inside of elements, so a malformed
 * element is only discovered when that element fails to parse: that is why
 * the whole body must then go through tl_event_split_body (a body that cannot
 * be parsed is rejected as a whole, docs/events.md). */
#ifndef TL_INGEST_EVENT_FAST_H
#define TL_INGEST_EVENT_FAST_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/types.h"
#include "tailor/rc.h"

/* Bytes tl_evfast_parse reserves in scratch for a text of len bytes. One
 * parse never needs more than len + 1 bytes; the extra is slack. */
#define TL_EVFAST_SCRATCH_SLACK 64

/* One element of a body: bytes [off, off + len) of the body (from its '{' to
 * its matching '}'); line = 1-based line of the body where it starts. */
struct tl_span {
    size_t off, len;
    long line;
};

/* Validate one JSON object text (text[0..len), NOT NUL-terminated; leading
 * and trailing JSON whitespace allowed) into *out, exactly as
 * json_loadb(text, len, JSON_REJECT_DUPLICATES) + tl_event_from_json(obj,
 * now_ms, out, lines_buf, lines_cap) would, for "simple" events:
 * - top-level keys without backslash escapes, no key twice;
 * - known fields (type, timestamp, ids, quantity, price, query, category,
 *   country, dwell_ms, scroll_depth) hold strings without backslash escapes,
 *   numbers, true/false/null;
 * - "items" is null or an array of strings, integers or flat objects whose
 *   item_id / quantity / price are such values (other keys of a line: any
 *   JSON), with at most min(lines_cap, TL_EVENT_LINES_MAX) elements, each a
 *   valid line for the event type;
 * - "context" and unknown top-level fields (at most 16 of them) hold any
 *   JSON value (validated, not interpreted; nesting up to 32 levels,
 *   objects of at most 64 keys, keys without escapes; escapes in string
 *   values are fine here).
 * Then *handled = 1, TL_OK, and *out is filled like the slow path: the same
 * type, ts_ms (absent -> now_ms), ids (JSON integers as decimal strings),
 * quantity (cart default 1), price, query, category, country (upper case),
 * order_id, recommendation_id, dwell_ms / scroll_depth (views only), lines
 * (in lines_buf; the purchase / return one-line shortcut too), event_id;
 * shop_id, seq and body are 0/NULL.
 *
 * Strings of *out and of the lines are NUL-terminated copies appended to
 * scratch (which is not reset). The function first reserves len +
 * TL_EVFAST_SCRATCH_SLACK bytes and never grows scratch after that, so the
 * pointers stay valid until scratch is reset, freed or grown by a later
 * append. To keep the events of a whole batch alive in one scratch, reserve
 * tl_evfast_scratch_need(body_len, n) once before the first parse: then no
 * parse of the batch reallocates.
 *
 * Anything else (escapes in known fields, deeper nesting, duplicate keys,
 * malformed JSON, any validation failure, scratch that cannot grow): *handled
 * = 0 and TL_OK; *out, scratch->len and scratch's text are unchanged, but
 * lines_buf[0..lines_cap) may have been written. The caller then uses the
 * jansson path. Returns TL_EINVAL only for NULL arguments (text may be NULL
 * when len is 0). Thread-safe; no allocation except the scratch reserve. */
enum tl_rc tl_evfast_parse(const char *text, size_t len, int64_t now_ms, struct tl_event *out,
                           struct tl_line *lines_buf, size_t lines_cap, struct tl_buf *scratch, int *handled);

/* Scratch bytes that n tl_evfast_parse calls over spans of a body of
 * body_len bytes can need in total: body_len + n * TL_EVFAST_SCRATCH_SLACK. */
size_t tl_evfast_scratch_need(size_t body_len, size_t n);

/* Append to out the canonical stored body of an event that tl_evfast_parse
 * accepted from text[0..len) into *ev: byte for byte what
 * tl_event_canonical(ev, obj, out) appends for the jansson object obj of the
 * same text after tl_event_from_json (compact, keys in the sender's order,
 * "timestamp" rewritten as "YYYY-MM-DDTHH:MM:SS.mmmZ" in place or appended
 * last, "country" upper case, integer ids as strings, reals as "%.15g" the
 * jansson way), NUL-terminated, out not reset.
 * *handled = 1 and TL_OK on success. *handled = 0 and TL_OK when the text
 * holds a string with a backslash escape anywhere (jansson re-escapes those:
 * use json_loadb + tl_event_from_json + tl_event_canonical for that event)
 * or does not look like what tl_evfast_parse accepted. TL_ENOMEM /
 * TL_ETOOBIG (out->max) with *handled = 0. In every not-handled case out is
 * left as it was on entry. Undefined results (but memory-safe) if text and ev
 * do not belong together. */
enum tl_rc tl_evfast_canonical(const char *text, size_t len, const struct tl_event *ev, struct tl_buf *out,
                               int *handled);

/* tl_evfast_parse + tl_evfast_canonical in one pass over the text: the
 * scanner of tl_evfast_parse writes the canonical body into *body as it
 * validates. Same results as
 *     tl_evfast_parse(text, len, now_ms, out, lines_buf, lines_cap, scratch, &h);
 *     if (h) tl_evfast_canonical(text, len, out, body, &h);
 * (same *out, same body bytes, NUL-terminated, body not reset) with
 * *handled = 1 only when both would say handled, except that whenever
 * *handled = 0 (declined, or TL_ENOMEM / TL_ETOOBIG from growing body),
 * *out, scratch->len and body->len are all as they were on entry (scratch
 * and body may have grown their capacity; lines_buf may have been written).
 * Declined: the caller runs json_loadb + tl_event_from_json +
 * tl_event_canonical for this event. TL_EINVAL only for NULL arguments. */
enum tl_rc tl_evfast_parse_canonical(const char *text, size_t len, int64_t now_ms, struct tl_event *out,
                                     struct tl_line *lines_buf, size_t lines_cap, struct tl_buf *scratch,
                                     struct tl_buf *body, int *handled);

/* tl_evfast_parse_canonical for a store that keeps compact bodies
 * (store/evblock_compact.h): when the event is handled, its compact stored
 * body (ending with its TL_CB_K_END) is appended to cbody instead of the
 * canonical JSON to body, and *clen = its length: the bytes the block
 * encoder would pack from the canonical body (tl_evblock_add_compact stores
 * them without any JSON). When the scan does not know how to write some
 * value that way (integer item ids of "items" before "type", a number it
 * cannot write, no memory), the event is parsed again as by
 * tl_evfast_parse_canonical: *clen = 0 and body gets the canonical JSON, as
 * for tl_evfast_parse_canonical. Declined events leave body and cbody as
 * they were, as that function does. */
enum tl_rc tl_evfast_parse_compact(const char *text, size_t len, int64_t now_ms, struct tl_event *out,
                                   struct tl_line *lines_buf, size_t lines_cap, struct tl_buf *scratch,
                                   struct tl_buf *body, struct tl_buf *cbody, size_t *clen, int *handled);

/* Find the elements of a request body without parsing their values: one
 * JSON object, a JSON array of objects (possibly empty), or NDJSON (one
 * object per line, "\n" or "\r\n", blank lines ignored), after an optional
 * UTF-8 BOM and whitespace. String-aware (quotes, backslash escapes) and
 * bracket-aware (up to 64 levels). spans[0..*n) receive the elements.
 *
 * *handled = 1 and TL_OK: tl_event_split_body would either return the same
 * elements (same count, element i = the JSON text of spans[i]) or fail
 * because some element is not valid JSON (the caller finds out when that
 * element does not parse: see the usage at the top of this file).
 * More than max elements: TL_ETOOBIG with *handled = 1 (the slow path says
 * "more than TL_BATCH_MAX records"; it only differs when the body is also
 * malformed, where it reports the parse error instead).
 * *handled = 0 and TL_OK: anything it cannot split cleanly (empty body,
 * malformed structure, an element that is not an object, trailing text, an
 * NDJSON object spread over several lines, nesting deeper than 64): the
 * caller runs tl_event_split_body for the result or the error message.
 * TL_EINVAL for NULL spans (when max > 0), n or handled. */
enum tl_rc tl_evfast_split(const char *body, size_t len, struct tl_span *spans, size_t max, size_t *n, int *handled);

#endif
