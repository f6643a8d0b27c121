"""Reads policy profiles and rule packs from their YAML files, and public holidays from the maintained
`holidays` calendars: the I/O behind `domain.policy`'s pure models, used by the config activity, the
worker's start-up check and the tools."""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from domain.errors import explain
from domain.policy import CaseConfig, PolicyProfile, RulePack, combine_packs
from domain.strategy import Arm, Strategies, deal, merged

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


class ConfigError(ValueError):
    """A policy profile or rule pack that is missing or invalid; the message names file and field."""


# libyaml's parser where PyYAML was built with it (its wheels are): about 7x less CPU per case start
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A parsed file, while it is unchanged on disk: every case start reads every pack, and an edited file
# still reaches the next case that starts (a case keeps what it started with).
_PARSED: dict[Path, tuple[tuple[int, int], BaseModel]] = {}


def _load(kind: str, name: str, model: type[BaseModel], base: Path) -> BaseModel:
    path = base / kind / f"{name}.yaml"
    label = f"{kind}/{name}.yaml" if kind else f"{name}.yaml"
    try:
        stat = path.stat()
    except FileNotFoundError:
        known = sorted(p.stem for p in (base / kind).glob("*.yaml"))
        raise ConfigError(f"no {kind[:-1]} named {name!r} (known: {', '.join(known)})") from None
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _PARSED.get(path)
    if cached is not None and cached[0] == version and isinstance(cached[1], model):
        return cached[1]
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # a safe loader
        parsed = model.model_validate(data)
    except yaml.YAMLError as e:
        raise ConfigError(f"{label} is not valid YAML: {e}") from e
    except ValidationError as e:
        raise ConfigError(f"{label} is invalid: {explain(e)}") from e
    _PARSED[path] = (version, parsed)
    return parsed


def load_policy(name: str, base: Path = CONFIG_DIR) -> PolicyProfile:
    return _load("policies", name, PolicyProfile, base)  # type: ignore[return-value]


def load_strategies(base: Path = CONFIG_DIR, check: bool = False) -> Strategies:
    """`strategies.yaml`'s trials (none when the file is absent); `check`: every arm's policy loads (the
    worker's start-up check)."""
    if not (base / "strategies.yaml").exists():
        return Strategies(version="0")
    strategies: Strategies = _load("", "strategies", Strategies, base)  # type: ignore[assignment]
    for policy, trial in strategies.trials.items() if check else ():
        for arm in trial.arms:
            arm_policy(policy, arm, base)
    return strategies


# An arm's policy, while the policy file's parse and the arm are the same objects (both cached by `_load`);
# each entry holds both, so neither id can be reused by another object while it is cached.
_ARM_POLICIES: dict[tuple[int, int], tuple[PolicyProfile, Arm, PolicyProfile]] = {}


def arm_policy(policy: str, arm: Arm, base: Path = CONFIG_DIR) -> PolicyProfile:
    """The policy as an arm varies it."""
    profile = load_policy(policy, base)
    if not arm.overrides:
        return profile
    key = (id(profile), id(arm))
    if key not in _ARM_POLICIES or _ARM_POLICIES[key][0] is not profile or _ARM_POLICIES[key][1] is not arm:
        try:
            varied = PolicyProfile.model_validate(merged(profile.model_dump(mode="json"), arm.overrides))
        except ValidationError as e:
            raise ConfigError(f"strategies.yaml: arm {arm.name!r} of {policy!r} makes an invalid policy: "
                              f"{explain(e)}") from e
        if len(_ARM_POLICIES) > 64:
            _ARM_POLICIES.clear()
        _ARM_POLICIES[key] = (profile, arm, varied)
    return _ARM_POLICIES[key][2]


def load_rule_pack(name: str, base: Path = CONFIG_DIR) -> RulePack:
    return _load("rulepacks", name, RulePack, base)  # type: ignore[return-value]


def _all_packs(base: Path) -> dict[str, RulePack]:
    return {p.stem: load_rule_pack(p.stem, base) for p in sorted((base / "rulepacks").glob("*.yaml"))}


def _country_packs(country: str, packs: dict[str, RulePack]) -> list[str]:
    return [name for name, pack in packs.items() if country in pack.countries] or ["cn"]


def packs_for_country(country: str, base: Path = CONFIG_DIR) -> list[str]:
    """The pack(s) whose `countries` list the borrower's country; `cn` where none does."""
    return _country_packs(country, _all_packs(base))


def public_holidays(country: str, first_year: int, years: int) -> list[date]:
    """From the maintained `holidays` calendars; fixed into the case at its start, so replays agree."""
    return list(_holidays(country, first_year, years))


@functools.lru_cache(maxsize=256)
def _holidays(country: str, first_year: int, years: int) -> tuple[date, ...]:
    import holidays

    try:
        calendar = holidays.country_holidays(country, years=range(first_year, first_year + years))
    except NotImplementedError:
        return ()
    return tuple(sorted(calendar))


def load_case_config(policy: str, country: str, extra_packs: list[str], base: Path = CONFIG_DIR,
                     today: date | None = None, case_id: str | None = None, model: str | None = None) -> CaseConfig:
    """The case's policy (as its trial's arm varies it, when the policy has a trial and the case id is
    given), its rule packs combined, and the propensity model in use (`model`, None: the rules alone)."""
    packs = _all_packs(base)  # read once: the country's packs and any extra ones come from here
    names = _country_packs(country, packs)
    names += [n for n in extra_packs if n not in names]
    trial = load_strategies(base).trials.get(policy) if case_id is not None else None
    arm = deal(case_id, trial) if trial is not None and case_id is not None else None
    profile = arm_policy(policy, arm, base) if arm is not None else load_policy(policy, base)
    rules = combine_packs([packs[n] if n in packs else load_rule_pack(n, base) for n in names])
    if profile.contact.quiet_on_public_holidays and today is not None:
        rules = rules.model_copy(update={"quiet_days": public_holidays(country, today.year,
                                                                       profile.contact.holiday_years)})
    return CaseConfig(policy=profile, rules=rules, arm=arm.name if arm else None, model=model)
