"""The build's one custom step: ship the curated known bugs inside the package.

``signatures/`` at the top of the checkout is what curators edit (and ``SIGMATCH_SIGNATURES_DIR``
may point elsewhere); a wheel carries a copy of it as ``sigmatch/curated/``, which
:func:`sigmatch.config.curated_dir` finds when sigmatch is installed from the wheel. Everything
else is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SIGNATURES = Path(__file__).resolve().parent / "signatures"
SHIPPED = ("*.yaml", "schema.json", "README.md")


class BuildPyWithCurated(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's signatures/ itself
        if not (SIGNATURES / "schema.json").is_file():
            raise SystemExit(f"cannot build sigmatch: the curated tree {SIGNATURES} (with schema.json) is missing")
        target = Path(self.build_lib) / "sigmatch" / "curated"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for pattern in SHIPPED:
            for path in sorted(SIGNATURES.glob(pattern)):
                shutil.copy2(path, target / path.name)


setup(cmdclass={"build_py": BuildPyWithCurated})
