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

/* Inverse of days_from_civil (Hinnant's civil_from_days): days since
 * 1970-01-01 -> year, month 1-12, day 1-31. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

size_t tl_time_format_iso(int64_t ms, char out[TL_TIME_ISO_LEN + 1])
{
    /* years 0000-9999: digits written directly (the hot path of storing
     * events); anything else through tl_time_format */
    if (ms < TL_TIME_ISO_MIN_MS || ms > TL_TIME_ISO_MAX_MS) {
        tl_time_format(ms, out, TL_TIME_ISO_LEN + 1);
        return TL_TIME_ISO_LEN;
    }
    int64_t days = ms >= 0 ? ms / TL_MS_PER_DAY : -((-ms + TL_MS_PER_DAY - 1) / TL_MS_PER_DAY);
    unsigned in_day = (unsigned)(ms - days * TL_MS_PER_DAY); /* 0 .. 86,399,999 */
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    unsigned yy = (unsigned)y, sec = in_day / 1000;
    put2(out, yy / 100);
    put2(out + 2, yy % 100);
    out[4] = '-';
    put2(out + 5, m);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = 'T';
    put2(out + 11, sec / 3600);
    out[13] = ':';
    put2(out + 14, sec / 60 % 60);
    out[16] = ':';
    put2(out + 17, sec % 60);
    out[19] = '.';
    unsigned frac = in_day % 1000;
    out[20] = (char)('0' + frac / 100);
    put2(out + 21, frac % 100);
    out[23] = 'Z';
    out[24] = '\0';
    return TL_TIME_ISO_LEN;
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
