"""The builtin functions of the language (LANGUAGE.md section 5): the single Python list.

Each row is (FluentAI name, minimum arguments, maximum arguments or -1 for
variadic, C symbol). Every C symbol has the uniform closure signature (see
runtime_c/fluentai.h) and is also listed, with the same arities, in the
runtime's builtin table; ``tests/test_builtins_table.py`` checks the two agree.
The frontend uses the names for scoping and arity warnings; the backend uses the
symbols for direct calls.
"""
from __future__ import annotations

from typing import NamedTuple


class Builtin(NamedTuple):
    name: str
    min_args: int
    max_args: int          # -1: variadic
    c_symbol: str

    def accepts(self, n: int) -> bool:
        return n >= self.min_args and (self.max_args < 0 or n <= self.max_args)


BUILTINS: dict[str, Builtin] = {b.name: b for b in [
    Builtin('+', 0, -1, 'fl_bi_add'),
    Builtin('-', 1, -1, 'fl_bi_sub'),
    Builtin('*', 0, -1, 'fl_bi_mul'),
    Builtin('/', 1, -1, 'fl_bi_div'),
    Builtin('mod', 2, 2, 'fl_bi_mod'),
    Builtin('quotient', 2, 2, 'fl_bi_quotient'),
    Builtin('remainder', 2, 2, 'fl_bi_remainder'),
    Builtin('abs', 1, 1, 'fl_bi_abs'),
    Builtin('min', 1, -1, 'fl_bi_min'),
    Builtin('max', 1, -1, 'fl_bi_max'),
    Builtin('floor', 1, 1, 'fl_bi_floor'),
    Builtin('ceil', 1, 1, 'fl_bi_ceil'),
    Builtin('round', 1, 1, 'fl_bi_round'),
    Builtin('sqrt', 1, 1, 'fl_bi_sqrt'),
    Builtin('expt', 2, 2, 'fl_bi_expt'),
    Builtin('to-int', 1, 1, 'fl_bi_to_int'),
    Builtin('to-float', 1, 1, 'fl_bi_to_float'),
    Builtin('<', 2, -1, 'fl_bi_lt'),
    Builtin('>', 2, -1, 'fl_bi_gt'),
    Builtin('<=', 2, -1, 'fl_bi_le'),
    Builtin('>=', 2, -1, 'fl_bi_ge'),
    Builtin('==', 1, -1, 'fl_bi_eq'),
    Builtin('=', 1, -1, 'fl_bi_eq_alias'),
    Builtin('!=', 2, -1, 'fl_bi_ne'),
    Builtin('not=', 2, -1, 'fl_bi_not_eq'),
    Builtin('not', 1, 1, 'fl_bi_not'),
    Builtin('int?', 1, 1, 'fl_bi_int_p'),
    Builtin('float?', 1, 1, 'fl_bi_float_p'),
    Builtin('number?', 1, 1, 'fl_bi_number_p'),
    Builtin('string?', 1, 1, 'fl_bi_string_p'),
    Builtin('bool?', 1, 1, 'fl_bi_bool_p'),
    Builtin('nil?', 1, 1, 'fl_bi_nil_p'),
    Builtin('list?', 1, 1, 'fl_bi_list_p'),
    Builtin('map?', 1, 1, 'fl_bi_map_p'),
    Builtin('keyword?', 1, 1, 'fl_bi_keyword_p'),
    Builtin('symbol?', 1, 1, 'fl_bi_symbol_p'),
    Builtin('function?', 1, 1, 'fl_bi_function_p'),
    Builtin('promise?', 1, 1, 'fl_bi_promise_p'),
    Builtin('channel?', 1, 1, 'fl_bi_channel_p'),
    Builtin('empty?', 1, 1, 'fl_bi_empty_p'),
    Builtin('null?', 1, 1, 'fl_bi_null_p'),
    Builtin('list', 0, -1, 'fl_bi_list'),
    Builtin('cons', 2, 2, 'fl_bi_cons'),
    Builtin('head', 1, 1, 'fl_bi_head'),
    Builtin('car', 1, 1, 'fl_bi_car'),
    Builtin('tail', 1, 1, 'fl_bi_tail'),
    Builtin('cdr', 1, 1, 'fl_bi_cdr'),
    Builtin('length', 1, 1, 'fl_bi_length'),
    Builtin('nth', 2, 2, 'fl_bi_nth'),
    Builtin('last', 1, 1, 'fl_bi_last'),
    Builtin('append', 0, -1, 'fl_bi_append'),
    Builtin('reverse', 1, 1, 'fl_bi_reverse'),
    Builtin('take', 2, 2, 'fl_bi_take'),
    Builtin('drop', 2, 2, 'fl_bi_drop'),
    Builtin('range', 2, 3, 'fl_bi_range'),
    Builtin('map', 2, 2, 'fl_bi_map'),
    Builtin('for-each', 2, 2, 'fl_bi_for_each'),
    Builtin('filter', 2, 2, 'fl_bi_filter'),
    Builtin('fold', 3, 3, 'fl_bi_fold'),
    Builtin('reduce', 3, 3, 'fl_bi_reduce'),
    Builtin('fold-right', 3, 3, 'fl_bi_fold_right'),
    Builtin('any?', 2, 2, 'fl_bi_any_p'),
    Builtin('all?', 2, 2, 'fl_bi_all_p'),
    Builtin('sort', 1, 1, 'fl_bi_sort'),
    Builtin('sort-by', 2, 2, 'fl_bi_sort_by'),
    Builtin('sum', 1, 1, 'fl_bi_sum'),
    Builtin('product', 1, 1, 'fl_bi_product'),
    Builtin('zip', 2, 2, 'fl_bi_zip'),
    Builtin('contains?', 2, 2, 'fl_bi_contains_p'),
    Builtin('index-of', 2, 2, 'fl_bi_index_of'),
    Builtin('apply', 2, 2, 'fl_bi_apply'),
    Builtin('string-length', 1, 1, 'fl_bi_string_length'),
    Builtin('string-append', 0, -1, 'fl_bi_string_append'),
    Builtin('concat', 0, -1, 'fl_bi_concat'),
    Builtin('string-concat', 0, -1, 'fl_bi_string_concat'),
    Builtin('string-upcase', 1, 1, 'fl_bi_string_upcase'),
    Builtin('string-downcase', 1, 1, 'fl_bi_string_downcase'),
    Builtin('substring', 3, 3, 'fl_bi_substring'),
    Builtin('string-ref', 2, 2, 'fl_bi_string_ref'),
    Builtin('string-split', 2, 2, 'fl_bi_string_split'),
    Builtin('string-join', 2, 2, 'fl_bi_string_join'),
    Builtin('string-contains?', 2, 2, 'fl_bi_string_contains_p'),
    Builtin('string-starts-with?', 2, 2, 'fl_bi_string_starts_with_p'),
    Builtin('string-ends-with?', 2, 2, 'fl_bi_string_ends_with_p'),
    Builtin('string-replace', 3, 3, 'fl_bi_string_replace'),
    Builtin('string-trim', 1, 1, 'fl_bi_string_trim'),
    Builtin('string->list', 1, 1, 'fl_bi_string_to_list'),
    Builtin('list->string', 1, 1, 'fl_bi_list_to_string'),
    Builtin('string-index-of', 2, 2, 'fl_bi_string_index_of'),
    Builtin('to-string', 1, 1, 'fl_bi_to_string'),
    Builtin('show', 1, 1, 'fl_bi_show'),
    Builtin('print-line', 1, 1, 'fl_bi_print_line'),
    Builtin('get', 2, 3, 'fl_bi_get'),
    Builtin('set', 3, 3, 'fl_bi_set'),
    Builtin('dict-remove', 2, 2, 'fl_bi_dict_remove'),
    Builtin('dict-keys', 1, 1, 'fl_bi_dict_keys'),
    Builtin('dict-values', 1, 1, 'fl_bi_dict_values'),
    Builtin('dict-size', 1, 1, 'fl_bi_dict_size'),
    Builtin('dict-has?', 2, 2, 'fl_bi_dict_has_p'),
    Builtin('dict-merge', 2, 2, 'fl_bi_dict_merge'),
    Builtin('tuple', 1, -1, 'fl_bi_tuple'),
    Builtin('command-line-args', 0, 0, 'fl_bi_command_line_args'),
    Builtin('exit', 0, 1, 'fl_bi_exit'),
]}
