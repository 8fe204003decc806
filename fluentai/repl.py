"""``fluentai repl``: read forms, compile each input natively, run it, print its value.

In:  lines from the terminal (with line editing and a history file when the
     ``readline`` module is available) or from a pipe.
Out: each input's output and the written form of its value (nothing for
     ``nil``, so definitions stay quiet); errors are reported and the session
     goes on.

Ctrl-C while an input runs stops it with the `interrupted` report (or lets
its error:catch handler answer); while it compiles, it abandons the input. The
session goes on either way.

Every input is compiled as its own module through the whole pipeline (no
interpreter). Definitions persist because every input's globals live in the
session's global table (``fl_session_globals``) and the frontend is told the
names defined so far, which keep their slots. Inputs that are not complete
yet (an unclosed bracket or string) are continued on the next line.
"""
from __future__ import annotations

import os
import sys

PROMPT, CONTINUE = "fl> ", "... "
HISTORY = os.path.join(os.path.expanduser("~"), ".fluentai_history")


def _setup_line_editing() -> None:
    try:
        import atexit
        import readline
    except ImportError:        # no line editing: plain input() still works
        return
    try:
        readline.read_history_file(HISTORY)
    except OSError:
        pass
    readline.set_history_length(1000)
    atexit.register(lambda: _save_history(readline))


def _save_history(readline) -> None:
    try:
        readline.write_history_file(HISTORY)
    except OSError:
        pass


def _incomplete(err) -> bool:
    """Is this compile error only the end of the input arriving too early?"""
    return all(d.code == "syntax-error" and (d.message.startswith("unclosed")
                                             or d.message.startswith("unterminated string"))
               for d in err.diagnostics)


class Session:
    def __init__(self, opt: int):
        self.opt = opt
        self.names: tuple[str, ...] = ()
        self.programs: list = []          # every input's code stays loaded
        self.count = 0

    def evaluate(self, text: str, out=sys.stdout, err=sys.stderr) -> None:
        from .diagnostics import CompileError, format_diagnostics
        from .driver import compile_source
        from .errors import InternalCompilerError
        from .runner import FL_EXIT, FL_OK, LoadedProgram
        self.count += 1
        filename = f"<repl {self.count}>"
        try:
            compiled = compile_source(text, filename, session_globals=self.names)
        except CompileError as e:
            err.write(format_diagnostics(e.diagnostics, e.source_text or text) + "\n")
            return
        except InternalCompilerError as e:
            err.write(f"{e}\n")
            return
        if compiled.warnings:
            err.write(format_diagnostics(compiled.warnings, compiled.source) + "\n")
        loaded = LoadedProgram(compiled, self.opt)
        self.programs.append(loaded)
        self.names = tuple(compiled.global_slots)
        outcome = loaded.run_raw()
        if outcome.status == FL_OK:
            if outcome.value != 7:            # nil: definitions and effects stay quiet
                out.write(loaded.conv.written(outcome.value) + "\n")
        elif outcome.status == FL_EXIT:
            raise SystemExit(outcome.exit_code)
        else:
            ffi = loaded.conv.ffi
            report = ffi.string(outcome.report).decode("utf-8", "replace") if outcome.report else ""
            err.write(report if report.endswith("\n") else report + "\n")
        out.flush()
        err.flush()


def run_repl(opt: int = 2) -> int:
    from .diagnostics import CompileError
    from .frontend import parse_program
    interactive = sys.stdin.isatty()
    if interactive:
        _setup_line_editing()
        print("FluentAI repl: each input is compiled to native code. Ctrl-D to leave.")
    session = Session(opt)
    pending = ""
    while True:
        try:
            line = input(CONTINUE if pending else PROMPT) if interactive else sys.stdin.readline()
        except EOFError:
            line = None
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            pending = ""
            continue
        if line is None or (not interactive and line == ""):
            if pending.strip():
                session.evaluate(pending)       # report what is wrong with it
            if interactive:
                sys.stdout.write("\n")
            return 0
        pending += line if line.endswith("\n") else line + "\n"
        if not pending.strip():
            pending = ""
            continue
        try:
            parse_program(pending, "<repl>", predeclared=session.names)
        except CompileError as e:
            if _incomplete(e):
                continue
        except Exception:
            pass
        try:
            session.evaluate(pending)
        except SystemExit as e:
            return int(e.code or 0)
        except KeyboardInterrupt:      # while compiling: the input is dropped
            sys.stdout.flush()
            sys.stderr.write("interrupted\n")
            sys.stderr.flush()
        pending = ""
