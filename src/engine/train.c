/* Training of the shop models (see trained.h), on a schedule, on request
 * (POST /v1/admin/train) and from `tailor train`.
 *
 * Data, read from the store through a store handle of the trainer's own
 * (SQLite WAL readers never block the writer):
 *   ui       shoppers x items: every order line (weight weight_purchase),
 *            product_view (weight_view) and add_to_cart (weight_cart) event.
 *            Shoppers are keyed like profiles ("u:<customer>", or
 *            "a:<anonymous id>" resolved to the customer once identified).
 *            Interactions of a (shopper, item) pair are summed by the models
 *            that want a confidence (iALS: c = 1 + alpha * sum of weights).
 *            Item content (title, description, brand, category, tags,
 *            attributes) is attached for the content model.
 *   sessions views grouped into sessions (a new one after
 *            session_timeout_min of inactivity, as profiles do), plus every
 *            order as one session of its lines: for session models.
 *   baskets  one row per order: for association rules.
 * Which models train is config train_models; their parameters come from
 * model_params ("ials.factors=64,arules.min_support=0.002").
 *
 * Item space: model item index = catalog index at the start of the run
 * (n_items = catalog size then); items added later are unknown to the
 * models until the next run.
 *
 * Snapshot file "<db_path>.models-<shop>": written to a temporary file,
 * fsynced and renamed over the old one, so a crash leaves the old or the new
 * file, never a torn one. Layout (little-endian):
 *   u32 magic "TLM1", u32 version 1, u32 n_items, then n_items x
 *   (u32 length, id bytes); u64 trained_at_ms, u64 seconds*1000, u64 users,
 *   u64 interactions, u64 sessions, u64 baskets, u32 n_models, then per
 *   model: u32 name length, name, u64 training ms, u64 length, the model's
 *   own snapshot (format documented in its .c file). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/internal.h"
#include "model/blend.h"
#include "model/dataset.h"

#define SNAP_MAGIC 0x314d4c54u /* "TLM1" */
#define SNAP_VERSION 1
#define MODEL_SNAP_MAX ((size_t)8 << 30) /* largest model snapshot accepted from disk */

/* ---- snapshot access ------------------------------------------------------ */

void *tl_trained_find(const struct tl_trained *t, const char *name, const struct tl_model_ops **ops)
{
    for (size_t i = 0; t && i < t->n; i++)
        if (strcmp(t->m[i].name, name) == 0) {
            if (ops) *ops = t->m[i].ops;
            return t->m[i].model;
        }
    return NULL;
}

uint32_t tl_trained_from_cat(const struct tl_trained *t, uint32_t c)
{
    return t && c < t->n_cat ? t->cat_to_model[c] : TL_MODEL_NONE;
}

uint32_t tl_trained_to_cat(const struct tl_trained *t, uint32_t m)
{
    return t && m < t->n_items ? t->model_to_cat[m] : UINT32_MAX;
}

static void trained_free(struct tl_trained *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++)
        if (t->m[i].model) t->m[i].ops->free(t->m[i].model);
    for (uint32_t i = 0; t->ids && i < t->n_items; i++) tl_free(t->ids[i]);
    tl_free(t->ids);
    tl_free(t->model_to_cat);
    tl_free(t->cat_to_model);
    tl_free(t);
}

void tl_trained_release(struct tl_trained *t)
{
    if (t && atomic_fetch_sub(&t->refs, 1) == 1) trained_free(t);
}

struct tl_trained *tl_engine_trained(struct tl_shop_state *s)
{
    pthread_mutex_lock(&s->trained_mu);
    struct tl_trained *t = s->trained;
    if (t) atomic_fetch_add(&t->refs, 1);
    pthread_mutex_unlock(&s->trained_mu);
    return t;
}

static void publish(struct tl_shop_state *s, struct tl_trained *t)
{
    pthread_mutex_lock(&s->trained_mu);
    struct tl_trained *old = s->trained;
    s->trained = t;
    pthread_mutex_unlock(&s->trained_mu);
    tl_trained_release(old);
}

void tl_engine_trained_drop(struct tl_shop_state *s) { publish(s, NULL); }

/* Build the catalog <-> model maps from t->ids against the current catalog. */
static enum tl_rc map_items(struct tl_trained *t, struct tl_catalog *cat)
{
    tl_catalog_rdlock(cat);
    uint32_t n_cat = tl_catalog_size(cat);
    t->n_cat = n_cat;
    t->model_to_cat = tl_malloc(((size_t)t->n_items + 1) * sizeof *t->model_to_cat);
    t->cat_to_model = tl_malloc(((size_t)n_cat + 1) * sizeof *t->cat_to_model);
    if (!t->model_to_cat || !t->cat_to_model) {
        tl_catalog_unlock(cat);
        return TL_ENOMEM;
    }
    for (uint32_t c = 0; c < n_cat; c++) t->cat_to_model[c] = TL_MODEL_NONE;
    for (uint32_t m = 0; m < t->n_items; m++) {
        uint32_t c = t->ids[m] ? tl_catalog_find_locked(cat, t->ids[m]) : TL_CAT_NONE;
        t->model_to_cat[m] = c;
        if (c != TL_CAT_NONE && c < n_cat) t->cat_to_model[c] = m;
    }
    tl_catalog_unlock(cat);
    return TL_OK;
}

/* ---- training data ---------------------------------------------------------- */

struct build {
    struct tl_engine *e;
    struct tl_shop_state *s;
    uint32_t shop_id;
    uint32_t n_items;
    struct tl_dataset_builder *ui, *sess, *bask;
    struct tl_strtab users; /* shopper key -> ui user index */
    uint32_t n_sessions, n_baskets;
    struct tl_u64map last;    /* shopper hash -> last view ts */
    struct tl_u64map sess_of; /* shopper hash -> current session index */
    float w_view, w_cart, w_purchase;
    enum tl_rc rc;
    struct tl_err *err;
};

static uint32_t item_index(struct build *b, const char *id)
{
    if (!id) return TL_CAT_NONE;
    uint32_t c = tl_catalog_find(b->s->cat, id);
    return c < b->n_items ? c : TL_CAT_NONE; /* newer than this run: unknown */
}

static int user_index(struct build *b, const char *key, uint32_t *u)
{
    if (tl_strtab_intern(&b->users, key, u) != TL_OK) {
        b->rc = tl_err_set(b->err, TL_ENOMEM, NULL, "out of memory collecting shoppers");
        return -1;
    }
    return 0;
}

static int order_cb(void *ctx, uint32_t shop_id, const struct tl_order *o)
{
    struct build *b = ctx;
    if (shop_id != b->shop_id || o->is_return) return 0;
    uint32_t u = UINT32_MAX;
    if (o->customer_id) {
        char key[TL_USER_KEY_MAX];
        snprintf(key, sizeof key, "u:%s", o->customer_id);
        if (user_index(b, key, &u)) return 1;
    }
    uint32_t sess = b->n_sessions, bask = b->n_baskets;
    int any = 0;
    for (size_t i = 0; i < o->n_lines; i++) {
        uint32_t it = item_index(b, o->lines[i].item_id);
        if (it == TL_CAT_NONE) continue;
        any = 1;
        if ((u != UINT32_MAX &&
             (b->rc = tl_dataset_builder_add(b->ui, u, it, b->w_purchase, o->ts_ms, b->err)) != TL_OK) ||
            (b->rc = tl_dataset_builder_add(b->sess, sess, it, 1.0f, o->ts_ms, b->err)) != TL_OK ||
            (b->rc = tl_dataset_builder_add(b->bask, bask, it, 1.0f, o->ts_ms, b->err)) != TL_OK)
            return 1;
    }
    if (any) {
        b->n_sessions++;
        b->n_baskets++;
    }
    return 0;
}

static int event_cb(void *ctx, const struct tl_event *ev)
{
    struct build *b = ctx;
    if (ev->shop_id != b->shop_id || (ev->type != TL_EV_PRODUCT_VIEW && ev->type != TL_EV_ADD_TO_CART)) return 0;
    uint32_t it = item_index(b, ev->item_id);
    if (it == TL_CAT_NONE) return 0;
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(b->e, b->shop_id, ev->user_id, ev->anonymous_id, key);
    uint32_t u;
    if (user_index(b, key, &u)) return 1;
    float w = ev->type == TL_EV_PRODUCT_VIEW ? b->w_view : b->w_cart;
    if ((b->rc = tl_dataset_builder_add(b->ui, u, it, w, ev->ts_ms, b->err)) != TL_OK) return 1;
    if (ev->type != TL_EV_PRODUCT_VIEW) return 0;
    /* sessions: a new one after the inactivity timeout */
    uint64_t h = tl_hash_str(key, 0x73657373ULL), last = 0, sid = 0;
    int seen = tl_u64map_get(&b->last, h, &last);
    if (!seen || ev->ts_ms - (int64_t)last > b->e->pparams.session_timeout_ms || !tl_u64map_get(&b->sess_of, h, &sid)) {
        sid = b->n_sessions++;
        if (tl_u64map_put(&b->sess_of, h, sid) != TL_OK) {
            b->rc = tl_err_set(b->err, TL_ENOMEM, NULL, "out of memory grouping sessions");
            return 1;
        }
    }
    if (tl_u64map_put(&b->last, h, (uint64_t)ev->ts_ms) != TL_OK) {
        b->rc = tl_err_set(b->err, TL_ENOMEM, NULL, "out of memory grouping sessions");
        return 1;
    }
    if ((b->rc = tl_dataset_builder_add(b->sess, (uint32_t)sid, it, 1.0f, ev->ts_ms, b->err)) != TL_OK) return 1;
    return 0;
}

/* Comma-separated JSON array text ["a","b"] -> "a, b" (best effort). */
static void flatten_json_list(const char *json, char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = json; p && *p && o + 1 < n; p++) {
        if (*p == '[' || *p == ']' || *p == '{' || *p == '}' || *p == '"') continue;
        out[o++] = *p == ',' ? ';' : *p;
    }
    out[o] = '\0';
}

static enum tl_rc attach_text(struct build *b, struct tl_dataset *d)
{
    enum tl_rc rc = TL_OK;
    tl_catalog_rdlock(b->s->cat);
    for (uint32_t i = 0; i < b->n_items && !rc; i++) {
        const struct tl_item *it = tl_catalog_get(b->s->cat, i);
        if (!it) continue;
        char tags[1024], attrs[2048];
        flatten_json_list(it->tags_json, tags, sizeof tags);
        flatten_json_list(it->attrs_json, attrs, sizeof attrs);
        struct tl_item_text t = {.title = (char *)it->title,
                                 .description = (char *)it->description,
                                 .brand = (char *)it->brand,
                                 .category = (char *)it->category,
                                 .tags = tags[0] ? tags : NULL,
                                 .attrs = attrs[0] ? attrs : NULL};
        rc = tl_dataset_set_text(d, i, &t, b->err);
    }
    tl_catalog_unlock(b->s->cat);
    return rc;
}

/* ---- one training run ----------------------------------------------------- */

struct run_progress {
    struct tl_shop_state *s;
    tl_engine_train_progress_fn fn;
    void *ctx;
    size_t i, n;
    const char *model;
};

static void set_status(struct tl_shop_state *s, double frac, const char *phase)
{
    pthread_mutex_lock(&s->trained_mu);
    s->train.progress = frac;
    snprintf(s->train.phase, sizeof s->train.phase, "%s", phase);
    pthread_mutex_unlock(&s->trained_mu);
}

static void model_progress(void *ctx, double frac, const char *phase)
{
    struct run_progress *rp = ctx;
    /* data loading is the first 10%, models share the rest evenly */
    double f = 0.1 + 0.9 * ((double)rp->i + frac) / (double)(rp->n ? rp->n : 1);
    char ph[96];
    snprintf(ph, sizeof ph, "%s: %s", rp->model, phase ? phase : "");
    set_status(rp->s, f, ph);
    if (rp->fn) rp->fn(rp->ctx, f, ph);
}

/* Apply "name.key=value" entries of spec that belong to ops. */
static enum tl_rc apply_model_params(const struct tl_model_ops *ops, void *params, const char *spec, struct tl_err *err)
{
    char tmp[sizeof(((struct tl_config *)0)->model_params)];
    snprintf(tmp, sizeof tmp, "%s", spec);
    size_t nl = strlen(ops->name);
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (strncmp(tok, ops->name, nl) != 0 || tok[nl] != '.') continue;
        char *eq = strchr(tok, '=');
        if (!eq) return tl_err_set(err, TL_EINVAL, "model_params", "\"%s\" is not model.key=value", tok);
        *eq = '\0';
        enum tl_rc rc = ops->param_set(params, tok + nl + 1, eq + 1, err);
        if (rc) return rc;
    }
    return TL_OK;
}

/* Which dataset a model trains on. */
static const struct tl_dataset *dataset_for(const char *name, const struct tl_dataset *ui,
                                            const struct tl_dataset *sess, const struct tl_dataset *bask)
{
    if (strcmp(name, "sknn") == 0 || strncmp(name, "session_", 8) == 0) return sess;
    if (strcmp(name, "arules") == 0) return bask;
    return ui;
}

enum tl_rc tl_engine_train_shop(struct tl_engine *e, uint32_t shop_id, tl_engine_train_progress_fn fn, void *ctx,
                                struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, "shop", "shop %u does not exist", shop_id);
    uint64_t t0 = tl_mono_ns();
    struct tl_store *st = NULL;
    struct tl_dataset *ui = NULL, *sess = NULL, *bask = NULL;
    struct tl_trained *t = NULL;
    struct build b = {.e = e, .s = s, .shop_id = shop_id, .err = err};
    tl_strtab_init(&b.users);
    tl_u64map_init(&b.last);
    tl_u64map_init(&b.sess_of);
    b.w_view = (float)e->cfg.weight_view;
    b.w_cart = (float)e->cfg.weight_cart;
    b.w_purchase = (float)e->cfg.weight_purchase;
    int64_t seq_at_start = atomic_load(&e->last_seq);
    set_status(s, 0.0, "reading orders and events");
    pthread_mutex_lock(&s->trained_mu);
    s->train.last_warning[0] = '\0';
    pthread_mutex_unlock(&s->trained_mu);
    if (fn) fn(ctx, 0.0, "reading orders and events");
    tl_catalog_rdlock(s->cat);
    b.n_items = tl_catalog_size(s->cat);
    tl_catalog_unlock(s->cat);
    enum tl_rc rc = e->ops->open(e->cfg.db_path, TL_SYNC_OS, &st, err);
    if (!rc) {
        b.ui = tl_dataset_builder_new();
        b.sess = tl_dataset_builder_new();
        b.bask = tl_dataset_builder_new();
        if (!b.ui || !b.sess || !b.bask) rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    if (!rc) {
        rc = e->ops->order_scan(st, shop_id, order_cb, &b);
        if (rc == TL_OK) rc = e->ops->event_scan(st, 0, 0, event_cb, &b); /* no bodies: event_cb reads none */
        if (b.rc)
            rc = b.rc;
        else if (rc)
            tl_err_set(err, rc, NULL, "reading the store for training: %s", tl_rc_message(rc));
    }
    if (st) e->ops->close(st);
    if (!rc) rc = tl_dataset_builder_finish(b.ui, b.users.count, b.n_items, &ui, err);
    if (!rc) rc = tl_dataset_builder_finish(b.sess, b.n_sessions, b.n_items, &sess, err);
    if (!rc) rc = tl_dataset_builder_finish(b.bask, b.n_baskets, b.n_items, &bask, err);
    if (!rc) rc = attach_text(&b, ui);
    if (!rc) {
        t = tl_calloc(1, sizeof *t);
        if (t) t->ids = tl_calloc((size_t)b.n_items + 1, sizeof *t->ids);
        if (!t || !t->ids) rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    if (!rc) {
        atomic_init(&t->refs, 1);
        t->n_items = b.n_items;
        tl_catalog_rdlock(s->cat);
        for (uint32_t i = 0; i < b.n_items && !rc; i++) {
            const char *id = tl_catalog_id(s->cat, i);
            if (id && !(t->ids[i] = tl_strdup(id))) rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        }
        tl_catalog_unlock(s->cat);
        t->users = ui->n_users;
        t->interactions = ui->n;
        t->sessions = sess->n_users;
        t->baskets = bask->n_users;
    }
    /* the models listed in train_models, in order */
    char list[sizeof e->cfg.train_models];
    snprintf(list, sizeof list, "%s", e->cfg.train_models);
    const struct tl_model_ops *to_train[TL_TRAINED_MODELS_MAX];
    size_t n_to_train = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); !rc && tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        const struct tl_model_ops *ops = tl_model_find(tok);
        if (!ops) {
            tl_warn("train_models: model \"%s\" is not available in this build; skipped", tok);
            continue;
        }
        if (n_to_train < TL_TRAINED_MODELS_MAX) to_train[n_to_train++] = ops;
    }
    struct run_progress rp = {.s = s, .fn = fn, .ctx = ctx, .n = n_to_train};
    for (size_t i = 0; !rc && i < n_to_train; i++) {
        const struct tl_model_ops *ops = to_train[i];
        _Alignas(16) unsigned char params[TL_MODEL_PARAMS_MAX];
        memset(params, 0, sizeof params);
        ops->params_defaults(params);
        if ((rc = apply_model_params(ops, params, e->cfg.model_params, err)) != TL_OK) break;
        const struct tl_dataset *d = dataset_for(ops->name, ui, sess, bask);
        rp.i = i;
        rp.model = ops->name;
        struct tl_train_opts to = {.threads = e->cfg.train_threads > 0 ? e->cfg.train_threads : 1,
                                   .seed = 42,
                                   .progress = model_progress,
                                   .progress_ctx = &rp,
                                   .cancel = &e->train_cancel};
        uint64_t m0 = tl_mono_ns();
        void *model = NULL;
        if (d->n == 0) { /* nothing to learn from: the model is left out */
            tl_info("shop %u: no data for model %s yet", shop_id, ops->name);
            continue;
        }
        rc = ops->train(d, params, &to, &model, err);
        if (rc == TL_ETOOBIG || rc == TL_EINVAL) {
            /* this model cannot be built from this data with these
             * parameters (e.g. too many itemsets): the others still serve */
            tl_warn("shop %u: model %s not trained: %s", shop_id, ops->name, err ? err->msg : tl_rc_message(rc));
            pthread_mutex_lock(&s->trained_mu);
            snprintf(s->train.last_warning, sizeof s->train.last_warning, "%s: %s", ops->name,
                     err ? err->msg : tl_rc_message(rc));
            pthread_mutex_unlock(&s->trained_mu);
            tl_err_clear(err);
            rc = TL_OK;
            continue;
        }
        if (rc) break;
        struct tl_trained_entry *en = &t->m[t->n++];
        snprintf(en->name, sizeof en->name, "%s", ops->name);
        en->ops = ops;
        en->model = model;
        en->seconds = (double)(tl_mono_ns() - m0) / 1e9;
    }
    if (!rc) rc = map_items(t, s->cat) ? tl_err_set(err, TL_ENOMEM, NULL, "out of memory") : TL_OK;
    if (!rc) {
        t->trained_at_ms = tl_now_ms();
        t->seconds = (double)(tl_mono_ns() - t0) / 1e9;
        rc = tl_engine_trained_save(e, shop_id, t, err);
        if (rc) tl_warn("shop %u: models trained but not saved: %s", shop_id, err ? err->msg : "");
        rc = TL_OK; /* served from memory even if the file could not be written */
        pthread_mutex_lock(&s->trained_mu);
        s->train.trained_seq = seq_at_start;
        pthread_mutex_unlock(&s->trained_mu);
        atomic_fetch_add(&t->refs, 0);
        publish(s, t);
        t = NULL;
        tl_info("shop %u: trained models in %.2f s", shop_id, (double)(tl_mono_ns() - t0) / 1e9);
        /* micro-segments from the profiles (engine/segments.c): a failure
         * leaves the previous segments serving, as a model failure would */
        set_status(s, 0.99, "segments");
        if (fn) fn(ctx, 0.99, "segments");
        struct tl_err serr;
        tl_err_clear(&serr);
        if (tl_engine_segments_train(e, shop_id, &serr) != TL_OK)
            tl_warn("shop %u: segments not formed: %s", shop_id, serr.msg);
    }
    trained_free(t);
    tl_dataset_free(ui);
    tl_dataset_free(sess);
    tl_dataset_free(bask);
    tl_dataset_builder_free(b.ui);
    tl_dataset_builder_free(b.sess);
    tl_dataset_builder_free(b.bask);
    tl_strtab_free(&b.users);
    tl_u64map_free(&b.last);
    tl_u64map_free(&b.sess_of);
    return rc;
}

/* ---- snapshot files --------------------------------------------------------- */

static void snap_path(const struct tl_engine *e, uint32_t shop_id, char *out, size_t n)
{
    snprintf(out, n, "%s.models-%u", e->cfg.db_path, shop_id);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

enum tl_rc tl_engine_trained_save(struct tl_engine *e, uint32_t shop_id, const struct tl_trained *t, struct tl_err *err)
{
    struct tl_buf b;
    tl_buf_init(&b, (size_t)16 << 30);
    enum tl_rc rc = tl_snap_put_u32(&b, SNAP_MAGIC);
    if (!rc) rc = tl_snap_put_u32(&b, SNAP_VERSION);
    if (!rc) rc = tl_snap_put_u32(&b, t->n_items);
    for (uint32_t i = 0; !rc && i < t->n_items; i++) {
        size_t l = t->ids[i] ? strlen(t->ids[i]) : 0;
        rc = tl_snap_put_u32(&b, (uint32_t)l);
        if (!rc && l) rc = tl_buf_append(&b, t->ids[i], l);
    }
    uint64_t hdr[] = {(uint64_t)t->trained_at_ms,
                      (uint64_t)(t->seconds * 1000.0),
                      t->users,
                      t->interactions,
                      t->sessions,
                      t->baskets};
    for (size_t i = 0; !rc && i < 6; i++) rc = tl_snap_put_u64(&b, hdr[i]);
    if (!rc) rc = tl_snap_put_u32(&b, (uint32_t)t->n);
    for (size_t i = 0; !rc && i < t->n; i++) {
        size_t l = strlen(t->m[i].name);
        rc = tl_snap_put_u32(&b, (uint32_t)l);
        if (!rc) rc = tl_buf_append(&b, t->m[i].name, l);
        if (!rc) rc = tl_snap_put_u64(&b, (uint64_t)(t->m[i].seconds * 1000.0));
        size_t at = b.len;
        if (!rc) rc = tl_snap_put_u64(&b, 0);
        if (!rc) rc = t->m[i].ops->save(t->m[i].model, &b, err);
        if (!rc) {
            uint64_t len = b.len - at - 8;
            for (int x = 0; x < 8; x++) b.data[at + (size_t)x] = (char)(uint8_t)(len >> (8 * x));
        }
    }
    if (rc) {
        tl_buf_free(&b);
        return tl_err_set(err, rc, NULL, "cannot serialise the models: %s", tl_rc_message(rc));
    }
    char path[600];
    snap_path(e, shop_id, path, sizeof path);
    rc = tl_engine_write_atomic(path, b.data, b.len, err);
    tl_buf_free(&b);
    return rc;
}

enum tl_rc tl_engine_write_atomic(const char *path, const void *data, size_t len, struct tl_err *err)
{
    char tmp[1100];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return tl_err_set(err, TL_EINVAL, NULL, "file name too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, data, len) || fsync(fd) != 0) {
        int en = errno;
        if (fd >= 0) close(fd);
        unlink(tmp);
        return tl_err_set(err, TL_EIO, NULL, "cannot write %s: %s", tmp, strerror(en));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int en = errno;
        unlink(tmp);
        return tl_err_set(err, TL_EIO, NULL, "cannot rename %s: %s", tmp, strerror(en));
    }
    return TL_OK;
}

enum tl_rc tl_engine_trained_load(struct tl_engine *e, uint32_t shop_id, struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, "shop", "shop %u does not exist", shop_id);
    char path[600];
    snap_path(e, shop_id, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? TL_ENOTFOUND : tl_err_set(err, TL_EIO, NULL, "cannot open %s", path);
    struct stat sb;
    char *data = NULL;
    size_t len = 0;
    if (fstat(fileno(f), &sb) == 0 && sb.st_size > 0 && (uint64_t)sb.st_size < MODEL_SNAP_MAX) {
        len = (size_t)sb.st_size;
        data = tl_malloc(len);
        if (data && fread(data, 1, len, f) != len) {
            tl_free(data);
            data = NULL;
        }
    }
    fclose(f);
    if (!data) return tl_err_set(err, TL_EIO, NULL, "cannot read %s", path);
    struct tl_snap_reader r = {(const uint8_t *)data, len, 0, 0};
    enum tl_rc rc = TL_OK;
    struct tl_trained *t = tl_calloc(1, sizeof *t);
    if (!t) {
        tl_free(data);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    atomic_init(&t->refs, 1);
    if (tl_snap_get_u32(&r) != SNAP_MAGIC || tl_snap_get_u32(&r) != SNAP_VERSION)
        rc = tl_err_set(err, TL_EPARSE, NULL, "%s is not a Tailor model snapshot (version %d)", path, SNAP_VERSION);
    if (!rc) {
        t->n_items = tl_snap_get_u32(&r);
        if (r.bad || t->n_items > TL_CATALOG_MAX_ITEMS || !(t->ids = tl_calloc((size_t)t->n_items + 1, sizeof(char *))))
            rc = tl_err_set(err, TL_EPARSE, NULL, "%s: bad item count", path);
    }
    for (uint32_t i = 0; !rc && i < t->n_items; i++) {
        uint32_t l = tl_snap_get_u32(&r);
        if (r.bad || l > len - r.off) {
            rc = tl_err_set(err, TL_EPARSE, NULL, "%s: truncated item ids", path);
            break;
        }
        if (l && !(t->ids[i] = tl_strndup((const char *)r.p + r.off, l)))
            rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        r.off += l;
    }
    if (!rc) {
        t->trained_at_ms = (int64_t)tl_snap_get_u64(&r);
        t->seconds = (double)tl_snap_get_u64(&r) / 1000.0;
        t->users = tl_snap_get_u64(&r);
        t->interactions = tl_snap_get_u64(&r);
        t->sessions = tl_snap_get_u64(&r);
        t->baskets = tl_snap_get_u64(&r);
        uint32_t n = tl_snap_get_u32(&r);
        if (r.bad || n > TL_TRAINED_MODELS_MAX) rc = tl_err_set(err, TL_EPARSE, NULL, "%s: truncated header", path);
        for (uint32_t i = 0; !rc && i < n; i++) {
            uint32_t l = tl_snap_get_u32(&r);
            struct tl_trained_entry *en = &t->m[t->n];
            if (r.bad || l == 0 || l >= sizeof en->name || l > len - r.off) {
                rc = tl_err_set(err, TL_EPARSE, NULL, "%s: truncated model name", path);
                break;
            }
            memcpy(en->name, r.p + r.off, l);
            en->name[l] = '\0';
            r.off += l;
            en->seconds = (double)tl_snap_get_u64(&r) / 1000.0;
            uint64_t ml = tl_snap_get_u64(&r);
            if (r.bad || ml > len - r.off) {
                rc = tl_err_set(err, TL_EPARSE, NULL, "%s: model %s truncated", path, en->name);
                break;
            }
            en->ops = tl_model_find(en->name);
            if (!en->ops) { /* a model this build does not have: skip it */
                tl_warn("%s: model %s is not available in this build; ignored", path, en->name);
                r.off += (size_t)ml;
                continue;
            }
            rc = en->ops->load(r.p + r.off, (size_t)ml, &en->model, err);
            if (rc) break;
            r.off += (size_t)ml;
            t->n++;
        }
    }
    tl_free(data);
    if (!rc && map_items(t, s->cat)) rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    if (rc) {
        trained_free(t);
        return rc;
    }
    publish(s, t);
    return TL_OK;
}

/* ---- the trainer thread --------------------------------------------------- */

static void *trainer_main(void *arg)
{
    struct tl_engine *e = arg;
    int64_t next_scheduled = tl_now_ms() + (int64_t)e->cfg.train_interval_s * 1000;
    pthread_mutex_lock(&e->train_mu);
    while (!e->train_stop) {
        if (!e->train_pending) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&e->train_cv, &e->train_mu, &ts);
        }
        if (e->train_stop) break;
        int scheduled = e->cfg.train_interval_s > 0 && tl_now_ms() >= next_scheduled;
        if (!e->train_pending && !scheduled) continue;
        e->train_pending = 0;
        if (scheduled) next_scheduled = tl_now_ms() + (int64_t)e->cfg.train_interval_s * 1000;
        pthread_mutex_unlock(&e->train_mu);
        for (uint32_t id = 1;; id++) {
            pthread_rwlock_rdlock(&e->shops_lock);
            uint32_t cap = e->shops_cap;
            struct tl_shop_state *s = id < cap ? e->shops[id] : NULL;
            pthread_rwlock_unlock(&e->shops_lock);
            if (id >= cap || e->train_cancel) break;
            if (!s) continue;
            pthread_mutex_lock(&s->trained_mu);
            /* on schedule only when something happened since the last run */
            int go = s->train.state == TL_TRAIN_QUEUED ||
                     (scheduled && (s->train.trained_seq != atomic_load(&e->last_seq) || !s->trained));
            if (go) s->train.state = TL_TRAIN_RUNNING;
            pthread_mutex_unlock(&s->trained_mu);
            if (!go) continue;
            struct tl_err err;
            tl_err_clear(&err);
            uint64_t t0 = tl_mono_ns();
            enum tl_rc rc = tl_engine_train_shop(e, id, NULL, NULL, &err);
            pthread_mutex_lock(&s->trained_mu);
            s->train.state = s->train.state == TL_TRAIN_REQUEUED ? TL_TRAIN_QUEUED : TL_TRAIN_IDLE;
            s->train.runs++;
            s->train.last_seconds = (double)(tl_mono_ns() - t0) / 1e9;
            s->train.last_end_ms = tl_now_ms();
            snprintf(s->train.last_error, sizeof s->train.last_error, "%s",
                     rc ? (err.msg[0] ? err.msg : tl_rc_message(rc)) : "");
            if (s->train.state == TL_TRAIN_QUEUED) {
                pthread_mutex_lock(&e->train_mu);
                e->train_pending = 1;
                pthread_mutex_unlock(&e->train_mu);
            }
            pthread_mutex_unlock(&s->trained_mu);
            if (rc) tl_warn("shop %u: training failed: %s", id, s->train.last_error);
        }
        pthread_mutex_lock(&e->train_mu);
    }
    pthread_mutex_unlock(&e->train_mu);
    return NULL;
}

enum tl_rc tl_engine_trainer_start(struct tl_engine *e)
{
    pthread_mutex_init(&e->train_mu, NULL);
    pthread_cond_init(&e->train_cv, NULL);
    e->train_inited = 1;
    if (pthread_create(&e->train_thread, NULL, trainer_main, e) != 0) return TL_EINTERNAL;
    e->train_running = 1;
    return TL_OK;
}

void tl_engine_trainer_stop(struct tl_engine *e)
{
    if (!e->train_inited) return;
    e->train_cancel = 1;
    if (e->train_running) {
        pthread_mutex_lock(&e->train_mu);
        e->train_stop = 1;
        pthread_cond_broadcast(&e->train_cv);
        pthread_mutex_unlock(&e->train_mu);
        pthread_join(e->train_thread, NULL);
        e->train_running = 0;
    }
    pthread_mutex_destroy(&e->train_mu);
    pthread_cond_destroy(&e->train_cv);
    e->train_inited = 0;
}

enum tl_rc tl_engine_train_request(struct tl_engine *e, uint32_t shop_id, struct tl_buf *out, struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, "shop", "shop %u does not exist", shop_id);
    if (!e->train_running) return tl_err_set(err, TL_EBUSY, NULL, "the trainer is not running");
    pthread_mutex_lock(&s->trained_mu);
    if (s->train.state == TL_TRAIN_RUNNING)
        s->train.state = TL_TRAIN_REQUEUED; /* once more after this run: it may have missed new data */
    else if (s->train.state == TL_TRAIN_IDLE)
        s->train.state = TL_TRAIN_QUEUED;
    pthread_mutex_unlock(&s->trained_mu);
    pthread_mutex_lock(&e->train_mu);
    e->train_pending = 1;
    pthread_cond_broadcast(&e->train_cv);
    pthread_mutex_unlock(&e->train_mu);
    return tl_engine_train_status(e, shop_id, out, err);
}

static const char *state_name(int st)
{
    switch (st) {
    case TL_TRAIN_QUEUED:
        return "queued";
    case TL_TRAIN_RUNNING:
    case TL_TRAIN_REQUEUED:
        return "training";
    default:
        return "idle";
    }
}

enum tl_rc tl_engine_train_status(struct tl_engine *e, uint32_t shop_id, struct tl_buf *out, struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, "shop", "shop %u does not exist", shop_id);
    pthread_mutex_lock(&s->trained_mu);
    struct tl_train_status st = s->train;
    pthread_mutex_unlock(&s->trained_mu);
    struct tl_trained *t = tl_engine_trained(s);
    tl_buf_printf(out, "{\"shop_id\":%u,\"state\":\"%s\"", shop_id, state_name(st.state));
    if (st.state != TL_TRAIN_IDLE) {
        tl_buf_printf(out, ",\"progress\":%.3f,\"phase\":", st.progress);
        tl_buf_json_str(out, st.phase);
    }
    tl_buf_printf(out, ",\"runs_since_start\":%llu,\"schedule_interval_s\":%d", (unsigned long long)st.runs,
                  e->cfg.train_interval_s);
    if (st.last_error[0]) {
        tl_buf_puts(out, ",\"last_error\":");
        tl_buf_json_str(out, st.last_error);
    }
    if (st.last_warning[0]) {
        tl_buf_puts(out, ",\"last_warning\":");
        tl_buf_json_str(out, st.last_warning);
    }
    if (t) {
        char when[40];
        tl_time_format(t->trained_at_ms, when, sizeof when);
        tl_buf_printf(out,
                      ",\"snapshot\":{\"trained_at\":\"%s\",\"seconds\":%.3f,\"items\":%u,\"shoppers\":%llu,"
                      "\"interactions\":%llu,\"sessions\":%llu,\"orders\":%llu,\"models\":[",
                      when, t->seconds, t->n_items, (unsigned long long)t->users, (unsigned long long)t->interactions,
                      (unsigned long long)t->sessions, (unsigned long long)t->baskets);
        for (size_t i = 0; i < t->n; i++) {
            size_t mem = t->m[i].ops->memory(t->m[i].model);
            tl_buf_printf(out, "%s{\"name\":\"%s\",\"seconds\":%.3f,\"bytes\":%zu,\"bytes_per_item\":%.1f}",
                          i ? "," : "", t->m[i].name, t->m[i].seconds, mem,
                          t->n_items ? (double)mem / t->n_items : 0.0);
        }
        tl_buf_puts(out, "]");
        /* offline metrics: the blend's validation split (model/blend.h) */
        struct tl_blend_validation v;
        void *bm = tl_trained_find(t, "blend", NULL);
        if (bm && tl_blend_validation(bm, &v)) {
            tl_buf_printf(out,
                          ",\"validation\":{\"protocol\":\"each shopper's latest interactions held out, models "
                          "trained on the rest, top 10 ranked over all items with the history masked\","
                          "\"cases\":%u,\"hr10\":%.4f,\"ndcg10\":%.4f,\"sources\":[",
                          v.cases, v.hr10, v.ndcg10);
            for (size_t i = 0; i < v.n; i++)
                tl_buf_printf(out, "%s{\"name\":\"%s\",\"weight\":%g,\"hr10\":%.4f,\"ndcg10\":%.4f}", i ? "," : "",
                              v.src[i].name, (double)v.src[i].weight, (double)v.src[i].hr10, (double)v.src[i].ndcg10);
            tl_buf_puts(out, "]}");
        } else {
            tl_buf_puts(out, ",\"validation\":null");
        }
        tl_buf_putc(out, '}');
        tl_trained_release(t);
    } else {
        tl_buf_puts(out, ",\"snapshot\":null");
    }
    tl_buf_putc(out, '}');
    return out->data ? TL_OK : TL_ENOMEM;
}

enum tl_rc tl_engine_train_now(struct tl_engine *e, uint32_t shop_id,
                               void (*progress)(void *ctx, double frac, const char *phase), void *ctx,
                               struct tl_err *err)
{
    enum tl_rc rc = tl_engine_train_shop(e, shop_id, progress, ctx, err);
    struct tl_shop_state *s = rc == TL_OK ? tl_engine_shop(e, shop_id) : NULL;
    if (s) {
        pthread_mutex_lock(&s->trained_mu);
        if (s->train.state == TL_TRAIN_QUEUED) s->train.state = TL_TRAIN_IDLE; /* this run was the one queued */
        s->train.runs++;
        pthread_mutex_unlock(&s->trained_mu);
    }
    return rc;
}
