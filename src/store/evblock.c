/* Event blocks (format in evblock.h). Encoding appends straight into the
 * payload buffer after one reserve per event; decoding checks every length
 * against the payload end before reading. */
#include "store/evblock.h"
#include "store/evblock_compact.h"
#include "store/store.h"

#include <math.h>
#include <string.h>
#include <zstd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/alloc.h"
#include "core/timeutil.h"

enum { F_USER = 1, F_ANON = 2, F_ITEM = 4, F_COUNTRY = 8, F_COMPACT = 16 };

/* Compact bodies (format in evblock.h; codes in evblock_compact.h). The
 * dictionary's keys, in the order of enum tl_cb_dict: */
static const char *const dict[] = {
    "event_id", "type",     "timestamp",    "user_id",  "anonymous_id", "session_id",
    "item_id",  "items",    "quantity",     "price",    "country",      "query",
    "category", "dwell_ms", "scroll_depth", "order_id", "context",      "recommendation_id"};
#define DICT_N (sizeof dict / sizeof dict[0])
_Static_assert(DICT_N == TL_CB_D_N_, "the dictionary and enum tl_cb_dict");

void tl_evblock_enc_init(struct tl_evblock_enc *b)
{
    memset(b, 0, sizeof *b);
    tl_buf_init(&b->raw, 0);
    tl_buf_init(&b->eids, 0);
    tl_buf_init(&b->frame, 0);
    b->ts_day = INT64_MIN;
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

static unsigned char *put_str(unsigned char *p, const char *s, size_t len)
{
    p = tl_cb_varint(p, len);
    memcpy(p, s, len);
    p[len] = 0;
    return p + len + 1;
}

/* The key code of the key text k[0..n). */
static int dict_code(const char *k, size_t n)
{
#define D(i)                                                                                                           \
    if (memcmp(k, dict[i], n) == 0) return TL_CB_K_DICT + (i)
    switch (n) { /* the dictionary's keys by length */
    case 4:
        D(1);
        break;
    case 5:
        D(7);
        D(9);
        D(11);
        break;
    case 7:
        D(3);
        D(6);
        D(10);
        D(16);
        break;
    case 8:
        D(0);
        D(8);
        D(12);
        D(13);
        D(15);
        break;
    case 9:
        D(2);
        break;
    case 10:
        D(5);
        break;
    case 12:
        D(4);
        D(14);
        break;
    case 17:
        D(17);
        break;
    default:
        break;
    }
#undef D
    return TL_CB_K_LITERAL;
}

/* End of the JSON string whose opening quote is at p (the byte after its
 * closing quote), or NULL. 16 bytes at a time where SSE2 is there (any
 * x86-64): the next quote or backslash of a block is found with two
 * compares and a mask; a byte loop for the rest. */
static const char *string_end(const char *p, const char *end)
{
    p++;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
        if (!m) {
            p += 16;
            continue;
        }
        p += __builtin_ctz(m);
        if (*p == '"') return p + 1;
        p += 2; /* a backslash and the byte it escapes */
    }
#endif
    for (; p < end; p++) {
        if (*p == '"') return p + 1;
        if (*p == '\\') p++;
    }
    return NULL;
}

/* tl_time_format_iso(ts_ms) in b->ts_text, the date part reused while the
 * day stays the same (events come in time order). */
static const char *ts_text(struct tl_evblock_enc *b, int64_t ts_ms)
{
    int64_t day = ts_ms >= 0 && ts_ms <= TL_TIME_ISO_MAX_MS ? ts_ms / TL_MS_PER_DAY : INT64_MIN;
    if (day == INT64_MIN || day != b->ts_day) { /* before 1970 or after 9999: always in full */
        tl_time_format_iso(ts_ms, b->ts_text);
        b->ts_day = day;
        return b->ts_text;
    }
    unsigned ms = (unsigned)(ts_ms - day * TL_MS_PER_DAY), sec = ms / 1000;
    unsigned v[3] = {sec / 3600, sec / 60 % 60, sec % 60};
    char *t = b->ts_text + 11; /* "HH:MM:SS.mmmZ" */
    for (int i = 0; i < 3; i++) {
        t[3 * i] = (char)('0' + v[i] / 10);
        t[3 * i + 1] = (char)('0' + v[i] % 10);
    }
    ms %= 1000;
    t[9] = (char)('0' + ms / 100);
    t[10] = (char)('0' + ms / 10 % 10);
    t[11] = (char)('0' + ms % 10);
    return b->ts_text;
}

/* End of the JSON value at p (object, array, string or scalar), or NULL.
 * Scalars end at the first ',', '}' or ']'; brackets nest, strings are
 * skipped. Only the bytes are delimited: the caller stores them as they
 * are, so a value it cannot delimit only means no compact body. */
static const char *value_end(const char *p, const char *end)
{
    if (p >= end) return NULL;
    if (*p == '"') return string_end(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']') p++;
        return p;
    }
    int depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            if (!(p = string_end(p, end))) return NULL;
            continue;
        }
        if (c == '{' || c == '[') depth++;
        if ((c == '}' || c == ']') && --depth == 0) return p + 1;
        p++;
    }
    return NULL;
}

/* The header field (0 user_id, 1 anonymous_id, 2 item_id, 3 country: the
 * order of the flags and of TL_CB_V_USER..TL_CB_V_COUNTRY) named by key
 * code kc, or -1. */
static int header_field(int kc)
{
    switch (kc - TL_CB_K_DICT) {
    case TL_CB_D_USER_ID:
        return 0;
    case TL_CB_D_ANONYMOUS_ID:
        return 1;
    case TL_CB_D_ITEM_ID:
        return 2;
    case TL_CB_D_COUNTRY:
        return 3;
    default:
        return -1;
    }
}

/* 0 if q[0..n) is the NUL-terminated s. */
static int strcmp_n(const char *q, size_t n, const char *s) { return strncmp(q, s, n) != 0 || s[n] != 0; }

/* A quoted string value q[0..n) that is the event's own field s of sn
 * bytes (so the decoder can take it from there). */
static int same_str(const char *q, size_t n, const char *s, size_t sn) { return s && sn == n && memcmp(q, s, n) == 0; }

/* The canonical JSON object body[0..len) as a compact body at p (room for
 * 2 * len + 16 bytes), or NULL when it is not an object in compact JSON
 * form (whitespace, say): the caller then stores the JSON as it is. Every
 * byte of the text is kept (keys and strings as written, numbers that the
 * codes give back exactly, the rest verbatim), so decoding writes it back
 * byte for byte. */
static unsigned char *compact_body(struct tl_evblock_enc *b, unsigned char *p, const char *body, size_t len,
                                   const struct tl_event *ev, const char *const strs[4], const size_t lens[4])
{
    const char *q = body, *end = body + len;
    if (len < 2 || *q++ != '{' || end[-1] != '}') return NULL;
    end--; /* the members lie in [q, end) */
    while (q < end) {
        if (*q != '"') return NULL;
        const char *ke = string_end(q, end);
        if (!ke || ke >= end || *ke != ':') return NULL;
        size_t kn = (size_t)(ke - q) - 2;
        int kc = dict_code(q + 1, kn);
        *p++ = (unsigned char)kc;
        if (kc == TL_CB_K_LITERAL) p = tl_cb_text(p, q + 1, kn); /* no NUL: the code bytes delimit */
        const char *v = ke + 1, *ve = value_end(v, end);
        if (!ve || ve == v || (ve < end && *ve != ',')) return NULL;
        size_t vn = (size_t)(ve - v);
        if (*v == '"') {
            /* a field the event also keeps in its header, by key */
            const char *s = v + 1;
            size_t sn = vn - 2;
            int code = TL_CB_V_STR, f = header_field(kc);
            if (f >= 0)
                code = same_str(s, sn, strs[f], lens[f]) ? TL_CB_V_USER + f : TL_CB_V_STR;
            else if (kc == TL_CB_K_DICT + TL_CB_D_TYPE)
                code = strcmp_n(s, sn, tl_event_type_str(ev->type)) ? TL_CB_V_STR : TL_CB_V_TYPE;
            else if (kc == TL_CB_K_DICT + TL_CB_D_TIMESTAMP)
                code = sn == TL_TIME_ISO_LEN && memcmp(s, ts_text(b, ev->ts_ms), sn) == 0 ? TL_CB_V_TS : TL_CB_V_STR;
            *p++ = (unsigned char)code;
            if (code == TL_CB_V_STR) p = tl_cb_text(p, s, sn);
        } else {
            p = tl_cb_nonstring(p, v, vn);
        }
        q = ve < end ? ve + 1 : ve;
        if (ve < end && q == end) return NULL; /* a trailing comma */
    }
    *p++ = TL_CB_K_END;
    return p;
}

/* Append ev with the compact body cbody[0..clen) made by its parser
 * (cbody NULL: its JSON body, packed here when it can be). */
static enum tl_rc add_event(struct tl_evblock_enc *b, const struct tl_event *ev, uint64_t eid_hash,
                            const unsigned char *cbody, size_t clen)
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
    need += cbody ? clen : 2 * blen + 16; /* the JSON, or its compact form (compact_body) */
    enum tl_rc rc = tl_buf_reserve(&b->raw, need);
    if (rc == TL_OK) rc = tl_buf_reserve(&b->eids, 8);
    if (rc) return rc;
    unsigned char *p = (unsigned char *)b->raw.data + b->raw.len;
    *p++ = (unsigned char)ev->type;
    p = tl_cb_varint(p, ev->shop_id);
    p = tl_cb_zigzag(p, (int64_t)((uint64_t)ev->ts_ms - (uint64_t)b->last_ts));
    unsigned char *fp = p++;
    for (int i = 0; i < 4; i++)
        if (strs[i]) p = put_str(p, strs[i], lens[i]);
    unsigned char *cp =
        cbody ? (unsigned char *)memcpy(p, cbody, clen) + clen : compact_body(b, p, body, blen, ev, strs, lens);
    if (cp) {
        flags |= F_COMPACT;
        p = cp;
    } else {
        p = put_str(p, body, blen);
    }
    *fp = (unsigned char)flags;
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

enum tl_rc tl_evblock_add(struct tl_evblock_enc *b, const struct tl_event *ev, uint64_t eid_hash)
{
    return add_event(b, ev, eid_hash, NULL, 0);
}

enum tl_rc tl_evblock_add_compact(struct tl_evblock_enc *b, const struct tl_event *ev, uint64_t eid_hash,
                                  const void *cbody, size_t clen)
{
    if (!cbody) return TL_EINVAL;
    return add_event(b, ev, eid_hash, cbody, clen);
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

/* The JSON being written back; oom set when memory ran out (as opposed to
 * damaged data). */
struct out {
    struct tl_buf *b;
    int oom;
    int skip; /* walk and check the body, write nothing */
};

static unsigned char *out_reserve(struct out *o, size_t n)
{
    if (tl_buf_reserve(o->b, n + 1)) {
        o->oom = 1;
        return NULL;
    }
    return (unsigned char *)o->b->data + o->b->len;
}

static int out_put(struct out *o, const void *s, size_t n)
{
    if (o->skip) return 1;
    unsigned char *d = out_reserve(o, n);
    if (!d) return 0;
    memcpy(d, s, n);
    o->b->len += n;
    return 1;
}

static int out_quoted(struct out *o, const char *s, size_t n)
{
    if (o->skip) return s != NULL;
    unsigned char *d = s ? out_reserve(o, n + 2) : NULL;
    if (!d) return 0;
    d[0] = '"';
    memcpy(d + 1, s, n);
    d[n + 1] = '"';
    o->b->len += n + 2;
    return 1;
}

/* Bytes of r's next varint-length string (not NUL-terminated), or NULL. */
static const char *get_bytes(struct rd *r, size_t *len)
{
    uint64_t n = get_varint(r);
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p += n;
    *len = (size_t)n;
    return s;
}

/* Decimal text of a TL_CB_V_INT / TL_CB_V_DEC value (dec decimals, or -1). */
static int out_number(struct out *o, int64_t v, int dec)
{
    char d[24];
    int nd = 0;
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    if (m >= 1000000000000000000ULL || dec > TL_CB_DIGITS_MAX)
        return 0; /* more than TL_CB_DIGITS_MAX digits: not written by add */
    if (o->skip) return 1;
    do {
        d[nd++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    while (nd <= dec) d[nd++] = '0'; /* at least one digit before the point */
    unsigned char *w = out_reserve(o, (size_t)nd + 2);
    if (!w) return 0;
    unsigned char *w0 = w;
    if (v < 0) *w++ = '-';
    for (int i = nd - 1; i >= 0; i--) {
        *w++ = (unsigned char)d[i];
        if (i == dec && dec > 0) *w++ = '.';
    }
    o->b->len += (size_t)(w - w0);
    return 1;
}

/* The JSON text of a compact body at r into o->b (reset first); 0 if the
 * body is damaged or memory ran out (o->oom). */
static int expand_body(struct rd *r, const struct tl_event *ev, struct out *o)
{
    if (!o->skip) tl_buf_reset(o->b);
    if (!out_put(o, "{", 1)) return 0;
    for (int first = 1;; first = 0) {
        if (r->p >= r->end) return 0;
        unsigned kc = *r->p++;
        if (kc == TL_CB_K_END) break;
        if (!first && !out_put(o, ",", 1)) return 0;
        if (kc == TL_CB_K_LITERAL) {
            size_t n;
            const char *k = get_bytes(r, &n);
            if (!k || !out_quoted(o, k, n)) return 0;
        } else if (kc - TL_CB_K_DICT < DICT_N) {
            if (!out_quoted(o, dict[kc - TL_CB_K_DICT], strlen(dict[kc - TL_CB_K_DICT]))) return 0;
        } else {
            return 0;
        }
        if (!out_put(o, ":", 1) || r->p >= r->end) return 0;
        unsigned vc = *r->p++;
        const char *s = NULL;
        size_t n = 0;
        char ts[TL_TIME_ISO_LEN + 1];
        int ok;
        switch (vc) {
        case TL_CB_V_STR:
        case TL_CB_V_RAW:
            s = get_bytes(r, &n);
            ok = s && (vc == TL_CB_V_STR ? out_quoted(o, s, n) : out_put(o, s, n));
            break;
        case TL_CB_V_INT:
        case TL_CB_V_DEC: {
            uint64_t z = get_varint(r);
            int dec = -1;
            if (vc == TL_CB_V_DEC) dec = r->p < r->end ? *r->p++ : (r->bad = 1, 0);
            ok = !r->bad && (vc == TL_CB_V_INT || dec > 0) && out_number(o, (int64_t)((z >> 1) ^ (0 - (z & 1))), dec);
            break;
        }
        case TL_CB_V_TS:
            if (!o->skip) tl_time_format_iso(ev->ts_ms, ts);
            ok = out_quoted(o, ts, TL_TIME_ISO_LEN);
            break;
        case TL_CB_V_TYPE:
            s = tl_event_type_str(ev->type);
            ok = out_quoted(o, s, strlen(s));
            break;
        default: {
            const char *fields[4] = {ev->user_id, ev->anonymous_id, ev->item_id, ev->country};
            const char *f = vc >= TL_CB_V_USER && vc <= TL_CB_V_COUNTRY ? fields[vc - TL_CB_V_USER] : NULL;
            ok = f && out_quoted(o, f, strlen(f)); /* NULL: a code for a field the event lacks, or unknown */
        }
        }
        if (!ok) return 0;
    }
    if (!out_put(o, "}", 1)) return 0;
    if (!o->skip) o->b->data[o->b->len] = 0;
    return 1;
}

/* The n events of the payload at r (see tl_evblock_decode). */
static enum tl_rc decode_events(struct rd *r, size_t n, int64_t first_seq, int64_t after_seq, unsigned bodies,
                                struct out *json, tl_evblock_cb cb, void *ctx)
{
    int64_t ts = 0;
    for (size_t i = 0; i < n; i++) {
        if (r->p >= r->end) return TL_ESTORE;
        struct tl_event ev = {
            .seq = first_seq + (int64_t)i, .quantity = NAN, .price = NAN, .dwell_ms = -1, .scroll_depth = NAN};
        unsigned type = *r->p++;
        if (type >= TL_EV_MAX_) return TL_ESTORE;
        ev.type = (enum tl_event_type)type;
        uint64_t shop = get_varint(r);
        uint64_t z = get_varint(r);
        if (r->bad || shop > UINT32_MAX || r->p >= r->end) return TL_ESTORE;
        ev.shop_id = (uint32_t)shop;
        ts = (int64_t)((uint64_t)ts + ((z >> 1) ^ (0 - (z & 1)))); /* un-zigzag */
        ev.ts_ms = ts;
        unsigned flags = *r->p++;
        if (flags & ~(unsigned)(F_USER | F_ANON | F_ITEM | F_COUNTRY | F_COMPACT)) return TL_ESTORE;
        const char **fields[4] = {&ev.user_id, &ev.anonymous_id, &ev.item_id, &ev.country};
        for (int k = 0; k < 4; k++)
            if (flags & (1u << k)) *fields[k] = get_str(r, NULL);
        if (r->bad) return TL_ESTORE;
        int want = (bodies & TL_SCAN_BODY(type)) != 0;
        if (flags & F_COMPACT) {
            json->skip = !want;
            if (!expand_body(r, &ev, json)) return json->oom ? TL_ENOMEM : TL_ESTORE;
            if (want) {
                ev.body = json->b->data;
                ev.body_len = json->b->len;
            }
        } else {
            ev.body = get_str(r, &ev.body_len);
        }
        if (r->bad) return TL_ESTORE;
        if (!want) {
            ev.body = NULL;
            ev.body_len = 0;
        }
        if (ev.seq <= after_seq) continue;
        int stop = cb(ctx, &ev);
        if (stop) return (enum tl_rc)stop;
    }
    return r->p == r->end ? TL_OK : TL_ESTORE;
}

enum tl_rc tl_evblock_decode(const void *frame, size_t frame_len, size_t raw_len, size_t n, int64_t first_seq,
                             int64_t after_seq, unsigned bodies, struct tl_buf *work, tl_evblock_cb cb, void *ctx)
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
    struct tl_buf jb; /* the JSON of a compact body, rewritten for each event */
    tl_buf_init(&jb, 0);
    struct out json = {&jb, 0, 0};
    rc = decode_events(&r, n, first_seq, after_seq, bodies, &json, cb, ctx);
    tl_buf_free(&jb);
    return rc;
}
