/* Catalog over the API: PUT /v1/items (batch upsert), GET and DELETE
 * /v1/items/{id}. Writes go to the store first (through the writer, so they
 * are durable when answered), then to the in-memory catalog. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "engine/internal.h"
#include "engine/recs.h"
#include "ingest/item.h"

struct items_job {
    uint32_t shop_id;
    struct tl_item *v;
    size_t n;
};

static enum tl_rc write_items(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    struct items_job *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        enum tl_rc rc = ops->item_upsert(st, j->shop_id, &j->v[i]);
        if (rc) return rc;
    }
    return TL_OK;
}

enum tl_rc tl_engine_put_items(struct tl_engine *e, uint32_t shop_id, const char *body, size_t len, int partial,
                               struct tl_buf *out, struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, NULL, "shop %u does not exist", shop_id);
    json_t *arr = NULL;
    enum tl_rc rc = tl_items_split_body(body, len, &arr, err);
    if (rc) return rc;
    size_t n = json_array_size(arr), nv = 0, nrej = 0;
    struct tl_item *v = tl_calloc(n ? n : 1, sizeof *v);
    struct tl_buf *scratch = tl_calloc(n ? n : 1, sizeof *scratch);
    struct tl_buf rej;
    tl_buf_init(&rej, 0);
    if (!v || !scratch) {
        rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        goto done;
    }
    int64_t now = tl_now_ms();
    for (size_t i = 0; i < n; i++) {
        struct tl_err e1;
        tl_err_clear(&e1);
        tl_buf_init(&scratch[i], 0);
        if (tl_item_from_json(json_array_get(arr, i), now, &v[nv], &scratch[i], &e1) != TL_OK) {
            tl_buf_printf(&rej, "%s{\"index\":%zu,\"field\":", nrej ? "," : "", i);
            tl_buf_json_str(&rej, e1.field);
            tl_buf_puts(&rej, ",\"message\":");
            tl_buf_json_str(&rej, e1.msg);
            tl_buf_putc(&rej, '}');
            nrej++;
            continue;
        }
        /* Keep the created time of an existing item. */
        uint32_t idx = tl_catalog_find(s->cat, v[nv].id);
        if (idx != TL_CAT_NONE) {
            tl_catalog_rdlock(s->cat);
            const struct tl_item *old = tl_catalog_get(s->cat, idx);
            if (old && old->created_ms) v[nv].created_ms = old->created_ms;
            tl_catalog_unlock(s->cat);
        }
        nv++;
    }
    if (nrej && !partial) {
        tl_buf_printf(out,
                      "{\"error\":{\"code\":\"invalid\",\"message\":\"%zu of %zu items are invalid; nothing "
                      "was stored (send ?partial=true to store the valid ones)\"},\"rejected\":[",
                      nrej, n);
        tl_buf_append(out, rej.data ? rej.data : "", rej.len);
        tl_buf_puts(out, "]}");
        rc = tl_err_set(err, TL_EINVAL, NULL, "%zu of %zu items are invalid", nrej, n);
        goto done;
    }
    if (nv) {
        struct items_job job = {shop_id, v, nv};
        rc = tl_writer_submit(e->writer, write_items, &job, nv);
        if (rc) {
            tl_err_set(err, rc, NULL, "items could not be stored: %s", tl_rc_message(rc));
            goto done;
        }
        for (size_t i = 0; i < nv; i++) {
            uint32_t idx = TL_CAT_NONE;
            if (tl_catalog_upsert(s->cat, &v[i], &idx) == TL_OK) tl_engine_search_item(s, idx, &v[i]);
        }
    }
    tl_buf_printf(out, "{\"upserted\":%zu,\"rejected\":[", nv);
    tl_buf_append(out, rej.data ? rej.data : "", rej.len);
    tl_buf_puts(out, "]}");
done:
    if (scratch)
        for (size_t i = 0; i < n; i++) tl_buf_free(&scratch[i]);
    tl_free(scratch);
    tl_free(v);
    tl_buf_free(&rej);
    json_decref(arr);
    return rc;
}

/* Shopper-facing fields of an item, for a storefront reading with a public
 * key: what a product page or card shows, nothing a shop keeps to itself
 * (stock counts, free attributes, timestamps). */
static enum tl_rc item_public_json(const struct tl_item *it, struct tl_buf *out)
{
    tl_recs_item_fields_json(out, it);
    tl_buf_puts(out, ",\"description\":");
    tl_buf_json_str_or_null(out, it->description);
    tl_buf_puts(out, ",\"category\":");
    tl_buf_json_str_or_null(out, it->category);
    tl_buf_puts(out, ",\"brand\":");
    tl_buf_json_str_or_null(out, it->brand);
    tl_buf_printf(out, ",\"available\":%s}", it->available ? "true" : "false");
    return TL_OK;
}

enum tl_rc tl_engine_get_item(struct tl_engine *e, uint32_t shop_id, const char *id, int public_view,
                              struct tl_buf *out, struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    uint32_t idx = s && id ? tl_catalog_find(s->cat, id) : TL_CAT_NONE;
    enum tl_rc rc = TL_ENOTFOUND;
    if (idx != TL_CAT_NONE) {
        tl_catalog_rdlock(s->cat);
        const struct tl_item *it = tl_catalog_get(s->cat, idx);
        if (it && !public_view)
            rc = tl_item_to_json(it, out);
        else if (it && it->visible) /* a hidden item does not exist for shoppers */
            rc = item_public_json(it, out);
        tl_catalog_unlock(s->cat);
    }
    if (rc == TL_ENOTFOUND) tl_err_set(err, rc, "id", "no item with id \"%s\"", id ? id : "");
    return rc;
}

struct del_job {
    uint32_t shop_id;
    const char *id;
};

static enum tl_rc write_delete(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    struct del_job *j = arg;
    return ops->item_delete(st, j->shop_id, j->id);
}

enum tl_rc tl_engine_delete_item(struct tl_engine *e, uint32_t shop_id, const char *id, struct tl_buf *out,
                                 struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s || !id) return tl_err_set(err, TL_ENOTFOUND, "id", "no item with id \"%s\"", id ? id : "");
    struct del_job j = {shop_id, id};
    enum tl_rc rc = tl_writer_submit(e->writer, write_delete, &j, 1);
    if (rc == TL_ENOTFOUND) return tl_err_set(err, rc, "id", "no item with id \"%s\"", id);
    if (rc) return tl_err_set(err, rc, NULL, "item could not be deleted: %s", tl_rc_message(rc));
    uint32_t idx = tl_catalog_find(s->cat, id);
    tl_catalog_delete(s->cat, id);
    tl_engine_search_item(s, idx, NULL);
    tl_buf_puts(out, "{\"deleted\":");
    tl_buf_json_str(out, id);
    tl_buf_putc(out, '}');
    return TL_OK;
}
