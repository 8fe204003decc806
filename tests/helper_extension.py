"""Test-only C helpers compiled into a cffi extension that shares the loaded runtime.

In: a C file under tests/ and the cdef of its entry points. Out: the imported module.
The helpers' fl_* references resolve against the runtime extension Python already
loaded (made global first), so helpers and generated code see one runtime instance.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
from pathlib import Path

from fluentai.backend import rt_build

HERE = Path(__file__).resolve().parent


def build_helper_extension(directory: Path, c_file: str, module_name: str, cdef: str):
    import cffi

    ctypes.CDLL(str(rt_build.runtime_extension_path()), mode=os.RTLD_GLOBAL | os.RTLD_NOLOAD)
    shutil.copy(HERE / c_file, directory / c_file)
    hffi = cffi.FFI()
    hffi.cdef(cdef)
    prototypes = cdef.replace("typedef int64_t fl_value;", "")
    hffi.set_source(module_name, '#include "fluentai.h"\n' + prototypes, sources=[c_file],
                    include_dirs=[str(rt_build.runtime_c_dir())], extra_compile_args=["-O1"])
    library = hffi.compile(tmpdir=str(directory))
    spec = importlib.util.spec_from_file_location(module_name, library)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
