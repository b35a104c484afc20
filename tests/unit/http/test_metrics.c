/* Tests for src/http/metrics.c: counting by route and status, histogram
 * bucketing (cumulative, +Inf == count, sum) and the Prometheus 0.0.4 text
 * format: every sample line is `name{labels} value`, every family has HELP
 * and TYPE before its samples, and lines end with '\n'. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "http/metrics.h"

static struct tl_http_metrics m;

static char *render(const struct tl_engine_metrics *em)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_http_metrics_render(&m, em, &b), TL_OK);
    return tl_buf_steal(&b);
}

/* Value of the sample whose line starts with `series ` (exact), or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *p = text;
    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

Test(metrics, empty_has_families_no_samples)
{
    tl_http_metrics_init(&m);
    char *t = render(NULL);
    cr_assert(strstr(t, "# TYPE tailor_http_requests_total counter\n"));
    cr_assert(strstr(t, "# TYPE tailor_http_request_duration_seconds histogram\n"));
    cr_assert_null(strstr(t, "tailor_http_requests_total{"));
    cr_assert_null(strstr(t, "tailor_events_ingested_total"), "engine part omitted without engine metrics");
    tl_free(t);
}

Test(metrics, counts_by_route_and_status)
{
    tl_http_metrics_init(&m);
    tl_http_metrics_record(&m, TL_HTTP_ROUTE_EVENTS, 200, 50000);       /* 50 us */
    tl_http_metrics_record(&m, TL_HTTP_ROUTE_EVENTS, 200, 3000000);     /* 3 ms */
    tl_http_metrics_record(&m, TL_HTTP_ROUTE_EVENTS, 400, 100000);      /* exactly 0.0001 */
    tl_http_metrics_record(&m, TL_HTTP_ROUTE_ITEM, 404, 2000000000ull); /* 2 s: only +Inf */
    tl_http_metrics_record(&m, TL_HTTP_ROUTE_RECS, 418, 10);            /* uncommon status */
    tl_http_metrics_record(&m, (enum tl_http_route_id)12345, 404, 10);  /* bogus route */
    char *t = render(NULL);
    cr_assert_eq(sample(t, "tailor_http_requests_total{route=\"/v1/events\",status=\"200\"}"), 2);
    cr_assert_eq(sample(t, "tailor_http_requests_total{route=\"/v1/events\",status=\"400\"}"), 1);
    cr_assert_eq(sample(t, "tailor_http_requests_total{route=\"/v1/items/{id}\",status=\"404\"}"), 1);
    cr_assert_eq(sample(t, "tailor_http_requests_total{route=\"/v1/recommendations\",status=\"other\"}"), 1);
    cr_assert_eq(sample(t, "tailor_http_requests_total{route=\"unmatched\",status=\"404\"}"), 1);
    cr_assert_eq(sample(t, "tailor_http_requests_total{route=\"/v1/events\",status=\"500\"}"), -1);

    const char *h = "tailor_http_request_duration_seconds_bucket{route=\"/v1/events\",le=";
    char s[256];
    snprintf(s, sizeof s, "%s\"0.0001\"}", h);
    cr_assert_eq(sample(t, s), 2); /* 50 us and exactly 100 us (le is inclusive) */
    snprintf(s, sizeof s, "%s\"0.0025\"}", h);
    cr_assert_eq(sample(t, s), 2);
    snprintf(s, sizeof s, "%s\"0.005\"}", h);
    cr_assert_eq(sample(t, s), 3);
    snprintf(s, sizeof s, "%s\"1\"}", h);
    cr_assert_eq(sample(t, s), 3);
    snprintf(s, sizeof s, "%s\"+Inf\"}", h);
    cr_assert_eq(sample(t, s), 3);
    cr_assert_eq(sample(t, "tailor_http_request_duration_seconds_count{route=\"/v1/events\"}"), 3);
    double sum = sample(t, "tailor_http_request_duration_seconds_sum{route=\"/v1/events\"}");
    cr_assert_float_eq(sum, 0.00315, 1e-9);

    cr_assert_eq(sample(t, "tailor_http_request_duration_seconds_bucket{route=\"/v1/items/{id}\",le=\"1\"}"), 0);
    cr_assert_eq(sample(t, "tailor_http_request_duration_seconds_bucket{route=\"/v1/items/{id}\",le=\"+Inf\"}"), 1);
    /* routes without requests have no histogram */
    cr_assert_null(strstr(t, "duration_seconds_count{route=\"/healthz\"}"));
    tl_free(t);
}

Test(metrics, text_format_is_well_formed)
{
    tl_http_metrics_init(&m);
    for (int i = 0; i < 5; i++) tl_http_metrics_record(&m, (enum tl_http_route_id)i, 200, (uint64_t)i * 1000000);
    struct tl_engine_metrics em = {.events_ingested = 12,
                                   .events_duplicate = 3,
                                   .events_rejected = 1,
                                   .profiles_in_memory = 7,
                                   .writer_queue_depth = 0};
    char *t = render(&em);
    cr_assert_eq(sample(t, "tailor_events_ingested_total"), 12);
    cr_assert_eq(sample(t, "tailor_events_duplicate_total"), 3);
    cr_assert_eq(sample(t, "tailor_events_rejected_total"), 1);
    cr_assert_eq(sample(t, "tailor_profiles_in_memory"), 7);
    cr_assert_eq(sample(t, "tailor_writer_queue_depth"), 0);
    cr_assert(strstr(t, "# TYPE tailor_profiles_in_memory gauge\n"));
    cr_assert(strstr(t, "# TYPE tailor_events_ingested_total counter\n"));
    size_t len = strlen(t);
    cr_assert(len > 0 && t[len - 1] == '\n');

    /* Each line: a comment, or `name[{k="v",...}] number`; each family's TYPE
     * appears before its first sample. */
    char *save = NULL;
    char seen_types[4096] = "";
    for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# HELP ", 7) == 0) continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[128];
            cr_assert_eq(sscanf(line + 7, "%127s", name), 1);
            strcat(seen_types, name);
            strcat(seen_types, " ");
            continue;
        }
        cr_assert_neq(line[0], '#', "unknown comment: %s", line);
        const char *sp = strrchr(line, ' ');
        cr_assert_not_null(sp, "%s", line);
        char *end = NULL;
        strtod(sp + 1, &end);
        cr_assert(end && *end == '\0', "value not a number: %s", line);
        char name[128];
        size_t n = strcspn(line, "{ ");
        cr_assert(n < sizeof name);
        memcpy(name, line, n);
        name[n] = '\0';
        for (size_t i = 0; i < n; i++)
            cr_assert(name[i] == '_' || (name[i] >= 'a' && name[i] <= 'z'), "bad name %s", name);
        const char *fam_suffixes[] = {"_bucket", "_sum", "_count"};
        for (size_t s = 0; s < 3; s++) {
            size_t sl = strlen(fam_suffixes[s]);
            if (n > sl && strcmp(name + n - sl, fam_suffixes[s]) == 0 && strstr(name, "duration")) {
                name[n - sl] = '\0';
                break;
            }
        }
        char key[140];
        snprintf(key, sizeof key, "%s ", name);
        cr_assert(strstr(seen_types, key), "sample before its TYPE: %s", line);
        if (line[n] == '{') {
            const char *close = strrchr(line, '}');
            cr_assert_not_null(close, "%s", line);
            cr_assert_eq(close[1], ' ', "%s", line);
        }
    }
    tl_free(t);
}

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) tl_http_metrics_record(&m, TL_HTTP_ROUTE_RECS, 200, 1000);
    return NULL;
}

Test(metrics, concurrent_records_are_not_lost)
{
    tl_http_metrics_init(&m);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    char *t = render(NULL);
    cr_assert_eq(sample(t, "tailor_http_requests_total{route=\"/v1/recommendations\",status=\"200\"}"), 400000);
    cr_assert_eq(sample(t, "tailor_http_request_duration_seconds_count{route=\"/v1/recommendations\"}"), 400000);
    tl_free(t);
}

Test(metrics, render_respects_buffer_limit)
{
    tl_http_metrics_init(&m);
    tl_http_metrics_record(&m, TL_HTTP_ROUTE_EVENTS, 200, 10);
    struct tl_buf b;
    tl_buf_init(&b, 100); /* far too small */
    cr_assert_eq(tl_http_metrics_render(&m, NULL, &b), TL_ETOOBIG);
    tl_buf_free(&b);
}
