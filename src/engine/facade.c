/* The public C API (include/tailor/tailor.h) over the engine: open/close,
 * shops, API keys and file imports. tailor_serve lives in src/http/serve.c.
 *
 * Imports run as ONE writer job, i.e. one transaction: a bad record (without
 * skip_bad) rolls back the whole file, so nothing of a bad file is stored.
 * In-memory effects (catalog, profiles, popularity) are applied while the
 * job runs; if the job fails the handle is marked `discard` so closing it
 * does not checkpoint profiles that the store never received. Imports are
 * meant for the CLI (a process of its own): a running server picks the
 * imported data up when it restarts.
 *
 * API keys: "tl_pk_" (public) or "tl_sk_" (secret) + 32 random bytes in hex.
 * Only the BLAKE2b-256 digest is stored; the key is shown once. */
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/facade.h"
#include "engine/import_events.h"
#include "engine/internal.h"
#include "ingest/csv.h"
#include "ingest/event.h"
#include "ingest/formats.h"

static void to_public(struct tailor_error *out, const struct tl_err *in, enum tl_rc rc)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    out->rc = rc;
    snprintf(out->field, sizeof out->field, "%s", in->field);
    snprintf(out->msg, sizeof out->msg, "%s", in->msg[0] ? in->msg : tl_rc_message(rc));
    out->line = in->line;
    out->column = in->column;
}

struct tl_engine *tl_facade_engine(struct tailor *t) { return t->engine; }

enum tl_rc tailor_open(const struct tailor_options *opt, struct tailor **out, struct tailor_error *err)
{
    struct tl_err e;
    tl_err_clear(&e);
    struct tailor *t = tl_calloc(1, sizeof *t);
    if (!t) {
        tl_err_set(&e, TL_ENOMEM, NULL, "out of memory");
        to_public(err, &e, TL_ENOMEM);
        return TL_ENOMEM;
    }
    /* jansson allocates through the project's wrappers too (counted, and
     * failable in tests). Process-wide; set before the first JSON use. */
    json_set_alloc_funcs(tl_malloc, tl_free);
    tl_config_defaults(&t->cfg);
    enum tl_rc rc = TL_OK;
    if (opt && opt->config_path) rc = tl_config_load(&t->cfg, opt->config_path, &e);
    if (rc == TL_OK && opt && opt->db_path) snprintf(t->cfg.db_path, sizeof t->cfg.db_path, "%s", opt->db_path);
    if (rc == TL_OK && opt && opt->port) t->cfg.port = opt->port;
    if (rc == TL_OK && opt && opt->demo_key) {
        if (strlen(opt->demo_key) >= sizeof t->cfg.demo_key)
            rc = tl_err_set(&e, TL_EINVAL, "demo_key", "demo key is too long to be a Tailor key");
        else
            snprintf(t->cfg.demo_key, sizeof t->cfg.demo_key, "%s", opt->demo_key);
    }
    if (opt) t->cfg.admin_only = opt->admin_only;
    if (rc == TL_OK) rc = tl_engine_open(&t->cfg, &t->engine, &e);
    if (rc == TL_OK && t->cfg.demo_key[0] && !t->cfg.admin_only) {
        /* The demo storefront publishes this key in a page: only a public
         * key of this server may go there. */
        uint32_t shop;
        enum tl_scope scope;
        if (tl_engine_auth(t->engine, t->cfg.demo_key, &shop, &scope) != TL_OK || scope != TL_SCOPE_PUBLIC) {
            rc = tl_err_set(&e, TL_EINVAL, "demo_key", "demo key must be a public key of this database");
            tl_engine_close(t->engine);
        }
    }
    if (rc) {
        to_public(err, &e, rc);
        tl_free(t);
        return rc;
    }
    *out = t;
    return TL_OK;
}

void tailor_close(struct tailor *t)
{
    if (!t) return;
    if (t->discard) tl_engine_discard(t->engine);
    tl_engine_close(t->engine);
    tl_free(t);
}

void tailor_close_for_exit(struct tailor *t)
{
#if defined(__SANITIZE_ADDRESS__)
    tailor_close(t); /* sanitizer builds free everything, so leak checks keep their meaning */
#else
    if (!t) return;
    if (t->discard) tl_engine_discard(t->engine);
    tl_engine_close_for_exit(t->engine); /* t itself is left to the exit too */
#endif
}

void tailor_free(void *p) { tl_free(p); }

/* ---- shops and keys ---- */

struct name_job {
    const char *name;
    uint32_t id;
};

static enum tl_rc write_shop(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    struct name_job *j = arg;
    return ops->shop_create(st, j->name, &j->id);
}

static int valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return 0;
    }
    return 1;
}

enum tl_rc tailor_shop_create(struct tailor *t, const char *name, uint32_t *id, struct tailor_error *err)
{
    struct tl_err e;
    tl_err_clear(&e);
    if (!valid_name(name)) {
        tl_err_set(&e, TL_EINVAL, "name", "shop name must be 1 to 64 letters, digits, '-', '_' or '.'");
        to_public(err, &e, TL_EINVAL);
        return TL_EINVAL;
    }
    struct name_job j = {name, 0};
    enum tl_rc rc = tl_writer_submit(t->engine->writer, write_shop, &j, 1);
    if (rc == TL_EEXIST)
        tl_err_set(&e, rc, "name", "a shop named \"%s\" already exists", name);
    else if (rc)
        tl_err_set(&e, rc, NULL, "shop could not be created: %s", tl_rc_message(rc));
    if (rc) {
        to_public(err, &e, rc);
        return rc;
    }
    *id = j.id;
    tl_engine_shop(t->engine, j.id);
    return TL_OK;
}

enum tl_rc tailor_shop_find(struct tailor *t, const char *name, uint32_t *id, struct tailor_error *err)
{
    if (!name || !*name) {
        *id = TL_DEFAULT_SHOP;
        return TL_OK;
    }
    struct tl_engine *e = t->engine;
    pthread_mutex_lock(&e->rst_mu);
    enum tl_rc rc = e->ops->shop_find(e->rst, name, id);
    pthread_mutex_unlock(&e->rst_mu);
    if (rc) {
        struct tl_err te;
        tl_err_clear(&te);
        if (rc == TL_ENOTFOUND)
            tl_err_set(&te, rc, "shop", "no shop named \"%s\" (create it with: tailor shops create %s)", name, name);
        else
            tl_err_set(&te, rc, NULL, "looking up shop: %s", tl_rc_message(rc));
        to_public(err, &te, rc);
    }
    return rc;
}

struct key_job {
    uint32_t shop_id;
    enum tl_scope scope;
    uint8_t hash[32];
    char prefix[16];
};

static enum tl_rc write_key(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    struct key_job *j = arg;
    return ops->key_add(st, j->shop_id, j->scope, j->hash, j->prefix);
}

enum tl_rc tailor_key_create(struct tailor *t, uint32_t shop_id, const char *scope, char **key,
                             struct tailor_error *err)
{
    struct tl_err e;
    tl_err_clear(&e);
    struct key_job j = {.shop_id = shop_id};
    if (scope && strcmp(scope, "public") == 0)
        j.scope = TL_SCOPE_PUBLIC;
    else if (scope && strcmp(scope, "secret") == 0)
        j.scope = TL_SCOPE_SECRET;
    else {
        tl_err_set(&e, TL_EINVAL, "scope", "scope must be public or secret");
        to_public(err, &e, TL_EINVAL);
        return TL_EINVAL;
    }
    if (!tl_engine_shop(t->engine, shop_id)) {
        tl_err_set(&e, TL_ENOTFOUND, "shop", "shop %u does not exist", shop_id);
        to_public(err, &e, TL_ENOTFOUND);
        return TL_ENOTFOUND;
    }
    unsigned char rnd[32];
    randombytes_buf(rnd, sizeof rnd);
    char hex[65], *k = tl_malloc(80);
    if (!k) return TL_ENOMEM;
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    snprintf(k, 80, "%s%s", j.scope == TL_SCOPE_PUBLIC ? "tl_pk_" : "tl_sk_", hex);
    crypto_generichash(j.hash, 32, (const unsigned char *)k, strlen(k), NULL, 0);
    snprintf(j.prefix, sizeof j.prefix, "%.12s", k);
    enum tl_rc rc = tl_writer_submit(t->engine->writer, write_key, &j, 1);
    sodium_memzero(rnd, sizeof rnd);
    if (rc) {
        tl_free(k);
        tl_err_set(&e, rc, NULL, "key could not be stored: %s", tl_rc_message(rc));
        to_public(err, &e, rc);
        return rc;
    }
    *key = k;
    return TL_OK;
}

/* ---- imports ---- */

struct import_ctx {
    struct tl_engine *e;
    struct tl_shop_state *shop;
    const char *kind, *format, *path;
    int skip_bad;
    tailor_progress_fn progress;
    void *progress_ctx;
    const struct tl_store_ops *ops;
    struct tl_store *st;
    struct tl_fmt_summary fsum;
    uint64_t records, duplicates, lines;
    struct tl_strtab seen_customers;
    struct tl_err err;
    enum tl_rc rc;
    int64_t last_seq;
    uint64_t token;            /* dedupe claims of this import */
    int64_t shift_ms;          /* tailor_import_set_time_shift */
    struct tl_ckpt_early ckpt; /* profiles serialized while the import commits */
};

void tailor_import_set_time_shift(struct tailor *t, int64_t ms) { t->import_shift_ms = ms; }

static void fmt_progress(void *ctx, uint64_t done, uint64_t total, uint64_t records)
{
    struct import_ctx *c = ctx;
    if (!c->progress) return;
    struct tailor_import_progress p = {done, total, records};
    c->progress(c->progress_ctx, &p);
}

static int on_item(void *ctx, const struct tl_item *it, long line)
{
    struct import_ctx *c = ctx;
    enum tl_rc rc = c->ops->item_upsert(c->st, c->shop->id, it);
    uint32_t idx = TL_CAT_NONE;
    if (rc == TL_OK) rc = tl_catalog_upsert(c->shop->cat, it, &idx);
    if (rc == TL_OK) tl_engine_search_item(c->shop, idx, it);
    if (rc) {
        tl_err_set(&c->err, rc, NULL, "storing item %s (line %ld): %s", it->id, line, tl_rc_message(rc));
        return (int)rc;
    }
    c->records++;
    return 0;
}

static int on_order(void *ctx, const struct tl_order *o0, long line)
{
    struct import_ctx *c = ctx;
    struct tl_order shifted = *o0;
    shifted.ts_ms += c->shift_ms;
    const struct tl_order *o = &shifted;
    if (c->shift_ms && shifted.ts_ms > tl_now_ms() + 24 * 3600 * 1000LL) {
        tl_err_set(&c->err, TL_EINVAL, "time", "order %s (line %ld) would be in the future after the time shift", o->id,
                   line);
        return (int)TL_EINVAL;
    }
    char key[TL_ID_MAX + 16];
    snprintf(key, sizeof key, "order:%s", o->id);
    uint64_t h = tl_event_id_hash(c->shop->id, key);
    if (tl_engine_dedupe_claim(c->e, h, c->token)) {
        c->duplicates++; /* already imported: idempotent re-import */
        return 0;
    }
    enum tl_rc rc = c->ops->order_upsert(c->st, c->shop->id, o);
    if (rc == TL_OK && o->customer_id) {
        uint32_t before = c->seen_customers.count, id;
        rc = tl_strtab_intern(&c->seen_customers, o->customer_id, &id);
        if (rc == TL_OK && c->seen_customers.count != before) {
            /* The order's customer becomes a customer of the shop, with the
             * order's country (upsert keeps fields it does not set). */
            int64_t now = tl_now_ms();
            struct tl_customer cu = {.id = o->customer_id,
                                     .country = o->country,
                                     .consent_email = -1,
                                     .consent_personalization = -1,
                                     .created_ms = now,
                                     .updated_ms = now};
            rc = c->ops->customer_upsert(c->st, c->shop->id, &cu);
        }
    }
    if (rc) {
        tl_err_set(&c->err, rc, NULL, "storing order %s (line %ld): %s", o->id, line, tl_rc_message(rc));
        return (int)rc;
    }
    tl_engine_apply_order(c->e, c->shop->id, o, 1);
    c->records++;
    return 0;
}

static int on_customer(void *ctx, const struct tl_customer *cu, long line)
{
    struct import_ctx *c = ctx;
    enum tl_rc rc = c->ops->customer_upsert(c->st, c->shop->id, cu);
    if (rc) {
        tl_err_set(&c->err, rc, NULL, "storing customer %s (line %ld): %s", cu->id, line, tl_rc_message(rc));
        return (int)rc;
    }
    if (cu->country && *cu->country) {
        char key[TL_USER_KEY_MAX];
        snprintf(key, sizeof key, "u:%s", cu->id);
        struct tl_profile *p;
        struct tl_pcache_guard g;
        if (tl_pcache_lock(c->e->profiles, c->shop->id, key, 1, &p, &g) == TL_OK) {
            tl_profile_set_country(p, cu->country, cu->updated_ms);
            tl_pcache_mark_dirty(&g);
            tl_pcache_unlock(&g);
        }
    }
    c->records++;
    return 0;
}

/* NDJSON events: see engine/import_events.c. */
static enum tl_rc import_events(struct import_ctx *c)
{
    struct tl_import_events j = {.token = c->token,
                                 .engine = c->e,
                                 .ops = c->ops,
                                 .st = c->st,
                                 .shop_id = c->shop->id,
                                 .path = c->path,
                                 .skip_bad = c->skip_bad,
                                 .progress = fmt_progress,
                                 .progress_ctx = c};
    enum tl_rc rc = tl_import_events_run(&j, &c->err);
    c->lines = j.lines;
    c->records = j.records;
    c->duplicates = j.duplicates;
    c->fsum.skipped = j.skipped;
    c->last_seq = j.last_seq;
    snprintf(c->fsum.skipped_detail, sizeof c->fsum.skipped_detail, "%s", j.skipped_detail);
    return rc;
}

static enum tl_rc import_job(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    struct import_ctx *c = arg;
    c->ops = ops;
    c->st = st;
    /* The commit leaves copying the write-ahead log into the database to
     * tailor_import's checkpoint, which does it beside writing the profiles
     * (tl_engine_checkpoint_end). */
    if (ops->defer_log_copy) ops->defer_log_copy(st);
    tl_engine_apply_profile_only(c->e, 1); /* this thread; reset below */
    tl_engine_profile_load_via(c->e, st);
    struct tl_fmt_opts fo = {.skip_bad = c->skip_bad, .progress = fmt_progress, .progress_ctx = c};
    enum tl_rc rc;
    if (strcmp(c->kind, "catalog") == 0)
        rc = tl_fmt_import_catalog(c->path, c->format, &fo, on_item, c, &c->fsum, &c->err);
    else if (strcmp(c->kind, "orders") == 0)
        rc = tl_fmt_import_orders(c->path, c->format, &fo, on_order, c, &c->fsum, &c->err);
    else if (strcmp(c->kind, "customers") == 0)
        rc = tl_fmt_import_customers(c->path, c->format, &fo, on_customer, c, &c->fsum, &c->err);
    else
        rc = import_events(c);
    tl_engine_apply_profile_only(c->e, 0);
    tl_engine_profile_load_via(c->e, NULL);
    c->rc = rc;
    /* Every event of the file is applied: its profiles are serialized for
     * the checkpoint while the writer commits (tailor_import holds the
     * locks this needs). */
    if (rc == TL_OK && !c->e->discard) tl_engine_checkpoint_begin(c->e, &c->ckpt);
    return rc;
}

enum tl_rc tailor_import(struct tailor *t, uint32_t shop_id, const char *kind, const char *format, const char *path,
                         int skip_bad, tailor_progress_fn progress, void *progress_ctx,
                         struct tailor_import_summary *summary, struct tailor_error *err)
{
    struct import_ctx *c = tl_calloc(1, sizeof *c);
    if (!c) return TL_ENOMEM;
    tl_strtab_init(&c->seen_customers);
    enum tl_rc rc = TL_OK;
    uint64_t t0 = tl_mono_ns();
    if (!kind ||
        (strcmp(kind, "catalog") && strcmp(kind, "orders") && strcmp(kind, "customers") && strcmp(kind, "events"))) {
        rc = tl_err_set(&c->err, TL_EINVAL, "kind", "unknown import kind \"%s\": catalog, orders, customers or events",
                        kind ? kind : "");
    } else if (strcmp(kind, "events") == 0 ? (format && strcmp(format, "ndjson") != 0)
                                           : !tl_fmt_supported(kind, format)) {
        rc = tl_err_set(&c->err, TL_EINVAL, "format", "format \"%s\" is not supported for %s imports", format, kind);
    } else if (!(c->shop = tl_engine_shop(t->engine, shop_id))) {
        rc = tl_err_set(&c->err, TL_ENOTFOUND, "shop", "shop %u does not exist", shop_id);
    } else {
        rc = tl_engine_claim(t->engine, "import", &c->err);
    }
    if (rc == TL_OK) {
        c->e = t->engine;
        c->kind = kind;
        c->format = format;
        c->path = path;
        c->skip_bad = skip_bad;
        c->shift_ms = strcmp(kind, "orders") == 0 ? t->import_shift_ms : 0;
        c->progress = progress;
        c->progress_ctx = progress_ctx;
        c->token = tl_engine_dedupe_token(t->engine);
        /* ckpt_mu, then apply_lock exclusively (the checkpoint's order): no
         * other thread applies events or checkpoints during the import, so
         * the profiles serialized at the end of the job (import_job) are
         * the state of the last committed event. */
        struct tl_engine *e = t->engine;
        /* More profiles in memory while importing (import_profiles_max):
         * beyond the cap each shopper who comes back is serialized on
         * eviction and parsed back, most of an import of many one-visit
         * shoppers; the evicted blobs stay in memory until the import's
         * checkpoint anyway. The server's cap again afterwards. Set outside
         * rst_mu (below): a profile loaded through rst holds its shard while
         * it takes rst_mu, so no shard lock is taken inside rst_mu. */
        size_t cap0 = tl_pcache_cap(e->profiles);
        size_t cap = e->cfg.import_profiles_max > cap0 ? e->cfg.import_profiles_max : cap0;
        tl_pcache_set_cap(e->profiles, cap);
        pthread_mutex_lock(&e->ckpt_mu);
        pthread_rwlock_wrlock(&e->apply_lock);
        /* The import holds the claim: the store is its alone (engine.h
         * tl_engine_claim), so it writes without a log where it can. rst_mu,
         * which solo holds to the end, is taken last, as everywhere: ckpt_mu,
         * apply_lock, a shard of the profile cache, then rst_mu. */
        int solo = tl_engine_solo_begin(e);
        rc = tl_writer_submit(e->writer, import_job, c, 0);
        if (rc == TL_OK && c->last_seq > atomic_load(&e->last_seq)) atomic_store(&e->last_seq, c->last_seq);
        if (rc)
            tl_engine_discard(e); /* before any checkpoint can run */
        else
            tl_engine_dedupe_commit_token(e, c->token);
        int64_t seq = atomic_load(&e->last_seq);
        pthread_rwlock_unlock(&e->apply_lock);
        tl_engine_checkpoint_end(e, &c->ckpt, seq, rc); /* written only if the import committed */
        if (solo) tl_engine_solo_end(e);
        pthread_mutex_unlock(&e->ckpt_mu);
        tl_pcache_set_cap(e->profiles, cap0);
        if (rc && c->rc == TL_OK && !c->err.msg[0])
            tl_err_set(&c->err, rc, NULL, "import could not be committed: %s", tl_rc_message(rc));
        if (rc) t->discard = 1; /* in-memory effects of a rolled-back import */
    }
    if (summary) {
        memset(summary, 0, sizeof *summary);
        summary->records = c->records;
        summary->lines = c->lines ? c->lines : c->fsum.lines;
        summary->skipped = c->fsum.skipped;
        summary->duplicates = c->duplicates;
        summary->returns = c->fsum.returns;
        summary->seconds = (double)(tl_mono_ns() - t0) / 1e9;
        snprintf(summary->skipped_detail, sizeof summary->skipped_detail, "%s", c->fsum.skipped_detail);
    }
    if (rc) to_public(err, &c->err, rc);
    tl_strtab_free(&c->seen_customers);
    tl_free(c);
    return rc;
}

enum tl_rc tailor_train(struct tailor *t, uint32_t shop_id, tailor_train_progress_fn progress, void *progress_ctx,
                        char **status_json, struct tailor_error *err)
{
    struct tl_err e;
    tl_err_clear(&e);
    enum tl_rc rc = tl_engine_train_now(t->engine, shop_id, progress, progress_ctx, &e);
    if (rc == TL_OK && status_json) {
        struct tl_buf b;
        tl_buf_init(&b, 0);
        rc = tl_engine_train_status(t->engine, shop_id, &b, &e);
        *status_json = rc == TL_OK ? tl_buf_steal(&b) : NULL;
        tl_buf_free(&b);
    }
    if (rc) to_public(err, &e, rc);
    return rc;
}
