"""Where training runs and in which precision: CUDA, then Apple's MPS, then the
CPU."""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings

import torch


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"``: CUDA (this process's GPU under torchrun), else MPS, else
    CPU; or a name like ``"cuda:1"``."""
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ValueError(
                f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps"
            ) from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r} was asked for, but CUDA is not available;"
                " use 'auto' or 'cpu'"
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 matrix products on this CPU: true on any
    AVX-512 CPU, where those without AVX-512 BF16 or AMX convert in software
    (:func:`cpu_has_native_bf16` says which)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def cpu_has_native_bf16() -> bool | None:
    """Whether the CPU has AVX-512 BF16 or AMX-BF16 instructions (None where
    this PyTorch cannot tell)."""
    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):
        return None
    return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))


def attention_precision(
    device: torch.device, amp_dtype: torch.dtype | None
) -> str:
    """What attention's scores and softmax are computed in, as ``run.json``
    records it: float32 on the CPU whatever the autocast
    (:mod:`transformer.attention` attends bf16 inputs in float32 there, for
    every scoring function), else the autocast dtype."""
    if device.type == "cpu" or amp_dtype is None:
        return "float32"
    return str(amp_dtype).removeprefix("torch.")


def autocast_dtype(
    device: torch.device, precision: str = "auto"
) -> torch.dtype | None:
    """The autocast dtype, or None for plain float32.

    "auto" uses bfloat16 on CUDA GPUs that support it (Ampere and newer) and on
    CPUs where oneDNN runs it (:func:`cpu_has_bf16`: AVX-512 and newer; fast
    with AVX-512 BF16 or AMX), float32 elsewhere.
    bfloat16 keeps float32's exponent range, so no loss scaling is needed
    (float16 would need a GradScaler and is not offered). Master weights,
    Adam's moments, the softmax over the vocabulary and the loss stay float32
    either way. "bf16" on a CPU without those instructions is emulated and
    slower than float32: it runs, with a warning.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        if device.type == "cpu" and not cpu_has_bf16():
            warnings.warn(
                "precision 'bf16' on a CPU without bf16 instructions (AVX-512"
                " BF16 / AMX) is emulated and slower than fp32; set"
                " train.precision='auto' to pick the fast one",
                stacklevel=2,
            )
        return torch.bfloat16
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        return (
            torch.bfloat16 if device.type == "cpu" and cpu_has_bf16() else None
        )
    raise ValueError(
        f"precision must be 'auto', 'bf16' or 'fp32', got {precision!r}"
    )


def dropout_bits(device: torch.device, masks: str = "auto") -> bool:
    """Whether dropout draws its masks from raw random bits
    (:func:`transformer.dropout.bits_dropout`) rather than with PyTorch's
    Bernoulli sampling.

    "auto" draws bits on the CPU, where PyTorch's masks cost about a tenth of
    the small model's training step and bits cost a fraction of that
    (``benchmarks/bench_dropout.py``), and PyTorch's masks elsewhere (fused
    into one kernel on a GPU).
    """
    if masks == "bits":
        return True
    if masks == "torch":
        return False
    if masks == "auto":
        return device.type == "cpu"
    raise ValueError(
        f"dropout_masks must be 'auto', 'bits' or 'torch', got {masks!r}"
    )


def recorded_sampler(config: dict) -> str:
    """The dropout sampler ("bits" or "torch") a CPU run drew its masks with,
    from its recorded config (``run.json``'s or a checkpoint's, as a dict): a
    config from before ``train.dropout_masks`` existed drew PyTorch's."""
    masks = config.get("train", {}).get("dropout_masks", "torch")
    return "bits" if dropout_bits(torch.device("cpu"), masks) else "torch"


def autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def memory_gb(device: torch.device) -> float | None:
    """Peak GPU memory allocated so far in GiB (None off CUDA)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return None


def check_compile(device: torch.device, compile: bool) -> None:
    """Refuse ``train.compile`` where it cannot work: TorchInductor builds C++
    for the CPU, so it needs a compiler.

    (On the 2-core CPU of this book's runs the compiled step of the small model
    is not faster than the eager one, see
    ``results/benchmarks/cpu-train-step-small-compile.json``, so ``compile``
    defaults to false.)
    """
    if not compile or device.type != "cpu":
        return
    if not any(
        shutil.which(c)
        for c in (os.environ.get("CXX", ""), "g++", "c++", "clang++")
        if c
    ):
        raise ValueError(
            "train.compile=true on the CPU needs a C++ compiler (g++ or"
            " clang++, or $CXX), and none was found; install one, or set"
            " train.compile=false (the eager step is as fast here)"
        )


def tune_cpu_allocator() -> bool:
    """Keep freed memory for reuse instead of returning it to the operating
    system (glibc only).

    A training step frees and re-allocates the same large activation tensors
    every step. glibc serves blocks over 128 KiB with fresh ``mmap`` pages and
    trims its heap eagerly, so every step pays the page faults of touching that
    memory again. Raising the mmap threshold to its maximum (32 MiB) and the
    trim threshold to 1 GiB keeps those blocks in the heap: on the 2-core CPU
    of the book's runs the small model's step got about 5% faster, with the
    same numbers (only where memory comes from changes). Returns whether the
    setting took (False off glibc, e.g. on macOS or musl).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 * 2**20)) and bool(
        mallopt(m_trim_threshold, 2**30)
    )
