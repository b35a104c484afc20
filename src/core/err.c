/* struct tl_err helpers: fill-once error detail (see err.h). */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tl_err_clear(struct tl_err *e)
{
    if (e) memset(e, 0, sizeof *e);
}

enum tl_rc tl_err_set(struct tl_err *e, enum tl_rc rc, const char *field, const char *fmt, ...)
{
    if (!e) return rc;
    e->rc = rc;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return rc;
}
