/* Tests for src/analytics/seasonal.c: synthetic histories whose shares,
 * windows and trimmed seasons are worked out by hand in the comments
 * (staple, Christmas line, new launch, too few units, one month only,
 * winter season wrapping the year, edge trimming), the coverage correction
 * of a 13-month history, a history too short to judge, in-season checks,
 * the audit JSON, and the UCI Online Retail data when present: Christmas
 * products must mostly come out seasonal within August..December and the
 * staple 85123A must not (skipped cleanly when the file is absent). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "analytics/seasonal.h"
#include "core/alloc.h"
#include "core/map.h"
#include "core/timeutil.h"

#define M(m) (1u << ((m)-1)) /* month mask bit of month m (1..12) */

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    cr_assert_eq(tl_time_parse(iso, &ms), TL_OK, "%s", iso);
    return ms;
}

static void sale(struct tl_season *s, uint32_t item, const char *iso, double q)
{
    struct tl_err e;
    tl_err_clear(&e);
    cr_assert_eq(tl_season_add(s, item, at(iso), q, &e), TL_OK, "%s", e.msg);
}

/* A 2025 history: item 0 is a staple sold on the 15th of every month plus
 * Jan 1 and Dec 31 (so the history covers the whole year). */
static struct tl_season *year_2025(void)
{
    struct tl_season *s = tl_season_new(NULL);
    cr_assert_not_null(s);
    char d[32];
    for (int m = 1; m <= 12; m++) {
        snprintf(d, sizeof d, "2025-%02d-15T12:00:00Z", m);
        sale(s, 0, d, 10);
    }
    sale(s, 0, "2025-01-01T00:00:00Z", 1);
    sale(s, 0, "2025-12-31T23:00:00Z", 1);
    /* 1: Christmas line. Feb 1: 5, Oct 10, Nov 40, Dec 40. e[Feb] = 5 * 28.25 / 28 = 5.0446.
     * 4-month windows: Sep-Dec 90 = Oct-Jan 90 (tie: earliest start, Sep) > Nov-Feb 85.04;
     * share 90 / 95.0446 = 0.94693; Sep (0) trimmed -> season Oct..Dec. Span Feb 1 - Dec 20 = 322 days. */
    sale(s, 1, "2025-02-01T10:00:00Z", 5);
    sale(s, 1, "2025-10-10T10:00:00Z", 10);
    sale(s, 1, "2025-11-10T10:00:00Z", 40);
    sale(s, 1, "2025-12-20T10:00:00Z", 40);
    /* 2: launched in September: all sales Sep-Dec but a span of 100 days -> not judged */
    sale(s, 2, "2025-09-10T10:00:00Z", 50);
    sale(s, 2, "2025-12-19T10:00:00Z", 50);
    /* 3: concentrated but 15 units < 50 */
    sale(s, 3, "2025-01-02T10:00:00Z", 5);
    sale(s, 3, "2025-12-02T10:00:00Z", 10);
    /* 4: winter, wrapping: Jan 30, Feb 30 (e 30.268), Dec 30, Jul 5; Nov-Feb = Dec-Mar = 90.268
     * (tie: Nov) of 95.268 -> share 0.94752; Nov trimmed -> season Dec, Jan, Feb */
    sale(s, 4, "2025-01-10T10:00:00Z", 30);
    sale(s, 4, "2025-02-10T10:00:00Z", 30);
    sale(s, 4, "2025-07-10T10:00:00Z", 5);
    sale(s, 4, "2025-12-20T10:00:00Z", 30);
    /* 5: one month only (Dec 100) -> not seasonal (needs 2 months) */
    sale(s, 5, "2025-12-01T10:00:00Z", 60);
    sale(s, 5, "2025-12-30T10:00:00Z", 40);
    /* 6: Dec 100 and Jan 3: best window Oct-Jan (103, share 1); Oct and Nov (0) trimmed, then
     * Jan (3 / 103 = 2.9 % < 5 %) trimmed -> season Dec only */
    sale(s, 6, "2025-01-05T10:00:00Z", 3);
    sale(s, 6, "2025-12-05T10:00:00Z", 100);
    return s;
}

Test(seasonal, synthetic_year)
{
    struct tl_season *s = year_2025();
    cr_assert_eq(tl_season_fit(s, NULL), TL_OK);
    /* staple: e = 10 + extra; best 4 months ~ 1/3 */
    cr_assert_eq(tl_season_months(s, 0), 0);
    cr_assert(tl_season_share(s, 0) < 0.36, "%f", tl_season_share(s, 0));
    cr_assert_eq(tl_season_months(s, 1), M(10) | M(11) | M(12));
    cr_assert_float_eq(tl_season_share(s, 1), 90.0 / (90.0 + 5.0 * 28.25 / 28.0), 1e-6);
    cr_assert_eq(tl_season_months(s, 2), 0);
    cr_assert_float_eq(tl_season_share(s, 2), 1.0, 1e-6);
    cr_assert_eq(tl_season_months(s, 3), 0);
    cr_assert_eq(tl_season_months(s, 4), M(12) | M(1) | M(2));
    double feb = 30.0 * 28.25 / 28.0;
    cr_assert_float_eq(tl_season_share(s, 4), (60.0 + feb) / (65.0 + feb), 1e-6);
    cr_assert_eq(tl_season_months(s, 5), 0);
    cr_assert_eq(tl_season_months(s, 6), M(12));
    cr_assert_eq(tl_season_count(s), 3);
    cr_assert_eq(tl_season_months(s, 999), 0); /* never sold */
    /* in season */
    cr_assert_eq(tl_season_in_season(s, 1, at("2026-11-15T00:00:00Z")), 1);
    cr_assert_eq(tl_season_in_season(s, 1, at("2026-10-01T00:00:00Z")), 1);
    cr_assert_eq(tl_season_in_season(s, 1, at("2026-09-30T23:59:59Z")), 0);
    cr_assert_eq(tl_season_in_season(s, 1, at("2026-07-01T00:00:00Z")), 0);
    cr_assert_eq(tl_season_in_season(s, 4, at("2027-01-20T00:00:00Z")), 1);
    cr_assert_eq(tl_season_in_season(s, 4, at("2027-03-01T00:00:00Z")), 0);
    cr_assert_eq(tl_season_in_season(s, 0, at("2026-07-01T00:00:00Z")), 1); /* not seasonal: always */
    cr_assert_eq(tl_season_in_season(s, 999, at("2026-07-01T00:00:00Z")), 1);

    struct tl_buf b;
    tl_buf_init(&b, 1 << 20);
    cr_assert_eq(tl_season_report_json(s, NULL, NULL, 0, &b), TL_OK);
    /* by share: 6 (1.0), 4 (0.9475), 1 (0.9469) */
    cr_assert_str_eq(b.data, "{\"history_ok\":true,\"history_days\":365,\"window_months\":4,\"min_share\":0.8,"
                             "\"items_with_sales\":7,\"seasonal\":3,\"items\":["
                             "{\"item\":\"6\",\"season\":[12],\"share\":1.0000,\"units\":103},"
                             "{\"item\":\"4\",\"season\":[12,1,2],\"share\":0.9475,\"units\":95},"
                             "{\"item\":\"1\",\"season\":[10,11,12],\"share\":0.9469,\"units\":95}]}");
    tl_buf_free(&b);
    tl_season_free(s);
}

Test(seasonal, window_of_three_months)
{
    struct tl_season_params p;
    tl_season_params_default(&p);
    p.window_months = 3;
    struct tl_season *s = tl_season_new(&p);
    char d[32];
    for (int m = 1; m <= 12; m++) {
        snprintf(d, sizeof d, "2025-%02d-15T12:00:00Z", m);
        sale(s, 0, d, 10);
    }
    sale(s, 0, "2025-01-01T00:00:00Z", 1);
    sale(s, 0, "2025-12-31T23:00:00Z", 1);
    /* Sep 20, Oct 30, Nov 30, Dec 20 + Jan 2: best 3 = Oct-Dec 80 of 102 = 0.784 < 0.8 -> no
     * (with the default 4 months: Sep-Dec 100 / 102 = 0.98 -> yes) */
    sale(s, 1, "2025-01-02T10:00:00Z", 2);
    sale(s, 1, "2025-09-02T10:00:00Z", 20);
    sale(s, 1, "2025-10-02T10:00:00Z", 30);
    sale(s, 1, "2025-11-02T10:00:00Z", 30);
    sale(s, 1, "2025-12-02T10:00:00Z", 20);
    cr_assert_eq(tl_season_fit(s, NULL), TL_OK);
    cr_assert_eq(tl_season_months(s, 1), 0);
    cr_assert_float_eq(tl_season_share(s, 1), 80.0 / 102.0, 1e-6);
    tl_season_free(s);
    cr_assert_null(tl_season_new(&(struct tl_season_params){.window_months = 7, .min_share = 0.8}));
    cr_assert_null(tl_season_new(&(struct tl_season_params){.window_months = 3, .min_share = 0}));
}

Test(seasonal, coverage_of_a_thirteen_month_history)
{
    /* 2024-12-01 .. 2025-12-31: December seen twice. Item 0 sells L[m] units per month seen (Dec twice:
     * 62 units): e = L (Feb: 28 * 28.25 / 28), so the best 4 months are Jul-Oct (123) of 365.25 = 0.33676.
     * Without the correction December would weigh 62 and Oct-Jan would give 154 / 396 = 0.389. */
    struct tl_season *s = tl_season_new(NULL);
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    char d[32];
    sale(s, 0, "2024-12-01T00:00:00Z", 31);
    for (int m = 1; m <= 12; m++) {
        snprintf(d, sizeof d, "2025-%02d-%02dT12:00:00Z", m, m == 12 ? 31 : 10);
        sale(s, 0, d, len[m - 1]);
    }
    cr_assert_eq(tl_season_fit(s, NULL), TL_OK);
    cr_assert_float_eq(tl_season_share(s, 0), 123.0 / 365.25, 1e-6);
    tl_season_free(s);
}

Test(seasonal, short_history_judges_nothing)
{
    struct tl_season *s = tl_season_new(NULL);
    sale(s, 1, "2025-06-01T00:00:00Z", 1);
    sale(s, 1, "2025-11-01T00:00:00Z", 100);
    sale(s, 1, "2025-12-20T00:00:00Z", 100);
    cr_assert_eq(tl_season_fit(s, NULL), TL_OK);
    cr_assert_eq(tl_season_count(s), 0);
    struct tl_buf b;
    tl_buf_init(&b, 1 << 16);
    tl_season_report_json(s, NULL, NULL, 0, &b);
    const char *want = "{\"history_ok\":false,\"history_days\":203,";
    cr_assert(strncmp(b.data, want, strlen(want)) == 0, "%s", b.data);
    tl_buf_free(&b);
    /* bad input */
    struct tl_err e;
    tl_err_clear(&e);
    cr_assert_eq(tl_season_add(s, TL_SEASON_ITEMS_MAX, 0, 1, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "item");
    cr_assert_eq(tl_season_add(s, 1, -1, 1, &e), TL_EINVAL);
    cr_assert_eq(tl_season_add(s, 1, 0, -3, &e), TL_OK); /* ignored */
    cr_assert_eq(tl_season_month_of(at("2024-02-29T23:59:59Z")), 2);
    cr_assert_eq(tl_season_month_of(at("2024-03-01T00:00:00Z")), 3);
    tl_season_free(s);
}

static const char *sku(void *ctx, uint32_t item)
{
    static char names[16][16]; /* tests are single-threaded */
    snprintf(names[item % 16], sizeof names[0], "SKU-%u", item);
    (void)ctx;
    return names[item % 16];
}

Test(seasonal, audit)
{
    long live = tl_alloc_live();
    struct tl_season *s = year_2025();
    tl_season_fit(s, NULL);
    struct tl_season_served sv[] = {
        {1, "for_you", at("2026-07-01T10:00:00Z")}, {1, "similar", at("2026-07-05T10:00:00Z")},
        {1, "for_you", at("2026-07-03T10:00:00Z")}, {1, "for_you", at("2026-11-01T10:00:00Z")}, /* in season */
        {4, NULL, at("2026-06-01T10:00:00Z")},      {0, "popular", at("2026-06-01T10:00:00Z")}, /* staple */
        {6, "popular", at("2026-12-24T10:00:00Z")},                                             /* in season */
    };
    struct tl_buf b;
    tl_buf_init(&b, 1 << 20);
    struct tl_err e;
    tl_err_clear(&e);
    cr_assert_eq(tl_season_audit_json(s, sv, 7, sku, NULL, &b, &e), TL_OK, "%s", e.msg);
    cr_assert_str_eq(b.data, "{\"served\":7,\"out_of_season\":4,\"share\":0.5714,\"items\":["
                             "{\"item\":\"SKU-1\",\"season\":[10,11,12],\"out_of_season\":3,\"widgets\":["
                             "{\"widget\":\"for_you\",\"count\":2,\"first\":\"2026-07-01T10:00:00.000Z\","
                             "\"last\":\"2026-07-03T10:00:00.000Z\"},"
                             "{\"widget\":\"similar\",\"count\":1,\"first\":\"2026-07-05T10:00:00.000Z\","
                             "\"last\":\"2026-07-05T10:00:00.000Z\"}]},"
                             "{\"item\":\"SKU-4\",\"season\":[12,1,2],\"out_of_season\":1,\"widgets\":["
                             "{\"widget\":\"unknown\",\"count\":1,\"first\":\"2026-06-01T10:00:00.000Z\","
                             "\"last\":\"2026-06-01T10:00:00.000Z\"}]}]}");
    tl_buf_reset(&b);
    cr_assert_eq(tl_season_audit_json(s, sv + 3, 1, NULL, NULL, &b, &e), TL_OK);
    cr_assert_str_eq(b.data, "{\"served\":1,\"out_of_season\":0,\"share\":0.0000,\"items\":[]}");
    tl_buf_free(&b);
    tl_season_free(s);
    cr_assert_eq(tl_alloc_live(), live);
}

/* ---- UCI Online Retail ---- */

#define OR_ITEMS_MAX 8192

struct retail {
    struct tl_strtab codes;
    char *desc[OR_ITEMS_MAX];
    double units[OR_ITEMS_MAX][12];
    int64_t first[OR_ITEMS_MAX], last[OR_ITEMS_MAX];
    int64_t min_ts, max_ts;
};

/* Splits one CSV line into at most max fields in place (quotes, "" escapes). */
static int csv_split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        char *w = p;
        f[n++] = w;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0') break;
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else
                    *w++ = *p++;
            }
        }
        while (*p && *p != ',' && *p != '\n' && *p != '\r') *w++ = *p++;
        int end = *p != ',';
        *w = '\0';
        if (end) break;
        p++;
    }
    return n;
}

static const char *retail_path(void)
{
    static const char *paths[] = {"/work/shared/data/online-retail/online_retail.csv.gz", "data/online_retail.csv.gz",
                                  "../../data/online_retail.csv.gz"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (f) {
            fclose(f);
            return paths[i];
        }
    }
    return NULL;
}

Test(seasonal, online_retail, .timeout = 60)
{
    const char *path = retail_path();
    if (!path) cr_skip_test("UCI Online Retail data not found");
    gzFile gz = gzopen(path, "rb");
    cr_assert_not_null(gz);
    struct retail *r = tl_calloc(1, sizeof *r);
    cr_assert_not_null(r);
    tl_strtab_init(&r->codes);
    r->min_ts = INT64_MAX;
    r->max_ts = INT64_MIN;
    struct tl_season *s = tl_season_new(NULL);
    char line[4096];
    char *f[8];
    long lines = 0, used = 0;
    gzgets(gz, line, sizeof line); /* header */
    while (gzgets(gz, line, sizeof line)) {
        lines++;
        if (csv_split(line, f, 8) < 8 || f[0][0] == 'C') continue;
        double q = atof(f[3]);
        int64_t ts;
        if (!(q > 0) || tl_time_parse(f[4], &ts) != TL_OK) continue;
        uint32_t id;
        cr_assert_eq(tl_strtab_intern(&r->codes, f[1], &id), TL_OK);
        cr_assert_lt(id, OR_ITEMS_MAX);
        if (!r->desc[id]) {
            r->desc[id] = tl_strdup(f[2]);
            r->first[id] = INT64_MAX;
            r->last[id] = INT64_MIN;
        }
        r->units[id][tl_season_month_of(ts) - 1] += q;
        if (ts < r->first[id]) r->first[id] = ts;
        if (ts > r->last[id]) r->last[id] = ts;
        if (ts < r->min_ts) r->min_ts = ts;
        if (ts > r->max_ts) r->max_ts = ts;
        cr_assert_eq(tl_season_add(s, id, ts, q, NULL), TL_OK);
        used++;
    }
    gzclose(gz);
    cr_assert_gt(used, 500000);
    cr_assert_eq(tl_season_fit(s, NULL), TL_OK);

    /* 85123A, independently: coverage of 2010-12-01..2011-12-09 is the calendar month lengths except
     * December (31 + 9 = 40 days) and February (28) */
    uint32_t staple = tl_strtab_find(&r->codes, "85123A");
    cr_assert_neq(staple, TL_STRTAB_NONE);
    static const double L[12] = {31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    static const double C[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 40};
    double e[12], E = 0, best = 0;
    for (int m = 0; m < 12; m++) E += e[m] = r->units[staple][m] * L[m] / C[m];
    for (int st = 0; st < 12; st++) {
        double v = 0;
        for (int k = 0; k < 4; k++) v += e[(st + k) % 12];
        if (v > best) best = v;
    }
    cr_assert_float_eq(tl_season_share(s, staple), best / E, 1e-5);
    cr_assert_eq(tl_season_months(s, staple), 0, "85123A must not be seasonal (share %.3f)", best / E);

    /* Christmas products: those with evidence to judge (>= 50 units, >= 2 months, first to last sale
     * >= 300 days) must mostly be seasonal, and their seasons within Aug..Dec */
    const uint16_t aug_dec = M(8) | M(9) | M(10) | M(11) | M(12);
    int xmas = 0, judged = 0, seasonal = 0, in_aug_dec = 0;
    for (uint32_t i = 0; i < r->codes.count; i++) {
        if (!r->desc[i] || !strstr(r->desc[i], "CHRISTMAS")) continue;
        xmas++;
        double units = 0;
        int months = 0;
        for (int m = 0; m < 12; m++) units += r->units[i][m], months += r->units[i][m] > 0;
        int64_t span_days = r->last[i] / 86400000 - r->first[i] / 86400000;
        if (units < 50 || months < 2 || span_days < 300) continue;
        judged++;
        uint16_t mk = tl_season_months(s, i);
        if (mk) seasonal++;
        if (mk && (mk & ~aug_dec) == 0) in_aug_dec++;
    }
    int all_seasonal = (int)tl_season_count(s);
    cr_log_info("online retail: %ld lines, %ld sales, %u products, %d seasonal; CHRISTMAS: %d products, %d judged, "
                "%d seasonal, %d within Aug..Dec; 85123A share %.3f",
                lines, used, r->codes.count, all_seasonal, xmas, judged, seasonal, in_aug_dec, best / E);
    fprintf(stderr,
            "online retail: %ld lines, %ld sales, %u products, %d seasonal; CHRISTMAS: %d products, %d judged, "
            "%d seasonal, %d within Aug..Dec; 85123A share %.3f\n",
            lines, used, r->codes.count, all_seasonal, xmas, judged, seasonal, in_aug_dec, best / E);
    cr_assert_gt(judged, 50);
    cr_assert_geq(seasonal * 4, judged * 3, "only %d of %d judged Christmas products are seasonal", seasonal, judged);
    cr_assert_geq(in_aug_dec * 10, seasonal * 9, "%d of %d seasons within Aug..Dec", in_aug_dec, seasonal);
    /* a staple is always in season, a Christmas product is not in June */
    cr_assert_eq(tl_season_in_season(s, staple, at("2011-06-15T00:00:00Z")), 1);

    for (uint32_t i = 0; i < OR_ITEMS_MAX; i++) tl_free(r->desc[i]);
    tl_strtab_free(&r->codes);
    tl_free(r);
    tl_season_free(s);
}
