/* HTTP routing table and strict query-value parsers (see router.h).
 *
 * Algorithm: a linear scan over a static table of about ten routes (each a
 * string compare or a prefix/suffix compare), cheaper than any hash at this
 * size. Kinds of pattern:
 *   EXACT   the path equals the pattern;
 *   PARAM   the path is prefix + one non-empty segment without '/' + suffix
 *           ("/v1/items/" + id + "", "/v1/users/" + id + "/profile");
 *   STATIC  "/tailor.js", or "/demo" / "/dashboard" and anything below them
 *           (the static handler does the path safety checks).
 * Invariants: route ids are dense and equal to their table index, so
 * table[id].id == id; the first route in table order that matches a path
 * wins (/v1/experiments/assignments comes before /v1/experiments/{id};
 * otherwise a path matches at most one route). */
#include "http/router.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum pat_kind { PAT_EXACT, PAT_PARAM, PAT_STATIC };

struct route_method {
    unsigned method; /* one TL_HTTP_* bit (GET also admits HEAD) */
    enum tl_http_op op;
    enum tl_http_auth auth;
};

#define ROUTE_METHODS_MAX 3

struct route {
    enum tl_http_route_id id;
    const char *pattern;
    enum pat_kind kind;
    const char *prefix; /* PAT_PARAM */
    const char *suffix; /* PAT_PARAM */
    int cors;
    struct route_method methods[ROUTE_METHODS_MAX];
};

static const struct route routes[TL_HTTP_ROUTE_COUNT] = {
    [TL_HTTP_ROUTE_NONE] = {TL_HTTP_ROUTE_NONE, "unmatched", PAT_EXACT, NULL, NULL, 0, {{0}}},
    [TL_HTTP_ROUTE_EVENTS] = {TL_HTTP_ROUTE_EVENTS,
                              "/v1/events",
                              PAT_EXACT,
                              NULL,
                              NULL,
                              1,
                              {{TL_HTTP_POST, TL_HTTP_OP_EVENTS_POST, TL_HTTP_AUTH_PUBLIC}}},
    [TL_HTTP_ROUTE_ITEMS] = {TL_HTTP_ROUTE_ITEMS,
                             "/v1/items",
                             PAT_EXACT,
                             NULL,
                             NULL,
                             0,
                             {{TL_HTTP_PUT, TL_HTTP_OP_ITEMS_PUT, TL_HTTP_AUTH_SECRET}}},
    [TL_HTTP_ROUTE_ITEM] = {TL_HTTP_ROUTE_ITEM,
                            "/v1/items/{id}",
                            PAT_PARAM,
                            "/v1/items/",
                            "",
                            1,
                            {{TL_HTTP_GET, TL_HTTP_OP_ITEM_GET, TL_HTTP_AUTH_PUBLIC},
                             {TL_HTTP_DELETE, TL_HTTP_OP_ITEM_DELETE, TL_HTTP_AUTH_SECRET}}},
    [TL_HTTP_ROUTE_IDENTIFY] = {TL_HTTP_ROUTE_IDENTIFY,
                                "/v1/identify",
                                PAT_EXACT,
                                NULL,
                                NULL,
                                1,
                                {{TL_HTTP_POST, TL_HTTP_OP_IDENTIFY_POST, TL_HTTP_AUTH_PUBLIC}}},
    [TL_HTTP_ROUTE_USER_PROFILE] = {TL_HTTP_ROUTE_USER_PROFILE,
                                    "/v1/users/{id}/profile",
                                    PAT_PARAM,
                                    "/v1/users/",
                                    "/profile",
                                    0,
                                    {{TL_HTTP_GET, TL_HTTP_OP_PROFILE_GET, TL_HTTP_AUTH_SECRET}}},
    [TL_HTTP_ROUTE_RECS] = {TL_HTTP_ROUTE_RECS,
                            "/v1/recommendations",
                            PAT_EXACT,
                            NULL,
                            NULL,
                            1,
                            {{TL_HTTP_GET, TL_HTTP_OP_RECS_GET, TL_HTTP_AUTH_PUBLIC}}},
    [TL_HTTP_ROUTE_SEARCH] = {TL_HTTP_ROUTE_SEARCH,
                              "/v1/search",
                              PAT_EXACT,
                              NULL,
                              NULL,
                              1,
                              {{TL_HTTP_GET, TL_HTTP_OP_SEARCH_GET, TL_HTTP_AUTH_PUBLIC}}},
    [TL_HTTP_ROUTE_SEARCH_SUGGEST] = {TL_HTTP_ROUTE_SEARCH_SUGGEST,
                                      "/v1/search/suggest",
                                      PAT_EXACT,
                                      NULL,
                                      NULL,
                                      1,
                                      {{TL_HTTP_GET, TL_HTTP_OP_SUGGEST_GET, TL_HTTP_AUTH_PUBLIC}}},
    [TL_HTTP_ROUTE_BROWSE] = {TL_HTTP_ROUTE_BROWSE,
                              "/v1/browse",
                              PAT_EXACT,
                              NULL,
                              NULL,
                              1,
                              {{TL_HTTP_GET, TL_HTTP_OP_BROWSE_GET, TL_HTTP_AUTH_PUBLIC}}},
    [TL_HTTP_ROUTE_ADMIN_SEARCH] = {TL_HTTP_ROUTE_ADMIN_SEARCH,
                                    "/v1/admin/search",
                                    PAT_EXACT,
                                    NULL,
                                    NULL,
                                    0,
                                    {{TL_HTTP_GET, TL_HTTP_OP_SEARCH_REPORT_GET, TL_HTTP_AUTH_SECRET}}},
    [TL_HTTP_ROUTE_ADMIN_KPIS] = {TL_HTTP_ROUTE_ADMIN_KPIS,
                                  "/v1/admin/kpis",
                                  PAT_EXACT,
                                  NULL,
                                  NULL,
                                  0,
                                  {{TL_HTTP_GET, TL_HTTP_OP_KPIS_GET, TL_HTTP_AUTH_SECRET}}},
    [TL_HTTP_ROUTE_ADMIN_SEASONAL] = {TL_HTTP_ROUTE_ADMIN_SEASONAL,
                                      "/v1/admin/seasonal",
                                      PAT_EXACT,
                                      NULL,
                                      NULL,
                                      0,
                                      {{TL_HTTP_GET, TL_HTTP_OP_SEASONAL_GET, TL_HTTP_AUTH_SECRET}}},
    [TL_HTTP_ROUTE_ADMIN_SEGMENTS] = {TL_HTTP_ROUTE_ADMIN_SEGMENTS,
                                      "/v1/admin/segments",
                                      PAT_EXACT,
                                      NULL,
                                      NULL,
                                      0,
                                      {{TL_HTTP_GET, TL_HTTP_OP_SEGMENTS_GET, TL_HTTP_AUTH_SECRET}}},
    [TL_HTTP_ROUTE_EXP_ASSIGN] = {TL_HTTP_ROUTE_EXP_ASSIGN,
                                  "/v1/experiments/assignments",
                                  PAT_EXACT,
                                  NULL,
                                  NULL,
                                  1,
                                  {{TL_HTTP_GET, TL_HTTP_OP_ASSIGN_GET, TL_HTTP_AUTH_PUBLIC}}},
    [TL_HTTP_ROUTE_EXPERIMENTS] = {TL_HTTP_ROUTE_EXPERIMENTS,
                                   "/v1/experiments",
                                   PAT_EXACT,
                                   NULL,
                                   NULL,
                                   0,
                                   {{TL_HTTP_GET, TL_HTTP_OP_EXPERIMENTS_GET, TL_HTTP_AUTH_SECRET}}},
    [TL_HTTP_ROUTE_EXPERIMENT] = {TL_HTTP_ROUTE_EXPERIMENT,
                                  "/v1/experiments/{id}",
                                  PAT_PARAM,
                                  "/v1/experiments/",
                                  "",
                                  0,
                                  {{TL_HTTP_GET, TL_HTTP_OP_EXPERIMENT_GET, TL_HTTP_AUTH_SECRET},
                                   {TL_HTTP_PUT, TL_HTTP_OP_EXPERIMENT_PUT, TL_HTTP_AUTH_SECRET},
                                   {TL_HTTP_DELETE, TL_HTTP_OP_EXPERIMENT_DELETE, TL_HTTP_AUTH_SECRET}}},
    [TL_HTTP_ROUTE_ADMIN_STATS] = {TL_HTTP_ROUTE_ADMIN_STATS,
                                   "/v1/admin/stats",
                                   PAT_EXACT,
                                   NULL,
                                   NULL,
                                   0,
                                   {{TL_HTTP_GET, TL_HTTP_OP_STATS_GET, TL_HTTP_AUTH_SECRET}}},
    [TL_HTTP_ROUTE_ADMIN_TRAIN] = {TL_HTTP_ROUTE_ADMIN_TRAIN,
                                   "/v1/admin/train",
                                   PAT_EXACT,
                                   NULL,
                                   NULL,
                                   0,
                                   {{TL_HTTP_GET, TL_HTTP_OP_TRAIN_GET, TL_HTTP_AUTH_SECRET},
                                    {TL_HTTP_POST, TL_HTTP_OP_TRAIN_POST, TL_HTTP_AUTH_SECRET}}},
    [TL_HTTP_ROUTE_HEALTHZ] = {TL_HTTP_ROUTE_HEALTHZ,
                               "/healthz",
                               PAT_EXACT,
                               NULL,
                               NULL,
                               0,
                               {{TL_HTTP_GET, TL_HTTP_OP_HEALTHZ_GET, TL_HTTP_AUTH_NONE}}},
    [TL_HTTP_ROUTE_METRICS] = {TL_HTTP_ROUTE_METRICS,
                               "/metrics",
                               PAT_EXACT,
                               NULL,
                               NULL,
                               0,
                               {{TL_HTTP_GET, TL_HTTP_OP_METRICS_GET, TL_HTTP_AUTH_NONE}}},
    [TL_HTTP_ROUTE_STATIC] = {TL_HTTP_ROUTE_STATIC,
                              "/static",
                              PAT_STATIC,
                              NULL,
                              NULL,
                              0,
                              {{TL_HTTP_GET, TL_HTTP_OP_STATIC_GET, TL_HTTP_AUTH_NONE}}},
};

unsigned tl_http_method_bit(const char *method)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"GET", TL_HTTP_GET}, {"HEAD", TL_HTTP_HEAD},     {"POST", TL_HTTP_POST},
                 {"PUT", TL_HTTP_PUT}, {"DELETE", TL_HTTP_DELETE}, {"OPTIONS", TL_HTTP_OPTIONS}};
    if (!method) return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(method, names[i].name) == 0) return names[i].bit;
    return 0;
}

void tl_http_allow_str(unsigned allow, char *out, size_t n)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"};
    size_t used = 0;
    if (n == 0) return;
    out[0] = '\0';
    for (unsigned i = 0; i < 6; i++) {
        if (!(allow & (1u << i))) continue;
        int w = snprintf(out + used, n - used, "%s%s", used ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= n - used) { /* does not fit: keep whole names only */
            out[used] = '\0';
            return;
        }
        used += (size_t)w;
    }
}

const char *tl_http_route_pattern(enum tl_http_route_id id)
{
    if ((unsigned)id >= TL_HTTP_ROUTE_COUNT) id = TL_HTTP_ROUTE_NONE;
    return routes[id].pattern;
}

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* Match path against r; on a PARAM match copy the segment into m. */
static int path_matches(const struct route *r, const char *path, struct tl_http_match *m)
{
    switch (r->kind) {
    case PAT_EXACT:
        return strcmp(path, r->pattern) == 0;
    case PAT_STATIC:
        return strcmp(path, "/tailor.js") == 0 || strcmp(path, "/demo") == 0 || has_prefix(path, "/demo/") ||
               strcmp(path, "/dashboard") == 0 || has_prefix(path, "/dashboard/");
    case PAT_PARAM: {
        size_t plen = strlen(r->prefix), slen = strlen(r->suffix), len = strlen(path);
        if (len <= plen + slen || strncmp(path, r->prefix, plen) != 0) return 0;
        if (strcmp(path + len - slen, r->suffix) != 0) return 0;
        const char *seg = path + plen;
        size_t seglen = len - plen - slen;
        if (memchr(seg, '/', seglen)) return 0;
        if (seglen > TL_HTTP_PARAM_MAX) {
            m->param_too_long = 1;
            seglen = TL_HTTP_PARAM_MAX;
        }
        memcpy(m->param, seg, seglen);
        m->param[seglen] = '\0';
        return 1;
    }
    }
    return 0;
}

enum tl_http_match_kind tl_http_route_match(const char *method, const char *path, struct tl_http_match *m)
{
    memset(m, 0, sizeof *m);
    m->route = TL_HTTP_ROUTE_NONE;
    m->pattern = routes[TL_HTTP_ROUTE_NONE].pattern;
    if (!path || path[0] != '/') return TL_HTTP_MATCH_NOT_FOUND;
    unsigned bit = tl_http_method_bit(method);
    for (unsigned i = 1; i < TL_HTTP_ROUTE_COUNT; i++) {
        const struct route *r = &routes[i];
        if (!path_matches(r, path, m)) continue;
        m->route = r->id;
        m->pattern = r->pattern;
        m->cors = r->cors;
        m->allow = TL_HTTP_OPTIONS;
        for (unsigned j = 0; j < ROUTE_METHODS_MAX && r->methods[j].method; j++) {
            unsigned mb = r->methods[j].method;
            m->allow |= mb | (mb == TL_HTTP_GET ? TL_HTTP_HEAD : 0u);
            if (bit == mb || (bit == TL_HTTP_HEAD && mb == TL_HTTP_GET)) {
                m->op = r->methods[j].op;
                m->auth = r->methods[j].auth;
            }
        }
        if (m->op != TL_HTTP_OP_NONE) return TL_HTTP_MATCH_OK;
        if (bit == TL_HTTP_OPTIONS) return TL_HTTP_MATCH_PREFLIGHT;
        return TL_HTTP_MATCH_BAD_METHOD;
    }
    return TL_HTTP_MATCH_NOT_FOUND;
}

enum tl_rc tl_http_parse_int(const char *s, const char *field, long lo, long hi, long def, long *out,
                             struct tl_err *err)
{
    if (!s) {
        *out = def;
        return TL_OK;
    }
    int ok = s[0] >= '0' && s[0] <= '9' && strlen(s) <= 18;
    long v = 0;
    if (ok) {
        char *end = NULL;
        errno = 0;
        v = strtol(s, &end, 10);
        ok = errno == 0 && end && *end == '\0';
    }
    if (!ok || v < lo || v > hi)
        return tl_err_set(err, TL_EINVAL, field, "%s must be an integer between %ld and %ld", field, lo, hi);
    *out = v;
    return TL_OK;
}

enum tl_rc tl_http_parse_price(const char *s, const char *field, double *out, struct tl_err *err)
{
    if (!s) {
        *out = NAN;
        return TL_OK;
    }
    size_t n = strlen(s), dots = 0, digits = 0;
    int ok = n > 0 && n <= 18;
    for (size_t i = 0; ok && i < n; i++) {
        if (s[i] == '.')
            dots++;
        else if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else
            ok = 0;
    }
    if (!ok || dots > 1 || digits == 0)
        return tl_err_set(err, TL_EINVAL, field, "%s must be a number >= 0 such as 9.99", field);
    *out = strtod(s, NULL);
    return TL_OK;
}

enum tl_rc tl_http_parse_bool(const char *s, const char *field, int def, int *out, struct tl_err *err)
{
    if (!s) {
        *out = def;
        return TL_OK;
    }
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = 1;
        return TL_OK;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = 0;
        return TL_OK;
    }
    return tl_err_set(err, TL_EINVAL, field, "%s must be true or false", field);
}
