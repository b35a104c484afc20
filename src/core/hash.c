/* xxHash wrappers (see hash.h). */
#include "core/hash.h"

#include <string.h>
#include <xxhash.h>

uint64_t tl_hash(const void *p, size_t n, uint64_t seed) { return XXH3_64bits_withSeed(p, n, seed); }

uint64_t tl_hash_str(const char *s, uint64_t seed) { return XXH3_64bits_withSeed(s, strlen(s), seed); }

uint64_t tl_hash_u64(uint64_t x)
{
    /* splitmix64 finaliser: constants from Steele, Lea and Flood (2014). */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}
