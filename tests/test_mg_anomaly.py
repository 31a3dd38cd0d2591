"""detect_anomaly: the first NaN, forward or backward, named and located."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad.tensor import record_watchers

THIS_FILE = __file__


def line_of(marker: str) -> int:
    """The line number of the line of this file that contains ``marker`` in a comment."""
    with open(THIS_FILE, encoding="utf-8") as source:
        for number, text in enumerate(source, start=1):
            if "# " + marker in text:
                return number
    raise LookupError(marker)


def test_forward_nan_names_primitive_pass_and_line() -> None:
    x = mg.Tensor([1.0, -1.0], requires_grad=True)
    with mg.detect_anomaly(), np.errstate(invalid="ignore"):
        y = x * 2.0
        with pytest.raises(FloatingPointError) as caught:
            mg.log(y)  # the line named in the message
    message = str(caught.value)
    assert "'log'" in message and "forward" in message
    assert f"{THIS_FILE}:{line_of('the line named in the message')} " in message


def test_backward_nan_names_the_primitive_that_produced_it() -> None:
    x = mg.Tensor([0.0, 4.0], requires_grad=True)
    with mg.detect_anomaly():
        root = mg.sqrt(x)  # d sqrt at 0 is inf; inf · 0 below gives NaN
        loss = (root * 0.0).sum()
        with pytest.raises(FloatingPointError, match="'sqrt' in the backward pass") as caught:
            loss.backward()
    assert str(caught.value).endswith(f"{THIS_FILE}:{line_of('d sqrt at 0 is inf')}")


def test_nan_coming_in_with_the_data_is_not_produced() -> None:
    x = mg.Tensor([np.nan, 1.0], requires_grad=True)
    with mg.detect_anomaly():
        y = (x * 2).sum()  # NaN flows through, but no op produced it
    assert np.isnan(y.item())


def test_backward_of_a_graph_built_outside_names_the_primitive() -> None:
    x = mg.Tensor([0.0], requires_grad=True)
    loss = (mg.sqrt(x) * 0.0).sum()
    with mg.detect_anomaly(), pytest.raises(FloatingPointError, match=r"'sqrt'.*outside"):
        loss.backward()


def test_outside_the_block_nothing_is_checked_or_installed() -> None:
    assert record_watchers == []
    with mg.detect_anomaly():
        assert len(record_watchers) == 1
        with mg.detect_anomaly():  # nests
            pass
        assert len(record_watchers) == 1
    assert record_watchers == []
    x = mg.Tensor([-1.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        assert np.isnan(mg.log(x).item())  # no error outside


def test_anomaly_mode_is_per_thread() -> None:
    errors: list[BaseException] = []

    def other() -> None:
        try:
            with np.errstate(invalid="ignore"):
                mg.log(mg.Tensor([-1.0]))
        except BaseException as error:
            errors.append(error)

    with mg.detect_anomaly():
        worker = threading.Thread(target=other)
        worker.start()
        worker.join(timeout=10)
    assert errors == []


def test_as_a_decorator() -> None:
    @mg.detect_anomaly()
    def bad() -> mg.Tensor:
        return mg.sqrt(mg.Tensor([-1.0]))

    with np.errstate(invalid="ignore"), pytest.raises(FloatingPointError, match="'sqrt'"):
        bad()


def test_second_order_backward_names_a_node_recorded_by_the_first() -> None:
    x = mg.Tensor([0.0, 1.0], requires_grad=True)
    with mg.detect_anomaly():
        loss = (x**1.5).sum()  # first derivative 1.5 x^0.5 is fine at 0; the second is not
        loss.backward(create_graph=True)  # records x^0.5: the node the error names
        first = x.grad
        x.grad = None
        with pytest.raises(FloatingPointError, match="'pow' in the backward pass") as caught:
            (first * 0.0).sum().backward()
    assert str(caught.value).endswith(f"{THIS_FILE}:{line_of('records x^0.5')}")
