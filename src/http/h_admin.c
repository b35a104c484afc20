/* Admin endpoints (secret key), for the key's shop:
 *   GET  /v1/admin/stats  counts (events, items, users, profiles...)
 *   GET  /v1/admin/train  training state and the current model snapshot
 *   POST /v1/admin/train  queue a training run: 202 with the state; the
 *                         run happens on the trainer thread, requests keep
 *                         being served from the previous snapshot. */
#include "http/handlers.h"

void tl_http_h_stats_get(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_stats(r->engine, r->shop_id, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}

void tl_http_h_train_get(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_train_status(r->engine, r->shop_id, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}

void tl_http_h_train_post(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_train_request(r->engine, r->shop_id, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
    if (rc == TL_OK) r->status = 202;
}
