/* Tests for src/ingest/event.c: event validation, canonical body, body
 * splitting (object / array / NDJSON) and the idempotency key. JSON in the
 * tests is written with single quotes and converted by js(). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/timeutil.h"
#include "ingest/event.h"

#define NOW 1714600000000LL /* 2024-05-01T21:46:40Z */

/* Parse JSON written with ' for " (no apostrophes inside strings). */
static json_t *js(const char *sq)
{
    char *s = tl_strdup(sq);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    json_error_t je;
    json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, &je);
    if (!o) cr_log_error("test JSON does not parse: %s: %s", je.text, s);
    tl_free(s);
    cr_assert_not_null(o);
    return o;
}

static struct tl_line lines[8];
static struct tl_event ev;
static struct tl_err err;
static json_t *cur;

/* Validate sq into ev/err; the object stays alive in cur until teardown. */
static enum tl_rc val(const char *sq)
{
    if (cur) json_decref(cur);
    cur = js(sq);
    tl_err_clear(&err);
    return tl_event_from_json(cur, NOW, &ev, lines, 8, &err);
}

static void teardown(void)
{
    if (cur) json_decref(cur);
    cur = NULL;
}

/* Expect rejection naming field, with msg containing needle (NULL = any). */
static void bad(const char *sq, const char *field, const char *needle)
{
    enum tl_rc rc = val(sq);
    cr_assert_eq(rc, TL_EINVAL, "expected TL_EINVAL for %s, got %d", sq, rc);
    cr_assert_eq(err.rc, TL_EINVAL);
    cr_assert_str_eq(err.field, field, "field for %s: got '%s' (%s)", sq, err.field, err.msg);
    if (needle) cr_assert(strstr(err.msg, needle), "message for %s lacks '%s': %s", sq, needle, err.msg);
}

TestSuite(ingest_event, .fini = teardown);

/* ---------- good events ---------- */

Test(ingest_event, product_view_all_fields)
{
    cr_assert_eq(val("{'type':'product_view','event_id':'e1','timestamp':'2024-05-01T10:00:00Z',"
                     "'user_id':'u1','anonymous_id':'a1','session_id':'s1','item_id':'SKU-1','country':'gb',"
                     "'dwell_ms':5400,'scroll_depth':0.62,'recommendation_id':'r9','context':{'url':'/p/1'},"
                     "'price':12.5,'category':'Home > Mugs','future_field':[1,2]}"),
                 TL_OK, "%s", err.msg);
    cr_assert_eq(ev.type, TL_EV_PRODUCT_VIEW);
    int64_t ts;
    tl_time_parse("2024-05-01T10:00:00Z", &ts);
    cr_assert_eq(ev.ts_ms, ts);
    cr_assert_str_eq(ev.event_id, "e1");
    cr_assert_str_eq(ev.user_id, "u1");
    cr_assert_str_eq(ev.anonymous_id, "a1");
    cr_assert_str_eq(ev.session_id, "s1");
    cr_assert_str_eq(ev.item_id, "SKU-1");
    cr_assert_str_eq(ev.country, "GB");
    cr_assert_str_eq(json_string_value(json_object_get(cur, "country")), "GB", "normalised in place");
    cr_assert_eq(ev.dwell_ms, 5400);
    cr_assert_float_eq(ev.scroll_depth, 0.62, 1e-12);
    cr_assert_str_eq(ev.recommendation_id, "r9");
    cr_assert_float_eq(ev.price, 12.5, 0);
    cr_assert(isnan(ev.quantity));
    cr_assert_str_eq(ev.category, "Home > Mugs");
    cr_assert_eq(ev.n_lines, 0);
    cr_assert_null(ev.lines);
    cr_assert_null(ev.body);
    cr_assert_eq(ev.shop_id, 0);
    /* borrowed, not copied */
    cr_assert_eq(ev.item_id, json_string_value(json_object_get(cur, "item_id")));
}

Test(ingest_event, minimal_page_view_defaults)
{
    cr_assert_eq(val("{'type':'page_view','anonymous_id':'a'}"), TL_OK, "%s", err.msg);
    cr_assert_eq(ev.ts_ms, NOW, "absent timestamp = now");
    cr_assert_null(ev.user_id);
    cr_assert_null(ev.item_id);
    cr_assert(isnan(ev.quantity));
    cr_assert(isnan(ev.price));
    cr_assert(isnan(ev.scroll_depth));
    cr_assert_eq(ev.dwell_ms, -1);
    cr_assert_null(ev.country);
}

Test(ingest_event, every_type_accepted_with_its_requirements)
{
    const char *ok[] = {
        "{'type':'page_view','user_id':'u'}",
        "{'type':'product_view','user_id':'u','item_id':'i'}",
        "{'type':'category_view','user_id':'u','category':'Mugs'}",
        "{'type':'search','user_id':'u','query':'red mug'}",
        "{'type':'add_to_cart','user_id':'u','item_id':'i'}",
        "{'type':'remove_from_cart','user_id':'u','item_id':'i','quantity':2}",
        "{'type':'checkout_start','user_id':'u'}",
        "{'type':'purchase','user_id':'u','items':[{'item_id':'i','quantity':1,'price':3}]}",
        "{'type':'recommendation_impression','user_id':'u'}",
        "{'type':'recommendation_click','user_id':'u','item_id':'i'}",
        "{'type':'return','user_id':'u','item_id':'i','quantity':1}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) cr_assert_eq(val(ok[i]), TL_OK, "%s: %s", ok[i], err.msg);
}

Test(ingest_event, null_means_absent)
{
    cr_assert_eq(val("{'type':'page_view','user_id':null,'anonymous_id':'a','country':null,'timestamp':null,"
                     "'dwell_ms':null,'context':null}"),
                 TL_OK, "%s", err.msg);
    cr_assert_null(ev.user_id);
    cr_assert_eq(ev.ts_ms, NOW);
}

Test(ingest_event, integer_ids_become_strings)
{
    cr_assert_eq(val("{'type':'add_to_cart','user_id':17850,'item_id':85123,'order_id':536365}"), TL_OK, "%s", err.msg);
    cr_assert_str_eq(ev.user_id, "17850");
    cr_assert_str_eq(ev.item_id, "85123");
    cr_assert_str_eq(ev.order_id, "536365");
    cr_assert_str_eq(json_string_value(json_object_get(cur, "item_id")), "85123");
    bad("{'type':'page_view','user_id':'u','event_id':42}", "event_id", "got number");
}

Test(ingest_event, unicode_ids_accepted)
{
    cr_assert_eq(val("{'type':'product_view','user_id':'用户-é-😀','item_id':'tasse-à-café'}"), TL_OK, "%s", err.msg);
    cr_assert_str_eq(ev.user_id, "用户-é-😀");
    cr_assert_str_eq(ev.item_id, "tasse-à-café");
}

/* ---------- type ---------- */

Test(ingest_event, type_rules)
{
    bad("{'user_id':'u'}", "type", "required");
    bad("{'type':3,'user_id':'u'}", "type", "got number");
    bad("{'type':'view','user_id':'u'}", "type", "unknown event type \"view\"");
    bad("{'type':'Product_View','user_id':'u'}", "type", "unknown");
    bad("{'type':'','user_id':'u'}", "type", "unknown");
}

Test(ingest_event, not_an_object)
{
    json_t *a = json_array();
    tl_err_clear(&err);
    cr_assert_eq(tl_event_from_json(a, NOW, &ev, lines, 8, &err), TL_EINVAL);
    cr_assert(strstr(err.msg, "got array"), "%s", err.msg);
    json_decref(a);
    cr_assert_eq(tl_event_from_json(NULL, NOW, &ev, lines, 8, &err), TL_EINVAL);
}

/* ---------- timestamp ---------- */

Test(ingest_event, timestamp_forms)
{
    cr_assert_eq(val("{'type':'page_view','user_id':'u','timestamp':1714558532123}"), TL_OK, "%s", err.msg);
    cr_assert_eq(ev.ts_ms, 1714558532123LL);
    cr_assert_eq(val("{'type':'page_view','user_id':'u','timestamp':'2024-05-01T12:00:00.250+02:00'}"), TL_OK);
    int64_t t;
    tl_time_parse("2024-05-01T10:00:00.250Z", &t);
    cr_assert_eq(ev.ts_ms, t);
    cr_assert_eq(val("{'type':'page_view','user_id':'u','timestamp':'2000-01-01'}"), TL_OK, "2000-01-01 is allowed");
}

Test(ingest_event, timestamp_future_and_past)
{
    char b[160];
    snprintf(b, sizeof b, "{'type':'page_view','user_id':'u','timestamp':%lld}", NOW + 23 * TL_MS_PER_HOUR);
    cr_assert_eq(val(b), TL_OK, "23 h ahead is clock skew, accepted");
    snprintf(b, sizeof b, "{'type':'page_view','user_id':'u','timestamp':%lld}", NOW + TL_MS_PER_DAY);
    cr_assert_eq(val(b), TL_OK, "exactly 24 h ahead accepted");
    snprintf(b, sizeof b, "{'type':'page_view','user_id':'u','timestamp':%lld}", NOW + TL_MS_PER_DAY + 1);
    bad(b, "timestamp", "future");
    bad("{'type':'page_view','user_id':'u','timestamp':'2030-01-01T00:00:00Z'}", "timestamp", "future");
    bad("{'type':'page_view','user_id':'u','timestamp':'1999-12-31T23:59:59Z'}", "timestamp", "2000-01-01");
    bad("{'type':'page_view','user_id':'u','timestamp':-5}", "timestamp", "2000-01-01");
    bad("{'type':'page_view','user_id':'u','timestamp':1714558532}", "timestamp", "seconds");
}

Test(ingest_event, timestamp_wrong_types)
{
    bad("{'type':'page_view','user_id':'u','timestamp':1714558532123.5}", "timestamp", "fraction");
    bad("{'type':'page_view','user_id':'u','timestamp':true}", "timestamp", "got boolean");
    bad("{'type':'page_view','user_id':'u','timestamp':'yesterday'}", "timestamp", "ISO 8601");
    bad("{'type':'page_view','user_id':'u','timestamp':'2024-13-01'}", "timestamp", "ISO 8601");
    bad("{'type':'page_view','user_id':'u','timestamp':'2024-05-01T10:00:00Zjunk'}", "timestamp", NULL);
}

/* ---------- identity ---------- */

Test(ingest_event, user_or_anonymous_required)
{
    bad("{'type':'page_view'}", "user_id", "anonymous_id");
    bad("{'type':'page_view','user_id':'','anonymous_id':'a'}", "user_id", "empty");
    bad("{'type':'page_view','anonymous_id':''}", "anonymous_id", "empty");
    bad("{'type':'page_view','user_id':['u']}", "user_id", "got array");
    bad("{'type':'page_view','anonymous_id':{}}", "anonymous_id", "got object");
    bad("{'type':'page_view','user_id':1.5}", "user_id", "got number");
    cr_assert_eq(val("{'type':'page_view','anonymous_id':'a'}"), TL_OK);
    cr_assert_eq(val("{'type':'page_view','user_id':'u'}"), TL_OK);
}

Test(ingest_event, id_length_limit)
{
    char id[TL_ID_MAX + 2], b[400];
    memset(id, 'x', sizeof id);
    id[TL_ID_MAX] = 0;
    snprintf(b, sizeof b, "{'type':'page_view','user_id':'%s'}", id);
    cr_assert_eq(val(b), TL_OK, "exactly TL_ID_MAX bytes is allowed");
    id[TL_ID_MAX] = 'x';
    id[TL_ID_MAX + 1] = 0;
    snprintf(b, sizeof b, "{'type':'page_view','user_id':'%s'}", id);
    bad(b, "user_id", "at most 128");
    /* limit is in bytes: 43 x 3-byte characters = 129 bytes */
    char u[200] = "";
    for (int i = 0; i < 43; i++) strcat(u, "€");
    snprintf(b, sizeof b, "{'type':'page_view','anonymous_id':'%s'}", u);
    bad(b, "anonymous_id", "129 bytes");
}

Test(ingest_event, control_characters_rejected)
{
    bad("{'type':'page_view','user_id':'a\\u0001b'}", "user_id", "control");
    bad("{'type':'page_view','user_id':'a\\nb'}", "user_id", "control");
    bad("{'type':'page_view','user_id':'a\\tb'}", "user_id", "control");
    bad("{'type':'page_view','user_id':'a\\u007fb'}", "user_id", "control");
    bad("{'type':'page_view','user_id':'a\\u0085b'}", "user_id", "control"); /* C1 NEL */
    bad("{'type':'product_view','user_id':'u','item_id':'\\u001b[31m'}", "item_id", "control");
    bad("{'type':'search','user_id':'u','query':'mug\\r\\n'}", "query", "control");
    /* U+00A0 (C2 A0) is not a control character */
    cr_assert_eq(val("{'type':'page_view','user_id':'a\\u00a0b'}"), TL_OK, "%s", err.msg);
}

Test(ingest_event, nul_inside_string_rejected)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("page_view"));
    json_object_set_new(o, "user_id", json_stringn("ab\0cd", 5));
    tl_err_clear(&err);
    cr_assert_eq(tl_event_from_json(o, NOW, &ev, lines, 8, &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "user_id");
    json_decref(o);
}

Test(ingest_event, event_id_rules)
{
    char id[TL_EVENT_ID_MAX + 2], b[400];
    memset(id, 'e', sizeof id);
    id[TL_EVENT_ID_MAX] = 0;
    snprintf(b, sizeof b, "{'type':'page_view','user_id':'u','event_id':'%s'}", id);
    cr_assert_eq(val(b), TL_OK);
    cr_assert_eq(strlen(ev.event_id), TL_EVENT_ID_MAX);
    id[TL_EVENT_ID_MAX] = 'e';
    id[TL_EVENT_ID_MAX + 1] = 0;
    snprintf(b, sizeof b, "{'type':'page_view','user_id':'u','event_id':'%s'}", id);
    bad(b, "event_id", "at most");
    bad("{'type':'page_view','user_id':'u','event_id':''}", "event_id", "empty");
    bad("{'type':'page_view','user_id':'u','event_id':true}", "event_id", "got boolean");
}

/* ---------- per-type requirements ---------- */

Test(ingest_event, item_id_required)
{
    bad("{'type':'product_view','user_id':'u'}", "item_id", "required for product_view");
    bad("{'type':'add_to_cart','user_id':'u'}", "item_id", "required for add_to_cart");
    bad("{'type':'remove_from_cart','user_id':'u'}", "item_id", "required for remove_from_cart");
    bad("{'type':'recommendation_click','user_id':'u'}", "item_id", "required for recommendation_click");
    bad("{'type':'product_view','user_id':'u','item_id':''}", "item_id", "empty");
    bad("{'type':'product_view','user_id':'u','item_id':true}", "item_id", "got boolean");
}

Test(ingest_event, cart_quantity_and_price)
{
    cr_assert_eq(val("{'type':'add_to_cart','user_id':'u','item_id':'i'}"), TL_OK);
    cr_assert_float_eq(ev.quantity, 1, 0, "default quantity 1 for cart events");
    cr_assert(isnan(ev.price));
    cr_assert_eq(val("{'type':'remove_from_cart','user_id':'u','item_id':'i','quantity':2.5,'price':0}"), TL_OK);
    cr_assert_float_eq(ev.quantity, 2.5, 0);
    cr_assert_float_eq(ev.price, 0, 0);
    bad("{'type':'add_to_cart','user_id':'u','item_id':'i','quantity':'2'}", "quantity",
        "quantity must be a number > 0, got string");
    bad("{'type':'add_to_cart','user_id':'u','item_id':'i','quantity':0}", "quantity", "> 0");
    bad("{'type':'add_to_cart','user_id':'u','item_id':'i','quantity':-1}", "quantity", "> 0");
    bad("{'type':'add_to_cart','user_id':'u','item_id':'i','quantity':1e12}", "quantity", "at most");
    bad("{'type':'add_to_cart','user_id':'u','item_id':'i','price':-0.01}", "price", ">= 0");
    bad("{'type':'add_to_cart','user_id':'u','item_id':'i','price':'9.99'}", "price", "got string");
    bad("{'type':'add_to_cart','user_id':'u','item_id':'i','price':[1]}", "price", "got array");
    /* quantity not defaulted for non-cart events */
    cr_assert_eq(val("{'type':'product_view','user_id':'u','item_id':'i'}"), TL_OK);
    cr_assert(isnan(ev.quantity));
}

Test(ingest_event, purchase_items)
{
    cr_assert_eq(val("{'type':'purchase','user_id':'u','order_id':'o1','items':[{'item_id':'a','quantity':6,"
                     "'price':2.55},{'item_id':'b','price':0}]}"),
                 TL_OK, "%s", err.msg);
    cr_assert_eq(ev.n_lines, 2);
    cr_assert_eq(ev.lines, lines);
    cr_assert_str_eq(ev.lines[0].item_id, "a");
    cr_assert_float_eq(ev.lines[0].quantity, 6, 0);
    cr_assert_float_eq(ev.lines[0].price, 2.55, 0);
    cr_assert_float_eq(ev.lines[1].quantity, 1, 0, "line quantity defaults to 1");
    cr_assert_str_eq(ev.order_id, "o1");
}

Test(ingest_event, purchase_shortcut)
{
    cr_assert_eq(val("{'type':'purchase','user_id':'u','item_id':'a','quantity':2,'price':9.5}"), TL_OK, "%s", err.msg);
    cr_assert_eq(ev.n_lines, 1);
    cr_assert_str_eq(ev.lines[0].item_id, "a");
    cr_assert_float_eq(ev.lines[0].quantity, 2, 0);
    cr_assert_float_eq(ev.lines[0].price, 9.5, 0);
    cr_assert_eq(val("{'type':'purchase','user_id':'u','item_id':'a','price':9.5}"), TL_OK);
    cr_assert_float_eq(ev.lines[0].quantity, 1, 0);
    bad("{'type':'purchase','user_id':'u','item_id':'a','quantity':2}", "price", "required");
    bad("{'type':'purchase','user_id':'u'}", "items", "needs \"items\"");
}

Test(ingest_event, purchase_items_bad)
{
    bad("{'type':'purchase','user_id':'u','items':{}}", "items", "must be an array");
    bad("{'type':'purchase','user_id':'u','items':[]}", "items", "empty");
    bad("{'type':'purchase','user_id':'u','items':['a']}", "items[0]", "got string");
    bad("{'type':'purchase','user_id':'u','items':[{'item_id':'a','price':1},{'quantity':1,'price':1}]}",
        "items[1].item_id", "required");
    bad("{'type':'purchase','user_id':'u','items':[{'item_id':'a','price':1,'quantity':'x'}]}", "items[0].quantity",
        "got string");
    bad("{'type':'purchase','user_id':'u','items':[{'item_id':'a','price':1,'quantity':0}]}", "items[0].quantity",
        "> 0");
    bad("{'type':'purchase','user_id':'u','items':[{'item_id':'a','quantity':1}]}", "items[0].price", "required");
    bad("{'type':'purchase','user_id':'u','items':[{'item_id':'a','price':-2}]}", "items[0].price", ">= 0");
    bad("{'type':'purchase','user_id':'u','items':[{'item_id':'a\\u0002','price':2}]}", "items[0].item_id", "control");
}

Test(ingest_event, lines_capacity)
{
    cur = js("{'type':'purchase','user_id':'u','items':[{'item_id':'a','price':1},{'item_id':'b','price':1},"
             "{'item_id':'c','price':1}]}");
    struct tl_line small[2];
    tl_err_clear(&err);
    cr_assert_eq(tl_event_from_json(cur, NOW, &ev, small, 2, &err), TL_ETOOBIG);
    cr_assert_str_eq(err.field, "items");
    cr_assert(strstr(err.msg, "at most 2"), "%s", err.msg);
    json_t *shortcut = js("{'type':'purchase','user_id':'u','item_id':'a','price':1}");
    cr_assert_eq(tl_event_from_json(shortcut, NOW, &ev, NULL, 0, &err), TL_ETOOBIG);
    json_decref(shortcut);
}

Test(ingest_event, impression_items_strings_or_objects)
{
    cr_assert_eq(val("{'type':'recommendation_impression','anonymous_id':'a','recommendation_id':'r1',"
                     "'items':['x',{'item_id':'y','position':2},42]}"),
                 TL_OK, "%s", err.msg);
    cr_assert_eq(ev.n_lines, 3);
    cr_assert_str_eq(ev.lines[0].item_id, "x");
    cr_assert_str_eq(ev.lines[1].item_id, "y");
    cr_assert_str_eq(ev.lines[2].item_id, "42");
    cr_assert(isnan(ev.lines[0].price));
    cr_assert_str_eq(ev.recommendation_id, "r1");
    bad("{'type':'recommendation_impression','anonymous_id':'a','items':['x',true]}", "items[1]", "got boolean");
    bad("{'type':'recommendation_impression','anonymous_id':'a','items':['']}", "items[0]", "empty");
    bad("{'type':'recommendation_impression','anonymous_id':'a','items':'x,y'}", "items", "got string");
    cr_assert_eq(val("{'type':'recommendation_impression','anonymous_id':'a','items':[]}"), TL_OK);
    cr_assert_eq(ev.n_lines, 0);
}

Test(ingest_event, checkout_and_return_items)
{
    cr_assert_eq(val("{'type':'checkout_start','user_id':'u','items':[{'item_id':'a','quantity':2}]}"), TL_OK, "%s",
                 err.msg);
    cr_assert_eq(ev.n_lines, 1);
    cr_assert(isnan(ev.lines[0].price), "price optional for checkout_start");
    cr_assert_eq(val("{'type':'return','user_id':'u','order_id':'C536379','items':[{'item_id':'a','quantity':1}]}"),
                 TL_OK, "%s", err.msg);
    cr_assert_eq(ev.n_lines, 1);
    bad("{'type':'return','user_id':'u'}", "items", "needs");
    bad("{'type':'checkout_start','user_id':'u','items':[5]}", "items[0]", "got number");
}

Test(ingest_event, search_query)
{
    cr_assert_eq(val("{'type':'search','user_id':'u','query':'tasse à café'}"), TL_OK);
    cr_assert_str_eq(ev.query, "tasse à café");
    bad("{'type':'search','user_id':'u'}", "query", "required");
    bad("{'type':'search','user_id':'u','query':''}", "query", "empty");
    bad("{'type':'search','user_id':'u','query':7}", "query", "got number");
    char q[TL_EVENT_QUERY_MAX + 2], b[1200];
    memset(q, 'q', sizeof q);
    q[TL_EVENT_QUERY_MAX] = 0;
    snprintf(b, sizeof b, "{'type':'search','user_id':'u','query':'%s'}", q);
    cr_assert_eq(val(b), TL_OK, "1000 bytes allowed");
    q[TL_EVENT_QUERY_MAX] = 'q';
    q[TL_EVENT_QUERY_MAX + 1] = 0;
    snprintf(b, sizeof b, "{'type':'search','user_id':'u','query':'%s'}", q);
    bad(b, "query", "at most 1000");
}

Test(ingest_event, category_view_category)
{
    cr_assert_eq(val("{'type':'category_view','user_id':'u','category':'Kitchen > Mugs'}"), TL_OK);
    cr_assert_str_eq(ev.category, "Kitchen > Mugs");
    bad("{'type':'category_view','user_id':'u'}", "category", "required");
    bad("{'type':'category_view','user_id':'u','category':['a']}", "category", "got array");
}

Test(ingest_event, dwell_and_scroll)
{
    cr_assert_eq(val("{'type':'category_view','user_id':'u','category':'c','dwell_ms':0,'scroll_depth':1}"), TL_OK);
    cr_assert_eq(ev.dwell_ms, 0);
    cr_assert_float_eq(ev.scroll_depth, 1, 0);
    cr_assert_eq(val("{'type':'page_view','user_id':'u','dwell_ms':86400000,'scroll_depth':0}"), TL_OK);
    cr_assert_eq(ev.dwell_ms, 86400000);
    bad("{'type':'page_view','user_id':'u','dwell_ms':86400001}", "dwell_ms", "24 hours");
    bad("{'type':'page_view','user_id':'u','dwell_ms':-1}", "dwell_ms", "between 0");
    bad("{'type':'page_view','user_id':'u','dwell_ms':12.5}", "dwell_ms", "fraction");
    bad("{'type':'page_view','user_id':'u','dwell_ms':'5s'}", "dwell_ms", "got string");
    bad("{'type':'page_view','user_id':'u','scroll_depth':75}", "scroll_depth", "send 0.75 for 75%");
    bad("{'type':'page_view','user_id':'u','scroll_depth':1.01}", "scroll_depth", "between 0 and 1");
    bad("{'type':'page_view','user_id':'u','scroll_depth':-0.1}", "scroll_depth", ">= 0");
    bad("{'type':'page_view','user_id':'u','scroll_depth':'half'}", "scroll_depth", "got string");
    /* validated but not used outside views */
    cr_assert_eq(val("{'type':'search','user_id':'u','query':'q','dwell_ms':10,'scroll_depth':0.5}"), TL_OK);
    cr_assert_eq(ev.dwell_ms, -1);
    cr_assert(isnan(ev.scroll_depth));
    bad("{'type':'search','user_id':'u','query':'q','dwell_ms':-10}", "dwell_ms", NULL);
}

Test(ingest_event, country_rules)
{
    cr_assert_eq(val("{'type':'page_view','user_id':'u','country':'fR'}"), TL_OK);
    cr_assert_str_eq(ev.country, "FR");
    bad("{'type':'page_view','user_id':'u','country':'GBR'}", "country", "2-letter");
    bad("{'type':'page_view','user_id':'u','country':'G1'}", "country", "2-letter");
    bad("{'type':'page_view','user_id':'u','country':''}", "country", "2-letter");
    bad("{'type':'page_view','user_id':'u','country':'éa'}", "country", "2-letter");
    bad("{'type':'page_view','user_id':'u','country':44}", "country", "got number");
}

Test(ingest_event, other_optional_fields)
{
    bad("{'type':'page_view','user_id':'u','context':'https://x'}", "context", "must be an object");
    bad("{'type':'page_view','user_id':'u','session_id':5.5}", "session_id", "got number");
    bad("{'type':'page_view','user_id':'u','order_id':''}", "order_id", "empty");
    bad("{'type':'recommendation_click','user_id':'u','item_id':'i','recommendation_id':{}}", "recommendation_id",
        "got object");
}

/* ---------- canonical body ---------- */

Test(ingest_event, canonical_normalises_and_keeps_unknown_fields)
{
    cr_assert_eq(val("{'type':'add_to_cart','timestamp':1714558532123,'user_id':'u','item_id':7,"
                     "'country':'gb','price':19.99,'quantity':0.1,'extra':{'k':[1,'v']}}"),
                 TL_OK);
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_event_canonical(&ev, cur, &b), TL_OK);
    cr_assert_str_eq(b.data, "{\"type\":\"add_to_cart\",\"timestamp\":\"2024-05-01T10:15:32.123Z\",\"user_id\":\"u\","
                             "\"item_id\":\"7\",\"country\":\"GB\",\"price\":19.99,\"quantity\":0.1,"
                             "\"extra\":{\"k\":[1,\"v\"]}}");
    tl_buf_free(&b);
}

Test(ingest_event, canonical_fills_absent_timestamp_and_round_trips)
{
    cr_assert_eq(val("{'type':'purchase','user_id':'u','country':'de','items':[{'item_id':'a','quantity':2,"
                     "'price':3.3}],'order_id':'o'}"),
                 TL_OK);
    struct tl_buf b;
    tl_buf_init(&b, 0);
    tl_buf_puts(&b, "PREFIX");
    cr_assert_eq(tl_event_canonical(&ev, cur, &b), TL_OK);
    cr_assert(strncmp(b.data, "PREFIX{", 7) == 0, "appends: %s", b.data);
    cr_assert(strstr(b.data, "\"timestamp\":\"2024-05-01T21:46:40.000Z\""), "%s", b.data);
    /* re-parse the stored body: same event */
    struct tl_event first = ev;
    json_error_t je;
    json_t *again = json_loads(b.data + 6, 0, &je);
    cr_assert_not_null(again);
    struct tl_line l2[8];
    struct tl_event ev2;
    cr_assert_eq(tl_event_from_json(again, NOW + 5 * TL_MS_PER_DAY, &ev2, l2, 8, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(ev2.type, first.type);
    cr_assert_eq(ev2.ts_ms, first.ts_ms);
    cr_assert_str_eq(ev2.country, "DE");
    cr_assert_eq(ev2.n_lines, 1);
    cr_assert_str_eq(ev2.lines[0].item_id, "a");
    cr_assert_float_eq(ev2.lines[0].price, 3.3, 0);
    json_decref(again);
    tl_buf_free(&b);
}

Test(ingest_event, canonical_buffer_limit)
{
    cr_assert_eq(val("{'type':'page_view','user_id':'u','context':{'url':'https://example.com/a/long/path'}}"), TL_OK);
    struct tl_buf b;
    tl_buf_init(&b, 40);
    tl_buf_puts(&b, "keep");
    cr_assert_eq(tl_event_canonical(&ev, cur, &b), TL_ETOOBIG);
    cr_assert_eq(b.len, 4);
    cr_assert_str_eq(b.data, "keep");
    tl_buf_free(&b);
}

/* ---------- split ---------- */

static json_t *arr;
static void split_fini(void)
{
    if (arr) json_decref(arr);
    arr = NULL;
}
TestSuite(ingest_event_split, .fini = split_fini);

static enum tl_rc split(const char *body)
{
    if (arr) json_decref(arr);
    arr = NULL;
    tl_err_clear(&err);
    return tl_event_split_body(body, body ? strlen(body) : 0, &arr, &err);
}

Test(ingest_event_split, single_object)
{
    cr_assert_eq(split("  {\"type\":\"page_view\"}\n"), TL_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(arr), 1);
    cr_assert(json_is_object(json_array_get(arr, 0)));
    /* pretty-printed single object spanning lines is not NDJSON */
    cr_assert_eq(split("{\n  \"type\": \"page_view\",\n  \"user_id\": \"u\"\n}\n"), TL_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(arr), 1);
}

Test(ingest_event_split, array_of_objects)
{
    cr_assert_eq(split("[{\"a\":1},{\"a\":2},{}]"), TL_OK);
    cr_assert_eq(json_array_size(arr), 3);
    cr_assert_eq(split("[]"), TL_OK, "empty array is an empty batch");
    cr_assert_eq(json_array_size(arr), 0);
}

Test(ingest_event_split, ndjson_with_blank_lines_and_crlf)
{
    cr_assert_eq(split("{\"a\":1}\r\n\r\n  \n{\"a\":2}\n{\"a\":3}"), TL_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(arr), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(arr, 2), "a")), 3);
}

Test(ingest_event_split, ndjson_bad_line_named)
{
    cr_assert_eq(split("{\"a\":1}\n\n{\"a\":2}\n{\"a\":}\n{\"a\":4}\n"), TL_EPARSE);
    cr_assert_eq(err.line, 4, "blank lines count: got %ld", err.line);
    cr_assert_eq(err.column, 6, "column %ld", err.column);
    cr_assert(strstr(err.msg, "line 4"), "%s", err.msg);
    cr_assert(strstr(err.msg, "NDJSON"), "%s", err.msg);
    cr_assert_null(arr);
}

Test(ingest_event_split, ndjson_truncated_last_line)
{
    cr_assert_eq(split("{\"a\":1}\n{\"a\":2}\n{\"a\":"), TL_EPARSE);
    cr_assert_eq(err.line, 3);
}

Test(ingest_event_split, ndjson_non_object_line)
{
    cr_assert_eq(split("{\"a\":1}\n[1,2]\n"), TL_EINVAL);
    cr_assert_eq(err.line, 2);
    cr_assert(strstr(err.msg, "line 2") && strstr(err.msg, "record 1") && strstr(err.msg, "got array"), "%s", err.msg);
}

Test(ingest_event_split, malformed_json_has_line_and_column)
{
    cr_assert_eq(split("[\n {\"a\":1},\n {\"a\" 2}\n]"), TL_EPARSE);
    cr_assert_eq(err.line, 3);
    cr_assert_gt(err.column, 0);
    cr_assert(strstr(err.msg, "line 3, column"), "%s", err.msg);
    cr_assert_eq(split("[{\"a\":1}"), TL_EPARSE, "truncated array");
    cr_assert_eq(split("{\"a\":1"), TL_EPARSE, "truncated object");
    cr_assert_eq(split("{\"a\":1,\"a\":2}"), TL_EPARSE, "duplicate keys rejected");
    cr_assert(strstr(err.msg, "duplicate"), "%s", err.msg);
    cr_assert_eq(split("{\"a\":\"\\u0000\"}"), TL_EPARSE, "NUL escape rejected");
    cr_assert_eq(split("{\"a\":\"\xff\"}"), TL_EPARSE, "invalid UTF-8 rejected");
}

Test(ingest_event_split, non_object_element_named)
{
    cr_assert_eq(split("[{\"a\":1},{\"a\":2},{},\"oops\"]"), TL_EINVAL);
    cr_assert(strstr(err.msg, "element 3") && strstr(err.msg, "string"), "%s", err.msg);
    cr_assert_null(arr);
    cr_assert_eq(split("[[]]"), TL_EINVAL);
    cr_assert(strstr(err.msg, "element 0"), "%s", err.msg);
}

Test(ingest_event_split, empty_and_garbage)
{
    cr_assert_eq(split(""), TL_EINVAL);
    cr_assert(strstr(err.msg, "empty"), "%s", err.msg);
    cr_assert_eq(split(" \n\r\n\t "), TL_EINVAL);
    cr_assert_eq(split(NULL), TL_EINVAL);
    cr_assert_eq(split("42"), TL_EPARSE);
    cr_assert_eq(split("\"str\""), TL_EPARSE);
    cr_assert_eq(split("type=page_view"), TL_EPARSE);
}

Test(ingest_event_split, bom_skipped)
{
    cr_assert_eq(split("\xEF\xBB\xBF{\"a\":1}"), TL_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(arr), 1);
}

static char *make_batch(int n, int ndjson)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    if (!ndjson) tl_buf_putc(&b, '[');
    for (int i = 0; i < n; i++) {
        if (i) tl_buf_puts(&b, ndjson ? "\n" : ",");
        tl_buf_printf(&b, "{\"type\":\"page_view\",\"user_id\":\"u%d\"}", i);
    }
    if (!ndjson) tl_buf_putc(&b, ']');
    return tl_buf_steal(&b);
}

Test(ingest_event_split, batch_limit_array)
{
    char *ok = make_batch(TL_BATCH_MAX, 0), *big = make_batch(TL_BATCH_MAX + 1, 0);
    cr_assert_eq(split(ok), TL_OK);
    cr_assert_eq(json_array_size(arr), TL_BATCH_MAX);
    cr_assert_eq(split(big), TL_ETOOBIG);
    cr_assert(strstr(err.msg, "10000"), "%s", err.msg);
    cr_assert_null(arr);
    tl_free(ok);
    tl_free(big);
}

Test(ingest_event_split, batch_limit_ndjson)
{
    char *ok = make_batch(TL_BATCH_MAX, 1), *big = make_batch(TL_BATCH_MAX + 1, 1);
    cr_assert_eq(split(ok), TL_OK);
    cr_assert_eq(json_array_size(arr), TL_BATCH_MAX);
    cr_assert_eq(split(big), TL_ETOOBIG);
    cr_assert_null(arr);
    tl_free(ok);
    tl_free(big);
}

Test(ingest_event_split, split_then_validate_each)
{
    cr_assert_eq(split("{\"type\":\"page_view\",\"user_id\":\"u\"}\n{\"type\":\"search\",\"user_id\":\"u\"}"), TL_OK);
    struct tl_event e;
    struct tl_line l[2];
    cr_assert_eq(tl_event_from_json(json_array_get(arr, 0), NOW, &e, l, 2, &err), TL_OK);
    cr_assert_eq(tl_event_from_json(json_array_get(arr, 1), NOW, &e, l, 2, &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "query");
}

/* ---------- idempotency key ---------- */

Test(ingest_event, id_hash)
{
    uint64_t a = tl_event_id_hash(1, "e-1");
    cr_assert_eq(a, tl_event_id_hash(1, "e-1"), "deterministic");
    cr_assert_neq(a, 0);
    cr_assert_neq(a, tl_event_id_hash(2, "e-1"), "depends on shop");
    cr_assert_neq(a, tl_event_id_hash(1, "e-2"), "depends on id");
    cr_assert_eq(a, tl_hash("e-1", 3, 1), "documented formula: XXH3(id, seed=shop)");
    cr_assert_eq(tl_event_id_hash(1, NULL), 0);
    cr_assert_neq(tl_event_id_hash(1, ""), 0);
    /* no collisions among 100k ids (64-bit; any collision here is a bug) */
    enum { N = 100000 };
    uint64_t *h = tl_malloc(N * sizeof *h);
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "evt-%d", i);
        h[i] = tl_event_id_hash(1, id);
        cr_assert_neq(h[i], 0);
    }
    int dup = 0;
    for (int i = 0; i < N && !dup; i++)
        for (int j = i + 1; j < i + 50 && j < N; j++) dup |= h[i] == h[j];
    cr_assert_eq(dup, 0);
    tl_free(h);
}
