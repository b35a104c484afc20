/* Fast path for behaviour events (see event_fast.h for the contract and the
 * intended use): a single-pass scanner that validates an ordinary event
 * straight from its JSON text into struct tl_event and can write its
 * canonical stored body in the same pass, a second-walk writer of that body,
 * and a body splitter that finds element boundaries without parsing values.
 * They are optimisations of json_loadb +
 * tl_event_from_json / tl_event_canonical / tl_event_split_body
 * (src/ingest/event.c), which stay the reference: whatever the fast path is unsure of it declines
 * (*handled = 0) and the jansson path decides, with its error messages.
 *
 * Invariants
 * - Accept only a subset of what the jansson path accepts, with identical
 *   results (checked by a differential test over thousands of random and
 *   mutated events: tests/unit/ingest/test_event_fast.c).
 * - The input is not NUL-terminated: every read is bounds-checked against
 *   the end pointer. No allocation except through the caller's tl_buf
 *   (scratch for tl_evfast_parse, out for tl_evfast_canonical, both for
 *   tl_evfast_parse_canonical).
 * - Declining has no effect on *out, scratch->len or the body's len.
 *
 * Algorithm of tl_evfast_parse
 * 1. Scan the top-level object once, left to right. Keys must be plain
 *    strings (no backslash); known keys are recognised by length + memcmp and
 *    remembered in a bitmask (a second occurrence = duplicate -> decline);
 *    unknown keys are kept in a list of at most 16 for the duplicate check.
 * 2. Values of known scalar fields are recorded as tokens (string span
 *    without escapes, integer, real, true/false/null); "items" is parsed
 *    into lines_buf as it is met (strings / integers / flat line objects);
 *    "context" and unknown fields are validated by a recursive JSON
 *    validator (depth <= 32, <= 64 keys per object, keys without escapes,
 *    duplicate keys rejected) and not kept.
 * 3. Then the rules of tl_event_from_json are applied to the recorded tokens
 *    (type, timestamp bounds, ids, per-type requirements, numbers, texts,
 *    lines) and the used strings are copied NUL-terminated into scratch.
 * JSON grammar as jansson 2.14 implements it: whitespace = space, tab, CR,
 * LF; strict UTF-8 (no overlong forms, no surrogates, <= U+10FFFF); no raw
 * control character (< 0x20) in strings; escapes \" \\ \/ \b \f \n \r \t
 * \uXXXX with paired surrogates and no \u0000; numbers -?(0|[1-9]d*)(.d+)?
 * ([eE][+-]?d+)?, an integer when it has neither '.' nor exponent and must
 * fit int64 (strtoll), a real must not overflow (strtod gives HUGE_VAL).
 * Reals: a decimal without exponent of at most 15 significant digits m is
 * m / 10^k computed in double (m < 2^53 and 10^k <= 10^15 are exact, so the
 * one division is correctly rounded, like glibc strtod: Clinger's fast
 * path); anything else goes through strtod on a NUL-terminated copy of at
 * most 63 bytes (longer numbers are declined when their value is needed).
 * Scratch: every copied string comes from a distinct value token followed by
 * at least one delimiter byte, so one parse copies at most len bytes
 * including terminators; len + TL_EVFAST_SCRATCH_SLACK is reserved up front.
 *
 * Algorithm of tl_evfast_canonical
 * Re-walk the accepted text and write it compactly (jansson's JSON_COMPACT
 * dump keeps insertion order, and in-place replacements keep a key's place;
 * source bytes that stay as they are merge into runs, so a compact event
 * with nothing to rewrite is copied by one memcpy):
 * strings without escapes are copied as they are (jansson escapes only '"',
 * '\\' and control characters, which such strings cannot contain; a string
 * with an escape anywhere -> not handled), integers as they are except "-0"
 * -> "0", reals per real_text ("%.15g" like jansson's jsonp_dtostr, or the
 * token itself less the trailing zeros of its fraction when that provably
 * prints the same), ids sent as integers
 * quoted, "country" = ev->country, "timestamp" = tl_time_format(ev->ts_ms)
 * in place or appended last when absent.
 *
 * Algorithm of tl_evfast_parse_canonical (one pass)
 * The scanner of tl_evfast_parse with a writer hooked in (struct fw): the
 * source is pending from `from` up to the scan position and is copied as it
 * is, except where a hook cuts it: whitespace between tokens (dropped),
 * numbers per num_text (the rules of the second walk above, one function for
 * both), integer ids of the id fields quoted, "timestamp" and "country" as
 * above, ",\"timestamp\":..." inserted before the final '}' when absent.
 * What makes the second walk decline stops the writer: a string with an
 * escape in context / unknown fields (the only place the scanner accepts
 * one), a long real there whose value the walk reads and cannot (w_number),
 * an append error; the scan still decides valid / invalid, and the result
 * is "not handled" (rc = the append error if any), as the two calls end.
 * Integer item ids of "items" are strings only for line types: when "items"
 * comes before "type" they are written as they are and, if the type turns
 * out to be a line type, the body is rewritten by the second walk (rare:
 * senders put "type" first).
 *
 * Algorithm of tl_evfast_split
 * BOM and blanks are skipped; '[' -> elements separated by ',' up to ']'
 * followed by blanks only; '{' -> one object, or NDJSON when a second object
 * starts on a later line (then no object may contain a newline, and no two
 * objects may share a line). Each element is delimited by a bracket stack
 * (bit stack, <= 64 levels, '{' must close with '}' and '[' with ']'),
 * skipping strings (a backslash skips the next byte; 8 bytes at a time
 * while none is a quote or a backslash). Only JSON blanks may appear
 * between elements. A raw control byte inside a string is not checked
 * here: the element is then malformed and fails to parse later. */
#include "ingest/event_fast.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "ingest/event.h"
#include "store/evblock_compact.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define QTY_MAX 1e9           /* as in event.c */
#define VALIDATE_DEPTH_MAX 32 /* nesting accepted inside context / unknown fields */
#define OBJECT_KEYS_MAX 64    /* keys per nested object (duplicate check) */
#define UNKNOWN_KEYS_MAX 16   /* unknown keys per event / per line object */
#define NUM_TEXT_MAX 64       /* bytes of a number handed to strtod, with NUL */
#define TS_TEXT_MAX 64        /* bytes of a timestamp string, with NUL */
#define SPLIT_DEPTH_MAX 64    /* bracket nesting in tl_evfast_split */

/* ---------- character classes ---------- */

enum { C_PLAIN = 0, C_QUOTE, C_BSLASH, C_CTL, C_DEL, C_HIGH };

/* class of each byte inside a JSON string */
/* clang-format off */
static const unsigned char str_class[256] = { /* 16 bytes per row */
    C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL,
    C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL, C_CTL,
    0, 0, C_QUOTE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, C_BSLASH, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, C_DEL,
    C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH,
    C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH,
    C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH,
    C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH,
    C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH,
    C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH,
    C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH,
    C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH, C_HIGH,
};
/* clang-format on */

static int is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* ---------- body output ---------- */

/* Appends to a canonical body: the NUL is written once at the end. */
struct bout {
    struct tl_buf *b;
    enum tl_rc rc; /* first append error */
};

/* Append without the NUL; grows through tl_buf_reserve only when the room
 * reserved up front is used up. */
static int raw_put(struct bout *o, const void *p, size_t n)
{
    struct tl_buf *b = o->b;
    if (b->cap - b->len <= n && (o->rc || (o->rc = tl_buf_reserve(b, n)) != TL_OK)) return 0;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 1;
}

/* The body writer of tl_evfast_parse_canonical, driven by the scanner: the
 * source is copied as it is except where a hook cuts it (whitespace between
 * tokens, a token written another way); bytes from `from` up to the scan
 * position are pending, so a compact event with nothing to rewrite is one
 * memcpy at the end. */
struct fw {
    struct bout o;
    const unsigned char *from; /* first source byte not yet copied or cut */
    int stopped;               /* cannot write this body (escape, append error) */
};

/* ---------- token scanning ---------- */

struct scan {
    const unsigned char *p, *end;
    struct fw *fw; /* body writer of the one-pass function, NULL when not writing */
};

/* Writing is abandoned for this body; the scan goes on to decide the rest. */
static void w_stop(struct scan *s)
{
    s->fw->stopped = 1;
    s->fw = NULL;
}

/* Source bytes [a, z) go to the body as r[0..n) (n = 0: dropped): the
 * pending source before a is copied first, copying resumes at z. */
static void w_cut(struct scan *s, const unsigned char *a, const unsigned char *z, const char *r, size_t n)
{
    struct fw *w = s->fw;
    if ((a > w->from && !raw_put(&w->o, w->from, (size_t)(a - w->from))) || (n && !raw_put(&w->o, r, n))) {
        w_stop(s);
        return;
    }
    w->from = z;
}

static void skip_ws_run(struct scan *s)
{
    const unsigned char *a = s->p;
    while (s->p < s->end && is_ws(*s->p)) s->p++;
    if (s->fw) w_cut(s, a, s->p, NULL, 0); /* the canonical body is compact */
}

static inline void skip_ws(struct scan *s)
{
    if (s->p < s->end && is_ws(*s->p)) skip_ws_run(s);
}

/* SWAR over 8 bytes (little or big endian: only "any byte" is asked):
 * nonzero when some byte of x is < 0x20, '"', '\\' or >= 0x7f, i.e. not a
 * plain string byte. hasless(x, n) = (x - 0x01..*n) & ~x & 0x80.. flags a
 * byte < n (n <= 128); haszero(x ^ c) flags a byte equal to c. */
#define SW_ONES 0x0101010101010101ULL
#define SW_HIGH 0x8080808080808080ULL
static inline uint64_t sw_zero(uint64_t x) { return (x - SW_ONES) & ~x & SW_HIGH; }
/* Byte offset of the first flagged byte of a nonzero SWAR mask (the lowest
 * flag of these tests is always a true one; higher ones may be false). On a
 * big-endian machine: 0, and the byte loop that follows finds it. */
static inline size_t sw_first(uint64_t m)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (size_t)__builtin_ctzll(m) >> 3;
#else
    (void)m;
    return 0;
#endif
}
static inline uint64_t sw_special(uint64_t x)
{
    return ((x - SW_ONES * 0x20) & ~x & SW_HIGH) | (x & SW_HIGH) | sw_zero(x ^ (SW_ONES * '"')) |
           sw_zero(x ^ (SW_ONES * '\\')) | sw_zero(x ^ (SW_ONES * 0x7f));
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if
 * invalid; *c1 = 1 when it encodes a C1 control (U+0080..U+009F). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end, int *c1)
{
    unsigned char u = p[0];
    size_t n;
    uint32_t v;
    if (u >= 0xc2 && u <= 0xdf) {
        n = 2;
        v = u & 0x1f;
    } else if (u >= 0xe0 && u <= 0xef) {
        n = 3;
        v = u & 0x0f;
    } else if (u >= 0xf0 && u <= 0xf4) {
        n = 4;
        v = u & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000)) return 0; /* n == 2: lead >= 0xc2 */
    *c1 = n == 2 && v <= 0x9f;
    return n;
}

/* Read \uXXXX at p (p[0] == '\\'); -1 when not 6 bytes of that form. */
static long uescape(const unsigned char *p, const unsigned char *end)
{
    if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Validate the escape at p (p[0] == '\\'); returns the position after it or
 * NULL when jansson would reject it. */
static const unsigned char *scan_escape(const unsigned char *p, const unsigned char *end)
{
    if (end - p < 2) return NULL;
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return p + 2;
    case 'u': {
        long v = uescape(p, end);
        if (v <= 0) return NULL; /* malformed, or \u0000 (NUL not allowed) */
        if (v >= 0xdc00 && v <= 0xdfff) return NULL;
        if (v >= 0xd800 && v <= 0xdbff) {
            long v2 = uescape(p + 6, end);
            if (v2 < 0xdc00 || v2 > 0xdfff) return NULL;
            return p + 12;
        }
        return p + 6;
    }
    default:
        return NULL;
    }
}

#define STR_ESC 1u /* had a backslash escape (only when allowed) */
#define STR_CTL 2u /* contains DEL or a C1 control (find_control in event.c) */

/* String token at s->p (which is '"'). On success (*str, *n) is the raw text
 * between the quotes, *flags STR_*, and s->p is after the closing quote.
 * Escapes are declined unless allow_esc. Returns 0 on anything invalid. */
static int scan_string(struct scan *s, int allow_esc, const char **str, size_t *n, unsigned *flags)
{
    const unsigned char *p = s->p + 1, *end = s->end, *start = p;
    unsigned fl = 0;
    for (;;) {
#ifdef __SSE2__
        /* 16 bytes at a time where SSE2 is there (any x86-64): a byte is
         * special when it is '"', '\\', DEL or, as a signed byte, below
         * 0x20 (the controls, and every byte >= 0x80) */
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i sp = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)), _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))));
            unsigned m = (unsigned)_mm_movemask_epi8(sp);
            if (m) {
                p += __builtin_ctz(m);
                goto special;
            }
            p += 16;
        }
#endif
        while (end - p >= 8) { /* 8 plain bytes at a time */
            uint64_t x, m;
            memcpy(&x, p, 8);
            if ((m = sw_special(x))) {
                p += sw_first(m);
                break;
            }
            p += 8;
        }
        while (p < end && str_class[*p] == C_PLAIN) p++;
        if (p >= end) return 0;
#ifdef __SSE2__
    special:
#endif
        switch (str_class[*p]) {
        case C_QUOTE:
            *str = (const char *)start;
            *n = (size_t)(p - start);
            *flags = fl;
            s->p = p + 1;
            return 1;
        case C_BSLASH:
            if (!allow_esc) return 0;
            fl |= STR_ESC;
            p = scan_escape(p, end);
            if (!p) return 0;
            break;
        case C_DEL:
            fl |= STR_CTL;
            p++;
            break;
        case C_HIGH: {
            int c1 = 0;
            size_t k = utf8_seq(p, end, &c1);
            if (!k) return 0;
            if (c1) fl |= STR_CTL;
            p += k;
            break;
        }
        default: /* raw control character */
            return 0;
        }
    }
}

enum vkind { V_NULL = 1, V_STR, V_INT, V_REAL, V_TRUE, V_FALSE };

struct val {
    unsigned char kind;
    unsigned char ctl; /* V_STR: DEL / C1 present */
    const char *s;     /* V_STR content; numbers: token text */
    size_t n;
    int64_t i; /* V_INT */
    double d;  /* V_INT and V_REAL */
};

static const double pow10_tab[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* Number token at s->p ('-' or a digit). need = the value of a real is
 * wanted (otherwise a real is only checked for overflow when it could). */
static int scan_number(struct scan *s, struct val *v, int need)
{
    const unsigned char *p = s->p, *end = s->end, *start = p;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end) return 0;
    const unsigned char *ip = p;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) return 0; /* leading zero */
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && is_digit(*p)) p++;
    } else {
        return 0;
    }
    size_t nint = (size_t)(p - ip), nfrac = 0;
    const unsigned char *fp = NULL;
    int real = 0, exp = 0;
    if (p < end && *p == '.') {
        p++;
        fp = p;
        while (p < end && is_digit(*p)) p++;
        nfrac = (size_t)(p - fp);
        if (!nfrac) return 0;
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const unsigned char *ep = p;
        while (p < end && is_digit(*p)) p++;
        if (p == ep) return 0;
        real = exp = 1;
    }
    s->p = p;
    v->s = (const char *)start;
    v->n = (size_t)(p - start);
    if (!real) {
        if (nint > 19) return 0; /* >= 1e19: outside int64, jansson rejects */
        uint64_t u = 0;
        for (size_t k = 0; k < nint; k++) u = u * 10 + (uint64_t)(ip[k] - '0');
        if (neg) {
            if (u > (uint64_t)INT64_MAX + 1) return 0;
            v->i = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
        } else {
            if (u > (uint64_t)INT64_MAX) return 0;
            v->i = (int64_t)u;
        }
        v->kind = V_INT;
        v->d = (double)v->i;
        return 1;
    }
    v->kind = V_REAL;
    if (!need && !exp && nint <= 300) return 1; /* < 1e300: cannot overflow */
    if (!exp && nint + nfrac <= 15) {
        uint64_t m = 0;
        for (size_t k = 0; k < nint; k++) m = m * 10 + (uint64_t)(ip[k] - '0');
        for (size_t k = 0; k < nfrac; k++) m = m * 10 + (uint64_t)(fp[k] - '0');
        double d = (double)m / pow10_tab[nfrac];
        v->d = neg ? -d : d;
        return 1;
    }
    char buf[NUM_TEXT_MAX];
    if (v->n >= sizeof buf) return 0;
    memcpy(buf, start, v->n);
    buf[v->n] = '\0';
    char *e;
    errno = 0;
    double d = strtod(buf, &e);
    if (e != buf + v->n) return 0; /* e.g. a locale with another decimal point */
    if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE) return 0;
    v->d = d;
    return 1;
}

static int scan_literal(struct scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return 0;
    s->p += n;
    return 1;
}

/* A scalar value of a known field: string without escapes, number,
 * true/false/null. Objects and arrays are declined (always a type error). */
static int scan_scalar(struct scan *s, struct val *v)
{
    if (s->p >= s->end) return 0;
    unsigned fl;
    switch (*s->p) {
    case '"':
        if (!scan_string(s, 0, &v->s, &v->n, &fl)) return 0;
        v->kind = V_STR;
        v->ctl = (fl & STR_CTL) != 0;
        return 1;
    case 't':
        v->kind = V_TRUE;
        return scan_literal(s, "true", 4);
    case 'f':
        v->kind = V_FALSE;
        return scan_literal(s, "false", 5);
    case 'n':
        v->kind = V_NULL;
        return scan_literal(s, "null", 4);
    default:
        if (*s->p == '-' || is_digit(*s->p)) return scan_number(s, v, 1);
        return 0;
    }
}

/* ---------- canonical forms of values (shared by both body writers) ---------- */

#define NUM_OUT_MAX 48 /* a number as written in a body: "%.15g" + ".0", or a quoted int64 */
#define TS_OUT_MAX 48  /* a quoted tl_time_format string */

/* A real as jansson dumps it with JSON_REAL_PRECISION(15) (jsonp_dtostr:
 * "%.15g", ".0" appended when there is neither '.' nor 'e', '+' and leading
 * zeros removed from the exponent) into buf[NUM_OUT_MAX]: its length, 0 when
 * the token itself is that text, -1 on failure. Shortcut: a token d+.d+
 * without exponent that has, once the trailing zeros of its fraction are
 * dropped, at most 15 significant digits and a value >= 1e-4 prints as
 * itself less those zeros ("48.80" -> "48.8", "48.00" -> "48.0"): 15 digits
 * round-trip a decimal of at most 15 significant digits, %g strips trailing
 * zeros, fixed notation applies for exponents -4..14. v->d must be set
 * (need = 1). */
static int real_text(const struct val *v, char *buf)
{
    const char *t = v->s, *e = v->s + v->n, *p = t;
    if (*p == '-') p++;
    const char *dot = memchr(p, '.', (size_t)(e - p));
    if (dot && !memchr(dot, 'e', (size_t)(e - dot)) && !memchr(dot, 'E', (size_t)(e - dot))) {
        const char *end = e; /* less the fraction's trailing zeros, which %g drops (the '.' stops it) */
        while (end[-1] == '0') end--;
        size_t lead = 0, digits = 0; /* leading zeros, significant digits */
        for (const char *q = p; q < end; q++) {
            if (*q == '.') continue;
            if (digits == 0 && *q == '0')
                lead++;
            else
                digits++;
        }
        /* value >= 1e-4: at most 3 zeros after "0." before the first digit */
        if (digits <= 15 && (dot - p > 1 || *p != '0' || lead <= 4)) {
            if (end == e) return 0;
            size_t n = (size_t)(end - t); /* <= 1 + 4 + 15 + 1: "-", "0.000", digits, "." */
            memcpy(buf, t, n);
            if (end[-1] == '.') buf[n++] = '0'; /* "48.00" -> "48.0", as "%.15g" "48" + ".0" */
            return (int)n;
        }
    }
    int n = snprintf(buf, NUM_OUT_MAX, "%.15g", v->d);
    if (n < 0 || n >= NUM_OUT_MAX - 3) return -1;
    size_t len = (size_t)n;
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + len, ".0", 3);
        len += 2;
    }
    char *start = strchr(buf, 'e');
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-') start++;
        while (*end == '0') end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - buf) + 1);
            len -= (size_t)(end - start);
        }
    }
    return (int)len;
}

/* A number token (scanned with need = 1) as tl_event_canonical writes it,
 * into buf[NUM_OUT_MAX]: reals per real_text; integers as they are except
 * "-0" -> 0; quote_int: an integer as a string (ids normalised by
 * tl_event_from_json). Returns the length, 0 when the token stays as it is,
 * -1 on failure. */
static int num_text(const struct val *v, int quote_int, char *buf)
{
    if (v->kind == V_REAL) return real_text(v, buf);
    size_t n = 0;
    if (quote_int) buf[n++] = '"';
    if (v->i == 0 && v->n != 1) { /* "-0" */
        buf[n++] = '0';
    } else {
        if (!quote_int) return 0;
        memcpy(buf + n, v->s, v->n); /* <= 20 bytes: nint <= 19 */
        n += v->n;
    }
    if (quote_int) buf[n++] = '"';
    return (int)n;
}

/* One-pass hook for a number token v: rewritten in the body when num_text
 * says so. real_known = v->d was computed (scanned with need = 1); otherwise
 * it is now, as the second walk would: that can fail for a long real that
 * validation alone accepts, and then this body is not written. */
static void w_number(struct scan *s, struct val *v, int quote_int, int real_known)
{
    const unsigned char *a = (const unsigned char *)v->s;
    if (v->kind == V_REAL && !real_known) {
        struct scan t = {a, a + v->n, NULL};
        if (!scan_number(&t, v, 1)) {
            w_stop(s);
            return;
        }
    }
    char buf[NUM_OUT_MAX];
    int n = num_text(v, quote_int, buf);
    if (n < 0)
        w_stop(s);
    else if (n)
        w_cut(s, a, a + v->n, buf, (size_t)n);
}

/* A timestamp string already in tl_time_format's form
 * YYYY-MM-DDTHH:MM:SS.mmmZ: when it parsed to ts_ms, formatting ts_ms gives
 * it back (with seconds <= 59), so the sender's bytes can be kept. */
static int ts_is_canonical(const struct val *v)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (v->kind != V_STR || v->n != sizeof pat - 1 || v->s[17] > '5') return 0;
    for (size_t i = 0; i < v->n; i++)
        if (pat[i] == 'd' ? !is_digit((unsigned char)v->s[i]) : v->s[i] != pat[i]) return 0;
    return 1;
}

/* "\"" tl_time_format(ts_ms) "\"" into buf[TS_OUT_MAX]; returns the length. */
static size_t ts_quoted(int64_t ts_ms, char *buf)
{
    buf[0] = '"';
    tl_time_format(ts_ms, buf + 1, TS_OUT_MAX - 2);
    size_t n = strlen(buf);
    buf[n] = '"';
    return n + 1;
}

/* A country code as tl_event_from_json takes it: 2 ASCII letters, written
 * upper case into up[0..2). 0 if it is not one. */
static int country_upper(const struct val *v, char *up)
{
    if (v->kind != V_STR || v->n != 2) return 0;
    for (int i = 0; i < 2; i++) {
        unsigned char c = (unsigned char)v->s[i];
        if (c >= 'a' && c <= 'z') c = (unsigned char)(c - 'a' + 'A');
        if (c < 'A' || c > 'Z') return 0;
        up[i] = (char)c;
    }
    return 1;
}

/* ---------- generic validation (context, unknown fields) ---------- */

struct key {
    const char *s;
    size_t n;
};

static int key_seen(const struct key *keys, size_t nk, const char *k, size_t n)
{
    for (size_t i = 0; i < nk; i++)
        if (keys[i].n == n && memcmp(keys[i].s, k, n) == 0) return 1;
    return 0;
}

static int skip_value(struct scan *s, int depth);

static int skip_object(struct scan *s, int depth)
{
    if (depth > VALIDATE_DEPTH_MAX) return 0;
    struct key keys[OBJECT_KEYS_MAX];
    size_t nk = 0;
    s->p++; /* '{' */
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 1;
    }
    for (;;) {
        const char *k;
        size_t n;
        unsigned fl;
        if (s->p >= s->end || *s->p != '"' || !scan_string(s, 0, &k, &n, &fl)) return 0;
        if (nk == OBJECT_KEYS_MAX || key_seen(keys, nk, k, n)) return 0;
        keys[nk].s = k;
        keys[nk++].n = n;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':') return 0;
        s->p++;
        skip_ws(s);
        if (!skip_value(s, depth)) return 0;
        skip_ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == '}') {
            s->p++;
            return 1;
        }
        if (*s->p != ',') return 0;
        s->p++;
        skip_ws(s);
    }
}

static int skip_array(struct scan *s, int depth)
{
    if (depth > VALIDATE_DEPTH_MAX) return 0;
    s->p++; /* '[' */
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 1;
    }
    for (;;) {
        if (!skip_value(s, depth)) return 0;
        skip_ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == ']') {
            s->p++;
            return 1;
        }
        if (*s->p != ',') return 0;
        s->p++;
        skip_ws(s);
    }
}

/* Validate any JSON value at s->p (after whitespace) without keeping it.
 * One-pass hooks: a string with an escape stops the body (jansson would
 * re-escape it), numbers are written in canonical form. */
static int skip_value(struct scan *s, int depth)
{
    if (s->p >= s->end) return 0;
    const char *str;
    size_t n;
    unsigned fl;
    struct val v;
    switch (*s->p) {
    case '"':
        if (!scan_string(s, 1, &str, &n, &fl)) return 0;
        if ((fl & STR_ESC) && s->fw) w_stop(s);
        return 1;
    case '{':
        return skip_object(s, depth + 1);
    case '[':
        return skip_array(s, depth + 1);
    case 't':
        return scan_literal(s, "true", 4);
    case 'f':
        return scan_literal(s, "false", 5);
    case 'n':
        return scan_literal(s, "null", 4);
    default:
        if (!(*s->p == '-' || is_digit(*s->p)) || !scan_number(s, &v, 0)) return 0;
        if (s->fw) w_number(s, &v, 0, 0);
        return 1;
    }
}

/* ---------- the event ---------- */

enum field {
    F_TYPE,
    F_TIMESTAMP,
    F_USER,
    F_ANON,
    F_SESSION,
    F_EVENT_ID,
    F_ITEM,
    F_QTY,
    F_PRICE,
    F_QUERY,
    F_CATEGORY,
    F_COUNTRY,
    F_ORDER,
    F_RECO,
    F_DWELL,
    F_SCROLL,
    F_CONTEXT,
    F_ITEMS,
    F_COUNT_
};

static int field_of(const char *k, size_t n)
{
#define KEY(str, id)                                                                                                   \
    if (memcmp(k, str, sizeof str - 1) == 0) return id
    switch (n) {
    case 4:
        KEY("type", F_TYPE);
        break;
    case 5:
        KEY("price", F_PRICE);
        KEY("items", F_ITEMS);
        KEY("query", F_QUERY);
        break;
    case 7:
        KEY("item_id", F_ITEM);
        KEY("user_id", F_USER);
        KEY("country", F_COUNTRY);
        KEY("context", F_CONTEXT);
        break;
    case 8:
        KEY("event_id", F_EVENT_ID);
        KEY("quantity", F_QTY);
        KEY("dwell_ms", F_DWELL);
        KEY("order_id", F_ORDER);
        KEY("category", F_CATEGORY);
        break;
    case 9:
        KEY("timestamp", F_TIMESTAMP);
        break;
    case 10:
        KEY("session_id", F_SESSION);
        break;
    case 12:
        KEY("anonymous_id", F_ANON);
        KEY("scroll_depth", F_SCROLL);
        break;
    case 17:
        KEY("recommendation_id", F_RECO);
        break;
    default:
        break;
    }
#undef KEY
    return -1;
}

static enum tl_event_type type_of(const char *s, size_t n)
{
    static const struct {
        const char *name;
        size_t len;
        enum tl_event_type type;
    } types[] = {
#define TL_EV_ROW(name, val, str) {str, sizeof str - 1, name},
        TL_EVENT_TYPES(TL_EV_ROW)
#undef TL_EV_ROW
    };
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        if (types[t].len == n && memcmp(types[t].name, s, n) == 0) return types[t].type;
    return TL_EV_NONE;
}

struct evscan {
    struct scan s;
    char *w, *wend; /* scratch cursor and the end of the reserved room */
    struct val f[F_COUNT_];
    unsigned seen;           /* bit per enum field: key present */
    enum tl_event_type type; /* of a "type" string met so far, else TL_EV_NONE */
    int64_t now_ms;
    int64_t ts; /* "timestamp" string parsed (ts_have) */
    int ts_have;
    int redo;              /* one-pass: an integer item id was written before "type" was known */
    struct tl_line *lines; /* lines_buf */
    size_t lines_max;      /* min(lines_cap, TL_EVENT_LINES_MAX), 0 without buffer */
    size_t n_lines;
    int items_present; /* "items" is an array (possibly empty) */
    int items_scalar;  /* some element is a bare id (impressions only) */
    int items_noprice; /* some line has no price (not a purchase) */
    /* tl_evfast_parse_compact: the compact body (NULL when not written or
     * given up), and the body writer, which runs only over the values the
     * compact body takes from their canonical text, into body from bmark */
    struct tl_buf *cb;
    struct fw *cw;
    size_t bmark;
};

/* NUL-terminated copy of s[0..n) in scratch; NULL if no room (cannot happen
 * within the reserve, see the header comment; checked anyway). */
static const char *sdup(struct evscan *e, const char *s, size_t n)
{
    if ((size_t)(e->wend - e->w) < n + 1) return NULL;
    char *d = e->w;
    memcpy(d, s, n);
    d[n] = '\0';
    e->w += n + 1;
    return d;
}

/* An id value as tl_event_field_id checks it: string of 1..max bytes
 * without control characters, or (allow_int) a JSON integer as its decimal
 * string. v == NULL or V_NULL: absent, *out = NULL. Returns 0 if invalid. */
static int take_id(struct evscan *e, const struct val *v, size_t max, int allow_int, const char **out)
{
    *out = NULL;
    if (!v || v->kind == V_NULL) return 1;
    if (v->kind == V_INT && allow_int) {
        /* the token is already the canonical decimal form (no '+', no
         * leading zero), except "-0" which is the integer 0 */
        *out = v->i == 0 ? sdup(e, "0", 1) : sdup(e, v->s, v->n);
        return *out != NULL;
    }
    if (v->kind != V_STR || v->n == 0 || v->n > max || v->ctl) return 0;
    *out = sdup(e, v->s, v->n);
    return *out != NULL;
}

/* A text as tl_event_field_text checks it (no newlines allowed). */
static int take_text(struct evscan *e, const struct val *v, size_t max, int required, const char **out)
{
    *out = NULL;
    if (!v || v->kind == V_NULL) return !required;
    if (v->kind != V_STR || v->n > max || v->ctl) return 0;
    if (v->n == 0) return !required;
    *out = sdup(e, v->s, v->n);
    return *out != NULL;
}

static const struct val *field(const struct evscan *e, enum field f)
{
    if (!(e->seen & (1u << f)) || e->f[f].kind == V_NULL) return NULL;
    return &e->f[f];
}

static int is_number(const struct val *v) { return v->kind == V_INT || v->kind == V_REAL; }

/* Types whose "items" become lines (and whose canonical body has the
 * integer item ids of "items" as strings). */
static int has_lines(enum tl_event_type t)
{
    return t == TL_EV_PURCHASE || t == TL_EV_RETURN || t == TL_EV_CHECKOUT_START || t == TL_EV_REC_IMPRESSION;
}

/* The value of a "timestamp" field: an integer as it is, a string through
 * tl_time_parse (once: the one-pass hook and build_event both ask). */
static int ts_value(struct evscan *e, const struct val *v, int64_t *ts)
{
    if (v->kind == V_INT) {
        *ts = v->i;
        return 1;
    }
    if (v->kind != V_STR) return 0;
    if (!e->ts_have) {
        char buf[TS_TEXT_MAX];
        if (v->n >= sizeof buf) return 0;
        memcpy(buf, v->s, v->n);
        buf[v->n] = '\0';
        if (tl_time_parse(buf, &e->ts) != TL_OK) return 0;
        e->ts_have = 1;
    }
    *ts = e->ts;
    return 1;
}

/* One-pass hook for an integer item id in "items" (bare = an element of
 * the array, else the item_id of a line object): a string in the body of a
 * line type (bare ones only for impressions, the only line type that
 * accepts them). Before "type" is known it is written as it is and redo is
 * set: the body is then rewritten once the type is known. */
static void w_item_id(struct evscan *e, struct val *v, int bare)
{
    int quote = 0;
    if (e->type == TL_EV_NONE)
        e->redo = 1;
    else
        quote = bare ? e->type == TL_EV_REC_IMPRESSION : has_lines(e->type);
    w_number(&e->s, v, quote, 1);
}

/* The id fields whose integers are strings in the body (and in the event). */
static int is_quoted_id(int f) { return f == F_USER || f == F_ANON || f == F_SESSION || f == F_ITEM || f == F_ORDER; }

/* One-pass hook for the scalar value of a known top-level field f, whose
 * token started at q: "timestamp" as tl_time_format(ts_ms) unless already in
 * that form, "country" upper case, integer ids as strings, numbers in
 * canonical form (build_event declines every other kind of these fields). */
static void w_field(struct evscan *e, int f, const unsigned char *q)
{
    struct scan *s = &e->s;
    struct val *v = &e->f[f];
    if (f == F_TIMESTAMP) {
        if (ts_is_canonical(v)) return;
        int64_t ts = e->now_ms; /* null: absent */
        if (v->kind != V_NULL && !ts_value(e, v, &ts)) {
            w_stop(s);
            return;
        }
        char buf[TS_OUT_MAX];
        w_cut(s, q, s->p, buf, ts_quoted(ts, buf));
    } else if (f == F_COUNTRY) {
        char up[4] = {'"', 0, 0, '"'};
        if (v->kind == V_NULL) return;
        if (!country_upper(v, up + 1)) {
            w_stop(s);
            return;
        }
        if (memcmp(up + 1, v->s, 2) != 0) w_cut(s, q, s->p, up, 4);
    } else if (is_number(v)) {
        w_number(s, v, is_quoted_id(f), 1);
    }
}

/* ---------- compact body (tl_evfast_parse_compact) ----------
 * Member by member, the bytes that the block encoder's compact_body
 * (store/evblock.c) writes for the canonical body, from what the scan
 * knows: the key's dictionary code from its field, the event's own
 * type / timestamp / ids / country as one-byte references (build_event
 * copies them from these very tokens), strings as they are, numbers from
 * their canonical text (num_text). "items", "context" and unknown fields
 * are taken from their canonical text: the body writer runs over those
 * values only (cb_begin, cb_finish), so no canonical body is written
 * otherwise. Any value this does not know how to write gives the compact
 * body up (e->cb = NULL): the event is then parsed again the canonical way
 * and its JSON body packed by the block encoder as before. */

/* Dictionary index (evblock_compact.h) of each known field. */
static const unsigned char field_dict[F_COUNT_] = {
    [F_TYPE] = TL_CB_D_TYPE,           [F_TIMESTAMP] = TL_CB_D_TIMESTAMP,    [F_USER] = TL_CB_D_USER_ID,
    [F_ANON] = TL_CB_D_ANONYMOUS_ID,   [F_SESSION] = TL_CB_D_SESSION_ID,     [F_EVENT_ID] = TL_CB_D_EVENT_ID,
    [F_ITEM] = TL_CB_D_ITEM_ID,        [F_QTY] = TL_CB_D_QUANTITY,           [F_PRICE] = TL_CB_D_PRICE,
    [F_QUERY] = TL_CB_D_QUERY,         [F_CATEGORY] = TL_CB_D_CATEGORY,      [F_COUNTRY] = TL_CB_D_COUNTRY,
    [F_ORDER] = TL_CB_D_ORDER_ID,      [F_RECO] = TL_CB_D_RECOMMENDATION_ID, [F_DWELL] = TL_CB_D_DWELL_MS,
    [F_SCROLL] = TL_CB_D_SCROLL_DEPTH, [F_CONTEXT] = TL_CB_D_CONTEXT,        [F_ITEMS] = TL_CB_D_ITEMS};

/* Room for a member with n bytes of key and value text; NULL (given up)
 * when the buffer cannot grow. */
static unsigned char *cb_room(struct evscan *e, size_t n)
{
    struct tl_buf *b = e->cb;
    if (b->cap - b->len <= n + TL_CB_MEMBER_MAX && tl_buf_reserve(b, n + TL_CB_MEMBER_MAX) != TL_OK) {
        e->cb = NULL;
        return NULL;
    }
    return (unsigned char *)b->data + b->len;
}

static void cb_end(struct evscan *e, unsigned char *p) { e->cb->len = (size_t)(p - (unsigned char *)e->cb->data); }

static unsigned char *cb_null(unsigned char *p)
{
    *p++ = TL_CB_V_RAW;
    return tl_cb_text(p, "null", 4);
}

/* The member of the known scalar field f just scanned. */
static void cb_scalar(struct evscan *e, int f)
{
    const struct val *v = &e->f[f];
    char num[NUM_OUT_MAX];
    int nnum = is_number(v) ? num_text(v, is_quoted_id(f), num) : 0; /* 0: the token itself */
    unsigned char *p = cb_room(e, v->kind == V_STR ? v->n : NUM_OUT_MAX);
    if (!p) return;
    *p++ = (unsigned char)(TL_CB_K_DICT + field_dict[f]);
    int str = v->kind == V_STR, null = v->kind == V_NULL;
    switch (f) {
    case F_TYPE: /* type_of matched the text exactly: tl_event_type_str's */
        if (!str || e->type == TL_EV_NONE) goto off;
        *p++ = TL_CB_V_TYPE;
        break;
    case F_TIMESTAMP:
        /* the body has the text when ts_is_canonical, else tl_time_format(ts_ms)
         * (now_ms for null): both tl_time_format_iso of the event's ts_ms, which
         * build_event keeps within 2000 .. now + 24 h */
        if (!str && !null && v->kind != V_INT) goto off;
        *p++ = TL_CB_V_TS;
        break;
    case F_USER:
    case F_ANON:
    case F_ITEM: /* the event's own id, whether sent as a string or as an integer */
        if (str || v->kind == V_INT)
            *p++ = (unsigned char)(f == F_USER ? TL_CB_V_USER : f == F_ANON ? TL_CB_V_ANON : TL_CB_V_ITEM);
        else if (null)
            p = cb_null(p);
        else
            goto off;
        break;
    case F_COUNTRY: /* upper case in the body and in the event */
        if (str)
            *p++ = TL_CB_V_COUNTRY;
        else if (null)
            p = cb_null(p);
        else
            goto off;
        break;
    case F_SESSION:
    case F_ORDER:
    case F_EVENT_ID:
    case F_RECO:
    case F_QUERY:
    case F_CATEGORY:
        if (str) {
            *p++ = TL_CB_V_STR;
            p = tl_cb_text(p, v->s, v->n);
        } else if (v->kind == V_INT && (f == F_SESSION || f == F_ORDER)) { /* num_text quoted it ("0" for "-0") */
            *p++ = TL_CB_V_STR;
            p = tl_cb_text(p, num + 1, (size_t)nnum - 2);
        } else if (null) {
            p = cb_null(p);
        } else {
            goto off;
        }
        break;
    default: /* quantity, price, dwell_ms, scroll_depth */
        if (is_number(v) && nnum >= 0)
            p = nnum ? tl_cb_nonstring(p, num, (size_t)nnum) : tl_cb_nonstring(p, v->s, v->n);
        else if (null)
            p = cb_null(p);
        else
            goto off;
        break;
    }
    cb_end(e, p);
    return;
off:
    e->cb = NULL;
}

/* The member of key k[0..kn) (known field f, or -1) whose canonical value
 * the body writer wrote at t[0..n). */
static void cb_written(struct evscan *e, int f, const char *k, size_t kn, const char *t, size_t n)
{
    unsigned char *p = cb_room(e, kn + n);
    if (!p) return;
    if (f >= 0) {
        *p++ = (unsigned char)(TL_CB_K_DICT + field_dict[f]);
    } else {
        *p++ = TL_CB_K_LITERAL;
        p = tl_cb_text(p, k, kn);
    }
    if (n >= 2 && t[0] == '"') {
        *p++ = TL_CB_V_STR;
        p = tl_cb_text(p, t + 1, n - 2);
    } else {
        p = tl_cb_nonstring(p, t, n);
    }
    cb_end(e, p);
}

/* Before a value taken from its canonical text: the body writer starts
 * at it, its output at bmark. */
static void cb_begin(struct evscan *e)
{
    struct fw *w = e->cw;
    w->o.b->len = e->bmark;
    w->from = e->s.p;
    e->s.fw = w;
}

/* After that value, the member of key k[0..kn) (field f, or -1); the
 * writer stops again. */
static void cb_finish(struct evscan *e, int f, const char *k, size_t kn)
{
    struct scan *s = &e->s;
    if (s->fw) w_cut(s, s->p, s->p, NULL, 0); /* the value's last bytes */
    if (!s->fw) {                             /* stopped: an escape, a long real, no memory */
        e->cb = NULL;
        return;
    }
    s->fw = NULL;
    struct tl_buf *b = e->cw->o.b;
    cb_written(e, f, k, kn, b->data + e->bmark, b->len - e->bmark);
    b->len = e->bmark;
}

/* One line object {"item_id","quantity","price",...} into ln. */
static int scan_line(struct evscan *e, struct tl_line *ln)
{
    struct scan *s = &e->s;
    struct key unknown[UNKNOWN_KEYS_MAX];
    size_t nunk = 0;
    unsigned seen = 0;
    struct val v;
    ln->item_id = NULL;
    ln->quantity = 1;
    ln->price = NAN;
    int has_price = 0;
    s->p++; /* '{' */
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') return 0; /* item_id is required */
    for (;;) {
        const char *k;
        size_t n;
        unsigned fl;
        if (s->p >= s->end || *s->p != '"' || !scan_string(s, 0, &k, &n, &fl)) return 0;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':') return 0;
        s->p++;
        skip_ws(s);
        int which = n == 7 && memcmp(k, "item_id", 7) == 0    ? 1
                    : n == 8 && memcmp(k, "quantity", 8) == 0 ? 2
                    : n == 5 && memcmp(k, "price", 5) == 0    ? 3
                                                              : 0;
        if (which) {
            if (seen & (1u << which)) return 0;
            seen |= 1u << which;
            if (!scan_scalar(s, &v)) return 0;
            if (which == 1) {
                if (!take_id(e, &v, TL_ID_MAX, 1, &ln->item_id)) return 0;
                if (s->fw && v.kind == V_INT) w_item_id(e, &v, 0);
            } else if (v.kind != V_NULL) {
                if (!is_number(&v)) return 0;
                if (s->fw) w_number(s, &v, 0, 1);
                if (which == 2) {
                    if (!(v.d > 0 && v.d <= QTY_MAX)) return 0;
                    ln->quantity = v.d;
                } else {
                    if (v.d < 0) return 0;
                    ln->price = v.d;
                    has_price = 1;
                }
            }
        } else {
            if (nunk == UNKNOWN_KEYS_MAX || key_seen(unknown, nunk, k, n)) return 0;
            unknown[nunk].s = k;
            unknown[nunk++].n = n;
            if (!skip_value(s, 1)) return 0;
        }
        skip_ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == '}') {
            s->p++;
            break;
        }
        if (*s->p != ',') return 0;
        s->p++;
        skip_ws(s);
    }
    if (!ln->item_id) return 0;
    if (!has_price) e->items_noprice = 1;
    return 1;
}

/* "items": null, or an array of bare ids and line objects. Anything else is
 * declined, even for event types that ignore "items" (a subset is fine). */
static int scan_items(struct evscan *e)
{
    struct scan *s = &e->s;
    if (s->p >= s->end) return 0;
    if (*s->p == 'n') {
        e->f[F_ITEMS].kind = V_NULL;
        return scan_literal(s, "null", 4);
    }
    if (*s->p != '[') return 0;
    e->f[F_ITEMS].kind = V_TRUE; /* present (the kind is not otherwise used) */
    e->items_present = 1;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 1;
    }
    for (;;) {
        if (s->p >= s->end || e->n_lines >= e->lines_max) return 0;
        struct tl_line *ln = &e->lines[e->n_lines];
        if (*s->p == '{') {
            if (!scan_line(e, ln)) return 0;
        } else {
            struct val v;
            if (!scan_scalar(s, &v)) return 0;
            if (v.kind != V_STR && v.kind != V_INT) return 0;
            if (!take_id(e, &v, TL_ID_MAX, 1, &ln->item_id)) return 0;
            if (s->fw && v.kind == V_INT) w_item_id(e, &v, 1);
            ln->quantity = 1;
            ln->price = NAN;
            e->items_scalar = 1;
        }
        e->n_lines++;
        skip_ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == ']') {
            s->p++;
            return 1;
        }
        if (*s->p != ',') return 0;
        s->p++;
        skip_ws(s);
    }
}

/* Step 1 + 2: scan the object, recording fields. */
static int scan_event(struct evscan *e)
{
    struct scan *s = &e->s;
    struct key unknown[UNKNOWN_KEYS_MAX];
    size_t nunk = 0;
    skip_ws(s);
    if (s->p >= s->end || *s->p != '{') return 0;
    s->p++;
    skip_ws(s);
    for (;;) {
        const char *k;
        size_t n;
        unsigned fl;
        if (s->p >= s->end || *s->p != '"' || !scan_string(s, 0, &k, &n, &fl)) return 0;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':') return 0;
        s->p++;
        skip_ws(s);
        int f = field_of(k, n);
        int written = e->cb && (f < 0 || f == F_ITEMS || f == F_CONTEXT); /* taken from its canonical text */
        if (written) cb_begin(e);
        if (f >= 0) {
            if (e->seen & (1u << f)) return 0;
            e->seen |= 1u << f;
            if (f == F_ITEMS) {
                if (!scan_items(e)) return 0;
            } else if (f == F_CONTEXT) {
                if (s->p >= s->end) return 0;
                if (*s->p == 'n') {
                    e->f[f].kind = V_NULL;
                    if (!scan_literal(s, "null", 4)) return 0;
                } else {
                    if (*s->p != '{') return 0; /* context must be an object */
                    e->f[f].kind = V_TRUE;
                    if (!skip_value(s, 0)) return 0;
                }
            } else {
                const unsigned char *q = s->p;
                if (!scan_scalar(s, &e->f[f])) return 0;
                if (f == F_TYPE && e->f[f].kind == V_STR) e->type = type_of(e->f[f].s, e->f[f].n);
                if (s->fw) w_field(e, f, q);
                if (e->cb) cb_scalar(e, f);
            }
        } else {
            if (nunk == UNKNOWN_KEYS_MAX || key_seen(unknown, nunk, k, n)) return 0;
            unknown[nunk].s = k;
            unknown[nunk++].n = n;
            if (!skip_value(s, 0)) return 0;
        }
        if (written && e->cb) cb_finish(e, f, k, n);
        skip_ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == '}') {
            if (s->fw && !(e->seen & (1u << F_TIMESTAMP))) { /* absent: now_ms, appended last */
                char buf[14 + TS_OUT_MAX];
                memcpy(buf, ",\"timestamp\":", 13);
                w_cut(s, s->p, s->p, buf, 13 + ts_quoted(e->now_ms, buf + 13));
            }
            unsigned char *p = e->cb && !(e->seen & (1u << F_TIMESTAMP)) ? cb_room(e, 0) : NULL;
            if (p) {
                *p++ = TL_CB_K_DICT + TL_CB_D_TIMESTAMP;
                *p++ = TL_CB_V_TS;
                cb_end(e, p);
            }
            s->p++;
            break;
        }
        if (*s->p != ',') return 0;
        s->p++;
        skip_ws(s);
    }
    skip_ws(s);
    return s->p == s->end;
}

static int is_view(enum tl_event_type t)
{
    return t == TL_EV_PAGE_VIEW || t == TL_EV_PRODUCT_VIEW || t == TL_EV_CATEGORY_VIEW;
}

static int needs_item(enum tl_event_type t)
{
    return t == TL_EV_PRODUCT_VIEW || t == TL_EV_ADD_TO_CART || t == TL_EV_REMOVE_FROM_CART || t == TL_EV_REC_CLICK;
}

/* build_event sets every field of struct tl_event one by one: a new field
 * must be added there (and to the differential test) */
_Static_assert(sizeof(struct tl_event) == 21 * 8, "struct tl_event changed: update build_event in event_fast.c");

/* Step 3: the rules of tl_event_from_json on the recorded fields. */
static int build_event(struct evscan *e, int64_t now_ms, struct tl_event *out, struct tl_line *lines_buf,
                       size_t lines_cap)
{
    const struct val *v;
    /* field by field rather than memset (which becomes a slow rep stos for
     * ~170 bytes); every field of struct tl_event is set here or below */
    out->seq = 0;
    out->shop_id = 0;
    out->event_id = out->user_id = out->anonymous_id = out->session_id = out->item_id = NULL;
    out->query = out->category = out->country = out->order_id = out->recommendation_id = NULL;
    out->lines = NULL;
    out->n_lines = 0;
    out->body = NULL;
    out->quantity = NAN;
    out->price = NAN;
    out->scroll_depth = NAN;
    out->dwell_ms = -1;

    v = field(e, F_TYPE);
    if (!v || v->kind != V_STR) return 0;
    enum tl_event_type type = e->type;                          /* type_of(v->s, v->n), taken while scanning */
    if (type == TL_EV_NONE || type == TL_EV_EXPOSURE) return 0; /* exposures: the jansson path checks them */
    out->type = type;

    out->ts_ms = now_ms;
    if ((v = field(e, F_TIMESTAMP))) {
        int64_t ts;
        if (!ts_value(e, v, &ts)) return 0;
        if (ts < TL_EVENT_MIN_TS_MS || ts > now_ms + TL_EVENT_FUTURE_MS) return 0;
        out->ts_ms = ts;
    }

    if (!take_id(e, field(e, F_USER), TL_ID_MAX, 1, &out->user_id)) return 0;
    if (!take_id(e, field(e, F_ANON), TL_ID_MAX, 1, &out->anonymous_id)) return 0;
    if (!out->user_id && !out->anonymous_id) return 0;
    if (!take_id(e, field(e, F_SESSION), TL_ID_MAX, 1, &out->session_id)) return 0;
    if (!take_id(e, field(e, F_EVENT_ID), TL_EVENT_ID_MAX, 0, &out->event_id)) return 0;
    if (!take_id(e, field(e, F_ITEM), TL_ID_MAX, 1, &out->item_id)) return 0;
    if (needs_item(type) && !out->item_id) return 0;

    if ((v = field(e, F_QTY))) {
        if (!is_number(v) || !(v->d > 0 && v->d <= QTY_MAX)) return 0;
        out->quantity = v->d;
    } else if (type == TL_EV_ADD_TO_CART || type == TL_EV_REMOVE_FROM_CART) {
        out->quantity = 1;
    }
    int price_present = 0;
    if ((v = field(e, F_PRICE))) {
        if (!is_number(v) || v->d < 0) return 0;
        out->price = v->d;
        price_present = 1;
    }

    if (!take_text(e, field(e, F_QUERY), TL_EVENT_QUERY_MAX, type == TL_EV_SEARCH, &out->query)) return 0;
    if (!take_text(e, field(e, F_CATEGORY), TL_EVENT_TEXT_MAX, type == TL_EV_CATEGORY_VIEW, &out->category)) return 0;
    if ((v = field(e, F_COUNTRY))) {
        char up[2];
        if (!country_upper(v, up) || !(out->country = sdup(e, up, 2))) return 0;
    }
    if (!take_id(e, field(e, F_ORDER), TL_ID_MAX, 1, &out->order_id)) return 0;
    if (!take_id(e, field(e, F_RECO), TL_ID_MAX, 0, &out->recommendation_id)) return 0;

    if ((v = field(e, F_DWELL))) {
        if (v->kind != V_INT || v->i < 0 || v->i > TL_EVENT_DWELL_MAX_MS) return 0;
        if (is_view(type)) out->dwell_ms = v->i;
    }
    if ((v = field(e, F_SCROLL))) {
        if (!is_number(v) || v->d < 0 || v->d > 1) return 0;
        if (is_view(type)) out->scroll_depth = v->d;
    }
    /* context: validated as an object (or null) while scanning */

    if (has_lines(type)) {
        size_t n = 0;
        if (e->items_present) {
            n = e->n_lines;
            if (n == 0 && (type == TL_EV_PURCHASE || type == TL_EV_RETURN)) return 0;
            if (e->items_scalar && type != TL_EV_REC_IMPRESSION) return 0;
            if (e->items_noprice && type == TL_EV_PURCHASE) return 0;
        }
        if (n == 0 && (type == TL_EV_PURCHASE || type == TL_EV_RETURN)) {
            if (!out->item_id) return 0;
            if (type == TL_EV_PURCHASE && !price_present) return 0;
            if (lines_cap < 1 || !lines_buf) return 0;
            lines_buf[0].item_id = out->item_id;
            lines_buf[0].quantity = isnan(out->quantity) ? 1 : out->quantity;
            lines_buf[0].price = out->price;
            n = 1;
        }
        out->n_lines = n;
        if (n) out->lines = lines_buf;
    }
    return 1;
}

size_t tl_evfast_scratch_need(size_t body_len, size_t n) { return body_len + n * TL_EVFAST_SCRATCH_SLACK; }

/* tl_evfast_parse (body == NULL), tl_evfast_parse_canonical (body) and
 * tl_evfast_parse_compact (body and cbody): one scan, with the canonical
 * body writer hooked in for the second, the compact one for the third. */
static enum tl_rc evfast_run(const char *text, size_t len, int64_t now_ms, struct tl_event *out,
                             struct tl_line *lines_buf, size_t lines_cap, struct tl_buf *scratch, struct tl_buf *body,
                             struct tl_buf *cbody, size_t *clen, int *handled)
{
    *handled = 0;
    if (clen) *clen = 0;
    if (!text || len > SIZE_MAX / 2 || tl_buf_reserve(scratch, len + TL_EVFAST_SCRATCH_SLACK) != TL_OK) return TL_OK;
    size_t mark = scratch->len, bmark = body ? body->len : 0, cmark = cbody ? cbody->len : 0;
    struct evscan e;
    struct fw w;
    e.s.p = (const unsigned char *)text;
    e.s.end = e.s.p + len;
    e.s.fw = NULL;
    e.w = scratch->data + mark;
    e.wend = e.w + len + TL_EVFAST_SCRATCH_SLACK;
    e.seen = 0;
    e.type = TL_EV_NONE;
    e.now_ms = now_ms;
    e.ts_have = e.redo = 0;
    e.lines = lines_buf;
    e.lines_max = lines_buf ? (lines_cap < TL_EVENT_LINES_MAX ? lines_cap : TL_EVENT_LINES_MAX) : 0;
    e.n_lines = 0;
    e.items_present = e.items_scalar = e.items_noprice = 0;
    e.cb = cbody;
    e.cw = NULL;
    e.bmark = bmark;
    if (body) {
        w.o.b = body;
        w.o.rc = tl_buf_reserve(body, len + TL_EVFAST_SCRATCH_SLACK); /* usually enough */
        w.from = e.s.p;
        w.stopped = 0;
        if (cbody)
            e.cw = &w; /* only over the values cb_begin starts it on */
        else
            e.s.fw = &w;
    }
    struct tl_event ev;
    enum tl_rc rc = TL_OK;
    int ok = scan_event(&e) && build_event(&e, now_ms, &ev, lines_buf, lines_cap);
    if (cbody) {
        unsigned char *p = ok && e.cb && !(e.redo && has_lines(ev.type)) ? cb_room(&e, 0) : NULL;
        if (body) body->len = bmark; /* what cb_finish left, if it ran */
        if (p) {
            *p++ = TL_CB_K_END;
            cb_end(&e, p);
            *clen = cbody->len - cmark;
        } else {
            cbody->len = cmark;
            if (ok) { /* given up (or integer item ids met before "type"): the canonical way */
                scratch->len = mark;
                return evfast_run(text, len, now_ms, out, lines_buf, lines_cap, scratch, body, NULL, NULL, handled);
            }
        }
    } else if (ok && body) {
        if (e.s.fw) w_cut(&e.s, e.s.end, e.s.end, NULL, 0); /* the rest of the source */
        if (w.stopped) {
            ok = 0;
            rc = w.o.rc; /* TL_OK when the body just cannot be written this way */
        } else if (e.redo && has_lines(ev.type)) {
            /* integer item ids met before "type": the second walk, with the type */
            body->len = bmark;
            rc = tl_evfast_canonical(text, len, &ev, body, &ok);
        }
    }
    if (ok) {
        *out = ev;
        scratch->len = (size_t)(e.w - scratch->data);
        if (body && body->data) body->data[body->len] = '\0'; /* raw_put keeps one byte of room */
        *handled = 1;
    } else {
        scratch->len = mark;
        if (body) {
            body->len = bmark;
            if (body->data) body->data[bmark] = '\0';
        }
    }
    scratch->data[scratch->len] = '\0';
    return rc;
}

enum tl_rc tl_evfast_parse(const char *text, size_t len, int64_t now_ms, struct tl_event *out,
                           struct tl_line *lines_buf, size_t lines_cap, struct tl_buf *scratch, int *handled)
{
    if (!out || !scratch || !handled || (!text && len)) return TL_EINVAL;
    return evfast_run(text, len, now_ms, out, lines_buf, lines_cap, scratch, NULL, NULL, NULL, handled);
}

enum tl_rc tl_evfast_parse_canonical(const char *text, size_t len, int64_t now_ms, struct tl_event *out,
                                     struct tl_line *lines_buf, size_t lines_cap, struct tl_buf *scratch,
                                     struct tl_buf *body, int *handled)
{
    if (!out || !scratch || !body || !handled || (!text && len)) return TL_EINVAL;
    return evfast_run(text, len, now_ms, out, lines_buf, lines_cap, scratch, body, NULL, NULL, handled);
}

enum tl_rc tl_evfast_parse_compact(const char *text, size_t len, int64_t now_ms, struct tl_event *out,
                                   struct tl_line *lines_buf, size_t lines_cap, struct tl_buf *scratch,
                                   struct tl_buf *body, struct tl_buf *cbody, size_t *clen, int *handled)
{
    if (!out || !scratch || !body || !cbody || !clen || !handled || (!text && len)) return TL_EINVAL;
    return evfast_run(text, len, now_ms, out, lines_buf, lines_cap, scratch, body, cbody, clen, handled);
}

/* ---------- canonical body: the second walk ---------- */

struct cw {
    struct scan s;
    struct bout o;
    const unsigned char *rs, *re; /* pending run of source bytes copied as they are */
};

static int flush(struct cw *w)
{
    int ok = w->re == w->rs || raw_put(&w->o, w->rs, (size_t)(w->re - w->rs));
    w->rs = w->re = NULL;
    return ok;
}

/* Source bytes kept as they are: contiguous pieces are merged into one run,
 * so a compact event whose values need no rewriting is one memcpy. */
static int put_src(struct cw *w, const unsigned char *p, size_t n)
{
    if (p == w->re && w->re) {
        w->re += n;
        return 1;
    }
    if (!flush(w)) return 0;
    w->rs = p;
    w->re = p + n;
    return 1;
}

/* Bytes that are not in the source. */
static int put(struct cw *w, const void *p, size_t n) { return flush(w) && raw_put(&w->o, p, n); }

/* The string at s->p (a quote) of a text tl_evfast_parse accepted: to the
 * closing quote, without re-validating UTF-8. 0 on a backslash (jansson
 * re-escapes) or no closing quote. */
static int cw_string(struct scan *s)
{
    const unsigned char *p = s->p + 1, *end = s->end;
    while (end - p >= 8) {
        uint64_t x, m;
        memcpy(&x, p, 8);
        if ((m = sw_zero(x ^ (SW_ONES * '"')) | sw_zero(x ^ (SW_ONES * '\\')))) {
            p += sw_first(m);
            break;
        }
        p += 8;
    }
    while (p < end && *p != '"' && *p != '\\') p++;
    if (p >= end || *p != '"') return 0;
    s->p = p + 1;
    return 1;
}

/* One expected structural byte c at s->p (after blanks), copied. */
static int put_punct(struct cw *w, unsigned char c)
{
    skip_ws(&w->s);
    if (w->s.p >= w->s.end || *w->s.p != c) return 0;
    w->s.p++;
    return put_src(w, w->s.p - 1, 1);
}

/* A number token (scanned with need = 1) per num_text. */
static int put_number(struct cw *w, const struct val *v, int quote_int)
{
    char buf[NUM_OUT_MAX];
    int n = num_text(v, quote_int, buf);
    return n < 0 ? 0 : n ? put(w, buf, (size_t)n) : put_src(w, (const unsigned char *)v->s, v->n);
}

/* Copy the value at w->s.p compactly (no whitespace) as jansson would dump
 * it; quote_int: a JSON integer is written as a string (ids normalised by
 * tl_event_from_json). Returns 0 when unsure (escapes) or on error. */
static int put_value(struct cw *w, int quote_int, int depth)
{
    struct scan *s = &w->s;
    const unsigned char *q = s->p;
    struct val v;
    if (depth > VALIDATE_DEPTH_MAX + 2 || q >= s->end) return 0;
    switch (*q) {
    case '"':
        return cw_string(s) && put_src(w, q, (size_t)(s->p - q));
    case '{':
    case '[': {
        unsigned char close = *q == '{' ? '}' : ']';
        int obj = close == '}';
        s->p++;
        if (!put_src(w, q, 1)) return 0;
        skip_ws(s);
        if (s->p < s->end && *s->p == close) return put_punct(w, close);
        for (;;) {
            if (obj) {
                const unsigned char *k = s->p;
                if (k >= s->end || *k != '"' || !cw_string(s)) return 0;
                if (!put_src(w, k, (size_t)(s->p - k)) || !put_punct(w, ':')) return 0;
                skip_ws(s);
            }
            if (!put_value(w, 0, depth + 1)) return 0;
            skip_ws(s);
            if (s->p >= s->end) return 0;
            if (*s->p == close) return put_punct(w, close);
            if (!put_punct(w, ',')) return 0;
            skip_ws(s);
        }
    }
    case 't':
        return scan_literal(s, "true", 4) && put_src(w, q, 4);
    case 'f':
        return scan_literal(s, "false", 5) && put_src(w, q, 5);
    case 'n':
        return scan_literal(s, "null", 4) && put_src(w, q, 4);
    default:
        if (!(*q == '-' || is_digit(*q)) || !scan_number(s, &v, 1)) return 0;
        return put_number(w, &v, quote_int);
    }
}

/* "items" of a line event: bare integer ids and integer item_id of line
 * objects become strings (parse_items in event.c). */
static int put_items(struct cw *w, int impression)
{
    struct scan *s = &w->s;
    if (s->p >= s->end || *s->p != '[') return put_value(w, 0, 0); /* null */
    if (!put_punct(w, '[')) return 0;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') return put_punct(w, ']');
    for (;;) {
        if (s->p >= s->end) return 0;
        if (*s->p != '{') {
            if (!put_value(w, impression, 1)) return 0;
        } else {
            if (!put_punct(w, '{')) return 0;
            skip_ws(s);
            for (int first = 1;; first = 0) { /* a line has item_id: not empty */
                if (!first && !put_punct(w, ',')) return 0;
                skip_ws(s);
                const unsigned char *q = s->p;
                if (q >= s->end || *q != '"' || !cw_string(s)) return 0;
                size_t n = (size_t)(s->p - q);
                if (!put_src(w, q, n) || !put_punct(w, ':')) return 0;
                skip_ws(s);
                if (!put_value(w, n == 9 && memcmp(q, "\"item_id\"", 9) == 0, 2)) return 0;
                skip_ws(s);
                if (s->p >= s->end) return 0;
                if (*s->p == '}') break;
            }
            if (!put_punct(w, '}')) return 0;
        }
        skip_ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == ']') return put_punct(w, ']');
        if (!put_punct(w, ',')) return 0;
        skip_ws(s);
    }
}

/* "timestamp" as tl_event_canonical writes it: tl_time_format(ts_ms), or
 * the sender's string when it already is that (ts_is_canonical). */
static int put_timestamp(struct cw *w, const struct val *v, int64_t ts_ms)
{
    if (v && ts_is_canonical(v)) return put_src(w, (const unsigned char *)v->s - 1, v->n + 2);
    char buf[TS_OUT_MAX];
    return put(w, buf, ts_quoted(ts_ms, buf));
}

enum tl_rc tl_evfast_canonical(const char *text, size_t len, const struct tl_event *ev, struct tl_buf *out,
                               int *handled)
{
    if (!ev || !out || !handled || (!text && len)) return TL_EINVAL;
    *handled = 0;
    if (!text) return TL_OK;
    size_t start = out->len;
    struct cw w = {{(const unsigned char *)text, (const unsigned char *)text + len, NULL}, {out, TL_OK}, NULL, NULL};
    if (len < SIZE_MAX / 2) w.o.rc = tl_buf_reserve(out, len + TL_EVFAST_SCRATCH_SLACK); /* usually enough */
    struct scan *s = &w.s;
    int line_type = has_lines(ev->type);
    int ok = 0, ts_seen = 0;
    if (!put_punct(&w, '{')) goto done;
    for (int first = 1;; first = 0) {
        if (!first && !put_punct(&w, ',')) goto done;
        skip_ws(s);
        const unsigned char *q = s->p;
        if (q >= s->end || *q != '"' || !cw_string(s)) goto done;
        size_t n = (size_t)(s->p - q);
        if (!put_src(&w, q, n) || !put_punct(&w, ':')) goto done;
        skip_ws(s);
        int f = field_of((const char *)q + 1, n - 2), r;
        if (f == F_TIMESTAMP) {
            struct val v;
            v.kind = 0;
            if (s->p < s->end && *s->p == '"') {
                if (!scan_scalar(s, &v)) goto done;
            } else if (!skip_value(s, 0)) {
                goto done;
            }
            ts_seen = 1;
            r = put_timestamp(&w, &v, ev->ts_ms);
        } else if (f == F_COUNTRY && ev->country) {
            const unsigned char *c = s->p;
            r = skip_value(s, 0);
            if (r && s->p - c == 4 && memcmp(c + 1, ev->country, 2) == 0)
                r = put_src(&w, c, 4); /* already upper */
            else if (r)
                r = put(&w, "\"", 1) && put(&w, ev->country, strlen(ev->country)) && put(&w, "\"", 1);
        } else if (f == F_ITEMS && line_type) {
            r = put_items(&w, ev->type == TL_EV_REC_IMPRESSION);
        } else {
            r = put_value(&w, is_quoted_id(f), 0);
        }
        if (!r) goto done;
        skip_ws(s);
        if (s->p >= s->end) goto done;
        if (*s->p == '}') break;
    }
    if (!ts_seen && !(put(&w, ",\"timestamp\":", 13) && put_timestamp(&w, NULL, ev->ts_ms))) goto done;
    ok = put_punct(&w, '}') && flush(&w);
done:
    if (!ok) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
        return w.o.rc;
    }
    out->data[out->len] = '\0'; /* raw_put keeps one byte of room */
    *handled = 1;
    return TL_OK;
}

/* ---------- body splitting ---------- */

static int is_blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Skip blanks from p, counting newlines into *line; *crossed = 1 when one
 * was seen (crossed may be NULL). */
static const unsigned char *skip_blanks(const unsigned char *p, const unsigned char *end, long *line, int *crossed)
{
    for (; p < end && is_blank(*p); p++) {
        if (*p == '\n') {
            (*line)++;
            if (crossed) *crossed = 1;
        }
    }
    return p;
}

/* The object starting at p ('{'): returns the position after its matching
 * '}', or NULL when it is not balanced / ends early. Counts newlines outside
 * strings into *line and sets *nl when there is one. */
static const unsigned char *span_end(const unsigned char *p, const unsigned char *end, long *line, int *nl)
{
    uint64_t stack = 0; /* bit i: level i+1 was opened by '{' */
    int depth = 0;
    while (p < end) {
        unsigned char c = *p++;
        switch (c) {
        case '"':
            for (;;) { /* to the closing quote; control bytes are left to the parser */
                while (end - p >= 8) {
                    uint64_t x, m;
                    memcpy(&x, p, 8);
                    if ((m = sw_zero(x ^ (SW_ONES * '"')) | sw_zero(x ^ (SW_ONES * '\\')))) {
                        p += sw_first(m);
                        break;
                    }
                    p += 8;
                }
                while (p < end && *p != '"' && *p != '\\') p++;
                if (p >= end) return NULL;
                if (*p++ == '"') break;
                if (p >= end) return NULL;
                p++; /* the escaped byte */
            }
            break;
        case '{':
        case '[':
            if (depth == SPLIT_DEPTH_MAX) return NULL;
            stack = (stack << 1) | (c == '{');
            depth++;
            break;
        case '}':
        case ']':
            if (depth == 0 || (int)(stack & 1) != (c == '}')) return NULL;
            stack >>= 1;
            if (--depth == 0) return p;
            break;
        case '\n':
            (*line)++;
            *nl = 1;
            break;
        default:
            break;
        }
    }
    return NULL;
}

enum tl_rc tl_evfast_split(const char *body, size_t len, struct tl_span *spans, size_t max, size_t *n, int *handled)
{
    if (!n || !handled || (!spans && max)) return TL_EINVAL;
    *n = 0;
    *handled = 0;
    if (!body || !len) return TL_OK;
    const unsigned char *base = (const unsigned char *)body, *p = base, *end = base + len;
    long line = 1;
    size_t count = 0;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    p = skip_blanks(p, end, &line, NULL);
    if (p == end) return TL_OK;
    if (*p == '[') {
        p = skip_blanks(p + 1, end, &line, NULL);
        if (p < end && *p == ']') {
            p++;
        } else {
            for (;;) {
                if (p >= end || *p != '{') return TL_OK;
                if (count >= max) {
                    *n = count;
                    *handled = 1;
                    return TL_ETOOBIG;
                }
                long l0 = line;
                int nl = 0;
                const unsigned char *q = span_end(p, end, &line, &nl);
                if (!q) return TL_OK;
                spans[count].off = (size_t)(p - base);
                spans[count].len = (size_t)(q - p);
                spans[count++].line = l0;
                p = skip_blanks(q, end, &line, NULL);
                if (p >= end) return TL_OK;
                if (*p == ']') {
                    p++;
                    break;
                }
                if (*p != ',') return TL_OK;
                p = skip_blanks(p + 1, end, &line, NULL);
            }
        }
        if (skip_blanks(p, end, &line, NULL) != end) return TL_OK;
    } else if (*p == '{') {
        int first_nl = 0;
        for (;;) {
            if (count >= max) {
                *n = count;
                *handled = 1;
                return TL_ETOOBIG;
            }
            long l0 = line;
            int nl = 0;
            const unsigned char *q = span_end(p, end, &line, &nl);
            if (!q) return TL_OK;
            if (count == 0)
                first_nl = nl;
            else if (nl)
                return TL_OK; /* an NDJSON record spread over lines */
            spans[count].off = (size_t)(p - base);
            spans[count].len = (size_t)(q - p);
            spans[count++].line = l0;
            int crossed = 0;
            p = skip_blanks(q, end, &line, &crossed);
            if (p == end) break;
            if (*p != '{' || !crossed || first_nl) return TL_OK;
        }
    } else {
        return TL_OK;
    }
    *n = count;
    *handled = 1;
    return TL_OK;
}
