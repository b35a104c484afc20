/* Leveled logging (see log.h). */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

static int level = -1;
static const char *const names[] = {"error", "warn", "info", "debug"};

void tl_log_set_level(enum tl_log_level lvl) { level = (int)lvl; }

static int current_level(void)
{
    if (level >= 0) return level;
    const char *env = getenv("TAILOR_LOG");
    int l = TL_LOG_INFO;
    for (int i = 0; env && i < 4; i++)
        if (strcmp(env, names[i]) == 0) l = i;
    level = l;
    return l;
}

void tl_log(enum tl_log_level lvl, const char *fmt, ...)
{
    if ((int)lvl > current_level()) return;
    char ts[32], msg[1024];
    tl_time_format(tl_now_ms(), ts, sizeof ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s %s\n", ts, names[lvl], msg);
}
