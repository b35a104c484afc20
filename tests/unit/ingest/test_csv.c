/* Tests for src/ingest/csv.c: RFC 4180 parsing, positions, limits, broken
 * input, gzip / plain / stdin sources and the NDJSON line reader. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"
#include "ingest/csv.h"

static struct tl_csv *open_mem(const char *s, char sep)
{
    struct tl_csv *c = NULL;
    struct tl_err e;
    cr_assert_eq(tl_csv_open_mem(s, strlen(s), sep, &c, &e), TL_OK);
    return c;
}

/* Read the next record, asserting success and the field count. */
static void next_ok(struct tl_csv *c, size_t want)
{
    size_t nf = 99;
    struct tl_err e = {0};
    enum tl_rc rc = tl_csv_next(c, &nf, &e);
    cr_assert_eq(rc, TL_OK, "rc %d: %s", rc, e.msg);
    cr_assert_eq(nf, want, "fields %zu, want %zu", nf, want);
}

static void field_is(struct tl_csv *c, size_t i, const char *want)
{
    size_t len;
    const char *f = tl_csv_field(c, i, &len);
    cr_assert_not_null(f);
    cr_assert_str_eq(f, want);
    cr_assert_eq(len, strlen(want));
}

Test(csv, simple_records_and_lines)
{
    struct tl_csv *c = open_mem("a,b,c\n1,2,3\nx,,z", 0);
    next_ok(c, 3);
    field_is(c, 0, "a");
    field_is(c, 2, "c");
    cr_assert_eq(tl_csv_line(c), 1);
    next_ok(c, 3);
    cr_assert_eq(tl_csv_line(c), 2);
    cr_assert_eq(tl_csv_field_col(c, 2), 5);
    next_ok(c, 3); /* last record without newline */
    field_is(c, 1, "");
    field_is(c, 2, "z");
    cr_assert_eq(tl_csv_line(c), 3);
    next_ok(c, 0);
    next_ok(c, 0); /* EOF is sticky */
    cr_assert_eq(tl_csv_lines(c), 3);
    cr_assert_null(tl_csv_field(c, 0, NULL));
    tl_csv_close(c);
}

Test(csv, quoted_fields_crlf_and_embedded_newlines)
{
    const char *in = "id,text\r\n"
                     "1,\"hello, world\"\r\n"
                     "2,\"say \"\"hi\"\"\"\r\n"
                     "3,\"two\r\nlines\nthree\"\r\n"
                     "4,\"\"\r\n"
                     "5,after\r\n";
    struct tl_csv *c = open_mem(in, 0);
    next_ok(c, 2);
    next_ok(c, 2);
    field_is(c, 1, "hello, world");
    cr_assert_eq(tl_csv_field_col(c, 1), 3);
    next_ok(c, 2);
    field_is(c, 1, "say \"hi\"");
    next_ok(c, 2);
    field_is(c, 1, "two\r\nlines\nthree");
    cr_assert_eq(tl_csv_line(c), 4);
    next_ok(c, 2);
    field_is(c, 1, "");
    cr_assert_eq(tl_csv_line(c), 7, "line after a 3-line record");
    next_ok(c, 2);
    field_is(c, 1, "after");
    cr_assert_eq(tl_csv_line(c), 8);
    cr_assert_eq(tl_csv_field_col(c, 1), 3);
    next_ok(c, 0);
    tl_csv_close(c);
}

Test(csv, bom_is_skipped_and_not_counted)
{
    struct tl_csv *c = open_mem("\xEF\xBB\xBFid,name\n7,x\n", 0);
    next_ok(c, 2);
    field_is(c, 0, "id");
    cr_assert_eq(tl_csv_field_col(c, 0), 1);
    cr_assert_eq(tl_csv_field_col(c, 1), 4);
    tl_csv_close(c);
}

Test(csv, custom_separator)
{
    struct tl_csv *c = open_mem("a;b,c;\"d;e\"\n", ';');
    next_ok(c, 3);
    field_is(c, 1, "b,c");
    field_is(c, 2, "d;e");
    tl_csv_close(c);
    c = open_mem("a\tb\n", '\t');
    next_ok(c, 2);
    tl_csv_close(c);
    struct tl_err e;
    struct tl_csv *bad = NULL;
    cr_assert_eq(tl_csv_open_mem("x", 1, '"', &bad, &e), TL_EINVAL);
    cr_assert_null(bad);
}

Test(csv, blank_lines_trailing_separator_and_cr_only)
{
    struct tl_csv *c = open_mem("\n\na,b,\n\r\n\nc\rd\r", 0);
    next_ok(c, 3);
    cr_assert_eq(tl_csv_line(c), 3);
    field_is(c, 2, "");
    next_ok(c, 1);
    field_is(c, 0, "c");
    cr_assert_eq(tl_csv_line(c), 6); /* "\r\n" is one line end */
    next_ok(c, 1);
    field_is(c, 0, "d");
    cr_assert_eq(tl_csv_line(c), 7);
    next_ok(c, 0);
    tl_csv_close(c);
}

Test(csv, empty_input)
{
    struct tl_csv *c = open_mem("", 0);
    next_ok(c, 0);
    tl_csv_close(c);
    c = open_mem("\xEF\xBB\xBF", 0);
    next_ok(c, 0);
    tl_csv_close(c);
}

Test(csv, quote_inside_bare_field_is_literal)
{
    struct tl_csv *c = open_mem("12\" ruler,x\n", 0);
    next_ok(c, 2);
    field_is(c, 0, "12\" ruler");
    tl_csv_close(c);
}

/* Build "<prefix><n copies of ch><suffix>". */
static char *big(const char *prefix, size_t n, char ch, const char *suffix)
{
    size_t a = strlen(prefix), b = strlen(suffix);
    char *s = malloc(a + n + b + 1);
    memcpy(s, prefix, a);
    memset(s + a, ch, n);
    memcpy(s + a + n, suffix, b + 1);
    return s;
}

Test(csv, field_limit_and_recovery)
{
    char *ok = big("a,", TL_CSV_FIELD_MAX, 'x', "\n");
    struct tl_csv *c = open_mem(ok, 0);
    next_ok(c, 2);
    cr_assert_eq(strlen(tl_csv_field(c, 1, NULL)), TL_CSV_FIELD_MAX);
    tl_csv_close(c);
    free(ok);

    char *tb = big("h\nok\n\"", TL_CSV_FIELD_MAX + 1, 'y', "\"\nnext\n");
    c = open_mem(tb, 0);
    next_ok(c, 1);
    next_ok(c, 1);
    size_t nf;
    struct tl_err e = {0};
    cr_assert_eq(tl_csv_next(c, &nf, &e), TL_ETOOBIG);
    cr_assert_eq(e.line, 3);
    cr_assert_eq(e.column, 1);
    cr_assert(strstr(e.msg, "65536") != NULL, "%s", e.msg);
    next_ok(c, 1); /* the reader resynchronised */
    field_is(c, 0, "next");
    cr_assert_eq(tl_csv_line(c), 4);
    tl_csv_close(c);
    free(tb);
}

Test(csv, fields_per_record_limit)
{
    char *ok = big("", TL_CSV_FIELDS_MAX - 1, ',', "\n");
    struct tl_csv *c = open_mem(ok, 0);
    next_ok(c, TL_CSV_FIELDS_MAX);
    tl_csv_close(c);
    free(ok);
    char *bad = big("", TL_CSV_FIELDS_MAX, ',', "\nz\n");
    c = open_mem(bad, 0);
    size_t nf;
    struct tl_err e = {0};
    cr_assert_eq(tl_csv_next(c, &nf, &e), TL_ETOOBIG);
    cr_assert_eq(e.line, 1);
    cr_assert(strstr(e.msg, "512") != NULL, "%s", e.msg);
    next_ok(c, 1);
    field_is(c, 0, "z");
    tl_csv_close(c);
    free(bad);
}

Test(csv, record_size_limit)
{
    size_t per = TL_CSV_FIELD_MAX, n = TL_CSV_RECORD_MAX / per; /* exactly the limit */
    char *s = malloc((per + 1) * (n + 1) + 8);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        memset(s + k, 'q', per);
        k += per;
        s[k++] = i + 1 < n ? ',' : '\n';
    }
    s[k] = '\0';
    struct tl_csv *c = open_mem(s, 0);
    next_ok(c, n);
    tl_csv_close(c);
    s[k - 1] = ',';
    s[k++] = 'q';
    s[k++] = '\n';
    s[k] = '\0';
    c = open_mem(s, 0);
    size_t nf;
    struct tl_err e = {0};
    cr_assert_eq(tl_csv_next(c, &nf, &e), TL_ETOOBIG);
    cr_assert(strstr(e.msg, "record") != NULL, "%s", e.msg);
    next_ok(c, 0);
    tl_csv_close(c);
    free(s);
}

Test(csv, unterminated_quote_reports_opening_line)
{
    struct tl_csv *c = open_mem("id,t\n1,ok\n2,\"never\nclosed, and the\nfile ends", 0);
    next_ok(c, 2);
    next_ok(c, 2);
    size_t nf;
    struct tl_err e = {0};
    cr_assert_eq(tl_csv_next(c, &nf, &e), TL_EPARSE);
    cr_assert_eq(e.line, 3);
    cr_assert_eq(e.column, 2);
    cr_assert(strstr(e.msg, "unterminated") != NULL, "%s", e.msg);
    cr_assert(tl_csv_finished(c));
    cr_assert_neq(tl_csv_next(c, &nf, &e), TL_OK, "reader stays failed");
    tl_csv_close(c);
}

Test(csv, garbage_after_closing_quote)
{
    struct tl_csv *c = open_mem("\"ab\"c,d\nnext,1\n", 0);
    size_t nf;
    struct tl_err e = {0};
    cr_assert_eq(tl_csv_next(c, &nf, &e), TL_EPARSE);
    cr_assert_eq(e.line, 1);
    cr_assert(strstr(e.msg, "column 5") != NULL, "%s", e.msg);
    cr_assert_not(tl_csv_finished(c));
    next_ok(c, 2);
    field_is(c, 0, "next");
    tl_csv_close(c);
}

Test(csv, embedded_nul_is_kept_with_length)
{
    static const char in[] = "a\0b,c\n";
    struct tl_csv *c = NULL;
    struct tl_err e;
    cr_assert_eq(tl_csv_open_mem(in, sizeof in - 1, 0, &c, &e), TL_OK);
    next_ok(c, 2);
    size_t len;
    const char *f = tl_csv_field(c, 0, &len);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(f, "a\0b", 3), 0);
    tl_csv_close(c);
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_gz(const char *path, const char *data, size_t len)
{
    gzFile g = gzopen(path, "wb");
    cr_assert_not_null(g);
    cr_assert_eq(gzwrite(g, data, (unsigned)len), (int)len);
    gzclose(g);
}

/* Many rows so that the input spans several read chunks. */
static char *many_rows(size_t rows, size_t *len)
{
    char *s = malloc(rows * 64 + 64);
    size_t k = (size_t)sprintf(s, "n,text\n");
    for (size_t i = 0; i < rows; i++) k += (size_t)sprintf(s + k, "%zu,\"row, %zu\nsecond line\"\n", i, i);
    *len = k;
    return s;
}

static void check_many(struct tl_csv *c, size_t rows)
{
    next_ok(c, 2);
    for (size_t i = 0; i < rows; i++) {
        next_ok(c, 2);
        char want[64];
        sprintf(want, "row, %zu\nsecond line", i);
        field_is(c, 1, want);
        cr_assert_eq(tl_csv_line(c), (long)(2 + 2 * i));
    }
    next_ok(c, 0);
}

Test(csv, gzip_and_plain_files_with_progress)
{
    size_t len, rows = 40000;
    char *data = many_rows(rows, &len);
    char plain[] = "/tmp/tl_csv_plainXXXXXX", gz[] = "/tmp/tl_csv_gzXXXXXX";
    close(mkstemp(plain));
    close(mkstemp(gz));
    write_file(plain, data, len);
    write_gz(gz, data, len);
    const char *paths[] = {plain, gz};
    for (int k = 0; k < 2; k++) {
        struct tl_csv *c = NULL;
        struct tl_err e;
        cr_assert_eq(tl_csv_open(paths[k], 0, &c, &e), TL_OK, "%s", e.msg);
        struct stat st;
        stat(paths[k], &st);
        cr_assert_eq(tl_csv_bytes_total(c), (uint64_t)st.st_size);
        cr_assert(tl_csv_bytes_read(c) <= (uint64_t)st.st_size);
        check_many(c, rows);
        cr_assert_eq(tl_csv_bytes_read(c), (uint64_t)st.st_size, "%s: read %llu of %lld", paths[k],
                     (unsigned long long)tl_csv_bytes_read(c), (long long)st.st_size);
        tl_csv_close(c);
    }
    cr_assert(len > 2 * TL_CSV_CHUNK, "test must span several chunks");
    unlink(plain);
    unlink(gz);
    free(data);
}

Test(csv, truncated_gzip_is_an_error)
{
    size_t len;
    char *data = many_rows(20000, &len);
    char gz[] = "/tmp/tl_csv_truncXXXXXX";
    close(mkstemp(gz));
    write_gz(gz, data, len);
    struct stat st;
    stat(gz, &st);
    cr_assert_eq(truncate(gz, st.st_size / 2), 0);
    struct tl_csv *c = NULL;
    struct tl_err e;
    cr_assert_eq(tl_csv_open(gz, 0, &c, &e), TL_OK);
    enum tl_rc rc;
    size_t nf;
    long n = 0;
    while ((rc = tl_csv_next(c, &nf, &e)) == TL_OK && nf) n++;
    cr_assert_neq(rc, TL_OK, "a truncated gzip file must not look like a clean end (read %ld records)", n);
    cr_assert(rc == TL_EIO || rc == TL_EPARSE, "rc %d %s", rc, e.msg);
    tl_csv_close(c);
    unlink(gz);
    free(data);
}

Test(csv, open_errors)
{
    struct tl_csv *c = NULL;
    struct tl_err e;
    cr_assert_eq(tl_csv_open("/nonexistent/dir/file.csv", 0, &c, &e), TL_EIO);
    cr_assert(strstr(e.msg, "/nonexistent/dir/file.csv") != NULL);
    cr_assert_null(c);
    cr_assert_eq(tl_csv_open("/tmp", 0, &c, &e), TL_EIO);
    cr_assert(strstr(e.msg, "directory") != NULL, "%s", e.msg);
    cr_assert_eq(tl_csv_open(NULL, 0, &c, &e), TL_EINVAL);
}

Test(csv, reads_stdin)
{
    char path[] = "/tmp/tl_csv_stdinXXXXXX";
    int fd = mkstemp(path);
    cr_assert_eq(write(fd, "a,b\n1,2\n", 8), 8);
    lseek(fd, 0, SEEK_SET);
    dup2(fd, STDIN_FILENO); /* Criterion runs each test in its own process */
    close(fd);
    struct tl_csv *c = NULL;
    struct tl_err e;
    cr_assert_eq(tl_csv_open("-", 0, &c, &e), TL_OK, "%s", e.msg);
    next_ok(c, 2);
    next_ok(c, 2);
    field_is(c, 1, "2");
    next_ok(c, 0);
    tl_csv_close(c);
    unlink(path);
}

Test(csv, no_leaks)
{
    long before = tl_alloc_live();
    struct tl_csv *c = open_mem("a,b\n\"x", 0);
    size_t nf;
    struct tl_err e;
    next_ok(c, 2);
    cr_assert_eq(tl_csv_next(c, &nf, &e), TL_EPARSE);
    tl_csv_close(c);
    cr_assert_eq(tl_alloc_live(), before);
}

/* ---- NDJSON lines ---- */

static void line_is(struct tl_lines *l, const char *want, long want_no)
{
    const char *s;
    size_t len;
    long no = 0;
    struct tl_err e = {0};
    cr_assert_eq(tl_lines_next(l, &s, &len, &no, &e), TL_OK, "%s", e.msg);
    if (!want) {
        cr_assert_null(s);
        return;
    }
    cr_assert_not_null(s);
    cr_assert_str_eq(s, want);
    cr_assert_eq(len, strlen(want));
    cr_assert_eq(no, want_no);
}

Test(lines, crlf_blank_and_last_line)
{
    struct tl_lines *l = NULL;
    struct tl_err e;
    const char *in = "\xEF\xBB\xBF{\"a\":1}\r\n\n{\"b\":2}\n{\"c\":3}";
    cr_assert_eq(tl_lines_open_mem(in, strlen(in), &l, &e), TL_OK);
    line_is(l, "{\"a\":1}", 1);
    line_is(l, "", 2);
    line_is(l, "{\"b\":2}", 3);
    line_is(l, "{\"c\":3}", 4);
    line_is(l, NULL, 0);
    line_is(l, NULL, 0);
    cr_assert_eq(tl_lines_bytes_read(l), strlen(in));
    tl_lines_close(l);
}

/* A plain file read in chunks: most lines are handed out in place (their
 * newline overwritten), the ones across a chunk boundary assembled, CR LF
 * and a BOM handled alike, an oversize line refused without losing its
 * neighbours, the last line without a newline. Lines of 0 to 70,000 bytes
 * from a fixed generator, about 3 MB (a dozen chunk boundaries), checked
 * against the text that was written. */
Test(lines, plain_file_lines_in_place_and_across_chunks)
{
    char path[] = "/tmp/tl_lines_fileXXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    enum { N = 400 };
    size_t lens[N];
    int crlf[N];
    unsigned seed = 12345;
    fputs("\xEF\xBB\xBF", f);
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 8) % 1000;
        if (i % 37 == 5) len = 70000;
        if (i == 200) len = TL_LINES_LINE_MAX + 1;
        lens[i] = len;
        crlf[i] = i % 3 == 0;
        for (size_t k = 0; k < len; k++) fputc('a' + (int)((i + k) % 26), f);
        if (i + 1 < N) fputs(crlf[i] ? "\r\n" : "\n", f);
    }
    fclose(f);
    struct tl_lines *l = NULL;
    struct tl_err e = {0};
    cr_assert_eq(tl_lines_open(path, &l, &e), TL_OK);
    for (int i = 0; i < N; i++) {
        const char *ln;
        size_t len;
        long no;
        enum tl_rc rc = tl_lines_next(l, &ln, &len, &no, &e);
        cr_assert_eq(no, i + 1);
        if (i == 200) {
            cr_assert_eq(rc, TL_ETOOBIG, "line %d", i + 1);
            continue;
        }
        cr_assert_eq(rc, TL_OK, "line %d: %s", i + 1, e.msg);
        cr_assert_eq(len, lens[i], "line %d: %zu bytes, want %zu", i + 1, len, lens[i]);
        cr_assert_eq(ln[len], '\0');
        for (size_t k = 0; k < len; k++) cr_assert_eq(ln[k], 'a' + (int)((i + k) % 26), "line %d byte %zu", i + 1, k);
    }
    const char *ln;
    size_t len;
    long no;
    cr_assert_eq(tl_lines_next(l, &ln, &len, &no, &e), TL_OK);
    cr_assert_null(ln);
    tl_lines_close(l);
    unlink(path);
}

Test(lines, oversize_line_is_skipped_with_error)
{
    char *s = big("first\n", TL_LINES_LINE_MAX + 10, 'x', "\nlast\n");
    struct tl_lines *l = NULL;
    struct tl_err e = {0};
    cr_assert_eq(tl_lines_open_mem(s, strlen(s), &l, &e), TL_OK);
    line_is(l, "first", 1);
    const char *ln;
    size_t len;
    long no;
    cr_assert_eq(tl_lines_next(l, &ln, &len, &no, &e), TL_ETOOBIG);
    cr_assert_eq(e.line, 2);
    cr_assert_eq(no, 2);
    line_is(l, "last", 3);
    line_is(l, NULL, 0);
    tl_lines_close(l);
    free(s);
}

Test(lines, gzip_file)
{
    char gz[] = "/tmp/tl_lines_gzXXXXXX";
    close(mkstemp(gz));
    write_gz(gz, "{\"x\":1}\n{\"y\":2}\n", 16);
    struct tl_lines *l = NULL;
    struct tl_err e;
    cr_assert_eq(tl_lines_open(gz, &l, &e), TL_OK);
    line_is(l, "{\"x\":1}", 1);
    line_is(l, "{\"y\":2}", 2);
    line_is(l, NULL, 0);
    struct stat st;
    stat(gz, &st);
    cr_assert_eq(tl_lines_bytes_total(l), (uint64_t)st.st_size);
    tl_lines_close(l);
    unlink(gz);
    cr_assert_eq(tl_lines_open("/nonexistent.ndjson", &l, &e), TL_EIO);
}
