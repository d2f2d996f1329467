"""The memory browser's memories view in a real headless Chromium: log in with a key, see
only that key's memories with their true count, search, open one with its sources and
history, edit, pin, forget (gone from search; a reload asks for the key again, which lives
in the page only), "forget everything about ..." (each text once, under headings; the erase
touches exactly what the preview showed), a second key that cannot see the first's data,
and a pool shared with it (then revoked). Screenshots go to the test's tmp dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from lightmem import Memory
from tests.server.conftest import Tenants, seed
from tests.server.ui.pages import click, login, rows, tab, text_of, wait

ALICE = [
    "I play the cello in a youth orchestra",
    "my cat Biscuit eats salmon kibble",
    "my cousin Ottilie lives in Ghent",
]
BOB = ["bob hides his bank PIN under the zebra rug"]


def test_browse_search_edit_forget_and_isolation(
    browser: Any, base_url: str, memory: Memory, tenants: Tenants, tmp_path: Path
) -> None:
    d = browser
    seed(memory, "alice", ALICE)
    seed(memory, "bob", BOB)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    login(d, base_url, tenants.alice)
    tab(d, "memories")
    wait(d, lambda d: len(rows(d)) == 3)
    assert text_of(d, "count") == "3 memories"
    assert "zebra" not in d.page_source and "bob" not in text_of(d, "list")
    assert "alice" in text_of(d, "whoami")
    d.save_screenshot(str(shots / "1-list.png"))

    # search: every result with its relevance, and the counts by kind
    d.find_element(By.ID, "q").send_keys("cello orchestra")
    d.find_element(By.ID, "search").click()
    wait(d, lambda d: rows(d) and "cello" in rows(d)[0])
    assert text_of(d, "list-what") == "Results" and "memories" in text_of(d, "count")
    first = d.find_element(By.CSS_SELECTOR, "#list li .relevance .value").text
    assert 0 < float(first) <= 1

    # open: sources and history
    click(d, "#list li.memory button")
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#sources li.turn"))
    assert "cello" in text_of(d, "sources") and "ADD" in text_of(d, "history")
    memory_id = text_of(d, "detail-id")

    # edit
    box = d.find_element(By.ID, "detail-text")
    box.clear()
    box.send_keys("I play the viola in a youth orchestra")
    d.find_element(By.ID, "save").click()
    wait(d, lambda d: "UPDATE" in text_of(d, "history"))
    assert memory.get(memory_id).text == "I play the viola in a youth orchestra"
    # pin
    d.find_element(By.ID, "pin").click()
    wait(d, lambda d: text_of(d, "pin") == "Unpin")
    assert memory.get(memory_id).pinned
    d.save_screenshot(str(shots / "2-detail.png"))

    # forget it: gone from the list and from search
    d.find_element(By.ID, "forget").click()
    wait(d, lambda d: not d.find_element(By.ID, "detail").is_displayed())
    d.find_element(By.ID, "q").clear()
    d.find_element(By.ID, "search").click()
    wait(d, lambda d: len(rows(d)) == 2)
    hits = memory.search("viola orchestra", user_id="alice", limit=10)
    assert not any("viola" in h.text or "cello" in h.text for h in hits)

    # a reload asks for the key again: it was never written to the browser's storage
    d.refresh()
    wait(d, lambda d: d.find_element(By.ID, "login-view").is_displayed())
    assert d.execute_script("return sessionStorage.length + localStorage.length") == 0
    login(d, base_url, tenants.alice)
    tab(d, "memories")
    wait(d, lambda d: len(rows(d)) == 2)

    # a second key sees only its own data
    d.find_element(By.ID, "logout").click()
    wait(d, lambda d: d.find_element(By.ID, "login-view").is_displayed())
    login(d, base_url, tenants.bob)
    tab(d, "memories")
    wait(d, lambda d: rows(d) == ["user: " + BOB[0]])
    for word in ("cello", "viola", "Biscuit", "Ottilie"):
        assert word not in d.page_source
    d.find_element(By.ID, "q").send_keys("cat Biscuit salmon")
    d.find_element(By.ID, "search").click()
    wait(d, lambda d: "result" in text_of(d, "count"))
    assert "Biscuit" not in d.page_source
    d.save_screenshot(str(shots / "3-second-key.png"))

    # alice shares her memories with bob (read): a pool in his scope list; revoked: gone
    memory.grant("read", pool={"user_id": "alice"}, to={"user_id": "bob"})
    d.refresh()
    login(d, base_url, tenants.bob)
    wait(d, lambda d: "shared: user alice (read)" in text_of(d, "scope"))
    tab(d, "memories")
    Select(d.find_element(By.ID, "scope")).select_by_visible_text("shared: user alice (read)")
    wait(d, lambda d: rows(d) == ["user: " + ALICE[1], "user: " + ALICE[2]])
    d.save_screenshot(str(shots / "4-shared-pool.png"))
    memory.revoke(pool={"user_id": "alice"}, to={"user_id": "bob"})
    d.refresh()
    login(d, base_url, tenants.bob)
    tab(d, "memories")
    wait(d, lambda d: rows(d) == ["user: " + BOB[0]])
    assert "alice" not in text_of(d, "scope")

    # a wrong key is refused and leaves nothing in the tab
    d.find_element(By.ID, "logout").click()
    d.find_element(By.ID, "key").send_keys("lm_not_a_key")
    d.find_element(By.CSS_SELECTOR, "#login button").click()
    wait(d, lambda d: d.find_element(By.ID, "error").is_displayed())
    assert d.execute_script("return sessionStorage.length + localStorage.length") == 0
    assert len(list(shots.iterdir())) == 4


def test_forget_everything_about_shows_each_text_once_and_erases_only_what_it_showed(
    browser: Any, base_url: str, memory: Memory, tenants: Tenants, tmp_path: Path
) -> None:
    """No-LLM memories repeat their turn: the preview lists each once, under headings. A
    memory added between the preview and "Erase for good" is not erased."""
    d = browser
    seed(memory, "alice", ALICE)
    login(d, base_url, tenants.alice)
    tab(d, "memories")
    wait(d, lambda d: len(rows(d)) == 3)
    click(d, "#forget-box summary")
    d.find_element(By.ID, "forget-query").send_keys("Ottilie")
    d.find_element(By.CSS_SELECTOR, "#forget-form button").click()
    wait(d, lambda d: d.find_element(By.ID, "forget-preview").is_displayed())
    assert text_of(d, "forget-summary") == (
        "1 memory and 1 conversation turn match \u201cOttilie\u201d."
    )
    preview = text_of(d, "forget-preview")
    assert preview.count("Ghent") == 1 and "and its turn" in preview
    assert text_of(d, "forget-turns-title").lower() == "other conversation turns"
    assert text_of(d, "forget-turns") == "none"
    d.save_screenshot(str(tmp_path / "forget-preview.png"))

    seed(memory, "alice", ["Ottilie visits us next week"])  # after the preview
    d.find_element(By.ID, "forget-purge").click()
    wait(d, lambda d: not d.find_element(By.ID, "forget-preview").is_displayed())
    wait(d, lambda d: len(rows(d)) == 3)
    texts = [e.text for e in memory.get_all(user_id="alice")]
    assert "user: Ottilie visits us next week" in texts
    assert not any("Ghent" in t.content for t in memory.turns(user_id="alice"))


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
    tab(d, "memories")
    wait(d, lambda d: len(rows(d)) == 2)
    d.find_element(By.ID, "q").send_keys("dunes")
    d.find_element(By.ID, "search").click()
    wait(d, lambda d: rows(d) and "flew" in rows(d)[0])
    click(d, "#list li.memory button")
    wait(d, lambda d: "IGNORE" in text_of(d, "decisions"))
    decisions = text_of(d, "decisions")
    assert new.id in decisions and "different topics" in decisions
    assert "running shoes" in decisions  # the other memory of the pair
    link = d.find_element(By.CSS_SELECTOR, "#images a.image")
    assert link.text == "image: a red kite over the dunes"
    assert link.get_attribute("href") == kite["url"]
    assert "a red kite" in text_of(d, "sources")
