"""Stopping a run on SIGINT/SIGTERM: the first asks, a late repeat stops now,
a repeat within 2 s (torchrun's relayed Ctrl-C) is the same request."""

from __future__ import annotations

import os
import signal

import pytest

from transformer.train import signals
from transformer.train.signals import StopSignals


def test_first_signal_requests_a_stop_and_restore_puts_handlers_back() -> None:
    before = {s: signal.getsignal(s) for s in signals.STOP_SIGNALS}
    stop = StopSignals()
    stop.install()
    try:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested
    finally:
        stop.restore()
    assert {s: signal.getsignal(s) for s in signals.STOP_SIGNALS} == before


def test_a_repeat_stops_only_after_the_torchrun_relay_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(signals.time, "monotonic", lambda: now[0])
    stop = StopSignals()
    stop.install()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested
        now[0] += signals.REPEAT_AFTER_S / 2  # the relayed copy: ignored
        os.kill(os.getpid(), signal.SIGINT)
        now[0] += signals.REPEAT_AFTER_S  # a second Ctrl-C, later
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        stop.restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
