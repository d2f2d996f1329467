"""What the browser tests share: waiting on a re-rendering page, logging in, the tabs, and
reading the memory list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def wait(driver: Any, test: Callable[[Any], Any], timeout: float = 10) -> Any:
    # the page re-renders lists: an element read mid-render is stale, read it again
    stale = (StaleElementReferenceException,)
    return WebDriverWait(driver, timeout, ignored_exceptions=stale).until(test)


def click(driver: Any, selector: str) -> None:
    """Click the element once the page holds it still (a re-render makes a found one stale)."""

    def clicked(d: Any) -> bool:
        d.find_element(By.CSS_SELECTOR, selector).click()
        return True

    wait(driver, clicked)


def text_of(driver: Any, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def rows(driver: Any) -> list[str]:
    script = "return [...document.querySelectorAll('#list li.memory .text')]"
    script += ".map(e => e.textContent)"
    return list(driver.execute_script(script))


def login(driver: Any, base_url: str, key: str) -> None:
    driver.get(base_url + "/ui")
    wait(driver, lambda d: d.find_element(By.ID, "key").is_displayed())
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#login button").click()
    wait(driver, lambda d: d.find_element(By.ID, "main-view").is_displayed())


def tab(driver: Any, view: str) -> None:
    """Open a view by its tab and wait for it to show."""
    click(driver, f"#tabs a[data-view='{view}']")
    wait(driver, lambda d: d.find_element(By.ID, f"{view}-view").is_displayed())


def no_sideways_scroll(driver: Any) -> bool:
    script = "return document.documentElement.scrollWidth <= window.innerWidth"
    return bool(driver.execute_script(script))
