/* HTTP routing table and strict query-value parsers (no libmicrohttpd here,
 * so the router is unit-testable on plain strings).
 *
 * A route is a path pattern ("/v1/items/{id}") plus, per method, the
 * operation (server.c maps it to a handler), the key scope it needs and whether it is a public (browser)
 * endpoint answered with CORS headers. tl_http_route_match() resolves a
 * method and an (already percent-decoded) path to one of:
 *   TL_HTTP_MATCH_OK          route and operation found, path parameter copied;
 *   TL_HTTP_MATCH_PREFLIGHT   OPTIONS on a known path (answer 204 + Allow);
 *   TL_HTTP_MATCH_BAD_METHOD  known path, method not allowed (405 + Allow);
 *   TL_HTTP_MATCH_NOT_FOUND   unknown path (404).
 * The route id indexes the per-route metrics; its pattern is the metrics
 * label (never the raw path, so label cardinality is bounded).
 * HEAD is accepted wherever GET is (libmicrohttpd drops the body). */
#ifndef TL_HTTP_ROUTER_H
#define TL_HTTP_ROUTER_H

#include <stddef.h>

#include "core/err.h"
#include "store/types.h"

/* Route ids: dense, used as metrics indexes. TL_HTTP_ROUTE_NONE is the
 * "unmatched" bucket. */
enum tl_http_route_id {
    TL_HTTP_ROUTE_NONE = 0,
    TL_HTTP_ROUTE_EVENTS,
    TL_HTTP_ROUTE_ITEMS,
    TL_HTTP_ROUTE_ITEM,
    TL_HTTP_ROUTE_IDENTIFY,
    TL_HTTP_ROUTE_USER_PROFILE,
    TL_HTTP_ROUTE_RECS,
    TL_HTTP_ROUTE_SEARCH,
    TL_HTTP_ROUTE_SEARCH_SUGGEST,
    TL_HTTP_ROUTE_BROWSE,
    TL_HTTP_ROUTE_ADMIN_SEARCH,
    TL_HTTP_ROUTE_ADMIN_KPIS,
    TL_HTTP_ROUTE_ADMIN_SEASONAL,
    TL_HTTP_ROUTE_ADMIN_SEGMENTS,
    TL_HTTP_ROUTE_EXP_ASSIGN, /* before EXPERIMENT: /v1/experiments/assignments is not an id */
    TL_HTTP_ROUTE_EXPERIMENTS,
    TL_HTTP_ROUTE_EXPERIMENT,
    TL_HTTP_ROUTE_ADMIN_STATS,
    TL_HTTP_ROUTE_ADMIN_TRAIN,
    TL_HTTP_ROUTE_HEALTHZ,
    TL_HTTP_ROUTE_METRICS,
    TL_HTTP_ROUTE_STATIC,
    TL_HTTP_ROUTE_COUNT
};

/* Operations: one per (route, method); server.c maps each to a handler. */
enum tl_http_op {
    TL_HTTP_OP_NONE = 0,
    TL_HTTP_OP_EVENTS_POST,
    TL_HTTP_OP_ITEMS_PUT,
    TL_HTTP_OP_ITEM_GET,
    TL_HTTP_OP_ITEM_DELETE,
    TL_HTTP_OP_IDENTIFY_POST,
    TL_HTTP_OP_PROFILE_GET,
    TL_HTTP_OP_RECS_GET,
    TL_HTTP_OP_SEARCH_GET,
    TL_HTTP_OP_SUGGEST_GET,
    TL_HTTP_OP_BROWSE_GET,
    TL_HTTP_OP_SEARCH_REPORT_GET,
    TL_HTTP_OP_KPIS_GET,
    TL_HTTP_OP_SEASONAL_GET,
    TL_HTTP_OP_SEGMENTS_GET,
    TL_HTTP_OP_ASSIGN_GET,
    TL_HTTP_OP_EXPERIMENTS_GET,
    TL_HTTP_OP_EXPERIMENT_GET,
    TL_HTTP_OP_EXPERIMENT_PUT,
    TL_HTTP_OP_EXPERIMENT_DELETE,
    TL_HTTP_OP_STATS_GET,
    TL_HTTP_OP_TRAIN_GET,
    TL_HTTP_OP_TRAIN_POST,
    TL_HTTP_OP_HEALTHZ_GET,
    TL_HTTP_OP_METRICS_GET,
    TL_HTTP_OP_STATIC_GET,
    TL_HTTP_OP_COUNT
};

/* Method bits (Allow header, route tables). */
enum tl_http_method {
    TL_HTTP_GET = 1u << 0,
    TL_HTTP_HEAD = 1u << 1,
    TL_HTTP_POST = 1u << 2,
    TL_HTTP_PUT = 1u << 3,
    TL_HTTP_DELETE = 1u << 4,
    TL_HTTP_OPTIONS = 1u << 5,
};

/* Which API key a route needs. */
enum tl_http_auth { TL_HTTP_AUTH_NONE = 0, TL_HTTP_AUTH_PUBLIC, TL_HTTP_AUTH_SECRET };

enum tl_http_match_kind {
    TL_HTTP_MATCH_OK = 0,
    TL_HTTP_MATCH_PREFLIGHT,
    TL_HTTP_MATCH_BAD_METHOD,
    TL_HTTP_MATCH_NOT_FOUND,
};

/* Longest path parameter kept; longer ones set param_too_long (handlers
 * answer 400 naming the parameter). */
#define TL_HTTP_PARAM_MAX TL_ID_MAX

struct tl_http_match {
    enum tl_http_route_id route;
    const char *pattern; /* metrics label, e.g. "/v1/items/{id}" */
    enum tl_http_op op;  /* TL_HTTP_OP_NONE unless TL_HTTP_MATCH_OK */
    enum tl_http_auth auth;
    int cors;                          /* public (browser) endpoint */
    unsigned allow;                    /* methods allowed on this path (bits) */
    char param[TL_HTTP_PARAM_MAX + 1]; /* the {id} segment, "" if none */
    int param_too_long;
};

/* Bit of a method name ("GET" -> TL_HTTP_GET); 0 if unknown. */
unsigned tl_http_method_bit(const char *method);
/* "GET, HEAD, DELETE, OPTIONS" for an Allow header. Writes at most n bytes. */
void tl_http_allow_str(unsigned allow, char *out, size_t n);
/* Resolve method + path (no query string). */
enum tl_http_match_kind tl_http_route_match(const char *method, const char *path, struct tl_http_match *m);
/* Pattern of a route id ("unmatched" for NONE). */
const char *tl_http_route_pattern(enum tl_http_route_id id);

/* Query values. s == NULL means "absent".
 * limit: absent -> def; else a decimal integer in [lo, hi] (no sign, no
 * spaces, no trailing text) or TL_EINVAL naming field. */
enum tl_rc tl_http_parse_int(const char *s, const char *field, long lo, long hi, long def, long *out,
                             struct tl_err *err);
/* Boolean: absent -> def; "true"/"1" -> 1; "false"/"0" -> 0; else TL_EINVAL. */
/* A non-negative decimal number ("12", "9.99"); absent -> NAN. Anything
 * else (sign, exponent, inf, nan, garbage) is TL_EINVAL naming field. */
enum tl_rc tl_http_parse_price(const char *s, const char *field, double *out, struct tl_err *err);
enum tl_rc tl_http_parse_bool(const char *s, const char *field, int def, int *out, struct tl_err *err);

#endif
