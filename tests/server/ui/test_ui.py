"""The memory browser in a real headless Chromium: log in with a key, see only that key's
memories, search, open one with its sources and history, edit, pin, forget (gone after a
reload and from search), the "forget everything about ..." preview, a second key that
cannot see the first's data, and a pool shared with it (then revoked). Screenshots go to
the test's tmp dir (``LIGHTMEM_UI_SHOT`` names a file to copy the main one to, as for
docs/ui.png)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from lightmem import Memory
from tests.server.conftest import Tenants, seed

ALICE = [
    "I play the cello in a youth orchestra",
    "my cat Biscuit eats salmon kibble",
    "my cousin Ottilie lives in Ghent",
]
BOB = ["bob hides his bank PIN under the zebra rug"]


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


def test_browse_search_edit_forget_and_isolation(
    browser: Any, base_url: str, memory: Memory, tenants: Tenants, tmp_path: Path
) -> None:
    d = browser
    seed(memory, "alice", ALICE)
    seed(memory, "bob", BOB)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    login(d, base_url, tenants.alice)
    wait(d, lambda d: len(rows(d)) == 3)
    assert "zebra" not in d.page_source and "bob" not in d.find_element(By.ID, "list").text
    assert "alice" in d.find_element(By.ID, "whoami").text
    d.save_screenshot(str(shots / "1-list.png"))

    # search
    d.find_element(By.ID, "q").send_keys("cello orchestra")
    d.find_element(By.ID, "search").click()
    wait(d, lambda d: rows(d) and "cello" in rows(d)[0])

    # open: sources and history
    click(d, "#list li.memory")
    wait(
        d,
        lambda d: (
            d.find_element(By.ID, "detail").is_displayed()
            and d.find_elements(By.CSS_SELECTOR, "#sources li.turn")
        ),
    )
    assert "cello" in d.find_element(By.ID, "sources").text
    assert "ADD" in d.find_element(By.ID, "history").text
    memory_id = d.find_element(By.ID, "detail-id").text

    # edit
    box = d.find_element(By.ID, "detail-text")
    box.clear()
    box.send_keys("I play the viola in a youth orchestra")
    d.find_element(By.ID, "save").click()
    wait(d, lambda d: "UPDATE" in d.find_element(By.ID, "history").text)
    assert memory.get(memory_id).text == "I play the viola in a youth orchestra"
    # pin
    d.find_element(By.ID, "pin").click()
    wait(d, lambda d: d.find_element(By.ID, "pin").text == "Unpin")
    assert memory.get(memory_id).pinned
    d.save_screenshot(str(shots / "2-detail.png"))
    if os.environ.get("LIGHTMEM_UI_SHOT"):
        shutil.copy(shots / "2-detail.png", os.environ["LIGHTMEM_UI_SHOT"])

    # forget it: gone after a reload (the key is kept for the tab) and from search
    d.find_element(By.ID, "forget").click()
    wait(d, lambda d: not d.find_element(By.ID, "detail").is_displayed())
    d.refresh()
    wait(d, lambda d: len(rows(d)) == 2)
    assert not any("viola" in r for r in rows(d))
    hits = memory.search("viola orchestra", user_id="alice", limit=10)
    assert not any("viola" in h.text or "cello" in h.text for h in hits)

    # forget everything about Ottilie: the preview lists memory and turn, then erase
    d.find_element(By.ID, "forget-query").send_keys("Ottilie")
    d.find_element(By.CSS_SELECTOR, "#forget-form button").click()
    wait(d, lambda d: d.find_element(By.ID, "forget-preview").is_displayed())
    assert "1 memories and 1 conversation turns" in d.find_element(By.ID, "forget-summary").text
    assert "Ghent" in d.find_element(By.ID, "forget-turns").text
    d.save_screenshot(str(shots / "3-forget-preview.png"))
    d.find_element(By.ID, "forget-purge").click()
    wait(d, lambda d: len(rows(d)) == 1)
    assert not any("Ottilie" in t.content for t in memory.turns(user_id="alice"))

    # a second key sees only its own data
    d.find_element(By.ID, "logout").click()
    wait(d, lambda d: d.find_element(By.ID, "login-view").is_displayed())
    login(d, base_url, tenants.bob)
    wait(d, lambda d: rows(d) == ["user: " + BOB[0]])
    for word in ("cello", "viola", "Biscuit", "Ottilie"):
        assert word not in d.page_source
    d.find_element(By.ID, "q").send_keys("cat Biscuit salmon")
    d.find_element(By.ID, "search").click()
    wait(d, lambda d: "Biscuit" not in d.page_source and d.find_element(By.ID, "count").text)
    assert all("Biscuit" not in r for r in rows(d))
    d.save_screenshot(str(shots / "4-second-key.png"))

    # alice shares her memories with bob (read): a pool in his scope list; revoked: gone
    memory.grant("read", pool={"user_id": "alice"}, to={"user_id": "bob"})
    d.find_element(By.ID, "q").clear()
    d.refresh()
    wait(d, lambda d: "shared: user alice (read)" in d.find_element(By.ID, "scope").text)
    Select(d.find_element(By.ID, "scope")).select_by_visible_text("shared: user alice (read)")
    wait(d, lambda d: rows(d) == ["user: " + ALICE[1]])
    d.save_screenshot(str(shots / "5-shared-pool.png"))
    memory.revoke(pool={"user_id": "alice"}, to={"user_id": "bob"})
    d.refresh()
    wait(d, lambda d: rows(d) == ["user: " + BOB[0]])
    assert "alice" not in d.find_element(By.ID, "scope").text

    # a wrong key is refused and leaves nothing in the tab
    d.find_element(By.ID, "logout").click()
    login_box = d.find_element(By.ID, "key")
    login_box.send_keys("lm_not_a_key")
    d.find_element(By.CSS_SELECTOR, "#login button").click()
    wait(d, lambda d: d.find_element(By.ID, "error").is_displayed())
    assert d.execute_script("return sessionStorage.length") == 0
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-list.png",
        "2-detail.png",
        "3-forget-preview.png",
        "4-second-key.png",
        "5-shared-pool.png",
    ]


def test_detail_shows_images_and_every_consolidation_decision(
    browser: Any, base_url: str, memory: Memory, tenants: Tenants
) -> None:
    """A memory drawn from a turn with an image shows the image (caption, link); its
    caption finds it; the decisions that touched it are listed, ``ignore`` too."""
    d = browser
    kite = {"url": "https://example.com/kite.jpg", "caption": "a red kite over the dunes"}
    memory.add(
        [{"role": "user", "content": "look what I flew today", "images": [kite]}], user_id="alice"
    )
    seed(memory, "alice", ["I bought new running shoes"])
    old, new = memory.get_all(user_id="alice")
    assert old.images and old.images[0].caption == kite["caption"]
    assert memory.store.apply_decision(old.id, [new.id], "ignore", reason="different topics")

    login(d, base_url, tenants.alice)
    wait(d, lambda d: len(rows(d)) == 2)
    d.find_element(By.ID, "q").send_keys("dunes")
    d.find_element(By.ID, "search").click()
    wait(d, lambda d: rows(d) and "flew" in rows(d)[0])
    click(d, "#list li.memory")
    wait(d, lambda d: "IGNORE" in d.find_element(By.ID, "decisions").text)
    decisions = d.find_element(By.ID, "decisions").text
    assert new.id in decisions and "different topics" in decisions
    assert "running shoes" in decisions  # the other memory of the pair
    link = d.find_element(By.CSS_SELECTOR, "#images a.image")
    assert link.text == "image: a red kite over the dunes"
    assert link.get_attribute("href") == kite["url"]
    assert "a red kite" in d.find_element(By.ID, "sources").text


def test_erase_for_good_erases_what_the_preview_showed_not_what_came_since(
    browser: Any, base_url: str, memory: Memory, tenants: Tenants
) -> None:
    """Issue 19, finding 9: confirming "forget everything about ..." applies the preview's
    memory and turn ids; a memory added after the preview is not erased with them."""
    d = browser
    seed(memory, "alice", ALICE)
    login(d, base_url, tenants.alice)
    wait(d, lambda d: len(rows(d)) == 3)
    d.find_element(By.ID, "forget-query").send_keys("Ottilie")
    d.find_element(By.CSS_SELECTOR, "#forget-form button").click()
    wait(d, lambda d: d.find_element(By.ID, "forget-preview").is_displayed())
    assert "1 memories and 1 conversation turns" in d.find_element(By.ID, "forget-summary").text

    later = "Ottilie moved to Leuven last spring"  # added while the preview is open
    before = set(seed(memory, "alice", [later]))
    assert len(before) == 4
    d.find_element(By.ID, "forget-purge").click()
    wait(d, lambda d: not d.find_element(By.ID, "forget-preview").is_displayed())
    wait(d, lambda d: len(rows(d)) == 3)
    left = {e.id: e.text for e in memory.get_all(user_id="alice")}
    assert any(later in t for t in left.values())  # not in the preview: kept
    assert not any("Ghent" in t for t in left.values())  # in the preview: erased
    assert not any("Ghent" in t.content for t in memory.turns(user_id="alice"))
    assert len(before - left.keys()) == 1
