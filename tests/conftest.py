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


@pytest.fixture(scope="session")
def slow_dns(tmp_path_factory: pytest.TempPathFactory):
    """Environment additions that make a lookup of the host `slow.test` hang like a dead DNS
    server (tests/slow_dns.c, preloaded): call with the seconds it should take."""
    import os
    import subprocess
    from pathlib import Path

    from fluentai.backend import rt_build

    library = tmp_path_factory.mktemp("slow_dns") / "slow_dns.so"
    source = Path(__file__).with_name("slow_dns.c")
    subprocess.run([rt_build.c_compiler(), "-shared", "-fPIC", "-O1", str(source), "-o", str(library),
                    "-ldl"], check=True, capture_output=True)

    def environment(seconds: int) -> dict[str, str]:
        preload = " ".join(p for p in (os.environ.get("LD_PRELOAD", "").replace(":", " "), str(library)) if p)
        return {"LD_PRELOAD": preload, "SLOW_DNS_SECONDS": str(seconds)}
    return environment
