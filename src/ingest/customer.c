/* Customers: validation of the JSON form into struct tl_customer.
 *
 * JSON form (null = absent):
 *   id            required: string 1..TL_ID_MAX bytes, or a JSON integer
 *   email         basic shape check (below), <= TL_CUSTOMER_EMAIL_MAX bytes
 *   name          string without control characters, <= TL_CUSTOMER_NAME_MAX
 *   country       2 ASCII letters, upper-cased in place
 *   consent       {"email": bool, "personalization": bool}
 *   consent_email, consent_personalization   bools (flat form)
 *   member_tier   string <= TL_CUSTOMER_TIER_MAX
 *   created_at, updated_at  ISO 8601 or epoch ms (default now)
 * Both consent forms may be given only if they agree; unknown keys inside
 * "consent" and unknown top-level keys are ignored.
 *
 * Email shape (deliberately loose; delivery is the real test): exactly one
 * '@'; local part 1..64 bytes; domain has a '.' that is neither its first
 * nor last byte and no two dots in a row; no whitespace or control character
 * anywhere. Unicode is allowed (internationalised addresses). The address is
 * stored as given (no case folding). */
#include "ingest/customer.h"

#include <string.h>

#include "ingest/event.h"

static enum tl_rc check_email(const char *s, struct tl_err *err)
{
    const char *at = strchr(s, '@');
    const char *hint = "email must look like name@example.com";
    if (!at || strchr(at + 1, '@')) return tl_err_set(err, TL_EINVAL, "email", "%s (exactly one '@')", hint);
    size_t local = (size_t)(at - s);
    if (local == 0 || local > TL_CUSTOMER_EMAIL_LOCAL_MAX)
        return tl_err_set(err, TL_EINVAL, "email", "%s (1..%d bytes before '@')", hint, TL_CUSTOMER_EMAIL_LOCAL_MAX);
    const char *dom = at + 1;
    size_t dn = strlen(dom);
    const char *dot = strchr(dom, '.');
    if (dn == 0 || !dot || dom[0] == '.' || dom[dn - 1] == '.' || strstr(dom, ".."))
        return tl_err_set(err, TL_EINVAL, "email", "%s (domain needs a dot, e.g. example.com)", hint);
    if (strpbrk(s, " \t\r\n")) return tl_err_set(err, TL_EINVAL, "email", "%s (no spaces)", hint);
    return TL_OK;
}

enum tl_rc tl_customer_from_json(json_t *obj, int64_t now_ms, struct tl_customer *out, struct tl_err *err)
{
    enum tl_rc rc;
    memset(out, 0, sizeof *out);
    out->consent_email = -1;
    out->consent_personalization = -1;
    out->created_ms = out->updated_ms = now_ms;
    if (!obj || !json_is_object(obj))
        return tl_err_set(err, TL_EINVAL, "", "a customer must be a JSON object, got %s",
                          obj ? tl_event_field_type_name(obj) : "nothing");
    if ((rc = tl_event_field_id(obj, "id", NULL, TL_ID_MAX, 1, 1, &out->id, err))) return rc;
    if ((rc = tl_event_field_text(obj, "email", TL_CUSTOMER_EMAIL_MAX, 0, 0, &out->email, err))) return rc;
    if (out->email && (rc = check_email(out->email, err))) return rc;
    if ((rc = tl_event_field_text(obj, "name", TL_CUSTOMER_NAME_MAX, 0, 0, &out->name, err))) return rc;
    if ((rc = tl_event_field_country(obj, &out->country, err))) return rc;
    if ((rc = tl_event_field_text(obj, "member_tier", TL_CUSTOMER_TIER_MAX, 0, 0, &out->member_tier, err))) return rc;

    json_t *c = json_object_get(obj, "consent");
    if (c && !json_is_null(c)) {
        if (!json_is_object(c))
            return tl_err_set(err, TL_EINVAL, "consent",
                              "consent must be an object {\"email\":bool,\"personalization\":bool}, got %s",
                              tl_event_field_type_name(c));
        json_t *e = json_object_get(c, "email"), *p = json_object_get(c, "personalization");
        if (e && !json_is_null(e)) {
            if (!json_is_boolean(e))
                return tl_err_set(err, TL_EINVAL, "consent.email", "consent.email must be true or false, got %s",
                                  tl_event_field_type_name(e));
            out->consent_email = json_is_true(e);
        }
        if (p && !json_is_null(p)) {
            if (!json_is_boolean(p))
                return tl_err_set(err, TL_EINVAL, "consent.personalization",
                                  "consent.personalization must be true or false, got %s", tl_event_field_type_name(p));
            out->consent_personalization = json_is_true(p);
        }
    }
    int flat_email = -1, flat_pers = -1;
    if ((rc = tl_event_field_bool(obj, "consent_email", &flat_email, err))) return rc;
    if ((rc = tl_event_field_bool(obj, "consent_personalization", &flat_pers, err))) return rc;
    if (flat_email >= 0) {
        if (out->consent_email >= 0 && out->consent_email != flat_email)
            return tl_err_set(err, TL_EINVAL, "consent_email", "consent_email contradicts consent.email");
        out->consent_email = flat_email;
    }
    if (flat_pers >= 0) {
        if (out->consent_personalization >= 0 && out->consent_personalization != flat_pers)
            return tl_err_set(err, TL_EINVAL, "consent_personalization",
                              "consent_personalization contradicts consent.personalization");
        out->consent_personalization = flat_pers;
    }
    int present;
    if ((rc = tl_event_field_time(obj, "created_at", &out->created_ms, &present, err))) return rc;
    if ((rc = tl_event_field_time(obj, "updated_at", &out->updated_ms, &present, err))) return rc;
    return TL_OK;
}
