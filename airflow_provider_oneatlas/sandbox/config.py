"""Settings of the OneAtlas sandbox.

Every field of :class:`SandboxConfig` can be set three ways, later ones winning:

1. an environment variable ``ONEATLAS_SANDBOX_<FIELD>`` (``ONEATLAS_SANDBOX_ERROR_RATE=0.1``);
2. a command line flag ``--<field-with-dashes>`` (``--error-rate 0.1``);
3. at runtime, ``PATCH /_sandbox/config`` with a partial JSON document (``{"error_rate": 0.1}``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

ENV_PREFIX = "ONEATLAS_SANDBOX_"

ORDER_OUTCOMES = ("delivered", "failed", "error", "rejected")
ORDER_LIST_ORDERS = ("newest", "oldest")
#: Last acquisition date of the generated archive when ``catalog_end`` is not set.
ARCHIVE_END = "2026-12-31"
CONSUMPTION_MODES = ("gb", "tiles")

# Fields that shape the generated catalog: changing one at runtime rebuilds it.
CATALOG_FIELDS = frozenset({"seed", "catalog_size", "catalog_start", "catalog_end", "live_stream", "live_history_days"})
# Fields of the sandbox clock: changing one at runtime sets the clock (start) or its speed.
CLOCK_FIELDS = frozenset({"clock_start", "clock_speed"})


#: What each setting means and accepts, for ``oneatlas-sandbox --help`` (the default is added there).
SETTING_HELP: dict[str, str] = {
    "seed": "seed of the generated catalogue and of the fault dice: same seed, same images and fault sequence "
    "(an integer)",
    "api_keys": "API keys the token endpoint accepts (comma-separated, at least one)",
    "token_lifetime": "seconds a token lives, its expires_in; set it low to exercise token renewal (a number > 0)",
    "error_rate": "probability that an API request answers 503 (a number from 0 to 1)",
    "rate_limit_rate": "probability that an API request answers 429 with Retry-After (a number from 0 to 1)",
    "retry_after": "seconds announced in the Retry-After of a 429, rounded up, at least 1 (a number >= 0)",
    "drop_rate": "probability that a download body is cut mid-way and the connection closed (a number from 0 to 1)",
    "latency": "seconds added to every API answer (a number >= 0)",
    "bandwidth": "bytes per second per download connection (a number > 0, or none for unlimited)",
    "ranges": "honour Range requests on downloads; --no-ranges sends the whole body every time",
    "processing_after": "seconds from an order's creation to 'processing', capped at --delivered-after "
    "(a number >= 0; real seconds or sandbox-clock seconds, whichever pass first)",
    "delivered_after": "seconds from an order's creation to its final status (a number >= 0; real seconds or "
    "sandbox-clock seconds, whichever pass first)",
    "order_outcome": "what new orders end as (one of: " + ", ".join(ORDER_OUTCOMES) + ")",
    "order_history": "past orders already on the account at start and after a reset, all delivered and older than "
    "any new one: a real account holds thousands (an integer >= 0)",
    "order_list_order": "sort of the order list GET /api/v1/orders, which the API does not document (one of: "
    + ", ".join(ORDER_LIST_ORDERS)
    + ")",
    "balance": "credits of the account (an integer >= 0)",
    "credits_per_km2": "price per km2 of AOI clipped to the image footprint (a number >= 0)",
    "min_credits": "minimum price of a product, in credits (an integer >= 0)",
    "consumption_mode": "the data subscription's mode, which decides the order kind: gb (order.data.gb.product) "
    "or tiles (order.product)",
    "catalog_size": "generated archive images besides the tutorial's own, about 30%% over the demo areas "
    "(an integer >= 0)",
    "catalog_start": "first acquisition date of the generated archive (a date YYYY-MM-DD)",
    "catalog_end": "last acquisition date of every generated image, archive and live stream (a date YYYY-MM-DD, "
    f"not before --catalog-start; or none: the archive ends {ARCHIVE_END} and new images never stop arriving)",
    "clock_start": "where the sandbox clock starts: search finds an image once its publicationDate has passed on "
    "it (an ISO 8601 date-time such as 2024-05-01T00:00:00Z, or none for real UTC time)",
    "clock_speed": "simulated seconds per real second: 86400 runs a day a second, 0 stops the clock "
    "(a number from 0 to 10000000)",
    "live_stream": "new images keep arriving day after day over the demo areas and elsewhere "
    "(true or false; false: the archive only)",
    "live_history_days": "days of the live image stream that exist before the clock's time (an integer, 0 to 3660)",
    "download_size": "bytes of each delivered zip (an integer >= 1024)",
    "order_response_delay": "seconds between recording and debiting an order and answering the POST: a client "
    "that times out meanwhile never learns the order id (a number >= 0)",
    "cache_dir": "directory where generated zips are kept (a path, or none for a temporary directory removed "
    "when the sandbox stops)",
}


class ConfigError(ValueError):
    """A setting with a wrong name, type or value; the message names the field."""


@dataclass
class SandboxConfig:
    """How the sandbox behaves. Defaults give a fast, fault-free, well-funded account."""

    seed: int = 0
    api_keys: tuple[str, ...] = ("oneatlas-sandbox-key",)
    token_lifetime: float = 3600.0
    # Fault injection on API paths (never on /_sandbox/*).
    error_rate: float = 0.0  # probability of a 503
    rate_limit_rate: float = 0.0  # probability of a 429
    retry_after: float = 1.0  # seconds announced in Retry-After of a 429 (rounded up, at least 1)
    drop_rate: float = 0.0  # probability that a download body is cut mid-way
    latency: float = 0.0  # seconds added to every API answer
    bandwidth: float | None = None  # bytes per second per download connection; None: unlimited
    ranges: bool = True  # honour Range on downloads
    # Orders.
    # Seconds from creation to "processing" (capped at delivered_after when larger).
    processing_after: float = 1.0
    delivered_after: float = 3.0  # seconds from creation to the final status
    order_outcome: str = "delivered"  # what new orders end as: delivered, failed, error, rejected
    balance: int = 100000  # credits of the account
    credits_per_km2: float = 10.0
    min_credits: int = 0
    consumption_mode: str = "gb"  # "gb" or "tiles": decides the order kind the subscription offers
    # Past orders already on the account at start and reset (all delivered, older than any new one):
    # a real account holds thousands.
    order_history: int = 0
    # Sort of GET /api/v1/orders: "newest" or "oldest" first. The API documents none, so clients must
    # work with either.
    order_list_order: str = "newest"
    # Catalog.
    catalog_size: int = 2000
    catalog_start: str = "2018-01-01"
    catalog_end: str | None = None  # None: the archive ends ARCHIVE_END, the live stream never ends
    # Live catalogue: search finds an image once its publicationDate has passed on the sandbox clock.
    clock_start: str | None = None  # ISO date-time the clock starts at; None: real UTC now
    clock_speed: float = 1.0  # simulated seconds per real second; 0 stops the clock
    live_stream: bool = True  # new images keep arriving day after day (off: the archive only)
    live_history_days: int = 30  # days of the live image stream generated before the clock's time
    # Downloads.
    download_size: int = 2 * 1024 * 1024  # bytes of each delivered zip
    order_response_delay: float = 0.0  # seconds between recording an order and answering
    cache_dir: str | None = None  # where generated zips are kept; None: a temporary directory

    def __post_init__(self) -> None:
        self.validate()

    # -- validation and coercion -------------------------------------------------------------------

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first field with an impossible value."""
        for name in ("error_rate", "rate_limit_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, got {value!r}")
        for name in (
            "token_lifetime",
            "retry_after",
            "latency",
            "processing_after",
            "delivered_after",
            "credits_per_km2",
            "order_response_delay",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)!r}")
        if self.token_lifetime <= 0:
            raise ConfigError(f"token_lifetime must be positive, got {self.token_lifetime!r}")
        if self.bandwidth is not None and self.bandwidth <= 0:
            raise ConfigError(f"bandwidth must be positive or null, got {self.bandwidth!r}")
        if self.order_outcome not in ORDER_OUTCOMES:
            raise ConfigError(f"order_outcome must be one of {', '.join(ORDER_OUTCOMES)}")
        if self.order_list_order not in ORDER_LIST_ORDERS:
            raise ConfigError(f"order_list_order must be one of {', '.join(ORDER_LIST_ORDERS)}")
        if self.order_history < 0:
            raise ConfigError(f"order_history must not be negative, got {self.order_history!r}")
        if self.consumption_mode not in CONSUMPTION_MODES:
            raise ConfigError(f"consumption_mode must be one of {', '.join(CONSUMPTION_MODES)}")
        for name in ("balance", "min_credits", "catalog_size"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)!r}")
        if self.download_size < 1024:
            raise ConfigError(f"download_size must be at least 1024 bytes, got {self.download_size!r}")
        if not self.api_keys or not all(isinstance(key, str) and key for key in self.api_keys):
            raise ConfigError("api_keys must hold at least one non-empty key")
        for name in ("catalog_start", "catalog_end") if self.catalog_end is not None else ("catalog_start",):
            try:
                dt.date.fromisoformat(getattr(self, name))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{name} must be a date YYYY-MM-DD, got {getattr(self, name)!r}") from exc
        if self.catalog_end is not None and self.catalog_end < self.catalog_start:
            raise ConfigError("catalog_end must not be before catalog_start")
        if not 0 <= self.clock_speed <= 10_000_000:
            raise ConfigError(f"clock_speed must be from 0 (stopped) to 10000000, got {self.clock_speed!r}")
        if not 0 <= self.live_history_days <= 3660:
            raise ConfigError(f"live_history_days must be between 0 and 3660, got {self.live_history_days!r}")
        if self.clock_start is not None:
            from airflow_provider_oneatlas.sandbox.clock import ClockError, parse_instant

            try:
                parse_instant("clock_start", self.clock_start)
            except ClockError as exc:
                raise ConfigError(str(exc)) from None

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if not f.name.startswith("_")]

    @classmethod
    def coerce(cls, name: str, value: Any) -> Any:
        """Turn ``value`` (JSON value or string from a flag/env var) into the type of field ``name``."""
        if name not in cls.field_names():
            raise ConfigError(f"unknown setting {name!r} (known: {', '.join(cls.field_names())})")
        try:
            return _COERCERS[name](value)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name}: cannot use {value!r} ({exc})") from exc

    def replace(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """A new validated config with ``changes`` (names as in the dataclass) applied."""
        coerced = {name: self.coerce(name, value) for name, value in changes.items()}
        return dataclasses.replace(self, **coerced)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.field_names():
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    # -- environment and command line ------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        environ = os.environ if environ is None else environ
        changes = {
            name: environ[ENV_PREFIX + name.upper()]
            for name in cls.field_names()
            if ENV_PREFIX + name.upper() in environ
        }
        return cls().replace(changes)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add one ``--flag`` per field; unset flags stay ``None`` (so env vars and defaults apply)."""
        group = parser.add_argument_group("sandbox behaviour (also ONEATLAS_SANDBOX_<NAME> env vars)")
        defaults = cls()
        for name in cls.field_names():
            flag = "--" + name.replace("_", "-")
            default = getattr(defaults, name)
            if name == "ranges":
                group.add_argument(
                    flag,
                    dest=name,
                    action=argparse.BooleanOptionalAction,
                    default=None,
                    help=f"{SETTING_HELP[name]}; default: {'on' if default else 'off'}",
                )
                continue
            shown = ",".join(default) if isinstance(default, tuple) else default
            shown = "none" if shown is None else shown
            group.add_argument(
                flag, dest=name, default=None, metavar=name.upper(), help=f"{SETTING_HELP[name]}; default: {shown}"
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        base = cls.from_env(environ)
        changes = {name: getattr(args, name) for name in cls.field_names() if getattr(args, name, None) is not None}
        return base.replace(changes)

    def to_cli_args(self) -> list[str]:
        """Flags that rebuild this config in ``oneatlas-sandbox`` (used by ``SandboxProcess``)."""
        args: list[str] = []
        for name in self.field_names():
            value = getattr(self, name)
            flag = "--" + name.replace("_", "-")
            if name == "ranges":
                args.append(flag if value else "--no-ranges")
            elif value is None:
                continue
            elif isinstance(value, tuple):
                args += [flag, ",".join(value)]
            else:
                args += [flag, str(value)]
        return args


# -- coercion helpers --------------------------------------------------------------------------------


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    raise ValueError("expected true or false")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("expected an integer")
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            number = float(text)
            if not number.is_integer():
                raise ValueError("expected an integer") from None
            return int(number)
    raise ValueError("expected an integer")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError("expected a number")


def _optional(convert: Any) -> Any:
    def wrapped(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        return convert(value)

    return wrapped


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _to_keys(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        keys = [part.strip() for part in value.split(",")]
    elif isinstance(value, Sequence):
        keys = [_to_str(part) for part in value]
    else:
        raise ValueError("expected a list of keys or a comma-separated string")
    keys = [key for key in keys if key]
    if not keys:
        raise ValueError("at least one API key is needed")
    return tuple(keys)


# Field annotations are strings (``from __future__ import annotations``); a new field type needs an entry here.
_BY_TYPE: dict[str, Any] = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "str": _to_str,
    "tuple[str, ...]": _to_keys,
    "float | None": _optional(_to_float),
    "str | None": _optional(_to_str),
}
_COERCERS: dict[str, Any] = {f.name: _BY_TYPE[str(f.type)] for f in fields(SandboxConfig)}
