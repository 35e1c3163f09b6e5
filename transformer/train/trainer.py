"""The training loop of §5, usable from the command line and as a library in a
notebook::

    from transformer.train import RunConfig, Trainer
    config = RunConfig.from_toml(
        "configs/numbers-cpu.toml", ["train.max_steps=300"]
    )
    trainer = Trainer(config)
    history = trainer.fit()  # metric records (also in <out_dir>/metrics.jsonl)
    trainer.model, trainer.tokenizer  # the model (eval mode), its tokenizer

``Trainer(config)`` first sets the run up with
:func:`transformer.train.setup.build_run` (device, run folder, data,
tokenizer, model, optimizer, schedule, a resumed position); ``Trainer(run)``
takes a run built that way. The Trainer itself only trains: the loop, its
data order, validation, checkpoints and ``run.json``
(:class:`~transformer.train.runinfo.RunRecord`).

One optimizer step = ``grad_accum`` micro-batches on each of ``world_size``
processes. The loss of the step is the sum of the label-smoothed token losses
divided by the number of target tokens in the whole step, so 1 process x 4
micro-batches and 4 processes x 1 give the same gradient. The learning rate
(Eq. 3) advances once per optimizer step.

Dropout draws at step s on rank r come from a generator seeded with (seed, r,
s): a step is reproducible by itself, which makes resuming exact (the data
order is fixed by (seed, epoch) and the position in the epoch, stored in the
checkpoint).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.profiler import record_function

# plain tqdm: tqdm.auto warns in notebooks without ipywidgets, and its widgets
# break altair offline
from tqdm import tqdm

from transformer.data import (
    Pair,
    TokenBatchSampler,
    Tokenizer,
    collate,
    load_pairs,
)
from transformer.dropout import use_bits_masks
from transformer.train.checkpoint import (
    checkpoint_name,
    latest_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from transformer.train.config import RunConfig
from transformer.train.device import (
    attention_precision,
    autocast,
    autocast_dtype,
    check_compile,
    dropout_bits,
    memory_gb,
)
from transformer.train.distributed import all_reduce_sum, shutdown
from transformer.train.loss import batch_loss
from transformer.train.metrics import MetricsLogger, perplexity
from transformer.train.runinfo import RunRecord, run_info
from transformer.train.setup import TrainingRun, build_run
from transformer.train.signals import StopSignals


class TrainingDivergedError(RuntimeError):
    """The loss or the gradient became NaN or infinite; training stopped before
    the bad update."""


class Trainer:
    """Trains the model of a :class:`TrainingRun`, or of the run that
    :func:`build_run` sets up from a :class:`RunConfig` (see the module
    docstring); ``train_pairs``, ``val_pairs`` and ``tokenizer`` then replace
    what the config would load or train. ``callbacks`` are called as
    ``callback(trainer)`` after every optimizer step (and its logging,
    validation and checkpoint).
    """

    def __init__(
        self,
        run: RunConfig | TrainingRun,
        *,
        train_pairs: list[Pair] | None = None,
        val_pairs: list[Pair] | None = None,
        tokenizer: Tokenizer | None = None,
        callbacks: tuple = (),
    ) -> None:
        if isinstance(run, RunConfig):
            run = build_run(
                run,
                train_pairs=train_pairs,
                val_pairs=val_pairs,
                tokenizer=tokenizer,
            )
        elif any(x is not None for x in (train_pairs, val_pairs, tokenizer)):
            raise TypeError(
                "train_pairs, val_pairs and tokenizer go to build_run (or to"
                " Trainer with a RunConfig), not with a built run"
            )
        self.run, self.callbacks = run, callbacks
        self.config, self.device, self.dist = run.config, run.device, run.dist
        self.is_main, self.lock, self.out_dir = (
            run.is_main,
            run.lock,
            run.out_dir,
        )
        self.ckpt_dir = self.out_dir / "checkpoints" if self.out_dir else None
        self.model, self.tokenizer = run.model, run.tokenizer
        self.optimizer, self.schedule = run.optimizer, run.schedule
        self.train_pairs, self.val_pairs = run.train_pairs, run.val_pairs
        self.filter_stats = run.filter_stats
        self.examples, self.val_examples = run.examples, run.val_examples
        self.grad_accum = run.grad_accum
        p = run.position
        self.step, self.epoch, self.batch_in_epoch = (
            p.step,
            p.epoch,
            p.batch_in_epoch,
        )
        self.tokens_seen = p.tokens_seen
        t, world = self.config.train, self.dist.world_size
        self.sampler = TokenBatchSampler(
            self.examples,
            t.max_tokens,
            shuffle=True,
            seed=t.seed,
            rank=self.dist.rank,
            world_size=world,
        )
        if run.resumed_from is not None and run.resumed_layout != (
            world,
            self.grad_accum,
        ):
            saved_world, saved_accum = run.resumed_layout or (None, None)
            self._say(
                "warning: the checkpoint was written with world size"
                f" {saved_world} and grad_accum {saved_accum}, this run has"
                f" {world} and {self.grad_accum}: training goes on, but the"
                " data order is no longer exactly that of an"
                " uninterrupted run"
            )
        self.amp_dtype = autocast_dtype(self.device, t.precision)
        # train.dropout_masks: which sampler draws the dropout masks
        self.dropout_bits = dropout_bits(self.device, t.dropout_masks)
        use_bits_masks(self.model, self.dropout_bits)
        module: torch.nn.Module = self.model
        if self.dist.enabled:
            module = DistributedDataParallel(
                self.model,
                device_ids=(
                    [self.device.index] if self.device.type == "cuda" else None
                ),
            )
        check_compile(self.device, t.compile)
        self.train_module = (
            torch.compile(module, dynamic=True) if t.compile else module
        )
        self.metrics = MetricsLogger(
            (
                self.out_dir / "metrics.jsonl"
                if self.out_dir and self.is_main
                else None
            ),
            resume_step=self.step if run.resumed_from is not None else None,
        )
        self.history = self.metrics.records
        self.interrupted = False
        self.stop_signals = StopSignals()
        self._last_saved = -1
        self._start = time.perf_counter()
        self._stream = self._micro_batches()

    # -- the loop -------------------------------------------------------------
    def fit(self) -> list[dict[str, Any]]:
        """Train until ``train.max_steps`` (or SIGINT/SIGTERM: checkpoint, then
        return). Returns the metrics."""
        t = self.config.train
        record = RunRecord.open(
            (
                self.out_dir / "run.json"
                if self.out_dir and self.is_main
                else None
            ),
            {
                **run_info(self.device, self.dist.world_size),
                "config": self.config.to_dict(),
                "data": str(self.filter_stats),
                "parameters": self.model.num_parameters(),
                "grad_accum": self.grad_accum,
                # what train.precision and train.dropout_masks resolved to
                "autocast": str(self.amp_dtype).removeprefix("torch.")
                if self.amp_dtype is not None
                else None,
                "dropout_sampler": "bits" if self.dropout_bits else "torch",
                # every scoring function's scores and softmax: float32 on the
                # CPU whatever the autocast (runs without this key computed
                # the non-default scorings' in the autocast dtype)
                "attention_precision": attention_precision(
                    self.device, self.amp_dtype
                ),
                "start_step": self.step,
            },
        )
        start = self._start = time.perf_counter()
        self.stop_signals.install()
        bar = tqdm(
            total=t.max_steps,
            initial=self.step,
            desc="train",
            disable=not (t.progress and self.is_main),
            dynamic_ncols=True,
        )
        window = {
            "loss": 0.0,
            "nll": 0.0,
            "tokens": 0.0,
            "steps": 0,
            "time": time.perf_counter(),
        }
        try:
            while self.step < t.max_steps:
                stats = self._train_step()
                for key in ("loss", "nll", "tokens"):
                    window[key] += stats[key]
                window["steps"] += 1
                bar.update(1)
                bar.set_postfix(
                    loss=f"{stats['loss'] / stats['tokens']:.3f}",
                    lr=f"{stats['lr']:.2e}",
                )
                if (
                    self.step % t.log_every == 0
                    or self.step == t.max_steps
                    or stats["stop"]
                ):
                    self._log_train(window, stats, start)
                    window.update(
                        loss=0.0,
                        nll=0.0,
                        tokens=0.0,
                        steps=0,
                        time=time.perf_counter(),
                    )
                if stats["stop"]:
                    self.interrupted = True
                    self._say(
                        f"interrupted at step {self.step}; saving a checkpoint"
                    )
                    break
                if (
                    t.eval_every
                    and self.step % t.eval_every == 0
                    and self.step < t.max_steps
                ):
                    self.validate()
                if t.save_every and self.step % t.save_every == 0:
                    self.save()
                for callback in self.callbacks:
                    callback(self)
            if not self.interrupted:
                self.validate()
            self.save()
        except BaseException:
            if self.lock is not None:
                # a failed run leaves the folder free for --resume
                self.lock.release()
            raise
        finally:
            bar.close()
            self.stop_signals.restore()
        record.close(
            wall_time_s=time.perf_counter() - start,
            final_step=self.step,
            interrupted=self.interrupted,
            target_tokens=self.tokens_seen,
            status="interrupted" if self.interrupted else "finished",
        )
        if self.lock is not None:
            # the folder is complete: another process may resume it
            self.lock.release()
        self.model.eval()
        return self.history

    def _micro_batches(self):
        """Micro-batches forever, epoch after epoch, from the position (epoch,
        batch_in_epoch)."""
        while True:
            self.sampler.set_epoch(self.epoch)
            for i, indices in enumerate(self.sampler):
                if i < self.batch_in_epoch:
                    continue  # already trained on (resuming mid-epoch)
                self.batch_in_epoch = i + 1
                yield collate(
                    [self.examples[j] for j in indices],
                    pad_id=self.tokenizer.pad_id,
                )
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0

    def _train_step(self) -> dict[str, Any]:
        t, dev, world = self.config.train, self.device, self.dist.world_size
        # collate (padding) of this step's micro-batches
        with record_function("data"):
            micro = [next(self._stream) for _ in range(self.grad_accum)]
        n_tokens = all_reduce_sum(
            torch.tensor([float(sum(b.n_tokens for b in micro))], device=dev),
            self.dist,
        ).item()
        seed = int(
            np.random.SeedSequence(
                [t.seed, self.dist.rank, self.step]
            ).generate_state(1)[0]
        )
        torch.manual_seed(seed)  # dropout of this step on this rank
        self.train_module.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=dev)
        nll_sum = torch.zeros((), device=dev)
        for i, batch in enumerate(micro):
            batch = batch.to(dev)
            last = i == len(micro) - 1
            no_sync = (
                self.train_module.no_sync()
                if self.dist.enabled and not last
                else contextlib.nullcontext()
            )
            with no_sync:
                with record_function("forward"), autocast(dev, self.amp_dtype):
                    out = self._forward_loss(self.train_module, batch)
                # DDP averages gradients over ranks; x world makes the result
                # sum / all tokens of the step.
                with record_function("backward"):
                    (out.loss * (world / n_tokens)).backward()
            loss_sum += out.loss.detach()
            nll_sum += out.nll.detach()
        stop = torch.tensor(float(self.stop_signals.requested), device=dev)
        loss_sum, nll_sum, stop = all_reduce_sum(
            torch.stack([loss_sum, nll_sum, stop]), self.dist
        ).tolist()
        if not math.isfinite(loss_sum):
            self._diverged(f"the loss became {loss_sum / n_tokens}")
        # gradient norm (and clipping), Adam
        with record_function("optimizer"):
            lr = self.schedule.step(self.optimizer)
            max_norm = t.clip_norm if t.clip_norm > 0 else math.inf
            grad_norm = float(
                torch.nn.utils.clip_grad_norm_(
                    self.model.parameters(), max_norm
                )
            )
            if not math.isfinite(grad_norm):
                self._diverged(f"the gradient norm became {grad_norm}")
            self.optimizer.step()
        self.step += 1
        self.tokens_seen += n_tokens
        return {
            "loss": loss_sum,
            "nll": nll_sum,
            "tokens": n_tokens,
            "lr": lr,
            "grad_norm": grad_norm,
            "stop": stop > 0,
        }

    def _forward_loss(self, module: torch.nn.Module, batch: Any) -> Any:
        """The label-smoothed loss of a batch (§5.4); with ``train.fused_loss``
        the projection is fused in."""
        t = self.config.train
        return batch_loss(
            module,
            batch,
            t.label_smoothing,
            self.tokenizer.pad_id,
            self.model.output_weight if t.fused_loss else None,
        )

    def _diverged(self, what: str) -> None:
        last = latest_checkpoint(self.ckpt_dir) if self.ckpt_dir else None
        where = (
            f"the last good checkpoint, {last}, is untouched"
            if last
            else "no checkpoint was written"
        )
        raise TrainingDivergedError(
            f"{what} at step {self.step + 1}; training stopped before applying"
            f" it ({where}). Try a smaller train.lr_scale, a longer warm-up,"
            " train.clip_norm, or train.precision='fp32'."
        )

    def _log_train(
        self, window: dict[str, float], stats: dict[str, Any], start: float
    ) -> None:
        seconds = time.perf_counter() - window["time"]
        nll = window["nll"] / window["tokens"]
        self.metrics.log(
            {
                "split": "train",
                "step": self.step,
                "epoch": self.epoch,
                "loss": window["loss"] / window["tokens"],
                "nll": nll,
                "ppl": perplexity(nll),
                "lr": stats["lr"],
                "grad_norm": stats["grad_norm"],
                "tokens_per_s": window["tokens"] / max(seconds, 1e-9),
                "gpu_mem_gb": memory_gb(self.device),
                "elapsed_s": time.perf_counter() - start,
                "target_tokens": self.tokens_seen,
            }
        )

    # -- validation, checkpoints, evaluation ----------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, Any] | None:
        """Teacher-forced loss on the validation pairs (+ greedy BLEU if
        ``train.eval_sentences``)."""
        if not self.val_examples or not self.is_main:
            return None  # only rank 0 logs, so only rank 0 validates
        t = self.config.train
        self.model.eval()
        sums = [0.0, 0.0, 0.0]
        sampler = TokenBatchSampler(
            self.val_examples, t.max_tokens, shuffle=False
        )
        for indices in sampler:
            batch = collate(
                [self.val_examples[j] for j in indices],
                pad_id=self.tokenizer.pad_id,
            ).to(self.device)
            with autocast(self.device, self.amp_dtype):
                out = self._forward_loss(self.model, batch)
            sums = [
                a + b
                for a, b in zip(
                    sums,
                    (out.loss.item(), out.nll.item(), out.n_tokens.item()),
                )
            ]
        record: dict[str, Any] = {
            "split": "val",
            "step": self.step,
            "loss": sums[0] / sums[2],
            "nll": sums[1] / sums[2],
            "ppl": perplexity(sums[1] / sums[2]),
            "elapsed_s": time.perf_counter() - self._start,
        }
        if t.eval_sentences:
            scores, _ = self.evaluate(
                self.val_pairs[: t.eval_sentences], beam_size=1
            )
            record.update(
                bleu=scores.bleu,
                chrf=scores.chrf,
                exact_match=scores.exact_match,
            )
        self.metrics.log(record)
        return record

    def evaluate(
        self, pairs: list[Pair] | None = None, beam_size: int | None = None
    ):
        """Decode ``pairs`` (default: the test split) and score them: returns
        (Scores, hypotheses)."""
        from transformer.evaluation import evaluate_translations

        d = self.config.decode
        pairs = (
            pairs
            if pairs is not None
            else load_pairs(self.config.data, "test")
        )
        return evaluate_translations(
            self.model.eval(),
            self.tokenizer,
            pairs,
            beam_size=beam_size or d.beam_size,
            alpha=d.alpha,
            extra_len=d.extra_len,
            batch_size=d.batch_size,
        )

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (rank 0) and keep the newest
        ``train.keep_last``."""
        if self.ckpt_dir is None or self._last_saved == self.step:
            return None
        self._last_saved = self.step
        if not self.is_main:
            return None
        state = {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "schedule": self.schedule.state_dict(),
            "world_size": self.dist.world_size,
            "grad_accum": self.grad_accum,
            "tokens_seen": self.tokens_seen,
        }
        path = save_checkpoint(
            self.ckpt_dir / checkpoint_name(self.step),
            self.model,
            tokenizer=self.tokenizer,
            run_config=self.config.to_dict(),
            optimizer=self.optimizer,
            trainer_state=state,
        )
        prune_checkpoints(self.ckpt_dir, self.config.train.keep_last)
        return path

    def close(self) -> None:
        """Release the run folder's lock and leave the process group
        (torchrun)."""
        if self.lock is not None:
            self.lock.release()
        shutdown(self.dist)

    # -- helpers --------------------------------------------------------------
    def _say(self, message: str) -> None:
        if self.is_main and self.config.train.progress:
            tqdm.write(message, file=sys.stderr)
