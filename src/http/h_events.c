/* POST /v1/events (public or secret key): one JSON event, a JSON array or
 * NDJSON, at most cfg->max_body_bytes (server.c enforces it) and
 * TL_BATCH_MAX events (the engine enforces it). ?partial=true stores the
 * valid events of a batch and lists the rejected ones; without it a batch
 * with any invalid event stores nothing. Answers 200 once the accepted
 * events are durable: {"accepted":N,"duplicates":D,"rejected":[...]}. */
#include "http/handlers.h"

void tl_http_h_events_post(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    int partial = 0;
    if (tl_http_parse_bool(tl_http_req_query(r, "partial"), "partial", 0, &partial, &err) != TL_OK) {
        tl_http_req_error(r, err.rc, err.field, err.msg);
        return;
    }
    if (r->body.len == 0) {
        tl_http_req_error(r, TL_EPARSE, "body", "request body is empty: expected a JSON event, array or NDJSON");
        return;
    }
    enum tl_rc rc = tl_engine_ingest_events(r->engine, r->shop_id, r->body.data, r->body.len, partial, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}
