"""Tests for gradtrack.telemetry: the handler registry, failure isolation, threads and log lines."""

from __future__ import annotations

import logging
import threading

import pytest

from gradtrack.telemetry import (
    EVENTS,
    PIPELINE_EXCEPTION,
    PIPELINE_START,
    PIPELINE_STOP,
    REGULARIZER_EXCEPTION,
    REGULARIZER_START,
    REGULARIZER_STOP,
    attach,
    attach_logger,
    detach,
    emit,
)

STOP_MEASUREMENTS = {"duration": 0.0123456, "value": 4.9, "contribution": 0.049, "grad_norm": None}
REG_METADATA = {"regularizer_name": "l1_sparsity", "weight": 0.01, "is_async": False}


@pytest.fixture
def attached():
    """Attach handlers through this fixture; whatever is still attached is detached afterwards."""
    ids: list[str] = []

    def attach_for_test(handler_id, events, handler, config=None):
        ids.append(handler_id)
        attach(handler_id, events, handler, config)
        return handler_id

    yield attach_for_test
    for handler_id in ids:
        detach(handler_id)


@pytest.fixture
def logger_id():
    ids: list[str] = []
    yield ids
    for handler_id in ids:
        detach(handler_id)


def recorder():
    calls = []

    def handler(event, measurements, metadata, config):
        calls.append((event, measurements, metadata, config))

    return calls, handler


def test_events_are_the_six_tuples():
    assert len(EVENTS) == len(set(EVENTS)) == 6
    assert ("gradtrack", "pipeline", "start") in EVENTS
    assert ("gradtrack", "regularizer", "exception") in EVENTS
    assert all(isinstance(event, tuple) and event[0] == "gradtrack" for event in EVENTS)


def test_handler_gets_event_measurements_metadata_and_config(attached):
    calls, handler = recorder()
    attached("rec", [REGULARIZER_STOP], handler, config={"level": 1})
    emit(REGULARIZER_STOP, STOP_MEASUREMENTS, REG_METADATA)
    assert calls == [(REGULARIZER_STOP, STOP_MEASUREMENTS, REG_METADATA, {"level": 1})]


def test_handler_only_sees_its_events(attached):
    calls, handler = recorder()
    attached("rec", [PIPELINE_START, PIPELINE_STOP], handler)
    emit(REGULARIZER_START, {}, {})
    emit(PIPELINE_STOP, {}, {})
    emit(PIPELINE_EXCEPTION, {}, {})
    assert [call[0] for call in calls] == [PIPELINE_STOP]


def test_attach_accepts_a_single_event_and_list_spelled_events(attached):
    calls, handler = recorder()
    attached("single", PIPELINE_START, handler)
    attached("listed", [["gradtrack", "pipeline", "stop"]], handler)
    emit(PIPELINE_START, {}, {})
    emit(PIPELINE_STOP, {}, {})
    assert [call[0] for call in calls] == [PIPELINE_START, PIPELINE_STOP]


def test_handlers_run_in_attach_order(attached):
    order = []
    for name in ["first", "second", "third"]:
        attached(name, EVENTS, lambda *args, name=name: order.append(name))
    emit(PIPELINE_START, {}, {})
    assert order == ["first", "second", "third"]


def test_detach_stops_delivery_and_reports_whether_it_removed_something(attached):
    calls, handler = recorder()
    attached("rec", EVENTS, handler)
    assert detach("rec") is True
    emit(PIPELINE_START, {}, {})
    assert calls == []
    assert detach("rec") is False


def test_detach_of_an_unknown_id_is_false():
    assert detach("no-such-handler") is False


def test_duplicate_id_is_rejected(attached):
    attached("dup", EVENTS, lambda *args: None)
    with pytest.raises(ValueError, match="'dup' is already attached"):
        attach("dup", EVENTS, lambda *args: None)


def test_unknown_event_is_rejected_by_name():
    with pytest.raises(ValueError, match=r"unknown telemetry event \('tinkex', 'custom_loss'"):
        attach("bad-event", [("tinkex", "custom_loss", "start")], lambda *args: None)
    assert detach("bad-event") is False  # nothing was attached


def test_attach_argument_checks():
    with pytest.raises(ValueError, match="at least one event"):
        attach("no-events", [], lambda *args: None)
    with pytest.raises(TypeError, match="handler must be callable"):
        attach("not-callable", EVENTS, "print")
    with pytest.raises(TypeError, match="handler_id must be a str"):
        attach(42, EVENTS, lambda *args: None)


def test_an_id_can_be_reused_after_detach(attached):
    attached("again", EVENTS, lambda *args: None)
    detach("again")
    calls, handler = recorder()
    attached("again", EVENTS, handler)
    emit(PIPELINE_START, {}, {})
    assert len(calls) == 1


def test_emit_without_handlers_does_nothing():
    emit(PIPELINE_START, {"system_time": 0.0}, {"regularizer_count": 0})
    emit(("not", "an", "event"), {}, {})


def test_raising_handler_is_detached_with_a_warning(attached, caplog):
    before, handler_before = recorder()
    after, handler_after = recorder()
    attached("before", EVENTS, handler_before)
    attached("exploding-handler", EVENTS, lambda *args: 1 / 0)
    attached("after", EVENTS, handler_after)

    with caplog.at_level(logging.WARNING, logger="gradtrack"):
        emit(PIPELINE_START, {}, {})  # must not raise
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "exploding-handler" in warnings[0].getMessage()
    assert warnings[0].name.startswith("gradtrack")
    assert warnings[0].exc_info[0] is ZeroDivisionError
    assert len(before) == len(after) == 1

    caplog.clear()
    emit(PIPELINE_STOP, {}, {})
    assert len(before) == len(after) == 2
    assert caplog.records == []
    assert detach("exploding-handler") is False


def test_a_handler_may_detach_itself_while_running(attached):
    calls = []

    def once(event, measurements, metadata, config):
        calls.append(event)
        detach("once")

    attached("once", EVENTS, once)
    emit(PIPELINE_START, {}, {})
    emit(PIPELINE_STOP, {}, {})
    assert calls == [PIPELINE_START]


def test_a_failed_handler_does_not_detach_a_new_handler_with_the_same_id(attached):
    calls, handler = recorder()

    def fail_after_replacing_itself(event, measurements, metadata, config):
        detach("swap")
        attach("swap", EVENTS, handler)
        raise RuntimeError("boom")

    attached("swap", [PIPELINE_START], fail_after_replacing_itself)
    emit(PIPELINE_START, {}, {})
    emit(PIPELINE_STOP, {}, {})
    assert [call[0] for call in calls] == [PIPELINE_STOP]


def test_emit_from_many_threads_while_handlers_come_and_go(attached):
    threads_count, emits_per_thread = 8, 2000
    lock = threading.Lock()
    counts = {"steady": 0, "churn": 0}

    def steady(event, measurements, metadata, config):
        with lock:
            counts["steady"] += 1

    def churn(event, measurements, metadata, config):
        with lock:
            counts["churn"] += 1

    attached("steady", [REGULARIZER_STOP], steady)
    stop_churning = threading.Event()
    churn_errors = []

    def churner():
        n = 0
        while not stop_churning.is_set():
            handler_id = f"churn-{n % 3}"
            try:
                attach(handler_id, EVENTS, churn)
                assert detach(handler_id) is True
            except Exception as exc:  # pragma: no cover - reported below
                churn_errors.append(exc)
                return
            n += 1

    def emitter():
        for _ in range(emits_per_thread):
            emit(REGULARIZER_STOP, STOP_MEASUREMENTS, REG_METADATA)

    churn_thread = threading.Thread(target=churner)
    churn_thread.start()
    emitters = [threading.Thread(target=emitter) for _ in range(threads_count)]
    for thread in emitters:
        thread.start()
    for thread in emitters:
        thread.join()
    stop_churning.set()
    churn_thread.join()

    assert churn_errors == []
    assert counts["steady"] == threads_count * emits_per_thread
    assert counts["churn"] <= threads_count * emits_per_thread
    for n in range(3):
        assert detach(f"churn-{n}") is False


def test_concurrent_attach_with_one_id_admits_exactly_one():
    results = []
    barrier = threading.Barrier(8)

    def contender():
        barrier.wait()
        try:
            attach("contested", EVENTS, lambda *args: None)
            results.append("ok")
        except ValueError:
            results.append("duplicate")

    threads = [threading.Thread(target=contender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(results) == ["duplicate"] * 7 + ["ok"]
    finally:
        detach("contested")


# ---------------------------------------------------------------------------
# attach_logger
# ---------------------------------------------------------------------------


def messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "gradtrack.telemetry"]


def test_attach_logger_default_ids_are_unique(logger_id):
    first, second = attach_logger(), attach_logger()
    logger_id.extend([first, second])
    assert first.startswith("gradtrack-logger-") and second.startswith("gradtrack-logger-")
    assert first != second


def test_attach_logger_with_an_explicit_id(logger_id):
    logger_id.append(attach_logger(handler_id="my-logger"))
    assert logger_id == ["my-logger"]
    with pytest.raises(ValueError, match="my-logger"):
        attach_logger(handler_id="my-logger")


def test_attach_logger_skips_ids_already_taken(attached, logger_id):
    first = attach_logger()
    logger_id.append(first)
    number = int(first.rsplit("-", 1)[1])
    attached(f"gradtrack-logger-{number + 1}", EVENTS, lambda *args: None)
    second = attach_logger()
    logger_id.append(second)
    assert second == f"gradtrack-logger-{number + 2}"


def test_regularizer_stop_line(caplog, logger_id):
    logger_id.append(attach_logger())
    with caplog.at_level(logging.INFO, logger="gradtrack.telemetry"):
        emit(REGULARIZER_STOP, STOP_MEASUREMENTS, REG_METADATA)
    (line,) = messages(caplog)
    assert "l1_sparsity" in line
    assert "12.3456 ms" in line
    assert "value=4.9" in line and "contribution=0.049" in line
    assert "grad_norm" not in line
    assert caplog.records[0].levelno == logging.INFO


def test_regularizer_stop_line_shows_a_zero_grad_norm(caplog, logger_id):
    logger_id.append(attach_logger())
    with caplog.at_level(logging.INFO, logger="gradtrack.telemetry"):
        emit(REGULARIZER_STOP, {**STOP_MEASUREMENTS, "grad_norm": 0.0}, REG_METADATA)
        emit(REGULARIZER_STOP, {**STOP_MEASUREMENTS, "grad_norm": 2.23606798}, REG_METADATA)
    zero, nonzero = messages(caplog)
    assert "grad_norm=0.0" in zero
    assert "grad_norm=2.2361" in nonzero


def test_regularizer_start_lines_mark_async(caplog, logger_id):
    logger_id.append(attach_logger())
    with caplog.at_level(logging.INFO, logger="gradtrack.telemetry"):
        emit(REGULARIZER_START, {"system_time": 1.0}, REG_METADATA)
        emit(REGULARIZER_START, {"system_time": 1.0}, {**REG_METADATA, "is_async": True})
    sync_line, async_line = messages(caplog)
    assert "l1_sparsity" in sync_line and "(async)" not in sync_line
    assert "l1_sparsity" in async_line and async_line.endswith("(async)")


def test_regularizer_exception_line(caplog, logger_id):
    logger_id.append(attach_logger())
    metadata = {"regularizer_name": "bad_reg", "weight": 0.5, "reason": RuntimeError("boom")}
    with caplog.at_level(logging.INFO, logger="gradtrack.telemetry"):
        emit(REGULARIZER_EXCEPTION, {"duration": 0.5}, metadata)
    (line,) = messages(caplog)
    assert "bad_reg" in line and "500.0 ms" in line and "boom" in line


def test_pipeline_lines(caplog, logger_id):
    logger_id.append(attach_logger())
    with caplog.at_level(logging.INFO, logger="gradtrack.telemetry"):
        emit(
            PIPELINE_START, {"system_time": 1.0}, {"regularizer_count": 2, "track_grad_norms": True}
        )
        emit(
            PIPELINE_STOP,
            {"duration": 0.002, "loss_total": 1.06164638, "regularizer_total": 0.0816464},
            {"regularizer_count": 2},
        )
        emit(PIPELINE_EXCEPTION, {"duration": 0.001}, {"reason": ValueError("bad logprobs")})
    start, stop, failed = messages(caplog)
    assert "2 regularizers" in start and "track_grad_norms=True" in start
    assert "2.0 ms" in stop and "loss_total=1.0616" in stop and "regularizer_total=0.0816" in stop
    assert "1.0 ms" in failed and "bad logprobs" in failed


def test_logger_level_and_propagation(caplog, logger_id):
    logger_id.append(attach_logger(level=logging.DEBUG))
    with caplog.at_level(logging.DEBUG):  # captured at the root: the record propagated
        emit(PIPELINE_START, {"system_time": 1.0}, {"regularizer_count": 0})
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        emit(PIPELINE_START, {"system_time": 1.0}, {"regularizer_count": 0})
    assert caplog.records == []


def test_logger_handler_survives_missing_keys_and_odd_values(caplog, logger_id):
    handler_id = attach_logger()
    logger_id.append(handler_id)
    with caplog.at_level(logging.INFO, logger="gradtrack"):
        emit(REGULARIZER_STOP, {}, {})
        emit(REGULARIZER_STOP, {"duration": "soon", "value": object()}, {"regularizer_name": "r"})
    assert len(messages(caplog)) == 2
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)
    assert detach(handler_id) is True  # still attached: it never raised
