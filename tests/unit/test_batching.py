from lightmem.shortterm.batching import SegmentSize, plan_batches


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
