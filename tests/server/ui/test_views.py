"""The memory browser's timeline, stats and a memory's chain in a real headless Chromium, by
keyboard too, and at a phone's width (420 px) without sideways scrolling. The run writes the
screenshots the docs show: ``docs/ui-desktop.png``, ``docs/ui-phone.png``,
``docs/ui-stats.png`` and ``docs/ui-chain.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from lightmem import Memory
from lightmem.server.keys import KeyStore
from tests.server.conftest import Tenants
from tests.server.ui.conversation import add_conversation
from tests.server.ui.pages import click, login, no_sideways_scroll, rows, tab, text_of, wait

DOCS = Path(__file__).resolve().parents[3] / "docs"


def maya_key(memory: Memory) -> str:
    key, _ = KeyStore.for_memory(memory).create(users=["maya"], name="maya")
    return key


def sessions(driver: Any) -> list[str]:
    found = driver.find_elements(By.CSS_SELECTOR, "#timeline .session-head")
    return [str(s.get_attribute("textContent")) for s in found]


def test_timeline_shows_sessions_with_their_summaries_and_each_text_once(
    browser: Any, base_url: str, memory: Memory
) -> None:
    d = browser
    add_conversation(memory)
    pixel = next(e for e in memory.get_all(user_id="maya") if "coffee" in e.text)
    memory.update(pixel.id, "Pixel the cat knocks coffee over the laptop")  # a fact of its own
    d.set_window_size(1280, 900)
    login(d, base_url, maya_key(memory))
    wait(d, lambda d: len(sessions(d)) == 3)  # the timeline is the first view
    assert sessions(d)[0] == "2024-03-01 session s1"
    assert text_of(d, "timeline-counts") == "3 sessions · 8 turns · 11 memories"
    first = d.find_element(By.CSS_SELECTOR, "#timeline .session .summary").text
    assert first.startswith("Maya and assistant talked about Pixel, Lisbon")
    assert first.endswith("half and marathon.")  # the quoted turns are right below
    turns = d.find_elements(By.CSS_SELECTOR, "#timeline .session:first-child ol.turns > li")
    assert len(turns) == 3 and turns[0].text.startswith("09:15 Maya: My cat Pixel")
    # no-LLM memories repeat their turn: a mark on the turn, not the text again
    page = text_of(d, "timeline")
    assert page.count("only eats salmon kibble") == 1
    assert len(d.find_elements(By.CSS_SELECTOR, "#timeline .badge.remembered")) == 7
    fact = d.find_element(By.CSS_SELECTOR, "#timeline .fact .fact-text")
    assert fact.text == "Pixel the cat knocks coffee over the laptop"
    DOCS.mkdir(exist_ok=True)
    d.save_screenshot(str(DOCS / "ui-desktop.png"))

    fact.click()  # a memory opens in the memories view, with its source turn
    wait(d, lambda d: d.find_element(By.ID, "detail").is_displayed())
    assert "#memories" in d.current_url
    wait(d, lambda d: "knocked my coffee" in text_of(d, "sources"))


def test_stats_count_and_chart_what_was_stored(
    browser: Any, base_url: str, memory: Memory, tenants: Any
) -> None:
    d = browser
    add_conversation(memory)
    d.set_window_size(1280, 900)
    login(d, base_url, maya_key(memory))
    tab(d, "stats")
    wait(d, lambda d: "11\nmemories" in text_of(d, "cards"))
    assert "8\nturns" in text_of(d, "cards") and "none\nLLM mode" in text_of(d, "cards")
    bars = d.find_elements(By.CSS_SELECTOR, "#chart svg rect.bar")
    assert len(bars) == 2  # one day: turns and memories
    titles = sorted(b.find_element(By.TAG_NAME, "title").get_attribute("textContent") for b in bars)
    assert titles[0].endswith(": 11 memories") and titles[1].endswith(": 8 turns")
    assert "LLM calls: admin keys only" in text_of(d, "chart-legend")
    d.save_screenshot(str(DOCS / "ui-stats.png"))

    # an admin sees the store's LLM calls in the chart, and the failures list
    d.find_element(By.ID, "logout").click()
    login(d, base_url, tenants.admin)
    tab(d, "stats")
    wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart svg rect.bar")) == 4)
    assert "LLM calls" in text_of(d, "chart-legend") and text_of(d, "failures") == "none"


def test_keyboard_alone_reaches_every_view_and_opens_a_memory(
    browser: Any, base_url: str, memory: Memory
) -> None:
    d = browser
    add_conversation(memory)
    login(d, base_url, maya_key(memory))
    wait(d, lambda d: len(sessions(d)) == 3)
    focused = "return document.activeElement"
    for _ in range(10):  # tab to the "Memories" tab and follow it
        d.switch_to.active_element.send_keys(Keys.TAB)
        if d.execute_script(focused + ".dataset.view") == "memories":
            break
    d.switch_to.active_element.send_keys(Keys.ENTER)
    wait(d, lambda d: d.find_element(By.ID, "memories-view").is_displayed())
    wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#list li.memory")) == 11)
    for _ in range(30):  # on to the first memory of the list
        d.switch_to.active_element.send_keys(Keys.TAB)
        if d.execute_script(focused + ".classList.contains('row')"):
            break
    d.switch_to.active_element.send_keys(Keys.ENTER)
    wait(d, lambda d: d.find_element(By.ID, "detail").is_displayed())
    # the focus moves to the opened memory (a moment after it shows, on a loaded machine)
    wait(d, lambda d: d.execute_script(focused + ".id") == "detail")
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(d, lambda d: not d.find_element(By.ID, "detail").is_displayed())


def test_every_view_fits_a_phone_without_sideways_scrolling(
    browser: Any, base_url: str, memory: Memory
) -> None:
    d = browser
    add_conversation(memory)
    d.set_window_size(420, 900)
    login(d, base_url, maya_key(memory))
    wait(d, lambda d: len(sessions(d)) == 3)
    assert d.execute_script("return window.innerWidth") <= 420
    assert no_sideways_scroll(d)
    d.save_screenshot(str(DOCS / "ui-phone.png"))
    tab(d, "memories")
    wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#list li.memory")) == 11)
    d.find_element(By.CSS_SELECTOR, "#list li.memory button").click()
    wait(d, lambda d: d.find_element(By.ID, "detail").is_displayed())
    assert no_sideways_scroll(d)
    d.find_element(By.ID, "q").send_keys("marathon race")
    d.find_element(By.ID, "search").click()
    wait(d, lambda d: "result" in text_of(d, "count"))
    assert no_sideways_scroll(d)
    tab(d, "stats")
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#chart svg"))
    assert no_sideways_scroll(d)


def badged(driver: Any) -> list[str]:
    """The texts of the listed memories that carry the "replaced" badge."""
    script = "return [...document.querySelectorAll('#list li.memory')]"
    script += ".filter(li => li.querySelector('.badge.replaced'))"
    script += ".map(li => li.querySelector('.text').textContent)"
    return list(driver.execute_script(script))


def chain(driver: Any) -> list[str]:
    return [str(e.text) for e in driver.find_elements(By.CSS_SELECTOR, "#chain li")]


def test_a_replaced_memory_shows_its_mark_and_its_chain_which_opens_the_current_one(
    browser: Any, base_url: str, memory: Memory, tenants: Tenants, tmp_path: Path
) -> None:
    d = browser
    said = [
        ("I live in Lisbon, near the river", "2024-01-07T10:00:00"),
        ("I moved to Porto last week", "2024-06-02T18:30:00"),
        ("my cat Biscuit eats salmon kibble", "2024-06-03T08:00:00"),
    ]
    memory.add([{"role": "user", "content": c, "timestamp": t} for c, t in said], user_id="alice")
    memory.flush(user_id="alice")
    by_text = {e.text: e for e in memory.get_all(user_id="alice")}
    old, new, cat = (by_text["user: " + c] for c, _ in said)
    assert old.superseded_by is None
    memory.supersede(old.id, by=new.id, user_id="alice")

    d.set_window_size(1280, 900)
    login(d, base_url, tenants.alice)
    tab(d, "memories")
    wait(d, lambda d: len(rows(d)) == 3)
    assert badged(d) == [old.text]  # in the list

    # the older one: the mark with its date, and the chain oldest first, itself highlighted
    click(d, f"#list li[data-id='{old.id}'] button")
    wait(d, lambda d: text_of(d, "detail-id") == old.id and len(chain(d)) == 2)
    assert text_of(d, "replaced") == "Replaced by a newer memory on 2024-06-02"
    assert chain(d) == [
        "2024-01-07 10:00\n" + old.text,
        "2024-06-02 18:30\n" + new.text + "\ncurrent",
    ]
    opened = d.find_element(By.CSS_SELECTOR, "#chain li[aria-current='true']")
    assert old.text in opened.text and "opened" in str(opened.get_attribute("class"))
    d.execute_script("window.scrollTo(0, 0)")
    d.save_screenshot(str(tmp_path / "ui-chain.png"))
    if not (DOCS / "ui-chain.png").exists():  # it shows a random id: kept once, not rewritten
        DOCS.mkdir(exist_ok=True)
        d.save_screenshot(str(DOCS / "ui-chain.png"))
    d.set_window_size(420, 900)
    assert no_sideways_scroll(d)
    d.set_window_size(1280, 900)

    # a click on the newer version opens it: current, so no mark, the same chain
    click(d, "#chain li:not(.opened) button")
    wait(d, lambda d: text_of(d, "detail-id") == new.id)
    assert not d.find_element(By.ID, "replaced").is_displayed()
    wait(d, lambda d: new.text in d.find_element(By.CSS_SELECTOR, "#chain li.opened").text)
    assert len(chain(d)) == 2

    # a memory that neither replaced nor was replaced has no chain section
    click(d, f"#list li[data-id='{cat.id}'] button")
    wait(d, lambda d: text_of(d, "detail-id") == cat.id)
    wait(d, lambda d: not d.find_element(By.ID, "chain-box").is_displayed())

    d.find_element(By.ID, "q").send_keys("Lisbon river")
    d.find_element(By.ID, "search").click()
    wait(d, lambda d: text_of(d, "list-what") == "Results")
    assert badged(d) == [old.text]  # search results carry the badge too
