"""Grading schemes are data: the two shipped ones load, a broken file is one clear line, and the
rules (Bradford's rule of thumb and good practice, Hull's named elements) are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.services.audits.schemes import SchemeError, check_grades, load_scheme

BRADFORD = load_scheme("bradford")
HULL = load_scheme("hull")


def grades(scheme_sections: list[str], values: list[str]) -> dict[str, str | None]:
    return dict(zip(scheme_sections, values, strict=True))


def bradford(*values: str) -> dict[str, str | None]:
    return grades([s.key for s in BRADFORD.sections], list(values))


def test_the_shipped_schemes_load_with_nine_sections_each() -> None:
    assert (BRADFORD.id, BRADFORD.version, len(BRADFORD.sections)) == ("bradford", 1, 9)
    assert [g.label for g in BRADFORD.overall_scale] == ["Outstanding", "Good", "Requires Improvement", "Inadequate"]
    assert (HULL.id, len(HULL.sections)) == ("hull", 9)
    assert [g.label for g in HULL.section_scale] == ["Met", "Partially met", "Not met", "N/A"]
    assert "Requires Improvement with elements of good practice" in [g.label for g in HULL.overall_scale]


def test_bradford_outstanding_over_a_requires_improvement_section_needs_a_reason() -> None:
    sections = bradford(*["good"] * 8, "requires_improvement")

    no_reason = check_grades(BRADFORD, sections, "outstanding", good_practice="Direct work", elements="", reason="")
    with_reason = check_grades(BRADFORD, sections, "outstanding", good_practice="Direct work", elements="",
                               reason="The records gap is one missing case note; the impact is exceptional")
    good = check_grades(BRADFORD, sections, "good", good_practice="Direct work", elements="", reason="")

    assert no_reason.errors == {"reason": (
        "Outstanding is more than 1 grade above the lowest section (Requires Improvement): an overall grade is not "
        "usually that far above it. Say why, or change the grade."
    )}
    assert with_reason.errors == {} and with_reason.warning is not None
    assert (good.errors, good.warning) == ({}, None)


def test_bradford_one_inadequate_section_and_overall_requires_improvement_is_accepted() -> None:
    sections = bradford(*["good"] * 8, "inadequate")
    check = check_grades(BRADFORD, sections, "requires_improvement", good_practice="Voice of the child", elements="", reason="")
    assert (check.errors, check.warning) == ({}, None)


def test_bradford_needs_good_practice_every_section_and_an_overall_grade() -> None:
    sections = bradford(*["good"] * 7, "excellent", "")
    check = check_grades(BRADFORD, sections, None, good_practice=" ", elements="", reason="")
    assert check.errors == {
        "section:records": "'excellent' is not a grade on this scheme.",
        "section:impact": "Grade Impact.",
        "overall": "Choose the overall grade.",
        "good_practice": "Name at least one area of good practice.",
    }


def test_hull_requires_improvement_with_elements_needs_the_elements_named() -> None:
    sections = grades([s.key for s in HULL.sections], ["met"] * 5 + ["partially_met"] * 3 + ["not_applicable"])
    missing = check_grades(HULL, sections, "requires_improvement_with_elements", good_practice="", elements="", reason="")
    named = check_grades(HULL, sections, "requires_improvement_with_elements", good_practice="",
                         elements="Strong direct work with the child", reason="")
    plain = check_grades(HULL, sections, "requires_improvement", good_practice="", elements="", reason="")
    assert missing.errors == {
        "elements": 'Name the elements of good practice: "Requires Improvement with elements of good practice" needs them.'
    }
    assert named.errors == {} and plain.errors == {}
    assert named.warning is None, "Hull's domains are not on the overall scale: no rule of thumb"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id = 'x'\nversion = 1\nname = 'x'\n[sections]\nscale = []\n", "[sections] needs a 'scale' list of at least two grades"),
        ("id = 'x'\nversion = 0\n", "'version' must be a whole number from 1"),
        ("not toml = = 1", "not valid TOML"),
        (
            "id='x'\nversion=1\nname='x'\n[sections]\nscale=[{value='a',label='A',rank=2},{value='b',label='B',rank=1}]\n"
            "items=[{key='s',label='S'}]\n[overall]\nscale=[{value='a',label='A',rank=2},{value='c',label='C',rank=1}]\n"
            "[rules]\nmax_above_lowest_section=1\n",
            "max_above_lowest_section needs the sections and the overall grade on the same scale",
        ),
        (
            "id='x'\nversion=1\nname='x'\n[sections]\nscale=[{value='a',label='A',rank=2},{value='b',label='B',rank=1}]\n"
            "items=[{key='s',label='S'}]\n[overall]\nscale=[{value='a',label='A',rank=2},{value='b',label='B',rank=1}]\n"
            "[rules]\nelements_required_for=['z']\nlenient=true\n",
            "unknown rule(s) lenient",
        ),
        (
            "id='x'\nversion=1\nname='x'\n[sections]\n"
            "scale=[{value='a',label='" + "A" * 76 + "',rank=2},{value='b',label='B',rank=1}]\n"
            "items=[{key='s',label='S'}]\n[overall]\nscale=[{value='a',label='A',rank=2},{value='b',label='B',rank=1}]\n",
            "is longer than a menu shows (75 characters)",
        ),
        (
            "id='x'\nversion=1\nname='x'\n[sections]\nscale=[{value='a',label='A',rank=2},{value='b',label='B',rank=1}]\n"
            "items=[" + ",".join(f"{{key='s{n}',label='S'}}" for n in range(41)) + "]\n"
            "[overall]\nscale=[{value='a',label='A',rank=2},{value='b',label='B',rank=1}]\n",
            "41 sections; the form takes at most 40",
        ),
    ],
)
def test_a_broken_scheme_file_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ours.toml"
    path.write_text(text)
    with pytest.raises(SchemeError) as raised:
        load_scheme(str(path))
    assert str(raised.value).startswith("grading scheme ours.toml: ") and message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_unknown_scheme_name_lists_the_shipped_ones() -> None:
    with pytest.raises(SchemeError, match=r"grading scheme 'leeds': no such file \(shipped: bradford, hull;"):
        load_scheme("leeds")


def test_a_bad_grading_scheme_setting_stops_every_command_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from bot.cli import _register_all, cli

    if "run" not in cli.commands:
        _register_all()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={"AUDITBOT_GRADING_SCHEME": "leeds"})
    assert result.exit_code == 1
    assert result.output.startswith("Error: configuration problem: AUDITBOT_GRADING_SCHEME: grading scheme 'leeds': no such file")
    assert result.output.count("\n") == 1
