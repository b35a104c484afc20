/* Tests for src/engine/config.c: defaults; a JSON file overlays only the
 * keys it names; unknown keys, wrong types, out-of-range values, oversize
 * strings, a non-object top level, a missing file and malformed JSON are
 * errors that name the key (or the line and column). Config files are
 * written into a mkdtemp() directory that is removed afterwards. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/config.h"

static char dir[64], path[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tl_config_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/tailor.json", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

TestSuite(config, .init = setup, .fini = teardown);

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Load text over defaults; returns the rc and fills c and err. */
static enum tl_rc load(const char *text, struct tl_config *c, struct tl_err *err)
{
    write_file(text);
    tl_config_defaults(c);
    tl_err_clear(err);
    return tl_config_load(c, path, err);
}

static void expect_error(const char *text, const char *field, const char *msg_part)
{
    struct tl_config c;
    struct tl_err err;
    enum tl_rc rc = load(text, &c, &err);
    cr_assert_neq(rc, TL_OK, "accepted: %s", text);
    cr_assert_eq(err.rc, rc);
    cr_assert_str_eq(err.field, field, "for %s: field \"%s\", expected \"%s\"", text, err.field, field);
    if (msg_part)
        cr_assert_not_null(strstr(err.msg, msg_part), "for %s: message \"%s\" lacks \"%s\"", text, err.msg, msg_part);
}

Test(config, defaults)
{
    struct tl_config c;
    memset(&c, 0x55, sizeof c);
    tl_config_defaults(&c);
    cr_assert_str_eq(c.db_path, "tailor.db");
    cr_assert_str_eq(c.bind, "127.0.0.1");
    cr_assert_eq(c.port, 8080);
    cr_assert_eq(c.http_threads, 0);
    cr_assert_eq(c.max_body_bytes, 32u << 20);
    cr_assert_eq(c.request_timeout_s, 30);
    cr_assert_eq(c.max_connections, 1024);
    cr_assert_eq(c.writer_queue_max, 200000);
    cr_assert_eq(c.sync_full, 1);
    cr_assert_eq(c.profiles_max, 100000);
    cr_assert_float_eq(c.affinity_half_life_days, 14, 1e-12);
    cr_assert_eq(c.session_timeout_min, 30);
    cr_assert_eq(c.checkpoint_interval_ms, 5000);
    cr_assert_float_eq(c.popular_half_life_days, 30, 1e-12);
    cr_assert_float_eq(c.trending_short_days, 3, 1e-12);
    cr_assert_float_eq(c.trending_long_days, 28, 1e-12);
    cr_assert_float_eq(c.trending_country_min, 30, 1e-12);
    cr_assert_str_eq(c.cors_origin, "*");
    cr_assert_str_eq(c.web_root, "web");
}

Test(config, empty_object_changes_nothing)
{
    struct tl_config c, d;
    struct tl_err err;
    cr_assert_eq(load("{}", &c, &err), TL_OK);
    tl_config_defaults(&d);
    cr_assert_eq(memcmp(&c, &d, sizeof c), 0);
}

Test(config, file_overlays_named_keys_only)
{
    struct tl_config c;
    struct tl_err err;
    enum tl_rc rc = load("{\n"
                         "  \"db_path\": \"/var/lib/tailor/shop.db\",\n"
                         "  \"port\": 9090,\n"
                         "  \"sync_full\": false,\n"
                         "  \"max_body_bytes\": 1048576,\n"
                         "  \"checkpoint_interval_ms\": 60000,\n"
                         "  \"affinity_half_life_days\": 7.5,\n"
                         "  \"popular_half_life_days\": 10,\n"
                         "  \"cors_origin\": \"https://shop.example\"\n"
                         "}\n",
                         &c, &err);
    cr_assert_eq(rc, TL_OK, "%s", err.msg);
    cr_assert_str_eq(c.db_path, "/var/lib/tailor/shop.db");
    cr_assert_eq(c.port, 9090);
    cr_assert_eq(c.sync_full, 0);
    cr_assert_eq(c.max_body_bytes, 1048576);
    cr_assert_eq(c.checkpoint_interval_ms, 60000);
    cr_assert_float_eq(c.affinity_half_life_days, 7.5, 1e-12);
    cr_assert_float_eq(c.popular_half_life_days, 10, 1e-12, "an integer is accepted for a real setting");
    cr_assert_str_eq(c.cors_origin, "https://shop.example");
    /* untouched */
    cr_assert_str_eq(c.bind, "127.0.0.1");
    cr_assert_eq(c.max_connections, 1024);
    cr_assert_eq(c.writer_queue_max, 200000);
    cr_assert_str_eq(c.web_root, "web");
}

Test(config, overlay_applies_over_existing_values)
{
    /* A second file overlays the result of the first, not the defaults. */
    struct tl_config c;
    struct tl_err err;
    cr_assert_eq(load("{\"port\": 1234, \"bind\": \"0.0.0.0\"}", &c, &err), TL_OK);
    write_file("{\"port\": 4321}");
    cr_assert_eq(tl_config_load(&c, path, &err), TL_OK);
    cr_assert_eq(c.port, 4321);
    cr_assert_str_eq(c.bind, "0.0.0.0");
}

Test(config, range_boundaries_accepted)
{
    struct tl_config c;
    struct tl_err err;
    cr_assert_eq(load("{\"port\": 1, \"http_threads\": 0, \"max_body_bytes\": 1024,"
                      " \"writer_queue_max\": 1000, \"profiles_max\": 16, \"session_timeout_min\": 1440,"
                      " \"trending_country_min\": 0}",
                      &c, &err),
                 TL_OK, "%s", err.msg);
    cr_assert_eq(c.port, 1);
    cr_assert_eq(c.session_timeout_min, 1440);
    cr_assert_eq(load("{\"port\": 65535, \"http_threads\": 256}", &c, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(c.port, 65535);
}

Test(config, unknown_key_is_named)
{
    expect_error("{\"prot\": 8080}", "prot", "prot");
    expect_error("{\"port\": 8080, \"db\": \"x\"}", "db", "unknown");
    expect_error("{\"PORT\": 8080}", "PORT", NULL);
}

Test(config, wrong_types_are_named)
{
    expect_error("{\"port\": \"8080\"}", "port", "integer");
    expect_error("{\"port\": 80.5}", "port", "integer");
    expect_error("{\"port\": true}", "port", NULL);
    expect_error("{\"port\": null}", "port", NULL);
    expect_error("{\"sync_full\": 1}", "sync_full", "true or false");
    expect_error("{\"sync_full\": \"yes\"}", "sync_full", NULL);
    expect_error("{\"db_path\": 5}", "db_path", "string");
    expect_error("{\"bind\": [\"127.0.0.1\"]}", "bind", "string");
    expect_error("{\"affinity_half_life_days\": \"14\"}", "affinity_half_life_days", "number");
    expect_error("{\"profiles_max\": 1e5}", "profiles_max", "integer");
    expect_error("{\"checkpoint_interval_ms\": {}}", "checkpoint_interval_ms", NULL);
}

Test(config, out_of_range_is_named)
{
    expect_error("{\"port\": 0}", "port", "between");
    expect_error("{\"port\": 65536}", "port", "65535");
    expect_error("{\"port\": -1}", "port", NULL);
    expect_error("{\"http_threads\": 257}", "http_threads", NULL);
    expect_error("{\"max_body_bytes\": 1023}", "max_body_bytes", NULL);
    expect_error("{\"max_body_bytes\": 2147483648}", "max_body_bytes", NULL);
    expect_error("{\"writer_queue_max\": 999}", "writer_queue_max", NULL);
    expect_error("{\"profiles_max\": -5}", "profiles_max", NULL);
    expect_error("{\"affinity_half_life_days\": 0}", "affinity_half_life_days", NULL);
    expect_error("{\"affinity_half_life_days\": -14}", "affinity_half_life_days", NULL);
    expect_error("{\"checkpoint_interval_ms\": 99}", "checkpoint_interval_ms", NULL);
    expect_error("{\"session_timeout_min\": 1441}", "session_timeout_min", NULL);
    /* Far outside the int range: must not wrap into range. */
    expect_error("{\"port\": 4294975488}", "port", NULL);
    expect_error("{\"request_timeout_s\": 9223372036854775807}", "request_timeout_s", NULL);
}

Test(config, oversize_string_is_refused)
{
    char text[1200];
    char big[1000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(text, sizeof text, "{\"db_path\": \"%s\"}", big);
    expect_error(text, "db_path", "511");
    /* bind is char[64]: 64 bytes are refused, 63 (+ NUL) fit exactly. */
    big[64] = '\0';
    snprintf(text, sizeof text, "{\"bind\": \"%s\"}", big);
    expect_error(text, "bind", "63");
    big[63] = '\0';
    snprintf(text, sizeof text, "{\"bind\": \"%s\"}", big);
    struct tl_config c;
    struct tl_err err;
    cr_assert_eq(load(text, &c, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(strlen(c.bind), 63);
}

Test(config, top_level_must_be_object)
{
    struct tl_config c;
    struct tl_err err;
    cr_assert_eq(load("[1, 2]", &c, &err), TL_EINVAL);
    cr_assert_not_null(strstr(err.msg, "object"), "%s", err.msg);
    cr_assert_neq(load("42", &c, &err), TL_OK);
}

Test(config, malformed_json_reports_line_and_column)
{
    struct tl_config c;
    struct tl_err err;
    enum tl_rc rc = load("{\n  \"port\": 8080,\n  \"bind\": \"x\"\n  \"cors_origin\": \"*\"\n}\n", &c, &err);
    cr_assert_eq(rc, TL_EPARSE);
    cr_assert_not_null(strstr(err.msg, "line 4"), "message lacks the line: %s", err.msg);
    cr_assert_not_null(strstr(err.msg, "column"), "message lacks the column: %s", err.msg);
    cr_assert_not_null(strstr(err.msg, path), "message lacks the file name: %s", err.msg);
    cr_assert_eq(c.port, 8080, "nothing applied from a malformed file");

    cr_assert_eq(load("{\"port\": 8080,}", &c, &err), TL_EPARSE, "trailing comma");
    cr_assert_not_null(strstr(err.msg, "line 1"), "%s", err.msg);
    cr_assert_eq(load("", &c, &err), TL_EPARSE, "empty file");
    cr_assert_eq(load("{\"port\": 8080", &c, &err), TL_EPARSE, "truncated");
    cr_assert_eq(load("{\"port\": 8080} {}", &c, &err), TL_EPARSE, "trailing data");
}

Test(config, malformed_json_fills_err_line_and_column)
{
    /* err.h: line and column are the 1-based position in an input file. */
    struct tl_config c;
    struct tl_err err;
    cr_assert_eq(load("{\n  \"port\": 8080,\n  \"bind\": \"x\"\n  \"cors_origin\": \"*\"\n}\n", &c, &err), TL_EPARSE);
    cr_assert_eq(err.line, 4, "err.line = %ld (message: %s)", err.line, err.msg);
    cr_assert_gt(err.column, 0, "err.column = %ld", err.column);
}

Test(config, missing_file_is_an_error_naming_it)
{
    struct tl_config c;
    struct tl_err err;
    tl_config_defaults(&c);
    tl_err_clear(&err);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/does-not-exist.json", dir);
    enum tl_rc rc = tl_config_load(&c, missing, &err);
    cr_assert_neq(rc, TL_OK);
    cr_assert_not_null(strstr(err.msg, "does-not-exist.json"), "%s", err.msg);
    cr_assert_eq(c.port, 8080);
}

Test(config, model_settings)
{
    struct tl_config c;
    struct tl_err err;
    cr_assert_eq(load("{\"for_you_blend\": \"ials:2,sknn:0.5\", \"train_interval_s\": 0, \"model_params\": "
                      "\"ials.factors=32\", \"merch_rules\": [{\"action\": \"pin\", \"item\": \"a\"}]}",
                      &c, &err),
                 TL_OK, "%s", err.msg);
    cr_assert_str_eq(c.for_you_blend, "ials:2,sknn:0.5");
    cr_assert_eq(c.train_interval_s, 0);
    cr_assert_str_eq(c.model_params, "ials.factors=32");
    cr_assert_str_eq(c.merch_rules, "[{\"action\":\"pin\",\"item\":\"a\"}]");
    expect_error("{\"for_you_blend\": \"ials:x\"}", "for_you_blend", "source:weight");
    expect_error("{\"similar_blend\": \"\"}", "similar_blend", NULL);
    expect_error("{\"cart_blend\": \"Arules:1\"}", "cart_blend", NULL);
    expect_error("{\"for_you_blend\": \"ials:-1\"}", "for_you_blend", NULL);
    expect_error("{\"merch_rules\": [{\"action\": \"pin\", \"tag\": \"a\"}]}", "merch_rules[0].item", "pin");
    expect_error("{\"merch_rules\": {}}", "merch_rules", "array");
    expect_error("{\"demote_factor\": 2}", "demote_factor", NULL);
}
