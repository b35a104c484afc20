/* The codes of compact event bodies (format in evblock.h) and the
 * primitives that write them, shared by the block encoder (evblock.c, which
 * packs a canonical JSON body) and by the one-pass event parser
 * (ingest/event_fast.c, which writes the compact body of an event straight
 * from its line: tl_evfast_parse_compact). Both must write the same bytes
 * for the same body; the differential test of event_fast checks that.
 *
 * Writers append at a raw pointer: the caller has made room (at most
 * TL_CB_MEMBER_MAX bytes per member beyond its key's and value's bytes). */
#ifndef TL_STORE_EVBLOCK_COMPACT_H
#define TL_STORE_EVBLOCK_COMPACT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Key codes: 0 ends the object, 1 = the key's text follows (varint
 * length, the bytes between its quotes), TL_CB_K_DICT + i = the i-th key of
 * the dictionary below (fixed forever: stored data uses it). */
enum { TL_CB_K_END = 0, TL_CB_K_LITERAL = 1, TL_CB_K_DICT = 2 };
enum tl_cb_dict {
    TL_CB_D_EVENT_ID,
    TL_CB_D_TYPE,
    TL_CB_D_TIMESTAMP,
    TL_CB_D_USER_ID,
    TL_CB_D_ANONYMOUS_ID,
    TL_CB_D_SESSION_ID,
    TL_CB_D_ITEM_ID,
    TL_CB_D_ITEMS,
    TL_CB_D_QUANTITY,
    TL_CB_D_PRICE,
    TL_CB_D_COUNTRY,
    TL_CB_D_QUERY,
    TL_CB_D_CATEGORY,
    TL_CB_D_DWELL_MS,
    TL_CB_D_SCROLL_DEPTH,
    TL_CB_D_ORDER_ID,
    TL_CB_D_CONTEXT,
    TL_CB_D_RECOMMENDATION_ID,
    TL_CB_D_N_
};

/* Value codes. */
enum {
    TL_CB_V_STR = 1, /* varint length, the bytes between the quotes */
    TL_CB_V_RAW,     /* varint length, the JSON text as it is (objects, arrays, literals, other numbers) */
    TL_CB_V_INT,     /* zigzag varint of an integer written -?(0|[1-9][0-9]*), at most 18 digits */
    TL_CB_V_DEC,     /* zigzag varint of the digits, u8 count of decimals: -?(0|[1-9][0-9]*).[0-9]+, <= 18 digits */
    TL_CB_V_TS,      /* "tl_time_format_iso(ts_ms)" of the event */
    TL_CB_V_USER,    /* the event's user_id, quoted (as are the next three) */
    TL_CB_V_ANON,    /* anonymous_id */
    TL_CB_V_ITEM,    /* item_id */
    TL_CB_V_COUNTRY, /* country */
    TL_CB_V_TYPE,    /* tl_event_type_str(type), quoted */
    TL_CB_V_MAX_
};
#define TL_CB_DIGITS_MAX 18 /* 10^18 - 1 < 2^63: the digits of V_INT / V_DEC fit an int64 */
/* Bytes a member can take beyond its key's and its value's text: key code,
 * the key's length, value code, the value's length (varints of 10 bytes at
 * most), a count of decimals. */
#define TL_CB_MEMBER_MAX 24

static inline unsigned char *tl_cb_varint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

/* zigzag(v) = (v << 1) ^ (v >> 63), as a varint */
static inline unsigned char *tl_cb_zigzag(unsigned char *p, int64_t v)
{
    return tl_cb_varint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* varint length, then the bytes (no NUL: the codes delimit). */
static inline unsigned char *tl_cb_text(unsigned char *p, const char *s, size_t n)
{
    p = tl_cb_varint(p, n);
    memcpy(p, s, n);
    return p + n;
}

/* The digits of t[0..n) as -?(0|[1-9][0-9]*)(.[0-9]+)? with at most
 * TL_CB_DIGITS_MAX digits in all: their value (sign applied) and the count
 * of decimals (-1 without a point). 0 if t is not such a number or is a
 * negative zero (which the value cannot keep). */
static inline int tl_cb_plain_number(const char *t, size_t n, int64_t *v, int *decimals)
{
    size_t i = 0;
    int neg = n && t[0] == '-';
    i += (size_t)neg;
    if (i >= n || t[i] < '0' || t[i] > '9' || (t[i] == '0' && i + 1 < n && t[i + 1] != '.')) return 0;
    uint64_t m = 0;
    int nd = 0, dec = -1;
    for (; i < n; i++) {
        char c = t[i];
        if (c == '.' && dec < 0 && i + 1 < n) {
            dec = 0;
            continue;
        }
        if (c < '0' || c > '9' || ++nd > TL_CB_DIGITS_MAX) return 0;
        m = m * 10 + (uint64_t)(c - '0');
        if (dec >= 0) dec++;
    }
    if (neg && m == 0) return 0;
    *v = neg ? -(int64_t)m : (int64_t)m;
    *decimals = dec;
    return 1;
}

/* A value that is not a string: a plain number as V_INT / V_DEC, anything
 * else (literals, objects, arrays, other numbers) as V_RAW text. */
static inline unsigned char *tl_cb_nonstring(unsigned char *p, const char *t, size_t n)
{
    int64_t num;
    int dec;
    if (tl_cb_plain_number(t, n, &num, &dec)) {
        *p++ = dec < 0 ? TL_CB_V_INT : TL_CB_V_DEC;
        p = tl_cb_zigzag(p, num);
        if (dec >= 0) *p++ = (unsigned char)dec;
        return p;
    }
    *p++ = TL_CB_V_RAW;
    return tl_cb_text(p, t, n);
}

#endif
