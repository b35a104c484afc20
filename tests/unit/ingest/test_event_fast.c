/* Tests for src/ingest/event_fast.c, mostly differential: whenever the fast
 * path says handled=1, json_loadb(JSON_REJECT_DUPLICATES) +
 * tl_event_from_json on the same bytes (same now_ms, same lines_cap) must
 * succeed with an identical struct tl_event, and the canonical body must be
 * tl_event_canonical's byte for byte; tl_evfast_parse_canonical (one pass)
 * must decide, fill and write exactly what tl_evfast_parse +
 * tl_evfast_canonical do, and leave every buffer as it was when it
 * declines; tl_evfast_split must agree with tl_event_split_body. Corpus: hand-written edge cases, thousands of random
 * events (valid ones of every type, "wild" ones mixing invalid values),
 * byte-level mutations, every truncation, random bytes. Every input is an
 * exact-size heap copy (not NUL-terminated) so ASan catches over-reads.
 * JSON in hand-written cases uses ' for " (converted by dq()).
 * More iterations: TL_EVFAST_ITERS=<n>, another stream: TL_EVFAST_SEED=<n>. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "ingest/event.h"
#include "ingest/event_fast.h"
#include "store/evblock.h"

#include "../../../bench/event_gen.h"

#define NOW 1714600000000LL /* 2024-05-01T21:46:40Z */
#define LINES_CAP 1000

static struct tl_line fast_lines[LINES_CAP], slow_lines[LINES_CAP], onepass_lines[LINES_CAP];

/* ---------- deterministic randomness ---------- */

static uint64_t rng_s = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) { return tl_gen_rnd(&rng_s); }
static size_t rn(size_t n) { return n ? (size_t)(rnd() % n) : 0; }
static int chance(int pct) { return (int)rn(100) < pct; }
#define PICK(arr) (arr[rn(sizeof arr / sizeof *arr)])

static long iters(long dflt)
{
    const char *seed = getenv("TL_EVFAST_SEED");
    if (seed) rng_s ^= strtoull(seed, NULL, 10) * 0x2545f4914f6cdd1dULL;
    const char *e = getenv("TL_EVFAST_ITERS");
    long v = e ? atol(e) : 0;
    return v > 0 ? v : dflt;
}

/* ---------- comparison ---------- */

static int str_eq(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }
static int dbl_eq(double a, double b) { return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b)); }

/* "" if equal, else the name of the first differing field. */
static const char *event_diff(const struct tl_event *a, const struct tl_event *b)
{
    if (a->seq != b->seq || a->shop_id != b->shop_id || a->body != b->body) return "seq/shop_id/body";
    if (a->type != b->type) return "type";
    if (a->ts_ms != b->ts_ms) return "ts_ms";
    if (!str_eq(a->event_id, b->event_id)) return "event_id";
    if (!str_eq(a->user_id, b->user_id)) return "user_id";
    if (!str_eq(a->anonymous_id, b->anonymous_id)) return "anonymous_id";
    if (!str_eq(a->session_id, b->session_id)) return "session_id";
    if (!str_eq(a->item_id, b->item_id)) return "item_id";
    if (!dbl_eq(a->quantity, b->quantity)) return "quantity";
    if (!dbl_eq(a->price, b->price)) return "price";
    if (!str_eq(a->query, b->query)) return "query";
    if (!str_eq(a->category, b->category)) return "category";
    if (!str_eq(a->country, b->country)) return "country";
    if (!str_eq(a->order_id, b->order_id)) return "order_id";
    if (!str_eq(a->recommendation_id, b->recommendation_id)) return "recommendation_id";
    if (a->dwell_ms != b->dwell_ms) return "dwell_ms";
    if (!dbl_eq(a->scroll_depth, b->scroll_depth)) return "scroll_depth";
    if (a->n_lines != b->n_lines) return "n_lines";
    if ((a->lines == NULL) != (b->lines == NULL)) return "lines (NULL)";
    for (size_t i = 0; i < a->n_lines; i++) {
        if (!str_eq(a->lines[i].item_id, b->lines[i].item_id)) return "lines[].item_id";
        if (!dbl_eq(a->lines[i].quantity, b->lines[i].quantity)) return "lines[].quantity";
        if (!dbl_eq(a->lines[i].price, b->lines[i].price)) return "lines[].price";
    }
    return "";
}

/* ---------- the differential check ---------- */

struct stats {
    long total, handled, slow_ok;
};

static long canon_handled;   /* events whose canonical body the fast path wrote */
static long onepass_handled; /* ... and tl_evfast_parse_canonical handled */
static long compact_written; /* ... and tl_evfast_parse_compact wrote the compact body of */

/* tl_evfast_parse_compact on the same text: the event of
 * tl_evfast_parse_canonical (handled = oh, oe, canonical body ob), and
 * either a compact body, whose block bytes (tl_evblock_add_compact) are
 * those tl_evblock_add packs from the canonical body, with body left as it
 * was; or, given up, that canonical body, with cbody left as it was. */
static void check_compact(const char *copy, size_t len, int64_t now, size_t lines_cap, int oh,
                          const struct tl_event *oe, const struct tl_buf *ob)
{
    struct tl_buf cs, cb, cc;
    tl_buf_init(&cs, 0);
    tl_buf_init(&cb, 0);
    tl_buf_init(&cc, 0);
    tl_buf_puts(&cs, "keep");
    tl_buf_puts(&cb, "pre");
    tl_buf_puts(&cc, "cmp");
    struct tl_event ce;
    int h = -1;
    size_t clen = 99;
    cr_assert_eq(tl_evfast_parse_compact(copy, len, now, &ce, onepass_lines, lines_cap, &cs, &cb, &cc, &clen, &h),
                 TL_OK);
    cr_assert_eq(h, oh, "compact handled=%d, one pass %d: [%.*s]", h, oh, (int)len, copy);
    if (!h || !clen) {
        cr_assert_eq(clen, 0);
        cr_assert_eq(cc.len, 3, "compact body left bytes: [%.*s]", (int)len, copy);
        cr_assert(memcmp(cc.data, "cmp", 3) == 0);
    }
    if (h) {
        const char *d = event_diff(&ce, oe);
        cr_assert_str_eq(d, "", "compact: field %s differs for [%.*s]", d, (int)len, copy);
        cr_assert(strncmp(cs.data, "keep", 4) == 0, "compact: the strings follow what was in scratch");
    }
    if (h && !clen) cr_assert_str_eq(cb.data, ob->data, "compact given up: canonical body for [%.*s]", (int)len, copy);
    if (!h || clen) {
        cr_assert_eq(cb.len, 3, "compact: body written for [%.*s]", (int)len, copy);
        cr_assert_str_eq(cb.data, "pre");
    }
    if (h && clen) {
        cr_assert_eq(cc.len, 3 + clen);
        struct tl_evblock_enc a, b;
        tl_evblock_enc_init(&a);
        tl_evblock_enc_init(&b);
        ce.shop_id = 7;
        ce.body = ob->data + 3;
        ce.body_len = ob->len - 3;
        cr_assert_eq(tl_evblock_add(&a, &ce, 42), TL_OK);
        ce.body = NULL;
        ce.body_len = 0;
        cr_assert_eq(tl_evblock_add_compact(&b, &ce, 42, cc.data + 3, clen), TL_OK);
        cr_assert(a.raw.len == b.raw.len && memcmp(a.raw.data, b.raw.data, a.raw.len) == 0,
                  "compact body differs from the packed one (%zu against %zu bytes) for [%.*s]", b.raw.len, a.raw.len,
                  (int)len, copy);
        tl_evblock_enc_free(&a);
        tl_evblock_enc_free(&b);
        compact_written++;
    }
    tl_buf_free(&cs);
    tl_buf_free(&cb);
    tl_buf_free(&cc);
}

/* tl_evfast_parse_canonical on text[0..len) against the two calls' results:
 * handled2 = parse and canonical both handled, fe / scratch_len / fb their
 * event, scratch bytes and body ("pre" + body). Buffers that do not start
 * empty: the function appends, and must leave them alone when it declines. */
static void check_onepass(const char *copy, size_t len, int64_t now, size_t lines_cap, int handled2,
                          const struct tl_event *fe, size_t scratch_len, const struct tl_buf *fb)
{
    struct tl_buf os, ob;
    tl_buf_init(&os, 0);
    tl_buf_init(&ob, 0);
    tl_buf_puts(&os, "keep");
    tl_buf_puts(&ob, "pre");
    struct tl_event oe, oe0;
    memset(&oe, 0x5a, sizeof oe);
    oe0 = oe;
    int oh = -1;
    cr_assert_eq(tl_evfast_parse_canonical(copy, len, now, &oe, onepass_lines, lines_cap, &os, &ob, &oh), TL_OK);
    cr_assert_eq(oh, handled2, "one pass handled=%d, two passes %d: [%.*s]", oh, handled2, (int)len, copy);
    if (oh) {
        const char *d = event_diff(&oe, fe);
        cr_assert_str_eq(d, "", "one pass: field %s differs for [%.*s]", d, (int)len, copy);
        if (oe.n_lines) cr_assert_eq(oe.lines, onepass_lines);
        cr_assert_eq(ob.len, fb->len, "one pass body length for [%.*s]", (int)len, copy);
        cr_assert_str_eq(ob.data, fb->data, "one pass body differs for [%.*s]", (int)len, copy);
        cr_assert_eq(os.len, 4 + scratch_len, "one pass scratch bytes");
        cr_assert(!strncmp(os.data, "keep", 4));
        cr_assert(oe.user_id || oe.anonymous_id);
        const char *id = oe.user_id ? oe.user_id : oe.anonymous_id;
        cr_assert(id > os.data && id < os.data + os.len, "strings in the one pass scratch");
        onepass_handled++;
        check_compact(copy, len, now, lines_cap, oh, &oe, &ob);
    } else {
        cr_assert_eq(ob.len, 3, "declined one pass left bytes in body: [%.*s]", (int)len, copy);
        cr_assert_str_eq(ob.data, "pre");
        cr_assert_eq(os.len, 4, "declined one pass left bytes in scratch");
        cr_assert_str_eq(os.data, "keep");
        cr_assert_eq(memcmp(&oe, &oe0, sizeof oe), 0, "declined one pass wrote the event");
        check_compact(copy, len, now, lines_cap, oh, &oe, &ob);
    }
    tl_buf_free(&os);
    tl_buf_free(&ob);
}

/* Run both paths on an exact-size heap copy of text[0..len). Asserts the
 * differential property; returns handled. *slow_rc gets the slow result. */
static int check_one(const char *text, size_t len, int64_t now, size_t lines_cap, enum tl_rc *slow_rc)
{
    char *copy = tl_malloc(len ? len : 1);
    cr_assert_not_null(copy);
    if (len) memcpy(copy, text, len);

    struct tl_buf scratch;
    tl_buf_init(&scratch, 0);
    struct tl_event fe, se;
    int handled = -1;
    cr_assert_eq(tl_evfast_parse(copy, len, now, &fe, fast_lines, lines_cap, &scratch, &handled), TL_OK);
    cr_assert(handled == 0 || handled == 1);

    json_error_t je;
    json_t *obj = json_loadb(copy, len, JSON_REJECT_DUPLICATES, &je);
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = obj ? tl_event_from_json(obj, now, &se, slow_lines, lines_cap, &err) : TL_EPARSE;
    if (slow_rc) *slow_rc = rc;
    struct tl_buf fb;
    tl_buf_init(&fb, 0);
    tl_buf_puts(&fb, "pre");
    int ch = 0;
    if (handled) {
        cr_assert_eq(rc, TL_OK, "fast path accepted what jansson path rejects (%s: %s): [%.*s]",
                     obj ? err.field : "parse", obj ? err.msg : je.text, (int)len, text);
        const char *d = event_diff(&fe, &se);
        cr_assert_str_eq(d, "", "field %s differs for [%.*s]", d, (int)len, text);
        if (fe.n_lines) cr_assert_eq(fe.lines, fast_lines);
        /* canonical body: byte for byte */
        struct tl_buf sb;
        tl_buf_init(&sb, 0);
        ch = -1;
        cr_assert_eq(tl_evfast_canonical(copy, len, &fe, &fb, &ch), TL_OK);
        cr_assert_eq(tl_event_canonical(&se, obj, &sb), TL_OK);
        if (ch) {
            cr_assert_str_eq(fb.data + 3, sb.data, "canonical body differs for [%.*s]", (int)len, text);
            canon_handled++;
        } else {
            cr_assert_eq(fb.len, 3);
            cr_assert_str_eq(fb.data, "pre");
        }
        tl_buf_free(&sb);
    } else {
        cr_assert_eq(scratch.len, 0, "declined parse left bytes in scratch");
    }
    check_onepass(copy, len, now, lines_cap, handled && ch, &fe, scratch.len, &fb);
    tl_buf_free(&fb);
    json_decref(obj);
    tl_buf_free(&scratch);
    tl_free(copy);
    return handled;
}

static int check(const char *text, struct stats *st)
{
    enum tl_rc rc;
    int h = check_one(text, strlen(text), NOW, LINES_CAP, &rc);
    if (st) {
        st->total++;
        st->handled += h;
        st->slow_ok += rc == TL_OK;
    }
    return h;
}

/* ' -> " (hand-written cases) into a static buffer. */
static const char *dq(const char *sq)
{
    static char buf[8192];
    size_t n = strlen(sq);
    cr_assert_lt(n, sizeof buf);
    for (size_t i = 0; i <= n; i++) buf[i] = sq[i] == '\'' ? '"' : sq[i];
    return buf;
}

static void expect_handled(const char *sq)
{
    const char *t = dq(sq);
    enum tl_rc rc;
    int h = check_one(t, strlen(t), NOW, LINES_CAP, &rc);
    cr_assert_eq(h, 1, "fast path should handle: %s (slow rc %d)", t, rc);
}

static void expect_declined(const char *sq)
{
    const char *t = dq(sq);
    int h = check_one(t, strlen(t), NOW, LINES_CAP, NULL);
    cr_assert_eq(h, 0, "fast path should decline: %s", t);
}

/* ---------- realistic events (the shapes of bench/gen_events.py) ---------- */

/* One NDJSON line (without newline) like gen_events.py --count writes
 * (bench/event_gen.h, shared with the parsing benchmark). */
static void gen_realistic(struct tl_buf *out, long i, int64_t ts) { tl_gen_event(out, i, ts, &rng_s); }

/* ---------- random events (valid and wild) ---------- */

static const char *const TYPES[] = {"page_view",
                                    "product_view",
                                    "category_view",
                                    "search",
                                    "add_to_cart",
                                    "remove_from_cart",
                                    "checkout_start",
                                    "purchase",
                                    "recommendation_impression",
                                    "recommendation_click",
                                    "return"};

/* Valid-looking values and invalid ones per kind. */
static const char *const V_ID_OK[] = {"\"u1\"",
                                      "\"cust-17850\"",
                                      "17850",
                                      "0",
                                      "-0",
                                      "-42",
                                      "\"a b\"",
                                      "\"\xc3\xa9t\xc3\xa9\"",
                                      "\"\xe2\x82\xac\"",
                                      "\"\xf0\x9f\x98\x80\"",
                                      "9223372036854775807",
                                      "-9223372036854775808",
                                      "\"x/y\"",
                                      "\"\x7e\""};
static const char *const V_ID_BAD[] = {"\"\"",
                                       "\"a\x7f\"",
                                       "\"a\xc2\x85\"",
                                       "1.5",
                                       "1e3",
                                       "true",
                                       "false",
                                       "[]",
                                       "{}",
                                       "\"a\\u0041\"",
                                       "\"a\\tb\"",
                                       "9223372036854775808",
                                       "-9223372036854775809",
                                       "12345678901234567890",
                                       "\"a\x01\"",
                                       "\"\xc3\"",
                                       "\"\xed\xa0\x80\"",
                                       "\"\xc0\xaf\"",
                                       "\"\xe0\x80\xaf\"",
                                       "\"\xf0\x80\x80\xaf\"",
                                       "\"\xe0\x9f\xbf\"",
                                       "\"\xf0\x8f\xbf\xbf\"",
                                       "\"\xf4\x90\x80\x80\"",
                                       "01",
                                       "-",
                                       "+1",
                                       "\"\\u0000\""};
static const char *const V_TS_OK[] = {"\"2024-05-01T10:15:32.123Z\"",
                                      "\"2024-05-01T10:15:32Z\"",
                                      "\"2024-05-01\"",
                                      "\"2024-05-01T12:15:32.5+02:00\"",
                                      "\"2024-05-01 10:15\"",
                                      "\"2024-04-30T23:59:59.999999-0130\"",
                                      "1714558532123",
                                      "946684800000",
                                      "\"2024-05-02T21:46:40Z\"",
                                      "\"2000-01-01T00:00:00Z\"",
                                      "\"2024-04-30T23:59:60.250Z\"",
                                      "\"2024-04-30T10:15:32.000Z\""};
static const char *const V_TS_BAD[] = {"1714558532",
                                       "1714558532123.0",
                                       "1.7e12",
                                       "\"2024-13-01\"",
                                       "\"2024-05-01T\"",
                                       "\"yesterday\"",
                                       "\"2024-05-02T21:46:40.001Z\"",
                                       "\"1999-12-31T23:59:59Z\"",
                                       "-1",
                                       "9223372036854775807",
                                       "\"\"",
                                       "true",
                                       "[1]",
                                       "{}",
                                       "\"2024-05-01T10:00:00\\u005a\""};
static const char *const V_QTY_OK[] = {"1", "2", "2.5", "1e9", "1000000000", "0.001", "1E2", "3.0", "1e-300"};
static const char *const V_QTY_BAD[] = {"0",    "-1",    "-0.0", "1000000001", "1e10", "\"2\"",
                                        "true", "1e400", "[]",   "00",         "1.",   ".5"};
static const char *const V_PRICE_OK[] = {"12.34",
                                         "0",
                                         "0.0",
                                         "-0.0",
                                         "-0",
                                         "7.65",
                                         "1e-400",
                                         "123456789012345678",
                                         "12.345678901234567",
                                         "9.99e2",
                                         "0.1",
                                         "2.55",
                                         "1234567890.12345",
                                         "0.000001",
                                         "1.7976931348623157e308",
                                         "3"};
static const char *const V_PRICE_BAD[] = {"-1", "-0.01", "\"1\"", "null1", "1e999", "-1e999", "false"};
static const char *const V_TEXT_OK[] = {"\"red mug\"", "\"Home > Kitchen > Mugs\"", "\"caf\xc3\xa9\"", "\"x\"",
                                        "\"\xe4\xb8\xad\xe6\x96\x87\""};
static const char *const V_TEXT_BAD[] = {"\"\"", "\"a\x7f\"", "\"a\\nb\"", "5", "[\"a\"]", "\"\xc2\x9f\""};
static const char *const V_COUNTRY_OK[] = {"\"GB\"", "\"gb\"", "\"Fr\"", "\"dE\""};
static const char *const V_COUNTRY_BAD[] = {"\"G\"", "\"GBR\"", "\"G1\"", "\"\xc3\xa9\"", "12",
                                            "\"\"",  "\"g \"",  "\"@A\"", "\"[Z\""};
static const char *const V_DWELL_OK[] = {"5400", "0", "86400000", "-0"};
static const char *const V_DWELL_BAD[] = {"-1", "86400001", "5400.0", "1e3", "\"5400\"", "true"};
static const char *const V_SCROLL_OK[] = {"0.62", "0", "1", "1.0", "-0.0", "0.5e0", "1e-5"};
static const char *const V_SCROLL_BAD[] = {"75", "-0.1", "1.0000001", "\"0.5\"", "[0.5]"};
static const char *const V_CONTEXT_OK[] = {
    "{\"url\":\"https://shop.example/p/84029E\",\"referrer\":\"https://www.google.com/\",\"device\":\"mobile\"}",
    "{}",
    "{ \"a\" : { \"b\" : [ 1 , 2.5e3 , { \"c\" : null } , [ ] ] } , \"d\" : true }",
    "{\"u\":\"a\\/b\\u00e9\\ud83d\\ude00\\n\\\"\"}",
    "{\"n\":-0.0,\"big\":1e308,\"tiny\":1e-999}",
    "{\"x\":[[[[[[[[1]]]]]]]]}",
    "{\"a\\u0062\":1}",
    "{\"k\":\"\xc2\x85\x7f\"}"};
static const char *const V_CONTEXT_BAD[] = {"[1]",
                                            "\"str\"",
                                            "5",
                                            "{\"a\":1,\"a\":2}",
                                            "{\"u\":\"\\x\"}",
                                            "{\"u\":\"\\ud83d\"}",
                                            "{\"u\":\"\\ude00\"}",
                                            "{\"u\":\"\\u00\"}",
                                            "{\"a\":1,}",
                                            "{\"a\" 1}",
                                            "{\"n\":1e400}",
                                            "{\"n\":123456789012345678901}",
                                            "{\"a\":[1,]}",
                                            "{\"a\":tru}",
                                            "{\"u\":\"\\u0000\"}"};
static const char *const V_UNKNOWN[] = {"\"spring\"",
                                        "[1,2]",
                                        "true",
                                        "null",
                                        "{\"a\":{\"b\":\"c\"}}",
                                        "-12.5e-3",
                                        "\"\\u00e9\"",
                                        "[]",
                                        "123456789012345678901234567890.5",
                                        "0"};

static const char *val_of(const char *const *ok, size_t nok, const char *const *bad, size_t nbad, int wild)
{
    if (wild && chance(25)) return chance(15) ? "null" : bad[rn(nbad)];
    return ok[rn(nok)];
}
#define VAL(kind, wild)                                                                                                \
    val_of(kind##_OK, sizeof kind##_OK / sizeof *kind##_OK, kind##_BAD, sizeof kind##_BAD / sizeof *kind##_BAD, wild)

struct kv {
    char k[48];
    char v[4200];
};

static void add(struct kv *f, size_t *n, const char *k, const char *v)
{
    size_t kl = strlen(k), vl = strlen(v);
    cr_assert(kl < sizeof f[*n].k && vl < sizeof f[*n].v);
    memcpy(f[*n].k, k, kl + 1);
    memcpy(f[*n].v, v, vl + 1);
    (*n)++;
}

static const char *ws(int pretty)
{
    static const char *const w[] = {"", "", "", " ", "  ", "\t", "\r\n", "\n "};
    return pretty ? w[rn(8)] : "";
}

/* items array for a line type */
static void gen_items(char *out, size_t cap, const char *type, int wild)
{
    size_t n = wild && chance(10) ? 0 : rn(4) + 1, len = 0;
    int impression = !strcmp(type, "recommendation_impression");
    len += (size_t)snprintf(out + len, cap - len, "[");
    for (size_t i = 0; i < n && len < cap - 400; i++) {
        if (i) len += (size_t)snprintf(out + len, cap - len, ",");
        if (impression && chance(50)) {
            len += (size_t)snprintf(out + len, cap - len, "%s", chance(50) ? "\"SKU-1\"" : VAL(V_ID, wild));
            continue;
        }
        len += (size_t)snprintf(out + len, cap - len, "{\"item_id\":%s", VAL(V_ID, wild));
        if (!wild || chance(80)) len += (size_t)snprintf(out + len, cap - len, ",\"quantity\":%s", VAL(V_QTY, wild));
        if (!wild || chance(80)) len += (size_t)snprintf(out + len, cap - len, ",\"price\":%s", VAL(V_PRICE, wild));
        if (chance(10)) len += (size_t)snprintf(out + len, cap - len, ",\"note\":%s", PICK(V_UNKNOWN));
        if (wild && chance(5)) len += (size_t)snprintf(out + len, cap - len, ",\"item_id\":\"dup\"");
        len += (size_t)snprintf(out + len, cap - len, "}");
    }
    snprintf(out + len, cap - len, "]");
}

static int allow_pretty = 1; /* 0 while generating NDJSON lines */

/* A random event into b. wild = mix in invalid values and structures. */
static void gen_event(struct tl_buf *b, int wild)
{
    struct kv *f = tl_calloc(32, sizeof *f);
    size_t n = 0;
    const char *type = PICK(TYPES);
    char tmp[4200];
    int pretty = allow_pretty && chance(20);
    if (wild && chance(5))
        add(f, &n, "type", PICK(V_ID_BAD));
    else if (wild && chance(3))
        add(f, &n, "type", "\"view\"");
    else if (!(wild && chance(3))) {
        snprintf(tmp, sizeof tmp, "\"%s\"", type);
        add(f, &n, "type", tmp);
    }
    if (chance(70)) add(f, &n, "timestamp", VAL(V_TS, wild));
    int who = (int)rn(3);
    if (who != 1 || (wild && chance(10))) add(f, &n, "user_id", VAL(V_ID, wild));
    if (who != 0) add(f, &n, "anonymous_id", VAL(V_ID, wild));
    if (chance(50)) add(f, &n, "session_id", VAL(V_ID, wild));
    if (chance(60))
        add(f, &n, "event_id", wild && chance(10) ? "12" : chance(50) ? "\"7f3a9c2b-11d4\"" : "\"e\xc3\xa9\"");
    int need_item = !strcmp(type, "product_view") || !strcmp(type, "add_to_cart") ||
                    !strcmp(type, "remove_from_cart") || !strcmp(type, "recommendation_click");
    int lines_type = !strcmp(type, "purchase") || !strcmp(type, "return") || !strcmp(type, "checkout_start") ||
                     !strcmp(type, "recommendation_impression");
    int shortcut = (!strcmp(type, "purchase") || !strcmp(type, "return")) && chance(40);
    if (need_item || shortcut || chance(20)) {
        if (!(wild && chance(5))) add(f, &n, "item_id", VAL(V_ID, wild));
    }
    if (chance(30) || (shortcut && chance(70))) add(f, &n, "quantity", VAL(V_QTY, wild));
    if (chance(40) || (shortcut && !strcmp(type, "purchase") && !(wild && chance(10))))
        add(f, &n, "price", VAL(V_PRICE, wild));
    if (!strcmp(type, "search") ? !(wild && chance(10)) : chance(10)) add(f, &n, "query", VAL(V_TEXT, wild));
    if (!strcmp(type, "category_view") ? !(wild && chance(10)) : chance(10)) add(f, &n, "category", VAL(V_TEXT, wild));
    if (chance(60)) add(f, &n, "country", VAL(V_COUNTRY, wild));
    if (chance(20)) add(f, &n, "order_id", VAL(V_ID, wild));
    if (chance(20)) add(f, &n, "recommendation_id", wild && chance(10) ? "5" : "\"r-5f2c\"");
    if (chance(40)) add(f, &n, "dwell_ms", VAL(V_DWELL, wild));
    if (chance(30)) add(f, &n, "scroll_depth", VAL(V_SCROLL, wild));
    if (chance(40)) add(f, &n, "context", VAL(V_CONTEXT, wild));
    if ((lines_type && !shortcut) || chance(5)) {
        if (wild && chance(5))
            add(f, &n, "items", chance(50) ? "\"abc\"" : "[1.5]");
        else {
            gen_items(tmp, sizeof tmp, type, wild);
            add(f, &n, "items", tmp);
        }
    }
    if (chance(15)) add(f, &n, "x_campaign", PICK(V_UNKNOWN));
    if (chance(5)) add(f, &n, "", "1");
    if (wild && chance(5) && n) { /* duplicate key */
        char key[48];
        memcpy(key, f[rn(n)].k, sizeof key);
        add(f, &n, key, "\"dup\"");
    }
    if (chance(3)) { /* long strings */
        memset(tmp, 'q', 1003);
        tmp[0] = '"';
        snprintf(tmp + 1 + (chance(50) ? 1000 : 1001), 3, "\""); /* at the limit of query, or over */
        add(f, &n, chance(50) ? "query" : "user_id", tmp);
    }
    /* shuffle */
    for (size_t i = n; i > 1; i--) {
        size_t j = rn(i);
        struct kv t = f[i - 1];
        f[i - 1] = f[j];
        f[j] = t;
    }
    tl_buf_printf(b, "%s{%s", ws(pretty), ws(pretty));
    for (size_t i = 0; i < n; i++)
        tl_buf_printf(b, "%s\"%s\"%s:%s%s%s", i ? "," : "", f[i].k, ws(pretty), ws(pretty), f[i].v, ws(pretty));
    tl_buf_printf(b, "}%s", ws(pretty));
    tl_free(f);
}

/* 1-3 byte-level mutations of b. */
static void mutate(struct tl_buf *b)
{
    static const char set[] = "{}[]\",:\\0123456789.-+eEtfnul aZ\x7f\x01\n\r\t";
    static const char *const specials[] = {"\xc2", "\xc2\x85", "\xff", "\xed\xa0\x80",
                                           "\\u",  "\\ud83d",  "\x00", "\xef\xbb\xbf"};
    int k = (int)rn(3) + 1;
    for (int m = 0; m < k && b->len; m++) {
        size_t at = rn(b->len);
        switch (rn(5)) {
        case 0: /* truncate */
            b->len = at;
            break;
        case 1: /* delete a byte */
            memmove(b->data + at, b->data + at + 1, b->len - at - 1);
            b->len--;
            break;
        case 2: /* replace */
            b->data[at] = set[rn(sizeof set - 1)];
            break;
        case 3: { /* insert */
            char c = set[rn(sizeof set - 1)];
            tl_buf_putc(b, 0);
            memmove(b->data + at + 1, b->data + at, b->len - at - 1);
            b->data[at] = c;
            break;
        }
        default: { /* insert a multi-byte special */
            const char *s = PICK(specials);
            size_t sl = s[0] ? strlen(s) : 1;
            for (size_t i = 0; i < sl; i++) tl_buf_putc(b, 0);
            memmove(b->data + at + sl, b->data + at, b->len - at - sl);
            memcpy(b->data + at, s, sl);
            break;
        }
        }
    }
    if (b->data) b->data[b->len] = '\0';
}

/* ---------- tests: hand-written ---------- */

Test(ingest_event_fast, simple_events_are_handled)
{
    const char *ok[] = {
        "{'type':'page_view','user_id':'u'}",
        "{'type':'product_view','user_id':'u','item_id':'i'}",
        "{'type':'category_view','user_id':'u','category':'Mugs'}",
        "{'type':'search','user_id':'u','query':'red mug'}",
        "{'type':'add_to_cart','user_id':'u','item_id':'i'}",
        "{'type':'remove_from_cart','user_id':'u','item_id':'i','quantity':2}",
        "{'type':'checkout_start','user_id':'u'}",
        "{'type':'checkout_start','user_id':'u','items':[]}",
        "{'type':'purchase','user_id':'u','items':[{'item_id':'i','quantity':1,'price':3}]}",
        "{'type':'recommendation_impression','user_id':'u'}",
        "{'type':'recommendation_impression','user_id':'u','items':['SKU-1',17,{'item_id':'SKU-9'}]}",
        "{'type':'recommendation_click','user_id':'u','item_id':'i'}",
        "{'type':'return','user_id':'u','item_id':'i','quantity':1}",
        "{'type':'purchase','user_id':'u','order_id':536366,'item_id':22633,'quantity':6,'price':1.85}",
        " \r\n\t{ 'type' : 'page_view' , 'anonymous_id' : 'a' } \r\n",
        "{'type':'product_view','event_id':'7f3a9c2b','timestamp':'2024-05-01T10:15:32.123Z','anonymous_id':"
        "'a-9c8b7a6f5e4d','user_id':'cust-17850','session_id':'s-12345678','item_id':'SKU-84029E','country':'gb',"
        "'dwell_ms':5400,'scroll_depth':0.62,'context':{'url':'https://shop.example/p/84029E','referrer':"
        "'https://www.google.com/','device':'mobile'}}",
        "{'type':'page_view','user_id':null,'anonymous_id':'a','country':null,'timestamp':null,'dwell_ms':null,"
        "'context':null,'items':null,'future':[1,{'a':null}],'x':'\\u00e9'}",
        "{'type':'page_view','user_id':-0,'timestamp':1714558532123}",
        "{'type':'purchase','user_id':'u','items':[{'item_id':'a','price':0,'note':{'gift':true}},"
        "{'item_id':'b','quantity':2.5,'price':1e2}]}",
        "{'type':'search','user_id':'u','query':'caf\xc3\xa9 \xe2\x82\xac'}",
        "{'type':'page_view','user_id':'u','timestamp':'2024-04-30T23:59:60.250Z'}", /* leap second */
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) expect_handled(ok[i]);
}

Test(ingest_event_fast, field_values_match_slow_path)
{
    /* check_one compares every field; also spot-check a few values */
    struct tl_buf scratch;
    tl_buf_init(&scratch, 0);
    struct tl_event e;
    int h;
    const char *t = dq("{'type':'add_to_cart','user_id':17850,'item_id':'SKU-1','country':'gb','price':7.65,"
                       "'dwell_ms':10,'scroll_depth':0.5}");
    cr_assert_eq(tl_evfast_parse(t, strlen(t), NOW, &e, fast_lines, 8, &scratch, &h), TL_OK);
    cr_assert_eq(h, 1);
    cr_assert_eq(e.type, TL_EV_ADD_TO_CART);
    cr_assert_eq(e.ts_ms, NOW);
    cr_assert_str_eq(e.user_id, "17850");
    cr_assert_str_eq(e.country, "GB");
    cr_assert_eq(e.quantity, 1.0, "cart default quantity");
    cr_assert_eq(e.price, 7.65);
    cr_assert_eq(e.dwell_ms, -1, "not a view");
    cr_assert(isnan(e.scroll_depth));
    cr_assert(e.user_id >= scratch.data && e.user_id < scratch.data + scratch.len, "copied into scratch");
    cr_assert_eq(scratch.data[scratch.len], '\0');
    tl_buf_free(&scratch);
    check(t, NULL);
}

Test(ingest_event_fast, invalid_or_unusual_events_are_declined)
{
    const char *no[] = {
        /* invalid for the slow path */
        "{}",
        "[]",
        "{'type':'page_view'}",
        "{'type':'view','user_id':'u'}",
        "{'type':5,'user_id':'u'}",
        "{'type':'product_view','user_id':'u'}",
        "{'type':'search','user_id':'u','query':''}",
        "{'type':'page_view','user_id':''}",
        "{'type':'page_view','user_id':'u','timestamp':1714558532}",
        "{'type':'page_view','user_id':'u','timestamp':'2024-05-03T00:00:00Z'}",
        "{'type':'page_view','user_id':'u','timestamp':1.7e12}",
        "{'type':'page_view','user_id':'u','dwell_ms':1.0}",
        "{'type':'page_view','user_id':'u','scroll_depth':75}",
        "{'type':'page_view','user_id':'u','country':'GBR'}",
        "{'type':'add_to_cart','user_id':'u','item_id':'i','quantity':0}",
        "{'type':'add_to_cart','user_id':'u','item_id':'i','price':-1}",
        "{'type':'page_view','user_id':'u','event_id':12}",
        "{'type':'page_view','user_id':'u','context':[1]}",
        "{'type':'purchase','user_id':'u','items':[]}",
        "{'type':'purchase','user_id':'u','items':[{'item_id':'i'}]}",
        "{'type':'purchase','user_id':'u','items':['i']}",
        "{'type':'purchase','user_id':'u','item_id':'i'}",
        "{'type':'page_view','user_id':'u','user_id':'v'}",
        "{'type':'page_view','user_id':'u','x':1,'x':2}",
        "{'type':'page_view','user_id':'u','context':{'a':1,'a':1}}",
        "{'type':'page_view','user_id':'u'} x",
        "{'type':'page_view','user_id':'u',}",
        "{'type':'page_view','user_id':'u'",
        "{'type':'page_view' 'user_id':'u'}",
        "{'type':'page_view','user_id':'u','n':01}",
        "{'type':'page_view','user_id':'u','n':1e400}",
        "{'type':'page_view','user_id':'u','n':99999999999999999999}",
        "{'type':'page_view','user_id':'a\x7f'}",
        "{'type':'page_view','user_id':'a\xc2\x80'}",
        "{'type':'page_view','user_id':'\xc3\x28'}",
        "{'type':'page_view','user_id':'u','context':{'u':'\\ud800'}}",
        "{'type':'page_view','user_id':'u','context':{'u':'\\u0000'}}",
        /* valid but outside the fast subset */
        "{'type':'page_view','user_id':'\\u0075'}",
        "{'typ\\u0065':'page_view','user_id':'u'}",
        "{'type':'page_view','user_id':'u','context':{'k\\u0065y':1}}",
        "{'type':'page_view','user_id':'u','items':'abc'}",
    };
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) expect_declined(no[i]);
}

Test(ingest_event_fast, lines_capacity_and_limits)
{
    const char *t =
        dq("{'type':'purchase','user_id':'u','items':[{'item_id':'a','price':1},{'item_id':'b','price':2}]}");
    enum tl_rc rc;
    cr_assert_eq(check_one(t, strlen(t), NOW, 2, &rc), 1);
    cr_assert_eq(check_one(t, strlen(t), NOW, 1, &rc), 0, "more lines than lines_cap");
    cr_assert_eq(rc, TL_ETOOBIG);
    const char *s = dq("{'type':'purchase','user_id':'u','item_id':'a','price':1}");
    cr_assert_eq(check_one(s, strlen(s), NOW, 1, &rc), 1);
    cr_assert_eq(check_one(s, strlen(s), NOW, 0, &rc), 0, "shortcut needs one line of room");
    /* 1000 lines ok, 1001 not */
    struct tl_buf b;
    tl_buf_init(&b, 0);
    for (int n = 1000; n <= 1001; n++) {
        tl_buf_reset(&b);
        tl_buf_puts(&b, "{\"type\":\"recommendation_impression\",\"user_id\":\"u\",\"items\":[");
        for (int i = 0; i < n; i++) tl_buf_printf(&b, "%s%d", i ? "," : "", i);
        tl_buf_puts(&b, "]}");
        cr_assert_eq(check_one(b.data, b.len, NOW, LINES_CAP, &rc), n == 1000, "%d lines", n);
    }
    tl_buf_free(&b);
}

Test(ingest_event_fast, declining_has_no_side_effects)
{
    struct tl_buf scratch;
    tl_buf_init(&scratch, 0);
    tl_buf_puts(&scratch, "keep");
    struct tl_event e, before;
    memset(&e, 0x5a, sizeof e);
    before = e;
    int h = 7;
    const char *t = dq("{'type':'page_view','user_id':'u','context':{'a':1,'a':2}}");
    cr_assert_eq(tl_evfast_parse(t, strlen(t), NOW, &e, fast_lines, 8, &scratch, &h), TL_OK);
    cr_assert_eq(h, 0);
    cr_assert_eq(memcmp(&e, &before, sizeof e), 0);
    cr_assert_eq(scratch.len, 4);
    cr_assert_str_eq(scratch.data, "keep");
    /* bad arguments */
    cr_assert_eq(tl_evfast_parse(NULL, 3, NOW, &e, NULL, 0, &scratch, &h), TL_EINVAL);
    cr_assert_eq(tl_evfast_parse(t, strlen(t), NOW, NULL, NULL, 0, &scratch, &h), TL_EINVAL);
    cr_assert_eq(tl_evfast_parse(NULL, 0, NOW, &e, NULL, 0, &scratch, &h), TL_OK);
    cr_assert_eq(h, 0);
    struct tl_buf body;
    tl_buf_init(&body, 0);
    cr_assert_eq(tl_evfast_parse_canonical(t, strlen(t), NOW, &e, NULL, 0, &scratch, NULL, &h), TL_EINVAL);
    cr_assert_eq(tl_evfast_parse_canonical(NULL, 3, NOW, &e, NULL, 0, &scratch, &body, &h), TL_EINVAL);
    cr_assert_eq(tl_evfast_parse_canonical(NULL, 0, NOW, &e, NULL, 0, &scratch, &body, &h), TL_OK);
    cr_assert_eq(h, 0);
    cr_assert_eq(body.len, 0);
    tl_buf_free(&body);
    tl_buf_free(&scratch);
}

/* ---------- tests: one pass (tl_evfast_parse_canonical) ---------- */

/* The one-pass body of text, for exact expectations; "" when declined. */
static const char *onepass_body(const char *t, struct tl_buf *body)
{
    struct tl_buf scratch;
    tl_buf_init(&scratch, 0);
    tl_buf_reset(body);
    struct tl_event e;
    int h = -1;
    cr_assert_eq(tl_evfast_parse_canonical(t, strlen(t), NOW, &e, fast_lines, LINES_CAP, &scratch, body, &h), TL_OK);
    tl_buf_free(&scratch);
    return h ? body->data : "";
}

Test(ingest_event_fast, onepass_rewrites_in_place)
{
    /* every rewrite of the canonical body, checked against jansson too */
    const char *ok[] = {
        " { 'type' : 'purchase' , 'user_id' : 17850 ,\r\n 'items' : [ { 'item_id' : 22633 , 'price' : 2.50 } ] } ",
        "{'type':'page_view','anonymous_id':-0,'country':'gb','timestamp':'2024-05-01T10:15:32Z','dwell_ms':-0}",
        "{'type':'page_view','user_id':'u','timestamp':null,'x':[1E2,0.00001,-0.0,1e-300,12.30]}",
        "{'type':'recommendation_impression','user_id':'u','items':[17,-0,'s',{'item_id':5}]}",
        /* "items" before "type": integer ids rewritten once the type is known */
        "{'items':[17,{'item_id':5,'price':1}],'type':'recommendation_impression','user_id':'u'}",
        "{'user_id':7,'items':[{'item_id':-0,'quantity':2,'price':3.50}],'type':'purchase'}",
        "{'items':[{'item_id':1,'price':2}],'order_id':9,'type':'checkout_start','anonymous_id':'a'}",
        "{'items':[17,{'item_id':5}],'type':'page_view','user_id':'u'}", /* not a line type: stay integers */
        "{'items':['a',{'item_id':'b'}],'type':'recommendation_impression','user_id':'u'}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) expect_handled(ok[i]);
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_str_eq(onepass_body(dq(" { 'type' : 'purchase' , 'user_id' : 17850 ,\r\n 'items' : [ { 'item_id' : "
                                     "22633 , 'price' : 2.50 } ] , 'timestamp' : 1714558532123 } "),
                                  &b),
                     dq("{'type':'purchase','user_id':'17850','items':[{'item_id':'22633','price':2.5}],"
                        "'timestamp':'2024-05-01T10:15:32.123Z'}"));
    cr_assert_str_eq(onepass_body(dq("{'items':[17,{'item_id':-0}],'type':'recommendation_impression','user_id':1,"
                                     "'country':'fR'}"),
                                  &b),
                     dq("{'items':['17',{'item_id':'0'}],'type':'recommendation_impression','user_id':'1',"
                        "'country':'FR','timestamp':'2024-05-01T21:46:40.000Z'}"));
    cr_assert_str_eq(onepass_body(dq("{'items':[17],'type':'page_view','user_id':'u','timestamp':'2024-05-01'}"), &b),
                     dq("{'items':[17],'type':'page_view','user_id':'u','timestamp':'2024-05-01T00:00:00.000Z'}"));
    tl_buf_free(&b);
}

/* Reals whose fraction ends in zeros are written without them, as
 * jansson's "%.15g" does, by a shortcut: each is checked against jansson
 * (expect_handled), and a few exactly. */
Test(ingest_event_fast, reals_with_trailing_zeros_as_jansson_writes_them)
{
    const char *reals = "48.80 48.00 0.0 -0.0 0.000 -0.00 100.0 100.500 0.00010 0.000010 0.0001000 "
                        "123456789012345.0 1234567890123456.0 12345678901234.50 1.234567890123450 "
                        "1.2345678901234560 9.990 -7.10 0.10 3.000000000000000000000000000000000000000000000000000";
    struct tl_buf t;
    tl_buf_init(&t, 0);
    char real[80];
    int used, n = 0;
    for (const char *r = reals; sscanf(r, "%79s%n", real, &used) == 1; r += used, n++) {
        tl_buf_reset(&t);
        tl_buf_printf(&t, "{'type':'page_view','user_id':'u','timestamp':1714558532123,'x':%s,'y':[%s]}", real, real);
        expect_handled(t.data);
    }
    cr_assert_eq(n, 20);
    tl_buf_free(&t);
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_str_eq(onepass_body(dq("{'type':'page_view','user_id':'u','timestamp':1714558532123,"
                                     "'x':[48.80,48.00,-0.00,0.00010,100.0,1.5]}"),
                                  &b),
                     dq("{'type':'page_view','user_id':'u','timestamp':'2024-05-01T10:15:32.123Z',"
                        "'x':[48.8,48.0,-0.0,0.0001,100.0,1.5]}"));
    tl_buf_free(&b);
}

Test(ingest_event_fast, onepass_declines_what_the_second_walk_declines)
{
    /* valid and accepted by tl_evfast_parse, but the canonical body needs
     * jansson: the one pass declines the whole event */
    struct tl_buf long_real;
    tl_buf_init(&long_real, 0);
    tl_buf_puts(&long_real, "{'type':'page_view','user_id':'u','x':0.");
    for (int i = 0; i < 70; i++) tl_buf_putc(&long_real, (char)('1' + i % 9));
    tl_buf_puts(&long_real, "}");
    const char *cases[] = {
        "{'type':'page_view','user_id':'u','context':{'q':'a\\nb'}}",
        "{'type':'page_view','user_id':'u','x':'\\u00e9'}",
        "{'type':'purchase','user_id':'u','items':[{'item_id':'i','price':1,'note':'\\/'}]}",
        long_real.data,
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *t = dq(cases[i]);
        size_t len = strlen(t);
        struct tl_buf scratch, body;
        tl_buf_init(&scratch, 0);
        tl_buf_init(&body, 0);
        struct tl_event e;
        int h = -1;
        cr_assert_eq(tl_evfast_parse(t, len, NOW, &e, fast_lines, LINES_CAP, &scratch, &h), TL_OK);
        cr_assert_eq(h, 1, "parse should accept: %s", t);
        tl_buf_reset(&scratch);
        cr_assert_eq(tl_evfast_parse_canonical(t, len, NOW, &e, fast_lines, LINES_CAP, &scratch, &body, &h), TL_OK);
        cr_assert_eq(h, 0, "one pass should decline: %s", t);
        cr_assert_eq(body.len, 0);
        cr_assert_eq(scratch.len, 0);
        check(t, NULL); /* and the same as the two calls */
        tl_buf_free(&scratch);
        tl_buf_free(&body);
    }
    tl_buf_free(&long_real);
}

/* Two passes vs one when the body cannot grow (max = 8: TL_ETOOBIG; or an
 * injected allocation failure: TL_ENOMEM): the error only for events the
 * parse accepts, and the buffers as they were. */
static void check_append_error(const char *t, size_t len, int inject)
{
    struct tl_buf scratch, body;
    struct tl_event e;
    int h2 = -1, h1 = -1;
    enum tl_rc rc2 = TL_OK, rc1;
    tl_buf_init(&scratch, 0);
    tl_buf_reserve(&scratch, 1 << 16); /* the parse must not allocate */
    tl_buf_init(&body, inject ? 0 : 8);
    cr_assert_eq(tl_evfast_parse(t, len, NOW, &e, fast_lines, LINES_CAP, &scratch, &h2), TL_OK);
    if (h2) {
        if (inject) tl_alloc_fail_after(0);
        rc2 = tl_evfast_canonical(t, len, &e, &body, &h2);
        tl_alloc_fail_after(-1);
    }
    tl_buf_free(&body);
    tl_buf_init(&body, inject ? 0 : 8);
    tl_buf_reset(&scratch);
    memset(&e, 0x5a, sizeof e);
    struct tl_event e0 = e;
    if (inject) tl_alloc_fail_after(0);
    rc1 = tl_evfast_parse_canonical(t, len, NOW, &e, fast_lines, LINES_CAP, &scratch, &body, &h1);
    tl_alloc_fail_after(-1);
    cr_assert_eq(rc1, rc2, "rc %d vs %d: [%.*s]", rc1, rc2, (int)len, t);
    cr_assert_eq(h1, h2);
    cr_assert_eq(h1, 0);
    cr_assert_eq(body.len, 0);
    cr_assert_eq(scratch.len, 0);
    cr_assert_eq(memcmp(&e, &e0, sizeof e), 0);
    tl_buf_free(&body);
    tl_buf_free(&scratch);
}

Test(ingest_event_fast, onepass_append_errors_as_two_passes)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    long n = iters(6000) / 10, errors = 0;
    for (long i = 0; i < n; i++) {
        tl_buf_reset(&b);
        if (i % 3 == 0)
            gen_realistic(&b, i, NOW - 5000);
        else
            gen_event(&b, i % 3 == 2);
        if (i % 5 == 4) mutate(&b);
        for (int inject = 0; inject < 2; inject++) check_append_error(b.data, b.len, inject);
        struct tl_buf scratch;
        struct tl_event e;
        int h;
        tl_buf_init(&scratch, 0);
        tl_evfast_parse(b.data, b.len, NOW, &e, fast_lines, LINES_CAP, &scratch, &h);
        errors += h;
        tl_buf_free(&scratch);
    }
    cr_assert_gt(errors, n / 4, "the error path is exercised");
    tl_buf_free(&b);
}

Test(ingest_event_fast, scratch_reserved_once_keeps_pointers_valid)
{
    struct tl_buf body, scratch;
    tl_buf_init(&body, 0);
    tl_buf_init(&scratch, 0);
    enum { N = 200 };
    size_t off[N + 1];
    for (int i = 0; i < N; i++) {
        off[i] = body.len;
        gen_realistic(&body, i, NOW - 1000000 + i);
    }
    off[N] = body.len;
    cr_assert_eq(tl_buf_reserve(&scratch, tl_evfast_scratch_need(body.len, N)), TL_OK);
    const char *data = scratch.data;
    static struct tl_event evs[N];
    static struct tl_line ln[N][4];
    for (int i = 0; i < N; i++) {
        int h;
        tl_evfast_parse(body.data + off[i], off[i + 1] - off[i], NOW, &evs[i], ln[i], 4, &scratch, &h);
        cr_assert_eq(h, 1);
        cr_assert_eq(scratch.data, data, "scratch was reallocated");
    }
    for (int i = 0; i < N; i++) cr_assert(evs[i].event_id && !strncmp(evs[i].event_id, "ev-", 3));
    tl_buf_free(&body);
    tl_buf_free(&scratch);
}

/* ---------- tests: corpora ---------- */

/* The string scanner looks at 8 bytes at a time, then one: a special byte
 * (quote, backslash escape, control byte, DEL, UTF-8 lead, invalid byte)
 * at every position of strings of 0-40 bytes, in a known field (no
 * escapes allowed: declined) and in an unknown one (escapes allowed),
 * agrees with the jansson path. */
Test(ingest_event_fast, special_bytes_at_every_position_of_a_string)
{
    static const char *const special[] = {"\\\"",         "\\\\",     "\\u00e9", "\x01", "\x1f", "\x7f", "\xc3\xa9",
                                          "\xe2\x82\xac", "\xc2\x85", "\xff",    "\xc3", " ",    "~"};
    char text[512], str[128];
    long handled = 0, total = 0;
    for (size_t sp = 0; sp < sizeof special / sizeof *special; sp++)
        for (int len = 0; len <= 40; len++)
            for (int at = 0; at <= len; at++) {
                int n = 0;
                for (int i = 0; i < len; i++) {
                    if (i == at) n += snprintf(str + n, sizeof str - (size_t)n, "%s", special[sp]);
                    str[n++] = (char)('a' + i % 26);
                }
                if (at == len) n += snprintf(str + n, sizeof str - (size_t)n, "%s", special[sp]);
                str[n] = '\0';
                for (int where = 0; where < 2; where++) {
                    snprintf(text, sizeof text,
                             where ? "{\"type\":\"page_view\",\"user_id\":\"u1\",\"note\":\"%s\"}"
                                   : "{\"type\":\"search\",\"user_id\":\"u1\",\"query\":\"%s\"}",
                             str);
                    handled += check(text, NULL);
                    total++;
                }
            }
    cr_assert_gt(handled, total / 3, "%ld of %ld handled", handled, total);
}

Test(ingest_event_fast, realistic_corpus_fully_handled)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    long n = iters(5000);
    struct stats st = {0};
    for (long i = 0; i < n; i++) {
        tl_buf_reset(&b);
        gen_realistic(&b, i, NOW - 30LL * 86400000 + i * 1000);
        cr_assert(b.len >= 140 && b.len <= 260, "size %zu: %s", b.len, b.data);
        cr_assert_eq(check(b.data, &st), 1, "realistic event not handled: %s", b.data);
    }
    cr_assert_eq(st.handled, n);
    cr_assert_eq(canon_handled, n, "canonical body written by the fast path for every realistic event");
    cr_assert_eq(onepass_handled, n, "and by the one-pass function");
    cr_assert_eq(compact_written, n, "and its compact body by tl_evfast_parse_compact");
    tl_buf_free(&b);
}

Test(ingest_event_fast, random_valid_events)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    struct stats st = {0};
    long n = iters(6000);
    for (long i = 0; i < n; i++) {
        tl_buf_reset(&b);
        gen_event(&b, 0);
        check(b.data, &st);
    }
    cr_log_info("valid generator: %ld events, slow ok %ld, fast handled %ld, canonical by fast path %ld, one pass %ld,"
                " compact %ld",
                st.total, st.slow_ok, st.handled, canon_handled, onepass_handled, compact_written);
    cr_assert_gt(canon_handled, st.handled * 7 / 10);
    cr_assert_eq(onepass_handled, canon_handled);
    /* the compact writer gives up only on integer timestamps, timestamps in
     * another form and odd kinds of known fields */
    cr_assert_gt(compact_written, onepass_handled / 2);
    /* the generator's "valid" events are nearly all valid, and the fast path
     * takes all of those except the few with escapes in context/unknowns */
    cr_assert_gt(st.slow_ok, st.total * 8 / 10);
    cr_assert_gt(st.handled, st.slow_ok * 6 / 10);
    tl_buf_free(&b);
}

Test(ingest_event_fast, random_wild_and_mutated_events)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    struct stats wild = {0}, mut = {0};
    long n = iters(6000);
    for (long i = 0; i < n; i++) {
        tl_buf_reset(&b);
        gen_event(&b, 1);
        check(b.data, &wild);
        tl_buf_reset(&b);
        if (chance(50))
            gen_event(&b, 0);
        else
            gen_realistic(&b, i, NOW - (int64_t)rn(1000000000));
        mutate(&b);
        enum tl_rc rc;
        int h = check_one(b.data, b.len, NOW, 1 + rn(4), &rc);
        mut.total++;
        mut.handled += h;
        mut.slow_ok += rc == TL_OK;
    }
    cr_log_info("wild: %ld events, slow ok %ld, fast handled %ld", wild.total, wild.slow_ok, wild.handled);
    cr_log_info("mutated: %ld events, slow ok %ld, fast handled %ld", mut.total, mut.slow_ok, mut.handled);
    /* both sides exercised */
    cr_assert_gt(wild.handled, 0);
    cr_assert_lt(wild.slow_ok, wild.total);
    cr_assert_gt(mut.handled, 0);
    cr_assert_lt(mut.slow_ok, mut.total);
    tl_buf_free(&b);
}

Test(ingest_event_fast, every_truncation)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    long n = iters(6000) / 20;
    for (long i = 0; i < n; i++) {
        tl_buf_reset(&b);
        if (i % 2)
            gen_event(&b, 0);
        else
            gen_realistic(&b, i, NOW - 5000);
        for (size_t cut = 0; cut < b.len; cut++) {
            enum tl_rc rc;
            check_one(b.data, cut, NOW, LINES_CAP, &rc);
        }
    }
    tl_buf_free(&b);
}

Test(ingest_event_fast, random_bytes_and_token_soup)
{
    static const char *const tok[] = {
        "{",    "}",    "[",     "]",    ",",    ":", "\"type\"",    "\"page_view\"", "\"user_id\"", "\"u\"",
        "1",    "-0",   "1.5e3", "true", "null", " ", "\"context\"", "\"items\"",     "\"\\u00e9\"", "\"\xc3\xa9\"",
        "\x00", "\xff", "\"",    "\\"};
    char buf[256];
    long n = iters(6000) * 3;
    for (long i = 0; i < n; i++) {
        size_t len = 0;
        if (i % 2) {
            len = rn(sizeof buf);
            for (size_t j = 0; j < len; j++) buf[j] = (char)rnd();
        } else {
            size_t k = rn(40);
            if (chance(70)) buf[len++] = '{';
            for (size_t j = 0; j < k; j++) {
                const char *t = PICK(tok);
                size_t tl = t[0] ? strlen(t) : 1;
                if (len + tl > sizeof buf) break;
                memcpy(buf + len, t, tl);
                len += tl;
            }
        }
        check_one(buf, len, NOW, 1 + rn(3), NULL);
    }
}

Test(ingest_event_fast, numbers_match_strtod)
{
    /* random decimals of every shape in fields whose value is used */
    static const char *const fields[] = {"price", "quantity", "scroll_depth", "dwell_ms", "x_unknown", "timestamp"};
    char num[96], text[256];
    long handled = 0, n = iters(6000) * 5;
    for (long i = 0; i < n; i++) {
        size_t len = 0;
        if (chance(20)) num[len++] = '-';
        size_t ni = rn(21), nf = chance(60) ? rn(21) : 0;
        if (ni == 0 || chance(20))
            num[len++] = '0';
        else {
            num[len++] = (char)('1' + rn(9));
            for (size_t j = 1; j < ni; j++) num[len++] = (char)('0' + rn(10));
        }
        if (nf) {
            num[len++] = '.';
            for (size_t j = 0; j < nf; j++) num[len++] = (char)('0' + (chance(30) ? 0 : rn(10)));
        }
        if (chance(20))
            len += (size_t)snprintf(num + len, sizeof num - len, "%s%s%zu", chance(50) ? "e" : "E",
                                    chance(30)   ? "-"
                                    : chance(30) ? "+"
                                                 : "",
                                    rn(chance(50) ? 20 : 400));
        num[len] = '\0';
        int m = snprintf(text, sizeof text, "{\"type\":\"add_to_cart\",\"user_id\":\"u\",\"item_id\":\"i\",\"%s\":%s}",
                         PICK(fields), num);
        handled += check_one(text, (size_t)m, NOW, 4, NULL);
    }
    cr_assert_gt(handled, n / 4);
}

/* ---------- split ---------- */

/* Differential check of tl_evfast_split against tl_event_split_body on an
 * exact-size copy. Returns handled. */
static int check_split(const char *body, size_t len, size_t max)
{
    char *copy = tl_malloc(len ? len : 1);
    if (len) memcpy(copy, body, len);
    static struct tl_span spans[TL_BATCH_MAX + 1];
    size_t n = 12345;
    int handled = -1;
    enum tl_rc frc = tl_evfast_split(copy, len, spans, max, &n, &handled);
    json_t *arr = NULL;
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc src = tl_event_split_body(copy, len, &arr, &err);
    if (frc == TL_ETOOBIG) {
        cr_assert_eq(handled, 1);
        cr_assert(src == TL_ETOOBIG || src == TL_EPARSE || max < TL_BATCH_MAX, "slow rc %d for too-big body", src);
    } else if (handled) {
        cr_assert_eq(frc, TL_OK);
        if (src == TL_OK) {
            cr_assert_eq(n, json_array_size(arr), "count %zu vs %zu: [%.*s]", n, json_array_size(arr), (int)len, body);
            for (size_t i = 0; i < n; i++) {
                cr_assert_leq(spans[i].off + spans[i].len, len);
                json_error_t je;
                json_t *el = json_loadb(copy + spans[i].off, spans[i].len, JSON_REJECT_DUPLICATES, &je);
                cr_assert_not_null(el, "span %zu does not parse: %s", i, je.text);
                cr_assert(json_equal(el, json_array_get(arr, i)), "element %zu differs: [%.*s]", i, (int)len, body);
                json_decref(el);
                long line = 1;
                for (size_t j = 0; j < spans[i].off; j++) line += copy[j] == '\n';
                cr_assert_eq(spans[i].line, line);
            }
        } else {
            /* only allowed when some element is itself not a valid object */
            int some_bad = 0;
            for (size_t i = 0; i < n && !some_bad; i++) {
                json_error_t je;
                json_t *el = json_loadb(copy + spans[i].off, spans[i].len, JSON_REJECT_DUPLICATES, &je);
                some_bad = !el || !json_is_object(el);
                json_decref(el);
            }
            cr_assert(some_bad, "split accepted a body the slow path rejects (%s), all elements valid: [%.*s]", err.msg,
                      (int)len, body);
        }
    }
    json_decref(arr);
    tl_free(copy);
    return handled;
}

static size_t gen_body(struct tl_buf *b, int wild, int *form)
{
    size_t k = rn(12);
    *form = (int)rn(3); /* 0 array, 1 NDJSON, 2 single object */
    if (*form == 2) k = 1;
    allow_pretty = *form != 1 || (wild && chance(20));
    if (chance(5)) tl_buf_puts(b, "\xef\xbb\xbf");
    if (chance(20)) tl_buf_puts(b, chance(50) ? " \n" : "\r\n\t");
    if (*form == 0) tl_buf_puts(b, "[");
    for (size_t i = 0; i < k; i++) {
        if (*form == 0) {
            if (i) tl_buf_puts(b, chance(70) ? "," : ",\n  ");
        } else if (i) {
            tl_buf_puts(b, chance(70) ? "\n" : chance(50) ? "\r\n" : "\n \n\r\n");
        }
        if (wild && chance(30))
            gen_event(b, 1);
        else if (chance(50))
            gen_event(b, 0);
        else
            gen_realistic(b, (long)i, NOW - 1000);
    }
    if (*form == 0)
        tl_buf_puts(b, chance(80) ? "]" : "]\n");
    else if (chance(50))
        tl_buf_puts(b, "\n");
    allow_pretty = 1;
    return k;
}

Test(ingest_event_fast, split_hand_written)
{
    struct {
        const char *body;
        int handled;
        size_t n;
    } cases[] = {
        {"{'a':1}", 1, 1},
        {"\xef\xbb\xbf  {'a':1}\n", 1, 1},
        {"{\n 'a': 1,\n 'b': [1, {'c': '}]'}]\n}\n", 1, 1},
        {"[]", 1, 0},
        {" [ ] \n", 1, 0},
        {"[{'a':1},{'b':'[\\\"{'}]", 1, 2},
        {"[\n {'a':1} ,\n {'b':2}\n]", 1, 2},
        {"{'a':1}\n{'b':2}\n", 1, 2},
        {"{'a':1}\r\n\r\n  \n{'b':2}\r\n", 1, 2},
        {"\n\n{'a':1}\n{'b':2}", 1, 2},
        {"", 0, 0},
        {"  \n ", 0, 0},
        {"\xef\xbb\xbf", 0, 0},
        {"[1]", 0, 0},
        {"[{'a':1},]", 0, 0},
        {"[{'a':1} {'b':2}]", 0, 0},
        {"[{'a':1}", 0, 0},
        {"[{'a':1}] x", 0, 0},
        {"{'a':1} {'b':2}", 0, 0},
        {"{'a':1}\r{'b':2}", 0, 0},
        {"{'a':\n1}\n{'b':2}", 0, 0},
        {"{'a':1}\n{'b':\n2}", 0, 0},
        {"{'a':[}", 0, 0},
        {"{'a':'unterminated}", 0, 0},
        {"{'a':'x\\", 0, 0},
        {"'str'", 0, 0},
        {"[{'a':[}],{'b':1}]", 0, 0},
        {"{'a':[1}]}", 0, 0},
        {"{'a':1}\nnull", 0, 0},
        {"{'a':1}\x00", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *b = dq(cases[i].body);
        size_t len = strlen(b);
        if (i == sizeof cases / sizeof *cases - 1) len += 1; /* the embedded NUL (dq copies the terminator) */
        struct tl_span sp[4];
        size_t n;
        int h;
        enum tl_rc rc = tl_evfast_split(b, len, sp, 4, &n, &h);
        cr_assert_eq(rc, TL_OK);
        cr_assert_eq(h, cases[i].handled, "case %zu: %s", i, b);
        if (h) cr_assert_eq(n, cases[i].n, "case %zu", i);
        check_split(b, len, TL_BATCH_MAX);
    }
    /* element text and line */
    const char *b = "\xef\xbb\xbf\n{\"a\":1}\n\n{\"b\":2}";
    struct tl_span sp[4];
    size_t n;
    int h;
    tl_evfast_split(b, strlen(b), sp, 4, &n, &h);
    cr_assert_eq(n, 2);
    cr_assert_eq(sp[1].off, 13);
    cr_assert_eq(sp[1].len, 7);
    cr_assert_eq(sp[0].line, 2);
    cr_assert_eq(sp[1].line, 4);
}

Test(ingest_event_fast, split_too_many)
{
    struct tl_span sp[4];
    size_t n;
    int h;
    cr_assert_eq(tl_evfast_split("[{},{},{}]", 10, sp, 2, &n, &h), TL_ETOOBIG);
    cr_assert_eq(h, 1);
    cr_assert_eq(tl_evfast_split("{}\n{}\n{}", 8, sp, 2, &n, &h), TL_ETOOBIG);
    cr_assert_eq(tl_evfast_split("[{},{}]", 7, sp, 2, &n, &h), TL_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(tl_evfast_split("[{}]", 4, NULL, 1, &n, &h), TL_EINVAL);
    /* TL_BATCH_MAX against the slow path */
    struct tl_buf b;
    tl_buf_init(&b, 0);
    for (int form = 0; form < 2; form++) {
        for (int count = TL_BATCH_MAX; count <= TL_BATCH_MAX + 1; count++) {
            tl_buf_reset(&b);
            if (!form) tl_buf_putc(&b, '[');
            for (int i = 0; i < count; i++) tl_buf_puts(&b, i ? (form ? "\n{\"a\":1}" : ",{\"a\":1}") : "{\"a\":1}");
            if (!form) tl_buf_putc(&b, ']');
            check_split(b.data, b.len, TL_BATCH_MAX);
            static struct tl_span big[TL_BATCH_MAX];
            enum tl_rc rc = tl_evfast_split(b.data, b.len, big, TL_BATCH_MAX, &n, &h);
            cr_assert_eq(rc, count > TL_BATCH_MAX ? TL_ETOOBIG : TL_OK);
        }
    }
    tl_buf_free(&b);
}

Test(ingest_event_fast, split_random_bodies)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    long n = iters(6000) / 3, handled_ok = 0, total_ok = 0;
    for (long i = 0; i < n; i++) {
        int form;
        tl_buf_reset(&b);
        size_t k = gen_body(&b, 0, &form);
        int h = check_split(b.data, b.len, TL_BATCH_MAX);
        if (form == 0 || k > 0) {
            total_ok++;
            handled_ok += h;
            cr_assert(h, "clean body not split: [%s]", b.data);
        }
        tl_buf_reset(&b);
        gen_body(&b, 1, &form);
        if (chance(70)) mutate(&b);
        check_split(b.data, b.len, TL_BATCH_MAX);
        /* every truncation of a small body */
        if (i % 50 == 0) {
            tl_buf_reset(&b);
            gen_body(&b, 0, &form);
            for (size_t cut = 0; cut < b.len; cut++) check_split(b.data, cut, TL_BATCH_MAX);
        }
    }
    cr_assert_eq(handled_ok, total_ok);
    /* random bytes */
    char raw[128];
    for (long i = 0; i < n; i++) {
        size_t len = rn(sizeof raw);
        for (size_t j = 0; j < len; j++) raw[j] = (char)("{}[]\",\\ \n\ra1:"[rn(14)]);
        if (len && chance(50)) raw[0] = chance(50) ? '{' : '[';
        check_split(raw, len, TL_BATCH_MAX);
    }
    tl_buf_free(&b);
}
