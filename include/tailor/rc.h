/* Result codes shared by every layer of Tailor.
 *
 * One X-macro table generates the enum and the message table, so a code and
 * its text can never drift apart. Functions that can fail return enum tl_rc;
 * detail (field, reason) goes into a struct tl_err supplied by the caller.
 * The second column is the stable machine code used in JSON error bodies. */
#ifndef TAILOR_RC_H
#define TAILOR_RC_H

#define TL_RC_TABLE(X)                                                                                                 \
    X(TL_OK, "ok", "success")                                                                                          \
    X(TL_ENOMEM, "out_of_memory", "out of memory")                                                                     \
    X(TL_EINVAL, "invalid", "invalid input")                                                                           \
    X(TL_EPARSE, "malformed", "malformed input")                                                                       \
    X(TL_ENOTFOUND, "not_found", "not found")                                                                          \
    X(TL_EEXIST, "exists", "already exists")                                                                           \
    X(TL_ETOOBIG, "too_large", "input too large")                                                                      \
    X(TL_EIO, "io_error", "input/output error")                                                                        \
    X(TL_ESTORE, "store_error", "storage error")                                                                       \
    X(TL_EAUTH, "unauthorized", "missing or invalid API key")                                                          \
    X(TL_EFORBIDDEN, "forbidden", "API key scope does not allow this")                                                 \
    X(TL_EBUSY, "overloaded", "server busy, retry later")                                                              \
    X(TL_ESHUTDOWN, "shutting_down", "server is shutting down")                                                        \
    X(TL_EINTERNAL, "internal", "internal error")

enum tl_rc {
#define TL_RC_ENUM(name, code, msg) name,
    TL_RC_TABLE(TL_RC_ENUM)
#undef TL_RC_ENUM
        TL_RC_COUNT_
};

/* Human-readable message for rc (static storage, never NULL). */
const char *tl_rc_message(enum tl_rc rc);
/* Stable machine code for rc, e.g. "invalid" (static storage, never NULL). */
const char *tl_rc_code(enum tl_rc rc);

#endif
