/* The scan relay (src/engine/scan_relay.h): the callback sees every event
 * in order with every field and string as given, on the worker, across many
 * batches; an event with lines or larger than a batch runs on the scanning
 * thread after all before it. */
#include "../tsan_standalone.h"
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/scan_relay.h"

struct got {
    pthread_t scanner;
    int64_t next_seq;
    int bad, on_scanner, on_worker;
};

static char big[(1 << 20) + 100]; /* a body larger than a batch (1 MiB) */

/* The event numbered i, made the same way here and in check(). */
static void make(int64_t i, struct tl_event *ev, char strs[11][48], struct tl_line *line)
{
    memset(ev, 0, sizeof *ev);
    ev->seq = i;
    ev->shop_id = (uint32_t)(i % 3 + 1);
    ev->type = (enum tl_event_type)(i % 12 + 1);
    ev->ts_ms = 1700000000000 + i;
    ev->quantity = i % 5 ? (double)(i % 7) : NAN;
    ev->price = i * 0.25;
    ev->dwell_ms = i % 4 ? i : -1;
    ev->scroll_depth = i % 2 ? 0.5 : NAN;
    const char **f[11] = {&ev->event_id, &ev->user_id,  &ev->anonymous_id, &ev->session_id, &ev->item_id,
                          &ev->query,    &ev->category, &ev->country,      &ev->order_id,   &ev->recommendation_id,
                          &ev->body};
    for (int k = 0; k < 11; k++) {
        if ((i + k) % 4 == 0) continue; /* some NULL */
        snprintf(strs[k], 48, "%c%lld-%s", 'a' + k, (long long)i, (i + k) % 3 ? "x" : "");
        *f[k] = strs[k];
    }
    if (i % 1000 == 999) ev->body = big;                   /* larger than a batch */
    if (i % 777 == 776) ev->lines = line, ev->n_lines = 1; /* with lines */
    if (ev->body && ev->body != big && i % 2) ev->body_len = strlen(ev->body);
}

static int same_str(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static int check(void *ctx, const struct tl_event *ev)
{
    struct got *g = ctx;
    if (pthread_equal(pthread_self(), g->scanner))
        g->on_scanner++;
    else
        g->on_worker++;
    struct tl_event want;
    char strs[11][48];
    struct tl_line line = {"l", 1, 2};
    make(g->next_seq, &want, strs, &line);
    g->next_seq++;
    int ok = ev->seq == want.seq && ev->shop_id == want.shop_id && ev->type == want.type && ev->ts_ms == want.ts_ms &&
             (isnan(want.quantity) ? isnan(ev->quantity) : ev->quantity == want.quantity) && ev->price == want.price &&
             ev->dwell_ms == want.dwell_ms &&
             (isnan(want.scroll_depth) ? isnan(ev->scroll_depth) : ev->scroll_depth == want.scroll_depth) &&
             ev->body_len == want.body_len && ev->n_lines == want.n_lines && same_str(ev->event_id, want.event_id) &&
             same_str(ev->user_id, want.user_id) && same_str(ev->anonymous_id, want.anonymous_id) &&
             same_str(ev->session_id, want.session_id) && same_str(ev->item_id, want.item_id) &&
             same_str(ev->query, want.query) && same_str(ev->category, want.category) &&
             same_str(ev->country, want.country) && same_str(ev->order_id, want.order_id) &&
             same_str(ev->recommendation_id, want.recommendation_id) && same_str(ev->body, want.body);
    if (!ok) g->bad++;
    return 1; /* ignored: cannot stop the scan */
}

Test(scan_relay, every_event_in_order_with_every_field)
{
    memset(big, 'b', sizeof big - 1);
    struct got g = {.scanner = pthread_self()};
    struct tl_scan_relay *r = tl_scan_relay_start(check, &g);
    cr_assert_not_null(r);
    for (int64_t i = 0; i < 60000; i++) {
        struct tl_event ev;
        char strs[11][48];
        struct tl_line line = {"l", 1, 2};
        make(i, &ev, strs, &line);
        cr_assert_eq(tl_scan_relay_event(r, &ev), 0);
    }
    tl_scan_relay_finish(r);
    cr_assert_eq(g.next_seq, 60000);
    cr_assert_eq(g.bad, 0);
    cr_assert_eq(g.on_scanner, 60 + 77, "the large and the lined events ran on the scanning thread");
    cr_assert_gt(g.on_worker, 50000);
    tl_scan_relay_finish(NULL);
}

#ifdef TL_TSAN_STANDALONE
int main(void)
{
    every_event_in_order_with_every_field();
    puts("scan_relay: ok");
    return 0;
}
#endif
