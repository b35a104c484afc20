/* Message and code tables generated from TL_RC_TABLE (include/tailor/rc.h). */
#include "tailor/rc.h"

static const char *const messages[] = {
#define TL_RC_MSG(name, code, msg) msg,
    TL_RC_TABLE(TL_RC_MSG)
#undef TL_RC_MSG
};

static const char *const codes[] = {
#define TL_RC_CODE(name, code, msg) code,
    TL_RC_TABLE(TL_RC_CODE)
#undef TL_RC_CODE
};

const char *tl_rc_message(enum tl_rc rc)
{
    if ((unsigned)rc >= TL_RC_COUNT_) return "unknown error";
    return messages[rc];
}

const char *tl_rc_code(enum tl_rc rc)
{
    if ((unsigned)rc >= TL_RC_COUNT_) return "unknown";
    return codes[rc];
}
