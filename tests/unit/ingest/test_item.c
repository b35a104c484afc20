/* Tests for src/ingest/item.c: item validation, derived text in scratch,
 * the API representation (round trip) and items body splitting. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "ingest/item.h"

#define NOW 1714600000000LL

static json_t *cur;
static struct tl_item it;
static struct tl_err err;
static struct tl_buf scratch;

static json_t *jsq(const char *sq)
{
    char *s = tl_strdup(sq);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    json_error_t je;
    json_t *o = json_loads(s, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!o) cr_log_error("test JSON does not parse: %s: %s", je.text, s);
    tl_free(s);
    cr_assert_not_null(o);
    return o;
}

static enum tl_rc val(const char *sq)
{
    if (cur) json_decref(cur);
    cur = jsq(sq);
    tl_err_clear(&err);
    tl_buf_reset(&scratch);
    return tl_item_from_json(cur, NOW, &it, &scratch, &err);
}

static void bad(const char *sq, const char *field, const char *needle)
{
    enum tl_rc rc = val(sq);
    cr_assert_eq(rc, TL_EINVAL, "expected TL_EINVAL for %s, got %d", sq, rc);
    cr_assert_str_eq(err.field, field, "field for %s: got '%s' (%s)", sq, err.field, err.msg);
    if (needle) cr_assert(strstr(err.msg, needle), "message for %s lacks '%s': %s", sq, needle, err.msg);
}

static void init(void) { tl_buf_init(&scratch, 0); }
static void fini(void)
{
    if (cur) json_decref(cur);
    cur = NULL;
    tl_buf_free(&scratch);
}

TestSuite(ingest_item, .init = init, .fini = fini);

Test(ingest_item, full_item)
{
    cr_assert_eq(val("{'id':'SKU-1','title':'Red mug','description':'Line one\\nLine two\\ttab',"
                     "'url':'https://shop.example/p/1','image_url':'https://cdn.example/1.jpg','price':12.5,"
                     "'currency':'gbp','category':['Home','Kitchen','Mugs'],'brand':'Acme',"
                     "'tags':['gift','christmas'],'available':false,'stock':3,"
                     "'attributes':{'colour':'red','size':[1,2]},'visible':false,"
                     "'created_at':'2024-01-01T00:00:00Z','unknown':1}"),
                 TL_OK, "%s", err.msg);
    cr_assert_str_eq(it.id, "SKU-1");
    cr_assert_str_eq(it.title, "Red mug");
    cr_assert_str_eq(it.description, "Line one\nLine two\ttab");
    cr_assert_str_eq(it.url, "https://shop.example/p/1");
    cr_assert_str_eq(it.image_url, "https://cdn.example/1.jpg");
    cr_assert_float_eq(it.price, 12.5, 0);
    cr_assert_str_eq(it.currency, "GBP");
    cr_assert_str_eq(it.category, "Home > Kitchen > Mugs");
    cr_assert_str_eq(it.brand, "Acme");
    cr_assert_str_eq(it.tags_json, "[\"gift\",\"christmas\"]");
    cr_assert_eq(it.available, 0);
    cr_assert_eq(it.stock, 3);
    cr_assert_str_eq(it.attrs_json, "{\"colour\":\"red\",\"size\":[1,2]}");
    cr_assert_eq(it.visible, 0);
    int64_t c;
    tl_time_parse("2024-01-01", &c);
    cr_assert_eq(it.created_ms, c);
    cr_assert_eq(it.updated_ms, NOW);
    /* derived strings live in scratch, borrowed ones in the object */
    cr_assert(it.tags_json >= scratch.data && it.tags_json < scratch.data + scratch.len);
    cr_assert(it.attrs_json >= scratch.data && it.attrs_json < scratch.data + scratch.len);
    cr_assert_eq(it.title, json_string_value(json_object_get(cur, "title")));
}

Test(ingest_item, defaults)
{
    cr_assert_eq(val("{'id':'a','title':'T'}"), TL_OK);
    cr_assert(isnan(it.price));
    cr_assert_eq(it.available, 1);
    cr_assert_eq(it.stock, -1);
    cr_assert_eq(it.visible, 1);
    cr_assert_null(it.tags_json);
    cr_assert_null(it.attrs_json);
    cr_assert_null(it.category);
    cr_assert_null(it.currency);
    cr_assert_eq(it.created_ms, NOW);
    cr_assert_eq(it.updated_ms, NOW);
}

Test(ingest_item, id_rules)
{
    cr_assert_eq(val("{'id':85123,'title':'T'}"), TL_OK);
    cr_assert_str_eq(it.id, "85123");
    cr_assert_eq(val("{'id':'チーズ-ü','title':'T'}"), TL_OK, "unicode id");
    bad("{'title':'T'}", "id", "required");
    bad("{'id':null,'title':'T'}", "id", "required");
    bad("{'id':'','title':'T'}", "id", "empty");
    bad("{'id':1.5,'title':'T'}", "id", "got number");
    bad("{'id':['a'],'title':'T'}", "id", "got array");
    bad("{'id':'a\\u0007','title':'T'}", "id", "control");
    char id[TL_ID_MAX + 2], b[300];
    memset(id, 'i', sizeof id);
    id[TL_ID_MAX + 1] = 0;
    snprintf(b, sizeof b, "{'id':'%s'}", id);
    bad(b, "id", "at most 128");
}

Test(ingest_item, title_rules)
{
    cr_assert_eq(val("{'id':'a'}"), TL_OK, "title optional for updates");
    cr_assert_null(it.title);
    cr_assert_eq(tl_item_check_new(&it, &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "title");
    cr_assert_eq(val("{'id':'a','title':'T'}"), TL_OK);
    cr_assert_eq(tl_item_check_new(&it, &err), TL_OK);
    bad("{'id':'a','title':''}", "title", "empty");
    bad("{'id':'a','title':5}", "title", "got number");
    bad("{'id':'a','title':'x\\u0000y'}", "title", NULL);
}

Test(ingest_item, currency)
{
    cr_assert_eq(val("{'id':'a','currency':'eur'}"), TL_OK);
    cr_assert_str_eq(it.currency, "EUR");
    bad("{'id':'a','currency':'EU'}", "currency", "3 letters");
    bad("{'id':'a','currency':'EURO'}", "currency", "3 letters");
    bad("{'id':'a','currency':'E1R'}", "currency", "3 letters");
    bad("{'id':'a','currency':978}", "currency", "got number");
}

Test(ingest_item, category_forms)
{
    cr_assert_eq(val("{'id':'a','category':'Home > Kitchen'}"), TL_OK);
    cr_assert_str_eq(it.category, "Home > Kitchen");
    cr_assert_eq(val("{'id':'a','category':['Only']}"), TL_OK);
    cr_assert_str_eq(it.category, "Only");
    cr_assert_eq(val("{'id':'a','category':[]}"), TL_OK);
    cr_assert_null(it.category);
    bad("{'id':'a','category':{'a':1}}", "category", "got object");
    bad("{'id':'a','category':['Home',3]}", "category[1]", "got number");
    bad("{'id':'a','category':['Home','']}", "category[1]", "empty");
    bad("{'id':'a','category':['Home > X','Y']}", "category[0]", "'>'");
    bad("{'id':'a','category':['1','2','3','4','5','6','7','8','9','10','11','12','13','14','15','16','17']}",
        "category", "at most 16");
}

Test(ingest_item, tags_rules)
{
    cr_assert_eq(val("{'id':'a','tags':[],'attributes':{}}"), TL_OK);
    cr_assert_null(it.tags_json, "empty tags = none");
    cr_assert_null(it.attrs_json, "empty attributes = none");
    cr_assert_eq(val("{'id':'a','tags':['a \\\"quoted\\\" tag','é']}"), TL_OK);
    cr_assert_str_eq(it.tags_json, "[\"a \\\"quoted\\\" tag\",\"é\"]");
    bad("{'id':'a','tags':'gift'}", "tags", "got string");
    bad("{'id':'a','tags':['gift',1]}", "tags[1]", "got number");
    bad("{'id':'a','tags':['']}", "tags[0]", "empty");
    struct tl_buf b;
    tl_buf_init(&b, 0);
    tl_buf_puts(&b, "{'id':'a','tags':[");
    for (int i = 0; i <= TL_ITEM_TAGS_MAX; i++) tl_buf_printf(&b, "%s't%d'", i ? "," : "", i);
    tl_buf_puts(&b, "]}");
    bad(b.data, "tags", "at most 100");
    tl_buf_free(&b);
}

Test(ingest_item, attributes_rules)
{
    bad("{'id':'a','attributes':[1]}", "attributes", "got array");
    bad("{'id':'a','attributes':'red'}", "attributes", "got string");
    struct tl_buf b;
    tl_buf_init(&b, 0);
    tl_buf_puts(&b, "{'id':'a','attributes':{'k':'");
    for (int i = 0; i < TL_ITEM_ATTRS_MAX; i++) tl_buf_putc(&b, 'x');
    tl_buf_puts(&b, "'}}");
    bad(b.data, "attributes", "at most");
    tl_buf_free(&b);
}

Test(ingest_item, numbers_and_bools)
{
    cr_assert_eq(val("{'id':'a','price':0,'stock':0,'available':true,'visible':true}"), TL_OK);
    cr_assert_float_eq(it.price, 0, 0);
    cr_assert_eq(it.stock, 0);
    cr_assert_eq(val("{'id':'a','price':null,'stock':null}"), TL_OK);
    cr_assert(isnan(it.price));
    cr_assert_eq(it.stock, -1);
    bad("{'id':'a','price':-1}", "price", ">= 0");
    bad("{'id':'a','price':'12.50'}", "price", "got string");
    bad("{'id':'a','stock':-1}", "stock", ">= 0");
    bad("{'id':'a','stock':2.5}", "stock", "fraction");
    bad("{'id':'a','stock':'3'}", "stock", "got string");
    bad("{'id':'a','available':'yes'}", "available", "true or false");
    bad("{'id':'a','available':1}", "available", "got number");
    bad("{'id':'a','visible':0}", "visible", "got number");
}

Test(ingest_item, texts_and_urls)
{
    bad("{'id':'a','url':'https://x/a b'}", "url", "spaces");
    bad("{'id':'a','image_url':7}", "image_url", "got number");
    bad("{'id':'a','url':'https://x/\\n'}", "url", "control");
    bad("{'id':'a','brand':'Ac\\tme'}", "brand", "control");
    bad("{'id':'a','description':'ok\\u0001'}", "description", "control");
    bad("{'id':'a','created_at':'soon'}", "created_at", "ISO 8601");
}

Test(ingest_item, scratch_survives_growth_and_limit)
{
    /* category + tags + attributes force scratch to grow past its first block */
    cr_assert_eq(val("{'id':'a','category':['Aaaaaaaaaaaaaaaaaaaaaaaa','Bbbbbbbbbbbbbbbbbbbbbbbbbbb','Cccccccccccccc'],"
                     "'tags':['ttttttttttttttttttttttttttttttt','uuuuuuuuuuuuuuuuuuuuuuuuu','vvvvvvvvvvvvvvvvvvvv'],"
                     "'attributes':{'kkkkkkkkkkkkkkkkkkkkkkkkkk':'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv'}}"),
                 TL_OK, "%s", err.msg);
    cr_assert_str_eq(it.category, "Aaaaaaaaaaaaaaaaaaaaaaaa > Bbbbbbbbbbbbbbbbbbbbbbbbbbb > Cccccccccccccc");
    cr_assert_str_eq(it.tags_json,
                     "[\"ttttttttttttttttttttttttttttttt\",\"uuuuuuuuuuuuuuuuuuuuuuuuu\",\"vvvvvvvvvvvvvvvvvvvv\"]");
    cr_assert_str_eq(it.attrs_json, "{\"kkkkkkkkkkkkkkkkkkkkkkkkkk\":\"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\"}");
    /* a scratch buffer with a small max: TL_ETOOBIG, scratch unchanged */
    struct tl_buf small;
    tl_buf_init(&small, 16);
    tl_buf_puts(&small, "abc");
    json_t *o = jsq("{'id':'a','tags':['one','two','three','four']}");
    cr_assert_eq(tl_item_from_json(o, NOW, &it, &small, &err), TL_ETOOBIG);
    cr_assert_str_eq(err.field, "tags");
    cr_assert_eq(small.len, 3);
    cr_assert_str_eq(small.data, "abc");
    json_decref(o);
    tl_buf_free(&small);
    cr_assert_eq(tl_item_from_json(cur, NOW, &it, NULL, &err), TL_EINVAL, "scratch required");
}

Test(ingest_item, not_an_object)
{
    json_t *s = json_string("x");
    cr_assert_eq(tl_item_from_json(s, NOW, &it, &scratch, &err), TL_EINVAL);
    cr_assert(strstr(err.msg, "got string"), "%s", err.msg);
    json_decref(s);
}

/* ---------- API representation ---------- */

Test(ingest_item, to_json_exact)
{
    struct tl_item x = {.id = "m1",
                        .title = "Mug \"large\"",
                        .price = 19.99,
                        .currency = "GBP",
                        .category = "Home > Mugs",
                        .tags_json = "[\"gift\"]",
                        .available = 1,
                        .stock = -1,
                        .attrs_json = NULL,
                        .visible = 0,
                        .created_ms = 1714558532123LL,
                        .updated_ms = 1714558532123LL};
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_item_to_json(&x, &b), TL_OK);
    cr_assert_str_eq(b.data, "{\"id\":\"m1\",\"title\":\"Mug \\\"large\\\"\",\"description\":null,\"url\":null,"
                             "\"image_url\":null,\"price\":19.99,\"currency\":\"GBP\",\"category\":\"Home > Mugs\","
                             "\"brand\":null,\"tags\":[\"gift\"],\"available\":true,\"stock\":null,"
                             "\"attributes\":{},\"visible\":false,\"created_at\":\"2024-05-01T10:15:32.123Z\","
                             "\"updated_at\":\"2024-05-01T10:15:32.123Z\"}");
    json_error_t je;
    json_t *o = json_loads(b.data, 0, &je);
    cr_assert_not_null(o, "valid JSON: %s", je.text);
    json_decref(o);
    x.price = NAN;
    tl_buf_reset(&b);
    tl_item_to_json(&x, &b);
    cr_assert(strstr(b.data, "\"price\":null"), "%s", b.data);
    /* buffer limit: TL_ETOOBIG, buffer unchanged */
    struct tl_buf small;
    tl_buf_init(&small, 32);
    tl_buf_puts(&small, "x");
    cr_assert_eq(tl_item_to_json(&x, &small), TL_ETOOBIG);
    cr_assert_str_eq(small.data, "x");
    tl_buf_free(&small);
    tl_buf_free(&b);
}

static void assert_same_item(const struct tl_item *a, const struct tl_item *b)
{
#define SAME_STR(f)                                                                                                    \
    do {                                                                                                               \
        if (!a->f || !b->f)                                                                                            \
            cr_assert(a->f == b->f, #f " null mismatch");                                                              \
        else                                                                                                           \
            cr_assert_str_eq(a->f, b->f, #f);                                                                          \
    } while (0)
    SAME_STR(id);
    SAME_STR(title);
    SAME_STR(description);
    SAME_STR(url);
    SAME_STR(image_url);
    SAME_STR(currency);
    SAME_STR(category);
    SAME_STR(brand);
    SAME_STR(tags_json);
    SAME_STR(attrs_json);
#undef SAME_STR
    cr_assert((isnan(a->price) && isnan(b->price)) || a->price == b->price, "price %.17g vs %.17g", a->price, b->price);
    cr_assert_eq(a->available, b->available);
    cr_assert_eq(a->stock, b->stock);
    cr_assert_eq(a->visible, b->visible);
    cr_assert_eq(a->created_ms, b->created_ms);
    cr_assert_eq(a->updated_ms, b->updated_ms);
}

static void round_trip(const char *sq)
{
    cr_assert_eq(val(sq), TL_OK, "%s: %s", sq, err.msg);
    struct tl_buf b, s2;
    tl_buf_init(&b, 0);
    tl_buf_init(&s2, 0);
    cr_assert_eq(tl_item_to_json(&it, &b), TL_OK);
    json_error_t je;
    json_t *o = json_loads(b.data, 0, &je);
    cr_assert_not_null(o, "%s: %s", je.text, b.data);
    struct tl_item back;
    cr_assert_eq(tl_item_from_json(o, NOW + 1000, &back, &s2, &err), TL_OK, "%s", err.msg);
    assert_same_item(&it, &back);
    json_decref(o);
    tl_buf_free(&b);
    tl_buf_free(&s2);
}

Test(ingest_item, round_trip)
{
    round_trip("{'id':'SKU-1','title':'Red mug','description':'two\\nlines','url':'https://x/1',"
               "'image_url':'https://x/1.jpg','price':12.5,'currency':'gbp','category':['Home','Kitchen'],"
               "'brand':'Acme','tags':['gift','x'],'available':false,'stock':3,"
               "'attributes':{'colour':'red','dims':{'h':10.5}},'visible':false,'created_at':1700000000000}");
    round_trip("{'id':42,'title':'minimal'}");
    round_trip("{'id':'e','title':'empty lists','tags':[],'attributes':{},'category':[]}");
    round_trip("{'id':'p','title':'odd price','price':0.30000000000000004}");
    round_trip("{'id':'p','title':'big price','price':123456789.987654321}");
    round_trip("{'id':'ü','title':'unicode 😀 «»','category':'Cuisine > Tasses'}");
}

/* ---------- split ---------- */

static json_t *arr;
static void split_fini(void)
{
    if (arr) json_decref(arr);
    arr = NULL;
}
TestSuite(ingest_item_split, .fini = split_fini);

static enum tl_rc split(const char *body)
{
    if (arr) json_decref(arr);
    arr = NULL;
    tl_err_clear(&err);
    return tl_items_split_body(body, body ? strlen(body) : 0, &arr, &err);
}

Test(ingest_item_split, forms)
{
    cr_assert_eq(split("[{\"id\":\"a\"},{\"id\":\"b\"}]"), TL_OK);
    cr_assert_eq(json_array_size(arr), 2);
    cr_assert_eq(split("{\"items\":[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"}]}"), TL_OK);
    cr_assert_eq(json_array_size(arr), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 2), "id")), "c");
    cr_assert_eq(split("{\"id\":\"a\",\"title\":\"T\"}"), TL_OK);
    cr_assert_eq(json_array_size(arr), 1);
    /* an item that has an "items" field is still an item */
    cr_assert_eq(split("{\"id\":\"bundle\",\"items\":[\"x\"]}"), TL_OK);
    cr_assert_eq(json_array_size(arr), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0), "id")), "bundle");
    cr_assert_eq(split("{\"id\":\"a\"}\n{\"id\":\"b\"}\n"), TL_OK);
    cr_assert_eq(json_array_size(arr), 2);
}

Test(ingest_item_split, errors)
{
    cr_assert_eq(split(""), TL_EINVAL);
    cr_assert_eq(split("{\"items\":[{\"id\":\"a\"},7]}"), TL_EINVAL);
    cr_assert(strstr(err.msg, "element 1"), "%s", err.msg);
    cr_assert_null(arr);
    cr_assert_eq(split("{\"id\":\"a\"}\n{\"id\":\n"), TL_EPARSE);
    cr_assert_eq(err.line, 2);
    struct tl_buf b;
    tl_buf_init(&b, 0);
    tl_buf_puts(&b, "{\"items\":[");
    for (int i = 0; i <= TL_BATCH_MAX; i++) tl_buf_printf(&b, "%s{\"id\":\"%d\"}", i ? "," : "", i);
    tl_buf_puts(&b, "]}");
    cr_assert_eq(split(b.data), TL_ETOOBIG);
    cr_assert_null(arr);
    tl_buf_free(&b);
}
