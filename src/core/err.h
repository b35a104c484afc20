/* Error detail carried next to a result code.
 *
 * A caller owns a struct tl_err (usually on its stack) and passes it down;
 * the function that detects the problem fills code/field/message once. The
 * HTTP layer turns it into {"error":{"code","message","field"}}; imports add
 * file, line and column. All strings are NUL-terminated and truncated to fit. */
#ifndef TL_CORE_ERR_H
#define TL_CORE_ERR_H

#include "tailor/rc.h"

#define TL_ERR_FIELD_MAX 96
#define TL_ERR_MSG_MAX 320

struct tl_err {
    enum tl_rc rc;
    char field[TL_ERR_FIELD_MAX]; /* offending field ("" when not one field) */
    char msg[TL_ERR_MSG_MAX];     /* what was wrong and what was expected */
    long line;                    /* 1-based line in an input file, 0 if n/a */
    long column;                  /* 1-based column, 0 if n/a */
};

/* Clear e (NULL allowed). */
void tl_err_clear(struct tl_err *e);
/* Record rc, field (NULL = none) and a printf-style message; returns rc so a
 * caller can write `return tl_err_set(e, TL_EINVAL, "price", "...")`. e may
 * be NULL, in which case only rc is returned. */
enum tl_rc tl_err_set(struct tl_err *e, enum tl_rc rc, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
