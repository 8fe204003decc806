"""Tests of the runtime library: lists (list.c), strings (string.c), maps (map.c).

In:  the C runtime of runtime_c/, compiled with tests/runtime_lib_helpers.c
     into a test-only cffi extension (cached under .pytest_cache, keyed by the
     sources), plus a variant whose map hash keeps only 4 bits so that
     full-hash collisions are exercised.
Out: every List/String/Map builtin (and `tuple`) called through its uniform
     entry inside fl_run: normal and edge cases, each error's type and exact
     message, 10^6-element lists through every list builtin, a 10^5-entry map,
     non-ASCII UTF-8 text, and a run under GC stress.

Values made from Python are kept in uncollectable runtime slots (a ring) while
a test uses them: Boehm does not scan Python's heap.
"""
from __future__ import annotations

import hashlib
import importlib.util
import random
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from fluentai.backend import rt_build
from fluentai.builtins import BUILTINS

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_DIR = ROOT / "runtime_c"
HELPERS_C = Path(__file__).with_name("runtime_lib_helpers.c")

HELPERS_CDEF = """
fl_value rtlib_inc(fl_value, int64_t, fl_value, fl_value, fl_value, fl_value *);
fl_value rtlib_neg(fl_value, int64_t, fl_value, fl_value, fl_value, fl_value *);
fl_value rtlib_even_p(fl_value, int64_t, fl_value, fl_value, fl_value, fl_value *);
fl_value rtlib_add(fl_value, int64_t, fl_value, fl_value, fl_value, fl_value *);
fl_value rtlib_strict_even_p(fl_value, int64_t, fl_value, fl_value, fl_value, fl_value *);
fl_value rtlib_count(fl_value, int64_t, fl_value, fl_value, fl_value, fl_value *);
int64_t rtlib_calls(void);
void rtlib_run_at(fl_value fn, int64_t n, fl_value *args, int64_t loc, fl_outcome *out);
"""

FL_FALSE, FL_NIL, FL_TRUE, FL_EMPTY = 0x03, 0x07, 0x0B, 0x0F
K_INT, K_FLOAT, K_STRING, K_PAIR, K_KEYWORD, K_MAP, K_DATA = 1, 2, 3, 4, 6, 8, 9
ROOT_SLOTS = 1 << 16
N_BIG = 10**6


def fixnum(n: int) -> int:
    """The runtime word of a small int."""
    return 2 * n


# ---- building the extension -------------------------------------------------------------

def _sources() -> list[Path]:
    runtime = [p for p in sorted(RUNTIME_DIR.iterdir())
               if p.suffix in (".c", ".S") and p.name not in rt_build.AOT_ONLY_SOURCES]
    return runtime + [HELPERS_C]


def _build(cache_dir: Path, variant: str, macros: list[tuple[str, str]]):
    """Compile (once per source hash) and import the runtime + helpers extension.

    -Bsymbolic binds the extension's calls to its own functions: another copy
    of the runtime loaded RTLD_GLOBAL by other tests must not capture them."""
    import cffi

    digest = hashlib.sha256()
    for path in _sources() + [RUNTIME_DIR / "fluentai.h"]:
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(repr((macros, rt_build.EXTENSION_FLAGS)).encode())
    name = f"_fl_rtlib_{variant}_{digest.hexdigest()[:16]}"
    target = cache_dir / name
    if not target.exists():
        ffi = cffi.FFI()
        ffi.cdef(rt_build.cdef_text() + HELPERS_CDEF)
        ffi.set_source(name, '#include "fluentai.h"\n' + HELPERS_CDEF,
                       sources=[str(p) for p in _sources()], include_dirs=[str(RUNTIME_DIR)],
                       libraries=rt_build.LIBRARIES + ["m"], define_macros=macros,
                       extra_compile_args=rt_build.EXTENSION_FLAGS, extra_link_args=["-Wl,-Bsymbolic"])
        work = Path(tempfile.mkdtemp(dir=cache_dir))
        ffi.compile(tmpdir=str(work))
        try:
            work.rename(target)
        except OSError:   # a concurrent build won the race
            shutil.rmtree(work, ignore_errors=True)
    built = next(target.glob(f"{name}*.so"))
    spec = importlib.util.spec_from_file_location(name, built)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module.ffi, module.lib


# ---- Python-side values ----------------------------------------------------------------------

@dataclass(frozen=True)
class Keyword:
    name: str


@dataclass(frozen=True)
class Data:
    tag: str
    fields: tuple


@dataclass(frozen=True)
class B:
    """A builtin, by its FluentAI name, as an argument."""
    name: str


@dataclass(frozen=True)
class H:
    """A test helper closure (runtime_lib_helpers.c), by its suffix."""
    name: str
    arity: int = 1


@dataclass(frozen=True)
class Raw:
    """A runtime value passed through as it is."""
    v: int


class Map(list):
    """A map written as a list of (key, value) pairs, for keys Python cannot hash or merges."""


class FlError(Exception):
    def __init__(self, type_: str, message: str, loc: int):
        super().__init__(f"{type_}: {message}")
        self.type, self.message, self.loc = type_, message, loc


class Runtime:
    """The runtime extension with helpers to convert values and run builtins."""

    def __init__(self, ffi, lib):
        self.ffi, self.lib = ffi, lib
        lib.fl_init()
        self.roots = lib.fl_constants_new(ROOT_SLOTS)
        self.argbuf = lib.fl_constants_new(16)
        self.next_root = 0
        self.closures = {}
        self.pinned = lib.fl_constants_new(256)
        self.npinned = 0
        self._register_module()

    def _register_module(self):
        # Location ids 1..9 exist, so errors carrying them can be reported.
        self._filename = self.ffi.new("char[]", b"t.fl")
        self._source = self.ffi.new("char[]", b"(map f xs)\n")
        self._locs = self.ffi.new("fl_loc[]", [(1, 1, 1, 11)] * 10)
        self._info = self.ffi.new("fl_module_info *", {
            "filename": self._filename, "source": self._source,
            "source_len": 11, "locs": self._locs, "nlocs": 10})
        self.lib.fl_module_register(self._info)

    def pin(self, v: int) -> int:
        """Keep v alive for the rest of the module (closures, fixtures)."""
        self.pinned[self.npinned] = v
        self.npinned += 1
        return v

    def keep(self, v: int) -> int:
        """Keep v alive for the next ROOT_SLOTS values made (a test's lifetime)."""
        self.roots[self.next_root % ROOT_SLOTS] = v
        self.next_root += 1
        return v

    # -- Python -> runtime
    def value(self, x) -> int:
        lib = self.lib
        if isinstance(x, Raw):
            return x.v
        if x is True or x is False:
            return FL_TRUE if x else FL_FALSE
        if x is None:
            return FL_NIL
        if isinstance(x, int):
            return self.keep(lib.fl_make_int(x))
        if isinstance(x, float):
            return self.keep(lib.fl_make_float(x))
        if isinstance(x, str):
            b = x.encode()
            return self.keep(lib.fl_make_string(b, len(b)))
        if isinstance(x, Keyword):
            b = x.name.encode()
            return lib.fl_intern_keyword(b, len(b))
        if isinstance(x, (B, H)):
            return self.closure(x)
        if isinstance(x, Map):
            return self.map_of(x)
        if isinstance(x, dict):
            return self.map_of(list(x.items()))
        if isinstance(x, Data):
            fields = [self.value(f) for f in x.fields]
            return self.keep(lib.fl_make_data(self.value(x.tag), len(fields), self.ffi.new("fl_value[]", fields or [0])))
        if isinstance(x, list):
            items = [self.value(i) for i in x]
            return self.keep(lib.fl_list_from_array(len(items), self.ffi.new("fl_value[]", items or [0])))
        raise TypeError(x)

    def map_of(self, pairs) -> int:
        m = self.lib.fl_map_empty()
        for k, v in pairs:
            m = self.keep(self.lib.fl_map_set(m, self.value(k), self.value(v)))
        return m

    def closure(self, f) -> int:
        if f not in self.closures:
            if isinstance(f, B):
                v = self.lib.fl_builtin_value(f.name.encode())
                assert v, f"no builtin {f.name}"
            else:
                code = getattr(self.lib, f"rtlib_{f.name}")
                v = self.lib.fl_make_closure(code, f.arity, 0, FL_NIL, 0)
            self.closures[f] = self.pin(v)
        return self.closures[f]

    # -- runtime -> Python
    def kind(self, v: int) -> int:
        return self.lib.fl_kind_of(v)

    def text(self, v: int) -> str:
        s = self.lib.fl_string_flat(v)
        return self.ffi.unpack(s.bytes, s.nbytes).decode()

    def py(self, v: int):
        if v & 1 == 0:
            return v >> 1
        immediates = {FL_FALSE: False, FL_NIL: None, FL_TRUE: True, FL_EMPTY: []}
        if v in immediates:
            return immediates[v]
        kind = self.kind(v)
        if kind == K_INT:
            return self.lib.fl_int_value(v)
        if kind == K_FLOAT:
            return self.lib.fl_float_value(v)
        if kind == K_STRING:
            return self.text(v)
        if kind == K_PAIR:
            out = []
            while v != FL_EMPTY:
                pair = self.ffi.cast("fl_pair *", v - 1)
                out.append(self.py(pair.head))
                v = pair.tail
            return out
        if kind == K_MAP:
            n = self.lib.fl_map_size(v)
            return Map((self.py(self.lib.fl_map_key_at(v, i)), self.py(self.lib.fl_map_value_at(v, i)))
                       for i in range(n))
        if kind == K_KEYWORD:
            return Keyword(self.text(self.ffi.cast("fl_value *", v - 1)[1]))
        if kind == K_DATA:
            words = self.ffi.cast("fl_value *", v - 1)
            n = self.ffi.cast("fl_header *", v - 1).aux
            return Data(self.py(words[1]), tuple(self.py(words[2 + i]) for i in range(n)))
        return Raw(v)

    def show(self, v: int) -> str:
        return self.text(self.lib.fl_show(v))

    # -- running
    def run(self, name: str, *args, loc: int = 0) -> int:
        """Call builtin `name` inside fl_run, with `loc` as the call site; errors become FlError."""
        fn = self.closure(B(name))
        values = [self.value(a) for a in args]
        for i, v in enumerate(values):
            self.argbuf[i] = v   # uncollectable: the arguments live through the call
        out = self.ffi.new("fl_outcome *")
        self.lib.rtlib_run_at(fn, len(values), self.argbuf, loc, out)
        if out.status != 0:
            raise FlError(self.field(out.error, "type"), self.field(out.error, "message"), out.loc)
        return self.keep(out.value)

    def field(self, error_map: int, name: str):
        return self.py(self.lib.fl_map_get(error_map, self.value(name), FL_NIL))

    def show_run(self, name: str, *args) -> str:
        return self.show(self.run(name, *args))

    def fails(self, name: str, *args, loc: int = 0) -> FlError:
        with pytest.raises(FlError) as info:
            self.run(name, *args, loc=loc)
        return info.value

    def equal(self, a: int, b: int) -> bool:
        return bool(self.lib.fl_equal(a, b))


@pytest.fixture(scope="module")
def build_dir(request) -> Path:
    path = Path(request.config.cache.mkdir("fluentai-runtime-lib"))
    builds = sorted(path.iterdir(), key=lambda p: p.stat().st_mtime)
    for stale in builds[:-4]:   # builds of older sources would pile up otherwise
        shutil.rmtree(stale, ignore_errors=True)
    return path


@pytest.fixture(scope="module")
def rt(build_dir) -> Runtime:
    return Runtime(*_build(build_dir, "main", []))


@pytest.fixture(scope="module")
def rt_weak_hash(build_dir) -> Runtime:
    # also the portable popcount, which machines with POPCNT (all of ours) never run otherwise
    return Runtime(*_build(build_dir, "weakhash", [("FL_TEST_HASH_MASK", "0xF"), ("FL_NO_POPCNT", "1")]))


# ---- the builtin tables ----------------------------------------------------------------------

def _group(first: str, last: str) -> list[str]:
    names = list(BUILTINS)
    return names[names.index(first):names.index(last) + 1]


LIBRARY_BUILTINS = _group("list", "apply") + _group("string-length", "print-line") + _group("get", "tuple")


def test_tables_match_builtins_py(rt):
    table = {}
    for i in range(rt.lib.fl_builtin_count()):
        d = rt.lib.fl_builtin_at(i)
        table[rt.ffi.string(d.name).decode()] = (d.min_args, d.max_args)
    for name in LIBRARY_BUILTINS:
        b = BUILTINS[name]
        assert table.get(name) == (b.min_args, b.max_args), name


# ---- lists ---------------------------------------------------------------------------------------

LIST_CASES = [
    ("list", [], "[]"),
    ("list", [1, "a", [2]], '[1 "a" [2]]'),
    ("list", [1, 2, 3, 4, 5, 6], "[1 2 3 4 5 6]"),
    ("cons", [1, [2, 3]], "[1 2 3]"),
    ("cons", [[], []], "[[]]"),
    ("head", [[1, 2]], "1"),
    ("car", [["x"]], '"x"'),
    ("tail", [[1, 2]], "[2]"),
    ("cdr", [[1]], "[]"),
    ("length", [[]], "0"),
    ("length", [[1, [2, 3], 4]], "3"),
    ("nth", [[1, 2, 3], 0], "1"),
    ("nth", [[1, 2, 3], 2], "3"),
    ("last", [[1, 2, 3]], "3"),
    ("append", [], "[]"),
    ("append", [[1], [2, 3], [], [4]], "[1 2 3 4]"),
    ("append", [[], []], "[]"),
    ("append", [[1, 2]], "[1 2]"),
    ("reverse", [[]], "[]"),
    ("reverse", [[1, 2, 3]], "[3 2 1]"),
    ("take", [2, [1, 2, 3]], "[1 2]"),
    ("take", [5, [1, 2, 3]], "[1 2 3]"),
    ("take", [-1, [1, 2, 3]], "[]"),
    ("take", [0, []], "[]"),
    ("drop", [2, [1, 2, 3]], "[3]"),
    ("drop", [10, [1, 2, 3]], "[]"),
    ("drop", [-3, [1, 2]], "[1 2]"),
    ("range", [0, 5], "[0 1 2 3 4]"),
    ("range", [5, 0], "[]"),
    ("range", [3, 3], "[]"),
    ("range", [0, 10, 3], "[0 3 6 9]"),
    ("range", [5, 0, -2], "[5 3 1]"),
    ("range", [0, 5, -1], "[]"),
    ("range", [-2, 2], "[-2 -1 0 1]"),
    ("range", [0, 1, 0.25], "[0.0 0.25 0.5 0.75]"),
    ("range", [1.5, 4], "[1.5 2.5 3.5]"),
    ("range", [2**63 - 3, 2**63 - 1], "[9223372036854775805 9223372036854775806]"),
    ("range", [-(2**63) + 2, -(2**63), -1], "[-9223372036854775806 -9223372036854775807]"),
    ("map", [H("inc"), [1, 2, 3]], "[2 3 4]"),
    ("map", [B("head"), [[1], [2, 3]]], "[1 2]"),
    ("map", [H("inc"), []], "[]"),
    ("for-each", [H("inc"), [1, 2]], "nil"),
    ("filter", [H("even_p"), [1, 2, 3, 4, 5, 6]], "[2 4 6]"),
    ("filter", [H("even_p"), [1, 3]], "[]"),
    ("fold", [B("list"), 0, [1, 2, 3]], "[[[0 1] 2] 3]"),
    ("fold", [B("list"), 0, []], "0"),
    ("reduce", [B("list"), 0, [1, 2, 3]], "[[[0 1] 2] 3]"),
    ("fold-right", [B("list"), 0, [1, 2, 3]], "[1 [2 [3 0]]]"),
    ("fold-right", [B("cons"), [], [1, 2, 3]], "[1 2 3]"),
    ("any?", [H("even_p"), [1, 3, 4]], "true"),
    ("any?", [H("even_p"), [1, 3]], "false"),
    ("any?", [H("even_p"), []], "false"),
    ("all?", [H("even_p"), [2, 4]], "true"),
    ("all?", [H("even_p"), [2, 3]], "false"),
    ("all?", [H("even_p"), []], "true"),
    ("any?", [H("strict_even_p"), [1, 2, 3]], "true"),    # stops before 3
    ("all?", [H("strict_even_p"), [2, 1, 3]], "false"),
    ("sort", [[]], "[]"),
    ("sort", [[3, 1, 2]], "[1 2 3]"),
    ("sort", [[3, 1.5, 2, -1, 2.0, -0.5]], "[-1 -0.5 1.5 2 2.0 3]"),
    ("sort", [[2.0, 2, 1]], "[1 2.0 2]"),
    ("sort", [[2**53 + 1, 2.0**53, 2**53]], "[9007199254740992.0 9007199254740992 9007199254740993]"),
    ("sort", [[2**62, -(2**62) - 5, 0]], "[-4611686018427387909 0 4611686018427387904]"),
    ("sort", [["b", "a", "é", "B", "", "ab"]], '["" "B" "a" "ab" "b" "é"]'),
    ("sort-by", [B("head"), [[3, "a"], [1, "b"], [3, "c"], [2, "d"]]], '[[1 "b"] [2 "d"] [3 "a"] [3 "c"]]'),
    ("sort-by", [B("string-length"), ["ccc", "a", "bb", "d"]], '["a" "d" "bb" "ccc"]'),
    ("sum", [[]], "0"),
    ("sum", [[1, 2, 3]], "6"),
    ("sum", [[1, 2, 3.5]], "6.5"),
    ("sum", [[2**61, 2**61]], "4611686018427387904"),
    ("sum", [[2**62, 1, -(2**62)]], "1"),
    ("product", [[]], "1"),
    ("product", [[2, 3, 4]], "24"),
    ("product", [[2, 0.5]], "1.0"),
    ("zip", [[1, 2, 3], ["a", "b"]], '[[1 "a"] [2 "b"]]'),
    ("zip", [[], [1]], "[]"),
    ("contains?", [[1, 2, 3], 2], "true"),
    ("contains?", [[1, 2, 3], 2.0], "true"),
    ("contains?", [[1, [2]], [2]], "true"),
    ("contains?", [[], 1], "false"),
    ("contains?", [["1"], 1], "false"),
    ("index-of", [[1, [2], 3], [2]], "1"),
    ("index-of", [["a", "b", "b"], "b"], "1"),
    ("index-of", [[1, 2], 5], "nil"),
    ("apply", [B("list"), [1, 2, 3, 4, 5]], "[1 2 3 4 5]"),
    ("apply", [B("list"), []], "[]"),
    ("apply", [B("string-append"), ["a", "b", "c", "d"]], '"abcd"'),
    ("apply", [B("cons"), [1, [2]]], "[1 2]"),
]


@pytest.mark.parametrize("name,args,expected", LIST_CASES)
def test_list_builtins(rt, name, args, expected):
    assert rt.show_run(name, *args) == expected


LIST_ERRORS = [
    ("cons", [1, 2], "type-error", "`cons` expects a list as its second argument, got an int: 2"),
    ("head", [[]], "empty-list", "`head` of an empty list"),
    ("car", [[]], "empty-list", "`car` of an empty list"),
    ("tail", [[]], "empty-list", "`tail` of an empty list"),
    ("cdr", [[]], "empty-list", "`cdr` of an empty list"),
    ("last", [[]], "empty-list", "`last` of an empty list"),
    ("head", [5], "type-error", "`head` expects a list, got an int: 5"),
    ("tail", ["ab"], "type-error", '`tail` expects a list, got a string: "ab"'),
    ("length", ["abc"], "type-error", '`length` expects a list, got a string: "abc"'),
    ("nth", [[1, 2, 3], 5], "index-error", "index 5 out of bounds for a list of length 3"),
    ("nth", [[1, 2, 3], 3], "index-error", "index 3 out of bounds for a list of length 3"),
    ("nth", [[1, 2, 3], -1], "index-error", "index -1 out of bounds for a list of length 3"),
    ("nth", [[], 0], "index-error", "index 0 out of bounds for a list of length 0"),
    ("nth", [[1], "0"], "type-error", '`nth` expects an int, got a string: "0"'),
    ("nth", [[1], 0.0], "type-error", "`nth` expects an int, got a float: 0.0"),
    ("append", [[1], 2, [3]], "type-error", "`append` expects a list, got an int: 2"),
    ("append", [[1], 2], "type-error", "`append` expects a list, got an int: 2"),
    ("reverse", [{"a": 1}], "type-error", '`reverse` expects a list, got a map: {"a" 1}'),
    ("take", [[1], 1], "type-error", "`take` expects an int, got a list: [1]"),
    ("drop", [1, None], "type-error", "`drop` expects a list, got nil"),
    ("range", [0, 5, 0], "value-error", "`range` step must not be zero"),
    ("range", [0, 5, 0.0], "value-error", "`range` step must not be zero"),
    ("range", [0, "5"], "type-error", '`range` expects a number, got a string: "5"'),
    ("map", [5, [1]], "type-error", "`map` expects a function, got an int: 5"),
    ("map", [H("inc"), 5], "type-error", "`map` expects a list, got an int: 5"),
    ("map", [5, []], "type-error", "`map` expects a function, got an int: 5"),
    ("filter", [[1], [1]], "type-error", "`filter` expects a function, got a list: [1]"),
    ("for-each", [H("inc"), "s"], "type-error", '`for-each` expects a list, got a string: "s"'),
    ("fold", [B("list"), 0, 1], "type-error", "`fold` expects a list, got an int: 1"),
    ("reduce", [1, 0, []], "type-error", "`reduce` expects a function, got an int: 1"),
    ("fold-right", [None, 0, []], "type-error", "`fold-right` expects a function, got nil"),
    ("any?", [H("even_p"), 1], "type-error", "`any?` expects a list, got an int: 1"),
    ("all?", [1, []], "type-error", "`all?` expects a function, got an int: 1"),
    ("sort", [[1, "a"]], "type-error", '`sort` expects numbers, got a string: "a"'),
    ("sort", [["a", 1]], "type-error", "`sort` expects strings, got an int: 1"),
    ("sort", [[True, 1]], "type-error", "`sort` expects numbers or strings, got a bool: true"),
    ("sort", [[[1], [0]]], "type-error", "`sort` expects numbers or strings, got a list: [1]"),
    ("sort", ["ba"], "type-error", '`sort` expects a list, got a string: "ba"'),
    ("sort-by", [B("head"), [[None]]], "type-error",
     "`sort-by` expects keys that are numbers or strings, got nil"),
    ("sort-by", [B("head"), [[1], ["a"]]], "type-error", '`sort-by` expects number keys, got a string: "a"'),
    ("sort-by", [B("head"), [["a"], [1]]], "type-error", "`sort-by` expects string keys, got an int: 1"),
    ("sort-by", [1, []], "type-error", "`sort-by` expects a function, got an int: 1"),
    ("sum", [[1, "a"]], "type-error", '`sum` expects numbers, got a string: "a"'),
    ("product", [[None]], "type-error", "`product` expects numbers, got nil"),
    ("sum", [5], "type-error", "`sum` expects a list, got an int: 5"),
    ("sum", [[2**62, 2**62]], "overflow-error", "integer overflow in `sum`"),
    ("sum", [[-(2**63) + 1, -2]], "overflow-error", "integer overflow in `sum`"),
    ("product", [[2**32, 2**32]], "overflow-error", "integer overflow in `product`"),
    ("zip", [[1], 2], "type-error", "`zip` expects a list, got an int: 2"),
    ("contains?", [5, 5], "type-error", "`contains?` expects a list, got an int: 5"),
    ("index-of", ["abc", "a"], "type-error", '`index-of` expects a list, got a string: "abc"'),
    ("apply", [1, []], "type-error", "`apply` expects a function, got an int: 1"),
    ("apply", [B("list"), 5], "type-error", "`apply` expects a list, got an int: 5"),
    ("apply", [B("head"), [[]]], "empty-list", "`head` of an empty list"),
]


@pytest.mark.parametrize("name,args,type_,message", LIST_ERRORS)
def test_list_errors(rt, name, args, type_, message):
    error = rt.fails(name, *args)
    assert (error.type, error.message) == (type_, message)


@pytest.mark.parametrize("name,args", [
    ("head", []), ("head", [[1], [2]]), ("cons", [1]), ("nth", [[1]]), ("range", [1]),
    ("range", [1, 2, 3, 4]), ("fold", [B("list"), 0]), ("map", [H("inc")]), ("apply", [B("list")]),
])
def test_list_arity_errors(rt, name, args):
    error = rt.fails(name, *args)
    assert error.type == "arity-error" and f"`{name}`" in error.message


def test_errors_are_reported_at_the_call_site(rt):
    assert rt.fails("head", [], loc=7).loc == 7
    assert rt.fails("nth", [1], 4, loc=3).loc == 3
    # A function called by a higher-order builtin gets the builtin's location.
    error = rt.fails("map", H("strict_even_p"), [1, 2, 3], loc=9)
    assert (error.type, error.message, error.loc) == ("value-error", "3 is not welcome", 9)
    assert rt.fails("fold", B("head"), [], [1], loc=5).loc == 5
    assert rt.fails("apply", B("head"), [[]], loc=6).loc == 6


def test_append_shares_its_last_argument(rt):
    last = rt.value([3, 4])
    result = rt.run("append", [1, 2], Raw(last))
    second_tail = rt.ffi.cast("fl_pair *", rt.ffi.cast("fl_pair *", result - 1).tail - 1).tail
    assert second_tail == last
    assert rt.run("append", [], Raw(last)) == last


def test_results_do_not_alias_their_arguments(rt):
    xs = rt.value([1, 2, 3])
    before = rt.show(xs)
    for name, args in [("reverse", [Raw(xs)]), ("map", [H("inc"), Raw(xs)]), ("sort", [Raw(xs)]),
                       ("append", [Raw(xs), [9]]), ("take", [2, Raw(xs)]), ("filter", [H("even_p"), Raw(xs)])]:
        rt.run(name, *args)
    assert rt.show(xs) == before


def test_cons_and_list_api(rt):
    lib = rt.lib
    items = rt.ffi.new("fl_value[]", [fixnum(i) for i in range(5)])
    xs = rt.keep(lib.fl_list_from_array(5, items))
    assert rt.show(xs) == "[0 1 2 3 4]" and lib.fl_list_length(xs) == 5
    assert lib.fl_list_length(FL_EMPTY) == 0
    assert rt.show(lib.fl_cons(rt.value("a"), FL_EMPTY, 0)) == '["a"]'


def test_for_each_calls_in_order_and_print_line(rt, capfd):
    start = rt.lib.rtlib_calls()
    rt.run("for-each", H("count"), [1, 2, 3])
    assert rt.lib.rtlib_calls() - start == 3
    assert rt.run("for-each", B("print-line"), [1, "a", [2, "b"], 2.5]) == FL_NIL
    rt.lib.fl_flush()
    assert capfd.readouterr().out == '1\na\n[2 "b"]\n2.5\n'


def test_apply_passes_many_arguments(rt):
    # the argument count has 32 bits in the calling convention: 10^5 arguments pass
    assert rt.py(rt.run("length", Raw(rt.run("apply", B("list"), Raw(rt.run("range", 0, 100000)))))) == 100000


# ---- 10^6-element lists through every list builtin ------------------------------------------------

@pytest.fixture(scope="module")
def big(rt):
    """xs = [0 .. 10^6), plus its reverse, built by the runtime."""
    xs = rt.pin(rt.run("range", 0, N_BIG))
    return xs, rt.pin(rt.run("reverse", Raw(xs)))


def _py_len(rt, v) -> int:
    return rt.py(rt.run("length", Raw(v)))


def test_big_list_basics(rt, big):
    xs, rev = big
    assert _py_len(rt, xs) == N_BIG
    assert rt.py(rt.run("head", Raw(rev))) == N_BIG - 1
    assert rt.py(rt.run("last", Raw(xs))) == N_BIG - 1
    assert rt.py(rt.run("nth", Raw(xs), N_BIG - 1)) == N_BIG - 1
    assert rt.fails("nth", Raw(xs), N_BIG).message == f"index {N_BIG} out of bounds for a list of length {N_BIG}"
    assert rt.equal(rt.run("tail", Raw(xs)), rt.run("range", 1, N_BIG))
    assert rt.equal(rt.run("cons", -1, Raw(xs)), rt.run("range", -1, N_BIG))
    assert rt.equal(rt.run("reverse", Raw(rev)), xs)
    assert _py_len(rt, rt.run("append", Raw(xs), Raw(rev), Raw(xs))) == 3 * N_BIG
    assert rt.equal(rt.run("take", N_BIG - 1, Raw(xs)), rt.run("range", 0, N_BIG - 1))
    assert rt.equal(rt.run("drop", N_BIG - 1, Raw(xs)), rt.value([N_BIG - 1]))
    assert _py_len(rt, rt.run("range", N_BIG, 0, -1)) == N_BIG
    assert _py_len(rt, rt.run("range", 0.0, N_BIG / 2, 0.5)) == N_BIG


def test_big_list_higher_order(rt, big):
    xs, rev = big
    assert rt.equal(rt.run("map", H("inc"), Raw(xs)), rt.run("range", 1, N_BIG + 1))
    start = rt.lib.rtlib_calls()
    assert rt.run("for-each", H("count"), Raw(xs)) == FL_NIL
    assert rt.lib.rtlib_calls() - start == N_BIG
    assert rt.equal(rt.run("filter", H("even_p"), Raw(xs)), rt.run("range", 0, N_BIG, 2))
    total = N_BIG * (N_BIG - 1) // 2
    assert rt.py(rt.run("fold", H("add", 2), 0, Raw(xs))) == total
    assert rt.py(rt.run("reduce", H("add", 2), 0, Raw(xs))) == total
    assert rt.py(rt.run("fold-right", H("add", 2), 0, Raw(xs))) == total
    assert rt.equal(rt.run("fold-right", B("cons"), [], Raw(xs)), xs)
    assert rt.run("any?", H("even_p"), Raw(rt.run("range", 1, N_BIG, 2))) == FL_FALSE
    assert rt.run("all?", H("even_p"), Raw(rt.run("range", 0, N_BIG, 2))) == FL_TRUE
    assert rt.equal(rt.run("apply", B("append"), Raw(rt.value([Raw(xs), Raw(rev)]))),
                    rt.run("append", Raw(xs), Raw(rev)))


def test_big_list_sorting_and_searching(rt, big):
    xs, rev = big
    assert rt.equal(rt.run("sort", Raw(rev)), xs)
    assert rt.equal(rt.run("sort", Raw(xs)), xs)
    assert rt.equal(rt.run("sort-by", H("neg"), Raw(xs)), rev)
    shuffled = list(range(N_BIG))
    random.Random(7).shuffle(shuffled)
    items = rt.ffi.new("fl_value[]", [fixnum(x) for x in shuffled])
    mixed = rt.keep(rt.lib.fl_list_from_array(N_BIG, items))
    assert rt.equal(rt.run("sort", Raw(mixed)), xs)
    assert rt.py(rt.run("sum", Raw(xs))) == N_BIG * (N_BIG - 1) // 2
    assert rt.py(rt.run("product", Raw(xs))) == 0
    assert _py_len(rt, rt.run("zip", Raw(xs), Raw(rev))) == N_BIG
    assert rt.run("contains?", Raw(xs), N_BIG - 1) == FL_TRUE
    assert rt.py(rt.run("index-of", Raw(xs), N_BIG - 1)) == N_BIG - 1
    assert rt.run("index-of", Raw(xs), -1) == FL_NIL


def test_big_list_printing_hashing_and_strings(rt, big):
    xs, _ = big
    text = rt.text(rt.run("show", Raw(xs)))
    assert text.startswith("[0 1 2 ") and text.endswith(f" {N_BIG - 1}]")
    copy = rt.run("map", B("car"), Raw(rt.run("zip", Raw(xs), Raw(xs))))
    assert rt.lib.fl_hash(copy) == rt.lib.fl_hash(xs)
    m = rt.run("set", {}, Raw(xs), "big key")
    assert rt.py(rt.run("get", Raw(m), Raw(copy))) == "big key"
    letters = rt.value("aé" * (N_BIG // 2))
    chars = rt.run("string->list", Raw(letters))
    assert _py_len(rt, chars) == N_BIG
    assert rt.equal(rt.run("list->string", Raw(chars)), letters)
    joined = rt.run("string-join", Raw(chars), "")
    assert rt.equal(joined, letters)


# ---- strings -------------------------------------------------------------------------------------

STRING_CASES = [
    ("string-length", [""], "0"),
    ("string-length", ["héllo"], "5"),
    ("string-length", ["😀 ✓"], "3"),
    ("string-append", [], '""'),
    ("string-append", ["a"], '"a"'),
    ("string-append", ["é", "😀", "", "x"], '"é😀x"'),
    ("concat", ["ab", "cd", "ef", "gh"], '"abcdefgh"'),
    ("string-concat", ["a", "b"], '"ab"'),
    ("string-upcase", ["hello, World!"], '"HELLO, WORLD!"'),
    ("string-upcase", ["straße ǆ ÿ ı"], '"STRAßE Ǆ Ÿ I"'),
    ("string-upcase", ["αβγ ς привет"], '"ΑΒΓ Σ ПРИВЕТ"'),
    ("string-downcase", ["ÀÉÎ ΣΑΣ İ"], '"àéî σασ i"'),
    ("string-downcase", ["ПРИВЕТ, Мир"], '"привет, мир"'),
    ("substring", ["hello", 1, 3], '"el"'),
    ("substring", ["héllo", 1, 3], '"él"'),
    ("substring", ["héllo", 0, 5], '"héllo"'),
    ("substring", ["héllo", 5, 5], '""'),
    ("substring", ["😀a😀", 2, 3], '"😀"'),
    ("string-ref", ["h😀é", 1], '"😀"'),
    ("string-ref", ["h😀é", 2], '"é"'),
    ("string-ref", ["abc", 0], '"a"'),
    ("string-split", ["a,b,,c", ","], '["a" "b" "" "c"]'),
    ("string-split", ["", ","], '[""]'),
    ("string-split", [",", ","], '["" ""]'),
    ("string-split", ["abc", ","], '["abc"]'),
    ("string-split", ["a--b--c", "--"], '["a" "b" "c"]'),
    ("string-split", ["a😀b😀", "😀"], '["a" "b" ""]'),
    ("string-split", ["aaa", "aa"], '["" "a"]'),
    ("string-join", [["a", "b", "c"], ", "], '"a, b, c"'),
    ("string-join", [[], ","], '""'),
    ("string-join", [["é"], "--"], '"é"'),
    ("string-join", [["x", "y"], ""], '"xy"'),
    ("string-contains?", ["hello", "ell"], "true"),
    ("string-contains?", ["hello", ""], "true"),
    ("string-contains?", ["", ""], "true"),
    ("string-contains?", ["abc", "d"], "false"),
    ("string-contains?", ["ab", "abc"], "false"),
    ("string-contains?", ["naïve", "ïv"], "true"),
    ("string-starts-with?", ["hello", "he"], "true"),
    ("string-starts-with?", ["hello", ""], "true"),
    ("string-starts-with?", ["he", "hello"], "false"),
    ("string-starts-with?", ["éa", "é"], "true"),
    ("string-ends-with?", ["hello", "llo"], "true"),
    ("string-ends-with?", ["hello", ""], "true"),
    ("string-ends-with?", ["lo", "hello"], "false"),
    ("string-ends-with?", ["hello", "hel"], "false"),
    ("string-replace", ["a-b-c", "-", "+"], '"a+b+c"'),
    ("string-replace", ["aaa", "aa", "b"], '"ba"'),
    ("string-replace", ["abc", "x", "y"], '"abc"'),
    ("string-replace", ["héllo wörld", "ö", "oe"], '"héllo woerld"'),
    ("string-replace", ["a.b", ".", ""], '"ab"'),
    ("string-replace", ["xx", "x", "😀"], '"😀😀"'),
    ("string-trim", ["  a b \n\t"], '"a b"'),
    ("string-trim", ["\u00a0\u3000x\u2003"], '"x"'),
    ("string-trim", ["   "], '""'),
    ("string-trim", [""], '""'),
    ("string-trim", ["abc"], '"abc"'),
    ("string-trim", [" é "], '"é"'),
    ("string->list", ["a😀é"], '["a" "😀" "é"]'),
    ("string->list", [""], "[]"),
    ("list->string", [["a", "😀", "bc"]], '"a😀bc"'),
    ("list->string", [[]], '""'),
    ("string-index-of", ["h😀llo", "llo"], "2"),
    ("string-index-of", ["hello", "l"], "2"),
    ("string-index-of", ["abc", "z"], "nil"),
    ("string-index-of", ["abc", ""], "0"),
    ("to-string", ["a\"b"], '"a\\"b"'),
    ("to-string", [[1, "a"]], '"[1 \\"a\\"]"'),
    ("to-string", [5], '"5"'),
    ("to-string", [None], '"nil"'),
    ("show", ["a"], '"\\"a\\""'),
    ("show", [[1, "a"]], '"[1 \\"a\\"]"'),
]


@pytest.mark.parametrize("name,args,expected", STRING_CASES)
def test_string_builtins(rt, name, args, expected):
    assert rt.show_run(name, *args) == expected


STRING_ERRORS = [
    ("string-length", [5], "type-error", "`string-length` expects a string, got an int: 5"),
    ("string-append", ["a", 1], "type-error", "`string-append` expects a string, got an int: 1"),
    ("concat", [[1]], "type-error", "`concat` expects a string, got a list: [1]"),
    ("string-concat", ["a", "b", "c", None], "type-error", "`string-concat` expects a string, got nil"),
    ("string-upcase", [Keyword("k")], "type-error", "`string-upcase` expects a string, got a keyword: :k"),
    ("substring", ["abc", 2, 5], "index-error", "index 5 out of bounds for a string of length 3"),
    ("substring", ["abc", -1, 2], "index-error", "index -1 out of bounds for a string of length 3"),
    ("substring", ["héllo", 6, 6], "index-error", "index 6 out of bounds for a string of length 5"),
    ("substring", ["abc", 2, 1], "index-error", "`substring` start 2 is after its end 1"),
    ("substring", ["abc", "1", 2], "type-error", '`substring` expects an int, got a string: "1"'),
    ("string-ref", ["abc", 3], "index-error", "index 3 out of bounds for a string of length 3"),
    ("string-ref", ["😀", -1], "index-error", "index -1 out of bounds for a string of length 1"),
    ("string-ref", ["", 0], "index-error", "index 0 out of bounds for a string of length 0"),
    ("string-split", ["abc", ""], "value-error", "`string-split` separator must not be empty"),
    ("string-split", ["abc", 1], "type-error", "`string-split` expects a string, got an int: 1"),
    ("string-join", [["a", 1], ","], "type-error", "`string-join` expects a list of strings, got an int: 1"),
    ("string-join", ["ab", ","], "type-error", '`string-join` expects a list of strings, got a string: "ab"'),
    ("string-join", [["a"], None], "type-error", "`string-join` expects a string, got nil"),
    ("list->string", [[1]], "type-error", "`list->string` expects a list of strings, got an int: 1"),
    ("string-replace", ["abc", "", "x"], "value-error", "`string-replace` text to replace must not be empty"),
    ("string-replace", ["abc", "a", 1], "type-error", "`string-replace` expects a string, got an int: 1"),
    ("string-contains?", [1, "a"], "type-error", "`string-contains?` expects a string, got an int: 1"),
    ("string-starts-with?", ["a", 1], "type-error", "`string-starts-with?` expects a string, got an int: 1"),
    ("string-ends-with?", [[], "a"], "type-error", "`string-ends-with?` expects a string, got a list: []"),
    ("string-trim", [1.5], "type-error", "`string-trim` expects a string, got a float: 1.5"),
    ("string->list", [["a"]], "type-error", '`string->list` expects a string, got a list: ["a"]'),
    ("string-index-of", ["a", 1], "type-error", "`string-index-of` expects a string, got an int: 1"),
]


@pytest.mark.parametrize("name,args,type_,message", STRING_ERRORS)
def test_string_errors(rt, name, args, type_, message):
    error = rt.fails(name, *args)
    assert (error.type, error.message) == (type_, message)


@pytest.mark.parametrize("name,args", [
    ("string-length", []), ("substring", ["a", 0]), ("string-split", ["a"]), ("to-string", []),
    ("show", [1, 2]), ("print-line", []), ("string-upcase", ["a", "b"]),
])
def test_string_arity_errors(rt, name, args):
    error = rt.fails(name, *args)
    assert error.type == "arity-error" and f"`{name}`" in error.message


def _check_string_header(rt, v):
    """The code-point count and ASCII flag are what a fresh string of the same text has."""
    s = rt.ffi.cast("fl_string *", v - 1)
    text = rt.text(v)
    b = text.encode()
    assert (s.hdr.kind, s.hdr.aux, s.nbytes, s.ncodepoints) == (K_STRING, int(b.isascii()), len(b), len(text))


@pytest.mark.parametrize("name,args", [
    ("string-append", ["ab", "é"]), ("string-append", ["ab", "cd"]), ("substring", ["héllo", 2, 5]),
    ("substring", ["héllo", 0, 2]), ("string-replace", ["héllo", "é", "e"]), ("string-replace", ["hello", "e", "é"]),
    ("string-upcase", ["ı"]), ("string-downcase", ["\u212a"]), ("string-join", [["é", "a"], "ü"]),
    ("string-ref", ["é", 0]), ("string-trim", [" é "]), ("list->string", [["a", "b"]]),
    ("string-split", ["aé,b", ","]), ("string->list", ["aé"]),
])
def test_string_headers_are_exact(rt, name, args):
    result = rt.run(name, *args)
    if rt.kind(result) == K_STRING:
        _check_string_header(rt, result)
        return
    while result != FL_EMPTY:
        pair = rt.ffi.cast("fl_pair *", result - 1)
        _check_string_header(rt, pair.head)
        result = pair.tail


def _simple_upper(c: str) -> str:
    u = c.upper()
    if len(u) == 1:
        return u
    t = c.title()
    return t if len(t) == 1 else c


def _simple_lower(c: str) -> str:
    if c == "\u0130":
        return "i"
    low = c.lower()
    return low if len(low) == 1 else c


def test_case_mapping_of_every_code_point(rt):
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    upper = rt.py(rt.run("string-upcase", text))
    lower = rt.py(rt.run("string-downcase", text))
    assert len(upper) == len(lower) == len(text)
    assert upper == "".join(map(_simple_upper, text))
    assert lower == "".join(map(_simple_lower, text))


def test_print_line_writes_the_display_form(rt, capfd):
    assert rt.run("print-line", "héllo") == FL_NIL
    assert rt.run("print-line", Map([("a", [1, "b"]), (Keyword("k"), None)])) == FL_NIL
    rt.lib.fl_flush()
    assert capfd.readouterr().out == 'héllo\n{"a" [1 "b"] :k nil}\n'


def test_strings_are_compared_and_split_by_python_rules(rt):
    rng = random.Random(3)
    alphabet = ["a", "b", ",", "é", "😀", " "]
    for _ in range(300):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        sep = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 3)))
        assert rt.py(rt.run("string-split", s, sep)) == s.split(sep)
        assert rt.py(rt.run("string-replace", s, sep, "<>")) == s.replace(sep, "<>")
        assert rt.py(rt.run("string-contains?", s, sep)) == (sep in s)
        index = s.find(sep)
        assert rt.py(rt.run("string-index-of", s, sep)) == (None if index < 0 else index)
        assert rt.py(rt.run("string-trim", s)) == s.strip()
        assert rt.py(rt.run("string-join", s.split(sep), sep)) == s


# ---- maps ----------------------------------------------------------------------------------------

MAP_CASES = [
    ("get", [{"a": 1}, "a"], "1"),
    ("get", [{"a": 1}, "b"], "nil"),
    ("get", [{"a": 1}, "b", 0], "0"),
    ("get", [{"a": 1}, "a", 0], "1"),
    ("get", [{}, "a"], "nil"),
    ("get", [Map([(1, "one")]), 1.0], '"one"'),
    ("get", [Map([([1, 2], "list")]), [1, 2.0]], '"list"'),
    ("get", [Map([({"x": 1}, "map")]), {"x": 1}], '"map"'),
    ("get", [Map([(Keyword("k"), 5)]), Keyword("k")], "5"),
    ("get", [Map([(Data("Some", (1,)), 5)]), Data("Some", (1,))], "5"),
    ("get", [Map([(None, 1), (False, 2)]), False], "2"),
    ("set", [{}, "a", 1], '{"a" 1}'),
    ("set", [{"a": 1, "b": 2}, "a", 9], '{"a" 9 "b" 2}'),
    ("set", [{"a": 1, "b": 2}, "c", 3], '{"a" 1 "b" 2 "c" 3}'),
    ("set", [Map([(1, "x")]), 1.0, "y"], '{1 "y"}'),
    ("set", [Map([(2.0, "x")]), 2, "y"], '{2.0 "y"}'),
    ("dict-remove", [{"a": 1, "b": 2}, "a"], '{"b" 2}'),
    ("dict-remove", [{"a": 1}, "z"], '{"a" 1}'),
    ("dict-remove", [{}, "z"], "{}"),
    ("dict-keys", [{"b": 1, "a": 2}], '["b" "a"]'),
    ("dict-keys", [{}], "[]"),
    ("dict-values", [{"b": 1, "a": 2}], "[1 2]"),
    ("dict-size", [{}], "0"),
    ("dict-size", [{"a": 1, "b": 2}], "2"),
    ("dict-has?", [{"a": None}, "a"], "true"),
    ("dict-has?", [{"a": 1}, "b"], "false"),
    ("dict-merge", [{"a": 1, "b": 2}, {"b": 3, "c": 4}], '{"a" 1 "b" 3 "c" 4}'),
    ("dict-merge", [{}, {"x": 1}], '{"x" 1}'),
    ("dict-merge", [{"x": 1}, {}], '{"x" 1}'),
    ("dict-merge", [{"c": 1, "a": 2}, {"b": 3, "a": 4, "d": 5}], '{"c" 1 "a" 4 "b" 3 "d" 5}'),
    ("tuple", ["Some", 5], "(Some 5)"),
    ("tuple", ["None"], "(None)"),
    ("tuple", ["Rect", 1, 2, 3, [4]], "(Rect 1 2 3 [4])"),
]


@pytest.mark.parametrize("name,args,expected", MAP_CASES)
def test_map_builtins(rt, name, args, expected):
    assert rt.show_run(name, *args) == expected


MAP_ERRORS = [
    ("get", [5, "a"], "type-error", "`get` expects a map, got an int: 5"),
    ("get", [[1], 0], "type-error", "`get` expects a map, got a list: [1]"),
    ("set", [None, 1, 2], "type-error", "`set` expects a map, got nil"),
    ("dict-remove", ["m", 1], "type-error", '`dict-remove` expects a map, got a string: "m"'),
    ("dict-keys", [[]], "type-error", "`dict-keys` expects a map, got a list: []"),
    ("dict-values", [1], "type-error", "`dict-values` expects a map, got an int: 1"),
    ("dict-size", [1], "type-error", "`dict-size` expects a map, got an int: 1"),
    ("dict-has?", [1, 1], "type-error", "`dict-has?` expects a map, got an int: 1"),
    ("dict-merge", [{}, 1], "type-error", "`dict-merge` expects a map, got an int: 1"),
    ("tuple", [5, 1], "type-error", "`tuple` expects a string tag, got an int: 5"),
]


@pytest.mark.parametrize("name,args,type_,message", MAP_ERRORS)
def test_map_errors(rt, name, args, type_, message):
    error = rt.fails(name, *args)
    assert (error.type, error.message) == (type_, message)


@pytest.mark.parametrize("name,args", [
    ("get", [{}]), ("get", [{}, 1, 2, 3]), ("set", [{}, 1]), ("tuple", []), ("dict-merge", [{}]),
])
def test_map_arity_errors(rt, name, args):
    error = rt.fails(name, *args)
    assert error.type == "arity-error" and f"`{name}`" in error.message


def test_tuple_is_a_data_value(rt):
    v = rt.run("tuple", "Pair", 1, "b")
    assert rt.kind(v) == K_DATA and rt.py(v) == Data("Pair", (1, "b"))
    assert rt.equal(v, rt.value(Data("Pair", (1, "b"))))


def test_hash_agrees_with_equality(rt):
    h = lambda x: rt.lib.fl_hash(rt.value(x))
    assert h(1) == h(1.0) and h(0) == h(-0.0) and h(2**62) == h(2.0**62) and h(-(2**63)) == h(-(2.0**63))
    assert h([1, [2, "a"]]) == h([1.0, [2, "a"]])
    assert h(Map([("a", 1), ("b", 2)])) == h(Map([("b", 2.0), ("a", 1)]))
    assert h(Data("S", (1,))) == h(Data("S", (1.0,)))
    assert h(Keyword("k")) == h(Keyword("k"))
    assert len({h(x) for x in [1, 2, 1.5, "1", [1], Keyword("1"), None, True, False, [], {}]}) == 11


def _typed(pairs):
    return [(type(k), k, type(v), v) for k, v in pairs]


def _check_against(rt, m, model: dict):
    """Same entries, same order, and the same first-written keys (1 stays 1 after setting 1.0)."""
    assert rt.lib.fl_map_size(m) == len(model)
    assert _typed(rt.py(m)) == _typed(model.items())


def _random_ops(rt, seed: int, steps: int):
    """Random sets and removes against a Python dict (which also treats 1 and 1.0 as one key)."""
    rng = random.Random(seed)
    pool = list(range(40)) + [float(i) for i in range(0, 40, 3)] + [f"k{i}" for i in range(40)] + [2.5, -0.0]
    m, model = rt.lib.fl_map_empty(), {}
    history = []
    for step in range(steps):
        key = rng.choice(pool)
        if rng.random() < 0.3:
            m = rt.keep(rt.lib.fl_map_remove(m, rt.value(key)))
            model.pop(key, None)
        else:
            m = rt.keep(rt.lib.fl_map_set(m, rt.value(key), rt.value(step)))
            model[key] = step
        if step % 97 == 0:
            _check_against(rt, m, model)
            history.append((rt.pin(m), dict(model)))
    for key in pool:
        assert rt.py(rt.lib.fl_map_get(m, rt.value(key), rt.value("absent"))) == model.get(key, "absent")
        assert rt.lib.fl_map_has(m, rt.value(key)) == (key in model)
    for old, snapshot in history:   # persistence: old versions never change
        _check_against(rt, old, snapshot)


def test_map_matches_a_python_dict(rt):
    _random_ops(rt, seed=1, steps=4000)


def test_map_with_hash_collisions_matches_a_python_dict(rt_weak_hash):
    _random_ops(rt_weak_hash, seed=2, steps=4000)
    rt = rt_weak_hash
    m = rt.map_of((i, i * i) for i in range(500))
    assert all(rt.py(rt.lib.fl_map_get(m, rt.value(i), FL_NIL)) == i * i for i in range(500))
    for i in range(0, 500, 2):
        m = rt.keep(rt.lib.fl_map_remove(m, rt.value(i)))
    _check_against(rt, m, {i: i * i for i in range(1, 500, 2)})


N_MAP = 10**5


def test_owned_set_with_hash_collisions_matches_a_python_dict(rt_weak_hash):
    """The in-place `set` (passes/owned_maps.py) finds and puts in one walk: new keys,
    overwritten keys (first-written key and place kept) and heap values written over
    pointer-free entries, through collision nodes (a 4-bit hash), with collections between."""
    rt = rt_weak_hash
    rng = random.Random(3)
    pool = list(range(60)) + [float(i) for i in range(0, 60, 4)] + [f"k{i}" for i in range(30)]
    m, model = rt.lib.fl_map_empty(), {}
    for step in range(3000):
        key = rng.choice(pool)
        value = f"v{step}" if step % 3 == 0 else step
        m = rt.keep(rt.lib.fl_bi_set_owned(FL_NIL, 3, m, rt.value(key), rt.value(value), rt.ffi.NULL))
        model[key] = value
        if step % 101 == 0:
            rt.lib.fl_gc_collect()
            _check_against(rt, m, model)
    _check_against(rt, m, model)
    for key in pool:
        assert rt.py(rt.lib.fl_map_get(m, rt.value(key), rt.value("absent"))) == model.get(key, "absent")


def _flat_and_trie_mix(rt, seed: int, rounds: int):
    """Maps grown by owned sets (flat past 8 entries) and then shared: persistent sets, removes
    and merges of the shared versions (which go through the trie built from a flat map, once),
    equality and hashing across shapes, ordered reads; every version checked against a Python
    dict at the end, so an update that leaked into a shared version shows."""
    rng = random.Random(seed)
    pool = (list(range(50)) + [float(i) for i in range(0, 50, 4)] + [f"k{i}" for i in range(30)]
            + [Keyword(f"w{i}") for i in range(20)] + [-0.0, 2.5])
    nslots = 48
    slots = rt.lib.fl_constants_new(nslots)   # the shared versions, alive to the end
    models: list[dict | None] = [None] * nslots

    def share(m, model):
        i = rng.randrange(nslots)
        slots[i] = m
        models[i] = dict(model)

    def shared():
        full = [i for i in range(nslots) if models[i] is not None]
        i = rng.choice(full)
        return slots[i], models[i]

    def value_for(step):
        return f"v{step}" if step % 5 == 0 else step

    step = 0
    for _ in range(rounds):
        # a chain of owned sets, reading between them as compiled code may, from {} or from a
        # trie nobody else holds (its in-place updates, map.c large_set_owned)
        m, model = rt.lib.fl_map_empty(), {}
        if rng.random() < 0.25:
            model = {rng.choice(pool): value_for(-i) for i in range(12, 40)}
            m = rt.map_of(model.items())
        for _ in range(rng.choice([3, 9, 30, 120])):
            key, step = rng.choice(pool), step + 1
            m = rt.keep(rt.lib.fl_bi_set_owned(FL_NIL, 3, m, rt.value(key), rt.value(value_for(step)), rt.ffi.NULL))
            model[key] = value_for(step)
            probe = rng.choice(pool)
            assert rt.py(rt.lib.fl_map_get(m, rt.value(probe), rt.value("absent"))) == model.get(probe, "absent")
            assert rt.lib.fl_map_has(m, rt.value(probe)) == (probe in model)
        _check_against(rt, m, model)
        share(m, model)
        # persistent updates of shared versions, several of the same one
        for _ in range(rng.randrange(1, 12)):
            old, old_model = shared()
            op, key, step = rng.random(), rng.choice(pool), step + 1
            if op < 0.5:
                new = rt.lib.fl_map_set(old, rt.value(key), rt.value(value_for(step)))
                new_model = dict(old_model)
                new_model[key] = value_for(step)
            elif op < 0.8:
                new = rt.lib.fl_map_remove(old, rt.value(key))
                new_model = {k: v for k, v in old_model.items() if k != key}
            else:
                other, other_model = shared()
                new = rt.run("dict-merge", Raw(old), Raw(other))
                new_model = dict(old_model)
                new_model.update(other_model)
            share(rt.keep(new), new_model)
        # equality and hashing across shapes: the same entries in another order, built persistently
        m, model = shared()
        items = list(model.items())
        rng.shuffle(items)
        again = rt.map_of(items)
        assert rt.equal(m, again) and rt.equal(again, m)
        assert rt.lib.fl_hash(m) == rt.lib.fl_hash(again)
        other, other_model = shared()
        assert rt.equal(m, other) == (model == other_model)
        assert rt.py(rt.run("dict-keys", Raw(m))) == list(model)
        assert rt.py(rt.run("dict-values", Raw(m))) == list(model.values())
        if rng.random() < 0.2:
            rt.lib.fl_gc_collect()
    for i in range(nslots):
        if models[i] is not None:
            _check_against(rt, slots[i], models[i])


def test_flat_and_trie_maps_match_a_python_dict(rt):
    _flat_and_trie_mix(rt, seed=5, rounds=300)


def test_flat_and_trie_maps_with_hash_collisions_match_a_python_dict(rt_weak_hash):
    _flat_and_trie_mix(rt_weak_hash, seed=6, rounds=300)


def test_map_of_100k_entries(rt):
    lib = rt.lib
    m = lib.fl_map_empty()
    for i in range(N_MAP):
        m = rt.keep(lib.fl_map_set(m, rt.value(f"key{i}"), fixnum(i)))
    rt.pin(m)   # it outlives the ring of kept values
    assert lib.fl_map_size(m) == N_MAP
    assert all(lib.fl_map_get(m, rt.value(f"key{i}"), FL_NIL) == fixnum(i) for i in range(0, N_MAP, 7))
    assert lib.fl_map_get(m, rt.value("nope"), FL_NIL) == FL_NIL
    assert rt.text(lib.fl_map_key_at(m, 0)) == "key0"
    assert rt.text(lib.fl_map_key_at(m, N_MAP - 1)) == f"key{N_MAP - 1}"
    assert rt.text(lib.fl_map_key_at(m, 12345)) == "key12345"
    # An update keeps the key's place and leaves the old version alone.
    m2 = rt.pin(lib.fl_map_set(m, rt.value("key500"), rt.value("new")))
    assert rt.text(lib.fl_map_key_at(m2, 500)) == "key500" and rt.text(lib.fl_map_value_at(m2, 500)) == "new"
    assert lib.fl_map_value_at(m, 500) == fixnum(500)
    # Removing every other key keeps the rest in order.
    smaller = m
    for i in range(0, N_MAP, 2):
        smaller = rt.keep(lib.fl_map_remove(smaller, rt.value(f"key{i}")))
    rt.pin(smaller)
    assert lib.fl_map_size(smaller) == N_MAP // 2 and lib.fl_map_size(m) == N_MAP
    keys = rt.py(rt.run("dict-keys", Raw(smaller)))
    assert keys == [f"key{i}" for i in range(1, N_MAP, 2)]
    assert rt.py(rt.run("dict-values", Raw(smaller)))[:3] == [1, 3, 5]
    assert lib.fl_map_get(smaller, rt.value("key2"), FL_NIL) == FL_NIL
    assert lib.fl_map_has(smaller, rt.value("key3"))
    # Re-adding a removed key puts it at the end.
    again = rt.keep(lib.fl_map_set(smaller, rt.value("key0"), fixnum(0)))
    assert rt.text(lib.fl_map_key_at(again, N_MAP // 2)) == "key0"
    # Equality ignores order; merge keeps m1's order.
    merged = rt.run("dict-merge", Raw(smaller), Raw(m))
    assert rt.equal(merged, m2) is False and rt.equal(merged, m)
    assert rt.py(rt.run("dict-keys", Raw(merged)))[:2] == ["key1", "key3"]
    # Shrinking back below the small-map size.
    tiny = m
    for i in range(N_MAP - 5):
        tiny = rt.keep(lib.fl_map_remove(tiny, rt.value(f"key{i}")))
    assert rt.show(tiny) == "{" + " ".join(f'"key{i}" {i}' for i in range(N_MAP - 5, N_MAP)) + "}"


def test_set_of_an_unchanged_value_returns_the_same_map(rt):
    m = rt.value({"a": 1, "b": 2})
    assert rt.lib.fl_map_set(m, rt.value("a"), fixnum(1)) == m
    big = rt.map_of((i, i) for i in range(20))
    assert rt.lib.fl_map_set(big, rt.value(3), fixnum(3)) == big


def _churn(rt, seed: int):
    """Removing and re-adding keys of a large map spreads its sequence numbers
    far apart; insertion order must still come out right (a re-added key goes last)."""
    rng = random.Random(seed)
    m, model = rt.lib.fl_map_empty(), {}
    for i in range(100):
        m = rt.keep(rt.lib.fl_map_set(m, rt.value(i), rt.value(f"v{i}")))
        model[i] = f"v{i}"
    snapshots = []
    for step in range(3000):
        key = rng.randrange(100)
        m = rt.keep(rt.lib.fl_map_remove(m, rt.value(key)))
        model.pop(key)
        m = rt.keep(rt.lib.fl_map_set(m, rt.value(float(key)), rt.value(step)))
        model[float(key)] = step
        if step % 500 == 0:
            snapshots.append((rt.pin(m), dict(model)))
    m = rt.keep(rt.lib.fl_map_set(m, rt.value(7), rt.value("last")))   # an update keeps its place
    model[7] = "last"
    _check_against(rt, m, model)
    assert rt.py(rt.run("dict-keys", Raw(m))) == list(model)
    for old, snapshot in snapshots:
        _check_against(rt, old, snapshot)


def test_map_order_survives_heavy_churn(rt):
    _churn(rt, seed=3)


def test_map_order_survives_heavy_churn_with_hash_collisions(rt_weak_hash):
    _churn(rt_weak_hash, seed=4)


# ---- GC stress -----------------------------------------------------------------------------------

def test_under_gc_stress(rt):
    rt.lib.fl_set_gc_stress(1)
    try:
        n = 20000
        xs = rt.run("range", 0, n)
        mapped = rt.run("map", H("inc"), Raw(xs))
        sorted_ = rt.run("sort", Raw(rt.run("reverse", Raw(mapped))))
        assert rt.equal(sorted_, rt.run("range", 1, n + 1))
        words = rt.run("string-split", " ".join(f"wörd{i}" for i in range(2000)), " ")
        m = rt.lib.fl_map_empty()
        v = words
        i = 0
        while v != FL_EMPTY:
            pair = rt.ffi.cast("fl_pair *", v - 1)
            m = rt.keep(rt.lib.fl_map_set(m, pair.head, i))
            v, i = pair.tail, i + 1
        assert rt.py(rt.run("dict-keys", Raw(m))) == [f"wörd{i}" for i in range(2000)]
        assert rt.py(rt.run("string-join", Raw(words), "+")) == "+".join(f"wörd{i}" for i in range(2000))
    finally:
        rt.lib.fl_set_gc_stress(0)


def test_heap_values_put_into_fixnum_only_nodes_stay_alive(rt):
    """Trie nodes holding only fixnums are allocated where the GC never looks; a
    string key or value set into one must land in scanned memory. The strings
    here are referenced from nowhere but the map."""
    lib = rt.lib
    fresh = lambda s: lib.fl_make_string(s.encode(), len(s.encode()))
    lib.fl_set_gc_stress(1)
    try:
        n = 3000
        m = lib.fl_map_empty()
        for i in range(n):
            m = rt.keep(lib.fl_map_set(m, fixnum(i), fixnum(i)))
        numbers_only = rt.pin(m)
        assert lib.fl_map_key_at(numbers_only, n - 1) == fixnum(n - 1)   # its order cache is pointer-free
        for i in range(0, n, 3):
            m = rt.keep(lib.fl_map_set(m, fixnum(i), fresh(f"value{i}")))
        for i in range(300):
            m = rt.keep(lib.fl_map_set(m, fresh(f"key{i}"), fixnum(i)))
        rt.pin(m)
        for _ in range(5):
            rt.run("range", 0, 20000)   # garbage, so collections run
        for i in range(n):
            got = lib.fl_map_get(m, fixnum(i), FL_NIL)
            assert (rt.text(got) == f"value{i}") if i % 3 == 0 else got == fixnum(i)
        assert all(lib.fl_map_get(m, rt.value(f"key{i}"), FL_NIL) == fixnum(i) for i in range(300))
        assert rt.text(lib.fl_map_value_at(m, 0)) == "value0" and rt.text(lib.fl_map_key_at(m, n + 299)) == "key299"
        assert lib.fl_map_value_at(numbers_only, 0) == fixnum(0)
    finally:
        lib.fl_set_gc_stress(0)
