/* Tests for src/core/timeutil.c: tl_time_parse accepts the documented ISO
 * 8601 subset (date only, T or space, optional seconds, fractions of any
 * length truncated to ms, Z and +-HH:MM offsets, leap days) and rejects
 * everything else (bad month/day/hour/minute, Feb 30, non-leap Feb 29,
 * trailing garbage, truncated input, missing digits); known epoch values;
 * tl_time_format output and parse(format(t)) == t round trips, including
 * times before 1970. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "core/timeutil.h"

static int64_t parse_ok(const char *s)
{
    int64_t v = INT64_MIN;
    enum tl_rc rc = tl_time_parse(s, &v);
    cr_assert_eq(rc, TL_OK, "\"%s\" should parse (rc %d)", s, rc);
    return v;
}

static void parse_bad(const char *s)
{
    int64_t v = 12345;
    cr_assert_eq(tl_time_parse(s, &v), TL_EPARSE, "\"%s\" should be rejected", s);
    cr_assert_eq(v, 12345, "\"%s\": output written on failure", s);
}

Test(timeutil, known_epoch_values)
{
    cr_assert_eq(parse_ok("1970-01-01"), 0);
    cr_assert_eq(parse_ok("1970-01-01T00:00:00Z"), 0);
    cr_assert_eq(parse_ok("2010-12-01T08:26:00Z"), 1291191960000LL);
    cr_assert_eq(parse_ok("2010-12-01 08:26"), 1291191960000LL, "space separator, no seconds");
    cr_assert_eq(parse_ok("2010-12-01T08:26"), 1291191960000LL);
    cr_assert_eq(parse_ok("2000-01-01T00:00:00Z"), 946684800000LL);
    cr_assert_eq(parse_ok("2038-01-19T03:14:07Z"), 2147483647000LL);
    cr_assert_eq(parse_ok("2011-12-09 12:50:00"), 1323435000000LL);
    cr_assert_eq(parse_ok("1969-12-31T23:59:59Z"), -1000);
    cr_assert_eq(parse_ok("1900-01-01"), -2208988800000LL);
}

Test(timeutil, fractions)
{
    cr_assert_eq(parse_ok("1970-01-01T00:00:00.5Z"), 500);
    cr_assert_eq(parse_ok("1970-01-01T00:00:00.05Z"), 50);
    cr_assert_eq(parse_ok("1970-01-01T00:00:00.123Z"), 123);
    cr_assert_eq(parse_ok("1970-01-01T00:00:00.123999999Z"), 123, "extra digits truncate");
    cr_assert_eq(parse_ok("1970-01-01T00:00:01.001"), 1001);
    cr_assert_eq(parse_ok("1969-12-31T23:59:59.500Z"), -500);
    parse_bad("1970-01-01T00:00:00.Z");
    parse_bad("1970-01-01T00:00:00.");
    parse_bad("1970-01-01T00:00.5Z"); /* fraction needs seconds */
}

Test(timeutil, zones_and_offsets)
{
    int64_t base = 1291191960000LL; /* 2010-12-01T08:26:00Z */
    cr_assert_eq(parse_ok("2010-12-01T08:26:00+00:00"), base);
    cr_assert_eq(parse_ok("2010-12-01T08:26:00-00:00"), base);
    cr_assert_eq(parse_ok("2010-12-01T09:26:00+01:00"), base);
    cr_assert_eq(parse_ok("2010-12-01T03:26:00-05:00"), base);
    cr_assert_eq(parse_ok("2010-12-01T14:11:00+05:45"), base);
    cr_assert_eq(parse_ok("2010-12-01T14:11:00+0545"), base, "offset without colon");
    cr_assert_eq(parse_ok("2010-12-01T08:26Z"), base);
    cr_assert_eq(parse_ok("2010-12-02T00:26:00+16:00"), base, "offset crosses the date");
    cr_assert_eq(parse_ok("2010-12-01T08:26:00.250+01:00"), base - 3600000 + 250);
    parse_bad("2010-12-01T08:26:00+01");
    parse_bad("2010-12-01T08:26:00+1:00");
    parse_bad("2010-12-01T08:26:00+24:00");
    parse_bad("2010-12-01T08:26:00+01:60");
    parse_bad("2010-12-01T08:26:00z");
    parse_bad("2010-12-01T08:26:00 Z");
    parse_bad("2010-12-01T08:26:00ZZ");
    parse_bad("2010-12-01Z"); /* zone only after a time */
}

Test(timeutil, leap_days)
{
    cr_assert_eq(parse_ok("2024-02-29") - parse_ok("2024-02-28"), TL_MS_PER_DAY);
    cr_assert_eq(parse_ok("2024-03-01") - parse_ok("2024-02-29"), TL_MS_PER_DAY);
    cr_assert_eq(parse_ok("2000-02-29"), 951782400000LL, "divisible by 400 is a leap year");
    cr_assert_eq(parse_ok("2023-03-01") - parse_ok("2023-02-28"), TL_MS_PER_DAY);
    parse_bad("2023-02-29");
    parse_bad("1900-02-29"); /* divisible by 100, not by 400 */
    parse_bad("2100-02-29");
    parse_bad("2024-02-30");
    parse_bad("2024-04-31");
    parse_bad("2024-06-31");
    cr_assert_eq(parse_ok("2024-12-31T23:59:59.999Z") + 1, parse_ok("2025-01-01"));
}

Test(timeutil, rejects_out_of_range_fields)
{
    parse_bad("2024-13-01");
    parse_bad("2024-00-10");
    parse_bad("2024-01-32");
    parse_bad("2024-01-00");
    parse_bad("2024-01-01T24:00");
    parse_bad("2024-01-01T23:60");
    parse_bad("2024-01-01T23:59:61");
    parse_bad("2024-01-01T99:00:00Z");
}

Test(timeutil, rejects_malformed_and_truncated)
{
    const char *bad[] = {
        "",
        " ",
        "2024",
        "2024-",
        "2024-01",
        "2024-01-",
        "2024-1-01",
        "2024-01-1",
        "24-01-01",
        "2024/01/01",
        "2024-01-01T",
        "2024-01-01T1",
        "2024-01-01T10",
        "2024-01-01T10:",
        "2024-01-01T10:0",
        "2024-01-01T10:00:",
        "2024-01-01T10:00:0",
        "2024-01-01x",
        "2024-01-01 ",
        "2024-01-01T10:00:00 ",
        " 2024-01-01",
        "2024-01-01T10:00:00Zjunk",
        "2024-01-01T10:00:00.123junk",
        "2024-01-01t10:00",
        "2024-01-01_10:00",
        "abcd-ef-gh",
        "2024-01-01T10:00:00+",
        "2024-01-01T10:00:00+01:",
        "+2024-01-01",
        "2024-01-01\n",
        "2024-01-01T1a:00",
        "１９７０-01-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) parse_bad(bad[i]);
}

Test(timeutil, format_known_values)
{
    char out[32];
    tl_time_format(0, out, sizeof out);
    cr_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    tl_time_format(1291191960000LL, out, sizeof out);
    cr_assert_str_eq(out, "2010-12-01T08:26:00.000Z");
    tl_time_format(951782400123LL, out, sizeof out);
    cr_assert_str_eq(out, "2000-02-29T00:00:00.123Z");
    tl_time_format(-1, out, sizeof out);
    cr_assert_str_eq(out, "1969-12-31T23:59:59.999Z");
    tl_time_format(-1000, out, sizeof out);
    cr_assert_str_eq(out, "1969-12-31T23:59:59.000Z");
    tl_time_format(-1001, out, sizeof out);
    cr_assert_str_eq(out, "1969-12-31T23:59:58.999Z");
    cr_assert_eq(strlen(out), 24, "format is 24 characters + NUL");
    /* A short buffer is truncated and stays terminated. */
    char small[11];
    tl_time_format(1291191960000LL, small, sizeof small);
    cr_assert_str_eq(small, "2010-12-01");
}

Test(timeutil, format_parse_round_trip)
{
    uint64_t s = 0x243f6a8885a308d3ULL;
    char out[32];
    for (int i = 0; i < 20000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        /* Years 1900..2299 */
        int64_t ms = (int64_t)(s % 12622780800000ULL) - 2208988800000LL;
        tl_time_format(ms, out, sizeof out);
        int64_t back = INT64_MIN;
        cr_assert_eq(tl_time_parse(out, &back), TL_OK, "cannot parse own output %s", out);
        cr_assert_eq(back, ms, "%s parsed to %lld, expected %lld", out, (long long)back, (long long)ms);
    }
}

/* The direct formatter writes exactly gmtime's text over its whole range:
 * its ends, every day boundary around leap days and centuries, and random
 * instants of years 0-9999; outside the range it falls back. */
Test(timeutil, format_iso_matches_gmtime_text)
{
    char want[64], got[TL_TIME_ISO_LEN + 1];
    int64_t fixed[] = {TL_TIME_ISO_MIN_MS, TL_TIME_ISO_MAX_MS, 0, -1, 1, 951782400000LL - 1, 951782400000LL,
                       951868800000LL, 4107542400000LL, -2203891200000LL, 1700000000123LL, -62135596800001LL};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        tl_time_format(fixed[i], want, sizeof want);
        cr_assert_eq(tl_time_format_iso(fixed[i], got), TL_TIME_ISO_LEN);
        cr_assert_str_eq(got, want, "at %lld", (long long)fixed[i]);
    }
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        int64_t ms = TL_TIME_ISO_MIN_MS + (int64_t)(s % (uint64_t)(TL_TIME_ISO_MAX_MS - TL_TIME_ISO_MIN_MS + 1));
        if (i % 4 == 0) ms -= ms % 86400000; /* midnights */
        tl_time_format(ms, want, sizeof want);
        tl_time_format_iso(ms, got);
        cr_assert_str_eq(got, want, "at %lld", (long long)ms);
    }
    tl_time_format_iso(TL_TIME_ISO_MAX_MS + 1, got); /* year 10000: gmtime's text, cut */
    tl_time_format(TL_TIME_ISO_MAX_MS + 1, want, sizeof want);
    cr_assert_eq(strncmp(got, want, TL_TIME_ISO_LEN), 0);
}

Test(timeutil, clocks_move)
{
    int64_t now = tl_now_ms();
    cr_assert_gt(now, 1700000000000LL, "wall clock is after 2023");
    uint64_t a = tl_mono_ns(), b = tl_mono_ns();
    cr_assert_geq(b, a);
}
