"""The Results and Model Variations chapters render recorded runs: executed
here against a fake results folder (under tmp_path), so that every code path
(no runs, a run with only the trainer's files, a run of another hardware) is
tested whatever results/ holds. The numbers written here are test fixtures,
never shown in the book."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from transformer.train.config import RunConfig

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _record(
    folder: Path, config: RunConfig, bleu: float, splits: tuple[str, ...]
) -> None:
    folder.mkdir(parents=True)
    info = {
        "started": "2030-01-01T00:00:00+0000",
        "command": ["-m", "transformer", "train", "configs/multi30k.toml"],
        "git_commit": "f" * 40,
        "versions": {"torch": "9.9.9", "python": "3.11.0"},
        "hardware": {"device": "cuda:0", "name": "FAKE GPU", "world_size": 1},
        "config": config.to_dict(),
        "parameters": 1234567,
        "wall_time_s": 3600.0,
        "final_step": 6000,
    }
    (folder / "run.json").write_text(json.dumps(info))
    records = [
        {
            "split": "train",
            "step": s,
            "loss": 5.0 / s,
            "nll": 4.0 / s,
            "ppl": 2.0,
        }
        for s in (100, 200)
    ]
    records += [
        {"split": "val", "step": 200, "loss": 0.5, "nll": 0.4, "ppl": 1.4918}
    ]
    (folder / "metrics.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records)
    )
    scores = {
        "bleu": bleu,
        "bleu_signature": (
            "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
        ),
        "chrf": 55.5,
        "chrf_signature": "x",
        "bleu_lc": bleu + 1,
        "bleu_lc_signature": "y",
        "exact_match": 0.0,
        "n_sentences": 1000,
    }
    for split in splits:
        (folder / f"eval-{split}.json").write_text(json.dumps(scores))


def _execute(name: str, results: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from nbclient import NotebookClient

    monkeypatch.setenv("TRANSFORMER_RESULTS", str(results))
    nb = nbformat.read(ROOT / "book" / name, as_version=4)
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "book")}},
    ).execute()
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts += [
                str(v)
                for k, v in out.get("data", {}).items()
                if k != "image/png"
            ] + [out.get("text", "")]
            if "image/png" in out.get("data", {}):
                texts.append("<IMAGE>")
    return "\n".join(texts)


def test_results_chapter_shows_recorded_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = RunConfig.from_toml(ROOT / "configs" / "multi30k.toml")
    _record(
        tmp_path / "runs" / "multi30k-de-en", config, 12.345, ("test", "val")
    )
    text = _execute("12_results.ipynb", tmp_path, monkeypatch)
    assert "No run has been recorded yet" not in text
    # BLEU and lowercased BLEU
    assert "multi30k-de-en" in text and "12.3" in text and "13.3" in text
    # provenance beside the numbers
    assert "FAKE GPU" in text and "ffffffffff" in text
    assert "<IMAGE>" in text  # the loss curves


def test_results_chapter_without_runs_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _execute("12_results.ipynb", tmp_path, monkeypatch)
    assert "No run has been recorded yet" in text


def _table3_record(
    results: Path, name: str, overrides: list[str], ppl: float, bleu: float
) -> None:
    """A recorded Table 3 row, trained (in this fixture) as its row says."""
    config = RunConfig.from_toml(
        ROOT / "configs" / "table3-cpu.toml", overrides
    )
    _record(results / "runs" / f"table3-{name}", config, bleu, ("val",))
    metrics = results / "runs" / f"table3-{name}" / "metrics.jsonl"
    metrics.write_text(
        json.dumps({"split": "val", "step": 2400, "nll": 0.5, "ppl": ppl})
        + "\n"
    )


def test_model_variations_chapter_shows_recorded_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _base_seeds(tmp_path)
    _table3_record(
        tmp_path,
        "A-h1",
        ["model.n_heads=1", "model.d_k=128", "model.d_v=128"],
        3.456,
        27.654,
    )
    _table3_record(
        tmp_path, "E-learned", ['model.positional="learned"'], 3.1, 30.1
    )
    # the budget run: the base for twice the budget
    _record(
        tmp_path / "runs" / "table3-budget",
        RunConfig.from_toml(ROOT / "configs" / "table3-cpu.toml"),
        0.0,
        (),
    )
    (tmp_path / "runs" / "table3-budget" / "metrics.jsonl").write_text(
        "".join(
            json.dumps(
                {"split": "val", "step": s, "nll": n, "ppl": 2.0, "bleu": b}
            )
            + "\n"
            for s, n, b in (
                (1200, 2.0, 20.0),
                (2400, 1.5, 30.0),
                (4800, 1.4, 31.0),
            )
        )
    )
    text = _execute("13_model_variations.ipynb", tmp_path, monkeypatch)
    assert "Not yet run" not in text and "not recorded yet" not in text
    assert "**1.500 at the budget**" in text  # the budget run's curve
    assert "27.7" in text and "3.46" in text  # the row's BLEU and PPL
    assert "30.3" in text  # the base: the mean of its seeds
    assert "seed spread **0.60 BLEU**" in text
    assert ">-2.6<" in text  # A-h1 - base in the table, formatted
    # (E) within the seed spread: the paper's "nearly identical" agrees; the
    # claims about (A) need every (A) row
    assert "E-learned − base" in text and "agrees" in text
    assert "not yet run" in text  # the other rows
    assert "FAKE GPU" in text  # provenance beside the numbers
    # the budget curve, the two block plots, the rows' validation curves
    assert text.count("<IMAGE>") == 4


def _curve(results: Path, name: str, nll: tuple[float, ...]) -> None:
    """The row's validation records at steps 2000, 2200, 2400 (the budget)."""
    (results / "runs" / f"table3-{name}" / "metrics.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "split": "val",
                    "step": 2000 + 200 * i,
                    "nll": n,
                    "ppl": 2.0 + n,
                }
            )
            + "\n"
            for i, n in enumerate(nll)
        )
    )


def test_model_variations_chapter_names_a_row_still_learning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row whose validation NLL still falls at the budget faster than every
    seed of the base is named, and the verdict that reads it says so."""
    for seed, bleu in ((0, 30.0), (1, 30.6), (2, 30.3)):
        name = "base" + (f"-seed{seed}" if seed else "")
        _table3_record(tmp_path, name, [f"train.seed={seed}"], 3.0, bleu)
        _curve(tmp_path, name, (1.10, 1.06, 1.05 - 0.01 * seed))
    for n, nll, bleu in (
        (1, (1.20, 1.19, 1.19), 29.0),
        (2, (1.15, 1.14, 1.13), 30.0),
        (4, (2.00, 1.80, 1.60), 20.0),  # falls by 0.40: still learning
    ):
        _table3_record(tmp_path, f"C-N{n}", [f"model.n_layers={n}"], 3.0, bleu)
        _curve(tmp_path, f"C-N{n}", nll)
    # the base trained again (After the paper's base row): 1.0 BLEU from
    # seed 0, more than the seeds' 0.6
    _compare_record(tmp_path, "base", [], 31.0)
    text = _execute("13_model_variations.ipynb", tmp_path, monkeypatch)
    assert "**Δ BLEU +1.00, Δ PPL -1.56** from seed 0, more than" in text
    assert "Another machine moves a run's BLEU as much as" in text
    assert "fell by 0.050 to 0.070 nats per token" in text
    assert "**Still learning**, with a larger fall: C-N4 (0.400)." in text
    assert "C-N4 still learning at the budget" in text  # the claim's caveat
    assert (
        "1 of them reads a row still learning at the budget (bigger models"
        " are better: more layers N: disagrees)" in text
    )


def test_model_variations_chapter_refuses_a_compare_base_of_another_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbclient.exceptions import CellExecutionError

    _table3_record(tmp_path, "base", [], 3.0, 30.0)
    _compare_record(tmp_path, "base", ["model.n_layers=2"], 31.0)
    with pytest.raises(CellExecutionError, match="compare.py run base"):
        _execute("13_model_variations.ipynb", tmp_path, monkeypatch)


@pytest.mark.parametrize(
    "overrides",
    [["model.n_heads=1"], ["train.max_steps=100"], ["train.seed=3"]],
)
def test_model_variations_chapter_refuses_a_misnamed_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: list[str]
) -> None:
    """A run recorded as A-h4 but trained otherwise (another model, another
    budget, another seed) never lands in the table."""
    from nbclient.exceptions import CellExecutionError

    a_h4 = ["model.n_heads=4", "model.d_k=32", "model.d_v=32"]
    _table3_record(tmp_path, "A-h4", a_h4 + overrides, 3.0, 20.0)
    with pytest.raises(CellExecutionError, match="is not the row 'A-h4'"):
        _execute("13_model_variations.ipynb", tmp_path, monkeypatch)


def _set_autocast(results: Path, name: str, autocast: str | None) -> None:
    """What the trainer records in run.json: the autocast dtype it ran."""
    path = results / "runs" / f"table3-{name}" / "run.json"
    path.write_text(
        json.dumps({**json.loads(path.read_text()), "autocast": autocast})
    )


@pytest.mark.parametrize("pinned", [True, False])
def test_model_variations_chapter_reads_the_float32_base_against_the_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pinned: bool
) -> None:
    """``table3-base-fp32`` (``run base --precision fp32``) is compared with
    the base's seed 0 and read against the seed spread; a pinned seed
    (``base-seed1-fp32``) stays out of the spread; the chapter lists the rows
    by the precision they trained in. A base-fp32 trained without its
    precision pinned is refused, with the command that retrains it."""
    from nbclient.exceptions import CellExecutionError

    for seed, bleu in ((0, 30.0), (1, 30.6), (2, 30.3)):
        name = "base" + (f"-seed{seed}" if seed else "")
        _table3_record(tmp_path, name, [f"train.seed={seed}"], 3.0, bleu)
        _set_autocast(tmp_path, name, "bfloat16")
    fp32 = ['train.precision="fp32"']
    _table3_record(
        tmp_path, "base-seed1-fp32", ["train.seed=1", *fp32], 3.0, 10.0
    )
    _table3_record(tmp_path, "base-fp32", fp32 if pinned else [], 3.0, 29.1)
    _set_autocast(tmp_path, "base-fp32", None)
    if not pinned:
        with pytest.raises(
            CellExecutionError,
            match="retrain it with `python scripts/table3.py run base"
            " --precision fp32`",
        ):
            _execute("13_model_variations.ipynb", tmp_path, monkeypatch)
        return
    text = _execute("13_model_variations.ipynb", tmp_path, monkeypatch)
    assert "seed spread **0.60 BLEU**" in text  # without base-seed1-fp32
    assert "- **bfloat16**: base, base-seed1, base-seed2" in text
    assert "(`table3-base-fp32`, float32): BLEU 29.10, PPL 3.00" in text
    # against seed 0: 29.1 - 30.0; against the mean: 29.1 - 30.3
    assert "**Δ BLEU -0.90, Δ PPL +0.00**" in text
    assert "seeds: -1.20 BLEU, +0.00 PPL)" in text
    assert "larger than the seed spread" in text  # 0.9 > 0.6
    assert "base --precision fp32" in text  # its command, with the others


def _base_seeds(results: Path) -> None:
    """Table 3's base with seeds 0, 1, 2 (val BLEU 30.0, 30.6, 30.3: a spread
    of 0.60), the noise every comparison is read against."""
    for seed, bleu in ((0, 30.0), (1, 30.6), (2, 30.3)):
        name = "base" + (f"-seed{seed}" if seed else "")
        _table3_record(results, name, [f"train.seed={seed}"], 3.0, bleu)


def _compare_record(
    results: Path, name: str, overrides: list[str], bleu: float
) -> Path:
    """A recorded comparison row, trained (in this fixture) as its row
    says, scored on val and test."""
    config = RunConfig.from_toml(
        ROOT / "configs" / "table3-cpu.toml", overrides
    )
    folder = results / "runs" / f"compare-{name}"
    _record(folder, config, bleu, ("val", "test"))
    return folder


def test_after_the_paper_chapter_shows_recorded_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _base_seeds(tmp_path)
    _compare_record(tmp_path, "base", [], 30.0)
    folder = _compare_record(
        tmp_path,
        "prefix-lm",
        ['model.architecture="prefix_lm"', "model.n_layers=7"],
        28.765,
    )
    # the modern block and two of its changes alone
    _compare_record(
        tmp_path,
        "modern",
        [
            "model.norm_first=true",
            'model.norm="rms"',
            'model.activation="swiglu"',
            "model.match_ffn_params=true",
            'model.positional="rope"',
        ],
        33.0,
    )
    for name, overrides, bleu in (
        ("pre-norm", ["model.norm_first=true"], 30.5),
        ("rmsnorm", ['model.norm="rms"'], 30.0),
        (
            "swiglu",
            ['model.activation="swiglu"', "model.match_ffn_params=true"],
            31.0,
        ),
        ("rope", ['model.positional="rope"'], 30.5),
    ):
        _compare_record(tmp_path, name, overrides, bleu)
    # one row trained on a CPU: its table names the CPU, shortened
    rope = tmp_path / "runs" / "compare-rope" / "run.json"
    info = json.loads(rope.read_text())
    info["hardware"] = {
        "device": "cpu",
        "cpu_count": 2,
        "cpu": "Intel(R) Xeon(R) Processor",
    }
    info["autocast"] = "bfloat16"
    rope.write_text(json.dumps(info))
    spectrum = {
        "matrices": 56,
        "rank_fraction": 0.987,
        "effective_rank_fraction": 0.654,
        "full_rank_share": 0.5,
        "spectrum": [1.0] + [0.1] * 9,
        "length": 30.0,
        "rtol": None,
    }
    (folder / "attention-spectra.json").write_text(
        json.dumps(
            {
                "sentences": 100,
                "split": "val",
                "kinds": {
                    "prefix-LM self-attention": spectrum,
                    "prefix-LM source block": {
                        **spectrum,
                        "full_rank_share": 0.25,
                        "effective_rank_fraction": 0.7,
                    },
                },
            }
        )
    )
    text = _execute("16_after_the_paper.ipynb", tmp_path, monkeypatch)
    assert "28.77" in text  # the row's BLEU, val and test
    assert "spread 0.60" in text  # the base's seeds, from Table 3
    # compare-base is table3-base trained again: the machine's difference
    assert "val BLEU 30.00 against 30.00 (Δ +0.00)" in text
    assert "moves BLEU within the seeds' spread" in text
    assert "at most the larger of the two, 0.60" in text
    # each row's difference from the base row, read against the spread
    assert "**prefix-lm** -1.23 BLEU, +0.00 PPL;" not in text
    assert (
        "From the base row (validation; within noise: |Δ BLEU| at most"
        " 0.60): **prefix-lm** -1.23 BLEU, +0.00 PPL." in text
    )
    assert "**modern** +3.00 BLEU, +0.00 PPL; **pre-norm** +0.50" in text
    assert "+0.50 BLEU, +0.00 PPL (within noise)" in text
    assert (
        "The four changes alone add up to +2.00 BLEU; together, in the modern"
        " block, they give +3.00 (+1.00 from their sum)" in text
    )
    # five runs' noise: √14 x the seeds' standard deviation, 0.30
    assert "±1.12 BLEU with the seeds' standard deviation (0.30)" in text
    assert "as far as one run per row can tell, the changes add up" in text
    assert "prefix-LM self-attention" in text and "0.654" in text
    # the prefix LM's block structure, and its source blocks' ranks
    assert "$\\det A = \\det A_{ss} \\prod_i (A_{tt})_{ii}$" in text
    assert (
        "In the trained model 50.0% of them have full numerical rank, and"
        " 25.0% of their source blocks (effective rank / L 0.700)." in text
    )
    assert "FAKE GPU" in text  # provenance beside the numbers
    assert "2 CPU cores (Intel Xeon), bfloat16" in text
    assert "not yet run" in text  # the other rows
    # the mask picture, the curves, the spectra, the block curves
    assert text.count("<IMAGE>") == 4


def test_after_the_paper_chapter_reads_the_ranks_it_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def spectra(folder: Path, kinds: dict[str, float]) -> None:
        (folder / "attention-spectra.json").write_text(
            json.dumps(
                {
                    "sentences": 100,
                    "split": "val",
                    "kinds": {
                        kind: {
                            "matrices": 24,
                            "rank_fraction": 0.9,
                            "effective_rank_fraction": share / 2,
                            "full_rank_share": share,
                            "spectrum": [1.0] + [0.1] * 9,
                            "length": 15.0,
                            "rtol": None,
                        }
                        for kind, share in kinds.items()
                    },
                }
            )
        )

    base = _compare_record(tmp_path, "base", [], 30.0)
    spectra(
        base,
        {"encoder self-attention": 0.9, "decoder self-attention": 0.6},
    )
    one = _compare_record(
        tmp_path,
        "decoder-only",
        ['model.architecture="decoder_only"', "model.n_layers=7"],
        29.0,
    )
    spectra(one, {"decoder-only self-attention": 0.3})
    text = _execute("16_after_the_paper.ipynb", tmp_path, monkeypatch)
    assert "In the trained base, 90% of the bidirectional encoder's" in text
    assert "and 60% of the causal decoder's: fewer, not more" in text
    assert (
        "The decoder-only model reads its source causally too: 30% of its"
        " self-attention matrices have full numerical rank (effective rank"
        " / L 0.150, against 0.450 for the base's encoder), fewer than the"
        " bidirectional encoder's." in text
    )


def test_after_the_paper_chapter_without_runs_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _execute("16_after_the_paper.ipynb", tmp_path, monkeypatch)
    assert "The architectures: not yet run" in text
    assert "Not yet run: no `compare-*` row is recorded yet" in text
    assert text.count("<IMAGE>") == 1  # only the mask picture


def test_after_the_paper_chapter_refuses_a_misnamed_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbclient.exceptions import CellExecutionError

    _compare_record(tmp_path, "decoder-only", ["model.n_layers=7"], 20.0)
    with pytest.raises(
        CellExecutionError, match="is not the row 'decoder-only'"
    ):
        _execute("16_after_the_paper.ipynb", tmp_path, monkeypatch)


def _saturation(folder: Path, largest: float, gradient: float) -> None:
    kinds = (
        "encoder self-attention",
        "decoder self-attention",
        "encoder-decoder attention",
    )
    (folder / "attention-saturation.json").write_text(
        json.dumps(
            {
                "sentences": 100,
                "split": "val",
                "kinds": {
                    kind: {
                        "rows": 1000,
                        "largest_weight": largest,
                        "largest_weight_gradient": gradient,
                    }
                    for kind in kinds
                },
            }
        )
    )


def test_before_the_paper_chapter_shows_recorded_scoring_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _base_seeds(tmp_path)
    # the scaled dot at d_k 16
    base = _compare_record(tmp_path, "base", [], 29.0)
    rows = {}
    for name, bleu in (
        ("additive-dk16", 29.5),
        ("dot-dk16", 28.8),
        ("additive-dk64", 27.0),
        ("dot-dk64", 25.432),
        ("scaled-dot-dk64", 28.0),
        ("additive-dk128", 26.0),
    ):
        scoring, d_k = name.rsplit("-dk", 1)
        heads = {"16": 8, "64": 2, "128": 1}[d_k]
        rows[name] = _compare_record(
            tmp_path,
            name,
            [
                f'model.attention_scoring="{scoring.replace("-", "_")}"',
                f"model.n_heads={heads}",
            ],
            bleu,
        )
    _saturation(rows["dot-dk64"], 0.9, 0.05)
    _saturation(rows["scaled-dot-dk64"], 0.6, 0.3)
    _saturation(rows["additive-dk64"], 0.25, 0.2)
    # at d_k 16 additive lies between the two dot products
    _saturation(base, 0.5, 0.3)
    _saturation(rows["dot-dk16"], 0.97, 0.02)
    _saturation(rows["additive-dk16"], 0.95, 0.04)
    _saturation(rows["additive-dk128"], 0.3, 0.2)  # no dot row measured
    # trained under bf16 autocast before run.json said how attention ran:
    # the unscaled dot product's scores were bf16, the scaled one's float32
    for name in ("dot-dk64", "scaled-dot-dk64"):
        info = json.loads((rows[name] / "run.json").read_text())
        info["hardware"] = {"device": "cpu", "cpu_count": 2}
        info["autocast"] = "bfloat16"
        (rows[name] / "run.json").write_text(json.dumps(info))
    text = _execute("15_before_the_paper.ipynb", tmp_path, monkeypatch)
    assert "Read dot at $d_k = 64$ with care: trained under bf16" in text
    assert "25.43" in text  # its val and test BLEU
    # the noise the rows are read against, from the recorded runs
    assert "the base's seed spread (Table 3, 3 seeds): 0.60 BLEU" in text
    assert "the seed-0 base trained again: Δ -1.00 BLEU" in text
    assert "not yet run" in text  # the other rows
    # each row from the scaled dot at its d_k; the noise is 1.00
    assert (
        "- $d_k = 16$, from scaled dot: additive +0.50 BLEU (within noise);"
        " dot -0.20 BLEU (within noise)" in text
    )
    assert (
        "- $d_k = 64$, from scaled dot: additive -1.00 BLEU (within noise);"
        " dot -2.57 BLEU\n" in text
    )
    # the paper's three claims, read from the rows
    assert (
        "(additive − dot at $d_k = 16$): +0.70 BLEU (within noise): they"
        " perform similarly, as the paper says" in text
    )
    assert "(additive − dot at $d_k = 64$): +1.57 BLEU: it does" in text
    assert "(scaled dot − dot at $d_k = 64$): +2.57 BLEU: it does" in text
    # read at the small d_k too, where the base is the scaled row
    assert (
        "(scaled dot − dot at $d_k = 16$): +0.20 BLEU (within noise): within"
        " noise" in text
    )
    # the saturation of the two rows measured, and what it says
    assert "0.900" in text and "0.050" in text
    assert (
        "At $d_k = 64$, the unscaled model's encoder self-attention puts on"
        " average 0.900 on a row's largest weight, against 0.600 with the"
        " scaling; the gradient of that weight is 0.050 against 0.300. Its"
        " softmax is more saturated than the scaled model's." in text
    )
    # additive attention against the dot products measured at its d_k
    assert (
        "Additive attention's encoder self-attention:\n\n"
        "- $d_k = 16$: on average 0.950 on a row's largest weight (gradient"
        " 0.040), less peaked than the dot product's 0.970; not less peaked"
        " than the scaled dot product's 0.500\n"
        "- $d_k = 64$: on average 0.250 on a row's largest weight (gradient"
        " 0.200), less peaked than the scaled dot product's 0.600 and the dot"
        " product's 0.900\n\nIts scores" in text
    )
    assert "- $d_k = 128$: on average" not in text
    # BLEU against d_k, and the validation curves, one panel per d_k
    assert text.count("<IMAGE>") == 2


def test_before_the_paper_chapter_without_runs_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _execute("15_before_the_paper.ipynb", tmp_path, monkeypatch)
    assert "Not yet run: no scoring row is recorded yet" in text
    assert "no two scoring rows at one $d_k$ are recorded" in text
    assert "Not yet measured: no scoring row has a measurement" in text
    assert text.count("<IMAGE>") == 0


def test_before_the_paper_chapter_refuses_a_misnamed_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbclient.exceptions import CellExecutionError

    _compare_record(tmp_path, "dot-dk64", ["model.n_heads=2"], 20.0)
    with pytest.raises(CellExecutionError, match="is not the row 'dot-dk64'"):
        _execute("15_before_the_paper.ipynb", tmp_path, monkeypatch)


def test_after_the_paper_chapter_reads_the_prefix_lm_against_the_lm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _base_seeds(tmp_path)
    _compare_record(tmp_path, "base", [], 30.0)
    one_stack = ['model.architecture="{}"', "model.n_layers=7"]
    for name, architecture, bleu in (
        ("decoder-only", "decoder_only", 30.5),
        ("prefix-lm", "prefix_lm", 28.7),
    ):
        overrides = [one_stack[0].format(architecture), one_stack[1]]
        _compare_record(tmp_path, name, overrides, bleu)
    text = _execute("16_after_the_paper.ipynb", tmp_path, monkeypatch)
    # BLEU beyond the seeds' spread (0.60), perplexity equal: within its
    # noise, so the verdict rests on BLEU
    assert (
        "Prefix LM − decoder-only: -1.80 BLEU (beyond 0.60), +0.00 PPL"
        " (within " in text
    )
    assert "; the decoder-only model is ahead. At this size and budget" in text
