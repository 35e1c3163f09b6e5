"""Token-budget batching (§5.1), collation into Batch, and padding
efficiency."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from transformer.data import (
    BOS_ID,
    EOS_ID,
    Batch,
    Example,
    TokenBatchSampler,
    collate,
    example_lengths,
    padding_efficiency,
)


def make_examples(n: int, seed: int = 0, max_len: int = 60) -> list[Example]:
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        s, t = rng.randint(1, max_len), rng.randint(1, max_len)
        examples.append(([7] * s + [EOS_ID], [BOS_ID] + [8] * t + [EOS_ID]))
    return examples


EXAMPLES = make_examples(997)


def epoch_batches(sampler: TokenBatchSampler, epoch: int) -> list[list[int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


# -- collate ------------------------------------------------------------------
def test_collate_hand_example() -> None:
    batch = collate(
        [
            ([5, 6, EOS_ID], [BOS_ID, 9, EOS_ID]),
            ([5, EOS_ID], [BOS_ID, 9, 9, 9, EOS_ID]),
        ]
    )
    torch.testing.assert_close(batch.src, torch.tensor([[5, 6, 2], [5, 2, 0]]))
    torch.testing.assert_close(
        batch.tgt_in, torch.tensor([[1, 9, 0, 0], [1, 9, 9, 9]])
    )
    torch.testing.assert_close(
        batch.tgt_out, torch.tensor([[9, 2, 0, 0], [9, 9, 9, 2]])
    )
    assert batch.n_tokens == 6 == int((batch.tgt_out != 0).sum())
    assert len(batch) == 2 and batch.src.dtype == torch.long


def test_batch_to_device_keeps_everything() -> None:
    batch = collate(EXAMPLES[:4])
    moved = batch.to("meta")
    assert {
        t.device.type for t in (moved.src, moved.tgt_in, moved.tgt_out)
    } == {"meta"}
    assert (moved.n_tokens, moved.pad_id, moved.src.shape) == (
        batch.n_tokens,
        batch.pad_id,
        batch.src.shape,
    )


def test_collate_custom_pad_id() -> None:
    batch = collate(
        [
            ([5, EOS_ID], [BOS_ID, EOS_ID]),
            ([5, 5, EOS_ID], [BOS_ID, 9, EOS_ID]),
        ],
        pad_id=99,
    )
    assert (
        batch.src[0, -1] == 99
        and batch.tgt_out[0, -1] == 99
        and batch.n_tokens == 3
    )


@pytest.mark.parametrize(
    "examples, message",
    [
        ([], "empty list"),
        ([([EOS_ID], [BOS_ID])], "at least BOS and EOS"),
        ([([], [BOS_ID, EOS_ID])], "at least EOS"),
    ],
)
def test_collate_rejects_malformed(
    examples: list[Example], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        collate(examples)


def test_padding_efficiency_hand_computed() -> None:
    batch = collate(
        [
            ([5, 6, EOS_ID], [BOS_ID, 9, EOS_ID]),
            ([5, EOS_ID], [BOS_ID, 9, 9, 9, EOS_ID]),
        ]
    )
    # source: 5 real of 6; target (tgt_out): 6 real of 8  ->  11 / 14
    assert padding_efficiency([batch]) == pytest.approx(11 / 14)
    assert (
        padding_efficiency([collate([([5, EOS_ID], [BOS_ID, 9, EOS_ID])])])
        == 1.0
    )


# -- TokenBatchSampler --------------------------------------------------------
@pytest.mark.parametrize("max_tokens", [61, 300, 2000])
def test_every_batch_within_budget(max_tokens: int) -> None:
    sampler = TokenBatchSampler(EXAMPLES, max_tokens=max_tokens, seed=1)
    for batch in map(collate, ([EXAMPLES[i] for i in b] for b in sampler)):
        assert (
            batch.src.numel() <= max_tokens
            and batch.tgt_in.numel() <= max_tokens
        )


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_pair_exactly_once_per_epoch(shuffle: bool) -> None:
    sampler = TokenBatchSampler(EXAMPLES, max_tokens=500, shuffle=shuffle)
    for epoch in range(3):
        indices = [i for batch in epoch_batches(sampler, epoch) for i in batch]
        assert sorted(indices) == list(range(len(EXAMPLES)))
        assert len(epoch_batches(sampler, epoch)) == len(sampler)


def test_same_seed_and_epoch_same_order_other_epochs_differ() -> None:
    a, b = (
        TokenBatchSampler(EXAMPLES, 500, seed=3),
        TokenBatchSampler(EXAMPLES, 500, seed=3),
    )
    assert epoch_batches(a, 5) == epoch_batches(b, 5)
    assert epoch_batches(a, 5) != epoch_batches(a, 6)
    assert epoch_batches(a, 5) != epoch_batches(
        TokenBatchSampler(EXAMPLES, 500, seed=4), 5
    )
    # Not only the batch order: the members of the batches change too (ties are
    # reshuffled).
    members = lambda batches: sorted(sorted(b) for b in batches)  # noqa: E731
    assert members(epoch_batches(a, 5)) != members(epoch_batches(a, 6))


def test_no_shuffle_is_length_sorted_and_epoch_independent() -> None:
    sampler = TokenBatchSampler(EXAMPLES, 500, shuffle=False)
    first = epoch_batches(sampler, 0)
    assert first == epoch_batches(sampler, 7)
    lengths = example_lengths(EXAMPLES)
    flat = [(max(lengths[i]), *lengths[i]) for batch in first for i in batch]
    # by the longer side, then source, then target length
    assert flat == sorted(flat)


def test_batches_are_length_buckets() -> None:
    """Bucketing keeps padding low: far better than batching the same pairs in
    random order."""
    # translation-like: target length close to source length
    rng = random.Random(0)
    examples = [
        (
            [7] * s + [EOS_ID],
            [BOS_ID] + [8] * max(1, s + rng.randint(-3, 3)) + [EOS_ID],
        )
        for s in (rng.randint(1, 60) for _ in range(2000))
    ]
    sampler = TokenBatchSampler(examples, 2000)
    bucketed = padding_efficiency(
        collate([examples[i] for i in b]) for b in sampler
    )
    order = list(range(len(examples)))
    rng.shuffle(order)
    naive = padding_efficiency(
        collate([examples[i] for i in order[k : k + 30]])
        for k in range(0, len(order), 30)
    )
    assert bucketed > 0.9 > 0.6 > naive


def test_lengths_or_examples_give_the_same_batches() -> None:
    lengths = [(len(s), len(t) - 1) for s, t in EXAMPLES]
    assert epoch_batches(
        TokenBatchSampler(lengths, 400, seed=2), 1
    ) == epoch_batches(TokenBatchSampler(EXAMPLES, 400, seed=2), 1)


@pytest.mark.parametrize("world_size", [2, 3, 7])
def test_ranks_get_equal_counts_and_cover_every_pair(world_size: int) -> None:
    samplers = [
        TokenBatchSampler(EXAMPLES, 500, seed=0, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    shards = [epoch_batches(s, 2) for s in samplers]
    # equal: DDP never waits on a finished rank
    assert len({len(shard) for shard in shards}) == 1
    assert all(len(shard) == len(s) for shard, s in zip(shards, samplers))
    counts = Counter(i for shard in shards for batch in shard for i in batch)
    # every pair seen by some rank
    assert set(counts) == set(range(len(EXAMPLES)))
    # Duplicates only from the documented padding: the first (-n_batches) %
    # world_size global batches.
    global_batches = samplers[0].global_batches()
    n_pad = -len(global_batches) % world_size
    assert all(c <= 2 for c in counts.values())
    assert sorted(i for i, c in counts.items() if c == 2) == sorted(
        i for b in global_batches[:n_pad] for i in b
    )


def test_drop_last_ranks_see_each_pair_at_most_once() -> None:
    shards = [
        epoch_batches(
            TokenBatchSampler(
                EXAMPLES, 500, rank=r, world_size=3, drop_last=True
            ),
            0,
        )
        for r in range(3)
    ]
    assert len({len(s) for s in shards}) == 1
    counts = Counter(i for shard in shards for batch in shard for i in batch)
    assert max(counts.values()) == 1


def test_more_ranks_than_batches_still_equal_counts() -> None:
    shards = [
        epoch_batches(
            TokenBatchSampler(EXAMPLES[:5], 10_000, rank=r, world_size=4), 0
        )
        for r in range(4)
    ]
    assert [len(s) for s in shards] == [1, 1, 1, 1]


def test_dataloader_integration() -> None:
    sampler = TokenBatchSampler(EXAMPLES, 800, seed=0)
    loader = DataLoader(EXAMPLES, batch_sampler=sampler, collate_fn=collate)
    batches = list(loader)
    assert len(batches) == len(sampler) and all(
        isinstance(b, Batch) for b in batches
    )
    assert sum(b.n_tokens for b in batches) == sum(
        len(t) - 1 for _, t in EXAMPLES
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_tokens": 0}, "max_tokens must be positive"),
        ({"max_tokens": 50}, r"do not fit in max_tokens=50.*encode_pairs"),
        (
            {"max_tokens": 500, "rank": 2, "world_size": 2},
            "0 <= rank < world_size",
        ),
    ],
)
def test_sampler_rejects_bad_arguments(
    kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TokenBatchSampler(EXAMPLES, **kwargs)


def test_sampler_rejects_empty() -> None:
    with pytest.raises(ValueError, match="No examples"):
        TokenBatchSampler([], 100)
