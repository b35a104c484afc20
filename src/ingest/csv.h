/* Streaming readers for import files: an RFC 4180 CSV reader (tl_csv_) and an
 * NDJSON line reader (tl_lines_), both over the same input abstraction:
 *
 *   path "-"          standard input (plain or gzip, detected by zlib)
 *   path "*.gz" etc.  a file, gzip-compressed or plain (zlib's gzread reads
 *                     plain files transparently, so the suffix does not matter)
 *   memory            tl_csv_open_mem / tl_lines_open_mem (borrowed bytes)
 *
 * Ownership: a reader returned by an open function is owned by the caller and
 * released with the matching close function. Field and line pointers handed
 * out are borrowed from the reader and stay valid until the next call to
 * tl_csv_next / tl_lines_next or close.
 *
 * Positions: lines are 1-based physical lines of the input (a quoted field
 * with embedded newlines spans several lines); columns are 1-based byte
 * columns within a line. A leading UTF-8 BOM is skipped and not counted. */
#ifndef TL_INGEST_CSV_H
#define TL_INGEST_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define TL_CSV_FIELD_MAX (64u * 1024u)    /* bytes of one field (after unquoting) */
#define TL_CSV_FIELDS_MAX 512u            /* fields of one record */
#define TL_CSV_RECORD_MAX (1024u * 1024u) /* bytes of one record (sum of its fields) */
#define TL_LINES_LINE_MAX (1024u * 1024u) /* bytes of one NDJSON line (without newline) */
#define TL_CSV_CHUNK (256u * 1024u)       /* read size from the input */

struct tl_csv;
struct tl_lines;

/* ---- CSV ---------------------------------------------------------------- */

/* Open path ("-" = stdin; gzip or plain) for CSV reading with separator sep
 * (0 = ','; '"', '\r' and '\n' are rejected). TL_EIO if it cannot be opened. */
enum tl_rc tl_csv_open(const char *path, char sep, struct tl_csv **out, struct tl_err *err);
/* Same over len bytes at data (borrowed: must outlive the reader). */
enum tl_rc tl_csv_open_mem(const char *data, size_t len, char sep, struct tl_csv **out, struct tl_err *err);
void tl_csv_close(struct tl_csv *c);

/* Read the next record. On TL_OK *nfields is its field count (>= 1), or 0 at
 * the end of the input. Completely empty lines between records are skipped.
 * Errors (err->line/column name the record line and 1-based field index; the
 * message also names the byte column):
 *   TL_ETOOBIG  a field > TL_CSV_FIELD_MAX, > TL_CSV_FIELDS_MAX fields, or a
 *               record > TL_CSV_RECORD_MAX. The rest of the record is consumed
 *               so the caller may continue with the next record.
 *   TL_EPARSE   a character other than separator/newline after a closing
 *               quote (record consumed, may continue), or an unterminated
 *               quoted field at the end of the input (err->line = the line
 *               where the quote opened; the reader is finished).
 *   TL_EIO      read error or corrupt/truncated gzip stream (finished). */
enum tl_rc tl_csv_next(struct tl_csv *c, size_t *nfields, struct tl_err *err);

/* 1 once the reader has reached the end of the input or a final error
 * (nothing more will be read). */
int tl_csv_finished(const struct tl_csv *c);

/* Accessors for the current record (after tl_csv_next returned TL_OK). */
size_t tl_csv_nfields(const struct tl_csv *c);
/* Field i, NUL-terminated (embedded NULs are kept; use *len). NULL when
 * i >= nfields. len may be NULL. */
const char *tl_csv_field(const struct tl_csv *c, size_t i, size_t *len);
/* Same, writable: the caller may change the bytes in place (trim, case)
 * within [0, len]; they are overwritten by the next tl_csv_next. */
char *tl_csv_field_mut(struct tl_csv *c, size_t i, size_t *len);
/* Line where the current record starts (1-based). */
long tl_csv_line(const struct tl_csv *c);
/* Line and 1-based byte column where field i starts (0 if out of range). */
long tl_csv_field_line(const struct tl_csv *c, size_t i);
long tl_csv_field_col(const struct tl_csv *c, size_t i);
/* Physical lines consumed so far. */
long tl_csv_lines(const struct tl_csv *c);
/* Progress: bytes of the input consumed so far (compressed bytes for gzip
 * files, so it is comparable with the file size) and the file size (0 if
 * unknown: stdin, pipes, memory sources report their length). */
uint64_t tl_csv_bytes_read(const struct tl_csv *c);
uint64_t tl_csv_bytes_total(const struct tl_csv *c);

/* ---- NDJSON lines --------------------------------------------------------- */

enum tl_rc tl_lines_open(const char *path, struct tl_lines **out, struct tl_err *err);
enum tl_rc tl_lines_open_mem(const char *data, size_t len, struct tl_lines **out, struct tl_err *err);
void tl_lines_close(struct tl_lines *l);

/* Next line without its "\n" / "\r\n", NUL-terminated, into *line and *len
 * (valid until the next call: it may point into the reader's input buffer); its
 * 1-based number into *lineno. *line = NULL at the end of input. Empty lines
 * are returned (callers skip blank lines). TL_ETOOBIG for a line longer than
 * TL_LINES_LINE_MAX (the rest of that line is skipped; the caller may go on);
 * TL_EIO on read errors. */
enum tl_rc tl_lines_next(struct tl_lines *l, const char **line, size_t *len, long *lineno, struct tl_err *err);
uint64_t tl_lines_bytes_read(const struct tl_lines *l);
uint64_t tl_lines_bytes_total(const struct tl_lines *l);

#endif
