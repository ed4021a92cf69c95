"""Block Kit limits: every violation is reported with its JSON path."""

from __future__ import annotations

from typing import Any

import pytest

from bot.blockkit import BlockKitError, check_message, check_view, validate_message, validate_view


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def button(action_id: str = "go", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": plain("Go"), **extra}


def option(value: str, text: str = "Option") -> dict[str, Any]:
    return {"text": plain(text), "value": value}


def message(*blocks: dict[str, Any], text: str = "fallback") -> dict[str, Any]:
    return {"text": text, "blocks": list(blocks)}


def modal(*blocks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": plain("Audit"), "submit": plain("Save"), "blocks": list(blocks), **extra}


RICH_MESSAGE: dict[str, Any] = {
    "text": "You have a case file audit",
    "blocks": [
        {"type": "header", "text": plain("You have a case file audit for May 2025")},
        {"type": "section", "block_id": "facts", "fields": [mrkdwn("*Case*\nC-1"), mrkdwn("*Team*\nNorth")]},
        {"type": "section", "text": mrkdwn("Due *Friday*"), "accessory": button("open", value="42")},
        {"type": "divider"},
        {
            "type": "actions",
            "block_id": "choices",
            "elements": [
                button("accept", value="1", style="primary"),
                button(
                    "decline",
                    value="2",
                    confirm={"title": plain("Sure?"), "text": mrkdwn("Really decline?"),
                             "confirm": plain("Yes"), "deny": plain("No")},
                ),
                {"type": "static_select", "action_id": "reason", "placeholder": plain("Why"),
                 "options": [option("leave"), option("conflict")]},
                {"type": "overflow", "action_id": "more", "options": [option("a"), option("b")]},
            ],
        },
        {"type": "context", "elements": [mrkdwn("Why this case went to you"),
                                         {"type": "image", "image_url": "https://x/y.png", "alt_text": "logo"}]},
    ],
}


def test_valid_rich_message_and_modal_have_no_problems() -> None:
    assert validate_message(RICH_MESSAGE) == []
    check_message(RICH_MESSAGE)
    view = modal(
        {"type": "input", "block_id": "notes", "label": plain("Notes"), "hint": plain("Optional"),
         "element": {"type": "plain_text_input", "action_id": "notes", "multiline": True, "max_length": 3000}},
        close=plain("Cancel"), callback_id="exemption", private_metadata="x" * 3000,
    )
    assert validate_view(view) == []
    check_view(view)
    assert validate_view({"type": "home", "blocks": RICH_MESSAGE["blocks"]}) == []


def test_message_block_count_and_text_length() -> None:
    too_many = message(*[{"type": "divider"}] * 51)
    assert validate_message(too_many) == ["blocks: 51 blocks, Slack allows 50"]
    assert validate_message({"text": "x" * 40_001}) == ["text: 40001 characters, Slack allows 40000"]
    assert validate_message(message(*[{"type": "divider"}] * 50)) == []


def test_message_needs_text_fallback() -> None:
    assert validate_message({}) == ["text: a message needs text or blocks"]
    assert validate_message({"blocks": [{"type": "divider"}]}) == ["text: a plain-text fallback is required"]
    assert validate_message({"text": "   ", "blocks": [{"type": "divider"}]}) == [
        "text: a plain-text fallback is required"
    ]


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"type": "section", "text": mrkdwn("x" * 3012)}, "blocks[0].text.text: 3012 characters, Slack allows 3000"),
        ({"type": "section", "fields": [mrkdwn("f")] * 11}, "blocks[0].fields: 11 items, Slack allows 10"),
        ({"type": "section", "fields": [mrkdwn("x" * 2001)]},
         "blocks[0].fields[0].text: 2001 characters, Slack allows 2000"),
        ({"type": "section"}, "blocks[0]: needs text or fields"),
        ({"type": "header", "text": plain("h" * 151)}, "blocks[0].text.text: 151 characters, Slack allows 150"),
        ({"type": "header", "text": mrkdwn("h")}, "blocks[0].text.type: must be plain_text, got mrkdwn"),
        ({"type": "context", "elements": [mrkdwn("c")] * 11}, "blocks[0].elements: 11 items, Slack allows 10"),
        ({"type": "actions", "elements": [button(f"b{i}") for i in range(26)]},
         "blocks[0].elements: 26 items, Slack allows 25"),
        ({"type": "divider", "block_id": "d" * 256}, "blocks[0].block_id: 256 characters, Slack allows 255"),
        ({"type": "carousel"}, "blocks[0].type: unknown block type 'carousel'"),
        ({"type": "section", "text": {"type": "markdown", "text": "x"}},
         "blocks[0].text.type: must be plain_text or mrkdwn, got 'markdown'"),
        ({"type": "section", "text": mrkdwn("")}, "blocks[0].text.text: must be a non-empty string"),
    ],
)
def test_block_limits(block: dict[str, Any], problem: str) -> None:
    assert validate_message(message(block)) == [problem]


@pytest.mark.parametrize(
    ("element", "problem"),
    [
        (button("a" * 256), "blocks[0].elements[0].action_id: 256 characters, Slack allows 255"),
        (button(text=plain("t" * 76)), "blocks[0].elements[0].text.text: 76 characters, Slack allows 75"),
        (button(text=mrkdwn("Go")), "blocks[0].elements[0].text.type: must be plain_text, got mrkdwn"),
        (button(value="v" * 2001), "blocks[0].elements[0].value: 2001 characters, Slack allows 2000"),
        (button(url="https://" + "u" * 2993), "blocks[0].elements[0].url: 3001 characters, Slack allows 3000"),
        (button(confirm={"title": plain("t" * 101), "text": plain("x"), "confirm": plain("y"), "deny": plain("n")}),
         "blocks[0].elements[0].confirm.title.text: 101 characters, Slack allows 100"),
        (button(confirm={"title": plain("t"), "text": plain("x" * 301), "confirm": plain("y"), "deny": plain("n")}),
         "blocks[0].elements[0].confirm.text.text: 301 characters, Slack allows 300"),
        (button(confirm={"title": plain("t"), "text": plain("x"), "confirm": plain("y" * 31), "deny": plain("n")}),
         "blocks[0].elements[0].confirm.confirm.text: 31 characters, Slack allows 30"),
        (button(confirm={"title": plain("t"), "text": plain("x"), "confirm": plain("y"), "deny": plain("n" * 31)}),
         "blocks[0].elements[0].confirm.deny.text: 31 characters, Slack allows 30"),
        ({"type": "static_select", "action_id": "s", "options": [option(str(i)) for i in range(101)]},
         "blocks[0].elements[0].options: 101 items, Slack allows 100"),
        ({"type": "static_select", "action_id": "s", "options": [option("v", "o" * 76)]},
         "blocks[0].elements[0].options[0].text.text: 76 characters, Slack allows 75"),
        ({"type": "static_select", "action_id": "s", "options": [option("v" * 151)]},
         "blocks[0].elements[0].options[0].value: 151 characters, Slack allows 150"),
        ({"type": "static_select", "action_id": "s"}, "blocks[0].elements[0]: needs options or option_groups"),
        ({"type": "magic_wand", "action_id": "m"}, "blocks[0].elements[0].type: unknown element type 'magic_wand'"),
    ],
)
def test_element_limits(element: dict[str, Any], problem: str) -> None:
    assert validate_message(message({"type": "actions", "elements": [element]})) == [problem]


def test_duplicate_ids_are_reported() -> None:
    problems = validate_message(message(
        {"type": "actions", "block_id": "a", "elements": [button("x"), button("x")]},
        {"type": "divider", "block_id": "a"},
    ))
    assert problems == [
        "blocks[0].elements[1].action_id: duplicate action_id 'x' in this block",
        "blocks[1].block_id: duplicate block_id 'a'",
    ]


def test_input_block_limits() -> None:
    view = modal(
        {"type": "input", "block_id": "n", "label": plain("l" * 2001), "hint": plain("h" * 2001),
         "element": {"type": "plain_text_input", "action_id": "n", "max_length": 3001}},
        {"type": "input", "block_id": "m", "label": plain("Label")},
    )
    assert validate_view(view) == [
        "blocks[0].label.text: 2001 characters, Slack allows 2000",
        "blocks[0].hint.text: 2001 characters, Slack allows 2000",
        "blocks[0].element.max_length: 3001, Slack allows 1 to 3000",
        "blocks[1].element: required",
    ]


def test_view_limits() -> None:
    view = {
        "type": "modal",
        "title": plain("t" * 25),
        "submit": plain("s" * 25),
        "close": plain("c" * 25),
        "callback_id": "c" * 256,
        "private_metadata": "p" * 3001,
        "blocks": [{"type": "divider"}] * 101,
    }
    assert validate_view(view) == [
        "title.text: 25 characters, Slack allows 24",
        "submit.text: 25 characters, Slack allows 24",
        "close.text: 25 characters, Slack allows 24",
        "callback_id: 256 characters, Slack allows 255",
        "private_metadata: 3001 characters, Slack allows 3000",
        "blocks: 101 blocks, Slack allows 100",
    ]
    assert validate_view({"type": "modal", "blocks": []}) == ["title: required"]
    assert validate_view({"type": "popup", "blocks": []}) == ["type: must be modal or home, got 'popup'"]
    assert validate_view(modal(
        {"type": "input", "label": plain("L"), "element": {"type": "plain_text_input", "action_id": "a"}},
        submit=None,
    )) == ["submit: required when the modal has input blocks"]


def test_check_functions_raise_with_all_problems() -> None:
    with pytest.raises(BlockKitError) as caught:
        check_message({"blocks": [{"type": "header", "text": plain("h" * 151)}]})
    assert caught.value.problems == [
        "text: a plain-text fallback is required",
        "blocks[0].text.text: 151 characters, Slack allows 150",
    ]
    assert isinstance(caught.value, ValueError)
    with pytest.raises(BlockKitError) as caught_view:
        check_view({"type": "home"})
    assert caught_view.value.problems == ["blocks: required"]


INVITE = {"filename": "reflection-meeting-CMS-1.ics", "title": "Reflection meeting CMS-1 (invite 1)",
          "content": "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"}


def test_a_message_sharing_a_file_needs_a_short_comment_and_no_blocks() -> None:
    assert validate_message({"text": "Calendar invite", "file": INVITE}) == []
    assert validate_message({"file": INVITE}) == ["text: a message needs text or blocks"]
    assert validate_message({"text": "x" * 4001, "file": INVITE}) == ["text: 4001 characters, Slack allows 4000"]
    assert validate_message({"text": "x", "blocks": [{"type": "divider"}], "file": INVITE}) == [
        "blocks: a message sharing a file has none (its text is the file's comment)"
    ]
    assert validate_message({"text": "x", "file": "invite.ics"}) == ["file: must be a file object"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"filename": ""}, "file.filename: must be a non-empty string"),
        ({"filename": None}, "file.filename: must be a non-empty string"),
        ({"filename": "x" * 252 + ".ics"}, "file.filename: 256 characters, Slack allows 255"),
        ({"filename": "../invite.ics"}, "file.filename: must not contain a path separator"),
        ({"filename": "c:\\invite.ics"}, "file.filename: must not contain a path separator"),
        ({"title": None}, "file.title: required"),
        ({"title": "t" * 256}, "file.title: 256 characters, Slack allows 255"),
        ({"content": ""}, "file.content: must be a non-empty string"),
        ({"content": b"BEGIN:VCALENDAR"}, "file.content: must be a non-empty string"),
        ({"content": "é" * 524_289}, "file.content: 1048578 bytes, at most 1048576 here"),
        ({"content_base64": "iVBORw0KGgo="}, "file.content: give exactly one of content (text) or content_base64 (bytes)"),
    ],
)
def test_a_shared_file_is_checked_before_it_is_sent(change: dict[str, Any], problem: str) -> None:
    assert validate_message({"text": "Calendar invite", "file": {**INVITE, **change}}) == [problem]
    with pytest.raises(BlockKitError):
        check_message({"text": "Calendar invite", "file": {**INVITE, **change}})


@pytest.mark.parametrize(
    ("content_base64", "problem"),
    [
        ("iVBORw0KGgo=", None),
        ("not base64!", "file.content_base64: is not base64"),
        ("", "file.content_base64: must be a non-empty string"),
        ("A" * 1_398_104, "file.content_base64: 1048578 bytes, at most 1048576 here"),
    ],
)
def test_a_files_bytes_may_travel_as_base64(content_base64: str, problem: str | None) -> None:
    chart = {"filename": "audit-report-2026-12-completion-by-month.png", "title": "Completion", "content_base64": content_base64}
    assert validate_message({"text": "Bar chart of completion by month.", "file": chart}) == ([problem] if problem else [])


def test_the_largest_file_allowed_passes() -> None:
    assert validate_message({"text": "x", "file": {**INVITE, "content": "a" * 1_048_576, "filename": "x" * 255}}) == []
