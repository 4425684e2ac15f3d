"""data.decode_on_device: plain JPEG pages decoded on the device give the batches worker decoding
gives."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch
from helpers.hostile_files import (
    BLUE,
    GREEN,
    RED,
    WHITE,
    jpeg_bytes,
    make_hostile_folder,
    noisy_jpeg,
    save,
    two_tone,
)
from helpers.pages import draw_page
from lightning.fabric.utilities.apply_func import move_data_to_device
from PIL import Image
from torch.utils.data import DataLoader

from mangacolor.data import device_decode
from mangacolor.data.datamodule import PagesDataModule
from mangacolor.data.encoded_jpegs import EncodedJpeg, decodes_on_device_as_is
from mangacolor.data.files import decode_image, read_image
from mangacolor.data.pages import PageDataset, collate_pages, pad_and_stack, pad_to

# Which pages of `mixed_folder` the device decodes; the workers decode the others.
DEVICE_DECODED = {"colour.jpg", "greyscale.jpg", "progressive.jpg"}


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """One page of each kind, of different sizes, so the batch needs padding."""
    folder = tmp_path / "pages"
    draw_page(folder / "colour.jpg", (48, 40), seed=1)
    save(folder, "greyscale.jpg", jpeg_bytes(two_tone(32, 20, 40, 200, "L")))
    save(folder, "progressive.jpg", jpeg_bytes(two_tone(36, 52, GREEN, BLUE), progressive=True))
    draw_page(folder / "drawing.png", (44, 30), seed=2)
    save(folder, "cmyk.jpg", jpeg_bytes(two_tone(32, 16, RED, BLUE).convert("CMYK")))
    # Stored 48 x 24 with a red block top-left; EXIF orientation 6 shows it 24 x 48, block top
    # right.
    stored = Image.new("RGB", (48, 24), WHITE)
    stored.paste(RED, (0, 0, 16, 16))
    exif = Image.Exif()
    exif[0x0112] = 6
    save(folder, "rotated.jpg", jpeg_bytes(stored, exif=exif.tobytes()))
    return folder


def datamodule(folder: Path, decode_on_device: bool, batch_size: int = 6) -> PagesDataModule:
    dm = PagesDataModule(
        train_dir=str(folder),
        val_dir=str(folder),
        size=16,
        window=32,
        batch_size=batch_size,
        num_workers=0,
        colourful_draws=2,
        decode_on_device=decode_on_device,
    )
    dm.setup("fit")
    return dm


def first_batches(loader: DataLoader, count: int) -> list[dict]:
    iterator = iter(loader)
    return [next(iterator) for _ in range(count)]


def assert_same_batch(finished: dict, expected: dict) -> None:
    assert finished["paths"] == expected["paths"]
    assert torch.equal(finished["sizes"], expected["sizes"])
    assert torch.equal(finished["pages"], expected["pages"])


def test_padding_a_padded_batch_further_pads_each_page_as_if_alone():
    """What lets worker-decoded pages join device-decoded ones without their own sizes on the
    host."""
    small, large = (
        torch.arange(6, dtype=torch.uint8).view(1, 2, 3),
        torch.arange(20, dtype=torch.uint8).view(1, 4, 5),
    )
    batch, _ = pad_and_stack([small, large])
    assert torch.equal(pad_to(batch, 6, 7), torch.stack([pad_to(small, 6, 7), pad_to(large, 6, 7)]))


def test_the_device_gets_plain_jpegs_only(mixed_folder):
    chosen = {
        path.name
        for path in sorted(mixed_folder.iterdir())
        if decodes_on_device_as_is(path.read_bytes())
    }
    assert chosen == DEVICE_DECODED
    cut_short = (mixed_folder / "colour.jpg").read_bytes()[:-2]
    assert not decodes_on_device_as_is(cut_short)  # decode_image names its fault in the worker
    assert not decodes_on_device_as_is((mixed_folder / "colour.jpg").read_bytes(), max_pixels=100)


def test_batches_and_lab_windows_match_worker_decoding(mixed_folder):
    on_device, in_workers = (
        datamodule(mixed_folder, True, batch_size=4),
        datamodule(mixed_folder, False, batch_size=4),
    )
    pending = first_batches(on_device.train_dataloader(), 3)
    expected = first_batches(in_workers.train_dataloader(), 3)
    assert any(batch.get("jpegs") for batch in pending)
    for number, (batch, reference) in enumerate(zip(pending, expected, strict=True), start=1):
        encoded = [Path(batch["paths"][slot]).name for slot in batch.get("jpeg_slots", [])]
        assert set(encoded) <= DEVICE_DECODED and batch["pages"].shape[0] + len(encoded) == len(
            batch["paths"]
        )
        assert_same_batch(on_device.decode_pending_pages(batch), reference)
        got = on_device.to_lab_batch(batch, train=True, batch_number=number)
        want = in_workers.to_lab_batch(reference, train=True, batch_number=number)
        assert (
            torch.equal(got["L"], want["L"])
            and torch.equal(got["ab"], want["ab"])
            and got["paths"] == want["paths"]
        )
    val_batches = list(on_device.val_dataloader())  # validation takes the same path
    assert sum(len(batch.get("jpegs", [])) for batch in val_batches) == len(DEVICE_DECODED)
    for batch, reference in zip(val_batches, in_workers.val_dataloader(), strict=True):
        assert_same_batch(on_device.decode_pending_pages(batch), reference)
    assert not on_device.unreadable


def test_an_exif_rotated_jpeg_comes_out_turned(mixed_folder):
    dm = datamodule(mixed_folder, True)
    [batch] = list(dm.val_dataloader())
    finished = dm.decode_pending_pages(batch)
    index = [Path(p).name for p in finished["paths"]].index("rotated.jpg")
    assert finished["sizes"][index].tolist() == [48, 24]
    page = finished["pages"][index]
    assert page[:, 6, 18].tolist() == pytest.approx(list(RED), abs=14)  # the block, now top right
    assert page[:, 6, 4].tolist() == pytest.approx(list(WHITE), abs=14)


def damaged_past_its_header() -> bytes:
    """A JPEG whose header is fine and that ends properly, with marker bytes in the middle of its
    scan."""
    data = bytearray(noisy_jpeg())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64
    return bytes(data)


def test_a_jpeg_damaged_past_its_header_is_reported_dropped_in_validation_and_replaced_in_training(
    mixed_folder, caplog
):
    save(mixed_folder, "damaged.jpg", damaged_past_its_header())
    assert decodes_on_device_as_is(
        (mixed_folder / "damaged.jpg").read_bytes()
    )  # the worker cannot tell
    dm = datamodule(mixed_folder, True, batch_size=7)
    [batch] = list(dm.val_dataloader())
    assert "damaged.jpg" in {Path(batch["paths"][slot]).name for slot in batch["jpeg_slots"]}
    with caplog.at_level(logging.WARNING, logger="mangacolor"):
        out = dm.to_lab_batch(batch, train=False)
    damaged = str(mixed_folder / "damaged.jpg")
    assert list(dm.unreadable) == [damaged] and "damaged JPEG file" in dm.unreadable[damaged]
    assert any(damaged in record.getMessage() for record in caplog.records)
    assert out["L"].shape[0] == 6 and damaged not in out["paths"]
    assert torch.isfinite(out["L"]).all() and torch.isfinite(out["ab"]).all()
    # In training the next readable page takes its place, as a worker's replace_bad does: a
    # training batch never shrinks, nor empties (a DDP rank without a batch would hang the others).
    alone = collate_pages(
        [{"image": EncodedJpeg(damaged_past_its_header()), "path": damaged, "unreadable": []}]
    )
    out = dm.to_lab_batch(alone, train=True)
    paths = [str(path) for path in dm.train_paths]
    assert (
        out["paths"] == [paths[(paths.index(damaged) + 1) % len(paths)]] and out["L"].shape[0] == 1
    )
    assert torch.equal(
        dm.decode_pending_pages(alone, train=True)["pages"][0], read_image(out["paths"][0])
    )
    assert list(dm.unreadable) == [damaged]


@pytest.mark.parametrize("fails_on", ["lists", "everything"])
def test_when_the_batched_call_fails_each_page_is_decoded_alone(
    mixed_folder, monkeypatch, fails_on
):
    """ "lists": one bad page fails the batched call; "everything": a JPEG variant the device
    decoder lacks, so the CPU decoder of the workers takes over."""
    real_decode_jpeg = device_decode.decode_jpeg
    calls = []

    def failing_decode_jpeg(encoded, **options):
        calls.append(len(encoded))
        if fails_on == "everything" or len(encoded) > 1:
            raise RuntimeError("nvjpeg: unsupported bitstream")
        return real_decode_jpeg(encoded, **options)

    monkeypatch.setattr(device_decode, "decode_jpeg", failing_decode_jpeg)
    [batch] = list(datamodule(mixed_folder, True).val_dataloader())
    [reference] = list(datamodule(mixed_folder, False).val_dataloader())
    dm = datamodule(mixed_folder, True)
    assert_same_batch(dm.decode_pending_pages(batch), reference)
    assert calls == [3, 1, 1, 1] and not dm.unreadable


def test_encoded_pages_cross_from_workers_and_stay_on_the_host(mixed_folder):
    dataset = PageDataset(
        sorted(mixed_folder.iterdir()), replace_unreadable=False, leave_jpegs_encoded=True
    )
    loader = DataLoader(dataset, batch_size=6, num_workers=1, collate_fn=collate_pages)
    [batch] = list(loader)
    assert (
        all(isinstance(jpeg, EncodedJpeg) for jpeg in batch["jpegs"]) and len(batch["jpegs"]) == 3
    )
    moved = move_data_to_device(batch, torch.device("cpu"))
    assert all(
        after is before for after, before in zip(moved["jpegs"], batch["jpegs"], strict=True)
    )  # not walked byte by byte
    for jpeg, slot in zip(batch["jpegs"], batch["jpeg_slots"], strict=True):
        assert torch.equal(decode_image(jpeg.data), read_image(batch["paths"][slot]))


def train_tiny(run_dir: Path, folder: Path, *overrides: str) -> dict:
    from hydra import compose, initialize_config_dir

    from mangacolor.runtime.bundled import config_dir, register_resolvers
    from mangacolor.training.settings import TrainSettings
    from mangacolor.training.train import train

    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"paths.run_dir={run_dir}",
                "+debug=tiny",
                "trainer.enable_progress_bar=false",
                "trainer.enable_model_summary=false",
                f"data.train_dir={folder}",
                f"data.val_dir={folder}",
                "data.decode_on_device=true",
                *overrides,
            ],
        )
    return train(TrainSettings.from_config(cfg))


def test_training_with_decode_on_device(tmp_path, mixed_folder, monkeypatch):
    decoded_on_device = []
    real_decode_together = device_decode._decode_together

    def counting(encoded, device):
        decoded_on_device.append(len(encoded))
        return real_decode_together(encoded, device)

    monkeypatch.setattr(device_decode, "_decode_together", counting)
    results = train_tiny(tmp_path / "run", mixed_folder, "train.iterations=2", "train.val_every=2")
    assert results["iteration"] == 2 and results["unreadable"] == 0
    assert math.isfinite(results["loss/g_l1"]) and math.isfinite(results["val/ab_l1"])
    assert sum(decoded_on_device) >= 2


def test_training_at_batch_size_one_goes_past_a_damaged_jpeg(tmp_path):
    folder = tmp_path / "pages"
    for seed in range(3):
        draw_page(folder / f"page_{seed}.jpg", (40, 36), seed=seed)
    save(folder, "page_1_damaged.jpg", damaged_past_its_header())
    results = train_tiny(
        tmp_path / "run", folder, "data.batch_size=1", "train.iterations=8", "train.val_every=8"
    )
    assert (
        results["iteration"] == 8
        and results["unreadable"] == 1
        and math.isfinite(results["loss/g_l1"])
    )


def test_training_on_a_hostile_folder_with_decode_on_device_skips_each_bad_file_once(
    tmp_path, caplog
):
    hostile = make_hostile_folder(tmp_path / "hostile")
    with caplog.at_level(logging.WARNING, logger="mangacolor"):
        results = train_tiny(
            tmp_path / "run",
            hostile.folder,
            "train.val_batches=null",
            "train.val_every=4",
            "data.val_batch_size=8",
        )
    assert results["unreadable"] == len(hostile.unreadable) and math.isfinite(results["val/ab_l1"])
    messages = [
        r.getMessage() for r in caplog.records if "skipped unreadable page" in r.getMessage()
    ]
    assert len(messages) == len(hostile.unreadable)
    assert any(
        "corrupted.jpg: damaged JPEG file" in message for message in messages
    )  # found on the device


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_nvjpeg_matches_the_cpu_decoder_and_feeds_a_finite_batch(mixed_folder):
    cuda = torch.device("cuda")
    names = sorted(DEVICE_DECODED)
    jpegs = [EncodedJpeg((mixed_folder / name).read_bytes()) for name in names]
    on_gpu = device_decode._decode_together(
        [jpeg.as_tensor() for jpeg in jpegs], cuda
    )  # one nvJPEG call, no fallback
    for name, jpeg, page in zip(names, jpegs, on_gpu, strict=True):
        assert isinstance(page, torch.Tensor) and page.device.type == "cuda", (name, page)
        on_cpu = decode_image(jpeg.data, name)
        assert page.shape == on_cpu.shape, name
        # nvJPEG's IDCT and upsampling differ slightly from libjpeg-turbo's.
        assert (page.cpu().float() - on_cpu.float()).abs().mean() < 2, name
    dm = datamodule(mixed_folder, True)
    [batch] = first_batches(dm.train_dataloader(), 1)
    out = dm.to_lab_batch(move_data_to_device(batch, cuda), train=True, batch_number=1)
    assert out["L"].device.type == "cuda" and out["L"].shape[0] == 6
    assert torch.isfinite(out["L"]).all() and torch.isfinite(out["ab"]).all()


def test_decoding_on_the_device_keeps_torchvisions_deprecation_notices_out_of_the_log(
    mixed_folder, recwarn
):
    import warnings

    dm = datamodule(mixed_folder, True)
    [batch] = list(dm.val_dataloader())
    warnings.simplefilter("always")  # pytest's own filter hides DeprecationWarning (pyproject)
    dm.decode_pending_pages(batch)
    assert not [str(w.message) for w in recwarn]
