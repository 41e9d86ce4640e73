"""The wheel works: built from this checkout, installed (not editable) into a fresh venv, its
``sigmatch match`` gives the same answer as the checkout's, from its own curated data.

The venv gets the wheel alone (``--no-deps``); the dependencies are the ones this test runs with,
reached through a ``.pth`` line naming this environment's site-packages (no download per run).
That line adds the directory only: the ``.pth`` files in it (the editable install's finder) are not
run, so ``import sigmatch`` there can only find the wheel's copy, and the test checks it does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

import sigmatch

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "examples" / "fsnotify-softlockup-4.14.32.log"


def same_answer(text: str) -> str:
    return re.sub(r"catalog (\w+)-[0-9a-f]{8}\)", r"catalog \1-<curated hash>)", text)


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGMATCH_", "PYTHON"))}
    built = run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                 "--wheel-dir", str(tmp / "dist"), str(REPO)], cwd=tmp, env=env)
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = sorted((tmp / "dist").glob("sigmatch-*.whl"))
    venv = tmp / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp, env=env)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    installed = run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                     "--no-index", str(wheel)], cwd=tmp, env=env)
    assert installed.returncode == 0, installed.stderr[-3000:]
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp, env=env)
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site.stdout.strip()) / "_sigmatch_test_deps.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    return wheel, venv


def test_the_wheel_holds_one_package_its_curated_data_and_the_license(wheel_venv: tuple[Path, Path]) -> None:
    wheel, _ = wheel_venv
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"sigmatch", f"sigmatch-{sigmatch.__version__}.dist-info"}
    curated = {Path(n).name for n in names if n.startswith("sigmatch/curated/")}
    assert {p.name for p in (REPO / "signatures").glob("*.yaml")} <= curated and "schema.json" in curated
    assert any(n.endswith("dist-info/licenses/LICENSE") for n in names)
    assert "sigmatch/trace/rules/" in " ".join(names) and "sigmatch/web/templates/" in " ".join(names)


def test_the_installed_wheel_answers_like_the_checkout(wheel_venv: tuple[Path, Path], tmp_path: Path) -> None:
    _, venv = wheel_venv
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGMATCH_", "PYTHON"))}
    env.update(SIGMATCH_DATA_DIR=str(tmp_path / "data"), REDIS_URL="", SIGMATCH_UPSTREAM_LOOKUP="off")
    where = run([str(venv / "bin" / "python"), "-c", "import sigmatch; print(sigmatch.__file__, sigmatch.__version__)"],
                cwd=tmp_path, env=env)
    assert where.returncode == 0, where.stderr
    path, version = where.stdout.split()
    assert Path(path).is_relative_to(venv), f"the venv imported sigmatch from {path}, not from the wheel"
    assert version == sigmatch.__version__

    from_wheel = run([str(venv / "bin" / "sigmatch"), "match", str(EXAMPLE)], cwd=tmp_path, env=env)
    from_checkout = run([sys.executable, "-c", "import sys; from sigmatch.cli import main; sys.exit(main())",
                         "match", str(EXAMPLE)], cwd=REPO, env=env)
    assert from_wheel.returncode == from_checkout.returncode == 0, from_wheel.stderr + from_checkout.stderr
    # The same answer; the catalog id differs only in the hash of the curated files' paths.
    assert same_answer(from_wheel.stdout) == same_answer(from_checkout.stdout)
    assert "d90a10e2444b" in from_wheel.stdout  # the curated fsnotify entry, from the wheel's own copy

    stats = run([str(venv / "bin" / "sigmatch"), "db", "stats", "--json"], cwd=tmp_path, env=env)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["curated"] == len(list((REPO / "signatures").glob("*.yaml")))

    gone = run([str(venv / "bin" / "sigmatch"), "match", str(EXAMPLE)], cwd=tmp_path,
               env={**env, "SIGMATCH_SIGNATURES_DIR": str(tmp_path / "nowhere")})
    assert gone.returncode != 0 and "nowhere" in gone.stderr  # loudly, naming the directory
