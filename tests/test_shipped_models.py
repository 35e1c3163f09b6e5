"""The trained models shipped under models/: small enough, complete, and they
really translate.

Each is loaded exactly as a reader loads it (one line), translates validation
sentences of its own direction, and must score a BLEU far above chance (an
untrained or broken export scores about 0), so a bad export can never ship. The
validation text comes from $MULTI30K_DIR (set by .ci/run).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from transformer.evaluation import bleu
from transformer.pretrained import load_translator

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(
    p for p in (ROOT / "models").glob("*") if (p / "manifest.json").is_file()
)


def test_at_least_one_model_ships() -> None:
    assert MODELS, (
        "models/ holds no exported model (python -m transformer export ...)"
    )


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_a_shipped_model_is_small_and_complete(path: Path) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    assert {
        "model.safetensors",
        "model_config.json",
        "run_config.json",
        "tokenizer.json",
    } <= set(manifest)
    assert not (path / "optimizer.safetensors").exists()
    for file in path.iterdir():
        assert file.stat().st_size < 25 * 2**20, f"{file} is over 25 MB"


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("MULTI30K_DIR"),
    reason="MULTI30K_DIR is not set (.ci/run sets it)",
)
@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_a_shipped_model_translates_validation_sentences_far_above_chance(
    path: Path,
) -> None:
    from transformer.data import load_multi30k

    translator = load_translator(path)
    data = json.loads((path / "run_config.json").read_text())["data"]
    pairs = load_multi30k(
        "val", src_lang=data["src_lang"], tgt_lang=data["tgt_lang"]
    )[:40]
    hyps = translator.translate([s for s, _ in pairs], beam_size=1)
    score, _ = bleu(hyps, [t for _, t in pairs])
    assert score > 25.0, (
        f"{path.name}: greedy BLEU {score:.1f} on 40 validation sentences"
    )
