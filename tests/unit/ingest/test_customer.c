/* Tests for src/ingest/customer.c: customer validation. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "ingest/customer.h"

#define NOW 1714600000000LL

static json_t *cur;
static struct tl_customer c;
static struct tl_err err;

static enum tl_rc val(const char *sq)
{
    if (cur) json_decref(cur);
    char *s = tl_strdup(sq);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    json_error_t je;
    cur = json_loads(s, JSON_ALLOW_NUL, &je);
    if (!cur) cr_log_error("test JSON does not parse: %s: %s", je.text, s);
    tl_free(s);
    cr_assert_not_null(cur);
    tl_err_clear(&err);
    return tl_customer_from_json(cur, NOW, &c, &err);
}

static void bad(const char *sq, const char *field, const char *needle)
{
    enum tl_rc rc = val(sq);
    cr_assert_eq(rc, TL_EINVAL, "expected TL_EINVAL for %s, got %d", sq, rc);
    cr_assert_str_eq(err.field, field, "field for %s: got '%s' (%s)", sq, err.field, err.msg);
    if (needle) cr_assert(strstr(err.msg, needle), "message for %s lacks '%s': %s", sq, needle, err.msg);
}

static void fini(void)
{
    if (cur) json_decref(cur);
    cur = NULL;
}

TestSuite(ingest_customer, .fini = fini);

Test(ingest_customer, full)
{
    cr_assert_eq(val("{'id':'c1','email':'ann.lee+shop@example.co.uk','name':'Ann Lee','country':'gb',"
                     "'consent':{'email':true,'personalization':false},'member_tier':'gold',"
                     "'created_at':'2023-02-03T04:05:06Z','extra':1}"),
                 TL_OK, "%s", err.msg);
    cr_assert_str_eq(c.id, "c1");
    cr_assert_str_eq(c.email, "ann.lee+shop@example.co.uk");
    cr_assert_str_eq(c.name, "Ann Lee");
    cr_assert_str_eq(c.country, "GB");
    cr_assert_eq(c.consent_email, 1);
    cr_assert_eq(c.consent_personalization, 0);
    cr_assert_str_eq(c.member_tier, "gold");
    int64_t t;
    tl_time_parse("2023-02-03T04:05:06Z", &t);
    cr_assert_eq(c.created_ms, t);
    cr_assert_eq(c.updated_ms, NOW);
}

Test(ingest_customer, defaults_and_int_id)
{
    cr_assert_eq(val("{'id':17850}"), TL_OK);
    cr_assert_str_eq(c.id, "17850");
    cr_assert_null(c.email);
    cr_assert_null(c.name);
    cr_assert_null(c.country);
    cr_assert_null(c.member_tier);
    cr_assert_eq(c.consent_email, -1);
    cr_assert_eq(c.consent_personalization, -1);
    cr_assert_eq(c.created_ms, NOW);
}

Test(ingest_customer, id_rules)
{
    bad("{'email':'a@b.co'}", "id", "required");
    bad("{'id':''}", "id", "empty");
    bad("{'id':true}", "id", "got boolean");
    bad("{'id':'x\\u001f'}", "id", "control");
    cr_assert_eq(val("{'id':'客户-1'}"), TL_OK);
}

Test(ingest_customer, email_shapes)
{
    const char *good[] = {"a@b.co", "first.last@sub.example.com", "x+tag@example.org", "用户@例子.中国"};
    char b[200];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        snprintf(b, sizeof b, "{'id':'c','email':'%s'}", good[i]);
        cr_assert_eq(val(b), TL_OK, "%s: %s", good[i], err.msg);
    }
    const char *badv[] = {"plain",   "@example.com", "a@",      "a@b",      "a@@b.co", "a@b@c.co",
                          "a@.b.co", "a@b.co.",      "a@b..co", "a b@c.co", "a@b .co", ""};
    for (size_t i = 0; i < sizeof badv / sizeof *badv; i++) {
        snprintf(b, sizeof b, "{'id':'c','email':'%s'}", badv[i]);
        if (!*badv[i]) {
            cr_assert_eq(val(b), TL_OK, "empty optional email = absent");
            cr_assert_null(c.email);
            continue;
        }
        bad(b, "email", NULL);
    }
    char local[80];
    memset(local, 'l', 65);
    local[65] = 0;
    snprintf(b, sizeof b, "{'id':'c','email':'%s@example.com'}", local);
    bad(b, "email", "before '@'");
    bad("{'id':'c','email':42}", "email", "got number");
    bad("{'id':'c','email':'a\\n@b.co'}", "email", "control");
}

Test(ingest_customer, other_fields)
{
    bad("{'id':'c','name':'Ann\\u0000'}", "name", NULL);
    bad("{'id':'c','name':['Ann']}", "name", "got array");
    bad("{'id':'c','country':'GBR'}", "country", "2-letter");
    bad("{'id':'c','member_tier':7}", "member_tier", "got number");
    bad("{'id':'c','created_at':1.5}", "created_at", "fraction");
    char n[TL_CUSTOMER_NAME_MAX + 2], b[400];
    memset(n, 'n', sizeof n);
    n[TL_CUSTOMER_NAME_MAX + 1] = 0;
    snprintf(b, sizeof b, "{'id':'c','name':'%s'}", n);
    bad(b, "name", "at most 200");
}

Test(ingest_customer, consent_forms)
{
    cr_assert_eq(val("{'id':'c','consent_email':false,'consent_personalization':true}"), TL_OK);
    cr_assert_eq(c.consent_email, 0);
    cr_assert_eq(c.consent_personalization, 1);
    cr_assert_eq(val("{'id':'c','consent':{'email':true}}"), TL_OK);
    cr_assert_eq(c.consent_email, 1);
    cr_assert_eq(c.consent_personalization, -1);
    cr_assert_eq(val("{'id':'c','consent':{'email':true},'consent_email':true,'consent_personalization':false}"), TL_OK,
                 "agreeing forms");
    cr_assert_eq(c.consent_personalization, 0);
    cr_assert_eq(val("{'id':'c','consent':null,'consent_email':null}"), TL_OK);
    cr_assert_eq(c.consent_email, -1);
    bad("{'id':'c','consent':{'email':true},'consent_email':false}", "consent_email", "contradicts");
    bad("{'id':'c','consent':{'personalization':false},'consent_personalization':true}", "consent_personalization",
        "contradicts");
    bad("{'id':'c','consent':true}", "consent", "must be an object");
    bad("{'id':'c','consent':{'email':'yes'}}", "consent.email", "got string");
    bad("{'id':'c','consent':{'personalization':1}}", "consent.personalization", "got number");
    bad("{'id':'c','consent_email':'true'}", "consent_email", "true or false");
}

Test(ingest_customer, not_an_object)
{
    json_t *a = json_array();
    cr_assert_eq(tl_customer_from_json(a, NOW, &c, &err), TL_EINVAL);
    cr_assert(strstr(err.msg, "got array"), "%s", err.msg);
    json_decref(a);
}
