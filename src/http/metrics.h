/* Lock-free HTTP metrics and their Prometheus text rendering (format 0.0.4).
 *
 * Per route (router.h ids, labelled by route pattern): a request counter per
 * status code and a latency histogram. All counters are relaxed atomics, so
 * recording is a few uncontended increments and never takes a lock; a
 * scrape reads each counter once (a scrape may see a request counted in one
 * series and not yet in another; Prometheus tolerates that). */
#ifndef TL_HTTP_METRICS_H
#define TL_HTTP_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/buf.h"
#include "engine/engine.h"
#include "http/router.h"

/* Status codes with their own series; anything else is counted as "other". */
#define TL_HTTP_METRICS_STATUSES(X)                                                                                    \
    X(200) X(201) X(204) X(301) X(304) X(400) X(401) X(403) X(404) X(405) X(408) X(413) X(415) X(429) X(500) X(503)
#define TL_HTTP_METRICS_NSTATUS (16 + 1) /* + "other" */
/* Histogram upper bounds in seconds: 0.0001 .. 1 (1-2.5-5 steps), + +Inf. */
#define TL_HTTP_METRICS_NBUCKET 15

struct tl_http_route_metrics {
    _Atomic uint64_t by_status[TL_HTTP_METRICS_NSTATUS];
    _Atomic uint64_t buckets[TL_HTTP_METRICS_NBUCKET + 1]; /* non-cumulative; last = above 1 s */
    _Atomic uint64_t sum_ns;
    _Atomic uint64_t count;
};

struct tl_http_metrics {
    struct tl_http_route_metrics routes[TL_HTTP_ROUTE_COUNT];
};

/* Zero every counter. */
void tl_http_metrics_init(struct tl_http_metrics *m);
/* Count one request on route (out-of-range ids count as unmatched) that
 * answered status after dur_ns nanoseconds. Lock-free, any thread. */
void tl_http_metrics_record(struct tl_http_metrics *m, enum tl_http_route_id route, unsigned status, uint64_t dur_ns);
/* Append the whole exposition (HTTP series, then the engine counters in em,
 * which may be NULL) to out. TL_ETOOBIG/TL_ENOMEM if out cannot grow. */
enum tl_rc tl_http_metrics_render(const struct tl_http_metrics *m, const struct tl_engine_metrics *em,
                                  struct tl_buf *out);

#endif
