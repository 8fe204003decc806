"""The ``fluentai`` command line (LANGUAGE.md section 11).

In: argv. Out: an exit status (0 success, 1 run-time error or deadlock, 2 compile
error or bad command line, 70 internal compiler error, 130 Ctrl-C: an uncaught
`interrupted` while the program runs, or a SIGINT while compiling) and the
program's own output. No Python traceback ever reaches the user.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Optional

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="the program (.fl)")
    for level in range(4):
        p.add_argument(f"-O{level}", dest="opt", action="store_const", const=level,
                       help=argparse.SUPPRESS if level != 2 else "optimisation level -O0..-O3 (default -O2)")
    p.add_argument("--print-value", action="store_true",
                   help="print the written form of the program's value after its output")
    p.add_argument("--emit-ir", action="store_true", help="print FluentAI's SSA IR instead of running")
    p.add_argument("--emit-llvm", action="store_true", help="print the LLVM IR instead of running")
    p.add_argument("--dump-after", metavar="PASS",
                   help="print the SSA IR after PASS (lower, static-closures, known-calls, inline, dce, ...)")
    p.add_argument("--verify-ir", action="store_true", help="run the IR verifier after every pass")
    p.add_argument("-g", dest="debug", action="store_true",
                   help="emit DWARF debug info (line tables, function names) for gdb: "
                        "`break prog.fl:12`, `bt`")
    p.add_argument("--time-passes", action="store_true",
                   help="print on stderr how long each compiler pass took (frontend stages, IR "
                        "passes, codegen, LLVM optimisation and code generation, linking)")
    _add_max_errors(p)
    p.set_defaults(opt=2)


def _max_errors(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (0 or more)")
    return int(text)


def _add_max_errors(p: argparse.ArgumentParser) -> None:
    from .diagnostics import DEFAULT_MAX_ERRORS
    p.add_argument("--max-errors", metavar="N", type=_max_errors, default=DEFAULT_MAX_ERRORS,
                   help=f"print at most N compile errors, then how many more there are "
                        f"(default {DEFAULT_MAX_ERRORS}; 0 prints all)")


# The size grammar of the runtime's fl_parse_size (runtime_c/limits.c): binary units.
_SIZE = re.compile(r"\d+(\.\d+)?([kKmMgGtT]i?)?[bB]?")


def _add_max_heap(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-heap", metavar="SIZE",
                   help="heap limit of the program, e.g. 512M or 2G (default: 3/4 of the usable "
                        "memory; also FLUENTAI_MAX_HEAP): past it the run ends with an "
                        "out-of-memory error")


def apply_max_heap(size: Optional[str]) -> bool:
    """Pass --max-heap to the runtime, read when it starts (FLUENTAI_MAX_HEAP); False if invalid."""
    if size is None:
        return True
    if not _SIZE.fullmatch(size) or float(re.match(r"[\d.]+", size).group()) == 0:
        sys.stderr.write(f"fluentai: error: --max-heap {size}: not a size (e.g. 512M or 2G)\n")
        return False
    os.environ["FLUENTAI_MAX_HEAP"] = size
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fluentai",
        description="FluentAI: a Lisp-family language compiled to native code through LLVM.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    jit = sub.add_parser("jit", help="compile in memory and run now",
                         description="Compile a program in memory and run it. Arguments after "
                                     "`--` go to the program (command-line-args). Compiled "
                                     "code is cached (~/.cache/fluentai/jit) unless --no-cache "
                                     "or FLUENTAI_NO_CACHE=1 (`fluentai cache` shows it). With -g, "
                                     "the program is loaded as a shared object that gdb can read "
                                     "(`gdb --args fluentai jit -g prog.fl`).")
    _add_common(jit)
    jit.add_argument("-e", dest="expr", metavar="EXPR", help="run this source text instead of a file")
    jit.add_argument("--no-cache", action="store_true", help="do not use the compile cache")
    _add_max_heap(jit)
    comp = sub.add_parser("compile", help="write a standalone executable or an object file",
                          description="Compile a program ahead of time to a standalone executable "
                                      "(or, with -c, an object file).")
    _add_common(comp)
    comp.add_argument("-o", dest="output", metavar="OUT", help="output path (default: the file name "
                      "without .fl, or .o with -c; stdout for --emit-*)")
    comp.add_argument("-c", dest="object_only", action="store_true", help="write an object file only")
    comp.add_argument("--emit-asm", action="store_true", help="write assembly instead")
    repl = sub.add_parser("repl", help="read, compile and run forms one at a time",
                          description="An interactive session: every input is compiled to native "
                                      "code and run; definitions persist.")
    for level in range(4):
        repl.add_argument(f"-O{level}", dest="opt", action="store_const", const=level,
                          help=argparse.SUPPRESS if level != 2 else "optimisation level (default -O2)")
    _add_max_heap(repl)
    repl.set_defaults(opt=2)
    bench = sub.add_parser("bench", help="compile ahead of time and time the executable",
                           description="Compile a program ahead of time once, then time RUNS runs "
                                       "of the executable (median, min, max, peak memory).")
    bench.add_argument("file", help="the program (.fl)")
    for level in range(4):
        bench.add_argument(f"-O{level}", dest="opt", action="store_const", const=level,
                           help=argparse.SUPPRESS if level != 2 else "optimisation level (default -O2)")
    bench.add_argument("-n", dest="runs", type=int, default=10, metavar="RUNS",
                       help="number of timed runs (default 10)")
    bench.add_argument("--vs", metavar="COMMAND", help="another command to time in alternation")
    _add_max_errors(bench)
    bench.set_defaults(opt=2)
    cache = sub.add_parser("cache", help="show or empty the compile cache of `fluentai jit`",
                           description="The compile cache of `fluentai jit`: $FLUENTAI_CACHE_DIR, "
                                       "else $XDG_CACHE_HOME/fluentai/jit (default "
                                       "~/.cache/fluentai/jit). It holds at most "
                                       "$FLUENTAI_CACHE_MAX_MB MiB (default 256); the least "
                                       "recently used programs are evicted first.")
    cache.add_argument("action", choices=["info", "clear"],
                       help="info: where the cache is, its entries, size and limit; "
                            "clear: remove every entry")
    return parser


def split_program_args(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, program_args = split_program_args(argv)
    parser = build_parser()
    args = parser.parse_args(own)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if not apply_max_heap(getattr(args, "max_heap", None)):
        return EXIT_USAGE
    try:
        if args.command == "jit":
            return cmd_jit(args, program_args)
        if args.command == "compile":
            return cmd_compile(args)
        if args.command == "repl":
            from .repl import run_repl
            return run_repl(args.opt)
        if args.command == "bench":
            from .benchcmd import run_bench
            if args.runs < 1:
                sys.stderr.write("fluentai: error: -n needs at least 1 run\n")
                return EXIT_USAGE
            return run_bench(args.file, args.runs, args.opt, args.vs, program_args,
                             args.max_errors)
        if args.command == "cache":
            return cmd_cache(args.action)
    except KeyboardInterrupt:      # Ctrl-C in the compiler's own (Python) code
        sys.stderr.write("fluentai: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:
        from .backend.rt_build import RuntimeBuildError
        if not isinstance(exc, RuntimeBuildError):
            raise
        sys.stderr.write(f"fluentai: error: {exc}\n")     # the machine lacks a build tool
        return EXIT_USAGE
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _mib(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MiB"


def cmd_cache(action: str) -> int:
    from . import cache
    if action == "clear":
        try:
            entries, size = cache.clear()
        except OSError as e:
            sys.stderr.write(f"fluentai: error: cannot clear {cache.cache_dir()}: {e.strerror}\n")
            return EXIT_USAGE
        sys.stdout.write(f"removed {entries} entries ({size} bytes) from {cache.cache_dir()}\n")
        return EXIT_OK
    facts = cache.info()
    state = "" if cache.enabled(False) else " (disabled by FLUENTAI_NO_CACHE)"
    sys.stdout.write(f"cache directory: {facts['directory']}{state}\n"
                     f"entries:         {facts['entries']}\n"
                     f"size:            {facts['bytes']} bytes ({_mib(facts['bytes'])})\n"
                     f"size limit:      {facts['max_bytes']} bytes ({_mib(facts['max_bytes'])}; "
                     f"${cache.MAX_MB_VARIABLE}, least recently used evicted first)\n")
    return EXIT_OK


def read_program(args) -> tuple[Optional[bytes], str]:
    if getattr(args, "expr", None) is not None:
        return args.expr.encode("utf-8"), "<expr>"
    if not args.file:
        sys.stderr.write("fluentai: error: no program file given (or use -e EXPR)\n")
        return None, ""
    try:
        with open(args.file, "rb") as f:
            return f.read(), args.file
    except OSError as e:
        sys.stderr.write(f"fluentai: error: cannot read {args.file}: {e.strerror}\n")
        return None, args.file


def compile_for_cli(data: bytes, filename: str, *, print_value: bool = False,
                    verify_ir: bool = False, dump_after: Optional[str] = None,
                    emit_ir: bool = False, debug: bool = False, max_errors: int = 0):
    """Compile, printing diagnostics (at most ``max_errors`` errors, 0: all); returns
    (compiled, None) or (None, status)."""
    from .diagnostics import CompileError, format_diagnostics
    from .driver import compile_source, print_warnings
    from .errors import InternalCompilerError
    dump_after = dump_after or ("final" if emit_ir else None)
    try:
        compiled = compile_source(data, filename, print_value=print_value,
                                  verify=verify_ir, dump_after=dump_after, debug=debug,
                                  closed=True)
    except CompileError as err:
        source = err.source_text if err.source_text is not None else data.decode("utf-8", "replace")
        sys.stderr.write(format_diagnostics(err.diagnostics, source, max_errors) + "\n")
        return None, EXIT_USAGE
    except InternalCompilerError as err:
        sys.stderr.write(f"{err}\n")
        return None, EXIT_INTERNAL
    print_warnings(compiled)
    return compiled, None


def _timed(command):
    """Run ``command(args, ...)`` collecting pass times when --time-passes asks for them;
    the table goes to stderr before the program runs (``args.report_times``)."""
    def run(args, *rest) -> int:
        args.report_times = lambda: None
        if not args.time_passes:
            return command(args, *rest)
        from . import timing
        with timing.collect() as times:
            reported = []

            def report() -> None:
                if not reported:
                    reported.append(True)
                    sys.stderr.write(timing.format_table(times))
                    sys.stderr.flush()
            args.report_times = report
            status = command(args, *rest)
        report()
        return status
    return run


@_timed
def cmd_jit(args, program_args: list[str]) -> int:
    data, filename = read_program(args)
    if data is None:
        return EXIT_USAGE
    from . import cache
    inspecting = args.emit_ir or args.emit_llvm or args.dump_after or args.verify_ir
    key = None
    if not inspecting and cache.enabled(args.no_cache):
        flags = f"print-value={int(args.print_value)}" + (";g" if args.debug else "")
        key = cache.key_for(data, filename, args.opt, flags)
        # --time-passes measures a compilation: look nothing up, but store as usual.
        hit = None if args.time_passes else cache.load(key)
        if hit is not None:
            path, meta = hit
            sys.stderr.write(meta.get("warnings", ""))
            try:
                from .runner import load_shared_program
                program = load_shared_program(path)
            except OSError:
                program = None       # unloadable after all: compile again below
            if program is not None:
                return run_program(program, filename, args.opt, program_args, args.print_value)
    compiled, status = compile_for_cli(data, filename, print_value=args.print_value,
                                       verify_ir=args.verify_ir, dump_after=args.dump_after,
                                       emit_ir=args.emit_ir, debug=args.debug,
                                       max_errors=args.max_errors)
    if compiled is None:
        return status
    if args.emit_ir or args.dump_after:
        sys.stdout.write(compiled.ir_text or "")
        return EXIT_OK
    if args.emit_llvm:
        sys.stdout.write(compiled.llvm_ir)
        return EXIT_OK
    from .backend.rt_build import RuntimeBuildError
    try:
        program = _jit_program(compiled, args.opt, key, args.debug)
    except RuntimeBuildError:
        raise                 # reported by main(): a missing tool, not a compiler bug
    except Exception as exc:  # LLVM rejected what we generated: a compiler bug
        sys.stderr.write(f"{compiled.llvm_rejection(exc)}\n")
        return EXIT_INTERNAL
    args.report_times()
    return run_program(program, filename, args.opt, program_args, args.print_value)


def _jit_program(compiled, opt: int, key: Optional[str], debug: bool = False):
    """Machine code for a freshly compiled program: through the cache (a shared
    object, linked once, loaded without LLVM next time) when it is on and a C
    compiler is at hand, else straight into memory with MCJIT. With -g and no
    cache the program is still a shared object (in a temporary directory for
    the process's lifetime): gdb reads DWARF from files, not from MCJIT's memory."""
    if key is not None or debug:
        from . import cache
        from .backend import aot
        from .driver import format_warnings
        try:
            shared = aot.link_shared_object(aot.emit_object(compiled.llvm_ir, opt))
        except aot.LinkError:
            shared = None
        if shared is None:
            path = None
        elif key is not None:
            path = cache.store(key, shared, {"warnings": format_warnings(compiled)})
        else:
            path = _private_shared_object(shared)
        if path is not None:
            from .runner import load_shared_program
            from .timing import phase
            try:
                with phase("load"):
                    return load_shared_program(path)
            except OSError:
                pass
    from .backend.jit import jit_compile
    return jit_compile(compiled.llvm_ir, opt)


def _private_shared_object(shared: bytes) -> Optional[str]:
    import atexit
    import os
    import shutil
    import tempfile
    try:
        directory = tempfile.mkdtemp(prefix="fluentai-g-")
        path = os.path.join(directory, "program.so")
        with open(path, "wb") as f:
            f.write(shared)
    except OSError:
        return None
    atexit.register(shutil.rmtree, directory, True)
    return path


def run_program(program, filename: str, opt: int, argv: list[str], print_value: bool) -> int:
    """Run a loaded program (MCJIT or cached shared object) and report its outcome."""
    from .runner import FL_EXIT, FL_INTERRUPTED, FL_OK, LoadedProgram
    loaded = LoadedProgram(None, opt, jit=program)
    ffi, lib = loaded.conv.ffi, loaded.conv.lib
    c_argv = [ffi.new("char[]", a.encode("utf-8", "surrogateescape")) for a in argv]
    lib.fl_set_command_line(len(c_argv), ffi.new("const char *[]", c_argv))
    out = loaded.run_raw()
    if out.status == FL_OK:
        if print_value:
            sys.stdout.write(loaded.conv.written(out.value) + "\n")
            sys.stdout.flush()
        return EXIT_OK
    if out.status == FL_EXIT:
        return out.exit_code
    report = ffi.string(out.report).decode("utf-8", "replace") if out.report else "error\n"
    sys.stderr.write(report if report.endswith("\n") else report + "\n")
    sys.stderr.flush()
    return EXIT_INTERRUPTED if out.status == FL_INTERRUPTED else EXIT_RUNTIME


def _write_output(text_or_bytes, path: Optional[str]) -> int:
    if path is None or path == "-":
        if isinstance(text_or_bytes, bytes):
            sys.stdout.buffer.write(text_or_bytes)
        else:
            sys.stdout.write(text_or_bytes)
        return EXIT_OK
    try:
        mode = "wb" if isinstance(text_or_bytes, bytes) else "w"
        with open(path, mode) as f:
            f.write(text_or_bytes)
    except OSError as e:
        sys.stderr.write(f"fluentai: error: cannot write {path}: {e.strerror}\n")
        return EXIT_USAGE
    return EXIT_OK


@_timed
def cmd_compile(args) -> int:
    data, filename = read_program(args)
    if data is None:
        return EXIT_USAGE
    compiled, status = compile_for_cli(data, filename, print_value=args.print_value,
                                       verify_ir=args.verify_ir, dump_after=args.dump_after,
                                       emit_ir=args.emit_ir, debug=args.debug,
                                       max_errors=args.max_errors)
    if compiled is None:
        return status
    if args.emit_ir or args.dump_after:
        return _write_output(compiled.ir_text or "", args.output)
    if args.emit_llvm:
        return _write_output(compiled.llvm_ir, args.output)
    from .backend import aot
    try:
        if args.emit_asm:
            return _write_output(aot.emit_assembly(compiled.llvm_ir, args.opt,
                                                   executable=not args.object_only), args.output)
        obj = aot.emit_object(compiled.llvm_ir, args.opt, executable=not args.object_only)
    except Exception as exc:
        sys.stderr.write(f"{compiled.llvm_rejection(exc)}\n")
        return EXIT_INTERNAL
    stem = filename[:-3] if filename.endswith(".fl") else filename + ".out"
    if args.object_only:
        return _write_output(obj, args.output or stem + ".o")
    try:
        aot.link_executable(obj, args.output or stem, args.opt)
    except aot.LinkError as e:
        sys.stderr.write(f"fluentai: error: {e}\n")
        return EXIT_USAGE
    return EXIT_OK


def entry() -> None:
    try:
        code = main()
    except SystemExit:
        raise
    except BaseException as exc:  # the last line of defence: never a traceback
        sys.stderr.write(f"fluentai: internal compiler error: {type(exc).__name__}: {exc}\n"
                         "  = note: this is a bug in FluentAI\n")
        code = EXIT_INTERNAL
    sys.stdout.flush()
    sys.exit(code)
