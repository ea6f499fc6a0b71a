"""The checks every exercise module must pass, shared by the per-notebook exercise tests."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import pytest

from tokenlab.exercises import check, hint


def contract_tests(exercise_ids: Sequence[str], malformed: Sequence[Any]) -> tuple[Callable[..., None], ...]:
    """Return the three contract tests, parametrised over ``exercise_ids`` and ``malformed`` answers.

    A test module assigns them to module-level names so pytest collects them:
    every exercise has hints, a malformed answer gives "Not yet" instead of an
    exception, and the ``None`` placeholder says what to replace.
    """

    @pytest.mark.parametrize("exercise_id", exercise_ids)
    def test_exercise_has_hints(exercise_id: str) -> None:
        assert "Hint 1 of" in hint(exercise_id, 1)

    @pytest.mark.parametrize("exercise_id", exercise_ids)
    @pytest.mark.parametrize("answer", malformed, ids=repr)
    def test_malformed_answer_gives_not_yet(exercise_id: str, answer: Any) -> None:
        feedback = check(exercise_id, answer)
        assert not feedback.correct
        assert str(feedback).startswith(f"[{exercise_id}] Not yet: ")

    @pytest.mark.parametrize("exercise_id", exercise_ids)
    def test_none_says_what_to_replace(exercise_id: str) -> None:
        assert "replace None" in check(exercise_id, None).message

    return test_exercise_has_hints, test_malformed_answer_gives_not_yet, test_none_says_what_to_replace
