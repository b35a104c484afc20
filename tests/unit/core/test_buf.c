/* Tests for src/core/buf.c: append/puts/putc/printf, NUL termination, the
 * hard maximum (TL_ETOOBIG leaves the buffer unchanged, including size
 * arithmetic that would overflow), JSON string escaping (quotes, backslash,
 * every control character, UTF-8 passed through), steal and reset, and
 * allocation failure. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

Test(buf, init_defaults_and_empty_state)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(b.max, TL_BUF_DEFAULT_MAX);
    cr_assert_eq(b.len, 0);
    cr_assert_null(b.data);
    tl_buf_reset(&b); /* reset of a never-used buffer is harmless */
    cr_assert_eq(b.len, 0);
    tl_buf_free(&b);
    tl_buf_init(&b, 10);
    cr_assert_eq(b.max, 10);
    tl_buf_free(&b);
}

Test(buf, append_puts_putc_terminate)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_buf_puts(&b, "hello"), TL_OK);
    cr_assert_eq(tl_buf_putc(&b, ','), TL_OK);
    cr_assert_eq(tl_buf_append(&b, " world!!", 6), TL_OK);
    cr_assert_eq(tl_buf_append(&b, NULL, 0), TL_OK, "empty append is fine");
    cr_assert_eq(b.len, 12);
    cr_assert_str_eq(b.data, "hello, world");
    cr_assert_eq(b.data[b.len], '\0');
    /* Embedded NUL bytes are kept and counted. */
    cr_assert_eq(tl_buf_append(&b, "a\0b", 3), TL_OK);
    cr_assert_eq(b.len, 15);
    cr_assert_eq(memcmp(b.data + 12, "a\0b", 4), 0);
    tl_buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(b.data, "");
    cr_assert_eq(tl_buf_puts(&b, "x"), TL_OK);
    cr_assert_str_eq(b.data, "x");
    tl_buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
}

Test(buf, growth_over_many_appends)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    for (int i = 0; i < 100000; i++) cr_assert_eq(tl_buf_putc(&b, (char)('a' + i % 26)), TL_OK);
    cr_assert_eq(b.len, 100000);
    cr_assert_geq(b.cap, b.len + 1);
    cr_assert_eq(b.data[b.len], '\0');
    for (int i = 0; i < 100000; i++) cr_assert_eq(b.data[i], (char)('a' + i % 26));
    tl_buf_free(&b);
}

Test(buf, printf_short_and_long)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_buf_printf(&b, "%d-%s", 42, "x"), TL_OK);
    cr_assert_str_eq(b.data, "42-x");
    /* Longer than the 256-byte stack buffer: takes the second path. */
    char big[1001];
    memset(big, 'z', 1000);
    big[1000] = '\0';
    cr_assert_eq(tl_buf_printf(&b, "[%s]", big), TL_OK);
    cr_assert_eq(b.len, 4 + 1002);
    cr_assert_eq(strlen(b.data), b.len);
    cr_assert_eq(b.data[4], '[');
    cr_assert_eq(b.data[b.len - 1], ']');
    /* Exactly 255 and 256 characters: the boundary of the stack buffer. */
    tl_buf_reset(&b);
    cr_assert_eq(tl_buf_printf(&b, "%.*s", 255, big), TL_OK);
    cr_assert_eq(b.len, 255);
    tl_buf_reset(&b);
    cr_assert_eq(tl_buf_printf(&b, "%.*s", 256, big), TL_OK);
    cr_assert_eq(b.len, 256);
    cr_assert_eq(strlen(b.data), 256);
    tl_buf_reset(&b);
    cr_assert_eq(tl_buf_printf(&b, "%s", ""), TL_OK);
    cr_assert_eq(b.len, 0);
    tl_buf_free(&b);
}

Test(buf, max_limit_refuses_and_leaves_buffer_unchanged)
{
    struct tl_buf b;
    tl_buf_init(&b, 8);
    cr_assert_eq(tl_buf_puts(&b, "12345678"), TL_OK, "exactly max bytes fit");
    cr_assert_eq(b.len, 8);
    cr_assert_eq(tl_buf_putc(&b, '9'), TL_ETOOBIG);
    cr_assert_eq(tl_buf_puts(&b, "abc"), TL_ETOOBIG);
    cr_assert_eq(tl_buf_printf(&b, "%d", 1), TL_ETOOBIG);
    cr_assert_eq(b.len, 8);
    cr_assert_str_eq(b.data, "12345678");
    cr_assert_eq(tl_buf_append(&b, "", 0), TL_OK, "an empty append at the limit is fine");

    tl_buf_reset(&b);
    cr_assert_eq(tl_buf_puts(&b, "1234"), TL_OK);
    cr_assert_eq(tl_buf_puts(&b, "56789"), TL_ETOOBIG, "a partial fit is refused whole");
    cr_assert_str_eq(b.data, "1234");
    cr_assert_eq(b.len, 4);
    /* printf over the limit through the long (>256 bytes) path. */
    char big[300];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(tl_buf_printf(&b, "%s", big), TL_ETOOBIG);
    cr_assert_str_eq(b.data, "1234");
    cr_assert_eq(b.len, 4);
    tl_buf_free(&b);
}

Test(buf, reserve_with_overflowing_size_is_refused)
{
    /* len + extra + 1 must not wrap around to a small number. */
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_buf_reserve(&b, SIZE_MAX), TL_ETOOBIG);
    cr_assert_eq(tl_buf_puts(&b, "ab"), TL_OK);
    cr_assert_eq(tl_buf_reserve(&b, SIZE_MAX - 1), TL_ETOOBIG);
    cr_assert_eq(tl_buf_reserve(&b, SIZE_MAX - 2), TL_ETOOBIG);
    cr_assert_str_eq(b.data, "ab");
    tl_buf_free(&b);
}

Test(buf, json_str_escapes)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_buf_json_str(&b, "plain"), TL_OK);
    cr_assert_str_eq(b.data, "\"plain\"");
    tl_buf_reset(&b);
    cr_assert_eq(tl_buf_json_str(&b, "a\"b\\c/d"), TL_OK);
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c/d\"");
    tl_buf_reset(&b);
    cr_assert_eq(tl_buf_json_str(&b, "l1\nl2\r\tend"), TL_OK);
    cr_assert_str_eq(b.data, "\"l1\\nl2\\r\\tend\"");
    tl_buf_reset(&b);
    cr_assert_eq(tl_buf_json_str(&b, "\x01\x08\x0c\x1f"), TL_OK);
    cr_assert_str_eq(b.data, "\"\\u0001\\u0008\\u000c\\u001f\"");
    tl_buf_reset(&b);
    cr_assert_eq(tl_buf_json_str(&b, ""), TL_OK);
    cr_assert_str_eq(b.data, "\"\"");
    tl_buf_reset(&b);
    cr_assert_eq(tl_buf_json_str(&b, NULL), TL_OK, "NULL is written as an empty string");
    cr_assert_str_eq(b.data, "\"\"");
    tl_buf_reset(&b);
    /* UTF-8 passes through byte for byte (pound sign, e acute, emoji). */
    const char *utf8 = "\xc2\xa3 caf\xc3\xa9 \xf0\x9f\x8e\x84";
    cr_assert_eq(tl_buf_json_str(&b, utf8), TL_OK);
    cr_assert_eq(b.len, strlen(utf8) + 2);
    cr_assert_eq(memcmp(b.data + 1, utf8, strlen(utf8)), 0);
    tl_buf_free(&b);
}

Test(buf, json_str_every_control_char_round_trips_through_jansson)
{
    /* Every byte 0x01..0x7f in one string: the output must be a valid JSON
     * string literal that decodes back to the input. */
    char in[128];
    for (int i = 1; i < 128; i++) in[i - 1] = (char)i;
    in[127] = '\0';
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_buf_puts(&b, "["), TL_OK);
    cr_assert_eq(tl_buf_json_str(&b, in), TL_OK);
    cr_assert_eq(tl_buf_puts(&b, "]"), TL_OK);
    for (size_t i = 0; i < b.len; i++)
        cr_assert((unsigned char)b.data[i] >= 0x20, "raw control byte 0x%02x in output", (unsigned char)b.data[i]);
    json_error_t je;
    json_t *j = json_loads(b.data, 0, &je);
    cr_assert_not_null(j, "output is not valid JSON: %s (%s)", je.text, b.data);
    cr_assert_str_eq(json_string_value(json_array_get(j, 0)), in);
    json_decref(j);
    tl_buf_free(&b);
}

Test(buf, json_str_over_limit_leaves_buffer_unchanged)
{
    /* buf.h: appending past max fails with TL_ETOOBIG and leaves the buffer
     * unchanged. A JSON literal that does not fit must not leave half a
     * string (an opening quote and some characters) behind. */
    struct tl_buf b;
    tl_buf_init(&b, 10);
    cr_assert_eq(tl_buf_puts(&b, "{"), TL_OK);
    enum tl_rc rc = tl_buf_json_str(&b, "this is far too long");
    char after[16];
    snprintf(after, sizeof after, "%s", b.data);
    size_t len = b.len;
    tl_buf_free(&b);
    cr_assert_eq(rc, TL_ETOOBIG);
    cr_assert_eq(len, 1, "buffer grew to %zu bytes: \"%s\"", len, after);
    cr_assert_str_eq(after, "{");
}

Test(buf, steal_detaches_memory)
{
    long before = tl_alloc_live();
    struct tl_buf b;
    tl_buf_init(&b, 100);
    cr_assert_eq(tl_buf_puts(&b, "owned"), TL_OK);
    char *s = tl_buf_steal(&b);
    cr_assert_str_eq(s, "owned");
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(b.max, 100, "the limit survives steal");
    /* The buffer is reusable after steal and independent of s. */
    cr_assert_eq(tl_buf_puts(&b, "again"), TL_OK);
    cr_assert_str_eq(s, "owned");
    cr_assert_str_eq(b.data, "again");
    tl_free(s);
    tl_buf_free(&b);
    /* Stealing an empty buffer gives an owned empty string, not NULL. */
    tl_buf_init(&b, 0);
    s = tl_buf_steal(&b);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "");
    tl_free(s);
    cr_assert_eq(tl_alloc_live(), before);
}

Test(buf, allocation_failure_reports_enomem_unchanged)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    tl_alloc_fail_after(0);
    cr_assert_eq(tl_buf_puts(&b, "x"), TL_ENOMEM);
    tl_alloc_fail_after(-1);
    cr_assert_eq(b.len, 0);
    cr_assert_null(b.data);
    cr_assert_eq(tl_buf_puts(&b, "0123456789"), TL_OK);
    char big[200];
    memset(big, 'k', sizeof big);
    tl_alloc_fail_after(0); /* the realloc that grows 64 -> 256 fails */
    cr_assert_eq(tl_buf_append(&b, big, sizeof big), TL_ENOMEM);
    tl_alloc_fail_after(-1);
    cr_assert_eq(b.len, 10);
    cr_assert_str_eq(b.data, "0123456789");
    tl_buf_free(&b);
}
