/* main.c -- the entry point of an ahead-of-time compiled program.
 *
 * Linked from libfluentai.a into every executable `fluentai compile` makes
 * (never into the Python extension). The generated object defines
 * fl_program_entry, which registers its module and runs the top-level forms,
 * and fl_program_print_value (1: print the written form of the program's
 * value on its own line after the output, as --print-value asked).
 * Exit status: 0, 1 for a runtime error or deadlock, 130 for an uncaught
 * `interrupted` (Ctrl-C), or the code given to exit.
 */
#include <stdio.h>

#include "fluentai.h"

fl_value fl_program_entry(void);
extern const int fl_program_print_value;

static fl_value program_value;   /* rooted in .bss while the printing run allocates */

static fl_value print_program_value(void)
{
    fl_value text = fl_show(program_value);
    fwrite(FL_STR(text)->bytes, 1, (size_t)FL_STR(text)->nbytes, stdout);
    fputc('\n', stdout);
    return FL_NIL;
}

static int report_failure(const fl_outcome *out)
{
    if (out->status == FL_EXIT)
        return out->exit_code;
    fl_flush();
    if (out->report)
        fputs(out->report, stderr);
    fflush(stderr);
    return out->status == FL_INTERRUPTED ? 130 : 1;
}

int main(int argc, char **argv)
{
    fl_outcome out;
    fl_init();
    fl_set_command_line(argc - 1, (const char **)argv + 1);
    fl_run(fl_program_entry, &out);
    if (out.status != FL_OK)
        return report_failure(&out);
    if (fl_program_print_value) {
        /* Printed through fl_run too: a deeply nested value needs the big stack. */
        program_value = out.value;
        fl_run(print_program_value, &out);
        if (out.status != FL_OK)
            return report_failure(&out);
    }
    fl_flush();
    return 0;
}
