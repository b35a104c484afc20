/* A/B experiments in the engine: definitions (stored, validated), sticky
 * assignment, exposures, per-arm metrics from the events of exposed
 * shoppers, and the statistical report. Assignment hashing is in
 * src/exp/assign.c, the statistics in src/exp/stats.c; this file wires them
 * to the store, the profiles and the serving paths.
 *
 * Definition (JSON, PUT /v1/experiments/{id}; stored as sent after
 * validation, in the `experiments` table; docs/experiments.md):
 *   {"name": "...", "salt": "<id>", "layer": "", "layer_start": 0, "layer_end": 10000,
 *    "status": "draft"|"running"|"stopped", "start": ISO|ms, "stop": ISO|ms,
 *    "targeting": {"page_types": [...], "countries": [...], "audience": "all"|"new"|"returning"},
 *    "arms": [{"name": "control", "share": 0.5, "changes": {...}}, ...]}
 * changes (what an arm does to what the server answers):
 *   "personalization": false  for_you / session / cart are served as the
 *                             non-personalized fallback (bestsellers:
 *                             popular), search and browse without the
 *                             shopper's affinities;
 *   "for_you_blend": "src:w,..."   for_you blend of this arm;
 *   "similar_blend", "cart_blend"  the blends of similar and cart (same
 *                                  syntax; applied when the request names
 *                                  the shopper);
 *   "search_personalization": x    search personalization weight;
 *   "campaign": "id"               a decisioning campaign (passed through
 *                                  to the storefront in the assignment).
 * The first arm is the control the others are compared with.
 *
 * Units and stickiness: the unit is the shopper. The first time a shopper
 * is exposed, their arm is computed from the anonymous id when the request
 * has one (else the customer id) and remembered under both "a:<anon>" and
 * "u:<customer>" keys, so the shopper keeps the arm after logging in (and
 * on another device once logged in). Exposures are events
 * (experiment_exposure, sent by tailor.js when the treatment is shown, or
 * written by the server when it applies an arm's changes to an answer), so
 * the memory of assignments and every metric are rebuilt from the stored
 * events at start.
 *
 * Metrics per arm, over units exposed while the experiment ran and their
 * events from the exposure on: visitors (units), conversions (units with a
 * purchase), orders, revenue, revenue per visitor, AOV (revenue / orders),
 * recommendation CTR (clicks / impressions), add-to-cart rate (units with an
 * add to cart / units), bounce (units with at most one page view and no
 * other action), refunds (returned value). CUPED covariate: the unit's
 * purchase value before its exposure (from the profile's RFM at exposure).
 *
 * Bounds: TL_EXP_MAX experiments per engine, TL_EXP_UNITS_MAX units per
 * experiment (beyond: new units are not counted, and said in the report). */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/experiments.h"
#include "engine/internal.h"
#include "exp/assign.h"
#include "exp/stats.h"
#include "ingest/event.h"

#define TL_EXP_MAX 256
#define TL_EXP_UNITS_MAX 2000000u
#define TL_EXP_DEF_MAX 65536 /* bytes of a definition */
#define MSPRT_TAU_REL 0.1    /* mixture sd tau = 10% of the control's mean (rates: of its rate) */
#define ALPHA 0.05
#define DAY_MS 86400000LL

struct arm {
    char *name;
    double share;
    char *changes_json;               /* "{}" when none */
    int personalization;              /* 1 on (default), 0 off */
    char *for_you_blend;              /* NULL = config */
    char *similar_blend, *cart_blend; /* NULL = config */
    double search_personalization;    /* NAN = config */
};

struct unit {
    uint8_t arm;
    uint8_t atc; /* added to cart after exposure */
    uint16_t pageviews;
    uint32_t orders;
    uint32_t impressions, clicks;
    int64_t exposed_ms;
    int64_t first_order_ms; /* 0 none */
    double revenue, refunds, pre_revenue;
};

struct exp {
    uint32_t shop;
    char *id;
    char *definition; /* validated JSON as stored */
    char *name, *salt, *layer;
    char **page_types, **countries;
    size_t n_page_types, n_countries;
    struct arm arms[TL_ASSIGN_ARMS_MAX];
    struct tl_assign_arm_def arm_defs[TL_ASSIGN_ARMS_MAX];
    struct tl_assign_exp a; /* view over the fields above */
    unsigned touches;       /* TL_EXP_* answers some arm changes (exposure happens there only) */
    struct tl_u64map who;   /* hash(key) -> unit index + 1 */
    struct unit *units;
    uint32_t n_units, cap_units;
    uint64_t units_dropped;
};

struct tl_exps {
    pthread_rwlock_t lock;
    struct exp *v[TL_EXP_MAX];
    size_t n;
};

/* ---- definitions ---- */

static void exp_free(struct exp *x)
{
    if (!x) return;
    tl_free(x->id);
    tl_free(x->definition);
    tl_free(x->name);
    tl_free(x->salt);
    tl_free(x->layer);
    for (size_t i = 0; i < x->n_page_types; i++) tl_free(x->page_types[i]);
    for (size_t i = 0; i < x->n_countries; i++) tl_free(x->countries[i]);
    tl_free(x->page_types);
    tl_free(x->countries);
    for (size_t i = 0; i < x->a.n_arms; i++) {
        tl_free(x->arms[i].name);
        tl_free(x->arms[i].changes_json);
        tl_free(x->arms[i].for_you_blend);
        tl_free(x->arms[i].similar_blend);
        tl_free(x->arms[i].cart_blend);
    }
    tl_u64map_free(&x->who);
    tl_free(x->units);
    tl_free(x);
}

static enum tl_rc get_time(json_t *o, const char *key, int64_t *out, struct tl_err *err)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v)) return TL_OK;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (int64_t)json_integer_value(v);
        return TL_OK;
    }
    if (json_is_string(v) && tl_time_parse(json_string_value(v), out) == TL_OK) return TL_OK;
    return tl_err_set(err, TL_EINVAL, key, "%s must be an ISO 8601 time or milliseconds since 1970", key);
}

static enum tl_rc str_list(json_t *o, const char *key, char ***out, size_t *n, struct tl_err *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v)) return TL_OK;
    if (!json_is_array(v) || json_array_size(v) > TL_ASSIGN_TARGETS_MAX)
        return tl_err_set(err, TL_EINVAL, key, "%s must be an array of at most %d strings", key, TL_ASSIGN_TARGETS_MAX);
    *out = tl_calloc(json_array_size(v) + 1, sizeof **out);
    if (!*out) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s) || !((*out)[i] = tl_strdup(json_string_value(s)))) {
            *n = i;
            return tl_err_set(err, TL_EINVAL, key, "%s[%zu] must be a string", key, i);
        }
        *n = i + 1;
    }
    return TL_OK;
}

static enum tl_rc parse_changes(json_t *c, struct arm *a, size_t i, struct tl_err *err)
{
    a->personalization = 1;
    a->search_personalization = NAN;
    char field[64];
    if (!c || json_is_null(c)) {
        a->changes_json = tl_strdup("{}");
        return a->changes_json ? TL_OK : TL_ENOMEM;
    }
    snprintf(field, sizeof field, "arms[%zu].changes", i);
    if (!json_is_object(c)) return tl_err_set(err, TL_EINVAL, field, "%s must be an object", field);
    const char *k;
    json_t *v;
    json_object_foreach(c, k, v)
    {
        snprintf(field, sizeof field, "arms[%zu].changes.%s", i, k);
        if (strcmp(k, "personalization") == 0) {
            if (!json_is_boolean(v)) return tl_err_set(err, TL_EINVAL, field, "%s must be true or false", field);
            a->personalization = json_is_true(v);
        } else if (strcmp(k, "for_you_blend") == 0 || strcmp(k, "similar_blend") == 0 || strcmp(k, "cart_blend") == 0) {
            if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 255 ||
                !tl_config_blend_ok(json_string_value(v)))
                return tl_err_set(err, TL_EINVAL, field, "%s must be a blend like \"ials:1,sknn:0.5\"", field);
            char **dst = k[0] == 'f' ? &a->for_you_blend : k[0] == 's' ? &a->similar_blend : &a->cart_blend;
            tl_free(*dst);
            if (!(*dst = tl_strdup(json_string_value(v)))) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        } else if (strcmp(k, "search_personalization") == 0) {
            if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 10)
                return tl_err_set(err, TL_EINVAL, field, "%s must be a number from 0 to 10", field);
            a->search_personalization = json_number_value(v);
        } else if (strcmp(k, "campaign") == 0) {
            if (!json_is_string(v)) return tl_err_set(err, TL_EINVAL, field, "%s must be a campaign id", field);
        } else {
            return tl_err_set(err, TL_EINVAL, field,
                              "unknown change \"%s\": expected personalization, for_you_blend, similar_blend, "
                              "cart_blend, search_personalization or campaign",
                              k);
        }
    }
    a->changes_json = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    return a->changes_json ? TL_OK : TL_ENOMEM;
}

/* Parse and validate one definition (not against the others). */
static enum tl_rc exp_parse(uint32_t shop, const char *id, const char *text, size_t len, struct exp **out,
                            struct tl_err *err)
{
    *out = NULL;
    if (len > TL_EXP_DEF_MAX) return tl_err_set(err, TL_ETOOBIG, NULL, "an experiment definition is at most 64 KiB");
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return tl_err_set(err, TL_EPARSE, NULL, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
    struct exp *x = tl_calloc(1, sizeof *x);
    enum tl_rc rc = x ? TL_OK : tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    if (rc) goto done;
    tl_u64map_init(&x->who);
    x->shop = shop;
    x->id = tl_strdup(id);
    if (!json_is_object(o)) {
        rc = tl_err_set(err, TL_EINVAL, NULL, "an experiment is a JSON object");
        goto done;
    }
    json_t *v = json_object_get(o, "name");
    if (v && !json_is_string(v)) {
        rc = tl_err_set(err, TL_EINVAL, "name", "name must be a string");
        goto done;
    }
    x->name = tl_strdup(v ? json_string_value(v) : id);
    v = json_object_get(o, "salt");
    if (v && !json_is_string(v)) {
        rc = tl_err_set(err, TL_EINVAL, "salt", "salt must be a string");
        goto done;
    }
    x->salt = tl_strdup(v ? json_string_value(v) : id);
    v = json_object_get(o, "layer");
    if (v && !json_is_null(v) && !json_is_string(v)) {
        rc = tl_err_set(err, TL_EINVAL, "layer", "layer must be a string");
        goto done;
    }
    x->layer = tl_strdup(json_is_string(v) ? json_string_value(v) : "");
    x->a.layer_start = 0;
    x->a.layer_end = TL_ASSIGN_BUCKETS;
    static const char *const lk[] = {"layer_start", "layer_end"};
    for (int i = 0; i < 2; i++) {
        v = json_object_get(o, lk[i]);
        if (!v) continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > TL_ASSIGN_BUCKETS) {
            rc = tl_err_set(err, TL_EINVAL, lk[i], "%s must be an integer from 0 to %d", lk[i], TL_ASSIGN_BUCKETS);
            goto done;
        }
        *(i ? &x->a.layer_end : &x->a.layer_start) = (uint32_t)json_integer_value(v);
    }
    v = json_object_get(o, "status");
    const char *st = json_is_string(v) ? json_string_value(v) : v ? "" : "draft";
    if (strcmp(st, "draft") == 0)
        x->a.status = TL_ASSIGN_DRAFT;
    else if (strcmp(st, "running") == 0)
        x->a.status = TL_ASSIGN_RUNNING;
    else if (strcmp(st, "stopped") == 0)
        x->a.status = TL_ASSIGN_STOPPED;
    else {
        rc = tl_err_set(err, TL_EINVAL, "status", "status must be draft, running or stopped");
        goto done;
    }
    if ((rc = get_time(o, "start", &x->a.start_ms, err)) || (rc = get_time(o, "stop", &x->a.stop_ms, err))) goto done;
    json_t *t = json_object_get(o, "targeting");
    if (t && !json_is_object(t)) {
        rc = tl_err_set(err, TL_EINVAL, "targeting", "targeting must be an object");
        goto done;
    }
    if (t) {
        if ((rc = str_list(t, "page_types", &x->page_types, &x->n_page_types, err)) ||
            (rc = str_list(t, "countries", &x->countries, &x->n_countries, err)))
            goto done;
        v = json_object_get(t, "audience");
        const char *au = json_is_string(v) ? json_string_value(v) : v ? "" : "all";
        if (strcmp(au, "all") == 0)
            x->a.audience = TL_ASSIGN_ALL;
        else if (strcmp(au, "new") == 0)
            x->a.audience = TL_ASSIGN_NEW_ONLY;
        else if (strcmp(au, "returning") == 0)
            x->a.audience = TL_ASSIGN_RETURNING_ONLY;
        else {
            rc = tl_err_set(err, TL_EINVAL, "targeting.audience", "audience must be all, new or returning");
            goto done;
        }
    }
    json_t *arms = json_object_get(o, "arms");
    if (!json_is_array(arms) || json_array_size(arms) < 2 || json_array_size(arms) > TL_ASSIGN_ARMS_MAX) {
        rc = tl_err_set(err, TL_EINVAL, "arms", "arms must be an array of 2 to %d arms", TL_ASSIGN_ARMS_MAX);
        goto done;
    }
    for (size_t i = 0; i < json_array_size(arms); i++) {
        json_t *a = json_array_get(arms, i);
        char field[48];
        snprintf(field, sizeof field, "arms[%zu]", i);
        if (!json_is_object(a)) {
            rc = tl_err_set(err, TL_EINVAL, field, "%s must be an object with name and share", field);
            goto done;
        }
        json_t *nm = json_object_get(a, "name"), *sh = json_object_get(a, "share");
        snprintf(field, sizeof field, "arms[%zu].name", i);
        if (!json_is_string(nm)) {
            rc = tl_err_set(err, TL_EINVAL, field, "%s must be a string", field);
            goto done;
        }
        snprintf(field, sizeof field, "arms[%zu].share", i);
        if (!json_is_number(sh)) {
            rc = tl_err_set(err, TL_EINVAL, field, "%s must be a number in (0, 1]", field);
            goto done;
        }
        x->arms[i].name = tl_strdup(json_string_value(nm));
        x->arms[i].share = json_number_value(sh);
        x->a.n_arms = i + 1;
        if ((rc = parse_changes(json_object_get(a, "changes"), &x->arms[i], i, err))) goto done;
        x->arm_defs[i].name = x->arms[i].name;
        x->arm_defs[i].share = x->arms[i].share;
        const struct arm *ar = &x->arms[i];
        if (!ar->personalization) x->touches |= TL_EXP_FOR_YOU | TL_EXP_SEARCH;
        if (ar->for_you_blend) x->touches |= TL_EXP_FOR_YOU;
        if (ar->similar_blend) x->touches |= TL_EXP_SIMILAR;
        if (ar->cart_blend) x->touches |= TL_EXP_CART;
        if (!isnan(ar->search_personalization)) x->touches |= TL_EXP_SEARCH;
    }
    x->a.id = x->id;
    x->a.salt = x->salt;
    x->a.layer = x->layer;
    x->a.arms = x->arm_defs;
    x->a.page_types = (const char *const *)x->page_types;
    x->a.n_page_types = x->n_page_types;
    x->a.countries = (const char *const *)x->countries;
    x->a.n_countries = x->n_countries;
    if ((rc = tl_assign_validate(&x->a, err))) goto done;
    x->definition = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!x->definition || !x->name || !x->salt || !x->layer || !x->id)
        rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
done:
    json_decref(o);
    if (rc) {
        exp_free(x);
        return rc;
    }
    *out = x;
    return TL_OK;
}

struct tl_exps *tl_exps_new(void)
{
    struct tl_exps *s = tl_calloc(1, sizeof *s);
    if (s) pthread_rwlock_init(&s->lock, NULL);
    return s;
}

void tl_exps_free(struct tl_exps *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) exp_free(s->v[i]);
    pthread_rwlock_destroy(&s->lock);
    tl_free(s);
}

static long find(const struct tl_exps *s, uint32_t shop, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i]->shop == shop && strcmp(s->v[i]->id, id) == 0) return (long)i;
    return -1;
}

/* Check x against the shop's other experiments (ids, salts, layer ranges). */
static enum tl_rc validate_with_others(const struct tl_exps *s, const struct exp *x, struct tl_err *err)
{
    struct tl_assign_exp *set = tl_malloc((s->n + 1) * sizeof *set);
    if (!set) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i]->shop == x->shop && strcmp(s->v[i]->id, x->id) != 0) set[n++] = s->v[i]->a;
    set[n++] = x->a;
    struct tl_err e2;
    tl_err_clear(&e2);
    enum tl_rc rc = tl_assign_validate_set(set, n, &e2);
    tl_free(set);
    if (rc) tl_err_set(err, rc, e2.field[0] ? "experiments" : NULL, "conflicts with another experiment: %s", e2.msg);
    return rc;
}

/* Install x (replacing an experiment of the same shop and id, whose units
 * carry over when the arms are unchanged). Caller holds the write lock. */
static enum tl_rc install(struct tl_exps *s, struct exp *x)
{
    long i = find(s, x->shop, x->id);
    if (i >= 0) {
        struct exp *old = s->v[i];
        int same = old->a.n_arms == x->a.n_arms && strcmp(old->salt, x->salt) == 0;
        for (size_t k = 0; same && k < x->a.n_arms; k++) same = strcmp(old->arms[k].name, x->arms[k].name) == 0;
        if (same) { /* keep the units measured so far */
            struct tl_u64map tmp = x->who;
            x->who = old->who;
            old->who = tmp;
            struct unit *u = x->units;
            x->units = old->units;
            old->units = u;
            uint32_t a = x->n_units, b = x->cap_units;
            x->n_units = old->n_units, x->cap_units = old->cap_units;
            old->n_units = a, old->cap_units = b;
        }
        exp_free(old);
        s->v[i] = x;
        return TL_OK;
    }
    if (s->n == TL_EXP_MAX) return TL_ETOOBIG;
    s->v[s->n++] = x;
    return TL_OK;
}

struct load_ctx {
    struct tl_engine *e;
};

static int load_cb(void *ctx, uint32_t shop, const char *id, const char *def)
{
    struct tl_engine *e = ((struct load_ctx *)ctx)->e;
    struct exp *x;
    struct tl_err err;
    tl_err_clear(&err);
    if (exp_parse(shop, id, def, strlen(def), &x, &err) != TL_OK) {
        tl_warn("shop %u: experiment %s not loaded: %s", shop, id, err.msg);
        return 0;
    }
    if (install(e->exps, x) != TL_OK) exp_free(x);
    return 0;
}

enum tl_rc tl_engine_experiments_load(struct tl_engine *e)
{
    struct load_ctx c = {e};
    return e->ops->experiment_scan(e->rst, load_cb, &c);
}

/* ---- units ---- */

static uint64_t unit_key(const struct exp *x, char kind, const char *id)
{
    return tl_hash_str(id, tl_hash_str(x->id, 0x6578705fULL ^ x->shop) ^ (uint64_t)(unsigned char)kind);
}

static long unit_of(const struct exp *x, const char *user_id, const char *anonymous_id)
{
    uint64_t v;
    if (user_id && tl_u64map_get(&x->who, unit_key(x, 'u', user_id), &v)) return (long)v - 1;
    if (anonymous_id && tl_u64map_get(&x->who, unit_key(x, 'a', anonymous_id), &v)) return (long)v - 1;
    return -1;
}

/* Record an exposure (write lock held). Returns the unit index or -1. */
static long expose(struct exp *x, const char *user_id, const char *anonymous_id, int arm, int64_t ts,
                   double pre_revenue)
{
    long u = unit_of(x, user_id, anonymous_id);
    if (u < 0) {
        if (x->n_units >= TL_EXP_UNITS_MAX) {
            x->units_dropped++;
            return -1;
        }
        if (x->n_units == x->cap_units) {
            uint32_t cap = x->cap_units ? x->cap_units * 2 : 64;
            struct unit *nu = tl_realloc(x->units, (size_t)cap * sizeof *nu);
            if (!nu) return -1;
            x->units = nu;
            x->cap_units = cap;
        }
        u = (long)x->n_units++;
        memset(&x->units[u], 0, sizeof x->units[u]);
        x->units[u].arm = (uint8_t)arm;
        x->units[u].exposed_ms = ts;
        x->units[u].pre_revenue = pre_revenue;
    }
    /* remember under every id the shopper has now: sticky after login */
    if (user_id) tl_u64map_put(&x->who, unit_key(x, 'u', user_id), (uint64_t)u + 1);
    if (anonymous_id) tl_u64map_put(&x->who, unit_key(x, 'a', anonymous_id), (uint64_t)u + 1);
    return u;
}

/* The arm a shopper has or would get (no recording). -1: not in it. */
static int arm_of(const struct exp *x, const char *user_id, const char *anonymous_id, const struct tl_assign_ctx *ctx,
                  int64_t now)
{
    long u = unit_of(x, user_id, anonymous_id);
    if (u >= 0) {
        /* sticky while the experiment runs */
        enum tl_assign_why why;
        int a = tl_assign_arm(&x->a, anonymous_id ? anonymous_id : user_id, ctx, now, &why);
        if (why == TL_ASSIGN_NOT_RUNNING) return -1;
        (void)a;
        return x->units[u].arm;
    }
    return tl_assign_arm(&x->a, anonymous_id ? anonymous_id : user_id, ctx, now, NULL);
}

/* ---- exposures as events ---- */

static void log_exposure(struct tl_engine *e, const struct exp *x, int arm, const char *user_id,
                         const char *anonymous_id, int64_t now)
{
    struct tl_buf f;
    tl_buf_init(&f, 0);
    tl_buf_puts(&f, "\"experiment_id\":");
    tl_buf_json_str(&f, x->id);
    tl_buf_puts(&f, ",\"arm\":");
    tl_buf_json_str(&f, x->arms[arm].name);
    tl_buf_puts(&f, ",\"source\":\"server\"");
    if (f.data) tl_engine_log_event(e, x->shop, TL_EV_EXPOSURE, user_id, anonymous_id, now, f.data);
    tl_buf_free(&f);
}

static double pre_revenue_of(struct tl_engine *e, uint32_t shop, const char *user_id, const char *anonymous_id,
                             int *is_new)
{
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(e, shop, user_id, anonymous_id, key);
    struct tl_profile *p;
    struct tl_pcache_guard g;
    double v = 0;
    *is_new = 1;
    if (tl_pcache_lock(e->profiles, shop, key, 0, &p, &g) == TL_OK) {
        struct tl_profile_rfm r;
        tl_profile_rfm(p, &r);
        v = r.monetary;
        *is_new = r.orders == 0 && tl_profile_count(p, TL_EV_PAGE_VIEW) + tl_profile_count(p, TL_EV_PRODUCT_VIEW) == 0;
        tl_pcache_unlock(&g);
    }
    return v;
}

void tl_engine_exp_treatment_for(struct tl_engine *e, uint32_t shop, unsigned what, const char *user_id,
                                 const char *anonymous_id, const char *page_type, const char *country,
                                 struct tl_exp_treatment *t)
{
    memset(t, 0, sizeof *t);
    t->personalization = 1;
    t->search_personalization = NAN;
    if (!e->exps || (!user_id && !anonymous_id)) return;
    int64_t now = tl_now_ms();
    /* fast path: no running experiment in this shop */
    int any = 0;
    pthread_rwlock_rdlock(&e->exps->lock);
    for (size_t i = 0; i < e->exps->n && !any; i++)
        any = e->exps->v[i]->shop == shop && e->exps->v[i]->a.status == TL_ASSIGN_RUNNING &&
              (e->exps->v[i]->touches & what);
    pthread_rwlock_unlock(&e->exps->lock);
    if (!any) return;
    int is_new = -1;
    double pre = pre_revenue_of(e, shop, user_id, anonymous_id, &is_new); /* profile lock, before ours */
    struct tl_assign_ctx ctx = {page_type, country, is_new};
    int fresh = 0; /* some experiment sees this shopper for the first time */
    pthread_rwlock_rdlock(&e->exps->lock);
    for (size_t i = 0; i < e->exps->n; i++) {
        const struct exp *x = e->exps->v[i];
        if (x->shop != shop || x->a.status != TL_ASSIGN_RUNNING || !(x->touches & what)) continue;
        int arm = arm_of(x, user_id, anonymous_id, &ctx, now);
        if (arm < 0) continue;
        const struct arm *a = &x->arms[arm];
        if (!a->personalization) t->personalization = 0;
        if (a->for_you_blend) snprintf(t->for_you_blend, sizeof t->for_you_blend, "%s", a->for_you_blend);
        if (a->similar_blend) snprintf(t->similar_blend, sizeof t->similar_blend, "%s", a->similar_blend);
        if (a->cart_blend) snprintf(t->cart_blend, sizeof t->cart_blend, "%s", a->cart_blend);
        if (!isnan(a->search_personalization)) t->search_personalization = a->search_personalization;
        if (unit_of(x, user_id, anonymous_id) < 0) fresh = 1;
    }
    pthread_rwlock_unlock(&e->exps->lock);
    if (!fresh) return;
    /* record the first exposures (the arm is recomputed: definitions may
     * have changed between the two locks) */
    pthread_rwlock_wrlock(&e->exps->lock);
    for (size_t i = 0; i < e->exps->n; i++) {
        struct exp *x = e->exps->v[i];
        if (x->shop != shop || x->a.status != TL_ASSIGN_RUNNING || !(x->touches & what) ||
            unit_of(x, user_id, anonymous_id) >= 0)
            continue;
        int arm = arm_of(x, user_id, anonymous_id, &ctx, now);
        if (arm >= 0 && expose(x, user_id, anonymous_id, arm, now, pre) >= 0)
            log_exposure(e, x, arm, user_id, anonymous_id, now);
    }
    pthread_rwlock_unlock(&e->exps->lock);
}

/* ---- events -> unit metrics ---- */

static double lines_value(const struct tl_event *ev)
{
    double v = 0;
    for (size_t i = 0; i < ev->n_lines; i++) {
        double q = isnan(ev->lines[i].quantity) ? 1 : ev->lines[i].quantity;
        double p = isnan(ev->lines[i].price) ? 0 : ev->lines[i].price;
        v += q * p;
    }
    if (ev->n_lines == 0 && !isnan(ev->price)) v = ev->price * (isnan(ev->quantity) ? 1 : ev->quantity);
    return v;
}

void tl_engine_exp_event(struct tl_engine *e, const struct tl_event *ev)
{
    if (!e->exps || (!ev->user_id && !ev->anonymous_id)) return;
    pthread_rwlock_wrlock(&e->exps->lock);
    if (ev->type == TL_EV_EXPOSURE && ev->body) {
        json_error_t je;
        json_t *o = json_loads(ev->body, 0, &je);
        const char *xid = o ? json_string_value(json_object_get(o, "experiment_id")) : NULL;
        const char *arm = o ? json_string_value(json_object_get(o, "arm")) : NULL;
        long i = xid ? find(e->exps, ev->shop_id, xid) : -1;
        if (i >= 0 && arm) {
            struct exp *x = e->exps->v[i];
            for (size_t k = 0; k < x->a.n_arms; k++)
                if (strcmp(x->arms[k].name, arm) == 0) {
                    expose(x, ev->user_id, ev->anonymous_id, (int)k, ev->ts_ms, 0);
                    break;
                }
        }
        json_decref(o);
        pthread_rwlock_unlock(&e->exps->lock);
        return;
    }
    for (size_t i = 0; i < e->exps->n; i++) {
        struct exp *x = e->exps->v[i];
        if (x->shop != ev->shop_id) continue;
        long u = unit_of(x, ev->user_id, ev->anonymous_id);
        if (u < 0) continue;
        /* an event naming both ids is a login: the customer keeps the arm */
        if (ev->user_id && ev->anonymous_id) {
            tl_u64map_put(&x->who, unit_key(x, 'u', ev->user_id), (uint64_t)u + 1);
            tl_u64map_put(&x->who, unit_key(x, 'a', ev->anonymous_id), (uint64_t)u + 1);
        }
        struct unit *un = &x->units[u];
        if (ev->ts_ms < un->exposed_ms) continue;
        switch (ev->type) {
        case TL_EV_PAGE_VIEW:
        case TL_EV_PRODUCT_VIEW:
        case TL_EV_CATEGORY_VIEW:
            if (un->pageviews < UINT16_MAX) un->pageviews++;
            break;
        case TL_EV_ADD_TO_CART:
            un->atc = 1;
            break;
        case TL_EV_REC_IMPRESSION: /* items shown (an event without lines: one) */
            un->impressions += ev->n_lines ? (uint32_t)ev->n_lines : 1;
            break;
        case TL_EV_REC_CLICK:
            un->clicks++;
            break;
        case TL_EV_PURCHASE:
            un->orders++;
            un->revenue += lines_value(ev);
            if (!un->first_order_ms) un->first_order_ms = ev->ts_ms;
            break;
        case TL_EV_RETURN:
            un->refunds += lines_value(ev);
            break;
        default:
            break;
        }
    }
    pthread_rwlock_unlock(&e->exps->lock);
}

/* ---- report ---- */

struct arm_sum {
    uint64_t visitors, conversions, orders, impressions, clicks, atc, bounces;
    double revenue, refunds;
    double *rpv, *pre; /* per unit: revenue, pre-period revenue */
    size_t n;
};

static void json_num(struct tl_buf *b, const char *k, double v)
{
    if (isfinite(v))
        tl_buf_printf(b, ",\"%s\":%.6g", k, v);
    else
        tl_buf_printf(b, ",\"%s\":null", k);
}

/* Monday 00:00 UTC of the week of ts (1970-01-01 was a Thursday). */
static int64_t week_start(int64_t ts)
{
    int64_t day = ts >= 0 ? ts / DAY_MS : (ts - DAY_MS + 1) / DAY_MS;
    int64_t monday = day - ((day + 3) % 7 + 7) % 7;
    return monday * DAY_MS;
}

#define ROI_WEEKS_MAX 104

/* The ROI per week: for the visitors first exposed in each week (a
 * cohort), the incremental revenue of arm a over the control = Welch
 * interval of the revenue-per-visitor difference x the arm's visitors of
 * that cohort (revenue winsorised at cap, as overall). */
static void weekly_roi(const struct exp *x, size_t a, double cap, struct tl_buf *out)
{
    int64_t first = INT64_MAX, last = 0;
    for (uint32_t i = 0; i < x->n_units; i++) {
        if (x->units[i].exposed_ms < first) first = x->units[i].exposed_ms;
        if (x->units[i].exposed_ms > last) last = x->units[i].exposed_ms;
    }
    tl_buf_puts(out, ",\"roi_weekly\":[");
    if (!x->n_units) {
        tl_buf_putc(out, ']');
        return;
    }
    double *ya = tl_malloc((x->n_units + 1) * sizeof *ya), *yb = tl_malloc((x->n_units + 1) * sizeof *yb);
    int nweek = 0;
    for (int64_t w = week_start(first); ya && yb && w <= last && nweek < ROI_WEEKS_MAX; w += 7 * DAY_MS, nweek++) {
        size_t na = 0, nb = 0;
        for (uint32_t i = 0; i < x->n_units; i++) {
            const struct unit *u = &x->units[i];
            if (u->exposed_ms < w || u->exposed_ms >= w + 7 * DAY_MS) continue;
            double v = u->revenue > cap ? cap : u->revenue;
            if (u->arm == 0)
                ya[na++] = v;
            else if (u->arm == a)
                yb[nb++] = v;
        }
        char day[40];
        tl_time_format(w, day, sizeof day);
        tl_buf_printf(out, "%s{\"week\":\"%.10s\",\"visitors\":%zu,\"control_visitors\":%zu", nweek ? "," : "", day, nb,
                      na);
        struct tl_stats_moments ma, mb;
        struct tl_stats_welch wl;
        struct tl_stats_roi roi;
        struct tl_err err;
        tl_err_clear(&err);
        if (na >= 2 && nb >= 2 && tl_stats_moments_of(ya, na, &ma, &err) == TL_OK &&
            tl_stats_moments_of(yb, nb, &mb, &err) == TL_OK && tl_stats_welch(&ma, &mb, ALPHA, &wl, &err) == TL_OK &&
            tl_stats_roi(&wl, nb, &roi, &err) == TL_OK)
            tl_buf_printf(out, ",\"incremental\":%.6g,\"lo\":%.6g,\"hi\":%.6g}", roi.incremental, roi.lo, roi.hi);
        else
            tl_buf_puts(out, ",\"incremental\":null,\"lo\":null,\"hi\":null}");
    }
    tl_buf_putc(out, ']');
    tl_free(ya);
    tl_free(yb);
}

static void report_one(const struct exp *x, int64_t now, struct tl_buf *out)
{
    size_t k = x->a.n_arms;
    struct arm_sum s[TL_ASSIGN_ARMS_MAX];
    memset(s, 0, sizeof s);
    for (size_t a = 0; a < k; a++) {
        s[a].rpv = tl_calloc(x->n_units + 1, sizeof(double));
        s[a].pre = tl_calloc(x->n_units + 1, sizeof(double));
    }
    for (uint32_t i = 0; i < x->n_units; i++) {
        const struct unit *u = &x->units[i];
        struct arm_sum *a = &s[u->arm < k ? u->arm : 0];
        a->visitors++;
        a->conversions += u->orders > 0;
        a->orders += u->orders;
        a->impressions += u->impressions;
        a->clicks += u->clicks;
        a->atc += u->atc;
        a->bounces += u->pageviews <= 1 && !u->atc && !u->orders && !u->clicks;
        a->revenue += u->revenue;
        a->refunds += u->refunds;
        if (a->rpv && a->pre) {
            a->rpv[a->n] = u->revenue;
            a->pre[a->n++] = u->pre_revenue;
        }
    }
    char t0[40] = "", t1[40] = "";
    if (x->a.start_ms) tl_time_format(x->a.start_ms, t0, sizeof t0);
    if (x->a.stop_ms) tl_time_format(x->a.stop_ms, t1, sizeof t1);
    tl_buf_puts(out, "{\"id\":");
    tl_buf_json_str(out, x->id);
    tl_buf_puts(out, ",\"name\":");
    tl_buf_json_str(out, x->name);
    static const char *const status[] = {"draft", "running", "stopped"};
    tl_buf_printf(out, ",\"status\":\"%s\",\"definition\":%s", status[x->a.status], x->definition);
    /* SRM over exposed units against the configured shares */
    uint64_t counts[TL_ASSIGN_ARMS_MAX];
    double shares[TL_ASSIGN_ARMS_MAX];
    uint64_t total = 0;
    for (size_t a = 0; a < k; a++) counts[a] = s[a].visitors, shares[a] = x->arms[a].share, total += counts[a];
    struct tl_stats_srm srm;
    struct tl_err err;
    tl_err_clear(&err);
    tl_buf_printf(out, ",\"units\":%llu,\"units_dropped\":%llu", (unsigned long long)total,
                  (unsigned long long)x->units_dropped);
    if (total > 0 && tl_stats_srm(counts, shares, k, &srm, &err) == TL_OK)
        tl_buf_printf(out, ",\"srm\":{\"chi2\":%.6g,\"p_value\":%.6g,\"flagged\":%s}", srm.chi2, srm.p_value,
                      srm.flagged ? "true" : "false");
    else
        tl_buf_puts(out, ",\"srm\":null");

    /* winsorise revenue per visitor at the pooled 99th percentile */
    const double *xs[TL_ASSIGN_ARMS_MAX];
    size_t ns[TL_ASSIGN_ARMS_MAX];
    for (size_t a = 0; a < k; a++) xs[a] = s[a].rpv, ns[a] = s[a].n;
    double cap = INFINITY;
    if (total > 0 && tl_stats_quantile_pooled(xs, ns, k, 0.99, &cap, &err) == TL_OK)
        for (size_t a = 0; a < k; a++) tl_stats_winsorize(s[a].rpv, s[a].n, cap);
    tl_buf_printf(out, ",\"winsor_cap\":%.6g,\"arms\":[", isfinite(cap) ? cap : 0.0);

    struct tl_stats_moments m0;
    int have0 = tl_stats_moments_of(s[0].rpv, s[0].n, &m0, &err) == TL_OK;
    for (size_t a = 0; a < k; a++) {
        const struct arm_sum *q = &s[a];
        if (a) tl_buf_putc(out, ',');
        tl_buf_puts(out, "{\"name\":");
        tl_buf_json_str(out, x->arms[a].name);
        tl_buf_printf(out, ",\"share\":%.4g,\"changes\":%s,\"visitors\":%llu,\"conversions\":%llu,\"orders\":%llu",
                      x->arms[a].share, x->arms[a].changes_json, (unsigned long long)q->visitors,
                      (unsigned long long)q->conversions, (unsigned long long)q->orders);
        json_num(out, "revenue", q->revenue);
        json_num(out, "conversion_rate", q->visitors ? (double)q->conversions / q->visitors : NAN);
        double lo = NAN, hi = NAN;
        if (q->visitors) tl_stats_wilson(q->conversions, q->visitors, ALPHA, &lo, &hi, &err);
        json_num(out, "conversion_rate_lo", lo);
        json_num(out, "conversion_rate_hi", hi);
        json_num(out, "aov", q->orders ? q->revenue / q->orders : NAN);
        json_num(out, "revenue_per_visitor", q->visitors ? q->revenue / q->visitors : NAN);
        json_num(out, "rec_ctr", q->impressions ? (double)q->clicks / q->impressions : NAN);
        json_num(out, "add_to_cart_rate", q->visitors ? (double)q->atc / q->visitors : NAN);
        json_num(out, "bounce_rate", q->visitors ? (double)q->bounces / q->visitors : NAN);
        json_num(out, "refunds", q->refunds);
        if (a > 0 && s[0].visitors && q->visitors) {
            struct tl_stats_rates r;
            if (tl_stats_rates(s[0].conversions, s[0].visitors, q->conversions, q->visitors, ALPHA, &r, &err) ==
                TL_OK) {
                tl_buf_puts(out, ",\"vs_control\":{\"conversion\":{");
                tl_buf_printf(out, "\"z\":%.6g,\"p_value\":%.6g", r.z, r.p_value);
                json_num(out, "diff", r.diff);
                json_num(out, "diff_lo", r.diff_lo);
                json_num(out, "diff_hi", r.diff_hi);
                json_num(out, "uplift", r.rel_valid ? r.rel : NAN);
                json_num(out, "uplift_lo", r.rel_valid ? r.rel_lo : NAN);
                json_num(out, "uplift_hi", r.rel_valid ? r.rel_hi : NAN);
                struct tl_stats_msprt ms;
                tl_stats_msprt_init(&ms);
                /* always-valid p-value, updated once per day of the experiment */
                int64_t start = INT64_MAX;
                for (uint32_t i = 0; i < x->n_units; i++)
                    if (x->units[i].exposed_ms < start) start = x->units[i].exposed_ms;
                double p0 = (double)s[0].conversions / (double)s[0].visitors;
                double tau = MSPRT_TAU_REL * (p0 > 0 ? p0 : 0.01);
                for (int64_t d = start + DAY_MS;; d += DAY_MS) {
                    uint64_t na = 0, xa = 0, nb = 0, xb = 0;
                    int64_t upto = d < now ? d : now;
                    for (uint32_t i = 0; i < x->n_units; i++) {
                        const struct unit *u = &x->units[i];
                        if (u->exposed_ms > upto || (u->arm != 0 && u->arm != a)) continue;
                        int conv = u->first_order_ms && u->first_order_ms <= upto;
                        if (u->arm == 0)
                            na++, xa += (uint64_t)conv;
                        else
                            nb++, xb += (uint64_t)conv;
                    }
                    if (na && nb) tl_stats_msprt_update_rates(&ms, xa, na, xb, nb, tau, ALPHA, &err);
                    if (d >= now || d - start > 400 * DAY_MS) break;
                }
                tl_buf_printf(out, ",\"sequential_p_value\":%.6g", ms.p_value);
                json_num(out, "sequential_lo", ms.ci_lo);
                json_num(out, "sequential_hi", ms.ci_hi);
                tl_buf_putc(out, '}');
                struct tl_stats_moments mb;
                struct tl_stats_welch w;
                if (have0 && tl_stats_moments_of(q->rpv, q->n, &mb, &err) == TL_OK &&
                    tl_stats_welch(&m0, &mb, ALPHA, &w, &err) == TL_OK) {
                    tl_buf_printf(out, ",\"revenue_per_visitor\":{\"t\":%.6g,\"df\":%.6g,\"p_value\":%.6g", w.t, w.df,
                                  w.p_value);
                    json_num(out, "diff", w.diff);
                    json_num(out, "diff_lo", w.diff_lo);
                    json_num(out, "diff_hi", w.diff_hi);
                    json_num(out, "uplift", w.rel_valid ? w.rel : NAN);
                    json_num(out, "uplift_lo", w.rel_valid ? w.rel_lo : NAN);
                    json_num(out, "uplift_hi", w.rel_valid ? w.rel_hi : NAN);
                    struct tl_stats_roi roi;
                    if (tl_stats_roi(&w, q->visitors, &roi, &err) == TL_OK)
                        tl_buf_printf(out, ",\"incremental_revenue\":{\"value\":%.6g,\"lo\":%.6g,\"hi\":%.6g}",
                                      roi.incremental, roi.lo, roi.hi);
                    struct tl_stats_cuped cu;
                    if (s[0].n >= 2 && q->n >= 2 &&
                        tl_stats_cuped(s[0].rpv, s[0].pre, s[0].n, q->rpv, q->pre, q->n, ALPHA, &cu, &err) == TL_OK) {
                        tl_buf_printf(out, ",\"cuped\":{\"theta\":%.6g,\"variance_ratio\":%.6g,\"p_value\":%.6g",
                                      cu.theta, cu.var_ratio, cu.welch.p_value);
                        json_num(out, "diff_lo", cu.welch.diff_lo);
                        json_num(out, "diff_hi", cu.welch.diff_hi);
                        tl_buf_putc(out, '}');
                    }
                    tl_buf_putc(out, '}');
                }
                weekly_roi(x, a, cap, out);
                tl_buf_putc(out, '}');
            }
        }
        tl_buf_putc(out, '}');
    }
    tl_buf_putc(out, ']');
    /* how many visitors per arm a 10% relative lift of the control's conversion needs */
    uint64_t need = 0;
    double p0 = s[0].visitors ? (double)s[0].conversions / s[0].visitors : 0;
    if (p0 > 0 && p0 < 1 && tl_stats_sample_size_rate(p0, 0.10, ALPHA, 0.8, &need, &err) == TL_OK)
        tl_buf_printf(out,
                      ",\"sample_size\":{\"baseline_rate\":%.6g,\"relative_mde\":0.1,\"power\":0.8,"
                      "\"visitors_per_arm\":%llu}",
                      p0, (unsigned long long)need);
    tl_buf_putc(out, '}');
    for (size_t a = 0; a < k; a++) {
        tl_free(s[a].rpv);
        tl_free(s[a].pre);
    }
}

/* ---- API ---- */

struct put_job {
    uint32_t shop;
    const char *id, *def;
};

static enum tl_rc write_put(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    struct put_job *j = arg;
    return ops->experiment_put(st, j->shop, j->id, j->def);
}

static enum tl_rc write_del(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    struct put_job *j = arg;
    return ops->experiment_delete(st, j->shop, j->id);
}

enum tl_rc tl_engine_experiment_put(struct tl_engine *e, uint32_t shop, const char *id, const char *body, size_t len,
                                    struct tl_buf *out, struct tl_err *err)
{
    if (!id || !*id || strlen(id) > TL_ASSIGN_ID_MAX)
        return tl_err_set(err, TL_EINVAL, "id", "experiment id must be 1 to %d bytes", TL_ASSIGN_ID_MAX);
    if (!tl_engine_shop(e, shop)) return tl_err_set(err, TL_ENOTFOUND, NULL, "shop %u does not exist", shop);
    struct exp *x;
    enum tl_rc rc = exp_parse(shop, id, body ? body : "", body ? len : 0, &x, err);
    if (rc) return rc;
    pthread_rwlock_wrlock(&e->exps->lock);
    rc = validate_with_others(e->exps, x, err);
    if (rc == TL_OK && find(e->exps, shop, id) < 0 && e->exps->n == TL_EXP_MAX)
        rc = tl_err_set(err, TL_ETOOBIG, NULL, "at most %d experiments", TL_EXP_MAX);
    pthread_rwlock_unlock(&e->exps->lock);
    if (rc) {
        exp_free(x);
        return rc;
    }
    struct put_job j = {shop, id, x->definition};
    rc = tl_writer_submit(e->writer, write_put, &j, 1);
    if (rc) {
        exp_free(x);
        return tl_err_set(err, rc, NULL, "experiment could not be stored: %s", tl_rc_message(rc));
    }
    pthread_rwlock_wrlock(&e->exps->lock);
    rc = install(e->exps, x);
    if (rc == TL_OK) report_one(x, tl_now_ms(), out);
    pthread_rwlock_unlock(&e->exps->lock);
    if (rc) {
        exp_free(x);
        return tl_err_set(err, rc, NULL, "at most %d experiments", TL_EXP_MAX);
    }
    return TL_OK;
}

enum tl_rc tl_engine_experiment_delete(struct tl_engine *e, uint32_t shop, const char *id, struct tl_buf *out,
                                       struct tl_err *err)
{
    struct put_job j = {shop, id, NULL};
    enum tl_rc rc = tl_writer_submit(e->writer, write_del, &j, 1);
    if (rc == TL_ENOTFOUND) return tl_err_set(err, rc, "id", "no experiment \"%s\"", id);
    if (rc) return tl_err_set(err, rc, NULL, "experiment could not be deleted: %s", tl_rc_message(rc));
    pthread_rwlock_wrlock(&e->exps->lock);
    long i = find(e->exps, shop, id);
    if (i >= 0) {
        exp_free(e->exps->v[i]);
        memmove(&e->exps->v[i], &e->exps->v[i + 1], (e->exps->n - (size_t)i - 1) * sizeof e->exps->v[0]);
        e->exps->n--;
    }
    pthread_rwlock_unlock(&e->exps->lock);
    tl_buf_puts(out, "{\"deleted\":");
    tl_buf_json_str(out, id);
    tl_buf_putc(out, '}');
    return TL_OK;
}

enum tl_rc tl_engine_experiments_get(struct tl_engine *e, uint32_t shop, const char *id, struct tl_buf *out,
                                     struct tl_err *err)
{
    int64_t now = tl_now_ms();
    pthread_rwlock_rdlock(&e->exps->lock);
    enum tl_rc rc = TL_OK;
    if (id) {
        long i = find(e->exps, shop, id);
        if (i < 0)
            rc = tl_err_set(err, TL_ENOTFOUND, "id", "no experiment \"%s\"", id);
        else
            report_one(e->exps->v[i], now, out);
    } else {
        tl_buf_puts(out, "{\"experiments\":[");
        int first = 1;
        for (size_t i = 0; i < e->exps->n; i++) {
            if (e->exps->v[i]->shop != shop) continue;
            if (!first) tl_buf_putc(out, ',');
            report_one(e->exps->v[i], now, out);
            first = 0;
        }
        tl_buf_puts(out, "]}");
    }
    pthread_rwlock_unlock(&e->exps->lock);
    return rc;
}

enum tl_rc tl_engine_assignments(struct tl_engine *e, uint32_t shop, const char *user_id, const char *anonymous_id,
                                 const char *page_type, const char *country, struct tl_buf *out, struct tl_err *err)
{
    if (!user_id && !anonymous_id) return tl_err_set(err, TL_EINVAL, "user_id", "user_id or anonymous_id is required");
    if (country && *country && strlen(country) != 2)
        return tl_err_set(err, TL_EINVAL, "country", "country must be a 2-letter ISO 3166-1 code");
    int64_t now = tl_now_ms();
    int is_new = -1;
    (void)pre_revenue_of(e, shop, user_id, anonymous_id, &is_new);
    struct tl_assign_ctx ctx = {page_type, country && *country ? country : NULL, is_new};
    tl_buf_puts(out, "{\"assignments\":[");
    int first = 1;
    pthread_rwlock_rdlock(&e->exps->lock);
    for (size_t i = 0; i < e->exps->n; i++) {
        const struct exp *x = e->exps->v[i];
        if (x->shop != shop) continue;
        int arm = arm_of(x, user_id, anonymous_id, &ctx, now);
        if (arm < 0) continue;
        if (!first) tl_buf_putc(out, ',');
        first = 0;
        tl_buf_puts(out, "{\"experiment\":");
        tl_buf_json_str(out, x->id);
        tl_buf_puts(out, ",\"arm\":");
        tl_buf_json_str(out, x->arms[arm].name);
        tl_buf_printf(out, ",\"changes\":%s}", x->arms[arm].changes_json);
    }
    pthread_rwlock_unlock(&e->exps->lock);
    tl_buf_puts(out, "]}");
    return TL_OK;
}
