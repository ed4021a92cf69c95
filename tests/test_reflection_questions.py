"""The reflection sheet's questions are data (bot/schemes/reflection.toml): checked on load, a
bad file named in a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import check_settings
from bot.services.meetings import reflection
from bot.services.meetings.reflection import QUESTIONS_FILE, ReflectionError, load_questions, questions
from bot.settings import SettingsError, load_settings


def test_the_shipped_file_holds_surreys_four_questions_word_for_word() -> None:
    assert [(q.key, q.text) for q in questions()] == [
        ("done_well", "What do you think you have done well on this case?"),
        ("challenges", "What have been the challenges in this case?"),
        ("tools", "Do you have the enough tools to enable you to undertake your role?"),
        ("differently", "If you had a case like this again, what would you do differently?"),
    ]
    assert load_questions(QUESTIONS_FILE) == questions()


@pytest.mark.parametrize(("body", "problem"), [
    ("", "give 1 to 20 [[question]] tables"),
    ("[[question]]\nkey = 'a'\ntext = 'A?'\n" * 21, "give 1 to 20 [[question]] tables"),
    ("[[question]]\nkey = 'Done well'\ntext = 'A?'\n", "question 1: key must be a lowercase identifier"),
    ("[[question]]\nkey = 'a'\ntext = 'A?'\n[[question]]\nkey = 'a'\ntext = 'B?'\n", "question 2: key 'a' is used twice"),
    ("[[question]]\nkey = 'a'\ntext = ''\n", "question 1 (a): text must be one line of 1 to 150 characters"),
    (f"[[question]]\nkey = 'a'\ntext = '{'x' * 151}'\n", "question 1 (a): text must be one line of 1 to 150 characters"),
    ("[[question]\n", "not valid TOML"),
])
def test_a_bad_file_is_refused_naming_the_file_and_the_problem(tmp_path: Path, body: str, problem: str) -> None:
    path = tmp_path / "reflection.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ReflectionError) as raised:
        load_questions(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_a_bad_file_stops_the_commands_before_they_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "reflection.toml"
    path.write_text("[[question]]\nkey = 'a'\n", encoding="utf-8")
    monkeypatch.setattr(reflection, "QUESTIONS_FILE", path)
    questions.cache_clear()
    try:
        with pytest.raises(SettingsError, match=f"the reflection sheet's questions: {path}: question 1 \\(a\\): text must"):
            check_settings(load_settings(database_url="sqlite://"))
    finally:
        questions.cache_clear()
