"""Reading one split of a dataset from the Hugging Face hub, with errors that
say how to work offline.

``datasets`` is imported here, lazily, so that the package (and every offline
code path) works without it. Without a network ``datasets`` retries for about
half a minute before it gives up; we first try a TCP connection to the hub with
a short timeout and fail at once with a helpful message. With
``HF_HUB_OFFLINE=1`` (or ``HF_DATASETS_OFFLINE=1``) we skip that probe and let
``datasets`` read its local cache, which is how a previously downloaded copy is
used offline.
"""

from __future__ import annotations

import os
import socket
from typing import Any

HUB_HOST = "huggingface.co"
PROBE_TIMEOUT_S = 3.0


class HubUnavailableError(ConnectionError):
    """The hub could not be reached (or ``datasets`` is missing) and no local
    copy was given."""


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {
        "1",
        "true",
        "yes",
        "on",
    }


def hub_offline_requested() -> bool:
    """True when the user asked the Hugging Face libraries to stay offline
    (read the cache only)."""
    return _env_flag("HF_HUB_OFFLINE") or _env_flag("HF_DATASETS_OFFLINE")


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the hub opens within ``timeout`` seconds
    (assumed True behind a proxy)."""
    if any(
        os.environ.get(v)
        for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
    ):
        return True
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def load_hub_split(
    path: str, name: str | None, split: str, how_to_fix: str
) -> Any:
    """``datasets.load_dataset(path, name, split=split)``, or
    :class:`HubUnavailableError`.

    Args:
        path, name, split: as for ``datasets.load_dataset``.
        how_to_fix: one sentence naming the offline alternative (a local
            directory), put in every error.
    """
    try:
        import datasets  # lazy: only the hub path needs it
    except ImportError as err:
        raise HubUnavailableError(
            f"Reading {path!r} from the Hugging Face hub needs the `datasets`"
            f" package (pip install datasets). {how_to_fix}"
        ) from err
    if not hub_offline_requested() and not hub_reachable():
        raise HubUnavailableError(
            f"Cannot reach the Hugging Face hub ({HUB_HOST}) to download"
            f" {path!r}: you seem to be offline. {how_to_fix} If the dataset"
            " is already in your Hugging Face cache, set HF_HUB_OFFLINE=1."
        )
    try:
        return datasets.load_dataset(path, name, split=split)
    except Exception as err:
        # datasets raises many types (ConnectionError, OSError,
        # FileNotFoundError...)
        raise HubUnavailableError(
            f"Could not load {path!r} (config {name!r}, split {split!r}) from"
            f" the Hugging Face hub: {type(err).__name__}: {err}. {how_to_fix}"
        ) from err
