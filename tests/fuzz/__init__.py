"""FluentAI's own fuzzers (issue 12, item 2).

- `sexpr`: the S-expression values generated programs are made of, and their source text.
- `gen`: a seeded generator of well-formed, terminating programs over the whole language.
- `refeval`: a reference interpreter of those programs, giving their expected output.
- `runner`: runs a program in every mode (jit/aot x -O0/-O2) and compares the results.
- `mutate`: turns the golden cases into malformed and hostile sources, and their oracle.
- `minimise`: delta-debugging reducers for a failing program or mutant.
- `campaign`: the long campaign (`make fuzz`, `python -m tests.fuzz`), in parallel.
"""
