"""A real headless Chromium (Debian's ``chromium`` and ``chromedriver``, driven by Selenium)
against ``lightmem serve``'s app under uvicorn on 127.0.0.1 and a free port.

Without the browser or Selenium these tests skip, saying what to install;
``LIGHTMEM_REQUIRE_BROWSER=1`` (``make test`` sets it) turns that skip into a failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import CONFIG, Tenants, client, memory, tenants  # noqa: F401

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _missing(what: str) -> None:
    message = f"{what} (apt-get install -y chromium chromium-driver; pip install selenium)"
    if os.environ.get("LIGHTMEM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"LIGHTMEM_REQUIRE_BROWSER=1 but {message}")
    pytest.skip(message)


@pytest.fixture
def base_url(memory: Any, tenants: Tenants) -> Iterator[str]:  # noqa: F811
    """The app over the test's store, served by uvicorn in a thread."""
    from lightmem.server.rest.app import create_app
    from lightmem.server.threaded import ThreadedServer

    with ThreadedServer(create_app(memory, tenants.store)) as server:
        yield server.url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        _missing("chromium or chromedriver is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console, CSP reports
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()
