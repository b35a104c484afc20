/* Search analytics and learned query -> product preferences (see
 * search_stats.h).
 *
 * Data:
 *   queries  a string table keyed "<shop>\x1f<normalised query>" -> qid, and
 *            per qid the counters (searches, zero_results, clicks, carts,
 *            purchases) and up to PAIRS_PER_QUERY learned (item, score, ts).
 *   last     shopper hash -> (qid << 32 | clicked << 31 | seconds since
 *            2020-01-01 of the search): the shopper's last search, which
 *            their next actions credit; `clicked` marks that it was clicked
 *            already (click-through = searches with >= 1 click / searches).
 *   seen     hash(shopper, qid) -> time in seconds of the last counted
 *            search: the same shopper repeating a query within dedupe_ms
 *            (pagination, refinements, a storefront event and the server's
 *            own record of one search) counts once.
 *
 * Learned score of (query, item), with exponential decay of half-life H:
 *   s(t) = sum over credited actions a of w_a * 2^(-(t - t_a) / H)
 * kept as (s, t0) and updated in O(1): s <- s * 2^(-(t - t0)/H) + w, t0 <- t.
 * Credits: click w_click = 1, add to cart w_cart = 3, purchase w_purchase = 5
 * (a purchase says more about the match than a curious click). The weight
 * served to ranking is s / max_j s_j over the query's items, in (0, 1].
 *
 * Bounds: TL_SSTATS_QUERIES_MAX queries (beyond: new queries are not
 * tracked, and counted in dropped), PAIRS_PER_QUERY items per query (a new
 * item replaces the weakest when its first credit beats that one's decayed
 * score), TL_SSTATS_SHOPPERS_MAX shoppers in `last`/`seen` (beyond: both
 * maps are cleared, losing at most one pending credit per shopper). */
#include "analytics/search_stats.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/map.h"

#define PAIRS_PER_QUERY 128
#define MS_PER_DAY 86400000.0
#define EPOCH_2020_S 1577836800LL /* `last` keeps 31 bits of seconds from here (until 2088) */
#define CLICKED_BIT 0x80000000u

struct pair {
    uint32_t item;
    float score;
    int64_t ts_ms;
};

struct qrow {
    uint32_t shop;
    uint32_t searches, zero, clicked, clicks, carts, purchases;
    uint16_t n_pairs;
    struct pair *pairs; /* PAIRS_PER_QUERY, allocated on the first credit */
};

struct tl_sstats {
    pthread_mutex_t mu;
    struct tl_sstats_params p;
    struct tl_strtab qtab;
    struct qrow *rows;
    uint32_t rows_cap;
    struct tl_u64map last;
    struct tl_u64map seen;
    uint64_t dropped;
    /* completions snapshot: qids of clicked queries sorted by their key */
    uint32_t *comp;
    size_t ncomp;
    int64_t comp_built_ms;
    int comp_dirty;
};

struct tl_sstats *tl_sstats_new(const struct tl_sstats_params *p)
{
    struct tl_sstats *st = tl_calloc(1, sizeof *st);
    if (!st) return NULL;
    pthread_mutex_init(&st->mu, NULL);
    struct tl_sstats_params d = {.follow_ms = 30 * 60 * 1000,
                                 .dedupe_ms = 30 * 60 * 1000,
                                 .half_life_days = 30,
                                 .w_click = 1,
                                 .w_cart = 3,
                                 .w_purchase = 5};
    st->p = p ? *p : d;
    tl_strtab_init(&st->qtab);
    tl_u64map_init(&st->last);
    tl_u64map_init(&st->seen);
    return st;
}

void tl_sstats_free(struct tl_sstats *st)
{
    if (!st) return;
    for (uint32_t i = 0; i < st->qtab.count && i < st->rows_cap; i++) tl_free(st->rows[i].pairs);
    tl_free(st->rows);
    tl_free(st->comp);
    tl_strtab_free(&st->qtab);
    tl_u64map_free(&st->last);
    tl_u64map_free(&st->seen);
    pthread_mutex_destroy(&st->mu);
    tl_free(st);
}

size_t tl_sstats_normalize(const char *q, char *out, size_t cap)
{
    size_t n = 0, lim = cap ? cap - 1 : 0;
    if (lim > TL_SSTATS_QUERY_MAX) lim = TL_SSTATS_QUERY_MAX;
    int space = 0;
    for (const unsigned char *s = (const unsigned char *)(q ? q : ""); *s; s++) {
        unsigned char c = *s;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            space = n > 0;
            continue;
        }
        if (space) {
            if (n + 1 >= lim) break;
            out[n++] = ' ';
            space = 0;
        }
        if (n >= lim) break;
        out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    /* never end inside a UTF-8 sequence: drop a trailing partial one */
    size_t k = n;
    while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80) k--;
    if (k > 0 && ((unsigned char)out[k - 1] & 0x80)) {
        unsigned char lead = (unsigned char)out[k - 1];
        size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (n - (k - 1) < want) n = k - 1;
    }
    while (n > 0 && out[n - 1] == ' ') n--;
    if (cap) out[n] = '\0';
    return n;
}

static uint32_t query_id(struct tl_sstats *st, uint32_t shop, const char *norm, int create)
{
    char key[TL_SSTATS_QUERY_MAX + 16];
    snprintf(key, sizeof key, "%u\x1f%s", shop, norm);
    uint32_t id = tl_strtab_find(&st->qtab, key);
    if (id != TL_STRTAB_NONE || !create) return id;
    if (st->qtab.count >= TL_SSTATS_QUERIES_MAX) {
        st->dropped++;
        return TL_STRTAB_NONE;
    }
    if (st->qtab.count >= st->rows_cap) {
        uint32_t cap = st->rows_cap ? st->rows_cap * 2 : 256;
        struct qrow *r = tl_realloc(st->rows, (size_t)cap * sizeof *r);
        if (!r) return TL_STRTAB_NONE;
        memset(r + st->rows_cap, 0, (size_t)(cap - st->rows_cap) * sizeof *r);
        st->rows = r;
        st->rows_cap = cap;
    }
    if (tl_strtab_intern(&st->qtab, key, &id) != TL_OK) return TL_STRTAB_NONE;
    st->rows[id].shop = shop;
    return id;
}

static void bound_shopper_maps(struct tl_sstats *st)
{
    if (tl_u64map_size(&st->last) < TL_SSTATS_SHOPPERS_MAX && tl_u64map_size(&st->seen) < TL_SSTATS_SHOPPERS_MAX)
        return;
    tl_u64map_free(&st->last);
    tl_u64map_free(&st->seen);
    tl_u64map_init(&st->last);
    tl_u64map_init(&st->seen);
}

void tl_sstats_search(struct tl_sstats *st, uint32_t shop, uint64_t shopper, const char *query, long results,
                      int64_t ts_ms)
{
    char norm[TL_SSTATS_QUERY_MAX + 1];
    if (!st || tl_sstats_normalize(query, norm, sizeof norm) == 0) return;
    pthread_mutex_lock(&st->mu);
    uint32_t qid = query_id(st, shop, norm, 1);
    if (qid != TL_STRTAB_NONE) {
        struct qrow *r = &st->rows[qid];
        uint64_t secs = ts_ms > 0 ? (uint64_t)(ts_ms / 1000) : 0, prev = 0;
        int repeat = 0;
        if (shopper) {
            bound_shopper_maps(st);
            uint64_t k = tl_hash_u64(shopper ^ ((uint64_t)qid * 0x9e3779b97f4a7c15ULL));
            if (tl_u64map_get(&st->seen, k, &prev) && secs >= prev && (int64_t)(secs - prev) * 1000 < st->p.dedupe_ms)
                repeat = 1;
            tl_u64map_put(&st->seen, k, secs);
            uint64_t rel = secs > (uint64_t)EPOCH_2020_S ? secs - (uint64_t)EPOCH_2020_S : 0;
            tl_u64map_put(&st->last, shopper, ((uint64_t)qid << 32) | (rel & 0x7fffffffu));
        }
        if (!repeat) r->searches++;
        /* a zero-result answer counts even on a repeat if the first was not one */
        if (results == 0 && (!repeat || r->zero < r->searches)) r->zero++;
    }
    pthread_mutex_unlock(&st->mu);
}

static double decayed(const struct tl_sstats *st, const struct pair *p, int64_t now_ms)
{
    double dt = (double)(now_ms - p->ts_ms) / MS_PER_DAY;
    return p->score * pow(2.0, -dt / st->p.half_life_days);
}

static void credit(struct tl_sstats *st, struct qrow *r, uint32_t item, double w, int64_t ts)
{
    if (!r->pairs) {
        r->pairs = tl_calloc(PAIRS_PER_QUERY, sizeof *r->pairs);
        if (!r->pairs) return;
    }
    for (uint16_t i = 0; i < r->n_pairs; i++) {
        struct pair *p = &r->pairs[i];
        if (p->item != item) continue;
        if (ts >= p->ts_ms) {
            p->score = (float)(decayed(st, p, ts) + w);
            p->ts_ms = ts;
        } else { /* an older action arriving late adds its decayed weight */
            p->score += (float)(w * pow(2.0, -((double)(p->ts_ms - ts) / MS_PER_DAY) / st->p.half_life_days));
        }
        return;
    }
    if (r->n_pairs < PAIRS_PER_QUERY) {
        r->pairs[r->n_pairs++] = (struct pair){item, (float)w, ts};
        return;
    }
    uint16_t weakest = 0;
    double wv = INFINITY;
    for (uint16_t i = 0; i < r->n_pairs; i++) {
        double v = decayed(st, &r->pairs[i], ts);
        if (v < wv) wv = v, weakest = i;
    }
    if (w > wv) r->pairs[weakest] = (struct pair){item, (float)w, ts};
}

void tl_sstats_action(struct tl_sstats *st, uint32_t shop, uint64_t shopper, uint32_t item, enum tl_sstats_action a,
                      double amount, int64_t ts_ms)
{
    if (!st || !shopper) return;
    pthread_mutex_lock(&st->mu);
    uint64_t v;
    if (tl_u64map_get(&st->last, shopper, &v)) {
        uint32_t qid = (uint32_t)(v >> 32);
        int64_t at_ms = ((int64_t)(v & 0x7fffffffu) + EPOCH_2020_S) * 1000;
        if (qid < st->qtab.count && st->rows[qid].shop == shop && ts_ms >= at_ms - 1000 &&
            ts_ms - at_ms <= st->p.follow_ms) {
            struct qrow *r = &st->rows[qid];
            double w = a == TL_SSTATS_CLICK ? st->p.w_click : a == TL_SSTATS_CART ? st->p.w_cart : st->p.w_purchase;
            if (a == TL_SSTATS_CLICK) {
                r->clicks++;
                if (!(v & CLICKED_BIT)) {
                    r->clicked++;
                    st->comp_dirty = 1;
                    tl_u64map_put(&st->last, shopper, v | CLICKED_BIT);
                }
            } else if (a == TL_SSTATS_CART)
                r->carts++;
            else
                r->purchases++;
            (void)amount;
            credit(st, r, item, w, ts_ms);
        }
    }
    pthread_mutex_unlock(&st->mu);
}

size_t tl_sstats_learned(struct tl_sstats *st, uint32_t shop, const char *norm_query, int64_t now_ms, uint32_t *items,
                         double *weights, size_t max)
{
    if (!st || !norm_query || !norm_query[0] || max == 0) return 0;
    size_t n = 0;
    pthread_mutex_lock(&st->mu);
    uint32_t qid = query_id(st, shop, norm_query, 0);
    if (qid != TL_STRTAB_NONE && st->rows[qid].pairs) {
        const struct qrow *r = &st->rows[qid];
        /* selection of the best `max` by decayed score (n_pairs <= 128) */
        double sc[PAIRS_PER_QUERY];
        uint32_t it[PAIRS_PER_QUERY];
        size_t m = 0;
        for (uint16_t i = 0; i < r->n_pairs; i++) {
            double v = decayed(st, &r->pairs[i], now_ms);
            if (v <= 0) continue;
            size_t j = m++;
            while (j > 0 && (sc[j - 1] < v || (sc[j - 1] == v && it[j - 1] > r->pairs[i].item))) {
                sc[j] = sc[j - 1];
                it[j] = it[j - 1];
                j--;
            }
            sc[j] = v;
            it[j] = r->pairs[i].item;
        }
        for (size_t i = 0; i < m && n < max; i++, n++) {
            items[n] = it[i];
            weights[n] = sc[i] / sc[0];
        }
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

static const char *query_text(const struct tl_sstats *st, uint32_t qid)
{
    const char *s = tl_strtab_str(&st->qtab, qid);
    const char *sep = s ? strchr(s, '\x1f') : NULL;
    return sep ? sep + 1 : "";
}

static const struct tl_sstats *sort_st; /* qsort context, under st->mu */

static int by_key_str(const void *a, const void *b)
{
    return strcmp(tl_strtab_str(&sort_st->qtab, *(const uint32_t *)a),
                  tl_strtab_str(&sort_st->qtab, *(const uint32_t *)b));
}

static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER; /* sort_st is process-wide */

static void rebuild_completions(struct tl_sstats *st)
{
    uint32_t n = st->qtab.count, m = 0;
    uint32_t *v = tl_malloc((n ? n : 1) * sizeof *v);
    if (!v) return;
    for (uint32_t i = 0; i < n; i++)
        if (st->rows[i].clicked) v[m++] = i;
    pthread_mutex_lock(&sort_mu);
    sort_st = st;
    qsort(v, m, sizeof *v, by_key_str);
    pthread_mutex_unlock(&sort_mu);
    tl_free(st->comp);
    st->comp = v;
    st->ncomp = m;
    st->comp_dirty = 0;
}

size_t tl_sstats_complete(struct tl_sstats *st, uint32_t shop, const char *norm_prefix,
                          char (*out)[TL_SSTATS_QUERY_MAX + 1], uint32_t *counts, size_t max)
{
    if (!st || !norm_prefix || !*norm_prefix || max == 0) return 0;
    char key[TL_SSTATS_QUERY_MAX + 16];
    int kl = snprintf(key, sizeof key, "%u\x1f%s", shop, norm_prefix);
    if (kl < 0 || (size_t)kl >= sizeof key) return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    size_t n = 0;
    pthread_mutex_lock(&st->mu);
    if (st->comp_dirty && (now - st->comp_built_ms >= TL_SSTATS_COMPLETE_REFRESH_MS || !st->comp)) {
        rebuild_completions(st);
        st->comp_built_ms = now;
    }
    size_t lo = 0, hi = st->ncomp;
    while (lo < hi) { /* first key >= prefix */
        size_t mid = (lo + hi) / 2;
        if (strcmp(tl_strtab_str(&st->qtab, st->comp[mid]), key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* keep the best `max` by clicked searches in a small insertion-sorted list */
    uint32_t best[64], bc[64];
    size_t nb = 0, cap = max < 64 ? max : 64;
    for (size_t i = lo, scanned = 0; i < st->ncomp && scanned < TL_SSTATS_COMPLETE_SCAN; i++, scanned++) {
        const char *k = tl_strtab_str(&st->qtab, st->comp[i]);
        if (strncmp(k, key, (size_t)kl) != 0) break;
        uint32_t c = st->rows[st->comp[i]].clicked;
        if (nb == cap && c <= bc[nb - 1]) continue;
        size_t j = nb < cap ? nb++ : nb - 1;
        while (j > 0 && bc[j - 1] < c) {
            best[j] = best[j - 1];
            bc[j] = bc[j - 1];
            j--;
        }
        best[j] = st->comp[i];
        bc[j] = c;
    }
    for (n = 0; n < nb; n++) {
        snprintf(out[n], TL_SSTATS_QUERY_MAX + 1, "%s", query_text(st, best[n]));
        counts[n] = bc[n];
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

struct rank_row {
    uint32_t qid;
    uint32_t key;
};

static int by_key_desc(const void *a, const void *b)
{
    const struct rank_row *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? 1 : -1;
    return x->qid < y->qid ? -1 : x->qid > y->qid;
}

enum tl_rc tl_sstats_report_json(struct tl_sstats *st, uint32_t shop, size_t limit, struct tl_buf *out)
{
    pthread_mutex_lock(&st->mu);
    uint32_t n = st->qtab.count;
    struct rank_row *top = tl_malloc((n ? n : 1) * sizeof *top);
    struct rank_row *zero = tl_malloc((n ? n : 1) * sizeof *zero);
    if (!top || !zero) {
        pthread_mutex_unlock(&st->mu);
        tl_free(top);
        tl_free(zero);
        return TL_ENOMEM;
    }
    size_t nt = 0, nz = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct qrow *r = &st->rows[i];
        if (r->shop != shop || r->searches == 0) continue;
        top[nt++] = (struct rank_row){i, r->searches};
        if (r->zero) zero[nz++] = (struct rank_row){i, r->zero};
    }
    qsort(top, nt, sizeof *top, by_key_desc);
    qsort(zero, nz, sizeof *zero, by_key_desc);
    tl_buf_printf(out, "{\"queries_tracked\":%zu,\"top\":[", nt);
    for (size_t i = 0; i < nt && i < limit; i++) {
        const struct qrow *r = &st->rows[top[i].qid];
        if (i) tl_buf_putc(out, ',');
        tl_buf_puts(out, "{\"query\":");
        tl_buf_json_str(out, query_text(st, top[i].qid));
        tl_buf_printf(out,
                      ",\"searches\":%u,\"zero_results\":%u,\"clicked_searches\":%u,\"clicks\":%u,"
                      "\"carts\":%u,\"purchases\":%u,\"ctr\":%.4f}",
                      r->searches, r->zero, r->clicked, r->clicks, r->carts, r->purchases,
                      r->searches ? (double)(r->clicked < r->searches ? r->clicked : r->searches) / r->searches : 0.0);
    }
    tl_buf_puts(out, "],\"zero_results\":[");
    for (size_t i = 0; i < nz && i < limit; i++) {
        const struct qrow *r = &st->rows[zero[i].qid];
        if (i) tl_buf_putc(out, ',');
        tl_buf_puts(out, "{\"query\":");
        tl_buf_json_str(out, query_text(st, zero[i].qid));
        tl_buf_printf(out, ",\"searches\":%u,\"zero_results\":%u}", r->searches, r->zero);
    }
    tl_buf_printf(out, "],\"queries_dropped\":%llu}", (unsigned long long)st->dropped);
    pthread_mutex_unlock(&st->mu);
    tl_free(top);
    tl_free(zero);
    return TL_OK;
}
