/* Customers: JSON validation into struct tl_customer (see customer.c for the
 * JSON form). Strings are borrowed from the jansson object; an id sent as a
 * JSON integer and a lower-case country are replaced in place in it. */
#ifndef TL_INGEST_CUSTOMER_H
#define TL_INGEST_CUSTOMER_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "store/types.h"

#define TL_CUSTOMER_EMAIL_MAX 254 /* RFC 5321 path limit */
#define TL_CUSTOMER_EMAIL_LOCAL_MAX 64
#define TL_CUSTOMER_NAME_MAX 200
#define TL_CUSTOMER_TIER_MAX 64

/* Validate one customer object. created_ms / updated_ms = now_ms unless
 * "created_at" / "updated_at" are given. Consent defaults to -1 (unknown).
 * On error rc is TL_EINVAL (TL_ENOMEM for an in-place normalisation) and err
 * names the field. */
enum tl_rc tl_customer_from_json(json_t *obj, int64_t now_ms, struct tl_customer *out, struct tl_err *err);

#endif
