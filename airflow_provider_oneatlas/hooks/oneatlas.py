"""``OneAtlasHook``: an Airflow connection turned into a OneAtlas client.

The connection holds the API key (password field). With no host, every service goes to its real
OneAtlas host; a host makes one base URL stand for every service (the sandbox, a proxy); per-service
URLs, timeouts, retries and a CA bundle go in the extras.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_oneatlas.client.config import (
    DEFAULT_CONNECTIONS,
    SERVICES,
    ClientConfig,
    RetryPolicy,
    normalize_base_url,
)
from airflow_provider_oneatlas.client.errors import ConfigurationError, OneAtlasError
from airflow_provider_oneatlas.client.hints import missing_connection
from airflow_provider_oneatlas.hooks.connection_test import MASKED_API_KEY_MESSAGE, is_masked_api_key
from airflow_provider_oneatlas.hooks.form import CONNECTION_EXTRAS, FORM_FIELDS, description, ui_field_behaviour
from airflow_provider_oneatlas.version_compat import BaseHook

if TYPE_CHECKING:
    # The HTTP client (requests) is imported when a task runs, never when a DAG file is parsed.
    from airflow_provider_oneatlas.client import api
    from airflow_provider_oneatlas.client.aio import AsyncOneAtlasClient
    from airflow_provider_oneatlas.client.budgets import Budget, BudgetStatus
    from airflow_provider_oneatlas.client.client import OneAtlasClient
    from airflow_provider_oneatlas.client.download import RemoteFile
    from airflow_provider_oneatlas.client.models import (
        Account,
        DownloadResult,
        ImageSummary,
        Order,
        OrderPage,
        Price,
        SearchPage,
        Subscription,
        WmtsCapabilities,
    )
    from airflow_provider_oneatlas.client.ordering import Placement
    from airflow_provider_oneatlas.client.progress import TransferProgress
    from airflow_provider_oneatlas.client.search import SearchOutcome

def _mask(secret: str) -> None:
    # Registered so the token never shows in task logs, rendered fields or exceptions.
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older task SDKs
        from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]
    mask_secret(secret)


def _number(extras: dict[str, Any], key: str, cast: type[float] | type[int]) -> Any:
    value = extras.get(key)
    if value in (None, ""):
        return None
    try:
        number = cast(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"connection extra {key!r}: {value!r} is not a number") from None
    if number < 0:
        raise ConfigurationError(f"connection extra {key!r}: must not be negative")
    return number


def config_from_connection(conn: Any) -> ClientConfig:
    """Build the client configuration from an Airflow ``Connection`` (sync or async path alike)."""
    extras: dict[str, Any] = dict(conn.extra_dejson or {})
    for key in ("verify", "verify_ssl", "insecure", "disable_ssl"):
        if key in extras:
            raise ConfigurationError(
                f"connection extra {key!r}: TLS verification cannot be turned off; to trust a proxy's "
                "certificate authority, set the 'ca_bundle' extra to the path of its CA bundle"
            )
    unknown = sorted(k for k in extras if k not in CONNECTION_EXTRAS and not k.startswith("__"))
    if unknown:
        raise ConfigurationError(
            f"connection extras {unknown} are not OneAtlas settings; known: {', '.join(CONNECTION_EXTRAS)}"
        )
    api_key = conn.password or ""
    if not api_key.strip():
        raise ConfigurationError(
            f"connection {conn.conn_id!r}: no API key; put your OneAtlas API key in the password field"
        )
    kwargs: dict[str, Any] = {}
    casts: tuple[tuple[str, type[float] | type[int]], ...] = (("connect_timeout", float), ("read_timeout", float))
    for key, cast in casts:
        value = _number(extras, key, cast)
        if value is not None:
            kwargs[key] = value
    retry_kwargs = {}
    retry_casts: tuple[tuple[str, type[float] | type[int]], ...] = (
        ("max_attempts", int),
        ("backoff_initial", float),
        ("backoff_max", float),
        ("max_retry_after", float),
    )
    for key, cast in retry_casts:
        value = _number(extras, key, cast)
        if value is not None:
            retry_kwargs[key] = value
    if retry_kwargs:
        kwargs["retry"] = RetryPolicy(**retry_kwargs)
    if extras.get("ca_bundle"):
        kwargs["ca_bundle"] = str(extras["ca_bundle"])
    trusted = extras.get("trusted_origins")
    if trusted:
        items = trusted.split(",") if isinstance(trusted, str) else list(trusted)
        kwargs["trusted_origins"] = frozenset(normalize_base_url(i, field_name="trusted_origins") for i in items)

    kwargs["source"] = f"the Airflow connection {conn.conn_id!r}"
    base = _base_url(conn)
    if base:
        config = ClientConfig.for_base_url(api_key, base, **kwargs)
        urls = dict(config.service_urls)
    else:
        config = ClientConfig(api_key=api_key, **kwargs)
        urls = dict(config.service_urls)
    overrides = {s: extras[f"{s}_url"] for s in SERVICES if extras.get(f"{s}_url")}
    if overrides:
        urls.update(overrides)
        config = config.with_overrides(service_urls=urls)
    return config


def _base_url(conn: Any) -> str | None:
    host = (conn.host or "").strip()
    if not host:
        return None
    if "://" not in host:
        scheme = (conn.schema or "").strip().lower()
        if scheme in ("http", "https"):
            host = f"{scheme}://{host}"
        if conn.port:
            host = f"{host}:{conn.port}"
    elif conn.port and host.count(":") < 2:
        host = f"{host.rstrip('/')}:{conn.port}"
    return normalize_base_url(host, field_name="host")


class OneAtlasHook(BaseHook):
    """Talks to Airbus OneAtlas (Living Library) with the API key of an Airflow connection.

    :param oneatlas_conn_id: the connection id (type ``oneatlas``); default ``oneatlas_default``.
    """

    conn_name_attr = "oneatlas_conn_id"
    default_conn_name = "oneatlas_default"
    conn_type = "oneatlas"
    hook_name = "Airbus OneAtlas"

    def __init__(self, oneatlas_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oneatlas_conn_id = oneatlas_conn_id

    # -- connection form --------------------------------------------------------------------------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form.

        Airflow 3's API server reads these wtforms fields even without flask-appbuilder installed (it
        stands in for wtforms itself) and serves them to the React UI; values land in the extras by name.
        """
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, StringField
        from wtforms.validators import Optional

        def text(label: str, key: str, field: Any = StringField) -> Any:
            return field(
                lazy_gettext(label),
                widget=BS3TextFieldWidget(),
                validators=[Optional()],
                description=description(key),
            )

        kinds = {"string": StringField, "integer": IntegerField}
        return {key: text(label, key, kinds[kind]) for key, (label, kind) in FORM_FIELDS.items()}

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return ui_field_behaviour()

    # -- client -----------------------------------------------------------------------------------

    @cached_property
    def config(self) -> ClientConfig:
        return config_from_connection(self._connection())

    def _connection(self) -> Any:
        from airflow_provider_oneatlas.version_compat import AirflowNotFoundException

        try:
            return self.get_connection(self.oneatlas_conn_id)
        except AirflowNotFoundException as exc:  # Airflow's "isn't defined" says nothing about how
            raise AirflowNotFoundException(missing_connection(self.oneatlas_conn_id)) from exc

    @cached_property
    def client(self) -> OneAtlasClient:
        from airflow_provider_oneatlas.client.client import OneAtlasClient

        return OneAtlasClient(self.config, on_token=_mask)

    def get_conn(self) -> OneAtlasClient:
        return self.client

    async def aget_config(self) -> ClientConfig:
        """The client configuration, read in the triggerer's event loop."""
        import contextlib

        from asgiref.sync import sync_to_async

        from airflow_provider_oneatlas.version_compat import AirflowNotFoundException

        conn = None
        getter = getattr(type(self), "aget_connection", None)  # Airflow 3.0 has none
        if getter is not None:
            # Airflow 3.1's dag.test() / `airflow dags test` runs triggers on in-process comms that
            # cannot send asynchronously, so the async lookup misses connections kept in the metadata
            # DB. The sync lookup reaches them; a connection that really is missing fails there too.
            with contextlib.suppress(AirflowNotFoundException):
                conn = await getter(self.oneatlas_conn_id)
        if conn is None:
            conn = await sync_to_async(self._connection)()
        return config_from_connection(conn)

    def get_async_client(self, config: ClientConfig) -> AsyncOneAtlasClient:
        """The async client a trigger polls with (tokens registered with the secret masker)."""
        from airflow_provider_oneatlas.client.aio import AsyncOneAtlasClient

        return AsyncOneAtlasClient(config, on_token=_mask)

    def test_connection(self) -> tuple[bool, str]:
        """Exchange the key for a token and read ``/api/v1/me``; say what failed if anything."""
        if is_masked_api_key(self.get_connection(self.oneatlas_conn_id).password):
            return False, MASKED_API_KEY_MESSAGE
        try:
            config = self.config
        except OneAtlasError as exc:
            return False, f"Connection settings: {exc}"
        from airflow_provider_oneatlas.client.client import OneAtlasClient

        # A person is waiting on the Test button: two quick attempts, not the full retry budget.
        config = config.with_overrides(retry=RetryPolicy(max_attempts=2, backoff_initial=0.2, backoff_max=1.0))
        with OneAtlasClient(config, on_token=_mask) as client:
            try:
                client.transport.token()
            except OneAtlasError as exc:
                return False, f"Authentication at {config.service_urls['auth']} failed: {exc}"
            try:
                me = client.get_me()
            except OneAtlasError as exc:
                return False, f"Token accepted, but reading {config.service_urls['data']}/api/v1/me failed: {exc}"
        return True, (
            f"Connected to OneAtlas: contract {me.contract_id}, balance {me.balance:g} credits, "
            f"workspace {me.workspace_id}"
        )

    # -- calls ------------------------------------------------------------------------------------

    def get_me(self) -> Account:
        return self.client.get_me()

    def get_balance(self) -> float:
        return self.client.get_balance()

    def get_workspace_id(self) -> str:
        return self.client.get_workspace_id()

    def get_subscriptions(self, contract_id: str | None = None) -> tuple[Subscription, ...]:
        return self.client.get_subscriptions(contract_id)

    def get_order_kind(self) -> str:
        return self.client.get_order_kind()

    def search_images(self, query: api.SearchQuery, **filters: Any) -> SearchOutcome:
        """The filtered search: every result of ``query`` through the client-side filters
        (``max_cloud_cover``, ``min_coverage``, ``newest_first``, ``limit``, ...)."""
        return self.client.search_images(query, **filters)

    def search(self, query: api.SearchQuery | None = None, *, api_version: int = 1, **filters: Any) -> SearchPage:
        return self.client.search(query, api_version=api_version, **filters)

    def iter_search(
        self, query: api.SearchQuery | None = None, *, max_results: int | None = None, **filters: Any
    ) -> Iterator[ImageSummary]:
        return self.client.iter_search(query, max_results=max_results, **filters)

    def get_quicklook(self, item_id: str, width: int | None = None, *, url: str | None = None) -> bytes:
        return self.client.get_quicklook(item_id, width, url=url)

    def get_thumbnail(self, item_id: str, width: int | None = None) -> bytes:
        return self.client.get_thumbnail(item_id, width)

    def get_wmts_capabilities(self, item_id: str) -> WmtsCapabilities:
        return self.client.get_wmts_capabilities(item_id)

    def get_price(self, products: Sequence[api.ProductSpec], *, kind: str | None = None) -> Price:
        return self.client.get_price(products, kind=kind)

    def create_order(
        self,
        products: Sequence[api.ProductSpec],
        *,
        kind: str | None = None,
        customer_ref: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> Order:
        return self.client.create_order(products, kind=kind, customer_ref=customer_ref, tags=tags)

    def place_order(
        self,
        products: Sequence[api.ProductSpec],
        *,
        customer_ref: str,
        kind: str | None = None,
        tags: Sequence[str] | None = None,
        budget: float | None = None,
        skip_already_ordered: bool = True,
        **spend: Any,
    ) -> Placement:
        """Order exactly once under ``customer_ref``, within ``budget`` and the balance.

        An order already placed under ``customer_ref`` (by an earlier try) is taken up, not placed
        again; with ``skip_already_ordered``, images an earlier order bought for the same AOI and
        options (any run, any DAG) are left out, and when all were, nothing is ordered
        (``Placement.order`` is None). Raises ``BudgetExceededError`` or ``NotOrderableError``
        before anything is ordered. ``spend``: ``budgets`` (period and run budgets, see
        ``client/budgets.py``), ``max_price`` (an approved price), ``images`` (search summaries for
        the preflight), ``spend_lock``, ``now``.
        """
        return self.client.place_order(
            products,
            customer_ref=customer_ref,
            kind=kind,
            tags=tags,
            budget=budget,
            skip_already_ordered=skip_already_ordered,
            log=self.log,
            **spend,
        )

    def budget_statuses(self, budgets: Sequence[Budget]) -> list[BudgetStatus]:
        """What was spent under each budget in its current period (read from the account's orders)."""
        from airflow_provider_oneatlas.client.budgets import budget_statuses

        return budget_statuses(self.client, budgets)

    def wait_for_order(self, order_id: str, *, poll_interval: float = 30.0, timeout: float | None = None) -> Order:
        """Poll until delivered; ``OrderFailedError`` if it fails, ``OrderWaitTimeoutError`` after
        ``timeout`` seconds."""
        return self.client.wait_for_order(order_id, poll_interval=poll_interval, timeout=timeout)

    @staticmethod
    def check_delivered(order: Order) -> bool:
        """True once delivered; ``OrderFailedError`` for a failed, error or rejected order."""
        from airflow_provider_oneatlas.client.ordering import check_delivered

        return check_delivered(order)

    def get_order(self, order_id: str) -> Order:
        return self.client.get_order(order_id)

    def list_orders(self, **filters: Any) -> OrderPage:
        return self.client.list_orders(**filters)

    def find_orders(self, *, customer_ref: str, **filters: Any) -> list[Order]:
        return self.client.find_orders(customer_ref=customer_ref, **filters)

    def head_item(self, item_id: str | None = None, *, url: str | None = None) -> RemoteFile:
        """Size and md5 of a delivered item, without downloading it."""
        return self.client.head_item(item_id, url=url)

    def download_item(
        self,
        sink: IO[bytes],
        item_id: str | None = None,
        *,
        url: str | None = None,
        verify_checksum: bool = True,
        connections: int = DEFAULT_CONNECTIONS,
        progress: TransferProgress | None = None,
    ) -> DownloadResult:
        return self.client.download_item(
            sink, item_id, url=url, verify_checksum=verify_checksum, connections=connections, progress=progress
        )
