import pytest

from lightmem.retrieval.fusion import rrf


def test_rrf_rewards_agreement() -> None:
    fused = rrf([["a", "b", "c"], ["b", "c", "a"]], k=60)
    ids = [d for d, _ in fused]
    assert ids[0] == "b"
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_rrf_single_list_keeps_order_and_counts_missing_docs() -> None:
    assert [d for d, _ in rrf([["x", "y"], []])] == ["x", "y"]
    fused = dict(rrf([["x"], ["y", "x"]], k=1))
    assert fused["x"] == pytest.approx(1 / 2 + 1 / 3)
    assert fused["y"] == pytest.approx(1 / 2)


def test_rrf_ties_are_deterministic() -> None:
    assert [d for d, _ in rrf([["a", "b"], ["b", "a"]])] == ["a", "b"]


def test_rrf_weights_and_validation() -> None:
    assert rrf([["a"], ["b"]], weights=[1.0, 2.0])[0][0] == "b"
    with pytest.raises(ValueError):
        rrf([["a"]], k=0)
    with pytest.raises(ValueError):
        rrf([["a"]], weights=[1.0, 1.0])
