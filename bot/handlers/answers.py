"""What a handler tells the person when the work did not (or could not) happen: a refusal in
words, or who did it already and when. Shown only to them."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.respond import Respond

from bot.delivery.mentions import known_slack_ids
from bot.handlers.deps import Deps
from bot.ids import Template
from bot.render import render
from bot.services.authz import Decision


def refusal_or_late(
    deps: Deps, decision: Decision, late: dict[str, Any] | None, *, template: Template = Template.ALREADY_DONE,
) -> dict[str, Any] | None:
    """The refusal, or ``late`` (what was done already) in ``template``; None when the person may go on."""
    if decision.code is not None:
        return render(Template.REFUSAL, {"code": decision.code.value})
    if late is None:
        return None
    with deps.sessions() as session:
        return render(template, late, slack_ids=known_slack_ids(session, late))


def say_ephemeral(respond: Respond, payload: dict[str, Any] | None) -> None:
    """Answer the clicker only, leaving the message they clicked as it is (nothing when ``payload`` is None)."""
    if payload is not None:
        respond(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral", replace_original=False)
