/* Growable byte buffer with a hard maximum.
 *
 * Invariant: data is NUL-terminated whenever len > 0 or after any append, so
 * it can be used as a C string; len excludes the terminator. Growth doubles.
 * Appending past max fails with TL_ETOOBIG and leaves the buffer unchanged. */
#ifndef TL_CORE_BUF_H
#define TL_CORE_BUF_H

#include <stddef.h>

#include "tailor/rc.h"

struct tl_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* 0 = TL_BUF_DEFAULT_MAX */
};

#define TL_BUF_DEFAULT_MAX ((size_t)1 << 30) /* 1 GiB */

void tl_buf_init(struct tl_buf *b, size_t max);
void tl_buf_free(struct tl_buf *b);
void tl_buf_reset(struct tl_buf *b); /* len = 0, keeps memory */
enum tl_rc tl_buf_reserve(struct tl_buf *b, size_t extra);
enum tl_rc tl_buf_append(struct tl_buf *b, const void *p, size_t n);
enum tl_rc tl_buf_puts(struct tl_buf *b, const char *s);
enum tl_rc tl_buf_putc(struct tl_buf *b, char c);
enum tl_rc tl_buf_printf(struct tl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal (quotes and escapes included). */
enum tl_rc tl_buf_json_str(struct tl_buf *b, const char *s);
/* Same, or the literal null when s is NULL. */
enum tl_rc tl_buf_json_str_or_null(struct tl_buf *b, const char *s);
/* Detach the buffer's memory (caller frees with tl_free); b is reset empty. */
char *tl_buf_steal(struct tl_buf *b);

#endif
