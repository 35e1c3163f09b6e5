"""Static checks of the book's sources (fast; no build): notebooks are
committed without outputs, each has a title and the Colab install cell, and the
table of contents, the configuration and the chapters agree with each other.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_there_are_chapters() -> None:
    assert len(NOTEBOOKS) >= 10


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_valid_and_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], (
                f"{path.name} cell {i} has outputs: strip them before"
                " committing"
            )
            assert cell.execution_count is None, (
                f"{path.name} cell {i} has an execution count"
            )
    assert path.stat().st_size < 60_000, (
        f"{path.name} is {path.stat().st_size} bytes; keep notebooks small"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_a_title_then_the_colab_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    title, colab = nb.cells[0], nb.cells[1]
    assert title.cell_type == "markdown" and title.source.startswith("# "), (
        f"{path.name}: no '# Title' first"
    )
    assert colab.cell_type == "code"
    assert 'if "google.colab" in sys.modules:' in colab.source
    assert f'"git+{REPO_URL}"' in colab.source, (
        f"{path.name}: the Colab cell must install from {REPO_URL}"
    )
    assert "remove-cell" in colab.metadata.get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_avoids_known_build_breakers(path: Path) -> None:
    source = "\n".join(
        cell.source for cell in nbformat.read(path, as_version=4).cells
    )
    assert "tqdm.notebook" not in source and "tqdm.auto" not in source, (
        "use plain tqdm (see the build notes)"
    )
    assert 'renderers.enable("mimetype")' not in source
    assert (
        nbformat.read(path, as_version=4).metadata["kernelspec"]["name"]
        == "python3"
    )


def test_toc_and_book_folder_agree() -> None:
    in_toc = set(toc_files())
    on_disk = {
        f"book/{p.stem}"
        for p in BOOK.iterdir()
        if p.suffix in (".ipynb", ".md")
    }
    assert in_toc == on_disk, (
        f"only in _toc.yml: {in_toc - on_disk}; only in book/:"
        f" {on_disk - in_toc}"
    )


def test_config_builds_strictly_and_offline() -> None:
    assert CONFIG["execute"]["execute_notebooks"] == "force"
    assert CONFIG["execute"]["timeout"] > 0
    assert (
        CONFIG["launch_buttons"]["colab_url"]
        == "https://colab.research.google.com"
    )
    assert CONFIG["repository"]["branch"] == "main"
    sphinx = CONFIG["sphinx"]["config"]
    assert sphinx["nb_kernel_rgx_aliases"] == {".*": "python3"}
    assert "://" not in sphinx["mathjax_path"], (
        "MathJax is served from the book, not a CDN"
    )
    for pattern in [
        ".*",
        "_build",
        "node_modules",
        ".venv",
        "docs",
        "tests",
        "README.md",
    ]:
        assert pattern in CONFIG["exclude_patterns"]
    makefile = (ROOT / "Makefile").read_text()
    assert "jupyter-book build . -W --keep-going" in makefile


def test_every_citation_is_in_the_bibliography() -> None:
    import re

    keys = set(
        re.findall(r"@\w+\{([^,]+),", (BOOK / "references.bib").read_text())
    )
    cited = set()
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                cited |= {
                    k.strip()
                    for group in re.findall(
                        r"\{cite:[pt]\}`([^`]+)`", cell.source
                    )
                    for k in group.split(",")
                }
    assert cited <= keys, f"cited but not in references.bib: {cited - keys}"
    required = {
        "vaswani2017attention",
        "ba2016layer",
        "he2016deep",
        "szegedy2016rethinking",
        "press2017using",
        "sennrich2016neural",
        "wu2016google",
        "post2018call",
        "xiong2020layer",
        "rush2018annotated",
        "elliott2016multi30k",
    }
    assert required <= cited, f"not cited anywhere: {required - cited}"


def test_the_publishing_workflow_runs_the_readme_commands() -> None:
    """.github/workflows/book.yml: `make test` on every push, `make book` then
    a Pages deploy from main."""
    workflow = yaml.safe_load(
        (ROOT / ".github" / "workflows" / "book.yml").read_text()
    )
    # YAML 1.1 reads a bare `on` as True
    triggers = workflow[True] if True in workflow else workflow["on"]
    assert "push" in triggers and "pull_request" in triggers
    jobs = workflow["jobs"]
    runs = {
        name: [step.get("run", "") for step in job["steps"]]
        for name, job in jobs.items()
    }
    assert "make test" in runs["test"]
    assert (
        "make book" in runs["publish"] and jobs["publish"]["needs"] == "test"
    )
    assert "refs/heads/main" in jobs["publish"]["if"]
    uses = [step.get("uses", "") for step in jobs["publish"]["steps"]]
    assert any(u.startswith("actions/upload-pages-artifact") for u in uses)
    assert any(u.startswith("actions/deploy-pages") for u in uses)
    upload = next(
        s
        for s in jobs["publish"]["steps"]
        if s.get("uses", "").startswith("actions/upload-pages-artifact")
    )
    assert upload["with"]["path"] == "_build/html"
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
