"""RecentIndex: get/add/prune with near-duplicate (Hamming <= 6) lookup."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sparkle_motion.utils import recent_index_sqlite
from sparkle_motion.utils.recent_index_sqlite import RecentIndex, hamming


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def flip(phash: str, bits: int) -> str:
    """``phash`` with its lowest ``bits`` bits flipped."""
    return f"{int(phash, 16) ^ ((1 << bits) - 1):016x}"


H = "c3a5f00f0ff0a5c3"


def test_hamming() -> None:
    assert hamming(H, H) == 0
    assert hamming(H, flip(H, 6)) == 6


def test_add_or_get_and_get_canonical(tmp_path: Path) -> None:
    index = RecentIndex(tmp_path / "r.db")
    assert index.get_canonical(H) is None
    assert index.add_or_get(H, "file:///a.png") == "file:///a.png"
    assert index.get_canonical(H) == "file:///a.png"
    # within the threshold: the canonical URI, and nothing new is stored
    assert index.add_or_get(flip(H, 6), "file:///b.png") == "file:///a.png"
    assert index.get_canonical(flip(H, 5)) == "file:///a.png"
    assert len(index) == 1
    # beyond it: a new canonical entry
    assert index.get_canonical(flip(H, 7)) is None
    assert index.add_or_get(flip(H, 7), "file:///c.png") == "file:///c.png"
    assert len(index) == 2


def test_nearest_match_wins(tmp_path: Path) -> None:
    index = RecentIndex(tmp_path / "r.db")
    index.add_or_get(H, "file:///exact.png")
    index.add_or_get(flip(H, 12), "file:///far.png")
    assert index.get_canonical(flip(H, 2)) == "file:///exact.png"


def test_prune_by_age_and_count(tmp_path: Path) -> None:
    clock = Clock()
    index = RecentIndex(tmp_path / "r.db", clock=clock)
    # far apart from each other (about 32 bits differ between any two)
    hashes = [hashlib.sha256(bytes([i])).hexdigest()[:16] for i in range(5)]
    assert min(hamming(a, b) for a in hashes for b in hashes if a != b) > 6
    for i, h in enumerate(hashes):
        clock.now = 1_000.0 + i * 100
        index.add_or_get(h, f"file:///{i}.png")
    assert len(index) == 5
    clock.now = 1_450.0
    index.prune(max_age_s=300, max_entries=100)  # drops those last seen before t=1150
    assert len(index) == 3
    assert index.get_canonical(hashes[0]) is None and index.get_canonical(hashes[4])
    index.prune(max_age_s=10_000, max_entries=1)
    assert len(index) == 1
    assert index.get_canonical(hashes[4]) == "file:///4.png"


def test_seen_again_keeps_an_entry_fresh(tmp_path: Path) -> None:
    clock = Clock()
    index = RecentIndex(tmp_path / "r.db", clock=clock)
    index.add_or_get(H, "file:///a.png")
    clock.now += 500
    index.add_or_get(H, "file:///again.png")
    index.prune(max_age_s=100, max_entries=10)
    assert index.get_canonical(H) == "file:///a.png"


def test_rejects_non_hex() -> None:
    with pytest.raises(ValueError, match="hex"):
        RecentIndex(":memory:").get_canonical("not-a-hash")


def test_module_functions_use_the_workspace(sparkle_home: Path) -> None:
    assert recent_index_sqlite.add_or_get(H, "file:///a.png") == "file:///a.png"
    assert recent_index_sqlite.get_canonical(flip(H, 3)) == "file:///a.png"
    recent_index_sqlite.prune(0, 0)
    assert recent_index_sqlite.get_canonical(H) is None
    assert (sparkle_home / "sparkle.db").is_file()
