/* Tests for src/decide/merch.c: parsing and validation errors naming the
 * rule and field, matchers (item, category subtree, tag, brand), type
 * masks, exclude and the product of boost/bury factors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "decide/merch.h"

static struct tl_item item(const char *id, const char *cat, const char *brand, const char *tags)
{
    struct tl_item it;
    memset(&it, 0, sizeof it);
    it.id = id;
    it.category = cat;
    it.brand = brand;
    it.tags_json = tags;
    it.price = 1;
    return it;
}

Test(merch, parse_and_match)
{
    struct tl_merch *m = NULL;
    struct tl_err e;
    const char *rules = "[{\"action\":\"exclude\",\"brand\":\"acme\"},"
                        "{\"action\":\"boost\",\"category\":\"Home\",\"factor\":3},"
                        "{\"action\":\"bury\",\"tag\":\"clearance\",\"types\":[\"for_you\",\"popular\"]},"
                        "{\"action\":\"pin\",\"item\":\"X1\",\"position\":2},"
                        "{\"action\":\"boost\",\"item\":\"H2\"}]";
    cr_assert_eq(tl_merch_parse(rules, &m, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(m->n, 5);
    uint32_t fy = tl_merch_type_bit("for_you"), sim = tl_merch_type_bit("similar");
    cr_assert(fy && sim && fy != sim);
    cr_assert_eq(tl_merch_type_bit("nearby"), 0);
    struct tl_item a = item("A", "Garden", "ACME", NULL);
    struct tl_item h = item("H", "Home > Candles", "Other", "[\"gift\",\"clearance\"]");
    struct tl_item h2 = item("H2", "Homeware", NULL, "[\"clearances\"]");
    cr_assert(tl_merch_excluded(m, fy, &a)); /* brand, case-insensitive */
    cr_assert_not(tl_merch_excluded(m, fy, &h));
    int rule = 0;
    /* H: boost 3 (category subtree) x bury 0.1 (tag) for for_you */
    cr_assert_float_eq(tl_merch_factor(m, fy, &h, &rule), 0.3, 1e-12);
    cr_assert_eq(rule, 1);
    /* similar: the bury rule does not apply */
    cr_assert_float_eq(tl_merch_factor(m, sim, &h, NULL), 3.0, 1e-12);
    /* H2: "Homeware" is not under "Home"; "clearances" is not the tag; item boost default 2 */
    cr_assert_float_eq(tl_merch_factor(m, fy, &h2, &rule), 2.0, 1e-12);
    cr_assert_eq(rule, 4);
    cr_assert_eq(m->r[3].position, 2);
    tl_merch_free(m);
}

Test(merch, errors_name_the_rule)
{
    struct {
        const char *json, *field;
    } bad[] = {
        {"{}", "merch_rules"},
        {"[{\"action\":\"shout\",\"item\":\"a\"}]", "merch_rules[0].action"},
        {"[{\"action\":\"boost\"}]", "merch_rules[0]"},
        {"[{\"action\":\"boost\",\"item\":\"a\",\"brand\":\"b\"}]", "merch_rules[0]"},
        {"[{\"action\":\"pin\",\"tag\":\"a\"}]", "merch_rules[0].item"},
        {"[{\"action\":\"boost\",\"item\":\"a\"},{\"action\":\"boost\",\"item\":\"a\",\"factor\":0.5}]",
         "merch_rules[1].factor"},
        {"[{\"action\":\"bury\",\"item\":\"a\",\"factor\":1.5}]", "merch_rules[0].factor"},
        {"[{\"action\":\"pin\",\"item\":\"a\",\"position\":0}]", "merch_rules[0].position"},
        {"[{\"action\":\"exclude\",\"item\":\"a\",\"types\":[\"nearby\"]}]", "merch_rules[0].types"},
        {"[{\"action\":\"exclude\",\"item\":\"a\",\"colour\":\"red\"}]", "merch_rules[0].colour"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tl_merch *m = NULL;
        struct tl_err e;
        tl_err_clear(&e);
        cr_assert_eq(tl_merch_parse(bad[i].json, &m, &e), TL_EINVAL, "case %zu", i);
        cr_assert_null(m);
        cr_assert_str_eq(e.field, bad[i].field, "case %zu: %s", i, e.msg);
    }
    struct tl_merch *m = NULL;
    cr_assert_eq(tl_merch_parse("", &m, NULL), TL_OK);
    cr_assert_eq(m->n, 0);
    tl_merch_free(m);
}
