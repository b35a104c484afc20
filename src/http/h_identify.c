/* POST /v1/identify (public or secret key): {"anonymous_id","user_id"}
 * links a browser's anonymous history to a customer id; the engine merges
 * the anonymous profile into the user's. -> {"user_id":..,"merged":bool} */
#include "http/handlers.h"

void tl_http_h_identify_post(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    if (r->body.len == 0) {
        tl_http_req_error(r, TL_EPARSE, "body",
                          "request body is empty: expected {\"anonymous_id\":...,\"user_id\":...}");
        return;
    }
    enum tl_rc rc = tl_engine_identify(r->engine, r->shop_id, r->body.data, r->body.len, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}
