"""Champion/challenger: a trial deals each new case of a policy one arm, a variant of that policy
(its schedules, channels, timing, offers), by a stable hash of the case id and the arms' weights.

The deal is a pure function of the case id, the trial's salt and its arms, so it is the same on every
worker and in every replay; the case keeps its arm (and the arm's policy) for life in its configuration,
so adding an arm or changing weights deals differently only to cases that start afterwards.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class Arm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME)
    weight: int = Field(ge=0, description="share of new cases dealt this arm; 0: declared, not dealt")
    champion: bool = False
    description: str = ""
    overrides: dict[str, Any] = Field(default_factory=dict, description="merged into the policy (lists replace)")


class Trial(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    salt: str = Field(min_length=1, max_length=40, description="a new trial, a new salt: the deal starts afresh")
    arms: list[Arm] = Field(min_length=1)

    @model_validator(mode="after")
    def _arms(self) -> Trial:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        if sum(a.champion for a in self.arms) != 1:
            raise ValueError("exactly one arm is the champion")
        if not any(a.weight for a in self.arms):
            raise ValueError("at least one arm needs a weight above 0")
        return self

    @property
    def champion(self) -> Arm:
        return next(a for a in self.arms if a.champion)


class Strategies(BaseModel):
    """`config/strategies.yaml`: a trial per policy name (at most one running per policy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    trials: dict[str, Trial] = Field(default_factory=dict)


def bucket(case_id: str, salt: str, total: int) -> int:
    """0..total-1, uniform and stable: SHA-256 of salt and case id (not Python's `hash`, which is salted
    per process)."""
    digest = hashlib.sha256(f"{salt}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % total


def deal(case_id: str, trial: Trial) -> Arm:
    """The case's arm: its bucket falls in one arm's share of the total weight, arms in their listed order."""
    dealt = [a for a in trial.arms if a.weight > 0]
    point = bucket(case_id, trial.salt, sum(a.weight for a in dealt))
    for arm in dealt:
        if point < arm.weight:
            return arm
        point -= arm.weight
    raise AssertionError("unreachable: the point lies within the total weight")


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The policy's data with an arm's overrides: mappings merge key by key, anything else (a schedule's
    list of steps, a number) replaces."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out
