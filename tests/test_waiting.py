"""``poll_until``: the value the condition first returns, or None at the deadline."""

from __future__ import annotations

from drillkit.waiting import poll_until


def test_the_first_value_other_than_none_or_false_is_returned() -> None:
    answers = iter([None, False, 0, "ready"])
    calls = []

    def condition() -> object:
        calls.append(1)
        return next(answers)

    # 0 is a value: only None and False mean "not yet".
    assert poll_until(condition, timeout=60, interval=0.001) == 0
    assert len(calls) == 3


def test_a_condition_that_never_holds_is_asked_at_the_deadline_and_gives_none() -> None:
    calls = []

    def never() -> None:
        calls.append(1)

    assert poll_until(never, timeout=0, interval=0.001) is None
    assert calls == [1], "asked once, even with no time left"


def test_the_pause_grows_up_to_its_limit_and_errors_pass_through() -> None:
    answers = iter([None] * 5 + [True])
    assert poll_until(lambda: next(answers), timeout=60, interval=0.001, max_interval=0.002)

    def broken() -> None:
        raise ValueError("the condition's own error")

    try:
        poll_until(broken, timeout=60)
    except ValueError as error:
        assert str(error) == "the condition's own error"
    else:
        raise AssertionError("the condition's error was swallowed")
