/* Hashing helpers over xxHash (XXH3 64-bit). Used for hash tables, event_id
 * idempotency keys and (later) experiment bucketing. Not for secrets. */
#ifndef TL_CORE_HASH_H
#define TL_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t tl_hash(const void *p, size_t n, uint64_t seed);
uint64_t tl_hash_str(const char *s, uint64_t seed);
/* Mix an integer into a well-spread 64-bit value (splitmix64 finaliser). */
uint64_t tl_hash_u64(uint64_t x);

#endif
