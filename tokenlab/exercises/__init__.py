"""Self-checks for the course exercises: feedback that helps without giving the answer away.

Each notebook's exercises live in a module of this package and register
themselves with :func:`exercise`. A learner calls :func:`check` with the
exercise id and an answer and gets a :class:`Feedback` back; the notebook
displays it. Checks run offline and are deterministic, so their output can be
stored in the notebook and compared by nbval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Callable

from ..errors import ConfigurationError

_MODULES = ("access_tokens", "refresh_tokens", "rotation", "revocation", "pitfalls", "capstone", "attacks", "http")


@dataclass(frozen=True)
class Feedback:
    """The result of a self-check: whether the answer is right, and what to think about next."""

    exercise_id: str
    correct: bool
    message: str

    def __str__(self) -> str:
        mark = "Correct" if self.correct else "Not yet"
        return f"[{self.exercise_id}] {mark}: {self.message}"

    def __repr__(self) -> str:
        return str(self)

    def __bool__(self) -> bool:
        return self.correct


class Hint(str):
    """A hint's text; it displays without quotes in a notebook."""

    def __repr__(self) -> str:
        return str(self)


Checker = Callable[[Any], "tuple[bool, str]"]


@dataclass(frozen=True)
class Exercise:
    """One exercise: an id, the notebook it belongs to, a checker and graded hints."""

    exercise_id: str
    notebook: str
    prompt: str
    checker: Checker
    hints: tuple[str, ...] = field(default=())


_REGISTRY: dict[str, Exercise] = {}


def exercise(exercise_id: str, *, notebook: str, prompt: str, hints: tuple[str, ...] = ()) -> Callable[[Checker], Checker]:
    """Register the decorated function as the checker of exercise ``exercise_id``.

    The checker takes the learner's answer and returns ``(correct, message)``.
    The message for a wrong answer points at what to reconsider and never
    states the expected answer.
    """

    def register(checker: Checker) -> Checker:
        if exercise_id in _REGISTRY:
            raise ConfigurationError(f"exercise id {exercise_id!r} is registered twice")
        _REGISTRY[exercise_id] = Exercise(exercise_id, notebook, prompt, checker, tuple(hints))
        return checker

    return register


def _load_all() -> None:
    for name in _MODULES:
        try:
            import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise


def get_exercise(exercise_id: str) -> Exercise:
    """Return the exercise ``exercise_id``; raise :class:`ConfigurationError` naming the known ids if absent."""
    _load_all()
    try:
        return _REGISTRY[exercise_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ConfigurationError(f"no exercise {exercise_id!r}; the exercises are: {known}") from None


def check(exercise_id: str, answer: Any) -> Feedback:
    """Check ``answer`` for exercise ``exercise_id`` and return the feedback.

    A checker that fails on an answer of the wrong shape gives a "Not yet"
    that says what shape was expected, instead of a traceback.
    """
    item = get_exercise(exercise_id)
    try:
        correct, message = item.checker(answer)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        return Feedback(exercise_id, False, f"the answer could not be checked ({exc}). {item.prompt}")
    return Feedback(exercise_id, bool(correct), message)


def hint(exercise_id: str, number: int = 1) -> Hint:
    """Return hint ``number`` (1 for the gentlest) of exercise ``exercise_id``."""
    item = get_exercise(exercise_id)
    if not item.hints:
        return Hint(f"[{exercise_id}] No hints for this one: reread the cells above it.")
    index = min(max(number, 1), len(item.hints)) - 1
    text = f"[{exercise_id}] Hint {index + 1} of {len(item.hints)}: {item.hints[index]}"
    if number > len(item.hints):
        text += f" (There is no hint {number}; this is the last one.)"
    return Hint(text)


def list_exercises(notebook: str | None = None) -> list[Exercise]:
    """Return the registered exercises, optionally only those of one notebook."""
    _load_all()
    return [e for e in _REGISTRY.values() if notebook is None or e.notebook == notebook]
