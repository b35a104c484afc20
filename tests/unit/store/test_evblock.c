/* Tests for src/store/evblock.c: events round-trip through a block (every
 * field, NULLs, timestamps going back and forth, empty and long strings),
 * after_seq skipping, callback stop, the idempotency hash array, and damage:
 * every truncation of a frame, every flipped byte of it, a wrong event
 * count or payload length, and hand-made payloads that lie about their
 * lengths are all refused with TL_ESTORE, never read out of bounds. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

#include "core/alloc.h"
#include "store/evblock.h"
#include "store/store.h"

struct rec {
    int64_t seq, ts;
    uint32_t shop;
    int type;
    char user[64], anon[64], item[64], country[8], body[2048];
    int user_null, anon_null, item_null, country_null, body_null;
};

struct acc {
    size_t n, stop_at;
    struct rec r[64];
};

/* Copy s into out; *was_null (if given) says whether s was NULL. */
static void cp(char *out, size_t cap, const char *s, int *was_null)
{
    if (was_null) *was_null = s == NULL;
    snprintf(out, cap, "%s", s ? s : "");
}

static int cb(void *ctx, const struct tl_event *ev)
{
    struct acc *a = ctx;
    cr_assert_lt(a->n, 64);
    struct rec *r = &a->r[a->n++];
    r->seq = ev->seq;
    r->ts = ev->ts_ms;
    r->shop = ev->shop_id;
    r->type = (int)ev->type;
    cp(r->user, sizeof r->user, ev->user_id, &r->user_null);
    cp(r->anon, sizeof r->anon, ev->anonymous_id, &r->anon_null);
    cp(r->item, sizeof r->item, ev->item_id, &r->item_null);
    cp(r->country, sizeof r->country, ev->country, &r->country_null);
    cp(r->body, sizeof r->body, ev->body, &r->body_null);
    cr_assert_eq(ev->body ? strlen(ev->body) : 0, ev->body_len, "body_len matches the NUL-terminated body");
    cr_assert(isnan(ev->price) && isnan(ev->quantity) && ev->dwell_ms == -1, "unstored fields are absent");
    return a->stop_at && a->n == a->stop_at ? 77 : 0;
}

/* Six events with every combination the format distinguishes. */
static void fill(struct tl_evblock_enc *b, char *longbody, size_t longlen)
{
    memset(longbody, 'x', longlen);
    longbody[0] = '{';
    longbody[longlen - 1] = '}';
    longbody[longlen] = 0;
    const struct tl_event evs[] = {
        {.shop_id = 1,
         .type = TL_EV_PRODUCT_VIEW,
         .ts_ms = 1700000000000,
         .user_id = "u1",
         .anonymous_id = "a1",
         .item_id = "sku-1",
         .country = "GB",
         .body = "{\"a\":1}"},
        {.shop_id = 1, .type = TL_EV_SEARCH, .ts_ms = 1699999999000, .anonymous_id = "a2", .body = "{\"q\":\"x\"}"},
        {.shop_id = 1, .type = TL_EV_PURCHASE, .ts_ms = 0, .user_id = "", .body = NULL},
        {.shop_id = 1,
         .type = TL_EV_PAGE_VIEW,
         .ts_ms = -5,
         .anonymous_id = "a3",
         .body = longbody,
         .body_len = longlen},
        {.shop_id = 4000000000u, .type = TL_EV_EXPOSURE, .ts_ms = INT64_MAX / 2, .item_id = "i", .body = "{}"},
        {.shop_id = 1, .type = TL_EV_ADD_TO_CART, .ts_ms = INT64_MIN / 2, .country = "DE", .body = "{\"b\":2}"},
    };
    const uint64_t eids[] = {5, 0, UINT64_MAX, 0x8000000000000001ULL, 0, 1};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) cr_assert_eq(tl_evblock_add(b, &evs[i], eids[i]), TL_OK);
}

Test(evblock, round_trip_every_field)
{
    struct tl_evblock_enc b;
    tl_evblock_enc_init(&b);
    char longbody[1500];
    fill(&b, longbody, 1400);
    cr_assert_eq(b.n, 6);
    cr_assert_eq(b.shop, 1, "the block's shop is its first event's");
    cr_assert_eq(b.counts[TL_EV_PRODUCT_VIEW], 1);
    cr_assert_eq(b.counts[TL_EV_EXPOSURE], 1);
    cr_assert(b.any_eid);
    cr_assert_eq(tl_evblock_compress(&b), TL_OK);
    cr_assert_lt(b.frame.len, b.raw.len, "the long body compresses");

    struct tl_buf work;
    tl_buf_init(&work, 0);
    struct acc a = {0};
    cr_assert_eq(
        tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n, 100, 0, TL_SCAN_BODIES_ALL, &work, cb, &a), TL_OK);
    cr_assert_eq(a.n, 6);
    for (size_t i = 0; i < 6; i++) cr_assert_eq(a.r[i].seq, 100 + (int64_t)i, "seq = first_seq + index");
    cr_assert_eq(a.r[0].ts, 1700000000000);
    cr_assert_eq(a.r[1].ts, 1699999999000, "a timestamp before the previous one");
    cr_assert_eq(a.r[2].ts, 0);
    cr_assert_eq(a.r[3].ts, -5);
    cr_assert_eq(a.r[4].ts, INT64_MAX / 2);
    cr_assert_eq(a.r[5].ts, INT64_MIN / 2, "a jump across the whole range");
    cr_assert_eq(a.r[4].shop, 4000000000u);
    cr_assert_eq(a.r[4].type, TL_EV_EXPOSURE);
    cr_assert_str_eq(a.r[0].user, "u1");
    cr_assert_str_eq(a.r[0].anon, "a1");
    cr_assert_str_eq(a.r[0].item, "sku-1");
    cr_assert_str_eq(a.r[0].country, "GB");
    cr_assert_str_eq(a.r[0].body, "{\"a\":1}");
    cr_assert(a.r[1].user_null && !a.r[1].anon_null && a.r[1].item_null && a.r[1].country_null);
    cr_assert(!a.r[2].user_null, "an empty string is not NULL");
    cr_assert_str_eq(a.r[2].user, "");
    cr_assert_str_eq(a.r[2].body, "{}", "a NULL body is stored as {}");
    cr_assert_eq(strlen(a.r[3].body), 1400);
    cr_assert_str_eq(a.r[5].country, "DE");

    cr_assert_eq(tl_evblock_eid(b.eids.data, 0), 5);
    cr_assert_eq(tl_evblock_eid(b.eids.data, 1), 0);
    cr_assert_eq(tl_evblock_eid(b.eids.data, 2), UINT64_MAX);
    cr_assert_eq(tl_evblock_eid(b.eids.data, 3), 0x8000000000000001ULL);

    /* after_seq skips, a callback value stops and is returned */
    memset(&a, 0, sizeof a);
    cr_assert_eq(
        tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n, 100, 103, TL_SCAN_BODIES_ALL, &work, cb, &a),
        TL_OK);
    cr_assert_eq(a.n, 2);
    cr_assert_eq(a.r[0].seq, 104);
    memset(&a, 0, sizeof a);
    cr_assert_eq(
        tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n, 100, 105, TL_SCAN_BODIES_ALL, &work, cb, &a),
        TL_OK);
    cr_assert_eq(a.n, 0, "a block wholly before after_seq");
    memset(&a, 0, sizeof a);
    a.stop_at = 2;
    cr_assert_eq(
        (int)tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n, 100, 0, TL_SCAN_BODIES_ALL, &work, cb, &a),
        77);
    cr_assert_eq(a.n, 2);

    /* reset starts a fresh block on the same memory */
    tl_evblock_enc_reset(&b);
    cr_assert_eq(b.n, 0);
    cr_assert_eq(b.counts[TL_EV_PRODUCT_VIEW], 0);
    struct tl_event one = {.shop_id = 2, .type = TL_EV_SEARCH, .ts_ms = 9, .anonymous_id = "z", .body = "{}"};
    cr_assert_eq(tl_evblock_add(&b, &one, 0), TL_OK);
    cr_assert(!b.any_eid);
    cr_assert_eq(tl_evblock_compress(&b), TL_OK);
    memset(&a, 0, sizeof a);
    cr_assert_eq(tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, 1, 1, 0, TL_SCAN_BODIES_ALL, &work, cb, &a),
                 TL_OK);
    cr_assert_eq(a.n, 1);
    cr_assert_eq(a.r[0].ts, 9, "the delta restarts from 0 in a new block");
    cr_assert_eq(a.r[0].shop, 2);
    tl_buf_free(&work);
    tl_evblock_enc_free(&b);
}

/* Bodies only for the types asked: the others come with body NULL, every
 * other field the same; and a damaged compact body is refused whether its
 * text is rebuilt or only walked (each byte of the payload flipped in turn,
 * the payload compressed again so that zstd's checksum holds). */
Test(evblock, bodies_only_for_the_types_asked)
{
    struct tl_evblock_enc b;
    tl_evblock_enc_init(&b);
    char longbody[700];
    fill(&b, longbody, 600);
    /* canonical bodies, stored compact */
    const struct tl_event more[] = {
        {.shop_id = 1,
         .type = TL_EV_PRODUCT_VIEW,
         .ts_ms = 1700000001000,
         .user_id = "u1",
         .item_id = "sku-1",
         .body = "{\"type\":\"product_view\",\"timestamp\":\"2023-11-14T22:13:21.000Z\",\"user_id\":\"u1\","
                 "\"item_id\":\"sku-1\",\"price\":12.5,\"dwell_ms\":300}"},
        {.shop_id = 1,
         .type = TL_EV_SEARCH,
         .ts_ms = 1700000002000,
         .anonymous_id = "a9",
         .body = "{\"type\":\"search\",\"anonymous_id\":\"a9\",\"query\":\"red lamp\",\"results\":7}"},
    };
    for (size_t i = 0; i < 2; i++) cr_assert_eq(tl_evblock_add(&b, &more[i], 0), TL_OK);
    cr_assert_eq(tl_evblock_compress(&b), TL_OK);
    struct tl_buf work;
    tl_buf_init(&work, 0);
    static struct acc all, some, none;
    memset(&all, 0, sizeof all);
    memset(&some, 0, sizeof some);
    memset(&none, 0, sizeof none);
    const unsigned mask = TL_SCAN_BODY(TL_EV_SEARCH) | TL_SCAN_BODY(TL_EV_ADD_TO_CART);
    cr_assert_eq(
        tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n, 1, 0, TL_SCAN_BODIES_ALL, &work, cb, &all), TL_OK);
    cr_assert_eq(tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n, 1, 0, mask, &work, cb, &some), TL_OK);
    cr_assert_eq(tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n, 1, 0, 0, &work, cb, &none), TL_OK);
    cr_assert_eq(all.n, 8);
    cr_assert_eq(some.n, 8);
    cr_assert_eq(none.n, 8);
    cr_assert_str_eq(all.r[7].body, more[1].body, "a compact body comes back as it went in");
    for (size_t i = 0; i < 8; i++) {
        struct rec a = all.r[i], s = some.r[i], z = none.r[i];
        int wanted = (mask & TL_SCAN_BODY(a.type)) != 0;
        cr_assert(!a.body_null);
        cr_assert_eq(s.body_null, !wanted, "event %zu", i);
        cr_assert(z.body_null);
        if (wanted) cr_assert_str_eq(s.body, a.body);
        /* the rest is the same */
        memcpy(s.body, a.body, sizeof s.body);
        memcpy(z.body, a.body, sizeof z.body);
        s.body_null = z.body_null = 0;
        cr_assert_eq(memcmp(&s, &a, sizeof a), 0, "event %zu", i);
        cr_assert_eq(memcmp(&z, &a, sizeof a), 0, "event %zu", i);
    }
    /* damage inside the payload */
    size_t bound = ZSTD_compressBound(b.raw.len), refused = 0;
    char *raw = tl_malloc(b.raw.len), *frame = tl_malloc(bound);
    cr_assert(raw && frame);
    for (size_t i = 0; i < b.raw.len; i++) {
        memcpy(raw, b.raw.data, b.raw.len);
        raw[i] ^= 0x41;
        size_t fl = ZSTD_compress(frame, bound, raw, b.raw.len, 1);
        cr_assert(!ZSTD_isError(fl));
        memset(&all, 0, sizeof all);
        memset(&none, 0, sizeof none);
        enum tl_rc ra = tl_evblock_decode(frame, fl, b.raw.len, b.n, 1, 0, TL_SCAN_BODIES_ALL, &work, cb, &all);
        enum tl_rc rz = tl_evblock_decode(frame, fl, b.raw.len, b.n, 1, 0, 0, &work, cb, &none);
        cr_assert_eq(rz, ra, "payload byte %zu flipped: the same verdict with and without bodies", i);
        refused += ra == TL_ESTORE;
    }
    cr_assert_gt(refused, 0);
    tl_free(raw);
    tl_free(frame);
    tl_buf_free(&work);
    tl_evblock_enc_free(&b);
}

Test(evblock, bad_type_is_refused_at_add)
{
    struct tl_evblock_enc b;
    tl_evblock_enc_init(&b);
    struct tl_event ev = {.shop_id = 1, .type = TL_EV_MAX_, .ts_ms = 1, .body = "{}"};
    cr_assert_eq(tl_evblock_add(&b, &ev, 0), TL_EINVAL);
    cr_assert_eq(b.n, 0);
    cr_assert_eq(b.raw.len, 0, "nothing half-written");
    tl_evblock_enc_free(&b);
}

static int count_cb(void *ctx, const struct tl_event *ev)
{
    (void)ev;
    (*(size_t *)ctx)++;
    return 0;
}

Test(evblock, damaged_frames_are_refused)
{
    struct tl_evblock_enc b;
    tl_evblock_enc_init(&b);
    char longbody[700];
    fill(&b, longbody, 600);
    cr_assert_eq(tl_evblock_compress(&b), TL_OK);
    struct tl_buf work;
    tl_buf_init(&work, 0);
    char *copy = tl_malloc(b.frame.len);
    size_t seen;
    for (size_t cut = 0; cut < b.frame.len; cut++) {
        seen = 0;
        cr_assert_eq(
            tl_evblock_decode(b.frame.data, cut, b.raw.len, b.n, 1, 0, TL_SCAN_BODIES_ALL, &work, count_cb, &seen),
            TL_ESTORE, "frame cut to %zu of %zu bytes", cut, b.frame.len);
        cr_assert_eq(seen, 0, "no event of a damaged block is delivered");
    }
    /* A flipped byte: refused, or (a bit zstd does not use, such as in the
     * frame header) exactly the original events; never other events. */
    static struct acc orig, got;
    memset(&orig, 0, sizeof orig);
    cr_assert_eq(
        tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n, 1, 0, TL_SCAN_BODIES_ALL, &work, cb, &orig),
        TL_OK);
    size_t refused = 0;
    for (size_t i = 0; i < b.frame.len; i++) {
        memcpy(copy, b.frame.data, b.frame.len);
        copy[i] ^= 0x20;
        memset(&got, 0, sizeof got);
        enum tl_rc rc = tl_evblock_decode(copy, b.frame.len, b.raw.len, b.n, 1, 0, TL_SCAN_BODIES_ALL, &work, cb, &got);
        if (rc == TL_ESTORE) {
            cr_assert_eq(got.n, 0, "byte %zu flipped: no event of a damaged block is delivered", i);
            refused++;
            continue;
        }
        cr_assert_eq(rc, TL_OK);
        cr_assert_eq(memcmp(&got, &orig, sizeof got), 0, "byte %zu flipped: decoded into other events", i);
    }
    cr_assert_gt(refused, b.frame.len * 9 / 10, "nearly every flip is refused (%zu of %zu)", refused, b.frame.len);
    seen = 0;
    cr_assert_eq(tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len + 1, b.n, 1, 0, TL_SCAN_BODIES_ALL, &work,
                                   count_cb, &seen),
                 TL_ESTORE, "a payload length that is not the frame's");
    cr_assert_eq(tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n + 1, 1, 0, TL_SCAN_BODIES_ALL, &work,
                                   count_cb, &seen),
                 TL_ESTORE, "more events claimed than the payload holds");
    cr_assert_eq(tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n - 1, 1, 0, TL_SCAN_BODIES_ALL, &work,
                                   count_cb, &seen),
                 TL_ESTORE, "fewer events claimed than the payload holds");
    cr_assert_eq(
        tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, 0, 1, 0, TL_SCAN_BODIES_ALL, &work, count_cb, &seen),
        TL_ESTORE);
    cr_assert_eq(tl_evblock_decode(b.frame.data, b.frame.len, TL_EVBLOCK_RAW_SANE + 1, b.n, 1, 0, TL_SCAN_BODIES_ALL,
                                   &work, count_cb, &seen),
                 TL_ESTORE, "an absurd payload length is refused before allocating");
    tl_free(copy);
    tl_buf_free(&work);
    tl_evblock_enc_free(&b);
}

/* A well-formed zstd frame of a payload that lies: the decoder's own bounds
 * checks must refuse it. */
static enum tl_rc decode_payload(const unsigned char *raw, size_t len, size_t n)
{
    size_t bound = ZSTD_compressBound(len);
    char *frame = tl_malloc(bound);
    size_t fl = ZSTD_compress(frame, bound, raw, len, 1);
    cr_assert(!ZSTD_isError(fl));
    struct tl_buf work;
    tl_buf_init(&work, 0);
    size_t seen = 0;
    enum tl_rc rc = tl_evblock_decode(frame, fl, len, n, 1, 0, TL_SCAN_BODIES_ALL, &work, count_cb, &seen);
    tl_buf_free(&work);
    tl_free(frame);
    return rc;
}

Test(evblock, payloads_that_lie_are_refused)
{
    /* type, shop 1, ts 0, flags user, string of length 5 but 2 bytes left */
    const unsigned char long_str[] = {1, 1, 0, 1, 5, 'a', 0};
    cr_assert_eq(decode_payload(long_str, sizeof long_str, 1), TL_ESTORE);
    /* a string without its NUL */
    const unsigned char no_nul[] = {1, 1, 0, 0, 2, '{', '}', 'x'};
    cr_assert_eq(decode_payload(no_nul, sizeof no_nul, 1), TL_ESTORE);
    /* an unknown flag bit */
    const unsigned char bad_flag[] = {1, 1, 0, 0x20, 2, '{', '}', 0};
    cr_assert_eq(decode_payload(bad_flag, sizeof bad_flag, 1), TL_ESTORE);
    /* an unknown type */
    const unsigned char bad_type[] = {TL_EV_MAX_, 1, 0, 0, 2, '{', '}', 0};
    cr_assert_eq(decode_payload(bad_type, sizeof bad_type, 1), TL_ESTORE);
    /* a varint that never ends */
    const unsigned char endless[] = {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(decode_payload(endless, sizeof endless, 1), TL_ESTORE);
    /* a shop number above 32 bits */
    const unsigned char big_shop[] = {1, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 2, '{', '}', 0};
    cr_assert_eq(decode_payload(big_shop, sizeof big_shop, 1), TL_ESTORE);
    /* the same payload, well-formed, decodes */
    const unsigned char good[] = {1, 1, 0, 0, 2, '{', '}', 0};
    cr_assert_eq(decode_payload(good, sizeof good, 1), TL_OK);
}

/* ---- compact bodies ---- */

struct one_body {
    char *out;
    size_t cap, n;
    char user[64], item[64];
};

static int body_cb(void *ctx, const struct tl_event *ev)
{
    struct one_body *o = ctx;
    o->n++;
    cr_assert_eq(strlen(ev->body), ev->body_len, "body_len matches the NUL-terminated body");
    cr_assert_lt(ev->body_len, o->cap);
    memcpy(o->out, ev->body, ev->body_len + 1);
    cp(o->user, sizeof o->user, ev->user_id, NULL);
    cp(o->item, sizeof o->item, ev->item_id, NULL);
    return 0;
}

/* Store one event with this body (and the header fields of a typical
 * product view), decode it, and return the body read back in out; *raw
 * gets the payload size. */
static void body_round_trip(const char *body, int64_t ts, const char *user, char *out, size_t cap, size_t *raw)
{
    struct tl_evblock_enc b;
    tl_evblock_enc_init(&b);
    struct tl_event ev = {.shop_id = 3,
                          .type = TL_EV_PRODUCT_VIEW,
                          .ts_ms = ts,
                          .user_id = user,
                          .anonymous_id = "anon-7",
                          .item_id = "sku-002595",
                          .country = "GB",
                          .body = body,
                          .body_len = strlen(body)};
    cr_assert_eq(tl_evblock_add(&b, &ev, 0), TL_OK);
    cr_assert_eq(tl_evblock_compress(&b), TL_OK);
    struct tl_buf work;
    tl_buf_init(&work, 0);
    struct one_body o = {.out = out, .cap = cap};
    cr_assert_eq(
        tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, 1, 1, 0, TL_SCAN_BODIES_ALL, &work, body_cb, &o), TL_OK,
        "%s", body);
    cr_assert_eq(o.n, 1);
    cr_assert_str_eq(o.user, user ? user : "");
    cr_assert_str_eq(o.item, "sku-002595");
    if (raw) *raw = b.raw.len;
    tl_buf_free(&work);
    tl_evblock_enc_free(&b);
}

#define TS_2026 1793211227435LL /* 2026-10-28T18:13:47.435Z */

/* Every body comes back byte for byte, whatever its numbers, strings,
 * escapes, nesting or form; compact JSON objects are stored smaller. */
Test(evblock, bodies_come_back_byte_for_byte)
{
    const char *bodies[] = {
        "{\"event_id\":\"ev-0\",\"type\":\"product_view\",\"timestamp\":\"2026-10-28T18:13:47.435Z\","
        "\"user_id\":\"u002375\",\"session_id\":\"s-2374-996228\",\"item_id\":\"sku-002595\",\"price\":41.35,"
        "\"country\":\"GB\",\"dwell_ms\":1202}",
        "{}",
        "{\"a\":0,\"b\":-0,\"c\":123456789012345678,\"d\":1234567890123456789,\"e\":-5,\"f\":0.5,\"g\":-0.05,"
        "\"h\":10.50,\"i\":1e5,\"j\":1.5E-3,\"k\":-0.0,\"l\":0.0,\"m\":00,\"n\":true,\"o\":false,\"p\":null,"
        "\"q\":-9.99999999999999999,\"r\":0.000000000000000001,\"s\":-12345678901234567.8}",
        "{\"k\\\"ey\":\"a\\\"b\",\"x\":\"\\\\\",\"y\":\"\\u00e9\xc3\xa9\",\"z\":\"\"}",
        "{\"context\":{\"a\":[1,{\"b\":\"}\"}],\"c\":\"]\",\"d\":{}},\"items\":[{\"item_id\":\"x\",\"quantity\":2}]}",
        "{\"user_id\":\"u2\",\"item_id\":\"sku-2\",\"country\":\"gb\",\"anonymous_id\":\"anon-7\",\"type\":\"search\"}",
        "{\"timestamp\":\"2026-10-28T18:13:47.436Z\",\"query\":\"u1\"}",
        "{\"timestamp\":\"2026-10-28T18:13:47.435Z\",\"timestamp\":\"2026-10-28T18:13:47.435Z\"}",
        "{\"session_id\":\"u1\",\"order_id\":\"sku-002595\",\"recommendation_id\":\"GB\"}",
        "{ \"a\": 1 }",
        "[1,2]",
        "{\"a\":1,}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1",
        "{\"a\":\"unterminated}",
        "{\"a\":1}x",
        "\"just a string\"",
        "{",
        "",
    };
    char got[4096];
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        if (!bodies[i][0]) continue; /* an empty body is stored as {} (round_trip_every_field) */
        body_round_trip(bodies[i], TS_2026, "u1", got, sizeof got, NULL);
        cr_assert_str_eq(got, bodies[i], "body %zu", i);
    }
    /* the typical event: its header fields, keys and numbers are codes */
    size_t raw;
    body_round_trip(bodies[0], TS_2026, "u002375", got, sizeof got, &raw);
    cr_assert_str_eq(got, bodies[0]);
    cr_assert_lt(raw, strlen(bodies[0]) / 2, "stored in %zu bytes for %zu of JSON", raw, strlen(bodies[0]));
    /* not an object in compact form: stored as it is, one byte more than its length */
    size_t raw_sp, raw_obj;
    body_round_trip("{ \"a\": 1 }", TS_2026, "u1", got, sizeof got, &raw_sp);
    body_round_trip("{\"a\":1}", TS_2026, "u1", got, sizeof got, &raw_obj);
    cr_assert_lt(raw_obj, raw_sp);

    /* timestamps outside years 1970-9999 and near day boundaries */
    const int64_t tss[] = {0, -1, 86399999, 86400000, -62135596800001LL, 253402300799999LL, 253402300800000LL};
    for (size_t i = 0; i < sizeof tss / sizeof tss[0]; i++) {
        char text[64], body[128];
        tl_time_format(tss[i], text, sizeof text);
        snprintf(body, sizeof body, "{\"timestamp\":\"%s\"}", text);
        body_round_trip(body, tss[i], "u1", got, sizeof got, NULL);
        cr_assert_str_eq(got, body);
    }
    /* long keys and values (lengths of two and three varint bytes) */
    static char big[40000];
    size_t n = (size_t)snprintf(big, sizeof big, "{\"");
    memset(big + n, 'k', 200);
    n += 200;
    n += (size_t)snprintf(big + n, sizeof big - n, "\":\"");
    memset(big + n, 'v', 20000);
    n += 20000;
    snprintf(big + n, sizeof big - n, "\",\"w\":[%d]}", 7);
    static char bigout[40000];
    body_round_trip(big, TS_2026, "u1", bigout, sizeof bigout, NULL);
    cr_assert_str_eq(bigout, big);
}

/* Random bodies built from the pieces the encoder tells apart (dictionary
 * and other keys, header values and others, every kind of number, nested
 * values, escapes) in a block of many events: each comes back as it was. */
Test(evblock, random_bodies_come_back_in_a_block)
{
    const char *keys[] = {"event_id", "type", "timestamp", "user_id", "anonymous_id", "item_id", "price",
                          "country",  "x_k",  "context",   "k\\\"q",  "query",        "items",   "dwell_ms"};
    const char *vals[] = {"\"u1\"",
                          "\"a1\"",
                          "\"i1\"",
                          "\"DE\"",
                          "\"product_view\"",
                          "\"2023-11-14T22:13:20.000Z\"",
                          "\"2023-11-14T22:13:20.001Z\"",
                          "0",
                          "-7",
                          "3.25",
                          "-0.001",
                          "1e3",
                          "-0",
                          "99999999999999999999",
                          "true",
                          "null",
                          "{\"a\":[1,\"]\"]}",
                          "[]",
                          "\"e\\\\s\\\"c\"",
                          "\"\""};
    struct tl_evblock_enc b;
    tl_evblock_enc_init(&b);
    static char bodies[64][512];
    uint64_t s = 42;
    for (int e = 0; e < 64; e++) {
        size_t n = (size_t)snprintf(bodies[e], sizeof bodies[e], "{");
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        int members = (int)(s % 9);
        for (int m = 0; m < members; m++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            n += (size_t)snprintf(bodies[e] + n, sizeof bodies[e] - n, "%s\"%s\":%s", m ? "," : "",
                                  keys[s % (sizeof keys / sizeof keys[0])],
                                  vals[(s >> 20) % (sizeof vals / sizeof vals[0])]);
        }
        snprintf(bodies[e] + n, sizeof bodies[e] - n, "}");
        struct tl_event ev = {.shop_id = 1,
                              .type = (enum tl_event_type)(1 + e % (TL_EV_MAX_ - 1)),
                              .ts_ms = 1700000000000LL + (e % 3),
                              .user_id = e % 2 ? "u1" : NULL,
                              .anonymous_id = e % 3 ? "a1" : NULL,
                              .item_id = e % 5 ? "i1" : NULL,
                              .country = e % 7 ? "DE" : NULL,
                              .body = bodies[e]};
        cr_assert_eq(tl_evblock_add(&b, &ev, 0), TL_OK);
    }
    cr_assert_eq(tl_evblock_compress(&b), TL_OK);
    struct tl_buf work;
    tl_buf_init(&work, 0);
    static struct acc a;
    memset(&a, 0, sizeof a);
    cr_assert_eq(tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n, 1, 0, TL_SCAN_BODIES_ALL, &work, cb, &a),
                 TL_OK);
    cr_assert_eq(a.n, 64);
    for (int e = 0; e < 64; e++) cr_assert_str_eq(a.r[e].body, bodies[e], "event %d", e);
    tl_buf_free(&work);
    tl_evblock_enc_free(&b);
}

/* Compact bodies that lie: every code and length is checked. */
Test(evblock, compact_bodies_that_lie_are_refused)
{
    /* type 2, shop 1, ts 0, flags: user + compact, user "u", then the body */
    /* the well-formed body {"type":"product_view","user_id":"u","price":1.5} decodes */
    const unsigned char good[] = {2, 1, 0, 0x11, 1, 'u', 0, 3, 10, 5, 6, 11, 4, 30, 1, 0};
    cr_assert_eq(decode_payload(good, sizeof good, 1), TL_OK);
    /* every truncation of it is refused */
    for (size_t cut = 1; cut < sizeof good; cut++)
        cr_assert_eq(decode_payload(good, cut, 1), TL_ESTORE, "cut %zu", cut);
    /* the user's code for an event without a user */
    const unsigned char no_user[] = {2, 1, 0, 0x10, 5, 6, 0};
    cr_assert_eq(decode_payload(no_user, sizeof no_user, 1), TL_ESTORE);
    /* an unknown key code, an unknown value code */
    const unsigned char bad_key[] = {2, 1, 0, 0x10, 2 + 18, 3, 0, 0};
    cr_assert_eq(decode_payload(bad_key, sizeof bad_key, 1), TL_ESTORE);
    const unsigned char bad_val[] = {2, 1, 0, 0x10, 2, 11, 0};
    cr_assert_eq(decode_payload(bad_val, sizeof bad_val, 1), TL_ESTORE);
    /* a string longer than what is left; a literal key likewise */
    const unsigned char long_val[] = {2, 1, 0, 0x10, 2, 1, 9, 'a', 0};
    cr_assert_eq(decode_payload(long_val, sizeof long_val, 1), TL_ESTORE);
    const unsigned char long_key[] = {2, 1, 0, 0x10, 1, 50, 'k', 3, 0, 0};
    cr_assert_eq(decode_payload(long_key, sizeof long_key, 1), TL_ESTORE);
    /* a decimal with no decimals, with more digits than the format allows;
     * an integer of 19 digits */
    const unsigned char dec0[] = {2, 1, 0, 0x10, 2, 4, 30, 0, 0};
    cr_assert_eq(decode_payload(dec0, sizeof dec0, 1), TL_ESTORE);
    const unsigned char dec19[] = {2, 1, 0, 0x10, 2, 4, 30, 19, 0};
    cr_assert_eq(decode_payload(dec19, sizeof dec19, 1), TL_ESTORE);
    const unsigned char int19[] = {2, 1, 0, 0x10, 2, 3, 0x80, 0x80, 0xc0, 0xec, 0xe9, 0xd9, 0xb6, 0xc1, 0x37, 0};
    cr_assert_eq(decode_payload(int19, sizeof int19, 1), TL_ESTORE); /* 2 * 10^18 zigzagged */
    /* the same with 18 digits decodes */
    const unsigned char int18[] = {2, 1, 0, 0x10, 2, 3, 0xfe, 0xff, 0x9f, 0xf6, 0xf4, 0xac, 0xdb, 0xe0, 0x1b, 0};
    cr_assert_eq(decode_payload(int18, sizeof int18, 1), TL_OK); /* 10^18 - 1 zigzagged */
    /* bytes after the end code belong to no event */
    const unsigned char extra[] = {2, 1, 0, 0x10, 0, 0};
    cr_assert_eq(decode_payload(extra, sizeof extra, 1), TL_ESTORE);
}

/* The event's own timestamp in its body is a one-byte code, also for the
 * later events of a day (whose date part the encoder reuses) and across
 * midnight. */
Test(evblock, own_timestamps_are_codes)
{
    struct tl_evblock_enc b;
    tl_evblock_enc_init(&b);
    static char bodies[200][64];
    int64_t ts = 1793232000000LL - 100 * 997; /* 100 events before a midnight and 100 after */
    for (int e = 0; e < 200; e++, ts += 997 + (e % 7) * 3600000LL / 100) {
        char text[32];
        tl_time_format(ts, text, sizeof text);
        snprintf(bodies[e], sizeof bodies[e], "{\"timestamp\":\"%s\"}", text);
        struct tl_event ev = {.shop_id = 1, .type = TL_EV_PAGE_VIEW, .ts_ms = ts, .body = bodies[e]};
        cr_assert_eq(tl_evblock_add(&b, &ev, 0), TL_OK);
    }
    cr_assert_lt(b.raw.len, 200 * 12, "%zu bytes for 200 events", b.raw.len);
    cr_assert_eq(tl_evblock_compress(&b), TL_OK);
    struct tl_buf work;
    tl_buf_init(&work, 0);
    static struct acc a;
    for (int from = 0; from < 200; from += 64) {
        memset(&a, 0, sizeof a);
        a.stop_at = 64;
        tl_evblock_decode(b.frame.data, b.frame.len, b.raw.len, b.n, 1, from, TL_SCAN_BODIES_ALL, &work, cb, &a);
        for (size_t i = 0; i < a.n; i++) cr_assert_str_eq(a.r[i].body, bodies[from + (int)i]);
    }
    tl_buf_free(&work);
    tl_evblock_enc_free(&b);
}
