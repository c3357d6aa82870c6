"""``OneAtlasClient``: every call of the OneAtlas Living Library API, synchronously, without Airflow."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from airflow_provider_oneatlas.client import api, download, ordering
from airflow_provider_oneatlas.client.config import ClientConfig
from airflow_provider_oneatlas.client.models import (
    ORDER_KIND_TILES,
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
from airflow_provider_oneatlas.client.progress import TransferProgress
from airflow_provider_oneatlas.client.query import (
    MAX_ITEMS_PER_PAGE,
    MAX_ORDERS_PER_PAGE,
    SEARCH_RESULT_CAP,
    format_date_range,
    order_body,
)
from airflow_provider_oneatlas.client.search import SearchOutcome, search_images
from airflow_provider_oneatlas.client.transport import SyncTransport

#: The earliest acquisition the Living Library can hold (SPOT 1 launched in February 1986): the
#: lower bound used when slicing an open-ended search by date.
EARLIEST_ACQUISITION = datetime(1986, 1, 1, tzinfo=timezone.utc)


class OneAtlasClient:
    """Synchronous OneAtlas client. Thread-safe for reads; one per hook."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: SyncTransport | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.transport = transport or SyncTransport(config, on_token=on_token)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> OneAtlasClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- account ----------------------------------------------------------------------------------

    def get_me(self) -> Account:
        return api.parse_me(self.transport.json(api.me_call()))

    def get_balance(self) -> float:
        return self.get_me().balance

    def get_workspace_id(self) -> str:
        return self.get_me().workspace_id

    def get_subscriptions(self, contract_id: str | None = None) -> tuple[Subscription, ...]:
        contract_id = contract_id or self.get_me().contract_id
        return api.parse_subscriptions(self.transport.json(api.subscriptions_call(contract_id)))

    def get_order_kind(self, account: Account | None = None) -> str:
        """The order kind the contract's subscription requires (GB or tiles)."""
        account = account or self.get_me()
        return api.order_kind_for(self.get_subscriptions(account.contract_id), account)

    # -- search -----------------------------------------------------------------------------------

    def search(self, query: api.SearchQuery | None = None, *, api_version: int = 1, **filters: Any) -> SearchPage:
        """One page of results. ``filters`` are ``SearchQuery`` fields, used when ``query`` is None."""
        query = query or api.SearchQuery(**filters)
        return api.parse_search(self.transport.json(api.search_call(query.to_body(), api_version=api_version)))

    def iter_search(
        self,
        query: api.SearchQuery | None = None,
        *,
        api_version: int = 1,
        max_results: int | None = None,
        page_concurrency: int = 4,
        **filters: Any,
    ) -> Iterator[ImageSummary]:
        """Every result, 500 a page. Past the API's 10,000-result cap the acquisition-date range is
        split in halves (half-open, so no image is seen twice) until each slice fits under the cap.
        Once a slice's first page gives its size, its other pages are fetched ``page_concurrency``
        at a time (results still come in order)."""
        query = query or api.SearchQuery(**filters)
        query = dataclasses.replace(query, items_per_page=MAX_ITEMS_PER_PAGE, start_page=1)
        # Every filter is checked and encoded once; slices and pages only change two keys of it.
        base = query.to_body()
        start, end = query.date_bounds()
        start = start or EARLIEST_ACQUISITION
        end = end or (datetime.now(timezone.utc) + timedelta(days=1))
        seen: set[str] = set()
        count = 0
        slices = self._iter_slice(
            base, start, end, end_exclusive=False, api_version=api_version, concurrency=max(1, page_concurrency)
        )
        for feature in slices:
            if feature.id in seen:
                continue
            seen.add(feature.id)
            yield feature
            count += 1
            if max_results is not None and count >= max_results:
                return

    def _iter_slice(
        self,
        base: dict[str, Any],
        start: datetime,
        end: datetime,
        *,
        end_exclusive: bool,
        api_version: int,
        concurrency: int,
    ) -> Iterator[ImageSummary]:
        date_text = format_date_range(start, end, end_exclusive=end_exclusive)
        first = self._search_body({**base, "acquisitionDate": date_text}, api_version)
        if first.total_results >= SEARCH_RESULT_CAP and end - start > timedelta(seconds=2):
            middle = start + (end - start) / 2
            middle = middle.replace(microsecond=0)
            yield from self._iter_slice(
                base, start, middle, end_exclusive=True, api_version=api_version, concurrency=concurrency
            )
            yield from self._iter_slice(
                base, middle, end, end_exclusive=end_exclusive, api_version=api_version, concurrency=concurrency
            )
            return
        yield from first.features
        pages = -(-min(first.total_results, SEARCH_RESULT_CAP) // MAX_ITEMS_PER_PAGE)
        bodies = [{**base, "acquisitionDate": date_text, "startPage": page} for page in range(2, pages + 1)]
        if not bodies:
            return
        if concurrency == 1:
            results: Iterator[SearchPage] = (self._search_body(b, api_version) for b in bodies)
            for result in results:
                yield from result.features
            return
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="oneatlas-search") as pool:
            for result in pool.map(lambda b: self._search_body(b, api_version), bodies):
                yield from result.features

    def search_images(self, query: api.SearchQuery, **filters: Any) -> SearchOutcome:
        """Every result of ``query`` through the client-side filters (see :func:`search_images`)."""
        return search_images(self, query, **filters)

    def _search_body(self, body: dict[str, Any], api_version: int) -> SearchPage:
        return api.parse_search(self.transport.json(api.search_call(body, api_version=api_version)))

    # -- viewing ----------------------------------------------------------------------------------

    def get_quicklook(self, item_id: str, width: int | None = None, *, url: str | None = None) -> bytes:
        return self.transport.content(api.quicklook_call(item_id, width, url=url))

    def get_thumbnail(self, item_id: str, width: int | None = None, *, url: str | None = None) -> bytes:
        return self.transport.content(api.thumbnail_call(item_id, width, url=url))

    def get_wmts_capabilities(self, item_id: str, *, url: str | None = None) -> WmtsCapabilities:
        return api.parse_wmts_capabilities(self.transport.content(api.wmts_capabilities_call(item_id, url=url)))

    # -- price and order --------------------------------------------------------------------------

    def order_body(
        self,
        products: Sequence[api.ProductSpec],
        *,
        kind: str | None = None,
        customer_ref: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """The price/order body. Input is validated before the subscription lookup, so bad input
        sends nothing; without ``kind`` the subscription decides it."""
        body = order_body(kind or ORDER_KIND_TILES, products, customer_ref=customer_ref, tags=tags)
        if kind is None:
            body["kind"] = self.get_order_kind()
        return body

    def get_price(
        self,
        products: Sequence[api.ProductSpec] | None = None,
        *,
        kind: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> Price:
        """What the products cost; ``body`` (an :meth:`order_body`) when the caller has built it already."""
        if body is None:
            body = self.order_body(products or (), kind=kind)
        return api.parse_price(
            self.transport.json(api.price_call({"kind": body["kind"], "products": body["products"]}))
        )

    def create_order(
        self,
        products: Sequence[api.ProductSpec] | None = None,
        *,
        kind: str | None = None,
        customer_ref: str | None = None,
        tags: Sequence[str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Order:
        """Place an order. Sent once: a repeated POST would be a second order and a second debit,
        so callers that retry must first look for the order (``find_orders(customer_ref=...)``)."""
        if body is None:
            body = self.order_body(products or (), kind=kind, customer_ref=customer_ref, tags=tags)
        return api.parse_order(self.transport.json(api.create_order_call(body)))

    def place_order(
        self,
        products: Sequence[api.ProductSpec],
        *,
        customer_ref: str,
        kind: str | None = None,
        tags: Sequence[str] | None = None,
        budget: float | None = None,
        skip_already_ordered: bool = True,
        log: ordering.Log | None = None,
        **spend: Any,
    ) -> ordering.Placement:
        """Order exactly once under ``customer_ref``, within ``budget`` and the balance (see
        :func:`ordering.place_order`): raises ``BudgetExceededError`` or ``NotOrderableError``
        before anything is ordered. ``spend``: ``budgets``, ``max_price``, ``images``, ``spend_lock``
        and ``now`` of :func:`ordering.place_order`."""
        return ordering.place_order(
            self,
            products,
            customer_ref=customer_ref,
            kind=kind,
            tags=tags,
            budget=budget,
            skip_already_ordered=skip_already_ordered,
            log=log,
            **spend,
        )

    def wait_for_order(self, order_id: str, *, poll_interval: float = 30.0, timeout: float | None = None) -> Order:
        """Poll until delivered (see :func:`ordering.wait_for_order`)."""
        return ordering.wait_for_order(self, order_id, poll_interval=poll_interval, timeout=timeout)

    def get_order(self, order_id: str) -> Order:
        return api.parse_order(self.transport.json(api.get_order_call(order_id)))

    def list_orders(self, **filters: Any) -> OrderPage:
        return api.parse_order_list(self.transport.json(api.list_orders_call(**filters)))

    def iter_orders(self, *, items_per_page: int = MAX_ORDERS_PER_PAGE, **filters: Any) -> Iterator[Order]:
        page = 1
        while True:
            result = self.list_orders(page=page, items_per_page=items_per_page, **filters)
            yield from result.orders
            if not result.orders or page * items_per_page >= result.total_results:
                return
            page += 1

    def find_orders(self, *, customer_ref: str, **filters: Any) -> list[Order]:
        """Orders already placed under ``customer_ref`` (how a retried task finds its own order)."""
        return [o for o in self.iter_orders(customer_ref=customer_ref, **filters) if o.customer_ref == customer_ref]

    # -- download ---------------------------------------------------------------------------------

    def head_item(self, item_id: str | None = None, *, url: str | None = None) -> download.RemoteFile:
        return download.head(self.transport, api.download_call(item_id, url=url))

    def download_item(
        self,
        sink: IO[bytes],
        item_id: str | None = None,
        *,
        url: str | None = None,
        verify_checksum: bool = True,
        max_size: int | None = None,
        connections: int = download.DEFAULT_CONNECTIONS,
        progress: TransferProgress | None = None,
    ) -> DownloadResult:
        """Stream an item of the private workspace (a zip) into ``sink``; check its md5.

        ``connections``: parallel ranged connections for large files when the server accepts ranges
        (default 8, memory bounded by ``connections`` x 8 MiB); 1 forces a single stream.
        """
        return download.download_to(
            self.transport,
            api.download_call(item_id, url=url),
            sink,
            verify_checksum=verify_checksum,
            max_size=max_size,
            connections=connections,
            progress=progress,
        )
