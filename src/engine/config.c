/* Server configuration: defaults and the JSON config file (see config.h and
 * docs/configuration.md). The file is one JSON object whose keys are the
 * field names of struct tl_config; unknown keys and wrong types are errors
 * naming the key, so a typo never silently falls back to a default. */
#include "engine/config.h"

#include "decide/merch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tl_config_defaults(struct tl_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->db_path, sizeof c->db_path, "tailor.db");
    snprintf(c->bind, sizeof c->bind, "127.0.0.1");
    c->port = 8080;
    c->http_threads = 0;
    c->max_body_bytes = 32u << 20;
    c->request_timeout_s = 30;
    c->max_connections = 1024;
    c->writer_queue_max = 200000;
    c->sync_full = 1;
    c->profiles_max = 100000;
    c->import_profiles_max = 1000000;
    c->affinity_half_life_days = 14;
    c->session_timeout_min = 30;
    c->checkpoint_interval_ms = 5000;
    c->popular_half_life_days = 30;
    c->trending_short_days = 3;
    c->trending_long_days = 28;
    c->trending_country_min = 30;
    snprintf(c->cors_origin, sizeof c->cors_origin, "*");
    snprintf(c->web_root, sizeof c->web_root, "web");
    snprintf(c->search_language, sizeof c->search_language, "english");
    c->search_personalization = 0.3;
    c->search_learning = 0.5;
    snprintf(c->cooc_similarity, sizeof c->cooc_similarity, "cond");
    c->cooc_min_support = 2;
    c->train_interval_s = 3600;
    c->train_threads = 1;
    snprintf(c->train_models, sizeof c->train_models, "blend,ials,itemknn,content,sknn,arules");
    snprintf(c->for_you_blend, sizeof c->for_you_blend, "blend:1,ials:0.3,itemknn:0.2,sknn:0.3,cooc:0.2");
    snprintf(c->similar_blend, sizeof c->similar_blend, "ials:1,itemknn:0.7,content:0.4");
    snprintf(c->cart_blend, sizeof c->cart_blend, "arules:1,bought_together:1");
    /* rules of up to 3 items from itemsets in at least 0.5% of the orders:
     * wholesale baskets of hundreds of lines make lower supports explode */
    /* EASE (inside the blend) keeps n_items^2 floats: at most 12,000 items
     * (576 MB); above that the blend is left out and the other sources serve */
    snprintf(c->model_params, sizeof c->model_params,
             "arules.min_support=0.005,arules.max_len=3,blend.ease.max_items=12000");
    c->weight_view = 1;
    c->weight_cart = 4;
    c->weight_purchase = 10;
    c->demote_after = 3;
    c->demote_factor = 0.5;
    c->feedback_window_days = 14;
    c->attribution_window_h = 24;
    c->feedback_max = 2000000;
}

enum kind { K_STR, K_INT, K_SIZE, K_I64, K_DBL, K_BOOL, K_JSON };

struct field {
    const char *name;
    enum kind kind;
    size_t off;
    size_t size; /* strings: buffer size */
    double min, max;
};

#define F(n, k, sz, lo, hi)                                                                                            \
    {                                                                                                                  \
#n, k, offsetof(struct tl_config, n), sz, lo, hi                                                               \
    }
static const struct field fields[] = {
    F(db_path, K_STR, sizeof(((struct tl_config *)0)->db_path), 0, 0),
    F(bind, K_STR, sizeof(((struct tl_config *)0)->bind), 0, 0),
    F(port, K_INT, 0, 1, 65535),
    F(http_threads, K_INT, 0, 0, 256),
    F(max_body_bytes, K_SIZE, 0, 1024, 1 << 30),
    F(request_timeout_s, K_INT, 0, 1, 3600),
    F(max_connections, K_INT, 0, 1, 100000),
    F(writer_queue_max, K_SIZE, 0, 1000, 1e8),
    F(sync_full, K_BOOL, 0, 0, 1),
    F(profiles_max, K_SIZE, 0, 16, 1e9),
    F(import_profiles_max, K_SIZE, 0, 16, 1e9),
    F(affinity_half_life_days, K_DBL, 0, 0.01, 3650),
    F(session_timeout_min, K_INT, 0, 1, 1440),
    F(checkpoint_interval_ms, K_I64, 0, 100, 3.6e6),
    F(popular_half_life_days, K_DBL, 0, 0.01, 3650),
    F(trending_short_days, K_DBL, 0, 0.01, 365),
    F(trending_long_days, K_DBL, 0, 0.02, 3650),
    F(trending_country_min, K_DBL, 0, 0, 1e9),
    F(cors_origin, K_STR, sizeof(((struct tl_config *)0)->cors_origin), 0, 0),
    F(web_root, K_STR, sizeof(((struct tl_config *)0)->web_root), 0, 0),
    F(demo_key, K_STR, sizeof(((struct tl_config *)0)->demo_key), 0, 0),
    F(search_language, K_STR, sizeof(((struct tl_config *)0)->search_language), 0, 0),
    F(search_synonyms, K_STR, sizeof(((struct tl_config *)0)->search_synonyms), 0, 0),
    F(search_stop_words, K_STR, sizeof(((struct tl_config *)0)->search_stop_words), 0, 0),
    F(search_personalization, K_DBL, 0, 0, 10),
    F(search_learning, K_DBL, 0, 0, 10),
    F(cooc_similarity, K_STR, sizeof(((struct tl_config *)0)->cooc_similarity), 0, 0),
    F(cooc_min_support, K_INT, 0, 1, 1000000),
    F(rebuy_categories, K_STR, sizeof(((struct tl_config *)0)->rebuy_categories), 0, 0),
    F(train_interval_s, K_INT, 0, 0, 30 * 86400),
    F(train_threads, K_INT, 0, 1, 64),
    F(segments_k, K_INT, 0, -1, 24),
    F(train_models, K_STR, sizeof(((struct tl_config *)0)->train_models), 0, 0),
    F(model_params, K_STR, sizeof(((struct tl_config *)0)->model_params), 0, 0),
    F(for_you_blend, K_STR, sizeof(((struct tl_config *)0)->for_you_blend), 0, 0),
    F(similar_blend, K_STR, sizeof(((struct tl_config *)0)->similar_blend), 0, 0),
    F(cart_blend, K_STR, sizeof(((struct tl_config *)0)->cart_blend), 0, 0),
    F(weight_view, K_DBL, 0, 0.001, 1000),
    F(weight_cart, K_DBL, 0, 0.001, 1000),
    F(weight_purchase, K_DBL, 0, 0.001, 1000),
    F(demote_after, K_INT, 0, 0, 1000),
    F(demote_factor, K_DBL, 0, 0, 1),
    F(feedback_window_days, K_DBL, 0, 0.01, 3650),
    F(attribution_window_h, K_DBL, 0, 0.01, 24 * 365),
    F(feedback_max, K_SIZE, 0, 1000, 1e9),
    F(merch_rules, K_JSON, sizeof(((struct tl_config *)0)->merch_rules), 0, 0),
};
#undef F

/* "name:weight,..." with names of [a-z0-9_] and weights 0..1000. */
int tl_config_blend_ok(const char *spec)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", spec);
    char *save = NULL;
    int n = 0;
    for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *colon = strchr(tok, ':');
        if (colon) {
            char *end;
            double w = strtod(colon + 1, &end);
            if (end == colon + 1 || *end || !(w >= 0 && w <= 1000)) return 0;
            *colon = '\0';
        }
        if (!*tok) return 0;
        for (const char *p = tok; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return 0;
        n++;
    }
    return n > 0;
}

enum tl_rc tl_config_load(struct tl_config *c, const char *path, struct tl_err *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        if (je.line < 0) return tl_err_set(err, TL_EIO, NULL, "config %s: %s", path, je.text);
        tl_err_set(err, TL_EPARSE, NULL, "config %s: line %d column %d: %s", path, je.line, je.column, je.text);
        if (err) {
            err->line = je.line;
            err->column = je.column;
        }
        return TL_EPARSE;
    }
    enum tl_rc rc = TL_OK;
    if (!json_is_object(root)) {
        rc = tl_err_set(err, TL_EINVAL, NULL, "config %s: expected a JSON object", path);
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        const struct field *f = NULL;
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            if (strcmp(fields[i].name, key) == 0) f = &fields[i];
        if (!f) {
            rc = tl_err_set(err, TL_EINVAL, key, "config %s: unknown setting \"%s\"", path, key);
            goto out;
        }
        char *base = (char *)c + f->off;
        if (f->kind == K_JSON) { /* kept as compact JSON text, validated below */
            char *txt = json_dumps(v, JSON_COMPACT);
            if (!txt || strlen(txt) >= f->size) {
                free(txt);
                rc = tl_err_set(err, TL_EINVAL, key, "config %s: \"%s\" is larger than %zu bytes", path, key,
                                f->size - 1);
                goto out;
            }
            snprintf(base, f->size, "%s", txt);
            free(txt);
            continue;
        }
        if (f->kind == K_STR) {
            if (!json_is_string(v) || json_string_length(v) >= f->size) {
                rc = tl_err_set(err, TL_EINVAL, key, "config %s: \"%s\" must be a string of at most %zu bytes", path,
                                key, f->size - 1);
                goto out;
            }
            snprintf(base, f->size, "%s", json_string_value(v));
            continue;
        }
        if (f->kind == K_BOOL) {
            if (!json_is_boolean(v)) {
                rc = tl_err_set(err, TL_EINVAL, key, "config %s: \"%s\" must be true or false", path, key);
                goto out;
            }
            *(int *)base = json_is_true(v);
            continue;
        }
        if (!json_is_number(v) || (f->kind != K_DBL && !json_is_integer(v))) {
            rc = tl_err_set(err, TL_EINVAL, key, "config %s: \"%s\" must be %s", path, key,
                            f->kind == K_DBL ? "a number" : "an integer");
            goto out;
        }
        double d = json_number_value(v);
        if (d < f->min || d > f->max) {
            rc = tl_err_set(err, TL_EINVAL, key, "config %s: \"%s\" must be between %g and %g", path, key, f->min,
                            f->max);
            goto out;
        }
        switch (f->kind) {
        case K_INT:
            *(int *)base = (int)d;
            break;
        case K_SIZE:
            *(size_t *)base = (size_t)d;
            break;
        case K_I64:
            *(int64_t *)base = (int64_t)d;
            break;
        default:
            *(double *)base = d;
            break;
        }
    }
    static const char *const blends[] = {"for_you_blend", "similar_blend", "cart_blend"};
    const char *specs[] = {c->for_you_blend, c->similar_blend, c->cart_blend};
    for (size_t i = 0; i < 3; i++)
        if (!tl_config_blend_ok(specs[i])) {
            rc = tl_err_set(err, TL_EINVAL, blends[i],
                            "config %s: \"%s\" must be source:weight pairs such as \"ials:1,itemknn:0.5\" "
                            "(weights 0..1000)",
                            path, blends[i]);
            goto out;
        }
    struct tl_merch *m = NULL;
    if ((rc = tl_merch_parse(c->merch_rules, &m, err)) != TL_OK) goto out;
    tl_merch_free(m);
    if (strcmp(c->cooc_similarity, "cosine") && strcmp(c->cooc_similarity, "jaccard") &&
        strcmp(c->cooc_similarity, "lift") && strcmp(c->cooc_similarity, "cond"))
        rc = tl_err_set(err, TL_EINVAL, "cooc_similarity",
                        "config %s: \"cooc_similarity\" must be cosine, jaccard, lift or cond", path);
out:
    json_decref(root);
    return rc;
}
