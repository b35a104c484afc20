/* One HTTP request as the handlers see it, and the helpers handlers use to
 * read input and write the response.
 *
 * Lifetime: allocated by server.c on the first access-handler call of a
 * request, freed when libmicrohttpd reports the request completed. The
 * handler runs once, after the whole body arrived, in an MHD worker thread;
 * it fills status/out/content_type (and optional headers) and server.c
 * queues the response in one piece.
 * Response convention (engine.h): tl_http_req_finish() turns an engine rc,
 * err and out buffer into status + body. */
#ifndef TL_HTTP_REQ_H
#define TL_HTTP_REQ_H

#include <microhttpd.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "engine/engine.h"
#include "http/router.h"

/* Largest response body a handler may build (recommendations, profiles and
 * item pages are far smaller; static files have their own limit). */
#define TL_HTTP_RESPONSE_MAX ((size_t)64 << 20)

#define TL_HTTP_JSON_TYPE "application/json; charset=utf-8"

struct tl_http;

struct tl_http_req {
    struct tl_http *srv;
    struct tl_engine *engine;
    const struct tl_config *cfg;
    struct MHD_Connection *conn;
    const char *method; /* owned by MHD, valid for the request */
    const char *path;   /* percent-decoded, no query string */
    struct tl_http_match match;
    enum tl_http_match_kind match_kind;
    uint32_t shop_id;    /* from the API key (0 on keyless routes) */
    enum tl_scope scope; /* from the API key */
    struct tl_buf body;  /* request body, max cfg->max_body_bytes */
    uint64_t body_seen;  /* bytes received, kept or not */
    uint64_t start_ns;
    char request_id[24];
    int decided; /* response already decided before the body ended */
    int queued;
    /* response */
    unsigned status;
    struct tl_buf out;
    const char *content_type;  /* static string; NULL = JSON */
    const char *cache_control; /* static string or NULL */
    char allow[64];            /* Allow header ("" = none) */
    int retry_after;           /* seconds; 0 = no header */
};

/* Query-string value (decoded) or NULL. */
const char *tl_http_req_query(struct tl_http_req *r, const char *name);
/* Request header value or NULL (names are case-insensitive). */
const char *tl_http_req_header(struct tl_http_req *r, const char *name);

/* HTTP status for an engine rc (engine.h table). */
unsigned tl_http_status_for_rc(enum tl_rc rc);
/* Answer an error: status from rc, body {"error":{code,message[,field]}}.
 * msg NULL or "" = the rc's generic message. Busy/shutdown set Retry-After. */
void tl_http_req_error(struct tl_http_req *r, enum tl_rc rc, const char *field, const char *msg);
/* Answer an engine call: rc OK -> 200 with r->out as is; rc != OK -> the
 * rc's status, r->out as is when the engine wrote a body, else the error body
 * built from err. */
void tl_http_req_finish(struct tl_http_req *r, enum tl_rc rc, const struct tl_err *err);
/* Answer status with a literal JSON body. */
void tl_http_req_json(struct tl_http_req *r, unsigned status, const char *json);

/* A batch upload (POST /v1/events, PUT /v1/items): parses ?partial=,
 * refuses an empty body with empty_msg, calls fn and finishes the request. */
typedef enum tl_rc (*tl_http_batch_fn)(struct tl_engine *e, uint32_t shop_id, const char *body, size_t len, int partial,
                                       struct tl_buf *out, struct tl_err *err);
void tl_http_req_batch(struct tl_http_req *r, const char *empty_msg, tl_http_batch_fn fn);

#endif
