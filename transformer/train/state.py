"""Training state without pickle: optimizer and RNG states as safetensors
tensors plus JSON scalars.

``torch.save``/``torch.load`` would pickle these, and unpickling can run code;
a checkpoint downloaded from elsewhere must never do that. So every tensor goes
into a safetensors file under a flat key, and every non-tensor value
(hyper-parameters, step counts, Python's RNG) into JSON.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.optim import Optimizer


def optimizer_to_flat(
    optimizer: Optimizer,
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``optimizer.state_dict()`` -> (tensors keyed "state.<param>.<name>",
    JSON-able metadata)."""
    sd = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in sd["state"].items():
        for name, value in pstate.items():
            if isinstance(value, Tensor):
                tensors[f"state.{pid}.{name}"] = (
                    value.detach().cpu().contiguous()
                )
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(
    optimizer: Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any]
) -> None:
    """Inverse of :func:`optimizer_to_flat`; loads into ``optimizer`` (tensors
    follow its parameters' devices)."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value
    for pid, values in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(values)
    groups = []
    for group in meta["param_groups"]:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def rng_to_flat() -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The process's random states: torch (CPU and every CUDA device), NumPy's
    global and Python's."""
    tensors = {"torch.cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch.cuda.{i}"] = s
    version, mt, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    meta = {
        "python": [version, list(mt), gauss],
        "numpy": [
            np_name,
            np_keys.tolist(),
            int(np_pos),
            int(np_has_gauss),
            float(np_gauss),
        ],
    }
    return tensors, meta


def rng_from_flat(tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch.cpu"])
    cuda_keys = sorted(
        (k for k in tensors if k.startswith("torch.cuda.")),
        key=lambda k: int(k.rsplit(".", 1)[1]),
    )
    # in device order (as strings, "torch.cuda.10" < "torch.cuda.2")
    cuda = [tensors[k] for k in cuda_keys]
    if (
        cuda
        and torch.cuda.is_available()
        and len(cuda) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(cuda)
    version, mt, gauss = meta["python"]
    random.setstate((version, tuple(mt), gauss))
    name, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state(
        (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
    )
