"""Errors a service raises; each carries a message a user can read (Chinese by default).

The web layer maps them to HTTP answers: NotFound 404, Forbidden 403, Conflict and
AlreadyDone 409, ValidationFailed 422. Nothing else should reach a user.
"""


class WarmflowError(Exception):
    code = "error"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(WarmflowError):
    code = "not_found"


class Forbidden(WarmflowError):
    code = "forbidden"


class Conflict(WarmflowError):
    """Someone else changed the same thing first (version column moved)."""

    code = "conflict"


class AlreadyDone(Conflict):
    code = "already_done"


class ValidationFailed(WarmflowError):
    """Bad input; `errors` maps a field (or element id) to its message."""

    code = "invalid"

    def __init__(self, message: str, errors: dict[str, str] | None = None, **details):
        super().__init__(message, **details)
        self.errors = errors or {}
