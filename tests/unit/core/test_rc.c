/* Tests for src/core/rc.c: every result code has a non-empty message and a
 * unique, stable machine code; out-of-range values answer "unknown". */
#include <criterion/criterion.h>
#include <string.h>

#include "tailor/rc.h"

Test(rc, stable_codes)
{
    cr_assert_eq(TL_OK, 0);
    cr_assert_str_eq(tl_rc_code(TL_OK), "ok");
    cr_assert_str_eq(tl_rc_code(TL_EINVAL), "invalid");
    cr_assert_str_eq(tl_rc_code(TL_EPARSE), "malformed");
    cr_assert_str_eq(tl_rc_code(TL_ENOTFOUND), "not_found");
    cr_assert_str_eq(tl_rc_code(TL_ETOOBIG), "too_large");
    cr_assert_str_eq(tl_rc_code(TL_EBUSY), "overloaded");
    cr_assert_str_eq(tl_rc_code(TL_EINTERNAL), "internal");
    cr_assert_str_eq(tl_rc_message(TL_OK), "success");
    cr_assert_str_eq(tl_rc_message(TL_ENOTFOUND), "not found");
}

Test(rc, every_code_has_message_and_unique_code)
{
    for (int i = 0; i < TL_RC_COUNT_; i++) {
        const char *m = tl_rc_message((enum tl_rc)i), *c = tl_rc_code((enum tl_rc)i);
        cr_assert(m && *m, "rc %d has no message", i);
        cr_assert(c && *c, "rc %d has no code", i);
        cr_assert_str_neq(c, "unknown");
        for (size_t k = 0; c[k]; k++)
            cr_assert((c[k] >= 'a' && c[k] <= 'z') || c[k] == '_', "code %s is not snake_case", c);
        for (int j = 0; j < i; j++) cr_assert_str_neq(c, tl_rc_code((enum tl_rc)j), "code %s repeated", c);
    }
}

Test(rc, out_of_range_is_unknown)
{
    cr_assert_str_eq(tl_rc_code(TL_RC_COUNT_), "unknown");
    cr_assert_str_eq(tl_rc_message(TL_RC_COUNT_), "unknown error");
    cr_assert_str_eq(tl_rc_code((enum tl_rc) - 1), "unknown");
    cr_assert_str_eq(tl_rc_message((enum tl_rc) - 1), "unknown error");
    cr_assert_str_eq(tl_rc_code((enum tl_rc)1000), "unknown");
}
