"""Build hook: compiles rotpunkt's Halide kernels into the extension module ``rotpunkt.fast._kernels``.

Everything else about the package is declared in pyproject.toml. At build time (``pip install .``,
``pip install -e .``, ``python -m build``) this runs ``src/rotpunkt/fast/generate.py`` with the build
environment's Python, which has the ``halide`` wheel (a build requirement): the generator emits static
libraries of the pipelines, Halide's Python-extension glue and a standalone Halide runtime; then the
ordinary setuptools ``build_ext`` compiles the glue and links everything into one CPython module. The
result needs no Halide, LLVM or JIT at run time (numpy only), and targets the build machine's CPU
(``ROTPUNKT_HALIDE_TARGET`` may name another Halide target string).

Robustness: if anything in that fails (no halide wheel for this Python/platform, no C++ compiler,
a Halide error), the install still succeeds with a printed warning, ``rotpunkt.fast.AVAILABLE`` is
False, and its ``REASON`` (read from ``_build_info.json``) says why; rotpunkt then uses numpy.
``ROTPUNKT_NO_HALIDE=1`` skips the build on purpose.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
FAST_EXT = "rotpunkt.fast._kernels"
GENERATOR = HERE / "src" / "rotpunkt" / "fast" / "generate.py"
INFO_NAME = "_build_info.json"
GENERATE_TIMEOUT_S = 1200


def _warn(msg: str) -> None:
    bar = "=" * 78
    print(f"\n{bar}\nWARNING: rotpunkt.fast (compiled Halide kernels) not built:\n  {msg}\n"
          f"rotpunkt will use its numpy implementation (slower, same results).\n{bar}\n",
          file=sys.stderr, flush=True)


class BuildExtWithHalide(build_ext):
    """``build_ext`` that first generates the Halide kernels, and never fails because of them."""

    def run(self) -> None:
        self._fast_info = {"built": False, "reason": "", "python": sys.version.split()[0]}
        self._fast_t0 = time.perf_counter()
        ext = self._fast_ext()
        if ext is not None:
            try:
                self._generate(ext)
            except Exception as exc:  # noqa: BLE001 - any failure means: no fast path, numpy instead
                self._skip(ext, f"{type(exc).__name__}: {exc}")
        super().run()
        if ext is not None and ext in self.extensions:
            self._fast_info.update(built=True, seconds=round(time.perf_counter() - self._fast_t0, 1))
            print(f"rotpunkt.fast: Halide kernels built in {self._fast_info['seconds']} s", flush=True)
        self._write_info()

    def build_extension(self, ext) -> None:
        if ext.name != FAST_EXT:
            super().build_extension(ext)
            return
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - CompileError, LinkError, missing headers...
            self._skip(ext, f"compiling/linking the extension failed: {type(exc).__name__}: {exc}")

    # -- helpers ---------------------------------------------------------------------------------

    def _fast_ext(self):
        for ext in self.extensions:
            if ext.name == FAST_EXT:
                return ext
        return None

    def _skip(self, ext, reason: str) -> None:
        self._fast_info["reason"] = reason
        if ext in self.extensions:
            self.extensions.remove(ext)
        # a module left by an earlier build (build/lib, or the source tree for -e) must not ship
        stale = Path(self.get_ext_fullpath(FAST_EXT))
        if stale.exists():
            stale.unlink()
        _warn(reason)

    def _generate(self, ext) -> None:
        if os.environ.get("ROTPUNKT_NO_HALIDE", "").strip() not in ("", "0"):
            raise RuntimeError("disabled by ROTPUNKT_NO_HALIDE")
        outdir = Path(self.build_temp).resolve() / "halide"
        outdir.mkdir(parents=True, exist_ok=True)
        target = os.environ.get("ROTPUNKT_HALIDE_TARGET", "host")
        cmd = [sys.executable, str(GENERATOR), str(outdir), "--target", target]
        print("rotpunkt.fast: generating Halide kernels: " + " ".join(cmd), flush=True)
        proc = subprocess.run(cmd, cwd=str(HERE), capture_output=True, text=True, timeout=GENERATE_TIMEOUT_S)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
            raise RuntimeError(f"generator exited with {proc.returncode}:\n    " + "\n    ".join(tail))
        manifest = json.loads((outdir / "manifest.json").read_text())
        ext.sources = list(manifest["sources"])
        ext.extra_objects = list(manifest["objects"])
        ext.include_dirs = list(manifest["include_dirs"])
        self._fast_info.update(target=manifest["target"], halide=manifest.get("halide"),
                               functions=manifest["functions"])

    def _write_info(self) -> None:
        """Record what happened next to the module, for ``rotpunkt.fast.REASON``."""
        path = Path(self.get_ext_fullpath(FAST_EXT)).parent / INFO_NAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self._fast_info, indent=1) + "\n")
        except OSError:
            traceback.print_exc()

    def get_outputs(self):
        outs = super().get_outputs()
        return [*outs, str(Path(self.get_ext_fullpath(FAST_EXT)).parent / INFO_NAME)]


def _extension() -> Extension:
    unix = os.name == "posix"
    return Extension(
        FAST_EXT,
        sources=[],  # filled in by BuildExtWithHalide from the generator's manifest
        language="c++",
        extra_compile_args=(["-std=c++17", "-O2", "-fvisibility=hidden", "-Wno-class-memaccess", "-g0"]
                            if unix else ["/std:c++17", "/O2"]),
        extra_link_args=["-g0", "-s"] if sys.platform.startswith("linux") else [],
        libraries=["dl", "pthread", "m"] if sys.platform.startswith("linux") else [],
        optional=True,
    )


setup(ext_modules=[_extension()], cmdclass={"build_ext": BuildExtWithHalide})
