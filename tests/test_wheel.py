"""`pip install .` gives a working compiler: the wheel carries the C runtime's sources.

Builds a wheel from a copy of the source tree (`pip wheel --no-deps --no-build-isolation`),
installs it into a fresh venv whose only other packages are this venv's (a .pth line, so
nothing is downloaded and the editable install here is not seen), then runs
`fluentai jit -e` and `fluentai compile` from it with an empty cache: the runtime is built
from the wheel's own copy of runtime_c/. About 10 s.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def run(*command, **kwargs):
    kwargs.setdefault("timeout", 300)
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command}: {result.stdout}\n{result.stderr}"
    return result


def test_wheel_installs_into_a_fresh_venv_and_compiles(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    for name in ("fluentai", "runtime_c"):
        shutil.copytree(REPO_ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(*pip, "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist",
        cwd=source)
    (wheel,) = (tmp_path / "dist").glob("fluentai-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    runtime = sorted(p.name for p in (REPO_ROOT / "runtime_c").iterdir()
                     if p.suffix in (".c", ".h", ".S"))
    assert sorted(n.split("/")[-1] for n in names if n.startswith("fluentai/runtime_c/")) == runtime
    assert "fluentai/frontend/grammar.lark" in names

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    Path(site, "_deps_from_test_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(*pip, "--python", python, "install", "-q", "--no-deps", "--no-index", wheel)

    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"),
               FLUENTAI_CACHE_DIR=str(tmp_path / "jit-cache"))
    env.pop("FLUENTAI_RUNTIME_DIR", None)
    where = run(python, "-c", "import fluentai.backend.rt_build as r; print(r.runtime_c_dir())",
                cwd=work, env=env).stdout.strip()
    assert where == str(Path(site) / "fluentai" / "runtime_c")
    fluentai = venv / "bin" / "fluentai"
    r = run(fluentai, "jit", "-e", '(io:print "from the wheel" (+ 1 2))', cwd=work, env=env)
    assert r.stdout == "from the wheel 3\n"
    (work / "p.fl").write_text('(define (sq x) (* x x))\n(print-line (sq 12))\n')
    run(fluentai, "compile", "p.fl", "-o", "p", cwd=work, env=env)
    assert run(work / "p").stdout == "144\n"
