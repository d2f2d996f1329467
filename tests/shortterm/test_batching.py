from lightmem.shortterm.batching import SegmentSize, fair_caps, plan_batches, turn_budget


def seg(name: str, *tokens: int) -> SegmentSize:
    return SegmentSize(name, tuple(f"{name}{i}" for i in range(len(tokens))), tokens)


def test_segments_accumulate_until_threshold() -> None:
    segs = [seg("a", 100, 100), seg("b", 200), seg("c", 50)]
    assert plan_batches(segs, threshold=400, max_tokens=10_000, force=False) == [["a0", "a1", "b0"]]


def test_leftover_below_threshold_waits_unless_forced() -> None:
    segs = [seg("a", 100), seg("b", 50)]
    assert plan_batches(segs, threshold=400, max_tokens=10_000, force=False) == []
    assert plan_batches(segs, threshold=400, max_tokens=10_000, force=True) == [["a0", "b0"]]


def test_zero_threshold_extracts_every_segment_alone() -> None:
    segs = [seg("a", 10, 10), seg("b", 5)]
    assert plan_batches(segs, threshold=0, max_tokens=10_000, force=False) == [
        ["a0", "a1"],
        ["b0"],
    ]


def test_batch_never_exceeds_max_tokens() -> None:
    segs = [seg("a", 300, 300, 300), seg("b", 300)]
    out = plan_batches(segs, threshold=100_000, max_tokens=700, force=True)
    assert out == [["a0", "a1"], ["a2", "b0"]]


def test_single_oversized_turn_is_its_own_batch() -> None:
    out = plan_batches([seg("a", 10, 5000, 10)], threshold=1, max_tokens=100, force=True)
    assert out == [["a0"], ["a1"], ["a2"]]


def test_fair_caps_cut_the_largest_first() -> None:
    assert fair_caps([10, 20, 30], 100) == [10, 20, 30]
    assert fair_caps([10, 20, 5000], 100) == [10, 20, 70]
    assert fair_caps([300, 300, 10], 110) == [50, 50, 10]
    assert sum(fair_caps([7, 1_360_000, 9], 8000)) <= 8000


def test_turn_budget_leaves_room_for_prompt_and_reply() -> None:
    assert turn_budget(8000, None, 200, 256, 4096) == 8000
    # an 8192-token context: the reply needs its cap, what is left is for the turns
    b = turn_budget(8000, 8192, 200, 256, 4096)
    assert b == 8192 - 200 - 4096
    small = turn_budget(8000, 2048, 200, 256, 4096)
    assert small + 200 + min(4096, 256 + 2 * small) <= 2048
    assert turn_budget(8000, 100, 200, 256, 4096) == 16
