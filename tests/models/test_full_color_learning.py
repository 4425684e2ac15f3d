"""Learning check: a tiny full-colour model learns to colour white paper that was colour on the page.

On a B&W page (here: line art, ink outlines on white) the areas that were coloured are paper white:
L = 100 holds no chroma, so a model that keeps the page's L and predicts ab can only leave them
white. A full-colour model predicts L too, and must tell white paper that stays white (outside the
outline) from white paper that was coloured (inside) by the ink around it.
"""

from __future__ import annotations

import lightning as L
import torch

from mangacolor.color import lightness_preserving_rgb, rgb_to_scaled_lab, scaled_lab_to_rgb
from mangacolor.metrics import delta_e_2000
from mangacolor.models.pix2pix import Pix2Pix, cie_lab

SIZE = 32
FILL = (0.9, 0.45, 0.25)  # an orange skin-like tone: L about 63, chroma about 60


def line_art_pages(count: int, generator: torch.Generator) -> tuple[dict, torch.Tensor]:
    """Colour pages of one outlined, filled rectangle each, at random places and sizes, and their
    B&W input: the ink outline on white. Returns the batch and where the fill is (count, 1, S, S)."""
    rgb = torch.ones(count, 3, SIZE, SIZE)
    inside = torch.zeros(count, 1, SIZE, SIZE, dtype=torch.bool)
    for i in range(count):
        height, width = (int(v) for v in torch.randint(10, 22, (2,), generator=generator))
        top, left = (int(v) for v in torch.randint(1, SIZE - 21, (2,), generator=generator))
        rgb[i, :, top:top + height, left:left + width] = 0.0  # ink, 2 px wide once filled
        rgb[i, :, top + 2:top + height - 2, left + 2:left + width - 2] = torch.tensor(FILL).view(3, 1, 1)
        inside[i, :, top + 2:top + height - 2, left + 2:left + width - 2] = True
    lightness, ab = rgb_to_scaled_lab(rgb)
    line_art = torch.where(inside, 1.0, lightness)  # the fill becomes paper white
    return {"L": lightness, "ab": ab, "input": line_art, "style": ["lines"] * count}, inside


class LineArtStream(torch.utils.data.IterableDataset):
    def __iter__(self):
        generator = torch.Generator().manual_seed(0)
        while True:
            yield line_art_pages(8, generator)[0]


def test_a_full_colour_model_colours_paper_white_regions_from_the_ink_around_them():
    torch.manual_seed(0)
    model = Pix2Pix(dict(depth=5, width=16, max_width=64), dict(channels=[16, 32], stride1_channels=32),
                    lr_g=2e-3, iterations=150, log_every=150, predicts="lab")
    trainer = L.Trainer(accelerator="cpu", max_epochs=-1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, torch.utils.data.DataLoader(LineArtStream(), batch_size=None))

    batch, inside = line_art_pages(16, torch.Generator().manual_seed(99))  # pages it never saw
    paper = batch["L"] > 0.99  # white in the truth too
    with torch.no_grad():
        fake = model.generator.eval()(batch["input"])
    true_lab = cie_lab(batch["L"], batch["ab"])
    predicted_lab = cie_lab(*rgb_to_scaled_lab(scaled_lab_to_rgb(fake[:, :1], fake[:, 1:])))
    line_art_lab = cie_lab(batch["input"], torch.zeros_like(batch["ab"]))
    error = delta_e_2000(predicted_lab, true_lab)[:, None]
    line_art_error = delta_e_2000(line_art_lab, true_lab)[:, None]

    def chroma(lab: torch.Tensor) -> torch.Tensor:
        return lab[:, 1:].norm(dim=1, keepdim=True)

    assert error[inside].mean() < 0.3 * line_art_error[inside].mean()  # about 37 for the white page
    assert chroma(predicted_lab)[inside].mean() > 0.5 * chroma(true_lab)[inside].mean()
    assert error[paper].mean() < 5.0  # white paper outside the outline stays white
    # Its ab alone, on the page's own L as an ab model's would be shown, leaves that paper white.
    kept_lightness = cie_lab(*rgb_to_scaled_lab(lightness_preserving_rgb(batch["input"], fake[:, 1:])))
    assert chroma(kept_lightness)[inside].mean() < 1.0
