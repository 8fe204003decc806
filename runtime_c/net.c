/* net.c -- the default handlers of the network effect: an HTTP/1.1 client
 * over non-blocking sockets on the task scheduler (LANGUAGE.md section 7).
 *
 * In:  network:fetch url options?, network:get url, network:post url body.
 *      options: {"method" s "body" s "headers" {name value} "timeout" secs
 *      "ca-file" path}.
 * Out: {"status" 200 "body" "..." "headers" {"content-type" "..."}}; an HTTP
 *      error status is a normal result. Bad URLs, DNS failures, refused or
 *      reset connections, malformed responses, TLS failures and timeouts are
 *      network-errors saying which.
 *
 * Every socket is non-blocking: connect, TLS handshake, send and receive wait
 * for readiness with fl_task_wait_fd (timer.c's epoll loop), so a task waiting
 * on the network is suspended and the others run; one deadline covers the
 * whole exchange, the host name's lookup included (resolve.c: a thread of its
 * own, the task waits like on a socket). Requests send `Connection: close`; the body is delimited by
 * Content-Length, chunked transfer coding, or the end of the connection.
 * Redirects are not followed. https:// uses OpenSSL when the runtime was built
 * with it (FL_HAVE_TLS), verifying the certificate and the host name.
 *
 * Buffers are GC memory, so an error unwinding from the middle of a fetch
 * leaks nothing but the descriptor, which every error path closes first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fluentai.h"

#if FL_HAVE_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

#define DEFAULT(cname) \
    static fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)

#define DEFAULT_TIMEOUT_SECONDS 30.0
#define MAX_HEADER_BYTES (1 << 20)

typedef struct url {
    int tls;
    char *host;        /* NUL-terminated, GC memory */
    char port[8];
    char *target;      /* path and query, at least "/" */
} url;

typedef struct conn {
    int fd;
    int64_t loc;
    int64_t deadline_ns;
    double timeout_seconds;
    const char *url_text;
#if FL_HAVE_TLS
    SSL *ssl;
#endif
} conn;

typedef struct bytes { char *data; int64_t len, cap; } bytes;

static void bytes_put(bytes *b, const char *s, int64_t n)
{
    if (b->len + n + 1 > b->cap) {
        int64_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = fl_alloc_atomic(cap);
        if (b->len)
            memcpy(grown, b->data, (size_t)b->len);
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    b->data[b->len] = 0;
}

static void bytes_puts(bytes *b, const char *s) { bytes_put(b, s, (int64_t)strlen(s)); }

static void close_conn(conn *c)
{
#if FL_HAVE_TLS
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
#endif
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static __attribute__((noreturn, format(printf, 2, 3))) void fail(conn *c, const char *fmt, ...)
{
    close_conn(c);
    char text[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    fl_raise("network-error", c->loc, "%s", text);
    __builtin_unreachable();
}

static __attribute__((noreturn)) void timed_out(conn *c)
{
    fail(c, "timeout after %g s fetching %s", c->timeout_seconds, c->url_text);
}

/* Wait until the socket is ready for `events`, within the deadline. */
static void wait_ready(conn *c, int events)
{
    double left = (double)(c->deadline_ns - fl_now_ns()) / 1e9;
    if (left <= 0)
        timed_out(c);
    if (fl_task_wait_fd(c->fd, events, left) == 0)
        timed_out(c);
}

/* ---- URLs ---- */

static int parse_url(const char *text, int64_t n, url *u)
{
    const char *p = text, *end = text + n;
    if (n >= 7 && strncmp(p, "http://", 7) == 0) {
        u->tls = 0;
        p += 7;
    } else if (n >= 8 && strncmp(p, "https://", 8) == 0) {
        u->tls = 1;
        p += 8;
    } else {
        return 0;
    }
    const char *host = p;
    while (p < end && *p != '/' && *p != ':' && *p != '?' && *p != '#')
        p++;
    if (p == host)
        return 0;
    for (const char *q = host; q < p; q++)
        if (*q <= ' ' || *q == '@' || (unsigned char)*q >= 0x7f)
            return 0;
    u->host = fl_alloc_atomic(p - host + 1);
    memcpy(u->host, host, (size_t)(p - host));
    u->host[p - host] = 0;
    strcpy(u->port, u->tls ? "443" : "80");
    if (p < end && *p == ':') {
        const char *digits = ++p;
        long port = 0;
        while (p < end && *p >= '0' && *p <= '9' && p - digits < 6)
            port = port * 10 + (*p++ - '0');
        if (p == digits || port < 1 || port > 65535 || (p < end && *p != '/' && *p != '?' && *p != '#'))
            return 0;
        snprintf(u->port, sizeof u->port, "%ld", port);
    }
    const char *target = p;
    const char *target_end = memchr(p, '#', (size_t)(end - p));
    if (!target_end)
        target_end = end;
    for (const char *q = target; q < target_end; q++)
        if (*q <= ' ' || *q == 0x7f)
            return 0;
    int64_t len = target_end - target;
    int slash = len == 0 || target[0] != '/';
    u->target = fl_alloc_atomic(len + 2);
    if (slash)
        u->target[0] = '/';
    memcpy(u->target + slash, target, (size_t)len);
    u->target[len + slash] = 0;
    return 1;
}

/* ---- connecting ---- */

static void connect_to(conn *c, const url *u)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *found = NULL;
    int status = fl_resolve(u->host, u->port, &hints, c->deadline_ns, &found);
    if (status == FL_RESOLVE_TIMED_OUT)
        timed_out(c);
    if (status != 0)
        fail(c, "cannot resolve host `%s`: %s", u->host, gai_strerror(status));
    int last_error = 0;
    for (struct addrinfo *a = found; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last_error = errno;
            continue;
        }
        c->fd = fd;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                last_error = errno;
                close(fd);
                c->fd = -1;
                continue;
            }
            double left = (double)(c->deadline_ns - fl_now_ns()) / 1e9;
            if (left <= 0 || fl_task_wait_fd(fd, POLLOUT, left) == 0) {
                freeaddrinfo(found);
                timed_out(c);
            }
            int error = 0;
            socklen_t len = sizeof error;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
            if (error != 0) {
                last_error = error;
                close(fd);
                c->fd = -1;
                continue;
            }
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        freeaddrinfo(found);
        return;
    }
    freeaddrinfo(found);
    if (last_error == ECONNREFUSED)
        fail(c, "connection refused: %s:%s", u->host, u->port);
    fail(c, "cannot connect to %s:%s: %s", u->host, u->port, strerror(last_error ? last_error : EHOSTUNREACH));
}

/* ---- TLS ---- */

#if FL_HAVE_TLS
static SSL_CTX *tls_context(conn *c, const char *ca_file)
{
    static SSL_CTX *system_ctx;
    if (!ca_file && system_ctx)
        return system_ctx;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        fail(c, "TLS: cannot create a context");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* A server that closes without close_notify (Python's http.server, many
     * others) ends the stream, as it did with OpenSSL 1.1 (receive_some's
     * SSL_ERROR_SYSCALL case); OpenSSL 3 reports it as an error otherwise. A
     * truncated body is still caught by the framing (Content-Length, chunks). */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
    if (!ok) {
        SSL_CTX_free(ctx);
        fail(c, "TLS: cannot load the certificate authorities%s%s", ca_file ? " from " : "", ca_file ? ca_file : "");
    }
    if (!ca_file)
        system_ctx = ctx;
    return ctx;
}

static void tls_wait(conn *c, int code, const char *what)
{
    int error = SSL_get_error(c->ssl, code);
    if (error == SSL_ERROR_WANT_READ) {
        wait_ready(c, POLLIN);
    } else if (error == SSL_ERROR_WANT_WRITE) {
        wait_ready(c, POLLOUT);
    } else {
        char reason[256] = "";
        unsigned long e = ERR_get_error();
        if (e)
            ERR_error_string_n(e, reason, sizeof reason);
        long verify = SSL_get_verify_result(c->ssl);
        if (verify != X509_V_OK)
            fail(c, "TLS %s with %s failed: certificate verification: %s", what, c->url_text,
                 X509_verify_cert_error_string(verify));
        fail(c, "TLS %s with %s failed%s%s", what, c->url_text, e ? ": " : "", reason);
    }
}

static void tls_start(conn *c, const url *u, const char *ca_file)
{
    SSL_CTX *ctx = tls_context(c, ca_file);
    c->ssl = SSL_new(ctx);
    if (ca_file)
        SSL_CTX_free(ctx);   /* the SSL object keeps its own reference */
    if (!c->ssl)
        fail(c, "TLS: cannot create a session");
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, u->host);
    SSL_set1_host(c->ssl, u->host);
    for (;;) {
        int code = SSL_connect(c->ssl);
        if (code == 1)
            return;
        tls_wait(c, code, "handshake");
    }
}
#endif

/* ---- sending and receiving ---- */

static void send_all(conn *c, const char *data, int64_t n)
{
    while (n > 0) {
        ssize_t sent;
#if FL_HAVE_TLS
        if (c->ssl) {
            int code = SSL_write(c->ssl, data, (int)(n > (1 << 30) ? (1 << 30) : n));
            if (code <= 0) {
                tls_wait(c, code, "write");
                continue;
            }
            sent = code;
        } else
#endif
        {
            sent = send(c->fd, data, (size_t)n, MSG_NOSIGNAL);
            if (sent < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    wait_ready(c, POLLOUT);
                    continue;
                }
                if (errno == EINTR)
                    continue;
                fail(c, "sending to %s failed: %s", c->url_text, strerror(errno));
            }
        }
        data += sent;
        n -= sent;
    }
}

/* Up to `cap` bytes; 0 at the end of the stream. */
static int64_t receive_some(conn *c, char *into, int64_t cap)
{
    for (;;) {
#if FL_HAVE_TLS
        if (c->ssl) {
            int code = SSL_read(c->ssl, into, (int)cap);
            if (code > 0)
                return code;
            int error = SSL_get_error(c->ssl, code);
            if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
                return 0;
            tls_wait(c, code, "read");
            continue;
        }
#endif
        ssize_t got = recv(c->fd, into, (size_t)cap, 0);
        if (got >= 0)
            return got;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            wait_ready(c, POLLIN);
        else if (errno != EINTR)
            fail(c, "receiving from %s failed: %s", c->url_text, strerror(errno));
    }
}

/* ---- the response ---- */

typedef struct response {
    int64_t status;
    fl_value headers;       /* map, names lower-cased */
    int64_t header_end;     /* offset of the body in the buffer */
    int64_t content_length; /* -1: none */
    int chunked;
} response;

static const char *find_crlfcrlf(const char *s, int64_t n)
{
    for (int64_t i = 0; i + 3 < n; i++)
        if (s[i] == '\r' && s[i + 1] == '\n' && s[i + 2] == '\r' && s[i + 3] == '\n')
            return s + i;
    return NULL;
}

/* Bytes as a string value; bytes that are not UTF-8 become U+FFFD. */
static fl_value text_value(const char *s, int64_t n)
{
    int64_t i = 0;
    bytes out = {0};
    int64_t run = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = len > 0 && i + len <= n;
        for (int k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (ok && len > 1) {   /* overlong forms, surrogates and values past U+10FFFF */
            uint32_t cp = c & (0xFF >> (len + 1));
            for (int k = 1; k < len; k++)
                cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3F);
            ok = !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000) &&
                 !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF;
        }
        if (ok) {
            i += len;
            run += len;
            continue;
        }
        if (!out.data && run == i) {
            /* first bad byte: copy what came before */
        }
        bytes_put(&out, s + i - run, run);
        bytes_puts(&out, "\xEF\xBF\xBD");
        run = 0;
        i++;
    }
    if (!out.data)
        return fl_make_string(s, n);
    bytes_put(&out, s + n - run, run);
    return fl_make_string(out.data, out.len);
}

static void lower_ascii(char *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] - 'A' + 'a');
}

static int equals_token(const char *s, int64_t n, const char *token)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) { s++; n--; }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    return (int64_t)strlen(token) == n && strncasecmp(s, token, (size_t)n) == 0;
}

static void parse_head(conn *c, const char *buf, int64_t head_len, response *r)
{
    const char *p = buf, *end = buf + head_len;
    const char *line_end = memchr(p, '\r', (size_t)(end - p));
    if (!line_end)
        line_end = end;
    if (line_end - p < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' ||
        p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
        (line_end - p > 12 && p[12] != ' '))
        fail(c, "malformed response from %s: bad status line", c->url_text);
    r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    r->headers = fl_map_empty();
    r->content_length = -1;
    r->chunked = 0;
    p = line_end + 2;
    while (p < end) {
        line_end = memchr(p, '\r', (size_t)(end - p));
        if (!line_end)
            line_end = end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (!colon || colon == p)
            fail(c, "malformed response from %s: bad header line", c->url_text);
        int64_t name_len = colon - p;
        char *name = fl_alloc_atomic(name_len + 1);
        memcpy(name, p, (size_t)name_len);
        lower_ascii(name, name_len);
        const char *value = colon + 1;
        while (value < line_end && (*value == ' ' || *value == '\t'))
            value++;
        const char *value_end = line_end;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
            value_end--;
        fl_value key = fl_make_string(name, name_len);
        fl_value text = text_value(value, value_end - value);
        fl_value previous = fl_map_get(r->headers, key, FL_NIL);
        if (previous != FL_NIL) {   /* repeated fields join with ", " (RFC 9110 5.3) */
            bytes joined = {0};
            bytes_put(&joined, FL_STR(previous)->bytes, FL_STR(previous)->nbytes);
            bytes_puts(&joined, ", ");
            bytes_put(&joined, FL_STR(text)->bytes, FL_STR(text)->nbytes);
            text = fl_make_string(joined.data, joined.len);
        }
        r->headers = fl_map_set(r->headers, key, text);
        if (strcmp(name, "content-length") == 0) {
            char *digits_end;
            errno = 0;
            long long n = strtoll(FL_STR(text)->bytes, &digits_end, 10);
            if (errno || n < 0 || digits_end == FL_STR(text)->bytes || *digits_end)
                fail(c, "malformed response from %s: bad Content-Length", c->url_text);
            r->content_length = n;
        } else if (strcmp(name, "transfer-encoding") == 0) {
            r->chunked = equals_token(value, value_end - value, "chunked");
        }
        p = line_end + 2;
    }
}

/* Decode a chunked body in place; returns its length, or -1 while incomplete. */
static int64_t dechunk(conn *c, char *body, int64_t n, int complete_needed)
{
    int64_t in = 0, out = 0;
    for (;;) {
        const char *line_end = NULL;
        for (int64_t i = in; i + 1 < n; i++)
            if (body[i] == '\r' && body[i + 1] == '\n') {
                line_end = body + i;
                break;
            }
        if (!line_end)
            break;
        char *digits_end;
        errno = 0;
        long long size = strtoll(body + in, &digits_end, 16);
        if (digits_end == body + in || errno || size < 0 ||
            (digits_end != line_end && *digits_end != ';' && *digits_end != ' '))
            fail(c, "malformed response from %s: bad chunk size", c->url_text);
        int64_t data = line_end - body + 2;
        if (size == 0)
            return out;   /* trailers, if any, are ignored */
        if (data + size + 2 > n)
            break;
        if (body[data + size] != '\r' || body[data + size + 1] != '\n')
            fail(c, "malformed response from %s: bad chunk", c->url_text);
        memmove(body + out, body + data, (size_t)size);
        out += size;
        in = data + size + 2;
    }
    if (complete_needed)
        fail(c, "malformed response from %s: the connection closed inside a chunked body", c->url_text);
    return -1;
}

static fl_value read_response(conn *c, int head_only)
{
    bytes buf = {0};
    response r;
    int have_head = 0;
    char chunk[65536];
    for (;;) {
        int64_t got = receive_some(c, chunk, sizeof chunk);
        if (got > 0)
            bytes_put(&buf, chunk, got);
        if (!have_head) {
            const char *mark = find_crlfcrlf(buf.data ? buf.data : "", buf.len);
            if (mark) {
                parse_head(c, buf.data, mark - buf.data, &r);
                r.header_end = mark - buf.data + 4;
                have_head = 1;
            } else if (buf.len > MAX_HEADER_BYTES) {
                fail(c, "malformed response from %s: headers longer than 1 MiB", c->url_text);
            }
        }
        if (have_head) {
            int64_t body_len = buf.len - r.header_end;
            int no_body = head_only || r.status == 204 || r.status == 304 || r.status / 100 == 1;
            if (no_body)
                break;
            if (r.chunked) {
                /* a copy: decoding in place must not lose bytes still to come */
                bytes scratch = {0};
                bytes_put(&scratch, buf.data + r.header_end, body_len);
                int64_t n = dechunk(c, scratch.data, body_len, got == 0);
                if (n >= 0) {
                    close_conn(c);
                    return fl_map_set(fl_map_set(fl_map_set(fl_map_empty(), fl_string_from_cstr("status"),
                                      fl_make_int(r.status)), fl_string_from_cstr("body"),
                                      text_value(scratch.data, n)), fl_string_from_cstr("headers"), r.headers);
                }
            } else if (r.content_length >= 0 && body_len >= r.content_length) {
                buf.len = r.header_end + r.content_length;
                break;
            }
        }
        if (got == 0) {
            if (!have_head)
                fail(c, "malformed response from %s: the connection closed %s", c->url_text,
                     buf.len ? "inside the headers" : "without a response");
            if (r.content_length >= 0 && buf.len - r.header_end < r.content_length)
                fail(c, "malformed response from %s: the connection closed after %lld of %lld body bytes",
                     c->url_text, (long long)(buf.len - r.header_end), (long long)r.content_length);
            break;
        }
    }
    close_conn(c);
    int64_t body_len = buf.len - r.header_end;
    if (head_only || r.status == 204 || r.status == 304 || r.status / 100 == 1)
        body_len = 0;
    fl_value result = fl_map_empty();
    result = fl_map_set(result, fl_string_from_cstr("status"), fl_make_int(r.status));
    result = fl_map_set(result, fl_string_from_cstr("body"), text_value(buf.data + r.header_end, body_len));
    return fl_map_set(result, fl_string_from_cstr("headers"), r.headers);
}

/* ---- the request ---- */

static fl_value option(fl_value options, const char *name)
{
    return options == FL_NIL ? FL_NIL : fl_map_get(options, fl_string_from_cstr(name), FL_NIL);
}

static int is_token(const char *s, int64_t n)
{
    if (n == 0)
        return 0;
    for (int64_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", s[i]))
            return 0;
    return 1;
}

static void header_line(bytes *req, fl_value name, fl_value value, const char *op, int64_t loc)
{
    fl_value text = FL_IS_STRING(value) ? value : fl_to_display(value);
    if (!FL_IS_STRING(name) || !is_token(FL_STR(name)->bytes, FL_STR(name)->nbytes))
        fl_raise("value-error", loc, "`%s`: a header name must be a token string, got %s", op,
                 FL_STR(fl_show(name))->bytes);
    if (memchr(FL_STR(text)->bytes, '\r', (size_t)FL_STR(text)->nbytes) ||
        memchr(FL_STR(text)->bytes, '\n', (size_t)FL_STR(text)->nbytes))
        fl_raise("value-error", loc, "`%s`: a header value must not contain a line break", op);
    bytes_put(req, FL_STR(name)->bytes, FL_STR(name)->nbytes);
    bytes_puts(req, ": ");
    bytes_put(req, FL_STR(text)->bytes, FL_STR(text)->nbytes);
    bytes_puts(req, "\r\n");
}

static fl_value fetch(const char *op, fl_value url_value, fl_value options, int64_t loc)
{
    if (!FL_IS_STRING(url_value))
        fl_type_fail(op, "a URL (a string)", url_value, loc);
    if (options != FL_NIL && !FL_IS_KIND(options, FL_K_MAP))
        fl_type_fail(op, "a map of options", options, loc);
    const char *text = FL_STR(url_value)->bytes;
    conn c = {.fd = -1, .loc = loc, .url_text = text};
    url u;
    if (!parse_url(text, FL_STR(url_value)->nbytes, &u))
        fl_raise("network-error", loc, "bad URL %s: expected http://host[:port]/path or https://...",
                 FL_STR(fl_show(url_value))->bytes);
    fl_value method = option(options, "method"), body = option(options, "body");
    fl_value headers = option(options, "headers"), timeout = option(options, "timeout");
    fl_value ca_file = option(options, "ca-file");
    if (method == FL_NIL)
        method = fl_string_from_cstr(body == FL_NIL ? "GET" : "POST");
    if (!FL_IS_STRING(method) || !is_token(FL_STR(method)->bytes, FL_STR(method)->nbytes))
        fl_raise("value-error", loc, "`%s`: the method must be a token string such as \"POST\"", op);
    if (body != FL_NIL && !FL_IS_STRING(body))
        body = fl_to_display(body);
    if (headers != FL_NIL && !FL_IS_KIND(headers, FL_K_MAP))
        fl_type_fail(op, "a map of headers", headers, loc);
    if (ca_file != FL_NIL && !FL_IS_STRING(ca_file))
        fl_type_fail(op, "a file name for \"ca-file\"", ca_file, loc);
    c.timeout_seconds = DEFAULT_TIMEOUT_SECONDS;
    if (timeout != FL_NIL) {
        if (!FL_IS_INT(timeout) && !FL_IS_FLOAT(timeout))
            fl_type_fail(op, "a number of seconds for \"timeout\"", timeout, loc);
        c.timeout_seconds = FL_IS_INT(timeout) ? (double)fl_int_value(timeout) : fl_float_value(timeout);
        if (!(c.timeout_seconds > 0))
            fl_raise("value-error", loc, "`%s`: the timeout must be a positive number of seconds", op);
    }
    double ns = c.timeout_seconds * 1e9;
    c.deadline_ns = fl_now_ns() + (ns > 1e17 ? (int64_t)1e17 : (int64_t)ns);

    bytes req = {0};
    bytes_put(&req, FL_STR(method)->bytes, FL_STR(method)->nbytes);
    bytes_puts(&req, " ");
    bytes_puts(&req, u.target);
    bytes_puts(&req, " HTTP/1.1\r\nHost: ");
    bytes_puts(&req, u.host);
    if (strcmp(u.port, u.tls ? "443" : "80") != 0) {
        bytes_puts(&req, ":");
        bytes_puts(&req, u.port);
    }
    bytes_puts(&req, "\r\nConnection: close\r\nUser-Agent: fluentai\r\n");
    int has_length = 0;
    if (headers != FL_NIL) {
        int64_t n = fl_map_size(headers);
        for (int64_t i = 0; i < n; i++) {
            fl_value name = fl_map_key_at(headers, i);
            header_line(&req, name, fl_map_value_at(headers, i), op, loc);
            if (FL_IS_STRING(name) && strcasecmp(FL_STR(name)->bytes, "content-length") == 0)
                has_length = 1;
        }
    }
    if (body != FL_NIL && !has_length) {
        char length[40];
        snprintf(length, sizeof length, "Content-Length: %lld\r\n", (long long)FL_STR(body)->nbytes);
        bytes_puts(&req, length);
    }
    bytes_puts(&req, "\r\n");
    if (body != FL_NIL)
        bytes_put(&req, FL_STR(body)->bytes, FL_STR(body)->nbytes);

#if !FL_HAVE_TLS
    if (u.tls)
        fl_raise("network-error", loc, "TLS is not available in this build: cannot fetch %s", text);
#endif
    connect_to(&c, &u);
#if FL_HAVE_TLS
    if (u.tls)
        tls_start(&c, &u, ca_file == FL_NIL ? NULL : FL_STR(ca_file)->bytes);
#endif
    send_all(&c, req.data, req.len);
    return read_response(&c, strcmp(FL_STR(method)->bytes, "HEAD") == 0);
}

DEFAULT(network_fetch)
{
    fl_arity_check("network:fetch", argc, 1, 2);
    return fetch("network:fetch", a0, FL_NARGS(argc) == 2 ? a1 : FL_NIL, FL_LOCOF(argc));
}

DEFAULT(network_get)
{
    fl_arity_check("network:get", argc, 1, 1);
    return fetch("network:get", a0, FL_NIL, FL_LOCOF(argc));
}

DEFAULT(network_post)
{
    fl_arity_check("network:post", argc, 2, 2);
    fl_value options = fl_map_set(fl_map_set(fl_map_empty(), fl_string_from_cstr("method"),
                                             fl_string_from_cstr("POST")),
                                  fl_string_from_cstr("body"), a1);
    return fetch("network:post", a0, options, FL_LOCOF(argc));
}

void fl_network_effect_init(void)
{
    fl_effect_set_default("network:fetch", network_fetch);
    fl_effect_set_default("network:get", network_get);
    fl_effect_set_default("network:post", network_post);
}
