"""Optional persistence for the local workspace: an append-only JSON-lines log replayed on load.

The first line is a header (``{"format": 1, "team_id": ...}``). Each later line is one batch:
everything a single state-changing call did (users, channels, messages, deletions, views, view
stacks, App Homes, files and their bytes) plus the ts and id counters after it, so a post appends
one short line however long the file is, and a call is replayed all or nothing. Loading replays the lines in order; a
truncated last line (a crash mid-write) is skipped with a warning and cut off, so later appends
start on a clean line. Rate-limit buckets, faults, triggers, response_urls and ``calls`` are
not kept.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from bot.workspace.state import Channel, File, Message, User, View, WorkspaceState

if sys.platform != "win32":  # Windows has no advisory lock
    import fcntl

log = logging.getLogger(__name__)

FORMAT = 1
Event = dict[str, Any]
#: One decoded change: (kind, value) with the value a dataclass or a small tuple.
Change = tuple[str, Any]


class StateFileError(RuntimeError):
    """The state file cannot be read, or is not (or no longer) a usable local workspace log."""


class StateLog:
    """The event log behind ``LocalWorkspace(state_file=...)``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file: io.FileIO | None = None
        self._size = 0
        self._loaded = False

    # --- lifecycle -----------------------------------------------------------------------------

    def open(self, state: WorkspaceState) -> None:
        """Replay the file into ``state`` (first open only), then open it for appending.

        Changes made before the first open (say ``add_user`` before ``start``) win over the file.
        Raises ``StateFileError`` when the file cannot be read or is not a state log.
        """
        with state.lock:
            if self._file is not None:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = io.FileIO(self.path, "a")
                _lock(self._file, self.path)
                self._load(state)
                self._size = os.fstat(self._file.fileno()).st_size
                if self._size == 0:
                    self._write(_line({"format": FORMAT, "team_id": state.team_id}))
            except OSError as exc:
                self.close()
                raise StateFileError(f"cannot open local workspace state file {self.path}: {exc}") from exc
            except StateFileError:
                self.close()
                raise
            self.flush(state)

    def _load(self, state: WorkspaceState) -> None:
        """Replay the (locked) file into ``state`` once; cut off a truncated last line."""
        assert self._file is not None
        if self._loaded:
            return
        pending = _decode_changes(encode_changes(state))
        batches, cut_at, newline = self._read(state.team_id)
        replay = _Replay(state)
        for batch_ts, counter, changes in batches:
            replay.apply(changes)
            state.restore_counters(batch_ts, counter)
        replay.apply(pending)
        replay.finish()
        self._loaded = True
        if cut_at is not None:
            self._file.truncate(cut_at)
        elif newline:
            self._file.write(b"\n")

    def close(self) -> None:
        """Close the file (``open`` reopens it without replaying again)."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                log.error("closing local workspace state file %s failed: %s", self.path, exc)
            self._file = None

    # --- writing -------------------------------------------------------------------------------

    def flush(self, state: WorkspaceState) -> None:
        """Append the pending changes as one line (nothing when none are pending or closed).

        A failed write is logged, cut back off the file and retried with the next flush.
        """
        with state.lock:
            if self._file is None or not state.changes:
                return
            ts_micros, counter = state.counters()
            data = _line({"ts": ts_micros, "n": counter, "changes": encode_changes(state)})
            try:
                self._write(data)
            except OSError as exc:
                log.error("writing local workspace state file %s failed (will retry): %s", self.path, exc)
                try:
                    self._file.truncate(self._size)
                except OSError as cut:
                    log.error("could not cut a partial line off %s: %s", self.path, cut)
                return
            state.changes.clear()

    def _write(self, data: bytes) -> None:
        """Append ``data`` (unbuffered, so a failed write leaves nothing queued to retry)."""
        assert self._file is not None
        view = memoryview(data)
        while view:
            view = view[self._file.write(view) or 0:]
        self._file.flush()
        self._size += len(data)

    # --- reading -------------------------------------------------------------------------------

    def _read(self, team_id: str) -> tuple[list[tuple[int, int, list[Change]]], int | None, bool]:
        """Parse the file: (batches, offset to cut a bad last line at, whether a newline is missing)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return [], None, False
        except OSError as exc:
            raise StateFileError(f"cannot read local workspace state file {self.path}: {exc}") from exc
        lines = _split(data)
        if not lines:
            return [], None, False
        self._check_header(lines[0][1], team_id)
        last = max((i for i, (_, raw) in enumerate(lines) if raw.strip()), default=0)
        batches = []
        for index, (offset, raw) in enumerate(lines[1:], start=1):
            if not raw.strip():
                continue
            try:
                batches.append(_decode_batch(json.loads(raw)))
            except (ValueError, TypeError, KeyError) as exc:
                where = f"{self.path}:{index + 1}"
                if index < last:
                    raise StateFileError(f"local workspace state file {where} is corrupt: {exc}") from exc
                log.warning("skipping a truncated last line in local workspace state file %s (%s)", where, exc)
                return batches, offset, False
        return batches, None, not data.endswith(b"\n")

    def _check_header(self, raw: bytes, team_id: str) -> None:
        try:
            header = json.loads(raw)
        except ValueError:
            header = None
        if not isinstance(header, dict) or "format" not in header:
            raise StateFileError(f"{self.path} is not a local workspace state file (no header line)")
        if header["format"] != FORMAT:
            raise StateFileError(f"{self.path} has state format {header['format']!r}; expected {FORMAT}")
        if header.get("team_id") != team_id:
            raise StateFileError(
                f"{self.path} holds team {header.get('team_id')!r}, not {team_id!r}; use another state file"
            )


def encode_changes(state: WorkspaceState) -> list[Event]:
    """The pending ``state.changes`` as JSON-ready events, plus the stacks and homes they touch."""
    events: list[Event] = []
    view_users: dict[str, None] = {}
    for kind, obj in state.changes or []:
        if kind == "deleted":
            events.append({"kind": "deleted", "channel": obj.channel, "ts": obj.ts})
            continue
        events.append({"kind": kind, **{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}})
        if kind == "view":
            view_users[obj.user_id] = None
    for user_id in view_users:
        events.append({"kind": "stack", "user": user_id, "views": list(state.view_stacks.get(user_id, []))})
        if user_id in state.home_views:
            events.append({"kind": "home", "user": user_id, "view": state.home_views[user_id]})
    return events


class _Replay:
    """Applies decoded changes to a state, keeping messages in a dict until ``finish``."""

    def __init__(self, state: WorkspaceState) -> None:
        self.state = state
        self.messages = {(m.channel, m.ts): m for m in state.messages}

    def apply(self, changes: list[Change]) -> None:
        s = self.state
        for kind, value in changes:
            if kind == "user":
                user = _upsert(s.users, value.id, value)
                s.users_by_email[user.email.strip().lower()] = user.id
            elif kind == "channel":
                _upsert(s.channels, value.id, value)
            elif kind == "message":
                _upsert(self.messages, (value.channel, value.ts), value)
                s.restore_counters(_micros(value.ts), 0)
            elif kind == "deleted":
                self.messages.pop(value, None)
            elif kind == "view":
                _upsert(s.views, value.id, value)
            elif kind == "file":
                _upsert(s.files, value.id, value)
            elif kind == "stack":
                s.view_stacks[value[0]] = list(value[1])
            elif kind == "home":
                s.home_views[value[0]] = value[1]

    def finish(self) -> None:
        self.state.messages = list(self.messages.values())


def _upsert(table: dict[Any, Any], key: Any, value: Any) -> Any:
    """Put ``value`` in ``table``, updating an existing object in place (others may hold it)."""
    existing = table.get(key)
    if existing is None:
        table[key] = value
        return value
    for f in dataclasses.fields(value):
        setattr(existing, f.name, getattr(value, f.name))
    return existing


def _decode_batch(batch: Any) -> tuple[int, int, list[Change]]:
    if not isinstance(batch, dict):
        raise ValueError("a line must be a JSON object")
    ts_micros, counter = batch["ts"], batch["n"]
    if not isinstance(ts_micros, int) or not isinstance(counter, int):
        raise ValueError("ts and n must be integers")
    return ts_micros, counter, _decode_changes(batch["changes"])


_TYPES: dict[str, type] = {"user": User, "channel": Channel, "message": Message, "view": View, "file": File}
#: Fields that must be strings, checked so a bad line fails on load rather than later.
_KEYS = {"user": ("id", "email"), "channel": ("id",), "message": ("channel", "ts"), "view": ("id", "user_id"),
         "file": ("id", "name", "upload_id")}


def _decode_changes(events: Any) -> list[Change]:
    if not isinstance(events, list):
        raise ValueError("changes must be a list")
    changes: list[Change] = []
    for event in events:
        if not isinstance(event, dict):
            raise ValueError("a change must be a JSON object")
        fields = dict(event)
        kind = fields.pop("kind", None)
        if kind in _TYPES:
            if not all(isinstance(fields.get(name), str) for name in _KEYS[kind]):
                raise ValueError(f"a {kind} change needs string {', '.join(_KEYS[kind])}")
            value = _TYPES[kind](**fields)
            if kind == "message":
                _micros(value.ts)
            changes.append((kind, value))
        elif kind == "deleted":
            changes.append((kind, (str(fields["channel"]), str(fields["ts"]))))
        elif kind == "stack":
            if not isinstance(fields["views"], list):
                raise ValueError("a stack change needs a list of views")
            changes.append((kind, (str(fields["user"]), [str(v) for v in fields["views"]])))
        elif kind == "home":
            changes.append((kind, (str(fields["user"]), str(fields["view"]))))
        else:
            raise ValueError(f"unknown change kind {kind!r}")
    return changes


def _micros(ts: str) -> int:
    """A ``seconds.micros`` ts as an integer number of microseconds (ValueError when malformed)."""
    whole, dot, micros = ts.partition(".")
    if not (whole.isdigit() and dot and micros.isdigit() and len(micros) == 6):
        raise ValueError(f"malformed ts {ts!r}")
    return int(whole) * 1_000_000 + int(micros)


def _lock(handle: io.FileIO, path: Path) -> None:
    """Take an exclusive advisory lock so two workspaces cannot append to one file."""
    if sys.platform == "win32":
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise StateFileError(f"local workspace state file {path} is in use by another workspace") from None


def _line(obj: Event) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _split(data: bytes) -> list[tuple[int, bytes]]:
    """The file's lines as (byte offset, bytes), the last one possibly without a newline."""
    lines, pos = [], 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        stop = len(data) if end < 0 else end + 1
        lines.append((pos, data[pos:stop]))
        pos = stop
    return lines
