/* For test files that also build as plain programs for ThreadSanitizer
 * (`make tsan`; Criterion cannot start under TSan): with
 * TL_TSAN_STANDALONE defined, minimal stand-ins for the Criterion
 * assertions they use (a failure prints file, line and the expression, and
 * exits 1), and Test() declares a plain function for the file's own main;
 * otherwise Criterion itself. */
#ifndef TL_TESTS_TSAN_STANDALONE_H
#define TL_TESTS_TSAN_STANDALONE_H

#ifdef TL_TSAN_STANDALONE
#include <stdio.h>
#include <stdlib.h>
#define TL_FAIL_IF(c, what)                                                                                            \
    do {                                                                                                               \
        if (c) {                                                                                                       \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, what);                                                  \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)
#define cr_assert_eq(a, b, ...) TL_FAIL_IF((a) != (b), #a " != " #b)
#define cr_assert_gt(a, b, ...) TL_FAIL_IF(!((a) > (b)), #a " <= " #b)
#define cr_assert_not_null(a, ...) TL_FAIL_IF((a) == NULL, #a " is NULL")
#define Test(suite, name) static void name(void)
#else
#include <criterion/criterion.h>
#endif

#endif
