"""The data pipeline of §5.1: corpora -> shared BPE tokenizer -> examples ->
token-budget batches.

::

    from torch.utils.data import DataLoader
    from transformer.data import (
        TokenBatchSampler, collate, encode_pairs, load_multi30k,
        train_tokenizer_for,
    )

    train = load_multi30k("train")  # list of (German, English) pairs
    tokenizer = train_tokenizer_for(train, vocab_size=8000)  # training split
    examples, stats = encode_pairs(train, tokenizer, max_len=256)
    sampler = TokenBatchSampler(examples, max_tokens=4096, seed=0)
    loader = DataLoader(examples, batch_sampler=sampler, collate_fn=collate)
    for epoch in range(n_epochs):
        sampler.set_epoch(epoch)
        for batch in loader:  # Batch(src, tgt_in, tgt_out, n_tokens)
            ...
"""

from transformer.data.batching import TokenBatchSampler, example_lengths
from transformer.data.collate import Batch, collate, padding_efficiency
from transformer.data.corpus import Pair, load_parallel_files
from transformer.data.examples import Example, FilterStats, encode_pairs
from transformer.data.hub import HubUnavailableError
from transformer.data.multi30k import MULTI30K_ENV, load_multi30k
from transformer.data.synthetic import (
    copy_task,
    english_number,
    german_number,
    number_split,
    number_task,
)
from transformer.data.tasks import TASKS, DataConfig, load_pairs, task
from transformer.data.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    Tokenizer,
    train_tokenizer_for,
)
from transformer.data.wmt14 import load_wmt14

__all__ = [
    "BOS_ID",
    "EOS_ID",
    "TASKS",
    "DataConfig",
    "MULTI30K_ENV",
    "PAD_ID",
    "SPECIAL_TOKENS",
    "UNK_ID",
    "Batch",
    "Example",
    "FilterStats",
    "HubUnavailableError",
    "Pair",
    "TokenBatchSampler",
    "Tokenizer",
    "collate",
    "copy_task",
    "encode_pairs",
    "english_number",
    "example_lengths",
    "german_number",
    "load_multi30k",
    "load_pairs",
    "load_parallel_files",
    "load_wmt14",
    "number_split",
    "number_task",
    "padding_efficiency",
    "task",
    "train_tokenizer_for",
]
