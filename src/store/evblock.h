/* Event blocks: the compact form in which a backend stores behaviour events
 * (store/evblock.c), shared by every backend so the bytes on disk mean the
 * same everywhere.
 *
 * A block holds n consecutive events (store sequences first_seq ..
 * first_seq + n - 1) as one zstd frame (with its content checksum) of a
 * row-wise payload, plus the
 * events' idempotency hashes as a separate array (so the dedupe set can be
 * rebuilt at start without decompressing anything). The payload of one
 * event, in order:
 *
 *   u8      type (enum tl_event_type)
 *   varint  shop_id
 *   varint  zigzag(ts_ms - ts_ms of the previous event of the block; the
 *           first is relative to 0)
 *   u8      flags: bit 0 user_id, 1 anonymous_id, 2 item_id, 3 country,
 *           4 compact body
 *   strings for the flagged fields, in that order: varint length, the bytes,
 *           a NUL
 *   the body (the canonical JSON of docs/events.md), either as JSON
 *           (bit 4 clear): varint length, the text, a NUL;
 *           or compact (bit 4 set, schema version 4 on), when it is an
 *           object in compact JSON form: per member a key code, then a
 *           value code and its bytes; key code 0 ends the object.
 *
 * Compact body codes (evblock_compact.h, shared with the event parser,
 * which writes the compact body of an imported event straight from its
 * line: tl_evblock_add_compact). Key: 1 = the key's text follows (varint
 * length, the bytes between its quotes); 2 + i = the i-th key of a fixed
 * dictionary of the event fields of docs/events.md. Value: 1 string
 * (varint length, the bytes between its quotes), 2 any other JSON text as
 * it is (varint length, bytes), 3 integer -?(0|[1-9][0-9]*) of at most 18
 * digits (zigzag varint), 4 plain decimal -?(0|[1-9][0-9]*).[0-9]+ of at
 * most 18 digits (zigzag varint of the digits, u8 count of decimals), 5 the
 * event's timestamp as tl_time_format_iso writes it, 6-9 the event's
 * user_id, anonymous_id, item_id, country, 10 its type name (all quoted).
 * Every byte of the JSON is kept (strings and keys as written, escapes
 * included), so decoding writes the text back byte for byte; a body that is
 * not such an object (whitespace, say) is stored as JSON. Compact bodies
 * hand zstd about a third of the bytes (233 -> 81 for an average benchmark
 * event), which halves its time and cuts the stored bytes by a third.
 *
 * varint = LEB128 (7 bits per byte, low first); zigzag(x) = (x << 1) ^
 * (x >> 63). The NULs let a decoded event point straight into the payload
 * (a compact body is written back as JSON into a buffer of the decoder,
 * valid until the next event).
 * A decoder checks every length against the payload end and the event count
 * against the header, so a damaged block is an error, never a wild read. */
#ifndef TL_STORE_EVBLOCK_H
#define TL_STORE_EVBLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/timeutil.h"
#include "store/types.h"
#include "tailor/rc.h"

/* A block is written when its payload reaches this many bytes (or at
 * commit): about 6,000 events of 80 compact bytes; decoding needs one such
 * buffer. */
#define TL_EVBLOCK_RAW_MAX ((size_t)512 * 1024)
/* A block's payload is at most TL_EVBLOCK_RAW_MAX plus one event (itself
 * bounded by the request and line limits); a decoder refuses a header that
 * claims more than this. */
#define TL_EVBLOCK_RAW_SANE ((size_t)256 * 1024 * 1024)

/* zstd level of the frames: level 1 compresses the compact payload of
 * ordinary events about 3.3x at about 350 MB/s on one core here (81 bytes
 * per benchmark event into 24); --fast levels are faster but cut the ratio
 * to 2.4-2.7x (measured in BENCHMARKS.md). */
#define TL_EVBLOCK_ZSTD_LEVEL 1
/* zstd hash table of 2^12 entries instead of level 1's 2^14: it stays in
 * the core's fastest caches; on the benchmark's events (zstd -b1 -B512K)
 * 531 -> 615 MB/s for 6.85x -> 6.82x (BENCHMARKS.md). */
#define TL_EVBLOCK_ZSTD_HASHLOG 12

struct tl_evblock_enc {
    struct tl_buf raw;  /* payload so far */
    struct tl_buf eids; /* n u64 little-endian hashes, 0 = none */
    size_t n;
    int any_eid;
    int64_t last_ts;
    int64_t ts_day;                    /* day of ts_text's date, INT64_MIN before the first */
    char ts_text[TL_TIME_ISO_LEN + 1]; /* the last timestamp text made (compact bodies) */
    int64_t counts[TL_EV_MAX_];        /* events per type, for the count table */
    uint32_t shop;                     /* shop of the first event (callers keep one shop per block) */
    void *cctx;                        /* zstd compression context, reused */
    struct tl_buf frame;               /* the last compressed frame */
};

void tl_evblock_enc_init(struct tl_evblock_enc *b);
void tl_evblock_enc_free(struct tl_evblock_enc *b);
/* Forget the events added since the last reset (keeps memory). */
void tl_evblock_enc_reset(struct tl_evblock_enc *b);
/* Append one event (its seq is the caller's business). */
enum tl_rc tl_evblock_add(struct tl_evblock_enc *b, const struct tl_event *ev, uint64_t eid_hash);
/* Append one event whose compact body (cbody[0..clen), ending with its
 * TL_CB_K_END) its parser wrote (tl_evfast_parse_compact): the bytes
 * tl_evblock_add would write for ev with that body as JSON, without
 * reading the JSON (ev->body is not read). */
enum tl_rc tl_evblock_add_compact(struct tl_evblock_enc *b, const struct tl_event *ev, uint64_t eid_hash,
                                  const void *cbody, size_t clen);
/* Compress the payload into b->frame. */
enum tl_rc tl_evblock_compress(struct tl_evblock_enc *b);

/* Decoding: decompress a frame of raw_len payload bytes into `work` (reused
 * across calls), then visit its n events with seq = first_seq + i. Events
 * with seq <= after_seq are skipped. A scanned event has the fields of
 * store.h's event_scan contract, with its body only when its type's bit
 * TL_SCAN_BODY(type) is set in `bodies` (else body NULL: a compact body is
 * then walked and checked, not written out); `eids` (n hashes, or NULL) is
 * not read here. cb returning non-zero stops and is returned; a damaged
 * block -> TL_ESTORE, whichever bodies are asked for. */
typedef int (*tl_evblock_cb)(void *ctx, const struct tl_event *ev);
enum tl_rc tl_evblock_decode(const void *frame, size_t frame_len, size_t raw_len, size_t n, int64_t first_seq,
                             int64_t after_seq, unsigned bodies, struct tl_buf *work, tl_evblock_cb cb, void *ctx);

/* The i-th idempotency hash of an eids array (n * 8 bytes). */
uint64_t tl_evblock_eid(const void *eids, size_t i);

#endif
