"""Checks on the fields of a config that collect every problem before raising.

Each config dataclass checks its own fields in ``__post_init__``::

    rules = Rules(self)
    rules.integer("epochs", low=1)
    rules.number("learning_rate", low=0, low_open=True)
    rules.raise_problems()

so a config with three bad fields names all three (:class:`~ddpm_lab.errors.ConfigError`), and a rule
lives beside the field it guards, nowhere else.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ddpm_lab.errors import ConfigError


class Rules:
    def __init__(self, values: Any) -> None:
        self.values: Mapping[str, Any] = dataclasses.asdict(values) if dataclasses.is_dataclass(values) else values
        self.problems: dict[str, str] = {}

    def fail(self, name: str, why: str) -> None:
        self.problems.setdefault(name, why)

    def ok(self, *names: str) -> bool:
        """Whether none of ``names`` has failed a rule so far (so a rule across fields can read them)."""
        return not any(name in self.problems for name in names)

    def that(self, name: str, condition: bool, why: str) -> None:
        if self.ok(name) and not condition:
            self.fail(name, why)

    def number(
        self,
        name: str,
        *,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        high_open: bool = False,
        integer: bool = False,
    ) -> None:
        value = self.values[name]
        wanted = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted):
            self.fail(name, f"expected {'an integer' if integer else 'a number'}, got {_shown(value)!r}")
        elif low is not None and (value <= low if low_open else value < low):
            self.fail(name, f"must be {'>' if low_open else '>='} {low}, got {_shown(value)!r}")
        elif high is not None and (value >= high if high_open else value > high):
            self.fail(name, f"must be {'<' if high_open else '<='} {high}, got {_shown(value)!r}")

    def integer(self, name: str, *, low: int | None = None, high: int | None = None) -> None:
        self.number(name, low=low, high=high, integer=True)

    def integers(self, name: str, *, low: int | None = None, high: int | None = None, empty: bool = False) -> None:
        """A list (or tuple) of integers within [low, high]; empty only where ``empty`` allows it."""
        value = self.values[name]
        ok = (
            isinstance(value, (list, tuple))
            and (empty or len(value) > 0)
            and all(
                isinstance(v, int) and not isinstance(v, bool) and (low is None or v >= low) and (high is None or v <= high)
                for v in value
            )
        )
        if not ok:
            bounds = f" in [{low}, {high}]" if high is not None else f" >= {low}" if low is not None else ""
            self.fail(name, f"expected a list of integers{bounds}, got {_shown(value)!r}")

    def numbers(self, name: str, length: int) -> None:
        value = self.values[name]
        if not (
            isinstance(value, (list, tuple))
            and len(value) == length
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            self.fail(name, f"expected {length} numbers, got {_shown(value)!r}")

    def text(self, name: str) -> None:
        value = self.values[name]
        if not (isinstance(value, str) and value.strip()):
            self.fail(name, f"expected a non-empty text, got {_shown(value)!r}")

    def texts(self, name: str) -> None:
        """A non-empty list (or tuple) of non-empty texts."""
        value = self.values[name]
        if not (isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v.strip() for v in value)):
            self.fail(name, f"expected a list of texts, got {_shown(value)!r}")

    def string(self, name: str) -> None:
        """Any text, empty included."""
        if not isinstance(self.values[name], str):
            self.fail(name, f"expected a text, got {_shown(self.values[name])!r}")

    def choice(self, name: str, choices: Iterable[Any]) -> None:
        choices = list(choices)
        value = self.values[name]
        if not any(type(value) is type(c) and value == c for c in choices):  # 1 is not True here
            self.fail(name, f"must be one of {choices}, got {_shown(value)!r}")

    def flag(self, name: str) -> None:
        self.choice(name, (True, False))

    def raise_problems(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


class Checked:
    """A frozen dataclass whose fields are checked by the rules in ``RULES``: field → (Rules method, keywords)."""

    RULES: ClassVar[dict[str, tuple[str, dict[str, Any]]]] = {}

    def __post_init__(self) -> None:
        rules = Rules(self)
        for name, (method, keywords) in self.RULES.items():
            getattr(rules, method)(name, **keywords)
        rules.raise_problems()


def settings(name: str, base: type = Checked, defaults: Mapping[str, Any] | None = None, **rules) -> type:
    """A frozen dataclass ``name`` (a subclass of ``base``, keyword-only) with one field per rule, each checked by
    its rule when built, after the rules ``base`` brings; ``defaults`` gives some fields a default value."""
    defaults = defaults or {}
    fields = [(f, Any, dataclasses.field(default=defaults[f])) if f in defaults else (f, Any) for f in rules]
    inherited = getattr(base, "RULES", {})
    return dataclasses.make_dataclass(
        name, fields, bases=(base,), frozen=True, kw_only=True, namespace={"RULES": {**inherited, **rules}}
    )


def build(cls: type, entry: Mapping[str, Any]) -> Any:
    """``cls`` (a :func:`settings` dataclass) from a mapping, lists read as tuples; raises
    :class:`~ddpm_lab.errors.ConfigError` with every problem at once: a key ``cls`` has no field for (with the
    closest field named), a field the mapping lacks, and each value a rule refuses."""
    if not isinstance(entry, Mapping):
        raise ConfigError({"": f"expected a mapping of settings, got {_shown(entry)!r}"})
    known = [f.name for f in dataclasses.fields(cls)]
    problems = {}
    for key in entry:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            problems[str(key)] = "not a setting of this check" + (f" (did you mean {close[0]}?)" if close else "")
    for f in dataclasses.fields(cls):
        missing = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if missing and f.name not in entry:
            problems[f.name] = "missing"
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items() if k in known}
    if "missing" not in problems.values():
        try:
            return cls(**values)
        except ConfigError as err:
            problems.update(err.problems)
    raise ConfigError(problems)


def _shown(value: Any) -> Any:
    """A value as params.yaml spells it: sequences as lists."""
    return list(value) if isinstance(value, tuple) else value
