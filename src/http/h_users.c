/* GET /v1/users/{id}/profile (secret key): the shopper's real-time profile
 * (session, recently viewed, cart, affinities). User ids longer than
 * TL_ID_MAX bytes are rejected with 400 naming "user_id". */
#include "http/handlers.h"

void tl_http_h_profile_get(struct tl_http_req *r)
{
    if (r->match.param_too_long) {
        tl_http_req_error(r, TL_EINVAL, "user_id", "user id is longer than 128 bytes");
        return;
    }
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_profile(r->engine, r->shop_id, r->match.param, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}
