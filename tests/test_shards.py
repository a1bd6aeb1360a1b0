from pavlab.shards import ShardedJsonl, chunk_seed


def test_shards_resume_in_order(tmp_path):
    shards = ShardedJsonl(tmp_path / "parts")
    shards.write(1, [{"i": 1}])
    shards.write(0, [{"i": 0}])
    assert shards.finished() == {0, 1}
    assert [r["i"] for r in shards.rows()] == [0, 1]


def test_chunk_seed_is_stable_and_distinct():
    assert chunk_seed(0, 3) == chunk_seed(0, 3)
    assert len({chunk_seed(0, i) for i in range(100)}) == 100
