/* Minimal leveled logging to stderr: "2026-11-27T17:00:00.000Z level msg".
 * Level from TAILOR_LOG (error|warn|info|debug), default info. Thread-safe
 * (one fprintf per line). */
#ifndef TL_CORE_LOG_H
#define TL_CORE_LOG_H

enum tl_log_level { TL_LOG_ERROR, TL_LOG_WARN, TL_LOG_INFO, TL_LOG_DEBUG };

void tl_log_set_level(enum tl_log_level lvl);
void tl_log(enum tl_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tl_error(...) tl_log(TL_LOG_ERROR, __VA_ARGS__)
#define tl_warn(...) tl_log(TL_LOG_WARN, __VA_ARGS__)
#define tl_info(...) tl_log(TL_LOG_INFO, __VA_ARGS__)
#define tl_debug(...) tl_log(TL_LOG_DEBUG, __VA_ARGS__)

#endif
