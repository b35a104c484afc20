/* Catalog management (secret key; GET also public):
 *   PUT    /v1/items[?partial=true]  JSON array of items or {"items":[...]}
 *                                    -> {"upserted":N}
 *   GET    /v1/items/{id}            the item, hidden ones included; with a
 *                                    public key (storefronts): the
 *                                    shopper-facing fields of a visible item
 *   DELETE /v1/items/{id}            -> {"deleted":"id"}
 * The {id} segment arrives percent-decoded; ids longer than TL_ID_MAX bytes
 * are rejected with 400 naming "id". */
#include "http/handlers.h"

void tl_http_h_items_put(struct tl_http_req *r)
{
    tl_http_req_batch(r, "request body is empty: expected a JSON array of items", tl_engine_put_items);
}

static int id_ok(struct tl_http_req *r)
{
    if (r->match.param_too_long) {
        tl_http_req_error(r, TL_EINVAL, "id", "item id is longer than 128 bytes");
        return 0;
    }
    return 1;
}

void tl_http_h_item_get(struct tl_http_req *r)
{
    if (!id_ok(r)) return;
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc =
        tl_engine_get_item(r->engine, r->shop_id, r->match.param, r->scope != TL_SCOPE_SECRET, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}

void tl_http_h_item_delete(struct tl_http_req *r)
{
    if (!id_ok(r)) return;
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_delete_item(r->engine, r->shop_id, r->match.param, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}
