/* Synthetic behaviour events in the shapes of bench/gen_events.py (see its
 * docstring): 150-250 bytes each, 58% product views, the rest page and
 * category views, searches, cart changes, checkouts, purchases and
 * recommendation clicks; 5,000 shoppers, 20,000 items. Shared by the event
 * parsing benchmark and the fast-path tests, so both measure and check the
 * same traffic. Header-only; deterministic for a given rng state. */
#ifndef TL_BENCH_EVENT_GEN_H
#define TL_BENCH_EVENT_GEN_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/timeutil.h"

/* splitmix64 step (Steele, Lea and Flood 2014). */
static inline uint64_t tl_gen_rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline size_t tl_gen_rn(uint64_t *s, size_t n) { return n ? (size_t)(tl_gen_rnd(s) % n) : 0; }

/* Append one event as compact JSON (no newline) to out. */
static inline void tl_gen_event(struct tl_buf *out, long i, int64_t ts, uint64_t *rs)
{
    static const char *const types[] = {"product_view",   "page_view",   "category_view",
                                        "search",         "add_to_cart", "remove_from_cart",
                                        "checkout_start", "purchase",    "recommendation_click"};
    static const int weights[] = {58, 8, 8, 6, 8, 2, 2, 3, 5};
    static const char *const cats[] = {"Home > Kitchen", "Home > Decor", "Gifts > Christmas", "Garden", "Toys",
                                       "Stationery",     "Bags",         "Lighting",          "Party",  "Baby"};
    static const char *const queries[] = {"red mug",       "christmas lights", "lunch bag",   "tea set",
                                          "candle holder", "wall clock",       "garden sign", "paper napkins",
                                          "cake stand",    "doormat"};
    static const char *const countries[] = {"GB", "GB", "GB", "GB", "GB", "GB", "GB",
                                            "GB", "FR", "DE", "NL", "IE", "ES"};
    int w = (int)tl_gen_rn(rs, 100), t = 0;
    while (w >= weights[t]) w -= weights[t++];
    const char *type = types[t];
    char iso[40], who[64], sess[64], item[32], head[256], body[256], second[96];
    tl_time_format(ts, iso, sizeof iso);
    long k = (long)tl_gen_rn(rs, 5000);
    if ((int)tl_gen_rn(rs, 100) < 70)
        snprintf(who, sizeof who, "\"user_id\":\"u%06ld\"", k + 1);
    else
        snprintf(who, sizeof who, "\"anonymous_id\":\"a-%012llx\"", (unsigned long long)(tl_gen_rnd(rs) >> 16));
    snprintf(sess, sizeof sess, ",\"session_id\":\"s-%ld-%lld\"", k, (long long)(ts / 1800000));
    snprintf(item, sizeof item, "sku-%06zu", tl_gen_rn(rs, 20000) + 1);
    double price = (double)(tl_gen_rn(rs, 5950) + 50) / 100.0;
    const char *country = countries[tl_gen_rn(rs, sizeof countries / sizeof *countries)];
    snprintf(head, sizeof head, "{\"event_id\":\"ev-%ld\",\"type\":\"%s\",\"timestamp\":\"%s\",%s", i, type, iso, who);
    body[0] = second[0] = '\0';
    if (!strcmp(type, "product_view") || !strcmp(type, "recommendation_click")) {
        int n = snprintf(body, sizeof body, ",\"item_id\":\"%s\",\"price\":%.2f,\"country\":\"%s\",\"dwell_ms\":%zu",
                         item, price, country, tl_gen_rn(rs, 89500) + 500);
        if (type[0] == 'r')
            snprintf(body + n, sizeof body - (size_t)n, ",\"recommendation_id\":\"r-%llx\"",
                     (unsigned long long)(tl_gen_rnd(rs) >> 24));
    } else if (!strcmp(type, "add_to_cart") || !strcmp(type, "remove_from_cart")) {
        snprintf(body, sizeof body, ",\"item_id\":\"%s\",\"quantity\":%zu,\"price\":%.2f,\"country\":\"%s\"", item,
                 tl_gen_rn(rs, 6) + 1, price, country);
    } else if (!strcmp(type, "purchase") || !strcmp(type, "checkout_start")) {
        snprintf(body, sizeof body,
                 ",\"order_id\":\"o-%ld\",\"country\":\"%s\",\"items\":[{\"item_id\":\"%s\",\"quantity\":%zu,"
                 "\"price\":%.2f}",
                 i, country, item, tl_gen_rn(rs, 12) + 1, price);
        snprintf(second, sizeof second, ",{\"item_id\":\"sku-%06zu\",\"quantity\":%zu,\"price\":%.2f}",
                 tl_gen_rn(rs, 20000) + 1, tl_gen_rn(rs, 12) + 1, (double)(tl_gen_rn(rs, 5950) + 50) / 100.0);
    } else if (!strcmp(type, "category_view")) {
        snprintf(body, sizeof body, ",\"category\":\"%s\",\"country\":\"%s\"",
                 cats[tl_gen_rn(rs, sizeof cats / sizeof *cats)], country);
    } else if (!strcmp(type, "search")) {
        snprintf(body, sizeof body, ",\"query\":\"%s\",\"country\":\"%s\"",
                 queries[tl_gen_rn(rs, sizeof queries / sizeof *queries)], country);
    } else {
        snprintf(body, sizeof body, ",\"country\":\"%s\"", country);
    }
    char line[512];
    size_t len = (size_t)snprintf(line, sizeof line, "%s%s%s", head, sess, body);
    if (second[0]) {
        if (len + strlen(second) + 2 <= 250) len += (size_t)snprintf(line + len, sizeof line - len, "%s", second);
        len += (size_t)snprintf(line + len, sizeof line - len, "]");
    }
    if (len + 1 > 250) /* drop the session id first */
        len = (size_t)snprintf(line, sizeof line, "%s%s%s", head, body, second[0] ? "]" : "");
    if (len + 1 < 150) { /* a "context" pad up to 150 bytes */
        size_t room = 150 - (len + 1);
        int pv = !strcmp(type, "product_view");
        int cl = snprintf(line + len, sizeof line - len, ",\"context\":{\"page\":\"%s%s\",\"referrer\":\"",
                          pv ? "/products/" : "/", pv ? item : "");
        len += (size_t)cl;
        size_t pad = room > (size_t)cl + 3 ? room - (size_t)cl - 3 : 0, keep = pad > 1 ? pad : 1;
        const char *site = "https://www.example.com/";
        for (size_t j = 0; j < keep; j++) line[len++] = j < strlen(site) ? site[j] : 'x';
        len += (size_t)snprintf(line + len, sizeof line - len, "\"}");
    }
    len += (size_t)snprintf(line + len, sizeof line - len, "}");
    tl_buf_append(out, line, len);
}

#endif
