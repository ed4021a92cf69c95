"""The sender's own pace per destination (``bot/delivery/pace.py``): Slack's burst, then a turn a second,
booked for rows handed back, in their order; a 429 starts a destination afresh."""

from __future__ import annotations

import datetime as dt

from bot.delivery.pace import CHANNEL_PACE, HOLD_EXPIRES_AFTER, ChannelPace, Turn

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def post(pace: ChannelPace, destination: str, row: int, when: dt.datetime) -> Turn:
    """A row's turn; when it is now, it is posted and answered at once (booked then unless booked before)."""
    turn = pace.turn(destination, row, when)
    if turn.at is None and not turn.booked:
        pace.spent(destination, when)
    return turn


def test_a_burst_goes_at_once_then_each_later_row_gets_the_next_turn_in_order() -> None:
    pace = ChannelPace(burst=3)
    turns = [post(pace, "person:1", row, at(0)) for row in range(6)]

    assert [t.at for t in turns[:3]] == [None, None, None], "Slack's burst goes at once"
    assert [t.at for t in turns[3:]] == [at(1), at(2), at(3)], "then one a second, the earlier row first"
    assert post(pace, "person:2", 99, at(0)).at is None, "another destination is not held up"


def test_a_row_back_at_its_turn_goes_without_taking_another_and_not_before_it() -> None:
    pace = ChannelPace(burst=1)
    assert post(pace, "person:1", 1, at(0)).at is None
    assert post(pace, "person:1", 2, at(0)).at == at(1)
    assert post(pace, "person:1", 3, at(0)).at == at(2)

    assert pace.turn("person:1", 2, at(0.5)) == Turn(at(1), booked=True), "too early: still its turn at 1 s"
    assert pace.turn("person:1", 2, at(1.2)) == Turn(None, booked=True), "late is fine: its turn was kept for it"
    assert pace.turn("person:1", 3, at(2)) == Turn(None, booked=True), "row 2 going late took no turn of row 3's"
    assert post(pace, "person:1", 4, at(2)).at == at(3), "a new row comes after every booked one"


def test_a_post_is_booked_from_when_its_answer_came_back() -> None:
    pace = ChannelPace(burst=1)
    assert pace.turn("channel:C1", 1, at(0)).at is None
    pace.spent("channel:C1", at(0.4))  # Slack may have counted it as late as its answer

    assert pace.turn("channel:C1", 2, at(1.0)).at == at(1.4)


def test_the_burst_comes_back_after_a_quiet_while() -> None:
    pace = ChannelPace(burst=2)
    for row in (1, 2):
        assert post(pace, "person:1", row, at(0)).at is None
    assert post(pace, "person:1", 3, at(0)).at == at(1)
    assert pace.turn("person:1", 3, at(1)).at is None

    assert [post(pace, "person:1", row, at(10)).at for row in (4, 5, 6)] == [None, None, at(11)]


def test_a_429_starts_the_destination_afresh_from_its_retry_after() -> None:
    pace = ChannelPace(burst=5)
    for row in range(3):
        assert post(pace, "person:1", row, at(0)).at is None  # Slack's burst here was smaller than ours
    pace.limited("person:1", at(2))

    assert pace.turn("person:1", 3, at(1)).at == at(2), "nothing before Retry-After"
    assert post(pace, "person:1", 3, at(2)).at is None
    assert post(pace, "person:1", 4, at(2)).at == at(2) + CHANNEL_PACE, "then one a second: nothing is saved"


def test_a_429_forgets_the_turns_booked_there() -> None:
    pace = ChannelPace(burst=1)
    assert post(pace, "person:1", 1, at(0)).at is None
    assert post(pace, "person:1", 2, at(0)).at == at(1)
    pace.limited("person:1", at(5))

    assert pace.turn("person:1", 2, at(1)) == Turn(at(5), booked=True), "its old turn is gone; a new one after the pause"


def test_idle_destinations_are_forgotten_when_there_are_very_many(monkeypatch) -> None:
    monkeypatch.setattr("bot.delivery.pace.RECENT_CHANNELS", 3)
    pace = ChannelPace(burst=1)
    for n in range(4):
        post(pace, f"person:{n}", n, at(0))
    post(pace, "person:9", 9, at(1))  # person:9's own entry stays (it was just booked)

    assert set(pace._due) == {"person:9"}


def test_a_row_to_be_tried_again_holds_its_destinations_later_rows_until_it_has_gone() -> None:
    pace = ChannelPace(burst=1)
    assert post(pace, "person:1", 1, at(0)).at is None
    assert post(pace, "person:1", 2, at(0)).at == at(1)
    assert post(pace, "person:1", 3, at(0)).at == at(2)
    assert pace.turn("person:1", 2, at(1)) == Turn(None, booked=True)
    pace.hold("person:1", 2, at(3))  # row 2 failed at its turn: tried again at 3 s

    assert pace.turn("person:1", 3, at(2)) == Turn(at(3), booked=False), "its turn at 2 s no longer counts: with row 2"
    assert pace.turn("person:1", 3, at(3.5)) == Turn(at(4.5), booked=False), "row 2 late: a turn later, never at once"
    assert pace.turn("person:2", 9, at(2)).at is None, "another destination is not held"
    assert post(pace, "person:1", 2, at(3)).at is None
    pace.ended("person:1", 2)
    assert post(pace, "person:1", 3, at(4)).at is None


def test_a_hold_whose_row_never_comes_back_lapses() -> None:
    pace = ChannelPace(burst=1)
    pace.hold("person:1", 2, at(3))  # say, taken over by another sender

    assert pace.turn("person:1", 3, at(60)).at == at(61)
    assert pace.turn("person:1", 3, at(3) + HOLD_EXPIRES_AFTER + dt.timedelta(seconds=1)).at is None
