"""Two-process DDP on the CPU (gloo) through the console script: shards, one run folder, resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.cli import TESTS, run_cli
from helpers.pages import make_pages

from mangacolor.data.pages import ShardedStreamSampler
from mangacolor.runtime.checkpoint_io import safe_torch_load

TRAIN_PAGES = 16  # 4 iterations x batch 2 x 2 ranks: one pass over the pages per run


def ddp_run(folders: tuple[Path, Path], output: Path, probe: Path, *extra: str):
    train, val = folders
    args = [
        "mangacolor-train",
        "+debug=tiny",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "++trainer.enable_progress_bar=false",
        "logger=csv",
        f"data.train_dir={train}",
        f"data.val_dir={val}",
        f"paths.output_dir={output}",
        "+callbacks.rank_probe._target_=helpers.ddp_probe.RankProbe",
        f"+callbacks.rank_probe.dirpath={probe}",
        "+callbacks.rank_probe.run_dir=${paths.run_dir}",
        *extra,
    ]
    # tests/ for the probe, before what the tests inherited (a worktree's src/ must stay the code that runs).
    python_path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    result = run_cli(
        args, cwd=output.parent, env={"PYTHONPATH": python_path, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in (0, 1)]
    return result, ranks


def expected_names(pages: list[Path], rank: int, start: int, count: int) -> list[str]:
    """The pages the sharded stream gives `rank` (seed 0, 2 ranks), from sample `start` on."""
    stream = iter(ShardedStreamSampler(len(pages), seed=0, rank=rank, world_size=2, start=start))
    return [pages[next(stream)].name for _ in range(count)]


def only_run_folder(output: Path) -> Path:
    runs = list((output / "runs").iterdir())
    assert len(runs) == 1, f"one run folder expected, found {runs}"
    return runs[0]


def test_two_cpu_processes_shard_pages_share_one_run_folder_and_resume(tmp_path):
    train, val = tmp_path / "pages" / "train", tmp_path / "pages" / "val"
    pages = sorted(make_pages(train, TRAIN_PAGES, (48, 40), seed=1))
    make_pages(val, 4, (44, 44), seed=2)
    # Sorted first, so validation's shards give one to each rank: each rank alone knows its own.
    (val / "bad_a.png").write_text("not an image")
    (val / "bad_b.png").write_bytes(b"")

    # ---- first run: 4 iterations on 2 ranks ----
    first_out = tmp_path / "first"
    result, ranks = ddp_run((train, val), first_out, tmp_path / "probe1")
    run_dir = only_run_folder(first_out)
    seen = [[Path(p).name for p in rank["paths"]] for rank in ranks]
    for r in (0, 1):
        assert ranks[r]["world_size"] == 2 and ranks[r]["iteration"] == 4
        assert seen[r] == expected_names(pages, r, start=0, count=8)
        assert (
            Path(ranks[r]["run_dir"]).resolve() == run_dir.resolve()
        )  # Hydra's ${now:} folder, once
    assert not set(seen[0]) & set(seen[1]), "the ranks trained on overlapping pages"
    assert sorted(seen[0] + seen[1]) == sorted(p.name for p in pages)
    # Gradients averaged: both ranks end with the same weights; metrics are reduced over ranks.
    assert ranks[0]["weights_sum"] == pytest.approx(ranks[1]["weights_sum"], rel=1e-9)
    assert ranks[0]["train_scalars"] == pytest.approx(ranks[1]["train_scalars"])
    # One validation batch of 2 per rank, one page of each unreadable: 1 + 1 images, summed.
    assert ranks[0]["val_scalars"]["val/images"] == 2
    assert "2 unreadable pages skipped" in result.stdout  # one met by each rank, both reported

    checkpoints = run_dir / "checkpoints"
    assert {p.name for p in checkpoints.iterdir()} >= {
        "last.ckpt",
        "iter_0000002.ckpt",
        "iter_0000004.ckpt",
        "generator.pt",
    }
    assert {p.parent for p in first_out.rglob("*.ckpt")} == {
        checkpoints
    }  # one set, in the one folder
    assert safe_torch_load(checkpoints / "last.ckpt")["mangacolor"]["iteration"] == 4

    # ---- resumed run: continues both ranks' page streams to iteration 8 ----
    second_out = tmp_path / "second"
    _, ranks = ddp_run(
        (train, val),
        second_out,
        tmp_path / "probe2",
        f"ckpt_path={checkpoints / 'last.ckpt'}",
        "train.iterations=8",
    )
    resumed_dir = only_run_folder(second_out)
    for r in (0, 1):
        assert ranks[r]["iteration"] == 8
        assert [Path(p).name for p in ranks[r]["paths"]] == expected_names(
            pages, r, start=8, count=8
        )
    assert ranks[0]["weights_sum"] == pytest.approx(ranks[1]["weights_sum"], rel=1e-9)
    assert (
        safe_torch_load(resumed_dir / "checkpoints" / "last.ckpt")["mangacolor"]["iteration"] == 8
    )


@pytest.mark.slow
def test_two_cpu_processes_train_with_every_training_trick_on(tmp_path):
    """The average of G is in no gradient all-reduce (requires_grad False) and spectral norm's vectors
    are buffers: with both, and the warm-up and ramp, the ranks still end with the same weights."""
    train, val = tmp_path / "pages" / "train", tmp_path / "pages" / "val"
    make_pages(train, TRAIN_PAGES, (48, 40), seed=1)
    make_pages(val, 4, (44, 44), seed=2)
    _, ranks = ddp_run(
        (train, val),
        tmp_path / "out",
        tmp_path / "probe",
        "model.ema.decay=0.5",
        "model.discriminator.spectral_norm=true",
        "model.adversarial.warmup_fraction=0.25",
        "model.adversarial.ramp_fraction=0.25",
    )
    assert ranks[0]["iteration"] == ranks[1]["iteration"] == 4
    assert ranks[0]["weights_sum"] == pytest.approx(
        ranks[1]["weights_sum"], rel=1e-9
    )  # G, D and the average
    exported = safe_torch_load(only_run_folder(tmp_path / "out") / "checkpoints" / "generator.pt")
    assert exported["averaged"] is True
