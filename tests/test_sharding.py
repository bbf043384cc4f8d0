"""skytext.core.sharding: one stable shard per id, the same in every process, balanced."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from skytext.core.sharding import in_shard, shard_of

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
IDS = [str(i) for i in range(10_000, 14_000)]


def test_assignment_is_sha1_of_the_id_and_never_changes():
    # demo images, HST downloads (resumable image folders) and LLM summaries are stored per shard: the
    # assignment they were made with must stay what it was when they were made
    assert shard_of("12345", 2) == int("8cb2237d0679ca88db6464eac60da96345513964", 16) % 2
    assert shard_of("12345", 7) == int("8cb2237d0679ca88db6464eac60da96345513964", 16) % 7
    assert shard_of(12345, 7) == shard_of("12345", 7)  # ids arrive as ints from config, strings from tables


@pytest.mark.parametrize("hash_seed", ["1", "2"])
def test_assignment_is_the_same_in_another_process(hash_seed):
    code = (f"import sys; sys.path.insert(0, {str(SCRIPTS)!r}); from skytext.core.sharding import shard_of; "
            f"print(','.join(str(shard_of(str(i), 5)) for i in range(10_000, 14_000)))")
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}  # str hash() differs between these processes
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip().split(",") == [str(shard_of(i, 5)) for i in IDS]


@pytest.mark.parametrize("n", [2, 3, 8])
def test_shards_are_balanced(n):
    counts = Counter(shard_of(i, n) for i in IDS)
    assert set(counts) == set(range(n))
    expected = len(IDS) / n
    assert all(abs(c - expected) < 0.15 * expected for c in counts.values()), counts


@pytest.mark.parametrize("n", [1, 3, 7])
def test_every_id_is_in_exactly_one_shard(n):
    masks = [in_shard(IDS, s, n) for s in range(n)]
    assert all(sum(col) == 1 for col in zip(*masks))
    assert [m.index(True) for m in zip(*masks)] == [shard_of(i, n) for i in IDS]


def test_bad_shard_counts_are_named():
    with pytest.raises(ValueError, match="n_shards must be at least 1, got 0"):
        shard_of("1", 0)
    with pytest.raises(ValueError, match="shard 3 is not in 0..2"):
        in_shard(["1"], 3, 3)
