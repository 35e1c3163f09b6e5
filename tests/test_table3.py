"""transformer.table3 (the rows of Table 3 relative to a base, and the
verdicts on §6.2's conclusions) and scripts/table3.py (train and record a
row)."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from transformer import ModelConfig, Transformer
from transformer.results import RecordedRun
from transformer.row_runs import pin_precision
from transformer.row_scores import (
    Score,
    late_nll_drop,
    repeat_delta,
    score,
    seed_spread,
    still_learning,
    train_differences,
)
from transformer.table3 import PAPER, run_name, table3_rows, train_command
from transformer.table3_claims import check_claims
from transformer.train.config import RunConfig, apply_overrides

ROOT = Path(__file__).resolve().parents[1]
PAPER_BASE = ModelConfig.base(37000)


def millions(config: ModelConfig) -> float:
    with torch.device("meta"):
        return Transformer(config).num_parameters() / 1e6


def test_at_the_papers_size_the_rows_are_table_3() -> None:
    rows = table3_rows(PAPER_BASE)
    assert [r.name for r in rows] == list(PAPER)
    by_name = {r.name: r for r in rows}
    assert by_name["big"].config(PAPER_BASE) == ModelConfig.big(37000)
    a1 = by_name["A-h1"].config(PAPER_BASE)
    assert (a1.n_heads, a1.head_dim_k, a1.head_dim_v) == (1, 512, 512)
    b16 = by_name["B-dk16"].config(PAPER_BASE)
    assert (b16.head_dim_k, b16.head_dim_v) == (16, 64)  # only d_k
    c256 = by_name["C-d256"].config(PAPER_BASE)
    assert (c256.head_dim_k, c256.d_ff) == (32, 2048)  # d_k follows d_model
    layers = [
        by_name[f"C-N{n}"].config(PAPER_BASE).n_layers for n in (2, 4, 8)
    ]
    assert layers == [2, 4, 8]
    assert by_name["E-learned"].config(PAPER_BASE).positional == "learned"
    assert by_name["D-ls0.2"].train == {"label_smoothing": 0.2}
    # the paper's parameter column, up to its rounding and an offset that
    # grows with d_model (the vocabulary: chapter 13 prints the gaps)
    base = millions(PAPER_BASE)
    for row in rows[1:]:
        if row.paper.params_m is not None:
            ours = millions(row.config(PAPER_BASE)) - base
            assert abs(ours - (row.paper.params_m - 65)) < 3.5, row.name
    # (A) keeps the computation (and the parameters) of the base
    for name in ("A-h1", "A-h4", "A-h16", "A-h32"):
        assert millions(by_name[name].config(PAPER_BASE)) == base


def test_at_cpu_scale_the_same_ratios_give_the_rows() -> None:
    run = RunConfig.from_toml(ROOT / "configs" / "table3-cpu.toml")
    base = run.model_config(run.data.vocab_size)
    names = [r.name for r in table3_rows(base)]
    assert names == [
        "base", "A-h1", "A-h4", "A-h16", "A-h32", "B-dk4", "B-dk8", "C-N1",
        "C-N2", "C-N4", "C-d64", "C-d256", "C-dff256", "C-dff1024",
        "D-drop0.0", "D-drop0.2", "D-ls0.0", "D-ls0.2", "E-learned", "big",
    ]  # fmt: skip


@pytest.mark.parametrize("config", ["table3-cpu.toml", "table3-paper.toml"])
def test_every_rows_command_trains_the_row(config: str) -> None:
    """The --set overrides of a row, applied to the base's config, give
    exactly the row's model (and label smoothing)."""
    path = ROOT / "configs" / config
    run = RunConfig.from_toml(path)
    base = run.model_config(run.data.vocab_size)
    for row in table3_rows(base):
        command = train_command(str(path), row, seed=2)
        sets = [command[i + 1] for i, a in enumerate(command) if a == "--set"]
        assert command[command.index("--out-dir") + 1] == (
            f"runs/{run_name(row, 2)}"
        )
        trained = RunConfig.from_toml(path, sets)
        assert trained.model_config(run.data.vocab_size) == row.config(base)
        assert trained.train.label_smoothing == row.train.get(
            "label_smoothing", run.train.label_smoothing
        )
        assert trained.train.seed == 2


def test_a_base_that_the_ratios_do_not_divide_is_refused() -> None:
    with pytest.raises(ValueError, match="h by 0.125"):
        table3_rows(ModelConfig.base(100, n_heads=4, d_model=256))


def test_the_seed_spread_needs_two_seeds() -> None:
    spread = seed_spread([Score(3.0, 30.0), Score(3.2, 29.5), Score(3.1, 30)])
    assert (spread.ppl, spread.bleu) == pytest.approx((0.2, 0.5))
    with pytest.raises(ValueError, match="at least 2 runs"):
        seed_spread([Score(3.0, 30.0)])


def test_claims_verdicts() -> None:
    rows = table3_rows(PAPER_BASE)
    paper = {r.name: Score(r.paper.ppl, r.paper.bleu) for r in rows}
    noise = Score(0.05, 0.3)
    # the paper's own numbers, read against a 0.3 BLEU spread
    verdicts = {c["claim"]: c for c in check_claims(rows, paper, paper, noise)}
    one_head = verdicts[
        "single-head attention is worse than the best other setting"
    ]
    assert one_head["rows"] == "A-h1 − base"  # base ties h=16, comes first
    assert one_head["our Δ"] == pytest.approx(24.9 - 25.8)
    assert one_head["verdict"] == "agrees"
    learned = verdicts[
        "learned positional embeddings: nearly identical results"
    ]
    assert learned["verdict"] == "agrees"  # -0.1 is within 0.3
    # one head the best of (A): compared with the best of the others, the
    # claim disagrees (not "not yet run", and not a difference of 0)
    best_single = dict(paper, **{"A-h1": Score(5.0, 26.5)})
    one_head = next(
        c
        for c in check_claims(rows, best_single, paper, noise)
        if c["claim"].startswith("single-head")
    )
    assert one_head["rows"] == "A-h1 − base"
    assert one_head["our Δ"] == pytest.approx(26.5 - 25.8)
    assert one_head["verdict"] == "disagrees"
    # no dropout better than the base by more than the spread: disagrees
    ours = dict(paper, **{"D-drop0.0": Score(5.77, 26.5)})
    dropout = next(
        c
        for c in check_claims(rows, ours, paper, noise)
        if c["claim"].startswith("dropout")
    )
    assert dropout["our Δ"] == pytest.approx(0.7)
    assert dropout["verdict"] == "disagrees"
    # a spread larger than every difference: all within noise
    wide = check_claims(rows, paper, paper, Score(1.0, 5.0))
    assert {c["verdict"] for c in wide if c["block"] != "E"} == {
        "within noise"
    }
    # a missing row: not yet run; one seed of the base: no spread yet
    partial = {k: v for k, v in paper.items() if k != "C-N8"}
    n_claim = next(
        c
        for c in check_claims(rows, partial, paper, noise)
        if "more layers" in c["claim"]
    )
    assert n_claim["verdict"] == "not yet run"
    assert n_claim["paper Δ"] == pytest.approx(25.5 - 23.7)
    assert {c["verdict"] for c in check_claims(rows, paper, paper, None)} == {
        "no seed spread yet"
    }

    # a claim that reads a row still learning at the budget says so
    caveats = {
        c["claim"]: c["caveat"]
        for c in check_claims(rows, paper, paper, noise, learning={"C-N8"})
    }
    assert caveats["bigger models are better: more layers N"] == (
        "C-N8 still learning at the budget"
    )
    assert (
        caveats["reducing the attention key size d_k hurts model quality"]
        == ""
    )


def test_a_row_still_learning_at_the_budget_is_named() -> None:
    """The NLL fall over the budget's last steps, against the base's seeds:
    a row that falls faster than every seed is still learning."""

    def curve(*nll: float) -> list[dict[str, float]]:
        return [{"step": 200 * (i + 1), "nll": n} for i, n in enumerate(nll)]

    assert late_nll_drop(curve(3.0, 2.5, 2.25, 2.0), 800, 400) == 0.5
    assert late_nll_drop(curve(3.0, 2.5, 2.25, 2.0), 800, 200) == 0.25
    # a record missing at either end, or another budget: not measurable
    assert late_nll_drop(curve(3.0, 2.5), 800, 400) is None
    assert late_nll_drop(curve(3.0, 2.5, 2.25, 2.0), 1000, 400) is None
    # over-fitting: the NLL rises, the drop is negative
    assert late_nll_drop(curve(2.0, 2.1, 2.3), 600, 400) == pytest.approx(-0.3)
    drops = {
        "base": 0.04,
        "base-seed1": 0.07,
        "base-seed2": 0.03,
        "C-N4": 0.16,
        "D-drop0.2": 0.0701,
        "A-h4": 0.07,  # no more than the base's largest: not flagged
        "D-drop0.0": -0.17,
        "B-dk4": None,
    }
    seeds = ("base", "base-seed1", "base-seed2")
    assert still_learning(drops, seeds) == {"C-N4", "D-drop0.2"}
    # no seed of the base measured: nothing to compare with
    assert still_learning({"C-N4": 0.16, "base": None}, seeds) == set()


def recorded(
    name: str, ppl: float, bleu: float, **train: object
) -> RecordedRun:
    config = {
        "model": {"d_model": 128, "n_heads": 8},
        "train": {
            "seed": 0,
            "max_steps": 2400,
            "out_dir": f"runs/{name}",
            **train,
        },
    }
    return RecordedRun(
        name,
        Path("results/runs") / name,
        {"config": config},
        [{"split": "val", "step": 2400, "ppl": ppl}],
        {"val": {"bleu": bleu}},
    )


def test_a_run_trained_again_gives_its_difference() -> None:
    first = recorded("table3-base", 6.93, 38.70)
    # the out_dir and an older run's missing dropout_masks are no difference
    again = recorded("compare-base", 6.88, 37.10, dropout_masks="torch")
    delta = repeat_delta(first, again, "python scripts/compare.py run base")
    assert delta.bleu == pytest.approx(-1.60)
    assert delta.ppl == pytest.approx(-0.05)
    assert score(again) == Score(6.88, 37.10)


def test_a_run_trained_differently_is_not_a_repeat() -> None:
    first = recorded("table3-base", 6.93, 38.70)
    retrain = "python scripts/compare.py run base"
    with pytest.raises(ValueError, match=r"differ in train\.seed; retrain"):
        repeat_delta(
            first, recorded("compare-base", 6.88, 37.10, seed=1), retrain
        )
    other = recorded("compare-base", 6.88, 37.10)
    other.info["config"]["model"] = {"d_model": 256, "n_heads": 8}
    with pytest.raises(ValueError, match=r"differ in model\.d_model"):
        repeat_delta(first, other, retrain)
    with pytest.raises(ValueError, match="no validation perplexity and BLEU"):
        score(RecordedRun("x", Path("x"), {"config": {}}))


def test_a_base_with_a_fixed_key_size_is_refused() -> None:
    with pytest.raises(ValueError, match="leave them unset"):
        table3_rows(ModelConfig.base(100, d_k=32))


@pytest.mark.slow
def test_the_script_trains_and_records_a_row(tmp_path: Path) -> None:
    """scripts/table3.py run: trains the row (here a tiny base on the
    numbers task), decodes validation from the last checkpoint, records it;
    a second call skips the recorded row."""
    config = tmp_path / "tiny.toml"
    text = (ROOT / "configs" / "numbers-cpu.toml").read_text()
    text = text.replace(
        'preset = "tiny"', 'preset = "tiny"\nn_heads = 8\nn_layers = 3'
    )
    text = text.replace("max_steps = 1000", "max_steps = 6")
    text = text.replace("eval_every = 250", "eval_every = 3")
    text = text.replace("save_every = 250", "save_every = 3")
    config.write_text(text)
    command = [
        sys.executable,
        str(ROOT / "scripts" / "table3.py"),
        "run",
        "A-h1",
        "--config",
        str(config),
        "--runs",
        str(tmp_path / "runs"),
        "--results",
        str(tmp_path / "results"),
        "--note",
        "a test",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "results" / "table3-A-h1"
    assert sorted(p.name for p in out.iterdir()) == [
        "eval-val.json",
        "hyps-val.txt",
        "metrics.jsonl",
        "record.json",
        "run.json",
    ]
    evaluation = json.loads((out / "eval-val.json").read_text())
    assert evaluation["model"]["steps"] == [6]
    assert (evaluation["beam_size"], evaluation["alpha"]) == (4, 0.6)
    hyps = (out / "hyps-val.txt").read_text().splitlines()
    assert len(hyps) == evaluation["n_sentences"] == 100
    trained = json.loads((out / "run.json").read_text())
    assert trained["config"]["model"]["n_heads"] == 1
    assert trained["config"]["model"]["d_k"] == 64  # d_model / 1
    record = json.loads((out / "record.json").read_text())
    assert (record["table3_row"], record["note"]) == ("A-h1", "a test")
    again = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert again.returncode == 0 and "skipping" in again.stdout
    # an interrupted run is resumed, not recorded as it stands
    shutil.rmtree(out)
    run_json = tmp_path / "runs" / "table3-A-h1" / "run.json"
    info = json.loads(run_json.read_text())
    run_json.write_text(json.dumps({**info, "status": "interrupted"}))
    resumed = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "--resume" in resumed.stdout
    assert (out / "eval-val.json").is_file()
    wrong = subprocess.run(
        [*command[:3], "A-h3", *command[4:]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert wrong.returncode != 0
    assert "no Table 3 row named A-h3" in wrong.stderr


def test_a_pinned_precision_names_the_run_and_sets_the_precision() -> None:
    """``--precision fp32``: the run is ``<row>-fp32`` and trains with
    ``train.precision = "fp32"``, whatever the config's "auto" would pick on
    this CPU; without it, the name and the command are the row's own."""
    assert pin_precision("table3-base", None) == ("table3-base", [])
    name, extra = pin_precision("table3-base-seed1", "fp32")
    assert name == "table3-base-seed1-fp32"
    listed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "table3.py"),
            "list",
            "base",
            "--precision",
            "fp32",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout.splitlines()
    assert listed[0].startswith("# table3-base-fp32 (")
    command = listed[1].split()
    assert command[-2:] == extra == ["--set", 'train.precision="fp32"']
    assert command[command.index("--out-dir") + 1] == "runs/table3-base-fp32"
    base = RunConfig.from_toml(ROOT / "configs" / "table3-cpu.toml")
    sets = [command[i + 1] for i, a in enumerate(command) if a == "--set"]
    raw = apply_overrides(base.to_dict(), sets)
    assert raw["train"]["precision"] == "fp32"
    assert base.train.precision == "auto"
    with pytest.raises(ValueError, match="precision must be one of"):
        pin_precision("table3-base", "fp16")


@pytest.mark.parametrize("script", ["table3.py", "compare.py"])
def test_a_listing_read_only_in_part_ends_quietly(script: str) -> None:
    """``list | head -1``: the reader closes the pipe after one line; the
    script stops without a BrokenPipeError traceback."""
    lister = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / script), "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert lister.stdout is not None and lister.stderr is not None
    first = lister.stdout.readline()
    lister.stdout.close()  # as `head -1` does
    err = lister.stderr.read().decode()
    assert lister.wait(timeout=60) == 0, err
    assert first.startswith(b"# ")
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def _as_recorded(config: RunConfig, name: str, **train: object) -> RecordedRun:
    """A recorded run whose run.json config is ``config`` with ``train``
    changed (no metrics: only its config is read)."""
    recorded = copy.deepcopy(dataclasses.asdict(config))
    recorded["train"].update(train)
    return RecordedRun(name, Path("results/runs") / name, {"config": recorded})


def test_train_differences_name_what_a_run_trained_otherwise() -> None:
    want = RunConfig.from_toml(ROOT / "configs" / "table3-cpu.toml")
    # where and how a run was started is no difference
    same = _as_recorded(want, "x", out_dir="elsewhere", resume=True)
    assert train_differences(same, want) == []
    # a seed the caller expects is none either; one it does not expect is
    seeded = _as_recorded(want, "x", seed=1)
    assert train_differences(seeded, want, seed=1) == []
    assert train_differences(seeded, want) == ["seed"]
    # a row's own training setting, expected or not
    smoothed = _as_recorded(want, "x", label_smoothing=0.2)
    assert train_differences(smoothed, want, label_smoothing=0.2) == []
    assert train_differences(smoothed, want) == ["label_smoothing"]
    # the dropout sampler is compared as drawn, not as spelled
    other = "bits" if want.train.dropout_masks == "torch" else "torch"
    sampled = _as_recorded(want, "x", dropout_masks=other)
    assert train_differences(sampled, want) == ["dropout_masks"]
    with pytest.raises(
        ValueError, match="no training setting lable_smoothing"
    ):
        train_differences(same, want, lable_smoothing=0.2)
