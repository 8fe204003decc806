"""The value tag scheme and object layouts, mirrored from runtime_c/fluentai.h.

Change both together: the code generator inlines these constants and offsets
into every fast path.
"""
FALSE = 0x03
NIL = 0x07
TRUE = 0x0B
EMPTY = 0x0F
UNBOUND = 0x13
IMMEDIATE_LIMIT = 0x1000

FIXNUM_MIN = -(1 << 62)
FIXNUM_MAX = (1 << 62) - 1

ARGC_BITS = 32
MAX_ARGS = (1 << ARGC_BITS) - 1
REG_ARGS = 3

# enum fl_kind
K_INT, K_FLOAT, K_STRING, K_PAIR, K_CLOSURE = 1, 2, 3, 4, 5

# byte offsets from the untagged object address
HEADER_KIND = 0
PAIR_HEAD = 8
PAIR_TAIL = 16
FLOAT_VALUE = 8
CLOSURE_CODE = 8
CLOSURE_ARITY = 16      # i32 arity, then i32 flags
CLOSURE_NAME = 24
CLOSURE_FREE = 32
CELL_VALUE = 8
DATA_FIELDS = 16

CLOSURE_HAS_REST = 1
SMALL_GRANULES = 4      # fl_small_free[1..4]: free lists of 16..64-byte objects


def fixnum(n: int) -> int:
    return (n << 1) & 0xFFFFFFFFFFFFFFFF


def argc(n: int, loc: int) -> int:
    return n | (loc << ARGC_BITS)
