/* Shoppers: identity stitching (POST /v1/identify, and events that carry
 * both ids) and the profile read (GET /v1/users/{id}/profile).
 *
 * Stitching: the link anonymous id -> customer id is stored (identities
 * table) and kept in memory; the anonymous profile is removed from the cache
 * (and its snapshot deleted) and merged into the customer's profile. From
 * then on every event under either id reaches the customer's profile,
 * because tl_engine_user_key resolves linked anonymous ids. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/internal.h"

int tl_engine_ident_put(struct tl_engine *e, uint32_t shop_id, const char *anon, const char *user);

struct link_job {
    uint32_t shop_id;
    char *anon, *user;
    int64_t ts;
};

/* The stored half: the link, and no snapshot of the anonymous profile. */
static enum tl_rc store_link(const struct tl_store_ops *ops, struct tl_store *st, uint32_t shop_id, const char *anon,
                             const char *user, int64_t ts)
{
    char akey[TL_USER_KEY_MAX];
    snprintf(akey, sizeof akey, "a:%s", anon);
    enum tl_rc rc = ops->identity_link(st, shop_id, anon, user, ts);
    if (rc == TL_OK) rc = ops->profile_delete(st, shop_id, akey);
    return rc;
}

static enum tl_rc write_link(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    struct link_job *j = arg;
    return store_link(ops, st, j->shop_id, j->anon, j->user, j->ts);
}

static void free_link(void *arg)
{
    struct link_job *j = arg;
    tl_free(j->anon);
    tl_free(j->user);
    tl_free(j);
}

/* The in-memory half of a link: record it, move the shopper's KPI visitor
 * and pending attributions, and merge the anonymous profile (loading it if
 * it was evicted) into the customer's. 0 if the two were linked already. */
static int link_in_memory(struct tl_engine *e, uint32_t shop_id, const char *anonymous_id, const char *user_id,
                          int64_t ts, int *merged)
{
    if (!tl_engine_ident_put(e, shop_id, anonymous_id, user_id)) return 0; /* already linked */
    char akey[TL_USER_KEY_MAX], ukey[TL_USER_KEY_MAX];
    snprintf(akey, sizeof akey, "a:%s", anonymous_id);
    snprintf(ukey, sizeof ukey, "u:%s", user_id);
    /* KPI visitors and pending attributions follow the shopper (a replay
     * after a restart sees the link from the start) */
    tl_engine_analytics_link(e, shop_id, anonymous_id, user_id, ts);

    /* Take the anonymous profile out (loading it if it was evicted), then
     * merge it into the customer's. Two separate shard locks, never nested. */
    struct tl_profile *anon = NULL, *tmp;
    struct tl_pcache_guard ga;
    if (tl_pcache_lock(e->profiles, shop_id, akey, 0, &tmp, &ga) == TL_OK) { /* loads an evicted one */
        tl_pcache_unlock(&ga);
        if (tl_pcache_remove(e->profiles, shop_id, akey, &anon) != TL_OK) anon = NULL;
    }
    /* No anonymous history yet (a login on the first page): merge an empty
     * profile of that id, so the customer's profile lists the anonymous id
     * from now on (its later events resolve to the customer). */
    int had_history = anon != NULL;
    if (!anon) anon = tl_profile_new(akey);
    if (anon) {
        struct tl_profile *p;
        struct tl_pcache_guard g;
        if (tl_pcache_lock(e->profiles, shop_id, ukey, 1, &p, &g) == TL_OK) {
            if (tl_profile_merge(p, anon) == TL_OK && merged && had_history) *merged = 1;
            tl_pcache_mark_dirty(&g);
            tl_pcache_unlock(&g);
        }
        tl_profile_free(anon);
    }
    return 1;
}

enum tl_rc tl_engine_link(struct tl_engine *e, uint32_t shop_id, const char *anonymous_id, const char *user_id,
                          int wait, int *merged)
{
    if (merged) *merged = 0;
    int64_t ts = tl_now_ms();
    if (!link_in_memory(e, shop_id, anonymous_id, user_id, ts, merged)) return TL_OK;
    struct link_job *j = tl_calloc(1, sizeof *j);
    if (!j) return TL_ENOMEM;
    j->shop_id = shop_id;
    j->anon = tl_strdup(anonymous_id);
    j->user = tl_strdup(user_id);
    j->ts = ts;
    if (!j->anon || !j->user) {
        free_link(j);
        return TL_ENOMEM;
    }
    enum tl_rc rc;
    if (wait) {
        rc = tl_writer_submit(e->writer, write_link, j, 1);
        free_link(j);
    } else {
        rc = tl_writer_submit_async(e->writer, write_link, j, free_link, 1);
        if (rc) free_link(j);
    }
    return rc;
}

enum tl_rc tl_engine_link_in_tx(struct tl_engine *e, const struct tl_store_ops *ops, struct tl_store *st,
                                uint32_t shop_id, const char *anonymous_id, const char *user_id, int64_t ts,
                                int *linked)
{
    *linked = link_in_memory(e, shop_id, anonymous_id, user_id, ts, NULL);
    if (!*linked) return TL_OK;
    return store_link(ops, st, shop_id, anonymous_id, user_id, ts);
}

static enum tl_rc id_field(json_t *obj, const char *name, const char **out, struct tl_err *err)
{
    json_t *v = json_object_get(obj, name);
    if (!v) return tl_err_set(err, TL_EINVAL, name, "%s is required", name);
    if (!json_is_string(v)) return tl_err_set(err, TL_EINVAL, name, "%s must be a string", name);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > TL_ID_MAX) return tl_err_set(err, TL_EINVAL, name, "%s must be 1 to %d bytes", name, TL_ID_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return tl_err_set(err, TL_EINVAL, name, "%s must not contain control characters", name);
    *out = s;
    return TL_OK;
}

enum tl_rc tl_engine_identify(struct tl_engine *e, uint32_t shop_id, const char *body, size_t len, struct tl_buf *out,
                              struct tl_err *err)
{
    json_error_t je;
    json_t *obj = json_loadb(body, len, 0, &je);
    if (!obj)
        return tl_err_set(err, TL_EPARSE, NULL, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
    enum tl_rc rc;
    const char *anon = NULL, *user = NULL;
    if (!json_is_object(obj)) {
        rc = tl_err_set(err, TL_EINVAL, NULL, "expected a JSON object {\"anonymous_id\",\"user_id\"}");
    } else if ((rc = id_field(obj, "anonymous_id", &anon, err)) == TL_OK &&
               (rc = id_field(obj, "user_id", &user, err)) == TL_OK) {
        int merged = 0;
        pthread_rwlock_rdlock(&e->apply_lock);
        rc = tl_engine_link(e, shop_id, anon, user, 1, &merged);
        pthread_rwlock_unlock(&e->apply_lock);
        if (rc)
            tl_err_set(err, rc, NULL, "identity could not be stored: %s", tl_rc_message(rc));
        else {
            tl_buf_puts(out, "{\"user_id\":");
            tl_buf_json_str(out, user);
            tl_buf_puts(out, ",\"anonymous_id\":");
            tl_buf_json_str(out, anon);
            tl_buf_printf(out, ",\"merged\":%s}", merged ? "true" : "false");
        }
    }
    json_decref(obj);
    return rc;
}

enum tl_rc tl_engine_profile(struct tl_engine *e, uint32_t shop_id, const char *user_id, struct tl_buf *out,
                             struct tl_err *err)
{
    if (!user_id || !*user_id || strlen(user_id) > TL_ID_MAX)
        return tl_err_set(err, TL_EINVAL, "user_id", "user id must be 1 to %d bytes", TL_ID_MAX);
    char key[TL_USER_KEY_MAX];
    snprintf(key, sizeof key, "u:%s", user_id);
    struct tl_profile *p;
    struct tl_pcache_guard g;
    enum tl_rc rc = tl_pcache_lock(e->profiles, shop_id, key, 0, &p, &g);
    if (rc == TL_ENOTFOUND) return tl_err_set(err, rc, "user_id", "no profile for user %s", user_id);
    if (rc) return tl_err_set(err, rc, NULL, "profile could not be loaded: %s", tl_rc_message(rc));
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    int64_t now = tl_now_ms(), clock = s ? tl_pop_clock(s->pop) : 0;
    /* Decay to the later of wall clock and the shop's data clock; for
     * imported history the two differ by years, and the wall clock is the
     * honest "now". */
    rc = tl_profile_to_json(p, now > clock ? now : clock, out);
    /* the segment goes inside the object: drop its closing brace, add it back */
    if (rc == TL_OK && s && s->segs && out->len && out->data[out->len - 1] == '}') {
        out->len--;
        rc = tl_engine_segment_json(s, p, now > clock ? now : clock, out);
        if (!rc) rc = tl_buf_append(out, "}", 1);
    }
    tl_pcache_unlock(&g);
    return rc;
}
