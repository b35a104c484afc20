/* Request helpers shared by the handlers (see req.h).
 *
 * Error bodies follow GUIDE §6: {"error":{"code":"invalid","message":"...",
 * "field":"limit"}}, "field" omitted when empty; code is tl_rc_code(rc).
 * Status by rc (engine.h): EINVAL/EPARSE 400, ETOOBIG 413, ENOTFOUND 404,
 * EAUTH 401, EFORBIDDEN 403, EBUSY/ESHUTDOWN 503 (+ Retry-After: 1),
 * everything else 500. An engine error body is sent as is only if it is
 * an error object ({"error"...); a partial success body left in out by a
 * failing call is discarded. If even the error body cannot be built (out of
 * memory), the body stays empty and the status still tells the client. */
#include "http/req.h"

#include <string.h>

const char *tl_http_req_query(struct tl_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *tl_http_req_header(struct tl_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

unsigned tl_http_status_for_rc(enum tl_rc rc)
{
    switch (rc) {
    case TL_OK:
        return 200;
    case TL_EINVAL:
    case TL_EPARSE:
        return 400;
    case TL_ETOOBIG:
        return 413;
    case TL_ENOTFOUND:
        return 404;
    case TL_EAUTH:
        return 401;
    case TL_EFORBIDDEN:
        return 403;
    case TL_EBUSY:
    case TL_ESHUTDOWN:
        return 503;
    default:
        return 500;
    }
}

void tl_http_req_error(struct tl_http_req *r, enum tl_rc rc, const char *field, const char *msg)
{
    r->status = tl_http_status_for_rc(rc);
    r->content_type = NULL;
    if (rc == TL_EBUSY || rc == TL_ESHUTDOWN) r->retry_after = 1;
    tl_buf_reset(&r->out);
    if (!msg || !msg[0]) msg = tl_rc_message(rc);
    enum tl_rc w = tl_buf_puts(&r->out, "{\"error\":{\"code\":");
    if (!w) w = tl_buf_json_str(&r->out, tl_rc_code(rc));
    if (!w) w = tl_buf_puts(&r->out, ",\"message\":");
    if (!w) w = tl_buf_json_str(&r->out, msg);
    if (!w && field && field[0]) {
        w = tl_buf_puts(&r->out, ",\"field\":");
        if (!w) w = tl_buf_json_str(&r->out, field);
    }
    if (!w) w = tl_buf_puts(&r->out, "}}");
    if (w) tl_buf_reset(&r->out);
}

void tl_http_req_finish(struct tl_http_req *r, enum tl_rc rc, const struct tl_err *err)
{
    if (rc == TL_OK) {
        r->status = 200;
        r->content_type = NULL;
        return;
    }
    /* A complete error body from the engine starts with {"error"; anything
     * else is a half-written success body and is replaced. */
    if (r->out.len > 0 && strncmp(r->out.data, "{\"error\"", 8) == 0) {
        r->status = tl_http_status_for_rc(rc);
        r->content_type = NULL;
        if (rc == TL_EBUSY || rc == TL_ESHUTDOWN) r->retry_after = 1;
        return;
    }
    tl_http_req_error(r, rc, err ? err->field : NULL, err ? err->msg : NULL);
}

void tl_http_req_json(struct tl_http_req *r, unsigned status, const char *json)
{
    r->status = status;
    r->content_type = NULL;
    tl_buf_reset(&r->out);
    if (tl_buf_puts(&r->out, json) != TL_OK) tl_buf_reset(&r->out);
}

void tl_http_req_batch(struct tl_http_req *r, const char *empty_msg, tl_http_batch_fn fn)
{
    struct tl_err err;
    tl_err_clear(&err);
    int partial = 0;
    if (tl_http_parse_bool(tl_http_req_query(r, "partial"), "partial", 0, &partial, &err) != TL_OK) {
        tl_http_req_error(r, err.rc, err.field, err.msg);
        return;
    }
    if (r->body.len == 0) {
        tl_http_req_error(r, TL_EPARSE, "body", empty_msg);
        return;
    }
    enum tl_rc rc = fn(r->engine, r->shop_id, r->body.data, r->body.len, partial, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}
