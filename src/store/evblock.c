/* Event blocks (format in evblock.h). Encoding appends straight into the
 * payload buffer after one reserve per event; decoding checks every length
 * against the payload end before reading. */
#include "store/evblock.h"

#include <math.h>
#include <string.h>
#include <zstd.h>

#include "core/alloc.h"

enum { F_USER = 1, F_ANON = 2, F_ITEM = 4, F_COUNTRY = 8 };

void tl_evblock_enc_init(struct tl_evblock_enc *b)
{
    memset(b, 0, sizeof *b);
    tl_buf_init(&b->raw, 0);
    tl_buf_init(&b->eids, 0);
    tl_buf_init(&b->frame, 0);
}

void tl_evblock_enc_free(struct tl_evblock_enc *b)
{
    tl_buf_free(&b->raw);
    tl_buf_free(&b->eids);
    tl_buf_free(&b->frame);
    ZSTD_freeCCtx(b->cctx);
    memset(b, 0, sizeof *b);
}

void tl_evblock_enc_reset(struct tl_evblock_enc *b)
{
    tl_buf_reset(&b->raw);
    tl_buf_reset(&b->eids);
    b->n = 0;
    b->any_eid = 0;
    b->last_ts = 0;
    b->shop = 0;
    memset(b->counts, 0, sizeof b->counts);
}

static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

static unsigned char *put_str(unsigned char *p, const char *s, size_t len)
{
    p = put_varint(p, len);
    memcpy(p, s, len);
    p[len] = 0;
    return p + len + 1;
}

enum tl_rc tl_evblock_add(struct tl_evblock_enc *b, const struct tl_event *ev, uint64_t eid_hash)
{
    if ((unsigned)ev->type >= TL_EV_MAX_) return TL_EINVAL;
    const char *strs[4] = {ev->user_id, ev->anonymous_id, ev->item_id, ev->country};
    size_t lens[4], need = 1 + 10 + 10 + 1 + 11;
    unsigned flags = 0;
    for (int i = 0; i < 4; i++) {
        lens[i] = strs[i] ? strlen(strs[i]) : 0;
        if (strs[i]) flags |= 1u << i, need += 11 + lens[i];
    }
    const char *body = ev->body ? ev->body : "{}";
    size_t blen = ev->body ? (ev->body_len ? ev->body_len : strlen(body)) : 2;
    need += blen + 1;
    enum tl_rc rc = tl_buf_reserve(&b->raw, need);
    if (rc == TL_OK) rc = tl_buf_reserve(&b->eids, 8);
    if (rc) return rc;
    unsigned char *p = (unsigned char *)b->raw.data + b->raw.len;
    *p++ = (unsigned char)ev->type;
    p = put_varint(p, ev->shop_id);
    int64_t d = (int64_t)((uint64_t)ev->ts_ms - (uint64_t)b->last_ts);
    p = put_varint(p, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63)); /* zigzag */
    *p++ = (unsigned char)flags;
    for (int i = 0; i < 4; i++)
        if (strs[i]) p = put_str(p, strs[i], lens[i]);
    p = put_str(p, body, blen);
    b->raw.len = (size_t)(p - (unsigned char *)b->raw.data);
    b->raw.data[b->raw.len] = 0;
    unsigned char *e = (unsigned char *)b->eids.data + b->eids.len;
    for (int i = 0; i < 8; i++) e[i] = (unsigned char)(eid_hash >> (8 * i));
    b->eids.len += 8;
    b->any_eid |= eid_hash != 0;
    b->last_ts = ev->ts_ms;
    if (!b->n) b->shop = ev->shop_id;
    b->counts[ev->type]++;
    b->n++;
    return TL_OK;
}

enum tl_rc tl_evblock_compress(struct tl_evblock_enc *b)
{
    if (!b->cctx) {
        if (!(b->cctx = ZSTD_createCCtx())) return TL_ENOMEM;
        /* the frame carries a checksum of its content (XXH64), so a damaged
         * block is refused instead of decoding into other events */
        if (ZSTD_isError(ZSTD_CCtx_setParameter(b->cctx, ZSTD_c_compressionLevel, TL_EVBLOCK_ZSTD_LEVEL)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(b->cctx, ZSTD_c_hashLog, TL_EVBLOCK_ZSTD_HASHLOG)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(b->cctx, ZSTD_c_checksumFlag, 1)))
            return TL_EINTERNAL;
    }
    size_t bound = ZSTD_compressBound(b->raw.len);
    tl_buf_reset(&b->frame);
    enum tl_rc rc = tl_buf_reserve(&b->frame, bound);
    if (rc) return rc;
    size_t got = ZSTD_compress2(b->cctx, b->frame.data, bound, b->raw.data, b->raw.len);
    if (ZSTD_isError(got)) return TL_EINTERNAL;
    b->frame.len = got;
    return TL_OK;
}

uint64_t tl_evblock_eid(const void *eids, size_t i)
{
    const unsigned char *e = (const unsigned char *)eids + 8 * i;
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--) v = v << 8 | e[k];
    return v;
}

struct rd {
    const unsigned char *p, *end;
    int bad;
};

static uint64_t get_varint(struct rd *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) break;
        unsigned c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return v;
    }
    r->bad = 1;
    return 0;
}

/* A NUL-terminated string of the payload, or NULL (r->bad set) if it does
 * not fit or lacks its NUL. */
static const char *get_str(struct rd *r, size_t *len)
{
    uint64_t n = get_varint(r);
    if (r->bad || n >= (uint64_t)(r->end - r->p) || r->p[n] != 0) {
        r->bad = 1;
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p += n + 1;
    if (len) *len = (size_t)n;
    return s;
}

enum tl_rc tl_evblock_decode(const void *frame, size_t frame_len, size_t raw_len, size_t n, int64_t first_seq,
                             int64_t after_seq, struct tl_buf *work, tl_evblock_cb cb, void *ctx)
{
    if (raw_len > TL_EVBLOCK_RAW_SANE || !n || n > raw_len) return TL_ESTORE;
    if (first_seq + (int64_t)n - 1 <= after_seq) return TL_OK; /* all seen */
    tl_buf_reset(work);
    enum tl_rc rc = tl_buf_reserve(work, raw_len + 1);
    if (rc) return rc;
    unsigned long long fsz = ZSTD_getFrameContentSize(frame, frame_len);
    if (fsz != raw_len) return TL_ESTORE;
    size_t got = ZSTD_decompress(work->data, raw_len, frame, frame_len);
    if (ZSTD_isError(got) || got != raw_len) return TL_ESTORE;
    work->len = raw_len;
    struct rd r = {(const unsigned char *)work->data, (const unsigned char *)work->data + raw_len, 0};
    int64_t ts = 0;
    for (size_t i = 0; i < n; i++) {
        if (r.p >= r.end) return TL_ESTORE;
        struct tl_event ev = {
            .seq = first_seq + (int64_t)i, .quantity = NAN, .price = NAN, .dwell_ms = -1, .scroll_depth = NAN};
        unsigned type = *r.p++;
        if (type >= TL_EV_MAX_) return TL_ESTORE;
        ev.type = (enum tl_event_type)type;
        uint64_t shop = get_varint(&r);
        uint64_t z = get_varint(&r);
        if (r.bad || shop > UINT32_MAX || r.p >= r.end) return TL_ESTORE;
        ev.shop_id = (uint32_t)shop;
        ts = (int64_t)((uint64_t)ts + ((z >> 1) ^ (0 - (z & 1)))); /* un-zigzag */
        ev.ts_ms = ts;
        unsigned flags = *r.p++;
        if (flags & ~0xFu) return TL_ESTORE;
        const char **fields[4] = {&ev.user_id, &ev.anonymous_id, &ev.item_id, &ev.country};
        for (int k = 0; k < 4; k++)
            if (flags & (1u << k)) *fields[k] = get_str(&r, NULL);
        ev.body = get_str(&r, &ev.body_len);
        if (r.bad) return TL_ESTORE;
        if (ev.seq <= after_seq) continue;
        int stop = cb(ctx, &ev);
        if (stop) return (enum tl_rc)stop;
    }
    return r.p == r.end ? TL_OK : TL_ESTORE;
}
