/* HTTP server on libmicrohttpd 0.9.75 (see http.h).
 *
 * Threads: MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL with a pool of
 * cfg->http_threads epoll threads; 0 means max(4, 2 * online CPUs), more
 * than the CPU count because POST /v1/events blocks its thread until the
 * group commit fsync'ed the batch (a few ms), and during that wait the CPU
 * should serve other connections. MHD_USE_ITC is required by
 * MHD_quiesce_daemon.
 * Limits: MHD_OPTION_CONNECTION_LIMIT = cfg->max_connections,
 * MHD_OPTION_CONNECTION_TIMEOUT = cfg->request_timeout_s (idle connections),
 * MHD_OPTION_CONNECTION_MEMORY_LIMIT = TL_HTTP_CONN_MEMORY (headers and the
 * read buffer; bodies are copied out in chunks into a tl_buf capped at
 * cfg->max_body_bytes).
 *
 * Access handler protocol (one request):
 *   call 1 (*con_cls == NULL): allocate the request, match the route,
 *     decide early answers (404, 405, OPTIONS preflight, 401/403 from the
 *     API key). A Content-Length above max_body_bytes is answered 413 right
 *     away (MHD then closes the connection without reading the body).
 *   calls 2..n with upload data: append to the body; past the limit (chunked
 *     uploads) the request is marked 413 and further data discarded; a
 *     client that keeps sending more than twice the limit is disconnected
 *     (MHD 0.9.75 cannot queue a response in the middle of an upload).
 *   last call (upload_data_size == 0): run the handler unless already
 *     decided, and queue the whole response in one buffer (handed to MHD
 *     without a copy, freed by tl_free). Queuing on this second-or-later call
 *     keeps the connection alive (queuing on call 1 makes MHD close it).
 *   completion callback: record nothing more, free the request, decrement
 *     the in-flight counter.
 * Auth: "Authorization: Bearer KEY", or ?key=KEY for public keys only (a
 *   secret key in a URL ends up in logs and browser history: 401). Missing
 *   or unknown key 401; public key on a secret route 403.
 * CORS (routes marked cors in router.c): Access-Control-Allow-Origin =
 *   cfg->cors_origin on every answer; OPTIONS preflight 204 with
 *   Allow-Methods, Allow-Headers "Authorization, Content-Type", Max-Age.
 * Drain (tl_http_stop): MHD_quiesce_daemon (no new connections), then wait
 *   until the in-flight counter has stayed 0 for TL_HTTP_DRAIN_QUIET_MS (so
 *   a request whose bytes are already in a socket buffer gets parsed and
 *   counted) or TL_HTTP_DRAIN_MAX_MS passed, then MHD_stop_daemon. */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "http/handlers.h"
#include "http/metrics.h"

#define TL_HTTP_CONN_MEMORY ((size_t)128 << 10) /* per-connection MHD pool */
#define TL_HTTP_DRAIN_QUIET_MS 200
/* Body bytes reserved up front from Content-Length: a client announcing
 * 32 MiB and sending nothing holds at most this much. */
#define TL_HTTP_PRERESERVE_MAX ((uint64_t)1 << 20)
#define TL_HTTP_KEY_MAX 256 /* longest API key we look up */
#define TL_HTTP_CORS_MAX_AGE "86400"
#define TL_HTTP_THREADS_MIN 4

struct tl_http {
    struct MHD_Daemon *daemon;
    struct tl_engine *engine;
    const struct tl_config *cfg;
    int port;
    _Atomic long in_flight;
    _Atomic uint64_t req_counter;
    uint64_t req_base;
    struct tl_http_metrics metrics;
};

typedef void (*handler_fn)(struct tl_http_req *r);

static const handler_fn handlers[TL_HTTP_OP_COUNT] = {
    [TL_HTTP_OP_EVENTS_POST] = tl_http_h_events_post,
    [TL_HTTP_OP_ITEMS_PUT] = tl_http_h_items_put,
    [TL_HTTP_OP_ITEM_GET] = tl_http_h_item_get,
    [TL_HTTP_OP_ITEM_DELETE] = tl_http_h_item_delete,
    [TL_HTTP_OP_IDENTIFY_POST] = tl_http_h_identify_post,
    [TL_HTTP_OP_PROFILE_GET] = tl_http_h_profile_get,
    [TL_HTTP_OP_RECS_GET] = tl_http_h_recs_get,
    [TL_HTTP_OP_STATS_GET] = tl_http_h_stats_get,
    [TL_HTTP_OP_SEARCH_GET] = tl_http_h_search_get,
    [TL_HTTP_OP_SUGGEST_GET] = tl_http_h_suggest_get,
    [TL_HTTP_OP_KPIS_GET] = tl_http_h_kpis_get,
    [TL_HTTP_OP_SEASONAL_GET] = tl_http_h_seasonal_get,
    [TL_HTTP_OP_SEGMENTS_GET] = tl_http_h_segments_get,
    [TL_HTTP_OP_ASSIGN_GET] = tl_http_h_assign_get,
    [TL_HTTP_OP_EXPERIMENTS_GET] = tl_http_h_experiments_get,
    [TL_HTTP_OP_EXPERIMENT_GET] = tl_http_h_experiment_get,
    [TL_HTTP_OP_EXPERIMENT_PUT] = tl_http_h_experiment_put,
    [TL_HTTP_OP_EXPERIMENT_DELETE] = tl_http_h_experiment_delete,
    [TL_HTTP_OP_BROWSE_GET] = tl_http_h_browse_get,
    [TL_HTTP_OP_SEARCH_REPORT_GET] = tl_http_h_search_report_get,
    [TL_HTTP_OP_TRAIN_GET] = tl_http_h_train_get,
    [TL_HTTP_OP_TRAIN_POST] = tl_http_h_train_post,
    [TL_HTTP_OP_HEALTHZ_GET] = tl_http_h_healthz_get,
    [TL_HTTP_OP_METRICS_GET] = tl_http_h_metrics_get,
    [TL_HTTP_OP_STATIC_GET] = tl_http_h_static_get,
};

struct tl_http_metrics *tl_http_server_metrics(struct tl_http *h) { return &h->metrics; }

int tl_http_port(const struct tl_http *h) { return h ? h->port : 0; }

/* ---- authentication ---------------------------------------------------- */

/* Returns 1 when the request may proceed (shop_id/scope set), else 0 with
 * the error answer decided. */
static int authenticate(struct tl_http_req *r)
{
    char key[TL_HTTP_KEY_MAX + 1];
    const char *src = NULL;
    int from_query = 0;
    const char *hdr = tl_http_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (hdr) {
        if (strncasecmp(hdr, "Bearer ", 7) != 0) {
            tl_http_req_error(r, TL_EAUTH, "Authorization", "Authorization header must be 'Bearer KEY'");
            return 0;
        }
        src = hdr + 7;
        while (*src == ' ') src++;
    } else {
        src = tl_http_req_query(r, "key");
        from_query = 1;
    }
    if (!src || !src[0]) {
        tl_http_req_error(r, TL_EAUTH, NULL, "missing API key: send 'Authorization: Bearer KEY'");
        return 0;
    }
    size_t n = strlen(src);
    while (n > 0 && src[n - 1] == ' ') n--;
    if (n > TL_HTTP_KEY_MAX) {
        tl_http_req_error(r, TL_EAUTH, NULL, "unknown API key");
        return 0;
    }
    memcpy(key, src, n);
    key[n] = '\0';
    uint32_t shop = 0;
    enum tl_scope scope = TL_SCOPE_PUBLIC;
    enum tl_rc rc = tl_engine_auth(r->engine, key, &shop, &scope);
    if (rc == TL_EAUTH || rc == TL_ENOTFOUND) {
        tl_http_req_error(r, TL_EAUTH, NULL, "unknown API key");
        return 0;
    }
    if (rc != TL_OK) {
        tl_http_req_error(r, rc, NULL, "could not check the API key");
        return 0;
    }
    if (from_query && scope == TL_SCOPE_SECRET) {
        tl_http_req_error(r, TL_EAUTH, "key",
                          "secret keys must be sent in the Authorization header, never in the URL; "
                          "revoke this key if the URL was shared");
        return 0;
    }
    if (r->match.auth == TL_HTTP_AUTH_SECRET && scope != TL_SCOPE_SECRET) {
        tl_http_req_error(r, TL_EFORBIDDEN, NULL,
                          "this endpoint needs a secret key; public keys may only "
                          "send events and identify, and read recommendations");
        return 0;
    }
    r->shop_id = shop;
    r->scope = scope;
    return 1;
}

/* ---- responses --------------------------------------------------------- */

static void make_request_id(struct tl_http_req *r)
{
    uint64_t n = atomic_fetch_add_explicit(&r->srv->req_counter, 1, memory_order_relaxed);
    snprintf(r->request_id, sizeof r->request_id, "%016llx", (unsigned long long)(r->srv->req_base + n));
}

static enum MHD_Result queue(struct tl_http_req *r)
{
    struct MHD_Response *resp;
    size_t len = r->out.len;
    if (len > 0) {
        char *data = tl_buf_steal(&r->out);
        resp = MHD_create_response_from_buffer_with_free_callback(len, data, tl_free);
        if (!resp) tl_free(data);
    } else {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) return MHD_NO;
    if (r->status != 204)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type ? r->content_type : TL_HTTP_JSON_TYPE);
    make_request_id(r);
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (r->cache_control) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, r->cache_control);
    if (r->allow[0]) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (r->match.cors) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, r->cfg->cors_origin);
        if (r->match_kind == TL_HTTP_MATCH_PREFLIGHT) {
            MHD_add_response_header(resp, "Access-Control-Allow-Methods", r->allow);
            MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
            MHD_add_response_header(resp, "Access-Control-Max-Age", TL_HTTP_CORS_MAX_AGE);
        }
        if (strcmp(r->cfg->cors_origin, "*") != 0) MHD_add_response_header(resp, "Vary", "Origin");
    }
    enum MHD_Result ok = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    r->queued = 1;
    tl_http_metrics_record(&r->srv->metrics, r->match.route, r->status, tl_mono_ns() - r->start_ns);
    if (r->status >= 500)
        tl_warn("http %s %s -> %u (request %s)", r->method, r->match.pattern, r->status, r->request_id);
    return ok;
}

/* Decide what can be decided from the request line and headers. */
static void decide_early(struct tl_http_req *r)
{
    char msg[160];
    switch (r->match_kind) {
    case TL_HTTP_MATCH_NOT_FOUND:
        tl_http_req_error(r, TL_ENOTFOUND, NULL, "no such endpoint");
        r->decided = 1;
        return;
    case TL_HTTP_MATCH_BAD_METHOD:
        tl_http_allow_str(r->match.allow, r->allow, sizeof r->allow);
        snprintf(msg, sizeof msg, "method %.16s is not allowed here; allowed: %s", r->method, r->allow);
        tl_http_req_error(r, TL_EINVAL, NULL, msg);
        r->status = 405;
        r->decided = 1;
        return;
    case TL_HTTP_MATCH_PREFLIGHT:
        tl_http_allow_str(r->match.allow, r->allow, sizeof r->allow);
        r->status = 204;
        r->decided = 1;
        return;
    case TL_HTTP_MATCH_OK:
        if (r->match.auth != TL_HTTP_AUTH_NONE && !authenticate(r)) r->decided = 1;
        return;
    }
}

/* Parse Content-Length; returns 1 and *n when present and numeric. */
static int content_length(struct tl_http_req *r, uint64_t *n)
{
    const char *cl = tl_http_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl || !cl[0]) return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(cl, &end, 10);
    if (errno || !end || *end) return 0;
    *n = v;
    return 1;
}

static void too_big(struct tl_http_req *r)
{
    char msg[128];
    snprintf(msg, sizeof msg, "request body is larger than the limit of %zu bytes", r->cfg->max_body_bytes);
    tl_buf_free(&r->body);
    tl_http_req_error(r, TL_ETOOBIG, "body", msg);
    r->decided = 1;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct tl_http *srv = cls;
    struct tl_http_req *r = *con_cls;
    if (!r) {
        r = tl_calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->srv = srv;
        r->engine = srv->engine;
        r->cfg = srv->cfg;
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->start_ns = tl_mono_ns();
        tl_buf_init(&r->body, srv->cfg->max_body_bytes);
        tl_buf_init(&r->out, TL_HTTP_RESPONSE_MAX);
        *con_cls = r;
        atomic_fetch_add_explicit(&srv->in_flight, 1, memory_order_acq_rel);
        r->match_kind = tl_http_route_match(method, url, &r->match);
        decide_early(r);
        uint64_t cl = 0;
        if (content_length(r, &cl) && cl > srv->cfg->max_body_bytes) {
            too_big(r);
            return queue(r); /* closes the connection: we will not read the body */
        }
        if (!r->decided && cl > 0 &&
            tl_buf_reserve(&r->body, cl < TL_HTTP_PRERESERVE_MAX ? (size_t)cl : TL_HTTP_PRERESERVE_MAX) != TL_OK) {
            tl_http_req_error(r, TL_ENOMEM, NULL, "out of memory for the request body");
            r->decided = 1;
        }
        return MHD_YES;
    }
    if (r->queued) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->body_seen += n;
        if (r->decided) {
            /* Discard; stop a client that streams far past the limit. */
            return r->body_seen > 2 * (uint64_t)srv->cfg->max_body_bytes ? MHD_NO : MHD_YES;
        }
        enum tl_rc rc = tl_buf_append(&r->body, upload_data, n);
        if (rc == TL_ETOOBIG) {
            too_big(r);
        } else if (rc != TL_OK) {
            tl_buf_free(&r->body);
            tl_http_req_error(r, TL_ENOMEM, NULL, "out of memory for the request body");
            r->decided = 1;
        }
        return MHD_YES;
    }
    if (!r->decided) {
        handler_fn h = handlers[r->match.op];
        if (h)
            h(r);
        else
            tl_http_req_error(r, TL_EINTERNAL, NULL, "no handler for this route");
    }
    return queue(r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct tl_http *srv = cls;
    struct tl_http_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    tl_buf_free(&r->body);
    tl_buf_free(&r->out);
    tl_free(r);
    atomic_fetch_sub_explicit(&srv->in_flight, 1, memory_order_acq_rel);
}

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    tl_warn("libmicrohttpd: %s", msg);
}

/* ---- start / stop ------------------------------------------------------ */

static unsigned pool_size(const struct tl_config *cfg)
{
    if (cfg->http_threads > 0) return (unsigned)cfg->http_threads;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1) ncpu = 1;
    unsigned n = (unsigned)(2 * ncpu);
    return n < TL_HTTP_THREADS_MIN ? TL_HTTP_THREADS_MIN : n;
}

enum tl_rc tl_http_start(struct tl_engine *e, struct tl_http **out, struct tl_err *err)
{
    *out = NULL;
    const struct tl_config *cfg = tl_engine_config(e);
    if (cfg->port < 0 || cfg->port > 65535)
        return tl_err_set(err, TL_EINVAL, "port", "port must be between 0 and 65535, got %d", cfg->port);
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    memset(&sin, 0, sizeof sin);
    memset(&sin6, 0, sizeof sin6);
    if (inet_pton(AF_INET, cfg->bind, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&sin;
    } else if (inet_pton(AF_INET6, cfg->bind, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&sin6;
        flags |= MHD_USE_IPv6;
    } else {
        return tl_err_set(err, TL_EINVAL, "bind", "bind must be an IPv4 or IPv6 address, got '%s'", cfg->bind);
    }
    struct tl_http *h = tl_calloc(1, sizeof *h);
    if (!h) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    h->engine = e;
    h->cfg = cfg;
    atomic_init(&h->in_flight, 0);
    atomic_init(&h->req_counter, 0);
    tl_http_metrics_init(&h->metrics);
    uint64_t base = 0;
    if (getrandom(&base, sizeof base, 0) != (ssize_t)sizeof base) base = (uint64_t)tl_now_ms() << 20;
    h->req_base = base;

    unsigned threads = pool_size(cfg);
    unsigned conn_limit = cfg->max_connections > 0 ? (unsigned)cfg->max_connections : 1024u;
    if (conn_limit < threads) conn_limit = threads;
    /* The logger goes first so that MHD reports option errors through it. */
    h->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, access_handler, h, MHD_OPTION_EXTERNAL_LOGGER,
                                 mhd_logger, NULL, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
                                 MHD_OPTION_CONNECTION_LIMIT, conn_limit, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)(cfg->request_timeout_s > 0 ? cfg->request_timeout_s : 30),
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, TL_HTTP_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
                                 completed, h, MHD_OPTION_END);
    if (!h->daemon) {
        tl_free(h);
        return tl_err_set(err, TL_EIO, "port", "cannot listen on %s:%d (address in use or not permitted)", cfg->bind,
                          cfg->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? (int)info->port : cfg->port;
    tl_info("http: %u threads, max %u connections, body limit %zu bytes", threads, conn_limit, cfg->max_body_bytes);
    *out = h;
    return TL_OK;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void tl_http_stop(struct tl_http *h)
{
    if (!h) return;
    MHD_socket lsock = MHD_quiesce_daemon(h->daemon);
    uint64_t start = tl_mono_ns(), quiet_since = 0;
    for (;;) {
        uint64_t now = tl_mono_ns();
        long busy = atomic_load_explicit(&h->in_flight, memory_order_acquire);
        if (busy > 0)
            quiet_since = 0;
        else if (!quiet_since)
            quiet_since = now;
        if (quiet_since && now - quiet_since >= (uint64_t)TL_HTTP_DRAIN_QUIET_MS * 1000000u) break;
        if (now - start >= (uint64_t)TL_HTTP_DRAIN_MAX_MS * 1000000u) {
            tl_warn("http: %ld requests still in flight after %d ms; stopping anyway", busy, TL_HTTP_DRAIN_MAX_MS);
            break;
        }
        sleep_ms(10);
    }
    MHD_stop_daemon(h->daemon);
    if (lsock != MHD_INVALID_SOCKET) close(lsock);
    tl_free(h);
}
