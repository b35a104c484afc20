/* Time helpers. Tailor keeps every timestamp as int64 milliseconds since the
 * Unix epoch, UTC. */
#ifndef TL_CORE_TIMEUTIL_H
#define TL_CORE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "tailor/rc.h"

#define TL_MS_PER_SEC 1000LL
#define TL_MS_PER_MIN (60LL * TL_MS_PER_SEC)
#define TL_MS_PER_HOUR (60LL * TL_MS_PER_MIN)
#define TL_MS_PER_DAY (24LL * TL_MS_PER_HOUR)

/* Wall clock, ms since epoch. */
int64_t tl_now_ms(void);
/* Monotonic clock in nanoseconds (for latency measurement). */
uint64_t tl_mono_ns(void);

/* Parse "YYYY-MM-DD", "YYYY-MM-DD[T ]HH:MM[:SS[.fff]]" with optional "Z" or
 * "+HH:MM"/"-HH:MM" (no zone = UTC). Returns TL_EPARSE on anything else,
 * including out-of-range fields (month 13, day 32, hour 24). */
enum tl_rc tl_time_parse(const char *s, int64_t *out_ms);
/* Format ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (>= 25 bytes). */
void tl_time_format(int64_t ms, char *out, size_t n);

/* The same text for years 0000-9999 (ms in [TL_TIME_ISO_MIN_MS,
 * TL_TIME_ISO_MAX_MS]), written without gmtime/snprintf: always
 * TL_TIME_ISO_LEN characters and a NUL; returns TL_TIME_ISO_LEN. Outside
 * that range it is tl_time_format's text, truncated to TL_TIME_ISO_LEN. */
#define TL_TIME_ISO_LEN 24
#define TL_TIME_ISO_MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define TL_TIME_ISO_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */
size_t tl_time_format_iso(int64_t ms, char out[TL_TIME_ISO_LEN + 1]);

#endif
