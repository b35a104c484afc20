/* Deterministic experiment assignment (see assign.h for the model).
 *
 * Algorithm for tl_assign_arm(exp, unit, ctx, now):
 *   1. running: status == RUNNING and (start_ms == 0 or start_ms <= now) and
 *      (stop_ms == 0 or now < stop_ms);
 *   2. targeted: page type in page_types (if any), country in countries (if
 *      any, ASCII case-insensitive), audience matches ctx->is_new;
 *   3. layer: if exp->layer is set, lb = XXH64(layer ":" unit) mod 10000 must
 *      be in [layer_start, layer_end);
 *   4. arm: b = XXH64(salt ":" unit) mod 10000; arm i owns
 *      [round(10000 S_i), round(10000 S_{i+1})) with S_i the cumulative share
 *      before arm i (rounding the cumulative sums, not each share, so the
 *      bounds never drift); b >= round(10000 S_k) is outside the experiment.
 * XXH64 is xxHash's 64-bit hash (libxxhash), seed 0, over the bytes of the
 * key without a NUL. The key is built in a stack buffer of at most
 * TL_ASSIGN_ID_MAX + 1 + TL_ASSIGN_UNIT_MAX bytes; longer ids are refused.
 * mod 10000 of a 64-bit hash has a bias below 10000 / 2^64 (negligible).
 *
 * Invariants: no allocation; the same (definition, unit, ctx, now) always
 * gives the same answer on every machine (XXH64 output is
 * endianness-independent); the salt must differ from the layer name,
 * otherwise the arm bucket would equal the layer bucket and the arms inside
 * a layer slice would be skewed. */
#include "exp/assign.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

static uint32_t bucket_of(const char *prefix, const char *unit_id)
{
    char key[TL_ASSIGN_ID_MAX + 1 + TL_ASSIGN_UNIT_MAX];
    size_t pl = prefix ? strlen(prefix) : 0;
    if (!unit_id || pl > TL_ASSIGN_ID_MAX) return UINT32_MAX;
    size_t ul = strnlen(unit_id, TL_ASSIGN_UNIT_MAX + 1);
    if (ul == 0 || ul > TL_ASSIGN_UNIT_MAX) return UINT32_MAX;
    memcpy(key, prefix, pl);
    key[pl] = ':';
    memcpy(key + pl + 1, unit_id, ul);
    return (uint32_t)(XXH64(key, pl + 1 + ul, 0) % TL_ASSIGN_BUCKETS);
}

uint32_t tl_assign_bucket(const char *salt, const char *unit_id) { return bucket_of(salt, unit_id); }

static int running(const struct tl_assign_exp *e, int64_t now)
{
    if (e->status != TL_ASSIGN_RUNNING) return 0;
    if (e->start_ms && now < e->start_ms) return 0;
    if (e->stop_ms && now >= e->stop_ms) return 0;
    return 1;
}

static int targeted(const struct tl_assign_exp *e, const struct tl_assign_ctx *ctx)
{
    if (e->n_page_types) {
        if (!ctx || !ctx->page_type) return 0;
        size_t i = 0;
        while (i < e->n_page_types && strcmp(e->page_types[i], ctx->page_type) != 0) i++;
        if (i == e->n_page_types) return 0;
    }
    if (e->n_countries) {
        if (!ctx || !ctx->country) return 0;
        size_t i = 0;
        while (i < e->n_countries && strcasecmp(e->countries[i], ctx->country) != 0) i++;
        if (i == e->n_countries) return 0;
    }
    if (e->audience == TL_ASSIGN_NEW_ONLY && !(ctx && ctx->is_new == 1)) return 0;
    if (e->audience == TL_ASSIGN_RETURNING_ONLY && !(ctx && ctx->is_new == 0)) return 0;
    return 1;
}

static int has_layer(const struct tl_assign_exp *e) { return e->layer && e->layer[0]; }

/* Upper bucket bound of arm i: round(10000 * sum of shares 0..i). */
static uint32_t arm_end(const struct tl_assign_exp *e, size_t i)
{
    double s = 0;
    for (size_t j = 0; j <= i; j++) s += e->arms[j].share;
    double b = floor(s * TL_ASSIGN_BUCKETS + 0.5);
    return b > TL_ASSIGN_BUCKETS ? TL_ASSIGN_BUCKETS : (uint32_t)b;
}

int tl_assign_arm(const struct tl_assign_exp *exp, const char *unit_id, const struct tl_assign_ctx *ctx, int64_t now_ms,
                  enum tl_assign_why *why)
{
    enum tl_assign_why w;
    int arm = -1;
    if (!running(exp, now_ms)) {
        w = TL_ASSIGN_NOT_RUNNING;
    } else if (!targeted(exp, ctx)) {
        w = TL_ASSIGN_NOT_TARGETED;
    } else {
        uint32_t b = bucket_of(exp->salt, unit_id);
        uint32_t lb = has_layer(exp) ? bucket_of(exp->layer, unit_id) : 0;
        if (b == UINT32_MAX || lb == UINT32_MAX) {
            w = TL_ASSIGN_BAD_UNIT;
        } else if (has_layer(exp) && (lb < exp->layer_start || lb >= exp->layer_end)) {
            w = TL_ASSIGN_OTHER_LAYER_SLICE;
        } else {
            w = TL_ASSIGN_HOLDOUT;
            for (size_t i = 0; i < exp->n_arms; i++)
                if (b < arm_end(exp, i)) {
                    arm = (int)i;
                    w = TL_ASSIGN_IN;
                    break;
                }
        }
    }
    if (why) *why = w;
    return arm;
}

/* ------------------------------------------------------------------ */
/* validation                                                          */

static enum tl_rc bad(struct tl_err *err, const char *prefix, const char *field, const char *msg)
{
    char f[TL_ERR_FIELD_MAX];
    snprintf(f, sizeof f, "%s%s", prefix, field);
    return tl_err_set(err, TL_EINVAL, f, "%s: %s", f, msg);
}

static int name_ok(const char *s) { return s && s[0] && strnlen(s, TL_ASSIGN_ID_MAX + 1) <= TL_ASSIGN_ID_MAX; }

static enum tl_rc validate(const struct tl_assign_exp *e, const char *p, struct tl_err *err)
{
    char f[64];
    char m[200];
    if (!e) return bad(err, p, "", "missing definition");
#define BAD(field, msg) bad(err, p, field, msg)
    if (!name_ok(e->id)) return BAD("id", "must be 1 to 128 bytes");
    if (!name_ok(e->salt)) return BAD("salt", "must be 1 to 128 bytes (e.g. the experiment id plus a version)");
    if (e->layer && e->layer[0]) {
        if (!name_ok(e->layer)) return BAD("layer", "must be at most 128 bytes");
        if (strcmp(e->layer, e->salt) == 0)
            return BAD("salt", "must differ from the layer name (same hash would skew the arms)");
        if (e->layer_end > TL_ASSIGN_BUCKETS) return BAD("layer_end", "must be at most 10000");
        if (e->layer_start >= e->layer_end) return BAD("layer_start", "must be below layer_end");
    }
    if (e->n_arms < 2 || e->n_arms > TL_ASSIGN_ARMS_MAX || !e->arms)
        return BAD("arms", "need 2 to 16 arms (control first)");
    double sum = 0;
    for (size_t i = 0; i < e->n_arms; i++) {
        const struct tl_assign_arm_def *a = &e->arms[i];
        if (!name_ok(a->name)) {
            snprintf(f, sizeof f, "arms[%zu].name", i);
            return BAD(f, "must be 1 to 128 bytes");
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(e->arms[j].name, a->name) == 0) {
                snprintf(f, sizeof f, "arms[%zu].name", i);
                snprintf(m, sizeof m, "duplicate arm name \"%.128s\" (also arms[%zu])", a->name, j);
                return bad(err, p, f, m);
            }
        if (!(a->share > 0 && a->share <= 1)) {
            snprintf(f, sizeof f, "arms[%zu].share", i);
            return BAD(f, "share must be in (0, 1]");
        }
        sum += a->share;
    }
    if (sum > 1.0 + 1e-9) return BAD("arms", "shares sum to more than 1");
    for (size_t i = 0; i < e->n_arms; i++)
        if (arm_end(e, i) <= (i ? arm_end(e, i - 1) : 0)) {
            snprintf(f, sizeof f, "arms[%zu].share", i);
            return BAD(f, "share rounds to no bucket (resolution is 0.0001 of traffic)");
        }
    if (e->n_page_types > TL_ASSIGN_TARGETS_MAX || (e->n_page_types && !e->page_types))
        return BAD("page_types", "at most 64 page types");
    for (size_t i = 0; i < e->n_page_types; i++) {
        const char *s = e->page_types[i];
        if (!s || !s[0] || strnlen(s, TL_ASSIGN_PAGE_TYPE_MAX + 1) > TL_ASSIGN_PAGE_TYPE_MAX) {
            snprintf(f, sizeof f, "page_types[%zu]", i);
            return BAD(f, "must be 1 to 64 bytes");
        }
    }
    if (e->n_countries > TL_ASSIGN_TARGETS_MAX || (e->n_countries && !e->countries))
        return BAD("countries", "at most 64 countries");
    for (size_t i = 0; i < e->n_countries; i++) {
        const char *s = e->countries[i];
        int ok = s && strlen(s) == 2;
        for (int k = 0; ok && k < 2; k++) ok = (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= 'a' && s[k] <= 'z');
        if (!ok) {
            snprintf(f, sizeof f, "countries[%zu]", i);
            return BAD(f, "must be an ISO 3166-1 alpha-2 code such as \"DE\"");
        }
    }
    if (e->audience != TL_ASSIGN_ALL && e->audience != TL_ASSIGN_NEW_ONLY && e->audience != TL_ASSIGN_RETURNING_ONLY)
        return BAD("audience", "must be all, new or returning");
    if (e->status != TL_ASSIGN_DRAFT && e->status != TL_ASSIGN_RUNNING && e->status != TL_ASSIGN_STOPPED)
        return BAD("status", "must be draft, running or stopped");
    if (e->start_ms < 0) return BAD("start_ms", "must be >= 0 (0 = no start bound)");
    if (e->stop_ms < 0) return BAD("stop_ms", "must be >= 0 (0 = no stop bound)");
    if (e->start_ms && e->stop_ms && e->stop_ms <= e->start_ms) return BAD("stop_ms", "must be after start_ms");
#undef BAD
    return TL_OK;
}

enum tl_rc tl_assign_validate(const struct tl_assign_exp *exp, struct tl_err *err) { return validate(exp, "", err); }

enum tl_rc tl_assign_validate_set(const struct tl_assign_exp *exps, size_t n, struct tl_err *err)
{
    char p[48], m[200];
    if (n && !exps) return tl_err_set(err, TL_EINVAL, "experiments", "experiments: array is NULL");
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "experiments[%zu].", i);
        enum tl_rc rc = validate(&exps[i], p, err);
        if (rc != TL_OK) return rc;
        for (size_t j = 0; j < i; j++) {
            const struct tl_assign_exp *a = &exps[j], *b = &exps[i];
            if (strcmp(a->id, b->id) == 0) {
                snprintf(m, sizeof m, "duplicate id \"%.128s\" (also experiments[%zu])", b->id, j);
                return bad(err, p, "id", m);
            }
            if (strcmp(a->salt, b->salt) == 0) {
                snprintf(m, sizeof m, "salt reused from experiments[%zu]: assignments would correlate", j);
                return bad(err, p, "salt", m);
            }
            if (has_layer(a) && has_layer(b) && strcmp(a->layer, b->layer) == 0 && a->layer_start < b->layer_end &&
                b->layer_start < a->layer_end) {
                snprintf(m, sizeof m, "layer range overlaps experiments[%zu] in layer \"%.128s\"", j, b->layer);
                return bad(err, p, "layer_start", m);
            }
        }
    }
    return TL_OK;
}
