"""What every chapter of the book shares: one import instead of a setup cell
copied into each notebook.

    from transformer.book import show, use_book_style
    use_book_style()  # the book's plot style; torch seeded with 0
    show(MultiHeadAttention.forward)  # the package's source, file and lines

Needs the book's requirements (matplotlib, IPython), not the package's.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import transformer

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from transformer.results import RecordedRun

ROOT = Path(transformer.__file__).resolve().parents[1]

# One plot style for the whole book (changed here, it changes on every page).
# At 100 dpi a figure at most FIGURE_MAX_WIDTH inches wide is shown at its own
# size in the book's text column (688 px at a 1280 px window), so that 9-point
# legends and ticks stay 9 points; figures are drawn at twice that resolution
# (retina PNG) to stay sharp on high-density screens.
FIGURE_MAX_WIDTH = 6.6
STYLE = {
    "figure.dpi": 100,
    "figure.figsize": (6.4, 3.6),
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.framealpha": 0.9,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def use_book_style(seed: int = 0) -> None:
    """Apply :data:`STYLE`, draw inline figures as PNG, and seed torch
    (chapters are deterministic)."""
    import matplotlib.pyplot as plt
    import torch

    plt.rcParams.update(STYLE)
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")
    except ImportError:  # not in a notebook kernel
        pass
    torch.manual_seed(seed)


def source_of(obj: Any) -> tuple[str, str, int, int]:
    """(code, path relative to the repository, first line, last line) of a
    function or class."""
    lines, start = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj) or "").resolve()
    try:
        where = path.relative_to(ROOT).as_posix()
    except ValueError:
        # installed elsewhere (Colab): name the file within the package
        package = Path(transformer.__file__).resolve().parent
        where = f"transformer/{path.relative_to(package).as_posix()}"
    return (
        textwrap.dedent("".join(lines)).rstrip(),
        where,
        start,
        start + len(lines) - 1,
    )


def show(obj: Any) -> None:
    """Show the package's source for ``obj`` (the code the tests check), with
    its file and lines."""
    from IPython.display import Markdown, display

    code, where, first, last = source_of(obj)
    display(
        Markdown(
            f"`{where}`, lines {first}–{last}:\n\n````python\n{code}\n````"
        )
    )


def repository_url() -> str | None:
    """The repository's address, from the book's ``_config.yml`` (the one place
    that names it); None where the book's sources are not at hand (the package
    installed alone, as in Colab)."""
    config = ROOT / "_config.yml"
    if not config.is_file():
        return None
    import yaml

    return (yaml.safe_load(config.read_text()).get("repository") or {}).get(
        "url"
    )


def plot_validation(
    ax: Axes,
    runs: Mapping[str, RecordedRun],
    metric: str = "nll",
    colors: Mapping[str, str] | None = None,
) -> None:
    """Draw each run's validation records of ``metric`` against the step, one
    line per run labelled with its key: the curves the trainer wrote into
    ``metrics.jsonl`` (``"nll"`` per token, ``"ppl"``, or the greedy
    ``"bleu"`` on the first validation sentences). A record without the
    metric leaves a gap. ``colors`` (label -> colour) keeps a label's colour
    the same across panels that plot different subsets."""
    for label, run in runs.items():
        val = run.records("val")
        ax.plot(
            [r["step"] for r in val],
            [r.get(metric, float("nan")) for r in val],
            "o-",
            ms=2,
            label=label,
            color=(colors or {}).get(label),
        )
