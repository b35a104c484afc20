/* Streaming CSV (RFC 4180) and NDJSON line readers for imports.
 *
 * Input: zlib's gzFile for files and stdin (gzread decompresses gzip and
 * passes plain bytes through unchanged), or a borrowed memory block. Bytes
 * are read in TL_CSV_CHUNK (256 KiB) chunks; a UTF-8 BOM (EF BB BF) at
 * offset 0 is skipped before parsing.
 *
 * CSV grammar accepted (RFC 4180 plus the usual leniencies):
 *   record  = field *(SEP field) EOL          EOL = LF | CRLF | CR
 *   field   = quoted | bare
 *   quoted  = '"' *(any byte except '"' | '""') '"'   (may contain SEP, CR, LF)
 *   bare    = *(any byte except SEP, CR, LF)          (a '"' inside is literal)
 * The last record may lack its EOL. Completely empty lines are skipped (so a
 * one-column file cannot express an empty value on its own line).
 *
 * State machine per byte: START (before a field), BARE, QUOTED, QQ (saw '"'
 * inside QUOTED: a second '"' is an escaped quote, SEP/EOL closes the field,
 * anything else is an error). BARE and QUOTED consume runs of ordinary bytes
 * at once (a 256-entry class table / memchr), so the cost is about one table
 * lookup per byte plus one memcpy per run.
 *
 * Invariants:
 *   - The current record's fields live back to back in rec[], each followed
 *     by a NUL; rec is allocated once with TL_CSV_RECORD_MAX +
 *     TL_CSV_FIELDS_MAX + 1 bytes, so appends never reallocate.
 *   - line is the 1-based physical line of the next unread byte; line_start
 *     is the absolute (uncompressed) offset where that line begins, so the
 *     byte column of offset x is x - line_start + 1.
 *   - An error inside a record (limit exceeded, stray byte after a closing
 *     quote) is remembered, the rest of the record is parsed but discarded,
 *     and the error is returned at the record's end: the reader stays in
 *     sync and the caller may continue (skip bad rows). EOF inside quotes and
 *     I/O errors are final.
 *
 * Progress: bytes_read is gzoffset() (the compressed position, comparable
 * with the file size from fstat) for files and the offset for memory. */
#include "ingest/csv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"

/* ---- input abstraction ------------------------------------------------------ */

struct src {
    gzFile gz;                  /* NULL for memory sources */
    const unsigned char *chunk; /* bytes being parsed */
    size_t len, pos;            /* chunk length and read position */
    unsigned char *buf;         /* TL_CSV_CHUNK bytes (file sources) */
    uint64_t base;              /* absolute offset of chunk[0] */
    uint64_t total;             /* file size, 0 if unknown */
    int eof;
};

static enum tl_rc src_fill(struct src *s, struct tl_err *err)
{
    s->base += s->len;
    s->len = s->pos = 0;
    if (!s->gz || s->eof) {
        s->eof = 1;
        return TL_OK;
    }
    int n = gzread(s->gz, s->buf, TL_CSV_CHUNK);
    if (n < 0) {
        int zerr = 0;
        const char *m = gzerror(s->gz, &zerr);
        s->eof = 1;
        return tl_err_set(err, TL_EIO, "", "read error: %s%s", zerr == Z_ERRNO ? strerror(errno) : m,
                          zerr == Z_BUF_ERROR ? " (compressed file truncated?)" : "");
    }
    if (n == 0) {
        /* A truncated gzip stream can end "cleanly" with no bytes; zlib
         * records the problem in gzerror. */
        int zerr = 0;
        const char *m = gzerror(s->gz, &zerr);
        s->eof = 1;
        if (zerr != Z_OK && zerr != Z_STREAM_END)
            return tl_err_set(err, TL_EIO, "", "read error: %s (compressed file truncated or corrupt?)", m);
        return TL_OK;
    }
    s->chunk = s->buf;
    s->len = (size_t)n;
    return TL_OK;
}

static void src_skip_bom(struct src *s)
{
    if (s->len >= 3 && s->chunk[0] == 0xEF && s->chunk[1] == 0xBB && s->chunk[2] == 0xBF) s->pos = 3;
}

static enum tl_rc src_open(struct src *s, const char *path, struct tl_err *err)
{
    memset(s, 0, sizeof *s);
    if (!path || !*path) return tl_err_set(err, TL_EINVAL, "path", "no input file given");
    int fd;
    if (strcmp(path, "-") == 0) {
        fd = dup(STDIN_FILENO);
        if (fd < 0) return tl_err_set(err, TL_EIO, "path", "cannot read standard input: %s", strerror(errno));
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return tl_err_set(err, TL_EIO, "path", "cannot open '%s': %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            close(fd);
            return tl_err_set(err, TL_EIO, "path", "'%s' is a directory, expected a file", path);
        }
        if (S_ISREG(st.st_mode)) s->total = (uint64_t)st.st_size;
    }
    s->gz = gzdopen(fd, "rb");
    if (!s->gz) {
        close(fd);
        return tl_err_set(err, TL_ENOMEM, "path", "cannot open '%s': out of memory", path);
    }
    gzbuffer(s->gz, 128u * 1024u);
    s->buf = tl_malloc(TL_CSV_CHUNK);
    if (!s->buf) {
        gzclose(s->gz);
        s->gz = NULL;
        return tl_err_set(err, TL_ENOMEM, "", "out of memory");
    }
    enum tl_rc rc = src_fill(s, err);
    if (rc != TL_OK) {
        gzclose(s->gz);
        tl_free(s->buf);
        memset(s, 0, sizeof *s);
        return rc;
    }
    src_skip_bom(s);
    return TL_OK;
}

static void src_open_mem(struct src *s, const char *data, size_t len)
{
    memset(s, 0, sizeof *s);
    s->chunk = (const unsigned char *)data;
    s->len = data ? len : 0;
    s->total = s->len;
    src_skip_bom(s);
}

static void src_close(struct src *s)
{
    if (s->gz) gzclose(s->gz);
    tl_free(s->buf);
    memset(s, 0, sizeof *s);
}

static uint64_t src_bytes_read(const struct src *s)
{
    if (s->gz) {
        z_off_t o = gzoffset(s->gz);
        return o > 0 ? (uint64_t)o : 0;
    }
    return s->base + s->pos;
}

/* ---- CSV ------------------------------------------------------------------- */

enum { ST_START, ST_BARE, ST_QUOTED, ST_QQ };

struct tl_csv {
    struct src in;
    unsigned char sep;
    unsigned char special[256]; /* 1 for SEP, CR, LF: ends a bare run */
    char *rec;                  /* fields, NUL-separated */
    size_t rec_len;
    size_t nf;
    uint32_t off[TL_CSV_FIELDS_MAX];
    uint32_t flen[TL_CSV_FIELDS_MAX];
    long fline[TL_CSV_FIELDS_MAX];
    long fcol[TL_CSV_FIELDS_MAX];
    long line;           /* line of the next unread byte */
    uint64_t line_start; /* absolute offset of that line's first byte */
    long rec_line;
    int skip_lf; /* last record ended with CR: swallow one LF */
    int done;    /* 1 at EOF, 2 after a final error */
    /* per-record state */
    size_t cur_off, cur_len; /* current field in rec */
    long cur_line, cur_col;
    int discard;
    enum tl_rc prc; /* pending error of the current record */
    struct tl_err perr;
};

static enum tl_rc csv_new(char sep, struct tl_csv **out, struct tl_err *err)
{
    *out = NULL;
    if (sep == 0) sep = ',';
    if (sep == '"' || sep == '\r' || sep == '\n')
        return tl_err_set(err, TL_EINVAL, "separator", "separator cannot be a quote or a newline");
    struct tl_csv *c = tl_calloc(1, sizeof *c);
    if (!c) return tl_err_set(err, TL_ENOMEM, "", "out of memory");
    c->rec = tl_malloc(TL_CSV_RECORD_MAX + TL_CSV_FIELDS_MAX + 1);
    if (!c->rec) {
        tl_free(c);
        return tl_err_set(err, TL_ENOMEM, "", "out of memory");
    }
    c->sep = (unsigned char)sep;
    c->special[(unsigned char)sep] = 1;
    c->special['\r'] = 1;
    c->special['\n'] = 1;
    c->line = 1;
    *out = c;
    return TL_OK;
}

enum tl_rc tl_csv_open(const char *path, char sep, struct tl_csv **out, struct tl_err *err)
{
    enum tl_rc rc = csv_new(sep, out, err);
    if (rc != TL_OK) return rc;
    rc = src_open(&(*out)->in, path, err);
    if (rc != TL_OK) {
        tl_free((*out)->rec);
        tl_free(*out);
        *out = NULL;
        return rc;
    }
    (*out)->line_start = (*out)->in.pos;
    return TL_OK;
}

enum tl_rc tl_csv_open_mem(const char *data, size_t len, char sep, struct tl_csv **out, struct tl_err *err)
{
    enum tl_rc rc = csv_new(sep, out, err);
    if (rc != TL_OK) return rc;
    src_open_mem(&(*out)->in, data, len);
    (*out)->line_start = (*out)->in.pos;
    return TL_OK;
}

void tl_csv_close(struct tl_csv *c)
{
    if (!c) return;
    src_close(&c->in);
    tl_free(c->rec);
    tl_free(c);
}

/* Remember the first error of the record; the record is then discarded. */
__attribute__((format(printf, 4, 5))) static void csv_fail(struct tl_csv *c, enum tl_rc rc, long line, const char *fmt,
                                                           ...)
{
    c->discard = 1;
    if (c->prc != TL_OK) return;
    c->prc = rc;
    va_list ap;
    va_start(ap, fmt);
    tl_err_clear(&c->perr);
    c->perr.rc = rc;
    vsnprintf(c->perr.msg, sizeof c->perr.msg, fmt, ap);
    va_end(ap);
    c->perr.line = line;
    c->perr.column = (long)c->nf + 1;
}

static void field_begin(struct tl_csv *c, uint64_t abs)
{
    c->cur_line = c->line;
    c->cur_col = (long)(abs - c->line_start) + 1;
    c->cur_off = c->rec_len;
    c->cur_len = 0;
    if (!c->discard && c->nf >= TL_CSV_FIELDS_MAX)
        csv_fail(c, TL_ETOOBIG, c->rec_line, "record at line %ld has more than %u fields (limit TL_CSV_FIELDS_MAX)",
                 c->rec_line, TL_CSV_FIELDS_MAX);
}

static void field_add(struct tl_csv *c, const unsigned char *p, size_t n)
{
    if (c->discard || n == 0) return;
    if (c->cur_len + n > TL_CSV_FIELD_MAX) {
        csv_fail(c, TL_ETOOBIG, c->cur_line,
                 "field %zu starting at line %ld, byte column %ld is longer than %u bytes (limit TL_CSV_FIELD_MAX)",
                 c->nf + 1, c->cur_line, c->cur_col, TL_CSV_FIELD_MAX);
        return;
    }
    if (c->rec_len - c->nf + n > TL_CSV_RECORD_MAX) {
        csv_fail(c, TL_ETOOBIG, c->rec_line,
                 "record starting at line %ld is longer than %u bytes (limit TL_CSV_RECORD_MAX)", c->rec_line,
                 TL_CSV_RECORD_MAX);
        return;
    }
    memcpy(c->rec + c->rec_len, p, n);
    c->rec_len += n;
    c->cur_len += n;
}

static void field_end(struct tl_csv *c)
{
    if (c->discard) return;
    c->rec[c->rec_len++] = '\0';
    c->off[c->nf] = (uint32_t)c->cur_off;
    c->flen[c->nf] = (uint32_t)c->cur_len;
    c->fline[c->nf] = c->cur_line;
    c->fcol[c->nf] = c->cur_col;
    c->nf++;
}

static enum tl_rc record_done(struct tl_csv *c, size_t *nfields, struct tl_err *err)
{
    if (c->prc != TL_OK) {
        enum tl_rc rc = c->prc;
        if (err) *err = c->perr;
        c->nf = 0;
        return rc;
    }
    *nfields = c->nf;
    return TL_OK;
}

enum tl_rc tl_csv_next(struct tl_csv *c, size_t *nfields, struct tl_err *err)
{
    *nfields = 0;
    c->nf = 0;
    c->rec_len = 0;
    c->discard = 0;
    c->prc = TL_OK;
    if (c->done == 1) return TL_OK;
    if (c->done == 2) return tl_err_set(err, TL_EIO, "", "input already failed");
    int st = ST_START, started = 0;
    long qline = 0, qcol = 0;
    c->rec_line = c->line;
    struct src *in = &c->in;
    for (;;) {
        if (in->pos >= in->len) {
            enum tl_rc rc = src_fill(in, err);
            if (rc != TL_OK) {
                c->done = 2;
                if (err) err->line = c->line;
                return rc;
            }
            if (in->len == 0) { /* end of input */
                if (st == ST_QUOTED) {
                    c->done = 2;
                    tl_err_set(err, TL_EPARSE, "",
                               "unterminated quoted field: the quote opened at line %ld, byte column %ld is never "
                               "closed (truncated file?)",
                               qline, qcol);
                    if (err) {
                        err->line = qline;
                        err->column = (long)c->nf + 1;
                    }
                    return TL_EPARSE;
                }
                c->done = 1;
                if (!started) return TL_OK;
                if (st == ST_START) field_begin(c, in->base);
                field_end(c);
                return record_done(c, nfields, err);
            }
        }
        const unsigned char *chunk = in->chunk;
        const unsigned char *p = chunk + in->pos, *end = chunk + in->len;
        while (p < end) {
            switch (st) {
            case ST_START: {
                unsigned char ch = *p;
                if (c->skip_lf) {
                    c->skip_lf = 0;
                    if (ch == '\n') {
                        p++;
                        c->line_start = in->base + (uint64_t)(p - chunk);
                        continue;
                    }
                }
                if (ch == '\n' || ch == '\r') {
                    p++;
                    c->line++;
                    c->line_start = in->base + (uint64_t)(p - chunk);
                    c->skip_lf = ch == '\r';
                    if (!started) { /* blank line */
                        c->rec_line = c->line;
                        continue;
                    }
                    field_begin(c, in->base + (uint64_t)(p - 1 - chunk));
                    field_end(c);
                    in->pos = (size_t)(p - chunk);
                    return record_done(c, nfields, err);
                }
                started = 1;
                field_begin(c, in->base + (uint64_t)(p - chunk));
                if (ch == '"') {
                    qline = c->line;
                    qcol = c->cur_col;
                    st = ST_QUOTED;
                    p++;
                } else if (ch == c->sep) {
                    field_end(c);
                    p++;
                } else {
                    st = ST_BARE;
                }
                break;
            }
            case ST_BARE: {
                const unsigned char *q = p;
                while (q < end && !c->special[*q]) q++;
                field_add(c, p, (size_t)(q - p));
                p = q;
                if (p == end) break;
                unsigned char ch = *p++;
                field_end(c);
                st = ST_START;
                if (ch != c->sep) { /* CR or LF: end of record */
                    c->line++;
                    c->line_start = in->base + (uint64_t)(p - chunk);
                    c->skip_lf = ch == '\r';
                    in->pos = (size_t)(p - chunk);
                    return record_done(c, nfields, err);
                }
                break;
            }
            case ST_QUOTED: {
                const unsigned char *q = memchr(p, '"', (size_t)(end - p));
                if (!q) q = end;
                for (const unsigned char *nl = p; (nl = memchr(nl, '\n', (size_t)(q - nl))) != NULL; nl++) {
                    c->line++;
                    c->line_start = in->base + (uint64_t)(nl + 1 - chunk);
                }
                field_add(c, p, (size_t)(q - p));
                p = q;
                if (p < end) {
                    p++;
                    st = ST_QQ;
                }
                break;
            }
            case ST_QQ: {
                unsigned char ch = *p;
                if (ch == '"') {
                    field_add(c, p, 1);
                    p++;
                    st = ST_QUOTED;
                } else if (ch == c->sep) {
                    field_end(c);
                    p++;
                    st = ST_START;
                } else if (ch == '\n' || ch == '\r') {
                    field_end(c);
                    p++;
                    c->line++;
                    c->line_start = in->base + (uint64_t)(p - chunk);
                    c->skip_lf = ch == '\r';
                    in->pos = (size_t)(p - chunk);
                    return record_done(c, nfields, err);
                } else {
                    long col = (long)(in->base + (uint64_t)(p - chunk) - c->line_start) + 1;
                    csv_fail(c, TL_EPARSE, c->line,
                             "unexpected character '%c' after the closing quote of field %zu at line %ld, byte "
                             "column %ld (a quote inside a quoted field must be doubled)",
                             ch >= 0x20 && ch < 0x7f ? ch : '?', c->nf + 1, c->line, col);
                    st = ST_BARE;
                }
                break;
            }
            }
        }
        in->pos = (size_t)(p - chunk);
    }
}

size_t tl_csv_nfields(const struct tl_csv *c) { return c->nf; }
int tl_csv_finished(const struct tl_csv *c) { return c->done != 0; }

const char *tl_csv_field(const struct tl_csv *c, size_t i, size_t *len)
{
    if (i >= c->nf) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = c->flen[i];
    return c->rec + c->off[i];
}

char *tl_csv_field_mut(struct tl_csv *c, size_t i, size_t *len)
{
    if (i >= c->nf) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = c->flen[i];
    return c->rec + c->off[i];
}

long tl_csv_line(const struct tl_csv *c) { return c->rec_line; }
long tl_csv_field_line(const struct tl_csv *c, size_t i) { return i < c->nf ? c->fline[i] : 0; }
long tl_csv_field_col(const struct tl_csv *c, size_t i) { return i < c->nf ? c->fcol[i] : 0; }

long tl_csv_lines(const struct tl_csv *c)
{
    uint64_t at = c->in.base + c->in.pos;
    return c->line - 1 + (at > c->line_start ? 1 : 0);
}

uint64_t tl_csv_bytes_read(const struct tl_csv *c) { return src_bytes_read(&c->in); }
uint64_t tl_csv_bytes_total(const struct tl_csv *c) { return c->in.total; }

/* ---- NDJSON lines ------------------------------------------------------------ */

struct tl_lines {
    struct src in;
    char *buf; /* TL_LINES_LINE_MAX + 1 */
    long line;
    int done;
};

static enum tl_rc lines_new(struct tl_lines **out, struct tl_err *err)
{
    *out = tl_calloc(1, sizeof **out);
    if (!*out) return tl_err_set(err, TL_ENOMEM, "", "out of memory");
    (*out)->buf = tl_malloc(TL_LINES_LINE_MAX + 1);
    if (!(*out)->buf) {
        tl_free(*out);
        *out = NULL;
        return tl_err_set(err, TL_ENOMEM, "", "out of memory");
    }
    return TL_OK;
}

enum tl_rc tl_lines_open(const char *path, struct tl_lines **out, struct tl_err *err)
{
    enum tl_rc rc = lines_new(out, err);
    if (rc != TL_OK) return rc;
    rc = src_open(&(*out)->in, path, err);
    if (rc != TL_OK) {
        tl_free((*out)->buf);
        tl_free(*out);
        *out = NULL;
    }
    return rc;
}

enum tl_rc tl_lines_open_mem(const char *data, size_t len, struct tl_lines **out, struct tl_err *err)
{
    enum tl_rc rc = lines_new(out, err);
    if (rc != TL_OK) return rc;
    src_open_mem(&(*out)->in, data, len);
    return TL_OK;
}

void tl_lines_close(struct tl_lines *l)
{
    if (!l) return;
    src_close(&l->in);
    tl_free(l->buf);
    tl_free(l);
}

enum tl_rc tl_lines_next(struct tl_lines *l, const char **line, size_t *len, long *lineno, struct tl_err *err)
{
    *line = NULL;
    *len = 0;
    if (l->done == 1) return TL_OK;
    if (l->done == 2) return tl_err_set(err, TL_EIO, "", "input already failed");
    size_t n = 0;
    int got = 0, toobig = 0;
    struct src *in = &l->in;
    for (;;) {
        if (in->pos >= in->len) {
            enum tl_rc rc = src_fill(in, err);
            if (rc != TL_OK) {
                l->done = 2;
                if (err) err->line = l->line + 1;
                return rc;
            }
            if (in->len == 0) {
                l->done = 1;
                if (!got) return TL_OK;
                break;
            }
        }
        got = 1;
        const unsigned char *p = in->chunk + in->pos;
        size_t avail = in->len - in->pos;
        const unsigned char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) : avail;
        /* A whole line inside a file's chunk (our own buffer) is handed out
         * where it is, its newline overwritten by the NUL: no copy (a line
         * across two chunks is assembled in buf as below). Valid, like buf,
         * until the next call. */
        if (nl && n == 0 && in->gz && take <= TL_LINES_LINE_MAX) {
            unsigned char *w = in->buf + in->pos;
            in->pos += take + 1;
            if (take > 0 && w[take - 1] == '\r') take--;
            w[take] = '\0';
            l->line++;
            *lineno = l->line;
            *line = (const char *)w;
            *len = take;
            return TL_OK;
        }
        if (!toobig) {
            if (n + take > TL_LINES_LINE_MAX) {
                toobig = 1;
            } else {
                memcpy(l->buf + n, p, take);
                n += take;
            }
        }
        in->pos += take;
        if (nl) {
            in->pos++;
            break;
        }
    }
    l->line++;
    *lineno = l->line;
    if (toobig) {
        tl_err_set(err, TL_ETOOBIG, "", "line %ld is longer than %u bytes (limit TL_LINES_LINE_MAX)", l->line,
                   TL_LINES_LINE_MAX);
        if (err) err->line = l->line;
        return TL_ETOOBIG;
    }
    if (n > 0 && l->buf[n - 1] == '\r') n--;
    l->buf[n] = '\0';
    *line = l->buf;
    *len = n;
    return TL_OK;
}

uint64_t tl_lines_bytes_read(const struct tl_lines *l) { return src_bytes_read(&l->in); }
uint64_t tl_lines_bytes_total(const struct tl_lines *l) { return l->in.total; }
