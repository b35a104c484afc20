/* Text analysis for product search (see analyze.h).
 *
 * Tokenizer (one pass over UTF-8, invalid bytes act as separators):
 *  - Case folding: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
 *    capitals are lowered.
 *  - Accent folding: Latin-1 / Latin Extended-A letters map to their ASCII
 *    base ("crème" -> "creme", "ß" -> "ss", "æ" -> "ae", "œ" -> "oe");
 *    combining marks U+0300..U+036F are dropped, so decomposed input folds
 *    the same way.
 *  - Token characters are letters and digits. A token is split where letters
 *    meet digits ("12in" -> "12" "in", "2x4" -> "2" "x" "4"). Inside a number
 *    '.' and '/' between digits are kept ("1.9", "1/2"), ',' is dropped
 *    ("1,000" -> "1000"); an apostrophe between letters is dropped
 *    ("men's" -> "mens").
 *  - Units: a unit spelling after a number is canonicalised (in/inch/inches/"
 *    -> "in", ft/feet/foot/' -> "ft", gal/gallon(s) -> "gal", lb/lbs/pound(s)
 *    -> "lb", oz/ounce(s) -> "oz", qt/quart(s) -> "qt", v/volt(s) -> "v",
 *    w/watt(s) -> "w", a/amp(s) -> "amp", sq/square -> "sq", cu/cubic ->
 *    "cu", ga/gauge -> "gauge", pc/piece(s) -> "pc"); unambiguous spellings
 *    (inch, feet, gallon, ...) are canonicalised anywhere. A canonical unit
 *    is never a stop word ("in" after a number means inch).
 *  - Stop words are flagged, not removed (the caller decides).
 *  - Speed: ASCII bytes take a fast path (same folding as fold_cp) and runs
 *    of same-class ASCII characters are copied in a tight loop; a token's
 *    FNV-1a hash is computed once and probes both the stop word table and
 *    the unit table (open addressing, UNIT_SLOTS).
 * Stemming: Snowball via libstemmer (UTF-8), tokens with digits are kept
 * as they are. */
#include "search/analyze.h"

#include <libstemmer.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define STOP_MAX 512 /* stop words kept */
#define STOP_LEN 32
#define STOP_SLOTS 1024 /* > 2 x STOP_MAX */
#define UNIT_SLOTS 256  /* > 4 x the unit aliases (mostly empty probes) */
#define UNIT_LEN_MAX 10 /* longest unit alias ("millimeter") */

static uint32_t stop_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static const char *const default_stop[] = {
    "a",     "an",   "and",   "are",   "as",   "at",   "be", "but", "by",   "for",  "from", "if",   "in",
    "into",  "is",   "it",    "its",   "no",   "not",  "of", "on",  "or",   "s",    "such", "that", "the",
    "their", "then", "there", "these", "they", "this", "to", "was", "will", "with", "w/",   "&"};

struct unit {
    const char *alias, *canon;
    int anywhere; /* canonicalise even when not after a number */
};

/* sorted by alias (bsearch) */
static const struct unit units[] = {
    {"a", "amp", 0},         {"amp", "amp", 0},  {"amps", "amp", 1},   {"btu", "btu", 0},     {"cm", "cm", 0},
    {"cu", "cu", 0},         {"cubic", "cu", 0}, {"feet", "ft", 1},    {"foot", "ft", 0},     {"ft", "ft", 0},
    {"ga", "gauge", 0},      {"gal", "gal", 0},  {"gallon", "gal", 1}, {"gallons", "gal", 1}, {"gauge", "gauge", 0},
    {"in", "in", 0},         {"inch", "in", 1},  {"inches", "in", 1},  {"lb", "lb", 0},       {"lbs", "lb", 1},
    {"millimeter", "mm", 1}, {"mm", "mm", 0},    {"ounce", "oz", 1},   {"ounces", "oz", 1},   {"oz", "oz", 0},
    {"pc", "pc", 0},         {"piece", "pc", 0}, {"pieces", "pc", 0},  {"pound", "lb", 0},    {"pounds", "lb", 0},
    {"qt", "qt", 0},         {"quart", "qt", 1}, {"quarts", "qt", 1},  {"sq", "sq", 0},       {"square", "sq", 0},
    {"v", "v", 0},           {"volt", "v", 1},   {"volts", "v", 1},    {"w", "w", 0},         {"watt", "w", 1},
    {"watts", "w", 1},       {"yard", "yd", 0},  {"yards", "yd", 0},   {"yd", "yd", 0},
};

struct tl_sanalyze {
    struct sb_stemmer *st;
    pthread_mutex_t mu;
    char (*stop)[STOP_LEN]; /* sorted */
    size_t n_stop;
    size_t stop_maxlen;
    uint16_t stop_slot[STOP_SLOTS]; /* open addressing: 1 + index into stop, 0 = empty */
    uint8_t unit_slot[UNIT_SLOTS];  /* open addressing: 1 + index into units, 0 = empty */
};

static int cmp_stop(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

static void add_stop(struct tl_sanalyze *a, const char *w, size_t n)
{
    while (n && (*w == ' ' || *w == '\t')) w++, n--;
    while (n && (w[n - 1] == ' ' || w[n - 1] == '\t')) n--;
    if (!n || n >= STOP_LEN || a->n_stop >= STOP_MAX) return;
    char raw[STOP_LEN], buf[STOP_LEN * 2];
    memcpy(raw, w, n);
    raw[n] = 0;
    size_t m = tl_sanalyze_fold(raw, buf, sizeof buf); /* fold like tokens */
    if (!m || m >= STOP_LEN) return;
    memcpy(a->stop[a->n_stop], buf, m + 1);
    a->n_stop++;
}

enum tl_rc tl_sanalyze_new(const char *lang, const char *stop_words, struct tl_sanalyze **out, struct tl_err *err)
{
    *out = NULL;
    struct tl_sanalyze *a = tl_calloc(1, sizeof *a);
    if (!a) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    a->stop = tl_calloc(STOP_MAX, STOP_LEN);
    if (!a->stop) {
        tl_free(a);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    a->st = sb_stemmer_new(lang ? lang : "english", "UTF_8");
    if (!a->st) {
        tl_free(a->stop);
        tl_free(a);
        return tl_err_set(err, TL_EINVAL, "language", "unknown Snowball language '%s'", lang ? lang : "");
    }
    pthread_mutex_init(&a->mu, NULL);
    if (!stop_words) {
        for (size_t i = 0; i < sizeof default_stop / sizeof *default_stop; i++)
            add_stop(a, default_stop[i], strlen(default_stop[i]));
    } else {
        const char *p = stop_words;
        while (*p) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            add_stop(a, p, n);
            p += n;
            if (*p == ',') p++;
        }
    }
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        uint32_t h = stop_hash(units[i].alias) & (UNIT_SLOTS - 1);
        while (a->unit_slot[h]) h = (h + 1) & (UNIT_SLOTS - 1);
        a->unit_slot[h] = (uint8_t)(i + 1);
    }
    if (a->n_stop) qsort(a->stop, a->n_stop, STOP_LEN, cmp_stop);
    for (size_t i = 0; i < a->n_stop; i++) {
        size_t l = strlen(a->stop[i]);
        if (l > a->stop_maxlen) a->stop_maxlen = l;
        uint32_t h = stop_hash(a->stop[i]) & (STOP_SLOTS - 1);
        while (a->stop_slot[h]) h = (h + 1) & (STOP_SLOTS - 1);
        a->stop_slot[h] = (uint16_t)(i + 1);
    }
    *out = a;
    return TL_OK;
}

void tl_sanalyze_free(struct tl_sanalyze *a)
{
    if (!a) return;
    sb_stemmer_delete(a->st);
    pthread_mutex_destroy(&a->mu);
    tl_free(a->stop);
    tl_free(a);
}

/* Base letters of U+0100..U+017F (Latin Extended-A), one per code point. */
static const char latin_ext_a[] = "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkklllllll"
                                  "lllnnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/* Latin-1 U+00C0..U+00FF; '\0' = separator. Two-letter folds handled apart. */
static const char latin1[] = "aaaaaaaceeeeiiiidnooooo\0ouuuuyts"
                             "aaaaaaaceeeeiiiidnooooo\0ouuuuyty";

enum cclass { C_SEP = 0, C_LET, C_DIG, C_SKIP };

/* Decode one code point at s[i..n); returns its byte length (1 for invalid). */
static size_t utf8_dec(const unsigned char *s, size_t i, size_t n, uint32_t *cp)
{
    unsigned c = s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (!len || i + len > n || c >= 0xF8) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t v = c & (0x3F >> (len - 1));
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i + k] & 0x3F);
    }
    *cp = v;
    return len;
}

/* Fold one code point into out (up to 4 bytes); returns its class. */
static enum cclass fold_cp(uint32_t cp, char *out, size_t *olen)
{
    *olen = 0;
    if (cp < 0x80) {
        if (cp >= 'A' && cp <= 'Z') cp += 32;
        if ((cp >= 'a' && cp <= 'z')) {
            out[0] = (char)cp;
            *olen = 1;
            return C_LET;
        }
        if (cp >= '0' && cp <= '9') {
            out[0] = (char)cp;
            *olen = 1;
            return C_DIG;
        }
        return C_SEP;
    }
    if (cp >= 0x300 && cp <= 0x36F) return C_SKIP;
    if (cp < 0xC0 || cp == 0xFFFD) return C_SEP;
    if (cp <= 0xFF) {
        if (cp == 0xC6 || cp == 0xE6) {
            memcpy(out, "ae", 2);
            *olen = 2;
            return C_LET;
        }
        if (cp == 0xDF) {
            memcpy(out, "ss", 2);
            *olen = 2;
            return C_LET;
        }
        if (cp == 0xDE || cp == 0xFE) {
            memcpy(out, "th", 2);
            *olen = 2;
            return C_LET;
        }
        char c = latin1[cp - 0xC0];
        if (!c) return C_SEP;
        out[0] = c;
        *olen = 1;
        return C_LET;
    }
    if (cp <= 0x17F) {
        if (cp == 0x152 || cp == 0x153) {
            memcpy(out, "oe", 2);
            *olen = 2;
            return C_LET;
        }
        out[0] = latin_ext_a[cp - 0x100];
        *olen = 1;
        return C_LET;
    }
    if ((cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
        (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return C_SEP;
    if (cp >= 0x391 && cp <= 0x3A9)
        cp += 0x20;
    else if (cp >= 0x410 && cp <= 0x42F)
        cp += 0x20;
    else if (cp >= 0x400 && cp <= 0x40F)
        cp += 0x50;
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        *olen = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        *olen = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        *olen = 4;
    }
    return C_LET;
}

size_t tl_sanalyze_fold(const char *s, char *out, size_t cap)
{
    size_t n = strlen(s), o = 0, i = 0;
    int space = 0;
    if (!cap) return 0;
    while (i < n) {
        uint32_t cp;
        size_t l = utf8_dec((const unsigned char *)s, i, n, &cp);
        i += l;
        char f[4];
        size_t fl;
        enum cclass c = fold_cp(cp, f, &fl);
        if (c == C_SKIP) continue;
        if (c == C_SEP) {
            if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') {
                space = 1;
                continue;
            }
            if (cp < 0x80) {
                f[0] = (char)cp;
                fl = 1;
            } else {
                fl = l <= 4 ? l : 0;
                memcpy(f, s + i - l, fl);
            }
        }
        if (space && o) {
            if (o + 1 >= cap) break;
            out[o++] = ' ';
        }
        space = 0;
        if (o + fl >= cap) break;
        memcpy(out + o, f, fl);
        o += fl;
    }
    out[o] = 0;
    return o;
}

static int cmp_unit(const void *k, const void *e) { return strcmp((const char *)k, ((const struct unit *)e)->alias); }

/* Unit of folded token s (len bytes, FNV-1a hash h), or NULL. */
static const struct unit *find_unit(const struct tl_sanalyze *a, const char *s, size_t len, uint32_t h)
{
    if (len > UNIT_LEN_MAX) return NULL;
    if (!a) return bsearch(s, units, sizeof units / sizeof *units, sizeof *units, cmp_unit);
    for (h &= UNIT_SLOTS - 1; a->unit_slot[h]; h = (h + 1) & (UNIT_SLOTS - 1))
        if (units[a->unit_slot[h] - 1].alias[0] == s[0] && !strcmp(units[a->unit_slot[h] - 1].alias, s))
            return &units[a->unit_slot[h] - 1];
    return NULL;
}

static int is_stop(const struct tl_sanalyze *a, const char *s, size_t len, uint32_t h)
{
    if (!a || !a->n_stop || len > a->stop_maxlen) return 0;
    for (h &= STOP_SLOTS - 1; a->stop_slot[h]; h = (h + 1) & (STOP_SLOTS - 1))
        if (a->stop[a->stop_slot[h] - 1][0] == s[0] && !strcmp(a->stop[a->stop_slot[h] - 1], s)) return 1;
    return 0;
}

static int is_number(const struct tl_stoken *t) { return t->has_digit && t->s[0] >= '0' && t->s[0] <= '9'; }

/* Finish token t: unit canonicalisation and stop flag. */
static void finish(const struct tl_sanalyze *a, struct tl_stoken *out, size_t n)
{
    struct tl_stoken *t = &out[n];
    t->s[t->len] = 0;
    t->stop = 0;
    if (t->has_digit) return;
    uint32_t h = stop_hash(t->s); /* one hash for both lookups */
    const struct unit *u = find_unit(a, t->s, t->len, h);
    if (u && (u->anywhere || (n > 0 && is_number(&out[n - 1])))) {
        size_t l = strlen(u->canon);
        memcpy(t->s, u->canon, l + 1);
        t->len = (uint8_t)l;
        return;
    }
    t->stop = (uint8_t)is_stop(a, t->s, t->len, h);
}

size_t tl_sanalyze_tokens(const struct tl_sanalyze *a, const char *text, size_t len, struct tl_stoken *out, size_t max)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0, i = 0;
    int cur = 0;              /* 1 while a token is open */
    enum cclass last = C_SEP; /* class of the token's last char */
    while (i < len && n < max) {
        uint32_t cp;
        size_t l, fl;
        char f[4];
        enum cclass c;
        if (s[i] < 0x80) { /* ASCII fast path (same result as fold_cp) */
            unsigned b = s[i];
            cp = b;
            l = 1;
            if (b >= 'A' && b <= 'Z') b += 32;
            c = b >= 'a' && b <= 'z' ? C_LET : b >= '0' && b <= '9' ? C_DIG : C_SEP;
            f[0] = (char)b;
            fl = c == C_SEP ? 0 : 1;
        } else {
            l = utf8_dec(s, i, len, &cp);
            c = fold_cp(cp, f, &fl);
        }
        if (c == C_SKIP) {
            i += l;
            continue;
        }
        if (c == C_SEP) {
            if (cur && i + 1 < len) {
                unsigned nx = s[i + 1];
                int nd = nx >= '0' && nx <= '9';
                int nl = (nx >= 'a' && nx <= 'z') || (nx >= 'A' && nx <= 'Z');
                if (last == C_DIG && nd && (cp == '.' || cp == '/')) {
                    struct tl_stoken *t = &out[n];
                    if (t->len < TL_SANALYZE_TOKEN_MAX) t->s[t->len++] = (char)cp;
                    i += l;
                    continue;
                }
                if ((last == C_DIG && nd && cp == ',') || (last == C_LET && nl && cp == '\'')) {
                    i += l;
                    continue;
                }
            }
            if (cur) {
                out[n].end = (uint32_t)i;
                finish(a, out, n);
                n++;
                cur = 0;
            }
            /* inch / foot marks after a number */
            if ((cp == '"' || cp == '\'') && n > 0 && n < max && is_number(&out[n - 1]) && out[n - 1].end == i) {
                struct tl_stoken *t = &out[n];
                memset(t, 0, sizeof *t);
                memcpy(t->s, cp == '"' ? "in" : "ft", 3);
                t->len = 2;
                t->end = (uint32_t)(i + 1);
                n++;
            }
            i += l;
            continue;
        }
        if (cur && last != c) { /* letter/digit boundary */
            out[n].end = (uint32_t)i;
            finish(a, out, n);
            n++;
            cur = 0;
            if (n >= max) break;
        }
        if (!cur) {
            out[n].len = 0, out[n].has_digit = 0, out[n].stop = 0, out[n].end = 0;
            cur = 1;
        }
        struct tl_stoken *t = &out[n];
        if (t->len + fl <= TL_SANALYZE_TOKEN_MAX) {
            switch (fl) { /* explicit stores: no memcpy call per character */
            case 4:
                t->s[t->len + 3] = f[3];
                /* fall through */
            case 3:
                t->s[t->len + 2] = f[2];
                /* fall through */
            case 2:
                t->s[t->len + 1] = f[1];
                /* fall through */
            default:
                t->s[t->len] = f[0];
            }
            t->len = (uint8_t)(t->len + fl);
        }
        if (c == C_DIG) t->has_digit = 1;
        last = c;
        i += l;
        /* fast run: following ASCII characters of the same class (a byte
         * >= 0x80 or any other class ends it and takes the general path) */
        unsigned tl = t->len;
        if (c == C_LET) {
            for (; i < len; i++) {
                unsigned b = s[i] | 0x20u; /* in 'a'..'z' exactly for ASCII letters of either case */
                if (b - 'a' >= 26u) break;
                if (tl < TL_SANALYZE_TOKEN_MAX) t->s[tl++] = (char)b;
            }
        } else if (c == C_DIG) {
            for (; i < len && (unsigned)s[i] - '0' < 10u; i++)
                if (tl < TL_SANALYZE_TOKEN_MAX) t->s[tl++] = (char)s[i];
        }
        t->len = (uint8_t)tl;
    }
    if (cur && n < max) {
        out[n].end = (uint32_t)i;
        finish(a, out, n);
        n++;
    }
    return n;
}

size_t tl_sanalyze_stem(struct tl_sanalyze *a, const char *w, size_t n, char *out, size_t cap)
{
    if (!cap) return 0;
    const char *src = w;
    size_t m = n;
    int digit = 0;
    for (size_t i = 0; i < n; i++)
        if (w[i] >= '0' && w[i] <= '9') digit = 1;
    if (!digit && n > 2) {
        pthread_mutex_lock(&a->mu);
        const sb_symbol *r = sb_stemmer_stem(a->st, (const sb_symbol *)w, (int)n);
        if (r) {
            m = (size_t)sb_stemmer_length(a->st);
            if (m >= cap) m = cap - 1;
            memcpy(out, r, m);
            out[m] = 0;
            pthread_mutex_unlock(&a->mu);
            return m;
        }
        pthread_mutex_unlock(&a->mu);
    }
    if (m >= cap) m = cap - 1;
    memcpy(out, src, m);
    out[m] = 0;
    return m;
}
