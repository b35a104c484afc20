/* Tests for src/http/router.c: route matching, method handling (405 /
 * preflight / HEAD), path parameters, Allow strings and the strict query
 * parsers (limit, partial). */
#include <criterion/criterion.h>
#include <string.h>

#include "http/router.h"

static enum tl_http_match_kind match(const char *method, const char *path, struct tl_http_match *m)
{
    return tl_http_route_match(method, path, m);
}

Test(router, exact_routes_and_ops)
{
    struct tl_http_match m;
    cr_assert_eq(match("POST", "/v1/events", &m), TL_HTTP_MATCH_OK);
    cr_assert_eq(m.route, TL_HTTP_ROUTE_EVENTS);
    cr_assert_eq(m.op, TL_HTTP_OP_EVENTS_POST);
    cr_assert_eq(m.auth, TL_HTTP_AUTH_PUBLIC);
    cr_assert(m.cors);
    cr_assert_str_eq(m.pattern, "/v1/events");

    cr_assert_eq(match("PUT", "/v1/items", &m), TL_HTTP_MATCH_OK);
    cr_assert_eq(m.op, TL_HTTP_OP_ITEMS_PUT);
    cr_assert_eq(m.auth, TL_HTTP_AUTH_SECRET);
    cr_assert_not(m.cors);

    cr_assert_eq(match("POST", "/v1/identify", &m), TL_HTTP_MATCH_OK);
    cr_assert_eq(m.op, TL_HTTP_OP_IDENTIFY_POST);
    cr_assert(m.cors);
    cr_assert_eq(match("GET", "/v1/recommendations", &m), TL_HTTP_MATCH_OK);
    cr_assert_eq(m.op, TL_HTTP_OP_RECS_GET);
    cr_assert_eq(m.auth, TL_HTTP_AUTH_PUBLIC);
    cr_assert_eq(match("GET", "/v1/admin/stats", &m), TL_HTTP_MATCH_OK);
    cr_assert_eq(m.auth, TL_HTTP_AUTH_SECRET);
    cr_assert_eq(match("GET", "/healthz", &m), TL_HTTP_MATCH_OK);
    cr_assert_eq(m.auth, TL_HTTP_AUTH_NONE);
    cr_assert_eq(match("GET", "/metrics", &m), TL_HTTP_MATCH_OK);
    cr_assert_eq(m.op, TL_HTTP_OP_METRICS_GET);
}

Test(router, path_params)
{
    struct tl_http_match m;
    cr_assert_eq(match("GET", "/v1/items/sku-1", &m), TL_HTTP_MATCH_OK);
    cr_assert_eq(m.op, TL_HTTP_OP_ITEM_GET);
    cr_assert_str_eq(m.param, "sku-1");
    cr_assert_str_eq(m.pattern, "/v1/items/{id}");
    cr_assert_eq(match("DELETE", "/v1/items/a b", &m), TL_HTTP_MATCH_OK);
    cr_assert_eq(m.op, TL_HTTP_OP_ITEM_DELETE);
    cr_assert_str_eq(m.param, "a b");

    cr_assert_eq(match("GET", "/v1/users/u42/profile", &m), TL_HTTP_MATCH_OK);
    cr_assert_eq(m.op, TL_HTTP_OP_PROFILE_GET);
    cr_assert_str_eq(m.param, "u42");
    cr_assert_eq(m.auth, TL_HTTP_AUTH_SECRET);

    /* empty segment, extra segments, missing suffix */
    cr_assert_eq(match("GET", "/v1/items/", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("GET", "/v1/items/a/b", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("GET", "/v1/users//profile", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("GET", "/v1/users/u1", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("GET", "/v1/users/u1/profile/x", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("GET", "/v1/users/a/b/profile", &m), TL_HTTP_MATCH_NOT_FOUND);
}

Test(router, long_param_flagged)
{
    struct tl_http_match m;
    char path[400];
    strcpy(path, "/v1/items/");
    memset(path + 10, 'x', 200);
    path[210] = '\0';
    cr_assert_eq(match("GET", path, &m), TL_HTTP_MATCH_OK);
    cr_assert(m.param_too_long);
    cr_assert_eq(strlen(m.param), TL_HTTP_PARAM_MAX);

    path[10 + TL_HTTP_PARAM_MAX] = '\0'; /* exactly the maximum is fine */
    cr_assert_eq(match("GET", path, &m), TL_HTTP_MATCH_OK);
    cr_assert_not(m.param_too_long);
}

Test(router, unknown_paths)
{
    struct tl_http_match m;
    cr_assert_eq(match("GET", "/", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(m.route, TL_HTTP_ROUTE_NONE);
    cr_assert_str_eq(m.pattern, "unmatched");
    cr_assert_eq(match("GET", "/v1/event", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("POST", "/v1/events/", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("GET", "/V1/EVENTS", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("GET", "", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("GET", "v1/events", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("GET", NULL, &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("GET", "/demox", &m), TL_HTTP_MATCH_NOT_FOUND);
    cr_assert_eq(match("GET", "/tailor.jsx", &m), TL_HTTP_MATCH_NOT_FOUND);
}

Test(router, wrong_method_gives_allow)
{
    struct tl_http_match m;
    char allow[64];
    cr_assert_eq(match("GET", "/v1/events", &m), TL_HTTP_MATCH_BAD_METHOD);
    cr_assert_eq(m.op, TL_HTTP_OP_NONE);
    tl_http_allow_str(m.allow, allow, sizeof allow);
    cr_assert_str_eq(allow, "POST, OPTIONS");

    cr_assert_eq(match("PUT", "/v1/items/x", &m), TL_HTTP_MATCH_BAD_METHOD);
    tl_http_allow_str(m.allow, allow, sizeof allow);
    cr_assert_str_eq(allow, "GET, HEAD, DELETE, OPTIONS");

    cr_assert_eq(match("PATCH", "/v1/items", &m), TL_HTTP_MATCH_BAD_METHOD);
    cr_assert_eq(match("BREW", "/healthz", &m), TL_HTTP_MATCH_BAD_METHOD);
    cr_assert_eq(match(NULL, "/healthz", &m), TL_HTTP_MATCH_BAD_METHOD);
}

Test(router, head_and_options)
{
    struct tl_http_match m;
    cr_assert_eq(match("HEAD", "/healthz", &m), TL_HTTP_MATCH_OK);
    cr_assert_eq(m.op, TL_HTTP_OP_HEALTHZ_GET);
    cr_assert_eq(match("HEAD", "/v1/events", &m), TL_HTTP_MATCH_BAD_METHOD);
    cr_assert_eq(match("OPTIONS", "/v1/events", &m), TL_HTTP_MATCH_PREFLIGHT);
    cr_assert(m.cors);
    cr_assert_eq(match("OPTIONS", "/v1/recommendations", &m), TL_HTTP_MATCH_PREFLIGHT);
    cr_assert(m.allow & TL_HTTP_GET);
    cr_assert_eq(match("OPTIONS", "/v1/items", &m), TL_HTTP_MATCH_PREFLIGHT);
    cr_assert_not(m.cors);
    cr_assert_eq(match("OPTIONS", "/nope", &m), TL_HTTP_MATCH_NOT_FOUND);
}

Test(router, static_paths)
{
    struct tl_http_match m;
    const char *ok[] = {"/tailor.js", "/demo", "/demo/", "/demo/index.html", "/dashboard/app.js", "/dashboard"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cr_assert_eq(match("GET", ok[i], &m), TL_HTTP_MATCH_OK, "%s", ok[i]);
        cr_assert_eq(m.op, TL_HTTP_OP_STATIC_GET);
        cr_assert_eq(m.auth, TL_HTTP_AUTH_NONE);
        cr_assert_str_eq(m.pattern, "/static");
    }
    cr_assert_eq(match("POST", "/demo/x", &m), TL_HTTP_MATCH_BAD_METHOD);
}

Test(router, method_bits_and_patterns)
{
    cr_assert_eq(tl_http_method_bit("GET"), TL_HTTP_GET);
    cr_assert_eq(tl_http_method_bit("DELETE"), TL_HTTP_DELETE);
    cr_assert_eq(tl_http_method_bit("get"), 0);
    cr_assert_eq(tl_http_method_bit(NULL), 0);
    cr_assert_str_eq(tl_http_route_pattern(TL_HTTP_ROUTE_USER_PROFILE), "/v1/users/{id}/profile");
    cr_assert_str_eq(tl_http_route_pattern((enum tl_http_route_id)999), "unmatched");
    char small[8];
    tl_http_allow_str(TL_HTTP_GET | TL_HTTP_HEAD | TL_HTTP_OPTIONS, small, sizeof small);
    cr_assert_str_eq(small, "GET"); /* truncation keeps whole names only */
}

Test(query, limit)
{
    struct tl_err err;
    long v = -1;
    tl_err_clear(&err);
    cr_assert_eq(tl_http_parse_int(NULL, "limit", 1, 100, 10, &v, &err), TL_OK);
    cr_assert_eq(v, 10);
    cr_assert_eq(tl_http_parse_int("1", "limit", 1, 100, 10, &v, &err), TL_OK);
    cr_assert_eq(v, 1);
    cr_assert_eq(tl_http_parse_int("100", "limit", 1, 100, 10, &v, &err), TL_OK);
    cr_assert_eq(v, 100);
    const char *bad[] = {"0",  "101", "-1", "+5", " 5", "5 ", "5x", "", "abc", "1e2", "0x10", "99999999999999999999999",
                         "5.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_err_clear(&err);
        v = 77;
        cr_assert_eq(tl_http_parse_int(bad[i], "limit", 1, 100, 10, &v, &err), TL_EINVAL, "'%s'", bad[i]);
        cr_assert_str_eq(err.field, "limit");
        cr_assert(strstr(err.msg, "between 1 and 100"), "%s", err.msg);
        cr_assert_eq(v, 77, "output untouched on error");
    }
}

Test(query, partial_bool)
{
    struct tl_err err;
    int v = -1;
    tl_err_clear(&err);
    cr_assert_eq(tl_http_parse_bool(NULL, "partial", 0, &v, &err), TL_OK);
    cr_assert_eq(v, 0);
    cr_assert_eq(tl_http_parse_bool("true", "partial", 0, &v, &err), TL_OK);
    cr_assert_eq(v, 1);
    cr_assert_eq(tl_http_parse_bool("0", "partial", 1, &v, &err), TL_OK);
    cr_assert_eq(v, 0);
    cr_assert_eq(tl_http_parse_bool("yes", "partial", 0, &v, &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "partial");
    cr_assert_eq(tl_http_parse_bool("TRUE", "partial", 0, &v, &err), TL_EINVAL);
    cr_assert_eq(tl_http_parse_bool("", "partial", 0, &v, &err), TL_EINVAL);
}
