"""The ``oneatlas`` connection type in the Airflow 3 UI, driven in a real headless Chromium.

A real ``airflow api-server`` (the provider installed, the Test button enabled) and the sandbox in
its own process. Debian's chromium is driven by Playwright; no browser is downloaded. The browser
adds a connection through the form, saves it, presses Test (the api-server runs the hook's
``test_connection`` against the sandbox), and the acquisition DAG then runs on that very connection,
after which the order task's extra link is read off its page. Screenshots are kept in
``test-artifacts/ui/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SANDBOX_KEY
from tests.e2e.conftest import FOUND_RANGE, md5_file, sandbox_get
from tests.e2e.stack import Airflow, new_airflow, start_api_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
#: Debian's chromium (``apt-get install chromium``; ``bash scripts/dev.sh test`` installs it).
CHROMIUM = os.environ.get("ONEATLAS_CHROMIUM", "/usr/bin/chromium")
#: The machine has no outside network: without these, Chromium keeps dialling Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONN_ID = "oneatlas_ui"
EXTRA_FIELDS = {
    "auth_url": "Auth service URL",
    "data_url": "Data service URL",
    "search_url": "Search service URL",
    "view_url": "View service URL",
    "download_url": "Download service URL",
    "connect_timeout": "Connect timeout (s)",
    "read_timeout": "Read timeout (s)",
    "max_attempts": "Max attempts",
    "ca_bundle": "CA bundle path",
}


@pytest.fixture(scope="module")
def ui_sandbox() -> Iterator[Any]:
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxProcess

    with SandboxProcess(SandboxConfig(processing_after=0.5, delivered_after=2.0, download_size=256 * 1024)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def ui_airflow(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    """An api-server alone: the UI, the REST API, and the connection Test button (off by default)."""
    instance = new_airflow(airflow_db, tmp_path_factory.mktemp("ui"), AIRFLOW__CORE__TEST_CONNECTION="Enabled")
    try:
        instance.cli("dags", "reserialize")
        start_api_server(instance)
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's (apt-get install chromium), which "
            "`bash scripts/dev.sh test` does, or point ONEATLAS_CHROMIUM at one"
        )
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, ui_airflow: Airflow, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(30_000)
    # all-admins simple auth manager: the first visit signs in and lands on the home page.
    page.goto(ui_airflow.api_url + "/")
    page.wait_for_load_state("networkidle")
    try:
        yield page
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:  # what the browser showed when it went wrong
            page.screenshot(path=ARTIFACTS / f"failed-{request.node.name}.png", full_page=True)
    finally:
        context.close()


def _open_add_connection_form(page: Any, api_url: str, conn_id: str) -> None:
    page.goto(api_url + "/connections")
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Add Connection").click()
    page.locator('input[name="connection_id"]').fill(conn_id)
    connection_type = page.get_by_role("combobox")
    connection_type.click()
    connection_type.fill("Airbus OneAtlas")
    page.get_by_role("option", name="Airbus OneAtlas", exact=True).click()
    page.locator('input[name="host"]').wait_for()


def _press_test(page: Any, api_url: str, conn_id: str) -> tuple[dict[str, Any], str]:
    """Press the row's Test button; return the API server's answer and the icon's colour."""
    page.goto(api_url + "/connections")
    page.wait_for_load_state("networkidle")
    row = page.get_by_role("row").filter(has_text=conn_id)
    button = row.get_by_role("button", name="Test Connection")
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")) as answer:
        button.click()
    icon = button.locator("svg")
    page.wait_for_function("(el) => ['green', 'red'].includes(el.getAttribute('color'))", arg=icon.element_handle())
    # The UI shows the hook's message in a toast: what the user reads must be what the hook said.
    body = answer.value.json()
    title = "Test Connection Successful" if body.get("status") else "Test Connection Failed"
    toast = page.get_by_role("status").filter(has_text=title)
    toast.wait_for()
    assert body["message"][:60] in " ".join(toast.inner_text().split()), toast.inner_text()
    return body, str(icon.get_attribute("color"))


def test_the_connection_form_saves_a_working_oneatlas_connection(
    page: Any, ui_airflow: Airflow, ui_sandbox: Any
) -> None:
    api = ui_airflow.api_url
    _open_add_connection_form(page, api, CONN_ID)

    # Standard fields: only the ones the provider uses, relabelled; the key is a password input.
    standard = page.locator('[data-part="input"][name]').evaluate_all("els => els.map(e => e.name)")
    assert "host" in standard and "password" in standard
    assert not {"login", "port", "schema"} & set(standard), standard
    assert page.get_by_text("Base URL (host, optional)", exact=True).is_visible()
    assert page.get_by_text("API key", exact=True).is_visible()
    assert page.locator('input[name="password"]').get_attribute("type") == "password"
    assert "127.0.0.1:8765" in str(page.locator('input[name="host"]').get_attribute("placeholder"))
    page.screenshot(path=ARTIFACTS / "1-standard-fields.png", full_page=True)

    page.locator('input[name="host"]').fill(ui_sandbox.base_url)
    page.locator('input[name="password"]').fill(SANDBOX_KEY)

    # The provider's own fields: per-service URLs, timeouts, attempts, CA bundle, each with its help.
    page.get_by_text("Extra Fields", exact=True).click()
    for key, label in EXTRA_FIELDS.items():
        field = page.locator(f'input[name="element_{key}"]')
        field.wait_for()
        assert page.get_by_text(label, exact=True).is_visible(), label
    assert page.get_by_text("never an order", exact=False).is_visible()
    page.locator('input[name="element_read_timeout"]').fill("30")
    page.locator('input[name="element_max_attempts"]').fill("3")
    page.screenshot(path=ARTIFACTS / "2-extra-fields.png", full_page=True)

    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections") and r.request.method == "POST") as saved:
        page.get_by_role("button", name="Save").click()
    assert saved.value.status == 201, saved.value.text()
    page.get_by_role("row").filter(has_text=CONN_ID).wait_for()

    # What the form stored is what the hook reads.
    stored = json.loads(ui_airflow.cli("connections", "get", CONN_ID, "-o", "json"))[0]
    assert stored["conn_type"] == "oneatlas"
    assert stored["host"] == ui_sandbox.base_url
    assert stored["password"] == SANDBOX_KEY
    from airflow.sdk import Connection

    from airflow_provider_oneatlas.hooks.oneatlas import config_from_connection

    config = config_from_connection(
        Connection(
            conn_id=CONN_ID,
            conn_type="oneatlas",
            host=stored["host"],
            password=SANDBOX_KEY,
            extra=json.dumps(stored["extra_dejson"]),
        )
    )
    assert config.read_timeout == 30.0
    assert config.retry.max_attempts == 3
    assert set(config.service_urls.values()) == {ui_sandbox.base_url}

    # Test: the api-server runs the hook's test_connection, which really talks to the sandbox.
    since = sandbox_get(ui_sandbox.base_url, "/_sandbox/requests")["next"]
    answer, colour = _press_test(page, api, CONN_ID)
    page.screenshot(path=ARTIFACTS / "3-test-succeeded.png", full_page=True)
    assert answer["status"] is True, answer
    assert answer["message"].startswith("Connected to OneAtlas: contract "), answer
    assert "balance" in answer["message"]
    assert colour == "green"
    served = sandbox_get(ui_sandbox.base_url, f"/_sandbox/requests?since={since}")["requests"]
    assert "GET /api/v1/me" in [f"{r['method']} {r['path']}" for r in served]


def test_the_test_button_explains_a_wrong_key_without_showing_it(
    page: Any, ui_airflow: Airflow, ui_sandbox: Any
) -> None:
    wrong_key = "not-the-sandbox-key-0123456789"
    _open_add_connection_form(page, ui_airflow.api_url, "oneatlas_wrong_key")
    page.locator('input[name="host"]').fill(ui_sandbox.base_url)
    page.locator('input[name="password"]').fill(wrong_key)
    page.get_by_role("button", name="Save").click()
    page.get_by_role("row").filter(has_text="oneatlas_wrong_key").wait_for()

    answer, colour = _press_test(page, ui_airflow.api_url, "oneatlas_wrong_key")
    page.screenshot(path=ARTIFACTS / "4-test-failed.png", full_page=True)
    assert answer["status"] is False, answer
    assert answer["message"].startswith(f"Authentication at {ui_sandbox.base_url} failed"), answer
    assert wrong_key not in answer["message"]
    assert colour == "red"


def test_a_dag_runs_on_the_connection_made_in_the_form_and_links_its_order(
    page: Any, ui_airflow: Airflow, ui_sandbox: Any, tmp_path: Path
) -> None:
    """Depends on the first test's connection (pytest runs a module's tests in file order)."""
    destination = tmp_path / "imagery"
    conf = {**FOUND_RANGE, "conn_id": CONN_ID, "destination": destination.as_uri() + "/", "poll_interval": 1}
    # The stack's environment has no AIRFLOW_CONN_*: the DAG can only find the form's connection in the DB.
    ui_airflow.cli("dags", "test", "oneatlas_acquisition", "-c", json.dumps(conf), timeout=300)

    runs = ui_airflow.api("/api/v2/dags/oneatlas_acquisition/dagRuns")["dag_runs"]
    assert [r["state"] for r in runs] == ["success"], runs
    run_id = runs[0]["dag_run_id"]

    orders = ui_sandbox.state["orders"]
    assert len(orders) == 1, orders
    order_id = orders[0]["id"]
    zips = list(destination.rglob("*.zip"))
    assert len(zips) == 1 and md5_file(zips[0])

    links = ui_airflow.api(f"/api/v2/dags/oneatlas_acquisition/dagRuns/{run_id}/taskInstances/order/links")
    order_url = f"{ui_sandbox.base_url}/api/v1/orders/{order_id}"
    assert links["extra_links"] == {"OneAtlas order": order_url}, links

    page.goto(f"{ui_airflow.api_url}/dags/oneatlas_acquisition/runs/{run_id}/tasks/order/details")
    link = page.get_by_role("link", name="OneAtlas order")
    link.wait_for()
    page.screenshot(path=ARTIFACTS / "5-order-extra-link.png", full_page=True)
    assert link.get_attribute("href") == order_url
