/* Growable byte buffer (see buf.h for invariants). */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

void tl_buf_init(struct tl_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : TL_BUF_DEFAULT_MAX;
}

void tl_buf_free(struct tl_buf *b)
{
    tl_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void tl_buf_reset(struct tl_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

enum tl_rc tl_buf_reserve(struct tl_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) return TL_ETOOBIG; /* no size_t wrap-around */
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return TL_OK;
    size_t nc = b->cap ? b->cap : 64;
    while (nc < need) nc *= 2;
    char *p = tl_realloc(b->data, nc);
    if (!p) return TL_ENOMEM;
    b->data = p;
    b->cap = nc;
    return TL_OK;
}

enum tl_rc tl_buf_append(struct tl_buf *b, const void *p, size_t n)
{
    enum tl_rc rc = tl_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return TL_OK;
}

enum tl_rc tl_buf_puts(struct tl_buf *b, const char *s) { return tl_buf_append(b, s, strlen(s)); }

enum tl_rc tl_buf_putc(struct tl_buf *b, char c) { return tl_buf_append(b, &c, 1); }

enum tl_rc tl_buf_printf(struct tl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return TL_EINTERNAL;
    if ((size_t)n < sizeof small) return tl_buf_append(b, small, (size_t)n);
    enum tl_rc rc = tl_buf_reserve(b, (size_t)n);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return TL_OK;
}

static enum tl_rc json_str_body(struct tl_buf *b, const char *s);

enum tl_rc tl_buf_json_str(struct tl_buf *b, const char *s)
{
    size_t start = b->len;
    enum tl_rc rc = json_str_body(b, s);
    if (rc && b->data) { /* all or nothing */
        b->len = start;
        b->data[start] = '\0';
    }
    return rc;
}

static enum tl_rc json_str_body(struct tl_buf *b, const char *s)
{
    enum tl_rc rc = tl_buf_putc(b, '"');
    if (rc) return rc;
    if (!s) s = "";
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;
    for (; *p; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\') continue;
        if ((rc = tl_buf_append(b, run, (size_t)(p - run)))) return rc;
        char esc[8];
        switch (*p) {
        case '"':
            rc = tl_buf_puts(b, "\\\"");
            break;
        case '\\':
            rc = tl_buf_puts(b, "\\\\");
            break;
        case '\n':
            rc = tl_buf_puts(b, "\\n");
            break;
        case '\r':
            rc = tl_buf_puts(b, "\\r");
            break;
        case '\t':
            rc = tl_buf_puts(b, "\\t");
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            rc = tl_buf_puts(b, esc);
        }
        if (rc) return rc;
        run = p + 1;
    }
    if ((rc = tl_buf_append(b, run, (size_t)(p - run)))) return rc;
    return tl_buf_putc(b, '"');
}

char *tl_buf_steal(struct tl_buf *b)
{
    char *p = b->data;
    if (!p) p = tl_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

enum tl_rc tl_buf_json_str_or_null(struct tl_buf *b, const char *s)
{
    return s ? tl_buf_json_str(b, s) : tl_buf_puts(b, "null");
}
