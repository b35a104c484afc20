/* Tests for src/core/err.c: tl_err_set fills rc, field and a formatted
 * message, truncates long text safely, accepts a NULL error and NULL field;
 * tl_err_clear resets everything and accepts NULL. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/err.h"

Test(err, set_fills_fields_and_returns_rc)
{
    struct tl_err e;
    tl_err_clear(&e);
    enum tl_rc rc = tl_err_set(&e, TL_EINVAL, "price", "must be >= 0, got %d", -3);
    cr_assert_eq(rc, TL_EINVAL);
    cr_assert_eq(e.rc, TL_EINVAL);
    cr_assert_str_eq(e.field, "price");
    cr_assert_str_eq(e.msg, "must be >= 0, got -3");
}

Test(err, null_field_is_empty)
{
    struct tl_err e;
    tl_err_clear(&e);
    tl_err_set(&e, TL_EINVAL, "old", "first");
    cr_assert_eq(tl_err_set(&e, TL_EPARSE, NULL, "second %s", "call"), TL_EPARSE);
    cr_assert_str_eq(e.field, "", "a NULL field clears the previous one");
    cr_assert_str_eq(e.msg, "second call");
    cr_assert_eq(e.rc, TL_EPARSE);
}

Test(err, null_err_only_returns_rc)
{
    cr_assert_eq(tl_err_set(NULL, TL_ENOTFOUND, "id", "no item %s", "x"), TL_ENOTFOUND);
    tl_err_clear(NULL);
}

Test(err, clear_resets_everything)
{
    struct tl_err e;
    memset(&e, 0x5a, sizeof e);
    tl_err_clear(&e);
    cr_assert_eq(e.rc, TL_OK);
    cr_assert_str_eq(e.field, "");
    cr_assert_str_eq(e.msg, "");
    cr_assert_eq(e.line, 0);
    cr_assert_eq(e.column, 0);
}

Test(err, long_text_is_truncated_and_terminated)
{
    struct tl_err e;
    tl_err_clear(&e);
    char longfield[400], longmsg[1000];
    memset(longfield, 'f', sizeof longfield - 1);
    longfield[sizeof longfield - 1] = '\0';
    memset(longmsg, 'm', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    tl_err_set(&e, TL_ETOOBIG, longfield, "%s", longmsg);
    cr_assert_eq(strlen(e.field), TL_ERR_FIELD_MAX - 1);
    cr_assert_eq(strlen(e.msg), TL_ERR_MSG_MAX - 1);
    cr_assert_eq(e.field[0], 'f');
    cr_assert_eq(e.msg[TL_ERR_MSG_MAX - 2], 'm');
}

Test(err, percent_in_field_is_not_a_format)
{
    struct tl_err e;
    tl_err_clear(&e);
    tl_err_set(&e, TL_EINVAL, "a%sb%n", "100%% sure");
    cr_assert_str_eq(e.field, "a%sb%n");
    cr_assert_str_eq(e.msg, "100% sure");
}
