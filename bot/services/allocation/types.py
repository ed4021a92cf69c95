"""The data of an allocation run: the request, the plan and its parts (no store access)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bot.services.allocation.rules import RequestError, Rule, ThematicFilter, month_label, parse_thematic_filter
from store.models import AuditType, CaseType


class MonthPaused(Exception):
    """The programme is paused for the month: nothing is allocated."""

    def __init__(self, month: dt.date) -> None:
        self.month = month
        super().__init__(f"the programme is paused for {month_label(month)}: nothing is allocated while paused")


@dataclass(frozen=True)
class AllocationRequest:
    """What to allocate for one month. Sizes are targets for the whole month."""

    month: dt.date
    control: int | None = None
    thematic_filter: ThematicFilter | None = None
    theme: str | None = None
    thematic_count: int | None = None
    cases: tuple[str, ...] = ()
    cases_type: AuditType = AuditType.DIP
    allow_recent: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.month.day != 1:
            raise RequestError(f"the month must be given by its first day, not {self.month.isoformat()}")
        if self.cases_type not in (AuditType.DIP, AuditType.RE_AUDIT):
            raise RequestError(f"named cases are allocated as dip or re_audit, not {self.cases_type.value}")
        for name, value in (("control sample size", self.control), ("thematic count", self.thematic_count)):
            if value is not None and value < 0:
                raise RequestError(f"the {name} cannot be negative ({value})")
        if self.thematic_filter is None and (self.theme or self.thematic_count is not None):
            raise RequestError("a theme or thematic count needs a thematic filter")
        if self.control is None and self.thematic_filter is None and not self.cases:
            raise RequestError("nothing requested: give a control sample size, a thematic filter or case references")

    @property
    def effective_seed(self) -> int:
        """The seed given, or one derived from the month (``202606`` for June 2026)."""
        return self.seed if self.seed is not None else self.month.year * 100 + self.month.month


@dataclass(frozen=True)
class PlannedAllocation:
    """One case the plan gives to an auditor (or a pair)."""

    reference: str
    case_id: int
    case_type: CaseType
    team: str
    audit_type: AuditType
    theme: str | None
    auditor_id: int
    auditor_name: str
    second_auditor_id: int | None
    second_auditor_name: str | None
    due_date: dt.date
    reason: str


@dataclass(frozen=True)
class Unallocated:
    """A case the plan could not allocate, and why."""

    reference: str
    reason: str
    case_id: int | None = None
    audit_type: AuditType | None = None
    #: How many auditors each rule excluded (empty unless the case had no eligible auditor).
    excluded: dict[Rule, int] = field(default_factory=dict, hash=False)


@dataclass
class AllocationPlan:
    """The outcome of planning: what would be created, what could not be, and notes."""

    request: AllocationRequest
    month: dt.date
    due_date: dt.date
    seed: int
    #: The theme of the thematic sample (from the request, else the month's theme).
    theme: str | None
    #: The resolved thematic target (the request's count or the ``thematic_sample_size`` setting).
    thematic_target: int | None
    paused: bool
    items: list[PlannedAllocation] = field(default_factory=list)
    unallocated: list[Unallocated] = field(default_factory=list)
    #: Per requested kind ("control", "thematic", "dip"/"re_audit"): what the month already has.
    already_allocated: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: The council's re-sampling choices that shaped this plan, one line per kind of sample.
    rules: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CommitResult:
    """What committing a plan did."""

    created: int
    skipped: int
    messages: int
    allocation_ids: tuple[int, ...]
    already_allocated: int


def request_to_json(request: AllocationRequest) -> dict[str, object]:
    """The request as JSON, to keep a prepared allocation in the store."""
    return {
        "month": request.month.isoformat(),
        "control": request.control,
        "thematic_filter": request.thematic_filter.describe() if request.thematic_filter else None,
        "theme": request.theme,
        "thematic_count": request.thematic_count,
        "cases": list(request.cases),
        "cases_type": request.cases_type.value,
        "allow_recent": request.allow_recent,
        "seed": request.seed,
    }


def describe_request(request: AllocationRequest) -> str:
    """The request in a few words: ``control 40; thematic 20 of type=CLA (theme Permanence)``."""
    parts = []
    if request.control:
        parts.append(f"control {request.control}")
    if request.thematic_filter is not None:
        count = request.thematic_count if request.thematic_count is not None else "the standing number"
        theme = f" (theme {request.theme})" if request.theme else ""
        parts.append(f"thematic {count} of {request.thematic_filter.describe()}{theme}")
    if request.cases:
        parts.append(f"{request.cases_type.value} {', '.join(request.cases)}")
    return "; ".join(parts) or "nothing"


def request_from_json(data: dict[str, object]) -> AllocationRequest:
    """Rebuild a request written by ``request_to_json``."""
    raw_filter = data.get("thematic_filter")
    raw_cases = data.get("cases") or ()
    if not isinstance(raw_cases, list | tuple):
        raise ValueError(f"a prepared request's cases must be a list, not {type(raw_cases).__name__}")
    return AllocationRequest(
        month=dt.date.fromisoformat(str(data["month"])),
        control=_opt_int(data.get("control")),
        thematic_filter=parse_thematic_filter(str(raw_filter)) if raw_filter else None,
        theme=str(data["theme"]) if data.get("theme") else None,
        thematic_count=_opt_int(data.get("thematic_count")),
        cases=tuple(str(c) for c in raw_cases),
        cases_type=AuditType(str(data.get("cases_type") or AuditType.DIP.value)),
        allow_recent=bool(data.get("allow_recent")),
        seed=_opt_int(data.get("seed")),
    )


def _opt_int(value: object) -> int | None:
    return None if value is None else int(str(value))
