"""The validation grid shows the B&W page the model saw, and generator.pt records a full-colour model."""

import lightning as L
import numpy as np
import torch
from PIL import Image

from mangacolor.callbacks.checkpoints import IterationCheckpoint
from mangacolor.callbacks.image_grid import ValidationImageGrid
from mangacolor.color import lightness_as_rgb, rgb_to_scaled_lab, unit_to_uint8
from mangacolor.inference.generator_file import load_generator
from mangacolor.models.pix2pix import Pix2Pix

TINY_G = dict(depth=5, width=8, max_width=16)
TINY_D = dict(channels=[8, 16], stride1_channels=16)


def ink_batch(count: int = 2) -> dict:
    lightness, ab = rgb_to_scaled_lab(
        torch.rand(count, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    )
    return {
        "L": lightness,
        "ab": ab,
        "input": torch.where(lightness > 0, 1.0, -1.0),
        "style": ["screentone"] * count,
        "paths": ["p"] * count,
    }


def test_the_validation_grid_s_first_row_is_the_input_page(tmp_path):
    model = Pix2Pix(TINY_G, TINY_D, predicts="lab")
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[ValidationImageGrid(str(tmp_path))],
    )
    batch = ink_batch()
    trainer.validate(model, torch.utils.data.DataLoader([batch], batch_size=None), verbose=False)
    grid = torch.from_numpy(np.asarray(Image.open(tmp_path / "val_0000000.png"))).permute(2, 0, 1)
    assert grid.shape == (3, 2 + 3 * 34, 2 + 2 * 34)  # three rows: input, truth, prediction
    first = grid[:, 2:34, 2:34]
    assert torch.equal(
        first, unit_to_uint8(lightness_as_rgb(batch["input"])[0])
    )  # ink and paper, not the page's L
    assert not torch.equal(first, unit_to_uint8(lightness_as_rgb(batch["L"])[0]))


class Forever(torch.utils.data.IterableDataset):
    def __iter__(self):
        batch = ink_batch()
        while True:
            yield batch


def test_training_exports_a_full_colour_generator_that_says_so(tmp_path):
    torch.manual_seed(0)
    model = Pix2Pix(TINY_G, TINY_D, iterations=2, predicts="lab")
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
        callbacks=[IterationCheckpoint(str(tmp_path), every_n_iterations=2)],
    )
    trainer.fit(model, torch.utils.data.DataLoader(Forever(), batch_size=None))
    for name in ("generator.pt", "last.ckpt"):
        generator, config = load_generator(tmp_path / name)
        assert generator.predicts == "lab" and config["out_channels"] == 3, name
        for exported, trained in zip(
            generator.state_dict().values(), model.generator.state_dict().values(), strict=True
        ):
            assert torch.equal(exported, trained)
    assert torch.load(tmp_path / "generator.pt", weights_only=True)["predicts"] == "lab"
