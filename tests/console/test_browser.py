"""The console in real headless Chromium against a real gateway (SQLite and PostgreSQL).

A reviewer's day: sign in (a wrong token first), find the blocked request in Incidents,
resolve its false-block complaint with an allow phrase, reload, and watch the block disappear
in "try it"; label an image and download it; lift a sanction; a form without its CSRF token
is refused; sign out. Every page is screenshot at 1280 and 390 px (test-artifacts/console/)
and checked for layout breakage: no horizontal overflow of the page, key elements visible.
"""

from __future__ import annotations

import json
import os
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from tests.console import browser
from tests.console.conftest import (
    ADMIN_TOKEN,
    ALLOW_PHRASE,
    FALSE_BLOCK_TEXT,
    HOSTILE,
    Gateway,
    seed,
)

pytestmark = pytest.mark.skipif(
    not browser.available(), reason="Debian chromium and chromium-driver are not installed"
)

ARTIFACTS = Path(os.environ.get("AIGC_GATEWAY_TEST_ARTIFACTS", "test-artifacts")) / "console"

# page -> elements that must be visible on it at every width
PAGES: dict[str, tuple[str, list[str]]] = {
    "overview": ("/console", ["#tile-requests", "#chart-requests", "#verify-chain", "#nav-incidents"]),
    "incidents": ("/console/incidents", ["#filter", "#export-csv", "tr.incident"]),
    "complaints": ("/console/complaints?status=all", ["#overdue-count", ".ticket summary"]),
    "lexicons": ("/console/lexicons", ["#reload", "#version-list", "#try-text", "#coverage"]),
    "labels": ("/console/labels", ["#label-file", "#inspect-file"]),
    "users": ("/console/users", ["#users"]),
}


def wait_for(driver: Any, css: str, timeout: float = 20) -> Any:
    """The visible element; while a navigation replaces the document, Chromium can answer a
    visibility check on the old one with an inspector error: that is retried, like a stale
    element, until the timeout."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver, timeout, ignored_exceptions=(StaleElementReferenceException, WebDriverException)
    ).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def wait_until_url(driver: Any, part: str, timeout: float = 20) -> None:
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.url_contains(part))


def find(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def find_all(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, css)


def check_layout(driver: Any, name: str, width: int, visible: list[str], out: Path) -> None:
    """Screenshot, then: the page is not wider than the viewport and key elements show."""
    browser.set_viewport(driver, width, 900)
    time.sleep(0.2)  # let the layout settle after the viewport change (not a speed check)
    out.mkdir(parents=True, exist_ok=True)
    browser.save_full_screenshot(driver, out / f"{name}-{width}.png")
    scroll, inner = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert inner == width, (name, width, inner)
    assert scroll <= inner, f"{name} at {width}px overflows: scrollWidth {scroll} > {inner}"
    for css in visible:
        element = find(driver, css)
        assert element.is_displayed(), (name, width, css)
        left, right = driver.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.left, r.right];", element
        )
        assert left >= -1 and left < width, (name, width, css, left, right)


def sign_in(driver: Any, url: str, token: str, name: str = "alice") -> None:
    find(driver, "#operator").clear()
    find(driver, "#operator").send_keys(name)
    find(driver, "#token").send_keys(token)
    find(driver, "#sign-in").click()


def test_reviewer_day_in_chromium(gateway: Gateway, tmp_path: Path) -> None:
    seeded = seed(gateway)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    out = ARTIFACTS / gateway.db
    base = gateway.url
    with browser.chromium(tmp_path / "profile", downloads) as driver:
        # No session: any console page lands on the login form, showing no record.
        driver.get(f"{base}/console/incidents")
        wait_for(driver, "#token")
        assert find(driver, "#token").get_attribute("type") == "password"
        assert seeded["request_id"] not in driver.page_source and "冰毒" not in driver.page_source
        check_layout(driver, "login", 1280, ["#token", "#sign-in"], out)
        check_layout(driver, "login", 390, ["#token", "#sign-in"], out)
        browser.set_viewport(driver, 1280, 900)

        # A wrong token is refused.
        sign_in(driver, base, "wrong-token-wrong-token")
        wait_for(driver, "#login-error")
        assert driver.get_cookie("aigc-console") is None

        # The right one: back to the page asked for.
        sign_in(driver, base, ADMIN_TOKEN)
        wait_for(driver, "tr.incident")
        assert driver.current_url.endswith("/console/incidents")
        cookie = driver.get_cookie("aigc-console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

        # The blocked request is in Incidents; its detail highlights the masked span.
        row = find(driver, "tr.incident")
        assert "acme" in row.text and "冰毒" in row.text
        row.find_element("css selector", "a").click()
        wait_for(driver, "#incident-excerpt mark.act-block")
        assert find(driver, "#incident-excerpt").text == "禁毒宣传：远离**，珍爱生命"
        incident_url = driver.current_url
        # The terms as the version that decided had them (its manifest), and as they are now.
        assert "Block" in find(driver, "#incident-terms td.then").text.title()
        assert not find_all(driver, "#incident-diff")  # that version is still in force
        check_layout(driver, "incident", 1280, ["#incident-excerpt", "#incident-terms"], out)
        check_layout(driver, "incident", 390, ["#incident-excerpt", "#incident-terms"], out)
        browser.set_viewport(driver, 1280, 900)

        # The version links to its manifest: the term is in it.
        find(driver, "#incident-version").click()
        box = wait_for(driver, "#manifest-q")
        box.send_keys("冰毒")
        find(driver, "#manifest-filter").click()
        wait_until_url(driver, "q=")
        rows = [r.text for r in find_all(driver, "tr.manifest-term")]
        assert rows and all("冰毒" in r for r in rows)
        for width in (1280, 390):
            check_layout(driver, "lexicon-version", width, ["#manifest-term-table", "#manifest-q"],
                         out)
        browser.set_viewport(driver, 1280, 900)

        # Try it: blocked today.
        driver.get(f"{base}/console/lexicons")
        try_it(driver, FALSE_BLOCK_TEXT)
        assert find(driver, "#try-answer").get_attribute("data-action") == "block"
        assert find_all(driver, "#try-highlight mark.act-block")

        # The complaint: hostile description shown as text; resolve with the allow phrase.
        driver.get(f"{base}/console/complaints")
        ticket = wait_for(driver, f"#ticket-{seeded['ticket']} summary")
        ticket.click()
        description = wait_for(driver, f"#ticket-{seeded['ticket']} .description")
        assert HOSTILE in description.text
        assert not find_all(driver, ".description img") and not find_all(driver, ".description script")
        form = find(driver, f"#ticket-{seeded['ticket']} form.resolve")
        form.find_element("css selector", "textarea[name=outcome]").send_keys("禁毒宣传，误拦截")
        form.find_element("css selector", "input[name=upheld][value=yes]").click()
        form.find_element("css selector", "input[name=allow_phrase]").send_keys(ALLOW_PHRASE)
        form.find_element("css selector", "button[type=submit]").click()
        wait_for(driver, "#reload-now").click()
        wait_until_url(driver, "ok=reloaded")
        wait_for(driver, "#notice")
        assert driver.current_url.endswith("/console/lexicons?ok=reloaded")

        # Try it again: the false block is gone for that tenant.
        try_it(driver, FALSE_BLOCK_TEXT)
        assert find(driver, "#try-answer").get_attribute("data-action") == "allow"
        assert not find_all(driver, "#try-highlight mark")

        # The incident's version is no longer in force: what changed since is the allow phrase.
        driver.get(incident_url)
        wait_for(driver, "#incident-diff").click()
        wait_for(driver, "#diff-allow")
        assert ALLOW_PHRASE in find(driver, "#diff-allow").text
        for width in (1280, 390):
            check_layout(driver, "lexicon-diff", width, ["#diff-counts", "#diff-allow"], out)
        browser.set_viewport(driver, 1280, 900)
        # The versions list on the Lexicons page has both, and compares any two.
        driver.get(f"{base}/console/lexicons")
        assert len(find_all(driver, "#version-list tr.version")) >= 2
        find(driver, "#compare").click()
        wait_for(driver, "#diff-old")

        # Labels: label an image, download it, see its inspect report.
        driver.get(f"{base}/console/labels")
        source = tmp_path / "photo.png"
        source.write_bytes(png_bytes())
        find(driver, "#label-file").send_keys(str(source))
        find(driver, "#label-submit").click()
        wait_for(driver, "#label-download")
        wait_for(driver, "#inspect-report")
        assert find(driver, "#inspect-report").get_attribute("data-compliant") == "true"
        find(driver, "#label-download").click()
        labeled = wait_for_download(downloads, "photo.png")
        check_downloaded_label(labeled, tmp_path)

        # Inspect by dropping a file on the drop zone (console.js).
        drop_file(driver, "#inspect-form", "notes.md", "# 笔记\n\n没有标识的文本。\n")
        wait_for(driver, "#inspect-report")
        assert find(driver, "#inspect-report").get_attribute("data-compliant") == "false"

        # Users: u-1 got a warning for the block; lift it, see the audit trail.
        driver.get(f"{base}/console/users")
        wait_for(driver, "#users a").click()
        wait_for(driver, "#lift-reason").send_keys("误拦截已纠正")
        find(driver, "#lift").click()
        wait_for(driver, "#notice")
        assert find(driver, "#user-level").text in ("none", "无")
        assert "console:alice" in find(driver, "#trail").text

        # Screenshots of every page at both widths, checked for layout breakage.
        for name, (path, visible) in PAGES.items():
            driver.get(base + path)
            wait_for(driver, visible[0])
            for width in (1280, 390):
                check_layout(driver, name, width, visible, out)
            browser.set_viewport(driver, 1280, 900)
        driver.get(f"{base}/console/lang/zh-CN?next=/console")
        wait_for(driver, "#tile-requests")
        assert "概览" in find(driver, "#nav-overview").text
        check_layout(driver, "overview-zh", 390, PAGES["overview"][1], out)
        browser.set_viewport(driver, 1280, 900)
        driver.get(f"{base}/console/lang/en?next=/console/complaints")

        # A form whose CSRF token was removed is refused, and changes nothing.
        driver.get(f"{base}/console/lexicons")
        driver.execute_script(
            "const f = document.querySelector('form[action=\"/console/lexicons/reload\"]');"
            "f.querySelector('input[name=csrf]').remove(); f.submit();"
        )
        wait_for(driver, "#refused")
        assert "403" not in driver.title  # our page, not a browser error page

        # Sign out: the console is closed again.
        driver.get(f"{base}/console")
        wait_for(driver, "#logout").click()
        wait_for(driver, "#token")
        driver.get(f"{base}/console/complaints")
        wait_for(driver, "#token")
        assert seeded["ticket"] not in driver.page_source


def try_it(driver: Any, text: str) -> None:
    box = wait_for(driver, "#try-text")
    box.clear()
    box.send_keys(text)
    from selenium.webdriver.support.ui import Select

    Select(find(driver, "#try-tenant")).select_by_visible_text("acme")
    previous = find_all(driver, "#try-answer")
    find(driver, "#try-submit").click()
    if previous:  # htmx swaps the result in place: wait for the old one to go
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(driver, 20).until(ec.staleness_of(previous[0]))
    wait_for(driver, "#try-answer")


def png_bytes() -> bytes:
    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (480, 320), (240, 244, 250)).save(buf, "PNG")
    return buf.getvalue()


def wait_for_download(folder: Path, name: str, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    target = folder / name
    while time.monotonic() < deadline:
        if target.exists() and not list(folder.glob("*.crdownload")):
            return target
        time.sleep(0.1)
    raise AssertionError(f"no download {name}: {sorted(p.name for p in folder.iterdir())}")


def check_downloaded_label(path: Path, tmp: Path) -> None:
    """The downloaded file carries the label, read by ExifTool (an independent reader)."""
    from tests.labelers.image_support import exiftool, exiftool_available

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    if not exiftool_available():
        pytest.fail("exiftool is required (scripts/install-system-deps)")
    tags = exiftool([path], tmp)[0]
    found = [v for k, v in tags.items() if k.endswith(":AIGC")]
    assert found, sorted(tags)
    record = found[0] if isinstance(found[0], dict) else json.loads(str(found[0]))
    assert record["Label"] == "1" and record["ContentProducer"]


def drop_file(driver: Any, zone: str, name: str, text: str) -> None:
    """Drop a file on ``zone`` the way a person's drag and drop does (a DataTransfer)."""
    driver.execute_script(
        """
        const zone = document.querySelector(arguments[0]);
        const data = new DataTransfer();
        data.items.add(new File([arguments[2]], arguments[1], {type: "text/markdown"}));
        for (const type of ["dragover", "drop"]) {
          zone.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
        }
        """,
        zone,
        name,
        text,
    )
