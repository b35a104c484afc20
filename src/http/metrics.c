/* Lock-free HTTP metrics, Prometheus text exposition format 0.0.4
 * (see metrics.h).
 *
 * Recording: status -> series index by a switch generated from
 * TL_HTTP_METRICS_STATUSES (unknown codes -> "other"); duration -> the first
 * bucket whose bound >= seconds (linear scan over 15 bounds
 * 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.002, 0.0025, 0.005, 0.01, 0.025,
 * 0.05, 0.1, 0.25, 0.5, 1 s; 0.75 ms tells "under 1 ms" from "at most 1 ms"), compared in nanoseconds to avoid floating
 * point), then relaxed atomic increments of that bucket, the count and the sum. Rendering: buckets are stored
 * non-cumulative and summed on output, so each `le` bucket is the running total, as Prometheus requires; +Inf ==
 * _count. Status series with zero requests and histograms of routes that never answered are omitted (absent series read
 * as 0 in PromQL). */
#include "http/metrics.h"

#include <string.h>

static const uint64_t bucket_ns[TL_HTTP_METRICS_NBUCKET] = {
    100000ull,   250000ull,   500000ull,   750000ull,    1000000ull,   2000000ull,   2500000ull,    5000000ull,
    10000000ull, 25000000ull, 50000000ull, 100000000ull, 250000000ull, 500000000ull, 1000000000ull,
};
static const char *const bucket_le[TL_HTTP_METRICS_NBUCKET] = {
    "0.0001", "0.00025", "0.0005", "0.00075", "0.001", "0.002", "0.0025", "0.005",
    "0.01",   "0.025",   "0.05",   "0.1",     "0.25",  "0.5",   "1",
};
static const unsigned status_codes[TL_HTTP_METRICS_NSTATUS - 1] = {
#define TL_STATUS_VAL(c) c,
    TL_HTTP_METRICS_STATUSES(TL_STATUS_VAL)
#undef TL_STATUS_VAL
};

static unsigned status_index(unsigned status)
{
    for (unsigned i = 0; i < TL_HTTP_METRICS_NSTATUS - 1; i++)
        if (status_codes[i] == status) return i;
    return TL_HTTP_METRICS_NSTATUS - 1;
}

void tl_http_metrics_init(struct tl_http_metrics *m)
{
    for (unsigned r = 0; r < TL_HTTP_ROUTE_COUNT; r++) {
        struct tl_http_route_metrics *rm = &m->routes[r];
        for (unsigned i = 0; i < TL_HTTP_METRICS_NSTATUS; i++) atomic_init(&rm->by_status[i], 0);
        for (unsigned i = 0; i <= TL_HTTP_METRICS_NBUCKET; i++) atomic_init(&rm->buckets[i], 0);
        atomic_init(&rm->sum_ns, 0);
        atomic_init(&rm->count, 0);
    }
}

void tl_http_metrics_record(struct tl_http_metrics *m, enum tl_http_route_id route, unsigned status, uint64_t dur_ns)
{
    if ((unsigned)route >= TL_HTTP_ROUTE_COUNT) route = TL_HTTP_ROUTE_NONE;
    struct tl_http_route_metrics *rm = &m->routes[route];
    unsigned b = 0;
    while (b < TL_HTTP_METRICS_NBUCKET && dur_ns > bucket_ns[b]) b++;
    atomic_fetch_add_explicit(&rm->by_status[status_index(status)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rm->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rm->sum_ns, dur_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&rm->count, 1, memory_order_relaxed);
}

static uint64_t load(const _Atomic uint64_t *p) { return atomic_load_explicit(p, memory_order_relaxed); }

#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        enum tl_rc rc_ = (x);                                                                                          \
        if (rc_ != TL_OK) return rc_;                                                                                  \
    } while (0)

static enum tl_rc gauge(struct tl_buf *out, const char *name, const char *type, const char *help, uint64_t v)
{
    return tl_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                         (unsigned long long)v);
}

enum tl_rc tl_http_metrics_render(const struct tl_http_metrics *m, const struct tl_engine_metrics *em,
                                  struct tl_buf *out)
{
    TRY(tl_buf_puts(out, "# HELP tailor_http_requests_total HTTP requests by route pattern and status.\n"
                         "# TYPE tailor_http_requests_total counter\n"));
    for (unsigned r = 0; r < TL_HTTP_ROUTE_COUNT; r++) {
        const struct tl_http_route_metrics *rm = &m->routes[r];
        const char *route = tl_http_route_pattern((enum tl_http_route_id)r);
        for (unsigned i = 0; i < TL_HTTP_METRICS_NSTATUS; i++) {
            uint64_t v = load(&rm->by_status[i]);
            if (!v) continue;
            if (i < TL_HTTP_METRICS_NSTATUS - 1)
                TRY(tl_buf_printf(out, "tailor_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n", route,
                                  status_codes[i], (unsigned long long)v));
            else
                TRY(tl_buf_printf(out, "tailor_http_requests_total{route=\"%s\",status=\"other\"} %llu\n", route,
                                  (unsigned long long)v));
        }
    }
    TRY(tl_buf_puts(out, "# HELP tailor_http_request_duration_seconds Time from request headers to response "
                         "queued, by route pattern.\n"
                         "# TYPE tailor_http_request_duration_seconds histogram\n"));
    for (unsigned r = 0; r < TL_HTTP_ROUTE_COUNT; r++) {
        const struct tl_http_route_metrics *rm = &m->routes[r];
        uint64_t count = load(&rm->count);
        if (!count) continue;
        const char *route = tl_http_route_pattern((enum tl_http_route_id)r);
        uint64_t cum = 0;
        for (unsigned b = 0; b < TL_HTTP_METRICS_NBUCKET; b++) {
            cum += load(&rm->buckets[b]);
            TRY(tl_buf_printf(out, "tailor_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %llu\n", route,
                              bucket_le[b], (unsigned long long)cum));
        }
        cum += load(&rm->buckets[TL_HTTP_METRICS_NBUCKET]);
        /* +Inf must equal _count; use the larger so a racing scrape stays monotone. */
        if (count < cum) count = cum;
        TRY(tl_buf_printf(out, "tailor_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", route,
                          (unsigned long long)count));
        TRY(tl_buf_printf(out, "tailor_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n", route,
                          (double)load(&rm->sum_ns) / 1e9));
        TRY(tl_buf_printf(out, "tailor_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route,
                          (unsigned long long)count));
    }
    if (!em) return TL_OK;
    TRY(gauge(out, "tailor_events_ingested_total", "counter", "Events stored (acknowledged).", em->events_ingested));
    TRY(gauge(out, "tailor_events_duplicate_total", "counter", "Events skipped because their event_id was seen.",
              em->events_duplicate));
    TRY(gauge(out, "tailor_events_rejected_total", "counter", "Events rejected by validation.", em->events_rejected));
    TRY(gauge(out, "tailor_profiles_in_memory", "gauge", "Shopper profiles held in memory.", em->profiles_in_memory));
    TRY(gauge(out, "tailor_writer_queue_depth", "gauge", "Events waiting for the group commit.",
              em->writer_queue_depth));
    return TL_OK;
}
