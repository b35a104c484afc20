/* struct tl_err helpers: fill-once error detail (see err.h). */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The fields, not the whole struct: a clear is made per line of an import
 * (a memset of the message buffer was 2% of its time); the strings are
 * read up to their NUL only. */
void tl_err_clear(struct tl_err *e)
{
    if (!e) return;
    e->rc = TL_OK;
    e->field[0] = 0;
    e->msg[0] = 0;
    e->line = 0;
    e->column = 0;
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
