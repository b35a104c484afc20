/* Merchandising rules (see merch.h): parsing with jansson and matching.
 * Matching is a linear scan over the rules; shops configure tens of rules,
 * and an answer has at most a few hundred candidates. */
#include "decide/merch.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

static const char *const types[] = {"for_you",     "similar", "session",         "bought_together", "also_bought",
                                    "also_viewed", "cart",    "recently_viewed", "popular",         "trending"};

uint32_t tl_merch_type_bit(const char *type)
{
    for (size_t i = 0; type && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(type, types[i]) == 0) return 1u << i;
    return 0;
}

void tl_merch_free(struct tl_merch *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) {
        tl_free(m->r[i].item);
        tl_free(m->r[i].category);
        tl_free(m->r[i].tag);
        tl_free(m->r[i].brand);
    }
    tl_free(m->r);
    tl_free(m);
}

static enum tl_rc bad(struct tl_err *err, size_t i, const char *field, const char *msg)
{
    char f[64];
    snprintf(f, sizeof f, "merch_rules[%zu]%s%s", i, field ? "." : "", field ? field : "");
    return tl_err_set(err, TL_EINVAL, f, "%s: %s", f, msg);
}

static enum tl_rc parse_rule(json_t *o, size_t i, struct tl_merch_rule *r, struct tl_err *err)
{
    if (!json_is_object(o)) return bad(err, i, NULL, "each rule must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        static const char *const known[] = {"action", "item",  "category", "tag",
                                            "brand",  "types", "factor",   "position"};
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) ok |= strcmp(key, known[k]) == 0;
        if (!ok)
            return bad(err, i, key,
                       "unknown field (expected action, item, category, tag, brand, types, factor, "
                       "position)");
    }
    const char *action = json_string_value(json_object_get(o, "action"));
    if (!action) return bad(err, i, "action", "action is required: pin, boost, bury or exclude");
    if (strcmp(action, "pin") == 0)
        r->action = TL_MERCH_PIN;
    else if (strcmp(action, "boost") == 0)
        r->action = TL_MERCH_BOOST;
    else if (strcmp(action, "bury") == 0)
        r->action = TL_MERCH_BURY;
    else if (strcmp(action, "exclude") == 0)
        r->action = TL_MERCH_EXCLUDE;
    else
        return bad(err, i, "action", "action must be pin, boost, bury or exclude");
    static const char *const matchers[] = {"item", "category", "tag", "brand"};
    char **slots[] = {&r->item, &r->category, &r->tag, &r->brand};
    int nm = 0;
    for (size_t k = 0; k < 4; k++) {
        json_t *m = json_object_get(o, matchers[k]);
        if (!m) continue;
        if (!json_is_string(m) || json_string_length(m) == 0 || json_string_length(m) > TL_ID_MAX)
            return bad(err, i, matchers[k], "must be a non-empty string");
        if (!(*slots[k] = tl_strdup(json_string_value(m)))) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        nm++;
    }
    if (nm != 1) return bad(err, i, NULL, "exactly one of item, category, tag or brand is required");
    if (r->action == TL_MERCH_PIN && !r->item) return bad(err, i, "item", "pin needs an item");
    json_t *f = json_object_get(o, "factor");
    r->factor = r->action == TL_MERCH_BOOST ? 2.0 : r->action == TL_MERCH_BURY ? 0.1 : 1.0;
    if (f) {
        if (!json_is_number(f) || (r->action != TL_MERCH_BOOST && r->action != TL_MERCH_BURY))
            return bad(err, i, "factor", "factor is a number, for boost and bury only");
        r->factor = json_number_value(f);
        if (r->action == TL_MERCH_BOOST && !(r->factor > 1.0 && r->factor <= 1000.0))
            return bad(err, i, "factor", "a boost factor must be above 1 and at most 1000");
        if (r->action == TL_MERCH_BURY && !(r->factor >= 0.0 && r->factor < 1.0))
            return bad(err, i, "factor", "a bury factor must be from 0 to below 1");
    }
    json_t *p = json_object_get(o, "position");
    r->position = 1;
    if (p) {
        if (r->action != TL_MERCH_PIN || !json_is_integer(p) || json_integer_value(p) < 1 ||
            json_integer_value(p) > 100)
            return bad(err, i, "position", "position is an integer 1..100, for pin only");
        r->position = (int)json_integer_value(p);
    }
    json_t *t = json_object_get(o, "types");
    r->types = UINT32_MAX;
    if (t) {
        if (!json_is_array(t) || json_array_size(t) == 0)
            return bad(err, i, "types", "types must be a non-empty array of recommendation types");
        r->types = 0;
        size_t k;
        json_t *x;
        json_array_foreach(t, k, x)
        {
            uint32_t bit = tl_merch_type_bit(json_string_value(x));
            if (!bit) return bad(err, i, "types", "unknown recommendation type");
            r->types |= bit;
        }
    }
    r->index = (int)i;
    return TL_OK;
}

enum tl_rc tl_merch_parse(const char *text, struct tl_merch **out, struct tl_err *err)
{
    *out = NULL;
    struct tl_merch *m = tl_calloc(1, sizeof *m);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    if (!text || !*text) {
        *out = m;
        return TL_OK;
    }
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    enum tl_rc rc = TL_OK;
    if (!root || !json_is_array(root))
        rc = tl_err_set(err, TL_EINVAL, "merch_rules", "merch_rules must be a JSON array of rules");
    else if (json_array_size(root) > TL_MERCH_RULES_MAX)
        rc = tl_err_set(err, TL_EINVAL, "merch_rules", "at most %d merch_rules", TL_MERCH_RULES_MAX);
    else if (json_array_size(root) && !(m->r = tl_calloc(json_array_size(root), sizeof *m->r)))
        rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; rc == TL_OK && i < json_array_size(root); i++) {
        m->n = i + 1;
        rc = parse_rule(json_array_get(root, i), i, &m->r[i], err);
    }
    json_decref(root);
    if (rc) {
        tl_merch_free(m);
        return rc;
    }
    *out = m;
    return TL_OK;
}

/* "Home" matches "Home" and "Home > Candles", not "Homeware". */
static int under(const char *path, const char *want)
{
    size_t n = strlen(want);
    return path && strncasecmp(path, want, n) == 0 && (path[n] == '\0' || strncmp(path + n, " >", 2) == 0);
}

/* tag in the item's JSON array text, as a whole quoted string. */
static int has_tag(const char *tags_json, const char *tag)
{
    size_t n = strlen(tag);
    for (const char *p = tags_json; p && (p = strchr(p, '"')) != NULL; p++) {
        if (strncasecmp(p + 1, tag, n) == 0 && p[1 + n] == '"') return 1;
        p = strchr(p + 1, '"'); /* skip to the closing quote */
        if (!p) break;
    }
    return 0;
}

int tl_merch_match(const struct tl_merch_rule *r, const struct tl_item *it)
{
    if (!it) return 0;
    if (r->item) return strcmp(r->item, it->id) == 0;
    if (r->category) return under(it->category, r->category);
    if (r->brand) return it->brand && strcasecmp(it->brand, r->brand) == 0;
    return has_tag(it->tags_json, r->tag);
}

int tl_merch_excluded(const struct tl_merch *m, uint32_t type_bit, const struct tl_item *it)
{
    for (size_t i = 0; m && i < m->n; i++)
        if (m->r[i].action == TL_MERCH_EXCLUDE && (m->r[i].types & type_bit) && tl_merch_match(&m->r[i], it)) return 1;
    return 0;
}

double tl_merch_factor(const struct tl_merch *m, uint32_t type_bit, const struct tl_item *it, int *rule)
{
    double f = 1.0;
    if (rule) *rule = -1;
    for (size_t i = 0; m && i < m->n; i++) {
        const struct tl_merch_rule *r = &m->r[i];
        if ((r->action != TL_MERCH_BOOST && r->action != TL_MERCH_BURY) || !(r->types & type_bit) ||
            !tl_merch_match(r, it))
            continue;
        f *= r->factor;
        if (rule && *rule < 0) *rule = r->index;
    }
    return f;
}
