/* io.c -- the default handlers of the io effect (LANGUAGE.md section 7).
 *
 * In:  io:print/println (display forms joined by one space, then a newline),
 *      io:write x (display form, no newline), io:read-line (stdin),
 *      io:read-file path, io:write-file path text, io:append-file path text.
 * Out: nil, or the line / file contents as a string (nil at end of input).
 *
 * Output goes through C stdio, as every other printer does, so the order of
 * everything printed is kept; reading a line flushes stdout first so a prompt
 * shows. File faults are io-errors naming the path and the OS reason; input
 * that is not UTF-8 is an io-error too (strings are always valid UTF-8).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fluentai.h"

#define DEFAULT(cname) \
    static fl_value cname(fl_value self, int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest)

/* ---- output ---- */

static void print_values(int64_t argc, fl_value a0, fl_value a1, fl_value a2, fl_value *rest, int newline)
{
    int64_t n = FL_NARGS(argc);
    fl_buf b;
    fl_buf_init(&b);
    for (int64_t i = 0; i < n; i++) {
        if (i)
            fl_buf_put(&b, " ", 1);
        fl_buf_write_value(&b, FL_ARG(i), 1);
    }
    if (newline)
        fl_buf_put(&b, "\n", 1);
    fwrite(b.data, 1, (size_t)b.len, stdout);
}

DEFAULT(io_print)
{
    print_values(argc, a0, a1, a2, rest, 1);
    return FL_NIL;
}

DEFAULT(io_write)
{
    fl_arity_check("io:write", argc, 1, 1);
    print_values(argc, a0, a1, a2, rest, 0);
    return FL_NIL;
}

/* ---- UTF-8 ---- */

/* Strict: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const unsigned char *s, int64_t n)
{
    int64_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int width = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!width || i + width > n)
            return 0;
        for (int k = 1; k < width; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0) ||
            (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90))
            return 0;
        i += width;
    }
    return 1;
}

/* ---- input ---- */

static char *line_buffer;   /* getline's buffer, reused; malloc'd */
static size_t line_capacity;

DEFAULT(io_read_line)
{
    fl_arity_check("io:read-line", argc, 0, 0);
    fflush(stdout);
    ssize_t n;
    while ((n = getline(&line_buffer, &line_capacity, stdin)) < 0) {
        int error = errno;
        /* Ctrl-C ends the read (the SIGINT handler has no SA_RESTART): raised
         * here; an error:catch handler's answer reads on. */
        if (fl_interrupt_pending) {
            clearerr(stdin);
            fl_interrupt_check(FL_LOCOF(argc));
            continue;
        }
        if (!ferror(stdin))
            return FL_NIL;
        clearerr(stdin);
        if (error != EINTR)   /* another signal's handler: read on */
            fl_raise("io-error", FL_LOCOF(argc), "cannot read standard input: %s", strerror(error));
    }
    if (n > 0 && line_buffer[n - 1] == '\n')
        n--;
    if (n > 0 && line_buffer[n - 1] == '\r')
        n--;
    if (!valid_utf8((unsigned char *)line_buffer, n))
        fl_raise("io-error", FL_LOCOF(argc), "standard input is not valid UTF-8");
    return fl_make_string(line_buffer, n);
}

/* ---- files ---- */

static const char *path_arg(const char *op, fl_value path, int64_t loc)
{
    if (!FL_IS_STRING(path))
        fl_type_fail(op, "a path (a string)", path, loc);
    if (memchr(FL_STR(path)->bytes, 0, (size_t)FL_STR(path)->nbytes))
        fl_raise("io-error", loc, "`%s`: the path contains a NUL character", op);
    return FL_STR(path)->bytes;
}

static void file_fault(const char *what, const char *path, int error, int64_t loc)
{
    fl_raise("io-error", loc, "cannot %s `%s`: %s", what, path, strerror(error));
}

DEFAULT(io_read_file)
{
    fl_arity_check("io:read-file", argc, 1, 1);
    int64_t loc = FL_LOCOF(argc);
    const char *path = path_arg("io:read-file", a0, loc);
    FILE *f = fopen(path, "rb");
    if (!f)
        file_fault("read", path, errno, loc);
    fl_buf b;
    fl_buf_init(&b);
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        fl_buf_put(&b, chunk, (int64_t)got);
    int failed = ferror(f), error = errno;
    fclose(f);
    if (failed)
        file_fault("read", path, error, loc);
    if (!valid_utf8((unsigned char *)b.data, b.len))
        fl_raise("io-error", loc, "cannot read `%s`: the file is not valid UTF-8", path);
    return fl_buf_to_string(&b);
}

static fl_value write_text(const char *op, const char *mode, int64_t argc, fl_value path_value, fl_value text)
{
    fl_arity_check(op, argc, 2, 2);
    int64_t loc = FL_LOCOF(argc);
    const char *path = path_arg(op, path_value, loc);
    if (!FL_IS_STRING(text))
        fl_type_fail(op, "a string to write", text, loc);
    FILE *f = fopen(path, mode);
    if (!f)
        file_fault("write", path, errno, loc);
    size_t n = (size_t)FL_STR(text)->nbytes;
    int failed = fwrite(FL_STR(text)->bytes, 1, n, f) != n;
    int error = errno;
    if (fclose(f) != 0 && !failed) {
        failed = 1;
        error = errno;
    }
    if (failed)
        file_fault("write", path, error, loc);
    return FL_NIL;
}

DEFAULT(io_write_file)
{
    return write_text("io:write-file", "wb", argc, a0, a1);
}

DEFAULT(io_append_file)
{
    return write_text("io:append-file", "ab", argc, a0, a1);
}

void fl_io_effect_init(void)
{
    fl_effect_set_default("io:print", io_print);
    fl_effect_set_default("io:println", io_print);
    fl_effect_set_default("io:write", io_write);
    fl_effect_set_default("io:read-line", io_read_line);
    fl_effect_set_default("io:read-file", io_read_file);
    fl_effect_set_default("io:write-file", io_write_file);
    fl_effect_set_default("io:append-file", io_append_file);
}
