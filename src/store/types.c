/* Event type names (table in types.h). */
#include "store/types.h"

#include <string.h>

static const char *const names[TL_EV_MAX_] = {[TL_EV_NONE] = "unknown",
#define TL_EV_NAME(name, val, str) [name] = str,
                                              TL_EVENT_TYPES(TL_EV_NAME)
#undef TL_EV_NAME
};

enum tl_event_type tl_event_type_from_str(const char *s)
{
    if (!s) return TL_EV_NONE;
    for (int i = 1; i < TL_EV_MAX_; i++)
        if (strcmp(names[i], s) == 0) return (enum tl_event_type)i;
    return TL_EV_NONE;
}

const char *tl_event_type_str(enum tl_event_type t)
{
    if ((int)t <= 0 || t >= TL_EV_MAX_) return "unknown";
    return names[t];
}
