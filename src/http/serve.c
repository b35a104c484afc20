/* tailor_serve() of include/tailor/tailor.h: run the HTTP server until
 * SIGTERM or SIGINT.
 *
 * Signals: sigaction handlers for SIGTERM and SIGINT only write one byte to
 * a self-pipe (async-signal-safe, errno preserved); the calling thread
 * blocks in poll() on the pipe's read end. SIGPIPE is ignored while serving
 * (a client closing early must not kill the process). The previous
 * dispositions are restored before returning, so a second tailor_serve() in
 * the same process works.
 * Shutdown order: tl_http_stop() (stop accepting, drain in-flight requests,
 * join threads), then return TL_OK; the caller closes the engine, which
 * flushes pending events and profiles. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/facade.h"
#include "http/http.h"
#include "tailor/tailor.h"

static int sig_pipe[2] = {-1, -1};

static void on_signal(int signo)
{
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    if (sig_pipe[1] >= 0) {
        ssize_t w = write(sig_pipe[1], &b, 1);
        (void)w;
    }
    errno = saved;
}

static void copy_err(struct tailor_error *dst, const struct tl_err *src)
{
    if (!dst) return;
    memset(dst, 0, sizeof *dst);
    dst->rc = src->rc;
    snprintf(dst->field, sizeof dst->field, "%s", src->field);
    snprintf(dst->msg, sizeof dst->msg, "%s", src->msg);
    dst->line = src->line;
    dst->column = src->column;
}

static enum tl_rc fail(struct tailor_error *err, enum tl_rc rc, const char *msg)
{
    struct tl_err e;
    tl_err_clear(&e);
    tl_err_set(&e, rc, NULL, "%s: %s", msg, strerror(errno));
    copy_err(err, &e);
    return rc;
}

enum tl_rc tailor_serve(struct tailor *t, struct tailor_error *err)
{
    struct tl_engine *e = tl_facade_engine(t);
    struct tl_err cerr;
    tl_err_clear(&cerr);
    enum tl_rc crc = tl_engine_claim(e, "serve", &cerr);
    if (crc) {
        copy_err(err, &cerr);
        return crc;
    }
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return fail(err, TL_EIO, "cannot create the signal pipe");
    if (tl_engine_trainer_start(e) != TL_OK) tl_warn("the trainer thread did not start: models train only on restart");

    struct sigaction sa, old_term, old_int, old_pipe, ign;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGPIPE, &ign, &old_pipe);

    struct tl_err terr;
    tl_err_clear(&terr);
    struct tl_http *h = NULL;
    enum tl_rc rc = tl_http_start(e, &h, &terr);
    if (rc == TL_OK) {
        const struct tl_config *cfg = tl_engine_config(e);
        tl_info("listening on http://%s:%d", cfg->bind, tl_http_port(h));
        int signo = 0;
        while (!signo) {
            struct pollfd p = {.fd = sig_pipe[0], .events = POLLIN};
            int n = poll(&p, 1, -1);
            if (n < 0 && errno != EINTR) break;
            unsigned char b;
            if (n > 0 && read(sig_pipe[0], &b, 1) == 1) signo = b;
        }
        if (signo)
            tl_info("received %s: finishing in-flight requests", signo == SIGINT ? "SIGINT" : "SIGTERM");
        else
            tl_error("waiting for signals failed (%s): stopping", strerror(errno));
        tl_http_stop(h);
        tl_info("http server stopped");
    } else {
        copy_err(err, &terr);
    }

    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
    return rc;
}
