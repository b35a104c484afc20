/* Time helpers: ISO 8601 subset parsing without locale or TZ dependence.
 * Days from civil date use Howard Hinnant's days_from_civil algorithm. */
#include "core/timeutil.h"

#include <stdio.h>
#include <time.h>

int64_t tl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t tl_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return 0;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

enum tl_rc tl_time_parse(const char *s, int64_t *out_ms)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d)) return TL_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return TL_EPARSE;
    int64_t offset_min = 0;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi)) return TL_EPARSE;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec)) return TL_EPARSE;
            if (*p == '.') {
                p++;
                int n = 0, frac = 0;
                while (*p >= '0' && *p <= '9') {
                    if (n < 3) frac = frac * 10 + (*p - '0');
                    n++;
                    p++;
                }
                if (n == 0) return TL_EPARSE;
                for (; n < 3; n++) frac *= 10;
                ms = frac;
            }
        }
        if (h > 23 || mi > 59 || sec > 60) return TL_EPARSE;
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om;
            p++;
            if (!digits(&p, 2, &oh)) return TL_EPARSE;
            if (*p == ':') p++;
            if (!digits(&p, 2, &om) || oh > 23 || om > 59) return TL_EPARSE;
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (*p) return TL_EPARSE;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t t = ((days * 24 + h) * 60 + mi) * 60 + sec;
    t -= offset_min * 60;
    *out_ms = t * 1000 + ms;
    return TL_OK;
}

void tl_time_format(int64_t ms, char *out, size_t n)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int msr = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, msr);
}
