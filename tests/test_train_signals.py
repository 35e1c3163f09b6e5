"""Stopping a run on SIGINT/SIGTERM: the first asks, a late repeat stops now,
a repeat within 2 s (torchrun's relayed Ctrl-C) is the same request."""

from __future__ import annotations

import os
import signal
import threading
import types

import pytest

from transformer.train import signals
from transformer.train.signals import StopSignals


def _handlers() -> dict:
    return {s: signal.getsignal(s) for s in signals.STOP_SIGNALS}


def test_first_signal_requests_a_stop_and_restore_puts_handlers_back() -> None:
    before = _handlers()
    stop = StopSignals()
    stop.install()
    try:
        # installed (else the signal below would end the test process)
        assert signal.getsignal(signal.SIGTERM) == stop._handle
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested
        with pytest.raises(RuntimeError, match="called twice"):
            stop.install()  # would lose the handlers it replaced
    finally:
        stop.restore()
    assert _handlers() == before


def test_a_repeat_stops_only_after_the_torchrun_relay_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    clock = types.SimpleNamespace(monotonic=lambda: now[0])
    monkeypatch.setattr(signals, "time", clock)
    before = _handlers()
    stop = StopSignals()
    stop.install()
    try:
        assert signal.getsignal(signal.SIGINT) == stop._handle
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested
        now[0] += signals.REPEAT_AFTER_S / 2  # the relayed copy: ignored
        os.kill(os.getpid(), signal.SIGINT)
        now[0] += signals.REPEAT_AFTER_S  # a second Ctrl-C, later
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        stop.restore()
    assert _handlers() == before


def test_outside_the_main_thread_nothing_is_installed() -> None:
    before = _handlers()
    stop = StopSignals()
    installed = []

    def worker() -> None:
        stop.install()
        installed.append(_handlers())
        stop.restore()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert installed == [before]
    assert not stop.requested
