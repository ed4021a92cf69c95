"""``auditbot allocate``: plan (``--preview``) or commit a month's allocations."""

from __future__ import annotations

from typing import IO, Any

import click

from bot.calendar import WorkingCalendar
from bot.cli import Context, pass_context
from bot.services.allocation.rules import last_day, month_label
from bot.services.allocation.service import (
    AllocationPlan,
    AllocationRequest,
    CommitResult,
    MonthPaused,
    RequestError,
    ThematicFilter,
    allocate,
    parse_month,
    parse_thematic_filter,
)
from bot.services.allocation.types import describe_request
from bot.services.cycle.months import TooLateToPrepare, prepare_allocation
from store.models import AuditType


class InputError(click.UsageError):
    """Bad input: shown as one ``Error:`` line (no usage block), exit status 2."""

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the one-line error to stderr."""
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


def _control(raw: str | None, default: int) -> int | None:
    if raw is None:
        return None
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InputError(f"--control: expected a number of cases, not {raw!r}") from None


def _references(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(ref.strip() for ref in raw.split(",") if ref.strip())


def _who(item_name: str, second: str | None) -> str:
    return f"{item_name} & {second}" if second else item_name


def _heading(kind: AuditType, theme: str | None, count: int) -> str:
    label = f"{kind.value} {theme!r}" if theme else kind.value
    return f"{label} ({count}):"


def print_plan(plan: AllocationPlan) -> None:
    """The plan as text: allocations by audit type, then the unallocated cases, then notes."""
    click.echo(f"Allocation plan for {month_label(plan.month)}: due {plan.due_date.isoformat()}, seed {plan.seed}")
    if plan.items:
        ref_w = max(len(i.reference) for i in plan.items)
        type_w = max(len(i.case_type.value) for i in plan.items)
        team_w = max(len(i.team) for i in plan.items)
        groups: dict[tuple[AuditType, str | None], list[str]] = {}
        for item in plan.items:
            line = (
                f"  {item.reference:<{ref_w}}  {item.case_type.value:<{type_w}}  {item.team:<{team_w}}"
                f"  → {_who(item.auditor_name, item.second_auditor_name)}  ({item.reason})"
            )
            groups.setdefault((item.audit_type, item.theme), []).append(line)
        for (kind, theme), lines in groups.items():
            click.echo(_heading(kind, theme, len(lines)))
            for line in lines:
                click.echo(line)
    else:
        click.echo("nothing to allocate")
    print_unallocated(plan)
    if plan.notes:
        click.echo("Notes:")
        for note in plan.notes:
            click.echo(f"  {note}")
    if plan.rules:
        click.echo("Re-sampling:")
        for rule in plan.rules:
            click.echo(f"  {rule}")


def print_unallocated(plan: AllocationPlan) -> None:
    """The cases that could not be allocated, with why."""
    if not plan.unallocated:
        return
    width = max(len(u.reference) for u in plan.unallocated)
    click.echo(f"Not allocated ({len(plan.unallocated)}):")
    for entry in plan.unallocated:
        click.echo(f"  {entry.reference:<{width}}  {entry.reason}")


def summary(result: CommitResult) -> str:
    """``N allocations created, M messages queued; already allocated: K``."""
    line = (
        f"{result.created} allocations created, {result.messages} messages queued; "
        f"already allocated: {result.already_allocated}"
    )
    if result.skipped:
        line += f"; {result.skipped} skipped (allocated since planning or target reached)"
    return line


def register(group: click.Group) -> None:
    """Add the ``allocate`` command."""

    @group.command("allocate")
    @click.option("--month", "month_text", required=True, metavar="YYYY-MM", help="The month to allocate.")
    @click.option(
        "--control",
        "control_text",
        is_flag=False,
        flag_value="",
        default=None,
        metavar="[N]",
        help="Target size of the month's control sample (default from settings if no N).",
    )
    @click.option(
        "--thematic", "thematic_text", metavar="FILTER", help="Thematic sample filter: type=CP,CIN;team=...;service=..."
    )
    @click.option("--theme", help="The theme of the thematic sample (else the month's theme).")
    @click.option("--thematic-count", type=click.IntRange(min=0), help="Target size of the thematic sample.")
    @click.option("--cases", "cases_text", metavar="REF,...", help="Allocate these case references.")
    @click.option(
        "--cases-type",
        type=click.Choice([AuditType.DIP.value, AuditType.RE_AUDIT.value], case_sensitive=False),
        default=AuditType.DIP.value,
        show_default=True,
        help="Audit type for --cases.",
    )
    @click.option("--allow-recent", is_flag=True, help="Allow cases audited within the re-sampling window.")
    @click.option("--seed", type=int, help="Random seed (default: the month as YYYYMM).")
    @click.option("--preview", is_flag=True, help="Show the plan without allocating anything.")
    @click.option("--late", is_flag=True, help="Allocate a month whose deadline has already passed.")
    @click.option(
        "--prepare", is_flag=True, help="Keep this request for the month's first working day (and show its plan now)."
    )
    @pass_context
    def allocate_command(
        ctx: Context,
        month_text: str,
        control_text: str | None,
        thematic_text: str | None,
        theme: str | None,
        thematic_count: int | None,
        cases_text: str | None,
        cases_type: str,
        allow_recent: bool,
        seed: int | None,
        preview: bool,
        late: bool,
        prepare: bool,
    ) -> None:
        """Allocate a month's cases to auditors (sizes are targets for the whole month)."""
        settings = ctx.settings
        try:
            month = parse_month(month_text)
        except RequestError as exc:
            raise InputError(f"--month: {exc}") from None
        today = WorkingCalendar.from_settings(settings).local_date(ctx.now())
        if last_day(month) < today and not (late or preview):
            raise click.ClickException(
                f"the deadline for {month:%B %Y} ({last_day(month).isoformat()}) has passed, so every audit would be "
                "overdue at once: nothing was allocated (add --late to allocate it anyway)"
            )
        thematic: ThematicFilter | None = None
        if thematic_text is not None:
            try:
                thematic = parse_thematic_filter(thematic_text)
            except RequestError as exc:
                raise InputError(f"--thematic: {exc}") from None
        try:
            request = AllocationRequest(
                month=month,
                control=_control(control_text, settings.control_sample_size),
                thematic_filter=thematic,
                theme=theme.strip() if theme and theme.strip() else None,
                thematic_count=thematic_count,
                cases=_references(cases_text),
                cases_type=AuditType(cases_type.lower()),
                allow_recent=allow_recent,
                seed=seed,
            )
            plan, result = allocate(ctx.sessions, request, settings, now=ctx.now(), preview=preview or prepare)
            if prepare:  # kept only once it plans: a bad request must not wait for the first working day
                calendar = WorkingCalendar.from_settings(settings)
                with ctx.sessions() as session, session.begin():
                    replaced = prepare_allocation(session, request, calendar, now=ctx.now(), actor_ref="cli")
                click.echo(f"prepared: this request will be allocated on the first working day of {month:%B %Y}")
                if replaced is not None:
                    click.echo(
                        f"it replaces the request prepared by {replaced.prepared_by} on "
                        f"{calendar.local(replaced.prepared_at):%d %b %Y %H:%M}: {describe_request(replaced.request)}"
                    )
        except RequestError as exc:
            raise InputError(str(exc)) from None
        except (MonthPaused, TooLateToPrepare) as exc:
            raise click.ClickException(str(exc)) from None
        if result is None:
            print_plan(plan)
            return
        click.echo(summary(result))
        print_unallocated(plan)
        if result.created == 0:  # an operator (or a script) must not read "done" into "nothing happened"
            why = "the month already has what was asked" if result.already_allocated else "no case could be allocated"
            raise click.ClickException(f"nothing was allocated: {why}")
