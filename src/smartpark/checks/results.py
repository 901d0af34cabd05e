"""A check result as the runner stores it and the alerts consume it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smartpark.checks.domain import Outcome, Status
from smartpark.checks.windows import Window


@dataclass(frozen=True, slots=True)
class Result:
    """One verdict: which check, about whom, over which window, and why."""

    check: str
    subject: str
    enterprise: str | None
    window: Window
    outcome: Outcome
    severity: str
    higher_is_bad: bool
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def alarming(self) -> bool:
        """Whether this result opens (or keeps open) an alert."""
        return self.outcome.status in (Status.VIOLATION, Status.WARNING)

    def message(self) -> str:
        """One line a person can act on."""
        o = self.outcome
        value = "n/a" if o.value is None else f"{o.value:.4g}"
        limit = "n/a" if o.limit is None else f"{o.limit:.4g}"
        text = f"{self.check} {self.subject}: {o.status.value}, {value} against {limit}"
        return f"{text} ({o.note})" if o.note else text
