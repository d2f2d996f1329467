"""``/docs`` in a real headless Chromium: Swagger UI renders FastAPI's OpenAPI 3.1 schema
from this server's files alone (nothing fetched from elsewhere), under its strict CSP (no
violation in the console), beside a memory browser whose key no script can read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By

from tests.server.conftest import Tenants
from tests.server.ui.pages import login, wait


def test_docs_render_openapi_31_offline_under_the_csp(
    browser: Any, base_url: str, tmp_path: Path
) -> None:
    d = browser
    d.get(base_url + "/docs")
    wait(d, lambda d: "LightMem" in d.find_element(By.CSS_SELECTOR, ".swagger-ui .info").text)
    wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 20)
    text = d.find_element(By.ID, "swagger-ui").text
    assert "POST\n/v1/search" in text and "does not specify a valid version" not in text
    assert "OAS 3.1" in text
    loaded = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(base_url + "/") for url in loaded), loaded
    errors = [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors  # a CSP violation is a console error
    d.save_screenshot(str(tmp_path / "docs.png"))
    assert (tmp_path / "docs.png").stat().st_size > 10_000


def test_the_browser_keeps_its_key_out_of_web_storage(
    browser: Any, base_url: str, tenants: Tenants
) -> None:
    """/docs shares the origin: the key lives in the page's memory only, so a script there
    finds nothing in sessionStorage or localStorage."""
    d = browser
    login(d, base_url, tenants.alice)
    stored = "return sessionStorage.length + localStorage.length + document.cookie.length"
    assert d.execute_script(stored) == 0
    d.get(base_url + "/docs")
    assert d.execute_script(stored) == 0
