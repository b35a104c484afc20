/* GET of static files under cfg->web_root: /tailor.js, /demo/..., and
 * /dashboard/... ("/demo" and "/demo/" serve demo/index.html, same for the
 * dashboard).
 *
 * Path safety: the decoded path must consist of segments of
 * [A-Za-z0-9._-] only, none empty, none starting with '.' (so no "..",
 * no hidden files, no "//"), at most TL_HTTP_STATIC_PATH_MAX bytes; the file
 * must be a regular file of at most TL_HTTP_STATIC_FILE_MAX bytes. Anything
 * else is a 404 JSON error (we do not say why, to not help probing). The
 * file is read whole into the response buffer, so it is sent in one write.
 * Content type from the extension; unknown -> application/octet-stream.
 * Cache-Control: no-cache (browsers revalidate; files are small). */
#include "http/handlers.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TL_HTTP_STATIC_PATH_MAX 256
#define TL_HTTP_STATIC_FILE_MAX ((size_t)16 << 20)

static int path_safe(const char *p)
{
    if (p[0] != '/') return 0;
    size_t n = strlen(p);
    if (n > TL_HTTP_STATIC_PATH_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '/') {
            char next = p[i + 1];
            if (next == '/' || next == '.') return 0; /* empty, ".", "..", hidden */
            continue;
        }
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                 c == '-';
        if (!ok) return 0;
    }
    return 1;
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json; charset=utf-8"},
        {".map", "application/json; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".webp", "image/webp"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".woff", "font/woff"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return "application/octet-stream";
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

static void not_found(struct tl_http_req *r) { tl_http_req_error(r, TL_ENOTFOUND, NULL, "no such file"); }

/* /demo/config.js: the demo storefront's settings as a script,
 *   window.TAILOR_DEMO = {"key": "pk_..." | null, "currency": "GBP"};
 * key is cfg->demo_key (checked at start to be a public key), null when the
 * server was started without one (the demo then says how to get one). */
static void demo_config(struct tl_http_req *r)
{
    tl_buf_reset(&r->out);
    tl_buf_puts(&r->out, "window.TAILOR_DEMO = {\"key\": ");
    tl_buf_json_str_or_null(&r->out, r->cfg->demo_key[0] ? r->cfg->demo_key : NULL);
    tl_buf_puts(&r->out, ", \"currency\": \"GBP\"};\n");
    r->status = 200;
    r->content_type = "text/javascript; charset=utf-8";
    r->cache_control = "no-cache";
}

void tl_http_h_static_get(struct tl_http_req *r)
{
    const char *p = r->path;
    char rel[TL_HTTP_STATIC_PATH_MAX + 32];
    if (!path_safe(p)) {
        not_found(r);
        return;
    }
    if (strcmp(p, "/demo/config.js") == 0) {
        demo_config(r);
        return;
    }
    size_t n = strlen(p);
    if (strcmp(p, "/demo") == 0 || strcmp(p, "/dashboard") == 0 || p[n - 1] == '/')
        snprintf(rel, sizeof rel, "%s%sindex.html", p, p[n - 1] == '/' ? "" : "/");
    else
        snprintf(rel, sizeof rel, "%s", p);

    char full[1024];
    int w = snprintf(full, sizeof full, "%s%s", r->cfg->web_root, rel);
    if (w < 0 || (size_t)w >= sizeof full) {
        not_found(r);
        return;
    }
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        not_found(r);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > TL_HTTP_STATIC_FILE_MAX) {
        close(fd);
        not_found(r);
        return;
    }
    size_t size = (size_t)st.st_size;
    tl_buf_reset(&r->out);
    if (tl_buf_reserve(&r->out, size) != TL_OK) {
        close(fd);
        tl_http_req_error(r, TL_ENOMEM, NULL, NULL);
        return;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t k = read(fd, r->out.data + got, size - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    if (got != size) {
        tl_http_req_error(r, TL_EIO, NULL, "could not read the file");
        return;
    }
    r->out.len = size;
    r->out.data[size] = '\0';
    r->status = 200;
    r->content_type = content_type(rel);
    r->cache_control = "no-cache";
}
