"""Pix2Pix's fast-path switches, which mangacolor-bench's model rows time: channels_last and compile."""

from __future__ import annotations

import torch

from mangacolor.models.pix2pix import Pix2Pix


def tiny_pix2pix(**options) -> Pix2Pix:
    return Pix2Pix(
        {"depth": 5, "width": 8, "max_width": 32},
        {"channels": [8, 16], "stride1_channels": 16},
        **options,
    )


def test_channels_last_switch_lays_weights_out_nhwc():
    model = tiny_pix2pix(channels_last=True)
    model.configure_model()
    weight = model.generator.down[1][0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_compile_switch_keeps_parameter_names():
    plain = tiny_pix2pix()
    compiled = tiny_pix2pix(compile=True)
    compiled.configure_model()  # compiling is lazy: nothing runs until the first call
    assert list(compiled.state_dict()) == list(plain.state_dict())
