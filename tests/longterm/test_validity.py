"""Validity in time: which memory replaced which. The no-LLM rule on hand-built cases, sleep
time recording it (no LLM, and an LLM's ``replace`` decision), a person marking and undoing
it, and search and context putting the current memory first for questions about now."""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import pytest

from lightmem import InputError, Memory, NotFoundError, keyed
from lightmem.embedders.base import Embedder
from lightmem.llm.scripted import ScriptedLLM
from lightmem.longterm.validity import (
    SUBJECT_COSINE,
    SWAP_COSINE,
    Candidate,
    change_cue,
    details,
    predecessor,
    refills,
    replaces,
)
from lightmem.shortterm import extraction
from lightmem.types import EntryStatus, HistoryEvent, Scope
from tests.fakes.decide import per_target
from tests.support.memories import MakeMemory

HASH = {"embedder": {"provider": "hash", "options": {"dim": 256}}}


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        ("I quit Acme and now work at Globex as an engineer.", "I work at Acme as an engineer."),
        ("We moved from Lyon to Porto last month.", "We live in Lyon near the river."),
        ("Biscuit passed away; we adopted a new dog called Pepper.", "My dog is Biscuit."),
        ("I don't drink coffee anymore, only green tea.", "I drink two coffees every morning."),
        ("My new phone number is 555-0199.", "My phone number is 555-0142."),
        # a number with its unit is a detail: "now" and a swapped amount say the change
        ("I got a raise, my salary is 52k now.", "My salary is 45k."),
        ("I resigned from Deloitte and joined a startup as their CFO.", "I work at Deloitte."),
        ("We relocated the studio from Leeds to Bristol.", "Our studio is in Leeds."),
        ("I used to work at Acme, these days I'm at Globex.", "I work at Acme as an engineer."),
        # a change verb in any of its forms ("gave up", "given up", "giving up")
        ("I've given up meat, it's mostly lentils at home now.", "I eat meat at home most days."),
        ("We're moving the book club to the library.", "The book club meets at the pub."),
    ],
)
def test_a_statement_of_change_replaces_the_older_statement(newer: str, older: str) -> None:
    assert replaces(newer, older, cosine=0.6)


@pytest.mark.parametrize(
    ("newer", "older", "cosine"),
    [
        # small talk shares no content word with an older statement
        ("See you soon!", "I work at Acme as an engineer.", 0.5),
        # a negated cue says nothing changed
        ("I won't quit Acme, I love the engineering team.", "I work at Acme as an engineer.", 0.6),
        # a repeat is left to the near-duplicate merge
        ("I switched to Globex.", "I switched to Globex!", 0.99),
        # another subject, even with a change word
        ("I switched my gym to the one downtown.", "I work at Acme as an engineer.", 0.2),
        # a question states nothing
        ("Did you switch jobs from Acme?", "I work at Acme as an engineer.", 0.6),
        # it keeps every detail of the older one and says no change: it adds to it
        ("I work at Acme as an engineer, in the Berlin office.", "I work at Acme.", 0.7),
        # a change wished, advised, planned or supposed has not happened (REALTALK's
        # chats linked such messages: "people should stop caring", "tell her to stop")
        ("I want to quit Acme and work at Globex.", "I work at Acme as an engineer.", 0.6),
        ("You should stop working at Acme so late.", "I work at Acme as an engineer.", 0.6),
        ("I'll switch from Acme to Globex next year.", "I work at Acme as an engineer.", 0.6),
        ("If I quit Acme, I'd join Globex as an engineer.", "I work at Acme as an engineer.", 0.6),
        # "used to" as accustomed, not a former habit
        ("We are used to the long Acme hours now.", "I work at Acme as an engineer.", 0.6),
    ],
)
def test_what_is_no_replacement(newer: str, older: str, cosine: float) -> None:
    assert not replaces(newer, older, cosine)


def test_cues_and_the_one_predecessor() -> None:
    assert change_cue("I switched jobs") == "strong"
    assert change_cue("I have a new bike") == "weak"
    assert change_cue("I would never quit") is None
    assert change_cue("I write Go at work now") == "weak"
    # "right now" is this moment, not a change
    assert change_cue("I'm signing up for a lesson right now") is None
    assert change_cue("We relocated to Bristol") == "strong"
    # a negated phrase says nothing, and a phrase is matched as whole words
    assert change_cue("Luckily I was not moved to the night team") is None
    assert change_cue("I never used to like it") is None
    assert change_cue("The boxes were removed today") is None  # no "moved to" in it
    # verbs of a change of state, and what is no assertion of one
    assert change_cue("Nibbles died last month") == "strong"
    assert change_cue("I got promoted to senior designer") == "strong"
    assert change_cue("We swapped Crete for the Algarve") == "strong"
    assert change_cue("We traded in the Focus for a Yaris") == "strong"
    assert change_cue("I swapped shifts with Anna") is None  # an exchange, nothing replaced
    assert change_cue("I swapped shifts with Anna for Friday") is None
    assert change_cue("The pottery course ended") == "strong"
    assert change_cue("She ended up scratching my neck") is None  # an idiom
    assert change_cue("I haven't switched banks") is None
    assert change_cue("Ever since I moved to Leeds it rains") == "strong"
    assert change_cue("I nearly died laughing") is None
    # a hope or a guess states nothing: a thank-you that "hopefully gets started" took the
    # place of the lessons it thanked for
    assert change_cue("I'll sign up for a lesson and hopefully get started soon") is None
    assert change_cue("Maybe switched, I can't remember") is None
    # stepping down and going back are changes; "had to" did what "want to" only wishes
    assert change_cue("I stepped down as treasurer") == "strong"
    assert change_cue("I've gone back to full time at the charity") == "strong"
    assert change_cue("I'll get back to you on that") is None
    assert change_cue("Thanks for getting back to me about the flat") is None
    assert change_cue("We had to switch our energy to EDF") == "strong"
    assert change_cue("We want to switch our energy to EDF") is None
    older = [
        Candidate("a", "I work at Acme as an engineer.", 0.55),
        Candidate("b", "I work at Acme in sales.", 0.7),
        Candidate("c", "I like pizza.", 0.9),
    ]
    assert predecessor("I quit Acme and now work at Globex.", older) == "b"  # the closest
    assert predecessor("See you soon!", older) is None


def test_details_are_names_and_numbers_not_i_nor_a_speaker() -> None:
    # a number is its digits, whatever unit follows
    assert details("I got a raise, my salary is 52k now.") == {"52"}
    assert details("The yoga class was moved to 7pm on Fridays.") == {"7", "fridays"}
    assert details("The new rent is 1,200.") == {"1200"}
    assert details("Thank you Kate. I’m going, I'm off, I've said it.") == {"kate"}
    # the name of a speaker (here the one spoken to) is no detail: it made a thank-you
    # with "get started" replace the statement it followed
    newer = "Thank you so much Kate. I'm going to sign up for a lesson and get started."
    older = "I dropped Spanish and started Japanese lessons with a tutor."
    assert replaces(newer, older, 0.5)
    assert not replaces(newer, older, 0.5, names=frozenset({"kate"}))
    # a word the owner uses often is still a detail: London is what changed here
    assert replaces("I now live in Paris.", "I live in London.", 0.6, ignore=frozenset({"london"}))


def test_a_swapped_name_ties_two_statements_that_share_no_word() -> None:
    """Where nothing but a name is shared in meaning ("a flat in Glasgow", "in Edinburgh"),
    a change cue and a swapped name make it one subject, at a higher cosine."""
    older, newer = "My partner and I live in a flat in Glasgow.", "We bought a house in Leith now."
    assert not replaces(newer, older, SUBJECT_COSINE + 0.05)
    assert replaces(newer, older, SWAP_COSINE + 0.01)
    # without a change cue, or without a swapped name, nothing ties them
    assert not replaces("We bought a house in Leith.", older, SWAP_COSINE + 0.1)
    assert not replaces("We bought a house now.", older, SWAP_COSINE + 0.1)


def test_a_capital_that_starts_a_sentence_names_nothing() -> None:
    """LoCoMo's long turns start sentence after sentence with a capital ("Thanks! Losing my
    job ..."): each counted as a swapped name, and a weak "since" linked a thank-you to the
    turn it followed."""
    assert details("Thanks, Maria. Friendship means a lot to me!") == {"maria"}
    assert details("Thanks! It's been tough. “Great” said Tom.") == {"tom"}
    # after a title the name goes on
    assert details("Dr. Okafor retired, so my dentist is now Dr. Lindqvist.") == {
        "okafor",
        "dr",
        "lindqvist",
    }
    assert details("I work nights at St. Mary's as a nurse.") == {"st", "mary's"}
    older = "Thanks, Maria. Friendship means a lot to me."
    newer = "Thanks, Maria! We had a great time at the new party. Veterans came too."
    speakers = frozenset({"maria", "john"})
    assert not replaces(newer, older, 0.55, ignore=speakers, names=speakers)
    # a name in the middle of a sentence is still one
    assert replaces("Thanks! The party has a new venue, Hall 4.", "The party is at Hall 2.", 0.55)


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        # everyday verbs and phrases that replace nothing (these were change words once)
        (
            "I swapped shifts at the bakery with Anna this week.",
            "I work at the bakery on Main Street.",
        ),
        ("I traded two baseball cards with Mike yesterday.", "I collect vintage baseball cards."),
        (
            "We separated Luna and Milo at dinner because they fight.",
            "We have two cats, Luna and Milo.",
        ),
        (
            "Volunteering at the shelter took up my whole Saturday.",
            "I volunteer at the animal shelter on Saturdays.",
        ),
        (
            "My friend was laid off so I'm covering her shifts at the cafe.",
            "I work shifts at the cafe.",
        ),
        # the same number with a unit is no swapped detail
        ("My 2nd kid started school.", "I have 2 kids."),
        ("Now I know the meeting is at 10am.", "The meeting is at 10."),
        # "right now" is this moment
        ("I'm at the gym right now.", "I go to the gym on Mondays."),
    ],
)
def test_no_replacement_in_everyday_chat(newer: str, older: str) -> None:
    assert not replaces(newer, older, cosine=0.6)


def two_sessions(mem: Memory) -> None:
    mem.add(
        [
            {"role": "user", "name": "Maya", "content": "My dog is called Biscuit, a retriever."},
            {"role": "user", "name": "Jonas", "content": "Hi Maya! How was the weekend?"},
        ],
        user_id="maya",
        session_id="s1",
        timestamp="2024-01-05T10:00:00",
    )
    mem.add(
        [
            {
                "role": "user",
                "name": "Maya",
                "content": "Sad news: Biscuit passed away, and we adopted a new dog called Pepper.",
            },
            {"role": "user", "name": "Jonas", "content": "Oh no, so sorry. See you soon!"},
        ],
        user_id="maya",
        session_id="s2",
        timestamp="2024-03-01T10:00:00",
    )
    mem.flush(user_id="maya")


def by_text(mem: Memory, word: str) -> Any:
    return next(e for e in mem.get_all(user_id="maya") if word in e.text and e.kind == "fact")


def test_sleep_time_without_an_llm_records_the_change(make_memory: MakeMemory) -> None:
    mem = make_memory(**HASH)
    two_sessions(mem)
    assert by_text(mem, "Biscuit, a").superseded_by is None  # not before sleep time
    result = mem.consolidate(user_id="maya")
    assert result.replaced == 1
    old, new = by_text(mem, "Biscuit, a"), by_text(mem, "Pepper")
    assert old.superseded_by == new.id and old.status == EntryStatus.ACTIVE
    assert old.valid_until == new.valid_from == new.timestamp
    assert old.valid_from is not None and old.valid_from.month == 1
    # small talk replaced nothing, and a second sleep time decides nothing again
    assert [e.id for e in mem.get_all(user_id="maya") if e.superseded_by] == [old.id]
    assert mem.consolidate(user_id="maya").replaced == 0
    event = mem.history(old.id)[-1]
    assert event.event == HistoryEvent.SUPERSEDE and event.actor == "consolidation"
    assert [e.id for e in mem.chain(new.id)] == [old.id, new.id]
    assert [e.id for e in mem.chain(old.id)] == [old.id, new.id]


@pytest.mark.parametrize("ids", ["rising", "falling"])
def test_of_one_time_the_later_statement_is_the_newer(
    make_memory: MakeMemory, monkeypatch: pytest.MonkeyPatch, ids: str
) -> None:
    """A LoCoMo session has one date for all its turns: the turns' order says which
    statement is the newer, whatever order the random ids happen to fall in."""
    counter = itertools.count()
    step = 1 if ids == "rising" else -1
    monkeypatch.setattr(extraction, "new_id", lambda: f"{10**9 + step * next(counter):032x}")
    mem = make_memory(**HASH)
    mem.add(
        [
            {"role": "user", "name": "Maya", "content": "My dog is called Biscuit, a retriever."},
            {"role": "user", "name": "Jonas", "content": "Hi Maya! How was the weekend?"},
            {
                "role": "user",
                "name": "Maya",
                "content": "Sad news: Biscuit passed away, and we adopted a new dog called Pepper.",
            },
        ],
        user_id="maya",
        session_id="s1",
        timestamp="2024-01-05T10:00:00",
    )
    mem.flush(user_id="maya")
    assert mem.consolidate(user_id="maya").replaced == 1
    old, new = by_text(mem, "Biscuit, a"), by_text(mem, "Pepper")
    assert (old.id < new.id) == (ids == "rising")
    assert old.superseded_by == new.id and new.superseded_by is None


def test_search_and_context_put_the_current_memory_first(make_memory: MakeMemory) -> None:
    mem = make_memory(**HASH, retrieval={"mode": "hybrid"})
    two_sessions(mem)
    mem.consolidate(user_id="maya")
    old, new = by_text(mem, "Biscuit, a"), by_text(mem, "Pepper")
    hits = [h for h in mem.search("what is the name of Maya's dog?", user_id="maya", limit=5)]
    ranked = [h.id for h in hits]
    assert ranked.index(new.id) < ranked.index(old.id)
    assert [e.id for e in next(h for h in hits if h.id == new.id).replaces] == [old.id]
    block = mem.context("what is the name of Maya's dog?", user_id="maya", budget_tokens=400)
    assert "(current: supersedes the memory of 2024-01-05)" in block.text
    line = next(x for x in block.text.splitlines() if "retriever" in x)  # the replaced one
    assert "(superseded on 2024-03-01: no longer current)" in line, block.text
    tight = mem.context("what is the name of Maya's dog?", user_id="maya", budget_tokens=80)
    assert "Pepper" in tight.text and "retriever" not in tight.text, tight.text
    # a question about the past still finds the old memory
    past = mem.search("which dog did Maya have before?", user_id="maya", limit=5)
    assert old.id in [h.id for h in past]


def test_a_person_marks_and_undoes_a_replacement(make_memory: MakeMemory) -> None:
    mem = make_memory(**HASH)
    mem.add("I work at Acme.", user_id="maya", timestamp="2024-01-05T10:00:00")
    mem.add("I started at Globex.", user_id="maya", timestamp="2024-06-02T10:00:00")
    mem.flush(user_id="maya")
    acme, globex = by_text(mem, "Acme"), by_text(mem, "Globex")
    marked = mem.supersede(acme.id, globex.id, reason="new job", user_id="maya")
    assert marked.superseded_by == globex.id and marked.valid_until == globex.timestamp
    assert mem.history(acme.id)[-1].reason == "new job"
    with pytest.raises(NotFoundError):  # another user's view sees neither
        mem.supersede(acme.id, globex.id, user_id="bob")
    with pytest.raises(InputError, match=r"is older than .* swap the two ids"):
        mem.supersede(globex.id, acme.id)  # its validity would end before it began
    back = mem.supersede(acme.id, None)
    assert back.superseded_by is None and back.valid_until is None
    assert [e.id for e in mem.chain(acme.id)] == [acme.id]
    with pytest.raises(InputError, match="is older than"):  # undone, still the wrong way
        mem.supersede(globex.id, acme.id)
    with pytest.raises(InputError, match="cannot replace itself"):
        mem.supersede(acme.id, acme.id)
    assert mem.history(globex.id)[-1].event != HistoryEvent.SUPERSEDE  # nothing was recorded


def test_a_memory_of_another_scope_the_caller_sees_is_no_successor(
    make_memory: MakeMemory,
) -> None:
    mem = make_memory(**HASH)
    mem.add("I work at Acme.", user_id="maya", timestamp="2024-01-05T10:00:00")
    mem.add("I started at Globex.", user_id="maya", agent_id="coach", timestamp="2024-06-02")
    mem.flush()
    acme = by_text(mem, "Acme")
    (globex,) = mem.get_all(user_id="maya", agent_id="coach")
    with pytest.raises(InputError, match="another scope"):  # both are maya's to see: a 422
        mem.supersede(acme.id, globex.id)
    assert mem.get(acme.id).superseded_by is None


def test_a_chain_follows_its_links_where_the_times_tie(make_memory: MakeMemory) -> None:
    mem = make_memory(**HASH)
    for text in ("I live in Porto.", "I live in Lyon.", "I live in Oslo."):
        mem.add(text, user_id="maya", timestamp="2024-03-01T10:00:00")  # one moment
    mem.flush(user_id="maya")
    porto, lyon, oslo = (by_text(mem, w) for w in ("Porto", "Lyon", "Oslo"))
    for old, new in ((lyon, porto), (porto, oslo)):  # marked against the ids' order
        mem.supersede(old.id, new.id)
    ids = [lyon.id, porto.id, oslo.id]
    assert all([e.id for e in mem.chain(i)] == ids for i in ids)


def test_an_llm_replace_decision_records_validity(make_memory: MakeMemory) -> None:
    mem = make_memory(
        llm="scripted",
        buffer={"sensory_tokens": 1, "max_segment_tokens": 1, "shortterm_tokens": 0},
        consolidation={"threshold": 0.3},
    )
    llm = mem.llm
    assert isinstance(llm, ScriptedLLM)
    llm.enqueue({"memories": [{"text": "Maya works at Acme as an engineer.", "sources": [1]}]})
    mem.add("I work at Acme", user_id="maya", session_id="s1", timestamp="2024-01-01T10:00:00")
    mem.flush()
    llm.enqueue(
        {"memories": [{"text": "Maya now works at Globex as an engineer.", "sources": [1]}]}
    )
    mem.add("Now at Globex", user_id="maya", session_id="s2", timestamp="2024-06-01T10:00:00")
    mem.flush()
    acme, globex = by_text(mem, "Acme"), by_text(mem, "Globex")

    def decide(text: str) -> dict[str, Any]:
        if "Acme" in text.splitlines()[0]:
            return {"action": "replace", "reason": "changed jobs"}
        return {"action": "ignore", "reason": "unrelated"}

    llm.respond_with(per_target(decide))
    result = mem.consolidate(user_id="maya")
    assert result.replaced == 1 and not result.failed
    kept = mem.get(acme.id)
    assert kept.status == EntryStatus.ACTIVE and kept.text == acme.text  # kept, not rewritten
    assert kept.superseded_by == globex.id and kept.valid_until == globex.timestamp
    assert [h.event for h in mem.history(acme.id)] == [HistoryEvent.ADD, HistoryEvent.SUPERSEDE]
    assert mem.history(acme.id)[-1].reason == "changed jobs"


def test_keyed_memories_are_left_to_their_application(make_memory: MakeMemory) -> None:
    """An application's keyed memories are replaced by a put under their key, never by the
    rule: the same two statements written under keys stay current both."""
    mem = make_memory(**HASH)
    owner = Scope(user_id="maya")
    first = keyed.put(mem, owner, "dog", "Maya: My dog is called Biscuit, a retriever.", actor="a")
    time.sleep(1.05)  # stamped to the second: the second put is the newer one
    second = keyed.put(
        mem,
        owner,
        "dog-now",
        "Maya: Sad news: Biscuit passed away, and we adopted a new dog called Pepper.",
        actor="a",
    )
    assert mem.consolidate(user_id="maya").replaced == 0
    assert {e.id: e.superseded_by for e in mem.get_all(user_id="maya")} == {
        first.id: None,
        second.id: None,
    }


class Unrelated(Embedder):
    """Vectors that make every two texts unrelated (cosine 0): what a memory's own text
    says when only the speaker's name made the stored vectors alike."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    @property
    def dim(self) -> int:
        return 64

    @property
    def model_id(self) -> str:
        return "unrelated"

    def embed(self, texts: list[str]) -> Any:
        self.texts += texts
        rows = [(len(self.texts) - len(texts) + i) % self.dim for i in range(len(texts))]
        return np.eye(self.dim, dtype=np.float32)[rows]


def test_the_rule_weighs_the_memories_own_texts(make_memory: MakeMemory) -> None:
    """The stored vectors of two of one speaker's messages share "Maya: "; the rule's
    cosine is their texts' own, embedded for the older memories whose words pass it."""
    from lightmem.longterm.supersession import Supersession

    mem = make_memory(**HASH)
    two_sessions(mem)
    new = by_text(mem, "Pepper")
    own = Unrelated()
    assert Supersession(mem.store, own).run([new.id]) == 0
    assert own.texts == [
        "Sad news: Biscuit passed away, and we adopted a new dog called Pepper.",
        "My dog is called Biscuit, a retriever.",
    ]  # the new memory and the one older memory worded as its change, without "Maya: "
    assert by_text(mem, "Biscuit, a").superseded_by is None
    assert Supersession(mem.store, mem.embedder).run([new.id]) == 1  # alike on their own


class ErasesFirst:
    """The store, where the older memory is erased (by another sleep-time run's expiry)
    between the rule's read and its write."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def set_validity(self, entry_id: str, **kw: Any) -> Any:
        owner = self.store.get_entry(entry_id).scope.owner
        self.store.erase(owner, [entry_id], [], cause="expiry", actor="consolidation")
        return self.store.set_validity(entry_id, **kw)


def test_a_memory_erased_meanwhile_is_no_failure(make_memory: MakeMemory) -> None:
    """Three sleep-time runs of one owner at once failed now and then: one erased what
    another was about to mark as replaced."""
    from lightmem.longterm.supersession import Supersession

    mem = make_memory(**HASH)
    two_sessions(mem)
    new = by_text(mem, "Pepper")
    assert Supersession(ErasesFirst(mem.store)).run([new.id]) == 0
    assert not [e for e in mem.get_all(user_id="maya") if "Biscuit, a" in e.text]
    assert by_text(mem, "Pepper").status == EntryStatus.ACTIVE


def test_a_new_value_given_by_it_refills_the_speakers_own_slot() -> None:
    """ "My coffee order is a flat white", weeks later "I quit dairy, so now it's an oat
    cortado": no word shared, no name swapped, yet the second gives the first's slot a new
    value. Only that form ties them: "my ... is a ..." before, a change and "it's a ..."
    after."""
    older = "My coffee order is a flat white."
    newer = "I quit dairy, so now it's an oat cortado every morning."
    assert refills(newer, older)
    assert replaces(newer, older, SUBJECT_COSINE + 0.05)
    assert not replaces(newer, older, SUBJECT_COSINE - 0.05)
    assert refills("Sold it, it is now a Pixel.", "My phone is an iPhone.")
    # the older one must fill a slot of the speaker's ...
    assert not replaces(newer, "Your coffee order is a flat white.", 0.9)
    assert not replaces(newer, "We had a flat white at the market.", 0.9)
    # ... with a thing, as the newer one does ("now it's fine" refills nothing)
    assert not replaces("I was ill, but now it's fine.", "My week is a mess.", 0.9)
    assert not replaces(newer, "My coffee order is good.", 0.9)
    # and the newer one must say that something changed, in a word that says it alone
    assert not replaces("It's an oat cortado every morning.", older, 0.9)
    assert not replaces("Now it's a good time to relax.", "My sister is a nurse.", 0.9)
    assert not replaces("If I quit dairy, it's an oat cortado.", older, 0.9)


def test_a_forgotten_replaced_memory_is_not_named_by_its_successor(
    make_memory: MakeMemory,
) -> None:
    """After forget, the block still said "(current: supersedes the memory of 2024-01-05)":
    the forgotten memory's existence and date."""
    mem = make_memory(**HASH)
    mem.add("I work at Acme with Zoraida.", user_id="maya", timestamp="2024-01-05T10:00:00")
    mem.add("I started at Globex.", user_id="maya", timestamp="2024-06-02T10:00:00")
    mem.flush(user_id="maya")
    acme, globex = by_text(mem, "Acme"), by_text(mem, "Globex")
    mem.supersede(acme.id, globex.id, user_id="maya")
    before = mem.context("where do I work now?", user_id="maya").text
    assert "supersedes the memory of 2024-01-05" in before
    mem.forget("Zoraida", user_id="maya")
    after = mem.context("where do I work now?", user_id="maya").text
    assert "Globex" in after and "supersedes" not in after and "2024-01-05" not in after


def test_the_rule_compares_what_two_memories_are_about_not_when() -> None:
    """ "I moved to Porto last week." did not replace "I live in Lisbon." while "I moved to
    Porto." did: the time phrase pulled the texts' cosine below the rule's."""
    from types import SimpleNamespace

    from lightmem.longterm.supersession import Supersession
    from lightmem.retrieval.when import timeless

    assert timeless("I moved to Porto last week.") == "I moved to Porto."
    assert timeless("Two days ago I sold my car.") == "I sold my car."
    assert timeless("We moved to Porto last month, loving it.") == "We moved to Porto, loving it."
    assert timeless("Yesterday") == "Yesterday"  # nothing would be left: as it was
    embedded: list[str] = []

    def embed(texts: list[str]) -> np.ndarray:
        embedded.extend(texts)
        return np.ones((len(texts), 4), dtype=np.float32) / 2

    rule = Supersession(store=None, embedder=SimpleNamespace(embed=embed))  # type: ignore[arg-type]
    older = Candidate("e1", "I live in Lisbon since last year.", 0.4)
    (scored,) = rule._own_cosines("I moved to Porto last week.", [older])
    assert embedded == ["I moved to Porto.", "I live in Lisbon since."]
    assert scored.cosine == pytest.approx(1.0)
