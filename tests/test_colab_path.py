"""The Colab path: a chapter opened alone, with the package installed from a
wheel into a fresh virtual environment and no repository beside it.

Colab opens one notebook file; its first cell installs the package with pip.
This test builds the wheel that pip would build, creates a new virtual
environment outside the repository, installs the wheel there, copies one
chapter into an empty folder and executes it with that environment's Python
(the install cell itself runs only in Colab). The environment sees the
third-party packages of ``.venv`` through a ``.pth`` file, as Colab has them
preinstalled, but not ``.venv``'s editable install of this repository (a
``.pth`` file's own ``.pth`` files are not read). It proves that the wheel
holds every module and file the chapter imports, and that the chapter needs
nothing else from the checkout.
"""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = [pytest.mark.book, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
# Chapter 9 uses most of the package: the model, the figures drawn from it,
# the reference harness against torch.nn and the parameter counts.
CHAPTER = "book/09_full_model.ipynb"

EXECUTE = """
import json, sys
import nbformat
from nbclient import NotebookClient

nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import transformer\\nprint(transformer.__file__)"
))
NotebookClient(nb, timeout=600, kernel_name="python3").execute()
errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
          if o.output_type == "error"]
printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
print(json.dumps({"errors": len(errors), "file": printed.strip()}))
"""


def test_a_chapter_runs_from_the_wheel_in_a_fresh_environment(
    tmp_path: Path,
) -> None:
    # Build from a copy of what the wheel is made of, so that setuptools'
    # build/ folder lands there and not in the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "transformer",
        source / "transformer",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
        + ["--no-build-isolation", "--wheel-dir", str(wheels), str(source)],
        check=True,
    )
    (wheel,) = wheels.glob("transformer-*.whl")

    env_dir = tmp_path / "colab-env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    fresh_site = Path(
        subprocess.run(
            [
                str(python),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (fresh_site / "colab_preinstalled.pth").write_text("\n".join(sorted(ours)))
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps"]
        + ["--no-index", str(wheel)],
        check=True,
    )

    alone = tmp_path / "colab"
    alone.mkdir()
    notebook = alone / Path(CHAPTER).name
    notebook.write_bytes((ROOT / CHAPTER).read_bytes())
    done = subprocess.run(
        [str(python), "-c", EXECUTE, str(notebook)],
        cwd=alone,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == 0, done.stdout[-3000:]
    assert Path(result["file"]).is_relative_to(fresh_site), (
        f"the chapter imported the package from {result['file']}, not from "
        f"the wheel installed in {fresh_site}"
    )
