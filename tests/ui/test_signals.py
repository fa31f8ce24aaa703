"""Regression: PySide6 6.12.0 aborted the interpreter after a few thousand Signal.emit() calls."""

import sys

from PySide6.QtCore import QObject, Signal


class Emitter(QObject):
    ticked = Signal(int)


def test_100k_signal_emits_keep_refcounts_and_deliver(qapp):
    e = Emitter()
    received = []
    e.ticked.connect(received.append)
    before = sys.getrefcount(True)
    for i in range(100_000):
        e.ticked.emit(i)
    assert len(received) == 100_000 and received[-1] == 99_999
    # The broken release lost one reference to True per emit; allow small unrelated noise.
    assert abs(sys.getrefcount(True) - before) < 100
