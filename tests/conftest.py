"""Pytest configuration shared by the whole suite.

In: pytest's command line. Out: the `--update-goldens` option and the `update_goldens`
fixture, which tells golden tests (tests/test_cases.py) to rewrite their expected files from
the current compiler's output instead of comparing against them. The rewritten files are
meant to be reviewed as a diff before they are committed.
"""
from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite tests/cases/*.out, *.err and *.status from the jit-O2 run "
             "instead of comparing against them",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))
