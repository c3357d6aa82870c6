"""client/errors.py: one hierarchy, messages that say what happened, and errors that survive pickling
(the triggerer and the task runner hand them across processes)."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_oneatlas.client import errors


def round_trip(exc: Exception) -> Exception:
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is type(exc) and str(again) == str(exc)
    return again


def test_every_error_is_a_oneatlas_error() -> None:
    classes = [
        v
        for v in vars(errors).values()
        if isinstance(v, type) and issubclass(v, Exception) and v.__module__ == errors.__name__
    ]
    assert len(classes) >= 18
    assert all(issubclass(c, errors.OneAtlasError) for c in classes)
    assert issubclass(errors.ValidationError, ValueError)  # bad input is a ValueError for callers that catch those
    assert issubclass(errors.AoiError, errors.ValidationError)
    assert issubclass(errors.ChecksumMismatchError, errors.DownloadError)
    for cls in (errors.AuthenticationError, errors.NotFoundError, errors.RateLimitedError, errors.ServerError):
        assert issubclass(cls, errors.ApiError)


def test_validation_error_names_the_field_and_the_fix() -> None:
    err = errors.ValidationError("max_cloud_cover", "130 is out of range", "a number from 0 to 100")
    assert str(err) == "max_cloud_cover: 130 is out of range (accepted: a number from 0 to 100)"
    assert err.field == "max_cloud_cover" and err.problem == "130 is out of range"
    assert str(errors.ValidationError("limit", "bad")) == "limit: bad"
    again = round_trip(err)
    assert isinstance(again, errors.ValidationError) and again.field == "max_cloud_cover"
    assert again.accepted == "a number from 0 to 100"
    aoi = round_trip(errors.AoiError("aoi", "ring 0 is not closed", "a closed ring"))
    assert isinstance(aoi, errors.AoiError) and aoi.field == "aoi"


def test_api_error_message_and_pickling_keep_every_field() -> None:
    err = errors.RateLimitedError(
        429,
        "slow down",
        method="GET",
        url="https://data.api.oneatlas.airbus.com/api/v1/orders",
        hint="wait",
        internal_code="E-429",
        correlation_id="c-1",
        retry_after=12.0,
    )
    assert str(err) == (
        "OneAtlas answered 429 to GET https://data.api.oneatlas.airbus.com/api/v1/orders: slow down "
        "(hint: wait) [correlationId c-1]"
    )
    again = round_trip(err)
    assert isinstance(again, errors.RateLimitedError)
    assert (again.status_code, again.retry_after, again.internal_code, again.correlation_id, again.hint) == (
        429,
        12.0,
        "E-429",
        "c-1",
        "wait",
    )
    assert str(errors.ApiError(500, "boom")) == "OneAtlas answered 500: boom"


def test_order_failed_error() -> None:
    err = errors.OrderFailedError("order-1", "rejected", "image no longer available")
    assert str(err) == "OneAtlas order order-1 ended with status 'rejected': image no longer available"
    again = round_trip(err)
    assert isinstance(again, errors.OrderFailedError) and (again.order_id, again.status, again.reason) == (
        "order-1",
        "rejected",
        "image no longer available",
    )
    assert str(errors.OrderFailedError("o", "failed")) == "OneAtlas order o ended with status 'failed'"


def test_budget_exceeded_error_carries_credits_and_limit() -> None:
    err = errors.BudgetExceededError("over budget", credits=377.0, limit=100.0)
    again = round_trip(err)
    assert isinstance(again, errors.BudgetExceededError) and (again.credits, again.limit) == (377.0, 100.0)


def test_checksum_mismatch_says_nothing_was_kept() -> None:
    err = errors.ChecksumMismatchError("https://h/x.zip", "a" * 32, "b" * 32)
    assert "not kept" in str(err) and "a" * 32 in str(err)
    again = round_trip(err)
    assert isinstance(again, errors.ChecksumMismatchError) and again.expected == "a" * 32


@pytest.mark.parametrize(
    "exc",
    [
        errors.NotOrderableError("not orderable"),
        errors.OrderWaitTimeoutError("late"),
        errors.TransportError("refused"),
        errors.UntrustedUrlError("https://evil"),
        errors.ConfigurationError("api_key: empty"),
        errors.ResponseError("not JSON"),
    ],
)
def test_plain_errors_pickle(exc: Exception) -> None:
    round_trip(exc)
