"""Pattern matching -> a decision tree in the IR (used by ``lower.py``).

In:  a ``Match`` node's subject value and clauses (frontend patterns).
Out: IR blocks that test the subject and its parts, binding pattern variables
     and lowering each reached clause body in the match's continuation.

The clause matrix is compiled column by column (after Maranget, "Compiling
pattern matching to good decision trees"): list patterns are first rewritten to
cons/empty shapes, then the first column where the first row is not a wildcard
is switched on; each head constructor gets a specialised matrix and the rows
with a wildcard there form the default. A value is therefore tested at most
once per path. A column of ``SWITCH_MIN`` or more literal heads is one
multi-way branch (``N.Switch``) instead of a chain of ``==`` tests: on the
untagged subject when it is a fixnum, else on the answer of one table lookup
(``_switch``). Clauses that no leaf reaches are reported as unreachable;
a switch over the constructors of a known ``data`` type with no default
reports the constructors left uncovered.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..diagnostics import Diagnostic
from ..frontend import ast as A
from . import nodes as N
from ..backend.abi import FIXNUM_MAX, FIXNUM_MIN
from .nodes import Rep


# A list pattern with this many literal elements in a row or more tests them in one call.
LITERAL_RUN_MIN = 16
# A column with this many distinct literal heads or more is one multi-way branch (``_switch``).
SWITCH_MIN = 8
# ... and with this many, when each gives a constant, the constants are in its table.
RESULT_TABLE_MIN = 256


# ---- normalised patterns ----------------------------------------------------

@dataclass
class Wild:
    binding: Optional[A.Binding] = None


@dataclass
class Lit:
    value: object


@dataclass
class Empty:
    pass


@dataclass
class Cons:
    head: object
    tail: object


@dataclass
class Ctor:
    name: str
    args: list


def normalise(p: A.Pattern):
    if isinstance(p, A.PWild):
        return Wild()
    if isinstance(p, A.PVar):
        return Wild(p.binding)
    if isinstance(p, A.PLit):
        return _literal(p.value)
    if isinstance(p, A.PCtor):
        return Ctor(p.name, [normalise(x) for x in p.args])
    if isinstance(p, A.PList):
        acc = normalise(p.rest) if p.rest is not None else Empty()
        for item in reversed(p.items):
            acc = Cons(normalise(item), acc)
        return acc
    raise AssertionError(p)


def _literal(v):
    """A literal pattern; a quoted list is the list pattern of its elements (``'(1 2)``
    is ``[1 2]``: == on lists is == of the elements), so that every head of a column
    is a literal atom, a list shape or a constructor, and no two kinds of head match
    one value."""
    if isinstance(v, tuple):
        acc = Empty()
        for x in reversed(v):
            acc = Cons(_literal(x), acc)
        return acc
    return Lit(v)


def _lit_key(v):
    """Literals equal under == share a key (0 and 0.0); other kinds never mix.
    Rows whose literals share a key are tested once, against the first of them, so
    two literals that == keeps apart must never share one: each quoted map is a
    literal of its own (a dict is not hashable, and Python's ``{1: 2} == {True: 2}``)."""
    if isinstance(v, bool) or v is None:
        return ("atom", repr(v))
    if isinstance(v, (int, float)):
        if isinstance(v, float) and v.is_integer():
            return ("num", int(v))
        return ("num", v)
    if isinstance(v, dict):
        return ("map", id(v))
    return (type(v).__name__, v)


def head_key(p):
    if isinstance(p, Lit):
        return ("lit",) + _lit_key(p.value)
    if isinstance(p, Empty):
        return ("empty",)
    if isinstance(p, Cons):
        return ("cons",)
    if isinstance(p, Ctor):
        return ("ctor", p.name, len(p.args))
    return None


def sub_patterns(p) -> list:
    if isinstance(p, Cons):
        return [p.head, p.tail]
    if isinstance(p, Ctor):
        return list(p.args)
    return []


def arity_of(p) -> int:
    return len(sub_patterns(p))


@dataclass
class Row:
    pats: list
    clause: int
    binds: list = field(default_factory=list)


class MatchCompiler:
    def __init__(self, lowerer, match: A.Match, subject: N.Value, ctx, data_types: dict):
        self.lw = lowerer
        self.match = match
        self.ctx = ctx
        self.data_types = data_types          # ctor name -> (type name, [all ctor names])
        self.reached: set[int] = set()
        self.subject = subject
        self.warned_missing: set = set()

    def compile(self) -> None:
        rows = [Row([normalise(c.pattern)], i) for i, c in enumerate(self.match.clauses)]
        self._compile(rows, [self.subject])
        for i, clause in enumerate(self.match.clauses):
            if i not in self.reached:
                self.lw.warn(Diagnostic("unreachable-clause", "this clause can never match: an "
                                        "earlier clause matches everything it matches",
                                        clause.span, severity="warning"))

    # ---- the tree ----

    def _compile(self, rows: list[Row], occs: list[N.Value]) -> None:
        lw = self.lw
        if not rows:
            # fl_match_fail raises, or returns an error:catch handler's answer: the match's value.
            answer = lw.emit(N.RuntimeCall("fl_match_fail", [self.subject], self.match.span))
            lw.deliver(self.ctx, answer)
            return
        first = rows[0]
        col = next((j for j, p in enumerate(first.pats) if not isinstance(p, Wild)), None)
        if col is None:
            self._leaf(first, occs)
            return
        occ = occs[col]
        run = self._literal_run(rows, col)
        if run is not None:
            self._compile_literal_run(rows, col, occs, *run)
            return
        heads, groups = self._specialise(rows, col, occ)
        chained = list(zip(heads, groups.values()))
        literals = [(h, s) for h, s in chained if isinstance(h, Lit)]
        if len(literals) >= SWITCH_MIN:
            # A literal (an atom or a map: quoted lists are list patterns) is never ==
            # to a list or a data value: the other heads are tested after the switch
            # misses, in their order.
            miss = lw.new_block("m_miss")
            results = self._constant_results(literals, col)
            if results is not None:
                self._lookup_result(occ, [h for h, _ in literals], results, miss)
            else:
                targets = self._switch(occ, [h for h, _ in literals], miss)
                for (h, specialised), target in zip(literals, targets):
                    lw.set_block(target)
                    self._compile_head(h, specialised, col, occs)
            lw.set_block(miss)
            chained = [(h, s) for h, s in chained if not isinstance(h, Lit)]
        for h, specialised in chained:
            yes, no = lw.new_block("m_yes"), lw.new_block("m_no")
            lw.emit(N.Branch(self._test(occ, h), yes, no))
            lw.set_block(yes)
            self._compile_head(h, specialised, col, occs)
            lw.set_block(no)
        default = []
        for r in rows:
            p = r.pats[col]
            if isinstance(p, Wild):
                binds = r.binds + ([(p.binding, occ)] if p.binding else [])
                default.append(Row(r.pats[:col] + r.pats[col + 1:], r.clause, binds))
        if not default:
            self._check_coverage(heads)
        self._compile(default, occs[:col] + occs[col + 1:])

    def _compile_head(self, h, specialised: list, col: int, occs: list[N.Value]) -> None:
        """The specialised matrix of head ``h``, where the value at ``occs[col]`` has it."""
        subs = self._extract(occs[col], h)
        # Rows with a wildcard here were recorded before their sub-occurrences existed.
        rows_for_h = [Row(r.pats[:col] + ([Wild()] * len(subs) if kind is None else kind)
                          + r.pats[col + 1:], r.clause, list(binds))
                      for r, kind, binds in specialised]
        self._compile(rows_for_h, occs[:col] + subs + occs[col + 1:])

    def _switch(self, occ: N.Value, literals: list, miss: N.Block) -> list[N.Block]:
        """End the current block in a multi-way branch on which of ``literals``
        (distinct ``_lit_key``s) ``occ`` is ``==`` to; returns the block of each
        literal, and ``miss`` is where a value equal to none goes.

        A fixnum is == only to the literals keyed by its own integer (``1`` and
        ``1.0``), so a fixnum subject is untagged and switched on directly. Any
        other value (a float, a string, a keyword...) is looked up in a table of
        all the literals built when the module starts (``fl_match_index``,
        runtime_c/match.c: fl_hash and fl_equal, so exactly the answers of the
        `==` tests of a chain, NaN and -0.0 included), and the switch is on the
        position it returns (-1: none)."""
        lw = self.lw
        targets = [lw.new_block("m_lit") for _ in literals]
        fixnum_cases = []
        for h, target in zip(literals, targets):
            kind, key = _lit_key(h.value)
            if kind == "num" and type(key) is int and FIXNUM_MIN <= key <= FIXNUM_MAX:
                fixnum_cases.append((key, target))
        if fixnum_cases:
            fixnum, generic = lw.new_block("m_fixnum"), lw.new_block("m_lookup")
            lw.emit(N.Branch(lw.emit(N.Prim("is_fixnum", [occ], None)), fixnum, generic))
            lw.set_block(fixnum)
            lw.emit(N.Switch(lw.emit(N.Untag(occ)), fixnum_cases, miss))
            lw.set_block(generic)
        table = lw.load_const(N.MatchTable(tuple(h.value for h in literals)))
        index = lw.emit(N.RuntimeCall("fl_match_index", [occ, table], None, rep=Rep.I64))
        lw.emit(N.Switch(index, list(enumerate(targets)), miss))
        return targets

    def _constant_results(self, literals: list, col: int) -> Optional[list]:
        """When there are ``RESULT_TABLE_MIN`` literals or more and each one's matrix
        starts with a row that matches anything left and whose body is a constant: the
        clause and the constant of each; else None."""
        if len(literals) < RESULT_TABLE_MIN:
            return None
        results = []
        clauses = self.match.clauses
        for _, specialised in literals:
            r = specialised[0][0]
            body = clauses[r.clause].body
            if type(body) is not A.Const:
                return None
            if len(r.pats) > 1 and not all(type(p) is Wild for p in r.pats[:col] + r.pats[col + 1:]):
                return None
            results.append((r.clause, body.value))
        return results

    def _lookup_result(self, occ: N.Value, literals: list, results: list, miss: N.Block) -> None:
        """The match's value is the constant of the arm of the literal ``occ`` is ==
        to: one lookup (``fl_match_index``) and one load from the table
        (``fl_match_result``), instead of a block per arm; -1 goes to ``miss``."""
        lw = self.lw
        table = lw.load_const(N.MatchTable(tuple(h.value for h in literals),
                                           tuple(value for _, value in results)))
        index = lw.emit(N.RuntimeCall("fl_match_index", [occ, table], None, rep=Rep.I64))
        hit = lw.new_block("m_hit")
        lw.emit(N.Switch(index, [(-1, miss)], hit))
        lw.set_block(hit)
        self.reached.update(clause for clause, _ in results)
        lw.deliver(self.ctx, lw.emit(N.RuntimeCall("fl_match_result", [table, index], None)))

    def _literal_run(self, rows: list[Row], col: int) -> Optional[tuple[list, object]]:
        """The literals and the rest of a list pattern in the first row's column ``col``
        that starts with at least ``LITERAL_RUN_MIN`` literal elements, when every other
        row has a wildcard there; else None.

        Switched on element by element, such a run fails into the same matrix at every
        element (the other rows, as they were before the run: what the run adds to them is
        wildcards without bindings), so it is tested as a whole, by one call that walks
        the list, instead of a test, a head and a tail per element: a pattern of 3,661
        literals was 160,000 lines of LLVM IR."""
        p = rows[0].pats[col]
        values = []
        while isinstance(p, Cons) and isinstance(p.head, Lit):
            values.append(p.head.value)
            p = p.tail
        if len(values) < LITERAL_RUN_MIN or not all(isinstance(r.pats[col], Wild) for r in rows[1:]):
            return None
        return values, p

    def _compile_literal_run(self, rows: list[Row], col: int, occs: list[N.Value],
                             values: list, rest) -> None:
        lw = self.lw
        occ = occs[col]
        yes, no = lw.new_block("m_yes"), lw.new_block("m_no")
        prefix = lw.constant(tuple(values))
        lw.emit(N.Branch(lw.emit(N.RuntimeCall("fl_list_has_prefix", [occ, prefix], None,
                                               rep=Rep.BOOL)), yes, no))
        lw.set_block(yes)
        tail = lw.emit(N.RuntimeCall("fl_list_drop_pairs", [occ, lw.const(Rep.I64, len(values))],
                                     None))
        first = rows[0]
        matched = [Row(first.pats[:col] + [rest] + first.pats[col + 1:], first.clause,
                       list(first.binds))]
        default = []
        for r in rows[1:]:
            p = r.pats[col]
            binds = r.binds + ([(p.binding, occ)] if p.binding else [])
            matched.append(Row(r.pats[:col] + [Wild()] + r.pats[col + 1:], r.clause, binds))
            default.append(Row(r.pats[:col] + r.pats[col + 1:], r.clause, list(binds)))
        self._compile(matched, occs[:col] + [tail] + occs[col + 1:])
        lw.set_block(no)
        self._compile(default, occs[:col] + occs[col + 1:])

    def _specialise(self, rows: list[Row], col: int, occ: N.Value):
        """The distinct heads of column ``col`` in order of appearance, and for each head's
        key the rows that its specialised matrix keeps, in row order, as (row, sub-patterns
        or None for a wildcard, bindings). One pass: a wildcard row joins every group, the
        groups opened after it included, so the work is the size of the result."""
        heads: list = []
        groups: dict = {}
        wild_so_far: list = []
        for r in rows:
            p = r.pats[col]
            if isinstance(p, Wild):
                entry = (r, None, r.binds + ([(p.binding, occ)] if p.binding else []))
                wild_so_far.append(entry)
                for group in groups.values():
                    group.append(entry)
                continue
            key = head_key(p)
            group = groups.get(key)
            if group is None:
                heads.append(p)
                group = groups[key] = list(wild_so_far)
            group.append((r, sub_patterns(p), r.binds))
        return heads, groups

    def _leaf(self, row: Row, occs: list[N.Value]) -> None:
        for p, occ in zip(row.pats, occs):
            if p.binding is not None:
                row.binds.append((p.binding, occ))
        from .lower import Ssa
        for b, v in row.binds:
            self.lw.state.env[b] = Ssa(v)
        self.reached.add(row.clause)
        self.lw.lower(self.match.clauses[row.clause].body, self.ctx)

    def _test(self, occ: N.Value, h) -> N.Value:
        lw = self.lw
        if isinstance(h, Lit):
            lit = lw.constant(h.value)
            return lw.emit(N.Prim("equal", [occ, lit], None))
        if isinstance(h, Empty):
            return lw.emit(N.Prim("is_empty", [occ], None))
        if isinstance(h, Cons):
            return lw.emit(N.Prim("is_pair", [occ], None))
        tag = lw.load_const(N.Special("name", h.name))
        return lw.emit(N.RuntimeCall("fl_data_is", [occ, tag, lw.const(Rep.I64, len(h.args))],
                                     None, rep=Rep.BOOL))

    def _extract(self, occ: N.Value, h) -> list[N.Value]:
        lw = self.lw
        if isinstance(h, Cons):
            return [lw.emit(N.Prim("unsafe_head", [occ], None)),
                    lw.emit(N.Prim("unsafe_tail", [occ], None))]
        if isinstance(h, Ctor):
            return [lw.emit(N.DataField(occ, i)) for i in range(len(h.args))]
        return []

    def _check_coverage(self, heads: list) -> None:
        names = [h.name for h in heads if isinstance(h, Ctor)]
        if not names or len(names) != len(heads) or names[0] not in self.data_types:
            return
        type_name, all_ctors = self.data_types[names[0]]
        missing = [c for c in all_ctors if c not in names]
        key = (type_name, tuple(missing))
        if missing and key not in self.warned_missing:
            self.warned_missing.add(key)
            listed = ", ".join(f"`{c}`" for c in missing)
            self.lw.warn(Diagnostic("non-exhaustive-match",
                                    f"match on `{type_name}` does not cover {listed}",
                                    self.match.span, severity="warning"))
