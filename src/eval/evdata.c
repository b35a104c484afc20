/* Readers for the evaluation protocols (see evdata.h for each protocol).
 *
 * Every reader builds the training set with a tl_dataset_builder (weight 1
 * per interaction) and appends test cases into three growable arrays
 * (cases, history items, targets). Errors name the file and line. */
#include "eval/evdata.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "model/model.h"
#include "ingest/csv.h"

#define EV_LINE_ITEMS_MAX 100000 /* items on one sequences line */

static struct tl_evdata *evdata_new(void)
{
    struct tl_evdata *e = tl_calloc(1, sizeof *e);
    if (e) tl_strtab_init(&e->items);
    return e;
}

void tl_evdata_free(struct tl_evdata *e)
{
    if (!e) return;
    tl_dataset_free(e->train);
    tl_dataset_free(e->train_valid);
    tl_strtab_free(&e->items);
    tl_free(e->cases);
    tl_free(e->hist);
    tl_free(e->hist_ts);
    tl_free(e->tgt);
    tl_free(e->pop);
    tl_free(e);
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : (x > y);
}

/* Append a case; targets are sorted and de-duplicated here. */
static enum tl_rc add_case(struct tl_evdata *e, uint32_t user, const uint32_t *hist, const int64_t *hts, size_t nh,
                           const uint32_t *tgt, size_t nt, int mask)
{
    if (tl_grow((void **)&e->cases, &e->cap_cases, e->n_cases + 1, sizeof *e->cases, 256) ||
        tl_grow((void **)&e->hist, &e->cap_hist, e->n_hist + nh + 1, sizeof *e->hist, 256) ||
        tl_grow((void **)&e->hist_ts, &e->cap_hist_ts, e->n_hist + nh + 1, sizeof *e->hist_ts, 256) ||
        tl_grow((void **)&e->tgt, &e->cap_tgt, e->n_tgt + nt + 1, sizeof *e->tgt, 256))
        return TL_ENOMEM;
    struct tl_evcase *c = &e->cases[e->n_cases++];
    c->user = user;
    c->hist_off = e->n_hist;
    c->n_hist = (uint32_t)nh;
    for (size_t i = 0; i < nh; i++) {
        e->hist[e->n_hist + i] = hist[i];
        e->hist_ts[e->n_hist + i] = hts ? hts[i] : (int64_t)i;
    }
    e->n_hist += nh;
    c->tgt_off = e->n_tgt;
    uint32_t *t = e->tgt + e->n_tgt;
    if (nt) memcpy(t, tgt, nt * sizeof *tgt);
    qsort(t, nt, sizeof *t, u32_cmp);
    size_t m = 0;
    for (size_t i = 0; i < nt; i++)
        if (m == 0 || t[m - 1] != t[i]) t[m++] = t[i];
    c->n_tgt = (uint32_t)m;
    e->n_tgt += m;
    c->mask = (uint8_t)mask;
    return TL_OK;
}

/* Distinct training users per item. */
static enum tl_rc finish_pop(struct tl_evdata *e)
{
    const struct tl_dataset *d = e->train;
    e->pop = tl_calloc((size_t)d->n_items + 1, sizeof *e->pop);
    uint32_t *last = tl_malloc(((size_t)d->n_items + 1) * sizeof *last);
    if (!e->pop || !last) {
        tl_free(last);
        return TL_ENOMEM;
    }
    for (uint32_t i = 0; i < d->n_items; i++) last[i] = UINT32_MAX;
    for (uint32_t u = 0; u < d->n_users; u++)
        for (size_t x = d->off[u]; x < d->off[u + 1]; x++)
            if (last[d->item[x]] != u) {
                last[d->item[x]] = u;
                e->pop[d->item[x]]++;
            }
    tl_free(last);
    return TL_OK;
}

static enum tl_rc oom(struct tl_err *err)
{
    return tl_err_set(err, TL_ENOMEM, NULL, "out of memory reading the evaluation data");
}

static enum tl_rc bad_line(struct tl_err *err, const char *path, long line, const char *what)
{
    (void)path; /* the caller prints PATH:LINE from err->line */
    enum tl_rc rc = tl_err_set(err, TL_EPARSE, NULL, "%s", what);
    if (err) err->line = line;
    return rc;
}

/* ---- sessions ------------------------------------------------------------- */

struct click {
    uint32_t item; /* dense, or UINT32_MAX when unknown to training */
    double time;
    uint32_t seq;
};

static int click_cmp(const void *a, const void *b)
{
    const struct click *x = a, *y = b;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* Read "SessionId ItemId Time" rows. For training (learn = 1) items are
 * interned and each row added to b with user = dense session index; for
 * test, each finished session is passed to emit(). */
struct sess_reader {
    struct tl_evdata *e;
    struct tl_dataset_builder *b;
    int learn;
    long max_sessions;
    long sessions;
    struct click *cl;
    size_t n_cl, cap_cl;
    char cur[64];
    struct tl_u64map sess_ids; /* training: hash(session id) -> dense user */
};

static enum tl_rc emit_test_session(struct sess_reader *r)
{
    if (r->n_cl == 0) return TL_OK;
    r->sessions++;
    qsort(r->cl, r->n_cl, sizeof *r->cl, click_cmp);
    uint32_t hist[TL_MODEL_HISTORY_MAX];
    int64_t hts[TL_MODEL_HISTORY_MAX];
    size_t nh = 0;
    enum tl_rc rc = TL_OK;
    for (size_t p = 0; p + 1 < r->n_cl && !rc; p++) {
        if (r->cl[p].item != UINT32_MAX) {
            if (nh == TL_MODEL_HISTORY_MAX) {
                memmove(hist, hist + 1, (nh - 1) * sizeof *hist);
                memmove(hts, hts + 1, (nh - 1) * sizeof *hts);
                nh--;
            }
            hts[nh] = (int64_t)llround(r->cl[p].time * 1000.0);
            hist[nh++] = r->cl[p].item;
        }
        uint32_t t = r->cl[p + 1].item;
        rc = add_case(r->e, UINT32_MAX, hist, hts, nh, &t, 1, 0);
    }
    r->n_cl = 0;
    return rc;
}

static enum tl_rc read_sessions(struct sess_reader *r, const char *path, struct tl_err *err)
{
    struct tl_csv *c = NULL;
    enum tl_rc rc = tl_csv_open(path, '\t', &c, err);
    if (rc) return rc;
    size_t nf = 0;
    long row = 0;
    uint32_t seq = 0;
    r->cur[0] = '\0';
    while ((rc = tl_csv_next(c, &nf, err)) == TL_OK && nf > 0) {
        row++;
        long line = tl_csv_line(c);
        const char *sid = tl_csv_field(c, 0, NULL);
        const char *iid = tl_csv_field(c, 1, NULL);
        const char *tim = tl_csv_field(c, 2, NULL);
        if (row == 1 && sid && strcmp(sid, "SessionId") == 0) continue; /* header */
        if (nf < 3 || !*sid || !*iid || strlen(sid) >= sizeof r->cur) {
            rc = bad_line(err, path, line, "expected SessionId<TAB>ItemId<TAB>Time");
            break;
        }
        char *end = NULL;
        errno = 0;
        double t = strtod(tim, &end);
        if (end == tim || *end || errno || !isfinite(t)) {
            rc = bad_line(err, path, line, "Time must be a number (seconds)");
            break;
        }
        if (r->learn) {
            uint32_t item, user;
            uint64_t h = tl_hash_str(sid, 0x5e55), v = 0;
            if ((rc = tl_strtab_intern(&r->e->items, iid, &item)) != TL_OK) break;
            if (!tl_u64map_get(&r->sess_ids, h, &v)) {
                v = tl_u64map_size(&r->sess_ids);
                if ((rc = tl_u64map_put(&r->sess_ids, h, v)) != TL_OK) break;
            }
            user = (uint32_t)v;
            /* ms from seconds; ties keep file order (the builder is stable). */
            if ((rc = tl_dataset_builder_add(r->b, user, item, 1.0f, (int64_t)llround(t * 1000.0), err)) != TL_OK)
                break;
            continue;
        }
        if (strcmp(sid, r->cur) != 0) {
            if ((rc = emit_test_session(r)) != TL_OK) break;
            if (r->max_sessions > 0 && r->sessions >= r->max_sessions) break;
            snprintf(r->cur, sizeof r->cur, "%s", sid);
        }
        if (tl_grow((void **)&r->cl, &r->cap_cl, r->n_cl + 1, sizeof *r->cl, 256)) {
            rc = TL_ENOMEM;
            break;
        }
        uint32_t item = tl_strtab_find(&r->e->items, iid);
        r->cl[r->n_cl] = (struct click){item == TL_STRTAB_NONE ? UINT32_MAX : item, t, seq++};
        r->n_cl++;
    }
    if (rc == TL_OK && !r->learn && (r->max_sessions <= 0 || r->sessions < r->max_sessions)) rc = emit_test_session(r);
    tl_csv_close(c);
    if (rc == TL_ENOMEM) return oom(err);
    return rc;
}

/* Order of item ids for renumbering: numeric ids by value, others (and
 * numeric ones among them) by bytes. */
static int id_less(const char *a, const char *b)
{
    char *ea, *eb;
    unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
    if (!*ea && !*eb && ea != a && eb != b && x != y) return x < y;
    return strcmp(a, b) < 0;
}

static const struct tl_strtab *sort_tab;
static int id_cmp(const void *pa, const void *pb)
{
    const char *a = tl_strtab_str(sort_tab, *(const uint32_t *)pa), *b = tl_strtab_str(sort_tab, *(const uint32_t *)pb);
    return id_less(a, b) ? -1 : id_less(b, a) ? 1 : 0;
}

/* Renumber the training items in id order (the session-based framework the
 * reference lists come from numbers items by sorted id, so equal scores
 * rank by id there too). Single-threaded: the reader runs on one thread. */
static enum tl_rc renumber_items(struct tl_evdata *e)
{
    uint32_t n = e->items.count;
    uint32_t *order = tl_malloc(((size_t)n + 1) * sizeof *order), *newid = tl_malloc(((size_t)n + 1) * sizeof *newid);
    struct tl_strtab t;
    tl_strtab_init(&t);
    enum tl_rc rc = (!order || !newid) ? TL_ENOMEM : TL_OK;
    for (uint32_t i = 0; !rc && i < n; i++) order[i] = i;
    if (!rc) {
        sort_tab = &e->items;
        qsort(order, n, sizeof *order, id_cmp);
        sort_tab = NULL;
    }
    for (uint32_t i = 0; !rc && i < n; i++) {
        uint32_t id;
        rc = tl_strtab_intern(&t, tl_strtab_str(&e->items, order[i]), &id);
        newid[order[i]] = id;
    }
    if (!rc) {
        for (size_t x = 0; x < e->train->n; x++) e->train->item[x] = newid[e->train->item[x]];
        tl_strtab_free(&e->items);
        e->items = t;
    } else {
        tl_strtab_free(&t);
    }
    tl_free(order);
    tl_free(newid);
    return rc;
}

enum tl_rc tl_evdata_sessions(const char *train_path, const char *test_path, long max_sessions, struct tl_evdata **out,
                              struct tl_err *err)
{
    struct tl_evdata *e = evdata_new();
    struct sess_reader r = {.e = e, .max_sessions = max_sessions};
    tl_u64map_init(&r.sess_ids);
    r.b = tl_dataset_builder_new();
    enum tl_rc rc = (!e || !r.b) ? oom(err) : TL_OK;
    if (!rc) {
        r.learn = 1;
        rc = read_sessions(&r, train_path, err);
    }
    if (!rc) rc = tl_dataset_builder_finish(r.b, 0, 0, &e->train, err);
    if (!rc && renumber_items(e)) rc = oom(err);
    if (!rc) {
        r.learn = 0;
        rc = read_sessions(&r, test_path, err);
    }
    if (!rc && finish_pop(e)) rc = oom(err);
    if (!rc)
        snprintf(e->desc, sizeof e->desc,
                 "sessions: %u training sessions, %u items, %zu clicks; %ld test sessions, %zu next-click cases",
                 e->train->n_users, e->train->n_items, e->train->n, r.sessions, e->n_cases);
    tl_dataset_builder_free(r.b);
    tl_u64map_free(&r.sess_ids);
    tl_free(r.cl);
    if (rc) {
        tl_evdata_free(e);
        return rc;
    }
    *out = e;
    return TL_OK;
}

/* ---- sequences ------------------------------------------------------------ */

enum tl_rc tl_evdata_sequences(const char *path, struct tl_evdata **out, struct tl_err *err)
{
    struct tl_evdata *e = evdata_new();
    struct tl_dataset_builder *b = tl_dataset_builder_new(), *bv = tl_dataset_builder_new();
    struct tl_lines *l = NULL;
    uint32_t *seq = tl_malloc(EV_LINE_ITEMS_MAX * sizeof *seq);
    enum tl_rc rc = (!e || !b || !bv || !seq) ? oom(err) : tl_lines_open(path, &l, err);
    uint32_t users = 0, test_users = 0;
    while (!rc) {
        const char *line = NULL;
        size_t len = 0;
        long lineno = 0;
        if ((rc = tl_lines_next(l, &line, &len, &lineno, err)) != TL_OK || !line) break;
        char *s = (char *)line; /* the reader's buffer; tokenised in place */
        size_t n = 0;
        int first = 1;
        for (char *tok = strtok(s, " \t"); tok; tok = strtok(NULL, " \t")) {
            if (first) {
                first = 0; /* the user id */
                continue;
            }
            if (n == EV_LINE_ITEMS_MAX) {
                rc = bad_line(err, path, lineno, "too many items on one line");
                break;
            }
            if ((rc = tl_strtab_intern(&e->items, tok, &seq[n])) != TL_OK) break;
            n++;
        }
        if (rc) break;
        if (first) continue; /* blank line */
        uint32_t u = users++;
        size_t ntrain = n >= 3 ? n - 2 : n;
        for (size_t i = 0; i < ntrain && !rc; i++) rc = tl_dataset_builder_add(b, u, seq[i], 1.0f, (int64_t)i, err);
        /* the same plus the next-to-last item (validation), for --self-valid */
        size_t nvalid = n >= 3 ? n - 1 : n;
        for (size_t i = 0; i < nvalid && !rc; i++) rc = tl_dataset_builder_add(bv, u, seq[i], 1.0f, (int64_t)i, err);
        if (!rc && n >= 3) {
            test_users++;
            rc = add_case(e, u, seq, NULL, n - 1, &seq[n - 1], 1, 1);
        }
    }
    if (!rc) rc = tl_dataset_builder_finish(b, users, (uint32_t)e->items.count, &e->train, err);
    if (!rc) rc = tl_dataset_builder_finish(bv, users, (uint32_t)e->items.count, &e->train_valid, err);
    if (!rc && finish_pop(e)) rc = oom(err);
    if (!rc)
        snprintf(e->desc, sizeof e->desc,
                 "sequences: %u users, %u items, %zu training interactions (last two of each user held out); "
                 "%u leave-one-out cases",
                 users, e->train->n_items, e->train->n, test_users);
    tl_lines_close(l);
    tl_free(seq);
    tl_dataset_builder_free(b);
    tl_dataset_builder_free(bv);
    if (rc) {
        if (rc == TL_ENOMEM && err && !err->msg[0]) oom(err);
        tl_evdata_free(e);
        return rc;
    }
    *out = e;
    return TL_OK;
}

/* ---- orders (Online Retail) ------------------------------------------------ */

/* "2010-12-01 08:26:00" or "12/1/2010 8:26" (month/day/year, the original
 * UCI spreadsheet export) -> ms since the epoch, UTC. */
static int parse_retail_date(const char *s, int64_t *ms)
{
    int mo, d, y, h, mi, sec = 0;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &tail) != 6 &&
        sscanf(s, "%d/%d/%d %d:%d%c", &mo, &d, &y, &h, &mi, &tail) != 5)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1970 || y > 9999 || h < 0 || h > 23 || mi < 0 || mi > 59) return -1;
    /* days from civil (Howard Hinnant's algorithm). */
    int yy = y - (mo <= 2);
    int era = yy / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    *ms = (((days * 24 + h) * 60 + mi) * 60 + sec) * 1000LL;
    return 0;
}

struct purchase {
    uint32_t cust;
    uint32_t item;
    int64_t ts;
    uint32_t seq;
};

static int purchase_cmp(const void *a, const void *b)
{
    const struct purchase *x = a, *y = b;
    if (x->cust != y->cust) return x->cust < y->cust ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

enum tl_rc tl_evdata_orders(const char *path, int64_t split_ms, int buy_again, struct tl_evdata **out,
                            struct tl_err *err)
{
    struct tl_evdata *e = evdata_new();
    struct tl_strtab custs;
    tl_strtab_init(&custs);
    struct purchase *p = NULL;
    size_t np = 0, cap = 0;
    struct tl_csv *c = NULL;
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    enum tl_rc rc = (!e || !b) ? oom(err) : tl_csv_open(path, ',', &c, err);
    size_t nf;
    long row = 0, kept = 0;
    while (!rc && (rc = tl_csv_next(c, &nf, err)) == TL_OK && nf > 0) {
        row++;
        long line = tl_csv_line(c);
        if (row == 1 && strcmp(tl_csv_field(c, 0, NULL), "InvoiceNo") == 0) continue;
        if (nf < 8) {
            rc = bad_line(err, path, line,
                          "expected 8 fields InvoiceNo,StockCode,Description,Quantity,"
                          "InvoiceDate,UnitPrice,CustomerID,Country");
            break;
        }
        const char *inv = tl_csv_field(c, 0, NULL), *code = tl_csv_field(c, 1, NULL);
        const char *qty = tl_csv_field(c, 3, NULL), *date = tl_csv_field(c, 4, NULL);
        const char *cust = tl_csv_field(c, 6, NULL);
        if (inv[0] == 'C' || inv[0] == 'c' || !cust[0]) continue;
        char *end;
        long q = strtol(qty, &end, 10);
        if (end == qty || *end) {
            rc = bad_line(err, path, line, "Quantity must be an integer");
            break;
        }
        if (q <= 0) continue;
        int64_t ts;
        if (parse_retail_date(date, &ts)) {
            rc = bad_line(err, path, line, "InvoiceDate must look like 2010-12-01 08:26:00 or 12/1/2010 8:26");
            break;
        }
        uint32_t ci, ii;
        if ((rc = tl_strtab_intern(&custs, cust, &ci)) || (rc = tl_strtab_intern(&e->items, code, &ii))) break;
        if (tl_grow((void **)&p, &cap, np + 1, sizeof *p, 256)) {
            rc = TL_ENOMEM;
            break;
        }
        p[np] = (struct purchase){ci, ii, ts, (uint32_t)np};
        np++;
        kept++;
    }
    tl_csv_close(c);
    uint32_t n_items = (uint32_t)e->items.count, n_cust = (uint32_t)custs.count;
    uint8_t *before = NULL, *after = NULL;
    uint32_t *hist = NULL, *tg = NULL, *seen_after = NULL;
    int64_t *hist_t = NULL;
    if (!rc) {
        qsort(p, np, sizeof *p, purchase_cmp);
        before = tl_calloc((size_t)n_items + 1, 1);
        after = tl_calloc((size_t)n_items + 1, 1);
        hist = tl_malloc(((size_t)n_items + 1) * sizeof *hist);
        tg = tl_malloc(((size_t)n_items + 1) * sizeof *tg);
        seen_after = tl_malloc(((size_t)n_items + 1) * sizeof *seen_after);
        hist_t = tl_malloc(((size_t)n_items + 1) * sizeof *hist_t);
        if (!before || !after || !hist || !tg || !seen_after || !hist_t) rc = TL_ENOMEM;
    }
    uint8_t *known = rc ? NULL : tl_calloc((size_t)n_items + 1, 1); /* bought by someone before the split */
    if (!rc && !known) rc = TL_ENOMEM;
    for (size_t i = 0; !rc && i < np; i++)
        if (p[i].ts < split_ms) {
            known[p[i].item] = 1;
            rc = tl_dataset_builder_add(b, p[i].cust, p[i].item, 1.0f, p[i].ts, err);
        }
    if (!rc) rc = tl_dataset_builder_finish(b, n_cust, n_items, &e->train, err);
    uint32_t both = 0;
    for (size_t i = 0; !rc && i < np;) {
        size_t j = i;
        while (j < np && p[j].cust == p[i].cust) j++;
        size_t nh = 0, na = 0;
        for (size_t x = i; x < j; x++) {
            uint32_t it = p[x].item;
            if (p[x].ts < split_ms) {
                if (!before[it]) {
                    before[it] = 1;
                    hist_t[nh] = p[x].ts;
                    hist[nh++] = it;
                } else { /* bought again: the latest time counts */
                    for (size_t y = 0; y < nh; y++)
                        if (hist[y] == it) hist_t[y] = p[x].ts;
                }
            } else if (!after[it]) {
                after[it] = 1;
                seen_after[na++] = it;
            }
        }
        size_t nt = 0;
        if (nh && na) {
            both++;
            for (size_t x = 0; x < na; x++)
                if (known[seen_after[x]] && (buy_again ? before[seen_after[x]] : !before[seen_after[x]]))
                    tg[nt++] = seen_after[x];
            if (nt) rc = add_case(e, p[i].cust, hist, hist_t, nh, tg, nt, !buy_again);
        }
        for (size_t x = 0; x < nh; x++) before[hist[x]] = 0;
        for (size_t x = 0; x < na; x++) after[seen_after[x]] = 0;
        i = j;
    }
    if (!rc && finish_pop(e)) rc = TL_ENOMEM;
    if (!rc)
        snprintf(e->desc, sizeof e->desc,
                 "orders: %ld purchase rows kept, %u customers, %u items, %zu training purchases; %u customers "
                 "bought before and after the split, %zu with %s targets",
                 kept, n_cust, n_items, e->train->n, both, e->n_cases, buy_again ? "buy-again" : "new-item");
    tl_free(known);
    tl_free(before);
    tl_free(after);
    tl_free(hist);
    tl_free(tg);
    tl_free(seen_after);
    tl_free(hist_t);
    tl_free(p);
    tl_strtab_free(&custs);
    tl_dataset_builder_free(b);
    if (rc) {
        if (rc == TL_ENOMEM) oom(err);
        tl_evdata_free(e);
        return rc;
    }
    *out = e;
    return TL_OK;
}
