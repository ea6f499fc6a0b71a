"""Scope strings (RFC 6749 §3.3): space-separated, case-sensitive scope tokens."""

from __future__ import annotations

from typing import Iterable

from .errors import InvalidScope

MAX_SCOPE_LENGTH = 1024


def _valid_scope_token(token: str) -> bool:
    # RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), so no space, '"' or '\'.
    return bool(token) and all(0x21 <= ord(ch) <= 0x7E and ch not in '"\\' for ch in token)


def parse_scope(scope: str | Iterable[str], name: str = "scope") -> tuple[str, ...]:
    """Split and validate a scope, returning its tokens in first-seen order without duplicates.

    Accepts a space-separated string or an iterable of scope tokens. Raises
    :class:`InvalidScope` for an empty scope, a character RFC 6749 §3.3
    forbids, or a scope longer than 1024 characters.
    """
    if isinstance(scope, str):
        if len(scope) > MAX_SCOPE_LENGTH:
            raise InvalidScope(f"{name} is {len(scope)} characters, more than the {MAX_SCOPE_LENGTH} accepted")
        tokens = scope.split(" ")
    elif isinstance(scope, (list, tuple, set, frozenset)):
        tokens = list(scope)
    else:
        raise InvalidScope(
            f"{name} must be a space-separated string such as 'read write', not {type(scope).__name__}"
        )

    result: list[str] = []
    for token in tokens:
        if token == "" and isinstance(scope, str):
            continue
        if not isinstance(token, str) or not _valid_scope_token(token):
            raise InvalidScope(
                f"{name} contains {token!r}, which is not a valid scope token; "
                "use printable ASCII without spaces, quotes or backslashes, such as 'read'"
            )
        if token not in result:
            result.append(token)

    if not result:
        raise InvalidScope(f"{name} is empty; give at least one scope, such as 'read'")
    return tuple(result)


def format_scope(tokens: Iterable[str]) -> str:
    """Join scope tokens into the space-separated form used in the ``scope`` claim."""
    return " ".join(tokens)
