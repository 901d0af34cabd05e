"""The dashboard in real headless Chromium (Debian's, driven by Playwright): log in, see the
overview, watch an alert arrive live and acknowledge it, open an enterprise chart, download
a report. Screenshots at laptop and tablet sizes are kept in test-artifacts/dashboard/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from smartpark.api.security import hash_password
from smartpark.checks.runner import run_checks
from smartpark.evaluation.service import run_evaluation
from smartpark.ingestion.types import Reading
from smartpark.storage.rollups import refresh_all
from smartpark.storage.users import create_user
from tests.services import Database, running_api
from tests.test_checks import (
    CATALOGUE,
    CONFIG,
    DAY_START,
    HOUR,
    MINUTE,
    TARGETS,
    cems_hour,
    setup,
    store,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "dashboard"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery"
LAPTOP, TABLET = {"width": 1366, "height": 800}, {"width": 820, "height": 1180}
# SO2 and NOx limits at the steel works' stack, so a second pollutant can open a new alert.
LIMITS = {"emission.so2": {"hourly": 35}, "emission.nox": {"hourly": 50}}


@pytest.fixture
def served(tsdb: Database) -> Iterator[tuple[str, Database, dict[str, int]]]:
    permit = {"enterprise": "hz-steel", "outlet": "stack-1", "pollutant": "emission.so2",
              "period": "year", "amount_t": 260, "source": "test permit"}  # fmt: skip
    config = {
        **CONFIG,
        "outlets": [{**CONFIG["outlets"][0], "limits": LIMITS}],
        "permits": [permit],
    }
    ids = setup(tsdb, config)
    store(tsdb, cems_hour(ids, DAY_START, [(40.0, "N")] * 60))  # 50 mg/m3 at 6 % O2: SO2 alert
    meter = ids["meter"]
    water = [(ids["water.intake"], h, 1000.0 + 100 * h) for h in range(24)]
    water += [(ids["water.reused"], h, 900.0 * h) for h in range(24)]
    store(tsdb, [Reading(meter, m, DAY_START + h * HOUR, v, "N") for m, h, v in water])
    with tsdb.engine.begin() as conn:
        refresh_all(conn)
        create_user(conn, {"username": "officer", "password_hash": hash_password(PASSWORD),
                           "role": "operator", "park": "qinba-demo", "enterprise": None})  # fmt: skip
        run_evaluation(conn, "qinba-demo", "2026-11", datetime.now(UTC))
    run_checks(tsdb.engine, DAY_START + HOUR + 5 * MINUTE, CATALOGUE, TARGETS)
    with running_api(tsdb.engine) as url:
        yield url, tsdb, ids


@pytest.fixture
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _login(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill("officer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_login_overview_live_alert_chart_and_report(served: Any, browser: Browser) -> None:
    url, db, ids = served
    errors: list[str] = []
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    page.goto(url)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.get_by_label("Username").fill("officer")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_have_text("unknown username or wrong password")
    _login(page, url)

    # The overview: both enterprises, the steel works with its open SO2 alert.
    expect(page.get_by_role("heading", name="Qinba demo park — overview")).to_be_visible()
    expect(page.locator("a.card")).to_have_count(2)
    steel = page.locator('a.card[data-enterprise="hz-steel"]')
    expect(steel).to_contain_text("1 open alert(s)")
    expect(steel).to_have_class("card bad")
    rows = page.locator("table.alerts tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("concentration.hourly.emission.so2")
    expect(page.locator("#live")).not_to_have_class("live off")
    page.screenshot(path=ARTIFACTS / "overview-laptop.png", full_page=True)

    # A new exceedance arrives while the page is open: NOx 60 at 9 % O2 is 75 at 6 % (> 50).
    hour = DAY_START + HOUR
    nox = [
        Reading(ids["cems"], ids["emission.nox"], hour + i * MINUTE, 60.0, "N") for i in range(60)
    ]
    store(db, cems_hour(ids, hour, [(20.0, "N")] * 60) + nox)
    run_checks(db.engine, hour + HOUR + 5 * MINUTE, CATALOGUE, TARGETS)
    expect(rows).to_have_count(2, timeout=10_000)
    fresh = page.locator("tr", has_text="concentration.hourly.emission.nox")
    expect(fresh).to_contain_text("OPEN")
    expect(page.locator(".toast").first).to_contain_text("New critical alert")
    page.screenshot(path=ARTIFACTS / "live-alert-laptop.png", full_page=True)

    fresh.get_by_role("textbox").fill("stack crew checking the SCR")
    fresh.get_by_role("button", name="Acknowledge").click()
    # Only OPEN alerts are listed on the overview: the acknowledged one leaves it.
    expect(rows).to_have_count(1, timeout=10_000)
    state = db.rows(
        "SELECT a.state, t.by, t.note FROM alert a JOIN alert_transition t ON t.alert_id = a.id "
        "WHERE a.rule = 'concentration.hourly.emission.nox' ORDER BY t.id DESC LIMIT 1"
    )
    assert state == [("ACKNOWLEDGED", "officer", "stack crew checking the SCR")]

    # The steel works' page: water balance bars and the stack's concentrations against limits.
    steel.click()
    expect(page.get_by_role("heading", name="Hanzhong Steel")).to_be_visible()
    page.get_by_label("from").fill("2026-11-26")
    page.get_by_label("to").fill("2026-11-28")
    page.get_by_role("button", name="Show").click()
    water = page.get_by_role("img", name="water balance")
    expect(water).to_be_visible()
    # Two days or less are shown by the hour: 24 hours of intake and reuse.
    expect(water.locator("rect")).to_have_count(2 * 24)
    expect(page.locator(".limit-chart")).to_have_count(2)  # SO2 and NOx at stack-1
    expect(page.locator(".limit-chart").first).to_contain_text("above the limit")
    expect(page.locator(".permit")).to_contain_text("t used of 260 t permitted")
    page.screenshot(path=ARTIFACTS / "enterprise-laptop.png", full_page=True)

    # The evaluation page and a report download.
    page.get_by_role("link", name="Evaluation").click()
    expect(page.locator("#green-index")).to_have_text("withheld")
    with page.expect_download() as download:
        page.get_by_role("link", name="PDF").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    page.screenshot(path=ARTIFACTS / "evaluation-laptop.png", full_page=True)

    page.get_by_role("link", name="Devices").click()
    expect(page.locator("tr[data-device]")).to_have_count(3)
    expect(page.get_by_text("Dead letters")).to_have_count(0)  # an operator: not an admin
    # The only failed requests: who-am-I on each visit before logging in, the wrong password.
    me, login = f"401 {url}/api/v1/me", f"401 {url}/api/v1/login"
    assert failed == [me, login, me]
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []
    context.close()


def test_readable_on_a_tablet(served: Any, browser: Browser) -> None:
    url, _, _ = served
    context = browser.new_context(viewport=TABLET, has_touch=True, is_mobile=True)
    page = context.new_page()
    _login(page, url)
    expect(page.locator("a.card")).to_have_count(2)
    # Nothing is wider than the screen: no sideways scrolling of the page itself.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= TABLET["width"]
    page.screenshot(path=ARTIFACTS / "overview-tablet.png", full_page=True)
    page.goto(url + "/#/enterprises/hz-steel?range=30d")
    expect(page.get_by_role("img", name="water balance")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    page.screenshot(path=ARTIFACTS / "enterprise-tablet.png", full_page=True)
    context.close()
