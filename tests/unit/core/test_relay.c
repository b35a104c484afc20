/* The relay (src/core/relay.h): every worker sees every record, in the
 * producer's order, across many hand-offs; room larger than a batch is
 * refused; drain leaves nothing unprocessed; bad arguments give NULL. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/relay.h"

#define WORKERS 3

struct seen {
    uint64_t next[WORKERS]; /* the sequence number each worker expects */
    uint64_t sum[WORKERS];
    int out_of_order;
};

/* A record: u32 size (bytes, header included), u64 sequence, then filler
 * bytes equal to the sequence's low byte. */
static void check_batch(void *ctx, int worker, const unsigned char *data, size_t len)
{
    struct seen *s = ctx;
    for (size_t off = 0; off < len;) {
        uint32_t size;
        uint64_t seq;
        memcpy(&size, data + off, 4);
        memcpy(&seq, data + off + 4, 8);
        if (seq != s->next[worker]) s->out_of_order = 1;
        for (size_t i = 12; i < size; i++)
            if (data[off + i] != (unsigned char)seq) s->out_of_order = 1;
        s->next[worker] = seq + 1;
        s->sum[worker] += seq;
        off += size;
    }
}

static void put(struct tl_relay *r, uint64_t seq, uint32_t size)
{
    unsigned char *p = tl_relay_room(r, size);
    cr_assert_not_null(p);
    memcpy(p, &size, 4);
    memcpy(p + 4, &seq, 8);
    memset(p + 12, (unsigned char)seq, size - 12);
    tl_relay_used(r, size);
}

Test(relay, every_worker_sees_every_record_in_order)
{
    struct seen s = {0};
    struct tl_relay *r = tl_relay_start(WORKERS, 4096, check_batch, &s);
    cr_assert_not_null(r);
    uint64_t want = 0, seq = 0;
    for (; seq < 20000; seq++) {
        put(r, seq, 12 + (uint32_t)(seq * 7919 % 300));
        want += seq;
        if (seq % 5000 == 4999) { /* drain midway: all so far processed */
            tl_relay_drain(r);
            for (int w = 0; w < WORKERS; w++) cr_assert_eq(s.next[w], seq + 1);
        }
    }
    cr_assert_null(tl_relay_room(r, 4097), "room beyond a batch");
    put(r, seq++, 4096); /* exactly a batch */
    want += seq - 1;
    tl_relay_finish(r);
    cr_assert_eq(s.out_of_order, 0);
    for (int w = 0; w < WORKERS; w++) {
        cr_assert_eq(s.next[w], seq, "worker %d", w);
        cr_assert_eq(s.sum[w], want, "worker %d", w);
    }
}

Test(relay, bad_arguments_and_no_memory)
{
    struct seen s = {0};
    cr_assert_null(tl_relay_start(0, 64, check_batch, &s));
    cr_assert_null(tl_relay_start(TL_RELAY_WORKERS_MAX + 1, 64, check_batch, &s));
    cr_assert_null(tl_relay_start(1, 0, check_batch, &s));
    cr_assert_null(tl_relay_start(1, 64, NULL, &s));
    tl_relay_finish(NULL);
    long live = tl_alloc_live();
    for (long k = 0; k < 3; k++) {
        tl_alloc_fail_after(k);
        struct tl_relay *r = tl_relay_start(2, 64, check_batch, &s);
        tl_alloc_fail_after(-1);
        cr_assert_null(r, "allocation %ld failing", k);
        cr_assert_eq(tl_alloc_live(), live);
    }
    struct tl_relay *r = tl_relay_start(2, 64, check_batch, &s);
    cr_assert_not_null(r);
    tl_relay_finish(r); /* nothing fed: no batch processed */
    cr_assert_eq(s.next[0] + s.next[1], 0);
    cr_assert_eq(tl_alloc_live(), live);
}
