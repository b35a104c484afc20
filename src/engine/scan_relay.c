/* A store scan's events run on a worker thread (see scan_relay.h).
 *
 * A record: struct hdr (its size, the offset + 1 of each string field in
 * the record, 0 for NULL, then the event with those pointers cleared),
 * then the strings with their NULs, padded to 8 bytes. */
#include "engine/scan_relay.h"

#include <stddef.h>
#include <string.h>

#include "core/alloc.h"
#include "core/relay.h"

#define BATCH_BYTES ((size_t)1 << 20)

static const size_t STR_FIELDS[] = {
    offsetof(struct tl_event, event_id),     offsetof(struct tl_event, user_id),
    offsetof(struct tl_event, anonymous_id), offsetof(struct tl_event, session_id),
    offsetof(struct tl_event, item_id),      offsetof(struct tl_event, query),
    offsetof(struct tl_event, category),     offsetof(struct tl_event, country),
    offsetof(struct tl_event, order_id),     offsetof(struct tl_event, recommendation_id),
    offsetof(struct tl_event, body),
};
#define N_STR (sizeof STR_FIELDS / sizeof STR_FIELDS[0])

struct hdr {
    uint32_t size;
    uint32_t off[N_STR];
    struct tl_event ev;
};

struct tl_scan_relay {
    tl_event_cb cb;
    void *ctx;
    struct tl_relay *relay; /* NULL: run inline */
};

static const char **field(struct tl_event *ev, size_t k) { return (const char **)((char *)ev + STR_FIELDS[k]); }

static void run_batch(void *ctx, int worker, const unsigned char *data, size_t len)
{
    (void)worker;
    struct tl_scan_relay *r = ctx;
    for (size_t off = 0; off < len;) {
        struct hdr h;
        memcpy(&h, data + off, sizeof h);
        for (size_t k = 0; k < N_STR; k++) *field(&h.ev, k) = h.off[k] ? (const char *)data + off + h.off[k] - 1 : NULL;
        (void)r->cb(r->ctx, &h.ev);
        off += h.size;
    }
}

struct tl_scan_relay *tl_scan_relay_start(tl_event_cb cb, void *ctx)
{
    struct tl_scan_relay *r = tl_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->cb = cb;
    r->ctx = ctx;
    r->relay = tl_relay_start(1, BATCH_BYTES, run_batch, r);
    return r;
}

int tl_scan_relay_event(void *relay, const struct tl_event *ev)
{
    struct tl_scan_relay *r = relay;
    struct hdr h = {.ev = *ev};
    size_t lens[N_STR], size = sizeof h;
    for (size_t k = 0; k < N_STR; k++) {
        const char *s = *field(&h.ev, k);
        lens[k] = !s ? 0 : k == N_STR - 1 && ev->body_len ? ev->body_len : strlen(s);
        if (s) {
            h.off[k] = (uint32_t)(size + 1);
            size += lens[k] + 1;
        }
    }
    size = (size + 7) & ~(size_t)7;
    unsigned char *p = r->relay && !ev->n_lines && size <= UINT32_MAX ? tl_relay_room(r->relay, size) : NULL;
    if (!p) { /* inline, after everything before it */
        if (r->relay) tl_relay_drain(r->relay);
        (void)r->cb(r->ctx, ev);
        return 0;
    }
    h.size = (uint32_t)size;
    for (size_t k = 0; k < N_STR; k++) {
        const char *s = *field(&h.ev, k);
        if (!s) continue;
        memcpy(p + h.off[k] - 1, s, lens[k]);
        p[h.off[k] - 1 + lens[k]] = 0;
        *field(&h.ev, k) = NULL;
    }
    memcpy(p, &h, sizeof h);
    tl_relay_used(r->relay, size);
    return 0;
}

void tl_scan_relay_finish(struct tl_scan_relay *r)
{
    if (!r) return;
    tl_relay_finish(r->relay);
    tl_free(r);
}
