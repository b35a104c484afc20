/* GET /v1/admin/stats (secret key): counts of the key's shop (events, items,
 * users, profiles...) as the engine reports them. */
#include "http/handlers.h"

void tl_http_h_stats_get(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_stats(r->engine, r->shop_id, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}
