"""Exceptions of the OneAtlas client: one hierarchy, rooted at :class:`OneAtlasError`.

No Airflow import here: the hook, the operators and the trigger all raise these, and tests catch them
without starting Airflow.
"""

from __future__ import annotations

from typing import Any


class OneAtlasError(Exception):
    """Base class of every error the provider raises on purpose."""


class ValidationError(OneAtlasError, ValueError):
    """Bad input, found before any request is sent.

    ``field`` names the parameter at fault, ``accepted`` says what would be accepted, so the message
    tells the user both what is wrong and how to fix it.
    """

    def __init__(self, field: str, problem: str, accepted: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.accepted = accepted
        message = f"{field}: {problem}"
        if accepted:
            message += f" (accepted: {accepted})"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross processes (triggerer, task runner): rebuild from the fields, not the message.
        return (type(self), (self.field, self.problem, self.accepted))


class AoiError(ValidationError):
    """An area of interest that is not a valid polygon or multipolygon."""


class ConfigurationError(OneAtlasError):
    """A connection or client setting that cannot work (for example a base URL that is not https)."""


class TransportError(OneAtlasError):
    """The request never got an HTTP answer (connection refused or reset, timeout) after every retry."""


class ApiError(OneAtlasError):
    """OneAtlas answered with an HTTP error.

    Carries the status and, when the body is the OneAtlas error document, its ``message``, ``hint``,
    ``internalCode`` and ``correlationId`` (quote the latter to Airbus support).
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        method: str = "",
        url: str = "",
        hint: str | None = None,
        internal_code: str | None = None,
        correlation_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.method = method
        self.url = url
        self.hint = hint
        self.internal_code = internal_code
        self.correlation_id = correlation_id
        self.retry_after = retry_after
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"OneAtlas answered {self.status_code}"
        if self.method and self.url:
            text += f" to {self.method} {self.url}"
        text += f": {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        if self.correlation_id:
            text += f" [correlationId {self.correlation_id}]"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments do not survive the default pickling used across processes.
        return (
            _rebuild_api_error,
            (
                type(self),
                self.status_code,
                self.message,
                {
                    "method": self.method,
                    "url": self.url,
                    "hint": self.hint,
                    "internal_code": self.internal_code,
                    "correlation_id": self.correlation_id,
                    "retry_after": self.retry_after,
                },
            ),
        )


def _rebuild_api_error(cls: type[ApiError], status: int, message: str, kwargs: dict[str, Any]) -> ApiError:
    return cls(status, message, **kwargs)


class AuthenticationError(ApiError):
    """The API key was refused, or a fresh token was refused at once. The key is never echoed."""


class PermissionDeniedError(ApiError):
    """403: for a download, the item is not in the caller's private workspace."""


class NotFoundError(ApiError):
    """404: no such order or item."""


class RateLimitedError(ApiError):
    """429 that outlived the retries; ``retry_after`` holds the server's last wish in seconds."""


class ServerError(ApiError):
    """5xx that outlived the retries."""


class ResponseError(OneAtlasError):
    """An answer that does not parse: not JSON, or a field the provider needs is missing or wrong."""


class OrderFailedError(OneAtlasError):
    """An order reached a terminal failure status (``failed``, ``error`` or ``rejected``)."""

    def __init__(self, order_id: str, status: str, message: str | None = None) -> None:
        self.order_id = order_id
        self.status = status
        self.reason = message
        text = f"OneAtlas order {order_id} ended with status {status!r}"
        if message:
            text += f": {message}"
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.order_id, self.status, self.reason))


class BudgetExceededError(OneAtlasError):
    """An order would cost more than the budget (``max_credits``) or the contract's balance: nothing
    was ordered. ``credits`` is what the order would cost, ``limit`` the budget or balance it broke."""

    def __init__(self, message: str, *, credits: float | None = None, limit: float | None = None) -> None:
        self.credits = credits
        self.limit = limit
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_budget_error, (type(self), str(self), self.credits, self.limit))


def _rebuild_budget_error(
    cls: type[BudgetExceededError], message: str, credits: float | None, limit: float | None
) -> BudgetExceededError:
    return cls(message, credits=credits, limit=limit)


class NotOrderableError(OneAtlasError):
    """OneAtlas priced the products but says they cannot be ordered (feasibility, rights): nothing was
    ordered, and asking again will not change the answer."""


class OrderWaitTimeoutError(OneAtlasError):
    """An order was not delivered before the wait's deadline (the order itself may still complete)."""


class DownloadError(OneAtlasError):
    """A download that cannot be completed intact: cut, larger than announced, or unsafe to extract."""


class ChecksumMismatchError(DownloadError):
    """The bytes received do not match the ``X-Ads-Checksum-Value`` the server announced."""

    def __init__(self, url: str, expected: str, actual: str) -> None:
        self.url = url
        self.expected = expected
        self.actual = actual
        super().__init__(f"md5 of {url} is {actual}, the server announced {expected}: the file was not kept")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.url, self.expected, self.actual))


class UntrustedUrlError(OneAtlasError):
    """A URL outside the configured OneAtlas services, to which the token must not be sent."""
