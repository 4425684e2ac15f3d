import itertools

import torch

from mangacolor.data.pages import (
    PageDataset,
    ShardedStreamSampler,
    collate_pages,
    pad_to,
    shard,
)


def take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_stream_visits_every_page_once_per_pass_and_is_reproducible():
    first_pass = take(ShardedStreamSampler(10, seed=3), 10)
    assert sorted(first_pass) == list(range(10))
    assert take(ShardedStreamSampler(10, seed=3), 25) == take(ShardedStreamSampler(10, seed=3), 25)
    assert take(ShardedStreamSampler(10, seed=4), 10) != first_pass


def test_a_resumed_stream_continues_exactly():
    whole = take(ShardedStreamSampler(7, seed=0), 30)
    assert take(ShardedStreamSampler(7, seed=0, start=12), 18) == whole[12:]


def test_ranks_read_disjoint_shards_of_one_stream():
    whole = take(ShardedStreamSampler(12, seed=1), 12)
    rank0 = take(ShardedStreamSampler(12, seed=1, rank=0, world_size=2), 6)
    rank1 = take(ShardedStreamSampler(12, seed=1, rank=1, world_size=2), 6)
    assert rank0 == whole[0::2] and rank1 == whole[1::2]
    assert set(rank0).isdisjoint(rank1)
    assert shard(range(5), 1, 2) == [1, 3]


def test_pad_to_repeats_edges():
    image = torch.arange(6, dtype=torch.uint8).view(1, 2, 3)
    padded = pad_to(image, 3, 4)
    assert padded.shape == (1, 3, 4)
    assert padded[0, 2].tolist() == [3, 4, 5, 5] and padded[0, :, 3].tolist() == [2, 5, 5]


def test_collate_pads_mixed_sizes_and_drops_unreadable_items():
    items = [
        {"image": torch.zeros(3, 4, 6, dtype=torch.uint8), "path": "a", "unreadable": []},
        {"image": None, "path": "b", "unreadable": [("b", "empty file")]},
        {
            "image": torch.zeros(3, 7, 2, dtype=torch.uint8),
            "path": "c",
            "unreadable": [("x", "truncated")],
        },
    ]
    batch = collate_pages(items)
    assert batch["pages"].shape == (2, 3, 7, 6)
    assert batch["sizes"].tolist() == [[4, 6], [7, 2]]
    assert batch["paths"] == ["a", "c"] and batch["unreadable"] == [
        ("b", "empty file"),
        ("x", "truncated"),
    ]
    empty = collate_pages([items[1]])
    assert empty["pages"].shape[0] == 0 and empty["unreadable"] == [("b", "empty file")]


def test_training_dataset_replaces_a_bad_page_and_reports_it(tmp_path):
    from PIL import Image

    (tmp_path / "0.png").write_bytes(b"")
    Image.new("RGB", (5, 4), "red").save(tmp_path / "1.png")
    paths = [tmp_path / "0.png", tmp_path / "1.png"]
    item = PageDataset(paths, replace_unreadable=True)[0]
    assert item["image"].shape == (3, 4, 5) and item["path"].endswith("1.png")
    [(bad_path, reason)] = item["unreadable"]
    assert bad_path == str(paths[0]) and reason.startswith("empty file")
    skipped = PageDataset(paths, replace_unreadable=False)[0]
    assert skipped["image"] is None and skipped["unreadable"][0][0] == str(paths[0])


def test_page_loader_keeps_path_order_and_reports_unreadable_pages(tmp_path):
    from PIL import Image

    from mangacolor.data.pages import page_loader

    paths = []
    for i in range(3):
        Image.new("RGB", (4 + i, 3), "blue").save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    (tmp_path / "bad.png").write_bytes(b"")
    paths.insert(1, tmp_path / "bad.png")
    batches = list(page_loader(paths, batch_size=2, num_workers=0, max_pixels=10_000))
    assert [p for b in batches for p in b["paths"]] == [str(paths[i]) for i in (0, 2, 3)]
    assert [p for b in batches for p, _ in b["unreadable"]] == [str(tmp_path / "bad.png")]
