"""Guard against PySide6 6.12.0's Signal.emit() dropping a reference to True (it aborts the process).

On Python 3.11 True is not immortal; every leaked reference lowers sys.getrefcount(True) and after a few
hundred emits the interpreter dies with "Fatal Python error: bool_dealloc". 6.11.3 is clean.
"""
import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    value = Signal(object)


def test_ten_thousand_emits_keep_the_refcount_of_true(qapp):
    emitter = _Emitter()
    received = []
    emitter.value.connect(received.append)
    before = sys.getrefcount(True)
    for i in range(10_000):
        emitter.value.emit(i)
    after = sys.getrefcount(True)
    assert len(received) == 10_000
    # other code may take a few references meanwhile; a leak would drop the count by ~10,000
    assert after >= before - 10, f"sys.getrefcount(True) fell from {before} to {after}"
