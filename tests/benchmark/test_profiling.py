"""mangacolor.benchmark.profiling and timers: where a profiled step's time goes, from torch.profiler's
events (faked here, so the CUDA path is tested without a GPU), and nothing left running after a failure."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from mangacolor.benchmark import profiling, timers


@pytest.mark.parametrize(
    "name, category",
    [
        ("sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc", "convolution"),
        ("void cutlass::Kernel2<cutlass_80_wmma_tensorop_bf16_s161616gemm>", "convolution"),
        ("aten::convolution_backward", "convolution"),
        ("aten::cudnn_convolution_transpose", "convolution"),  # not a copy for its "transpose"
        ("cudnn::bn_fw_tr_1C11_kernel_NCHW<__nv_bfloat16, float>", "normalisation"),
        ("void at::native::batch_norm_collect_statistics_kernel<float>", "normalisation"),
        ("triton_red_fused__native_batch_norm_legit_functional_1", "normalisation"),
        ("void cudnn::engines_precompiled::nchwToNhwcKernel<__nv_bfloat16>", "copies"),
        ("Memcpy HtoD (Pinned -> Device)", "copies"),
        ("void at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)", "copies"),
        ("void at::native::vectorized_elementwise_kernel<4, leaky_relu_kernel>", "elementwise"),
        (
            "triton_poi_fused_convolution_leaky_relu_0",
            "elementwise",
        ),  # Inductor's epilogue, not the conv
        ("void at::native::multi_tensor_apply_kernel<FusedAdamMathFunctor<float, 4>>", "optimizer"),
        ("aten::empty", "other"),
    ],
)
def test_categories_from_kernel_and_operator_names(name, category):
    assert profiling.categorise(name) == category


def test_busy_time_counts_overlapping_kernels_once():
    assert profiling.union_length([(0, 10, "a"), (5, 12, "b"), (20, 25, "c"), (21, 22, "d")]) == 17
    assert profiling.union_length([]) == 0


def fake_event(name, device_type, start=0.0, end=0.0, id=0, linked=0, parent=None, self_cpu=0.0):
    """What torch.profiler's events offer the breakdown: enough to test the CUDA path without a GPU."""
    return SimpleNamespace(
        name=name,
        device_type=device_type,
        time_range=SimpleNamespace(start=start, end=end),
        id=id,
        linked_correlation_id=linked,
        cpu_parent=parent,
        self_cpu_time_total=self_cpu,
        is_user_annotation=False,
    )


def test_gpu_breakdown_from_device_events_with_optimizer_kernels_found_by_their_launching_op():
    from torch.autograd import DeviceType

    step = fake_event("Optimizer.step#Adam.step", DeviceType.CPU, id=1)
    foreach = fake_event("aten::_foreach_add_", DeviceType.CPU, id=2, parent=step)
    mul_in_step = fake_event("aten::mul_", DeviceType.CPU, id=3, parent=step)
    conv = fake_event("aten::cudnn_convolution", DeviceType.CPU, id=4)
    events = [
        step,
        foreach,
        mul_in_step,
        conv,
        fake_event("sm90_xmma_fprop_implicit_gemm", DeviceType.CUDA, 0, 600, id=100, linked=4),
        fake_event(
            "vectorized_elementwise_kernel<mul>", DeviceType.CUDA, 600, 700, id=101, linked=3
        ),
        fake_event("multi_tensor_apply_kernel", DeviceType.CUDA, 700, 800, id=102, linked=2),
        fake_event("Memcpy DtoD", DeviceType.CUDA, 750, 1000, id=103),
    ]  # overlaps: a second stream
    summary = profiling.summarise(
        events, wall_seconds=2000e-6, iterations=2, device=torch.device("cuda")
    )
    assert summary["busy_fraction"] == pytest.approx(1000 / 2000)  # the union, not the sum (1050)
    assert (
        summary["busy_ms_per_iteration"] == pytest.approx(0.5)
        and summary["wall_ms_per_iteration"] == 1.0
    )
    shares = summary["shares"]
    assert shares["convolution"] == pytest.approx(600 / 1050) and shares["copies"] == pytest.approx(
        250 / 1050
    )
    assert shares["optimizer"] == pytest.approx(
        200 / 1050
    )  # the mul launched inside Optimizer.step too
    assert shares["elementwise"] == 0 and sum(shares.values()) == pytest.approx(1.0)
    assert summary["top"][0] == [
        "sm90_xmma_fprop_implicit_gemm",
        pytest.approx(600 / 1050, abs=1e-4),
    ]


def test_gpu_breakdown_without_links_falls_back_to_kernel_names():
    from torch.autograd import DeviceType

    events = [
        fake_event("Optimizer.step#Adam.step", DeviceType.CPU, id=0),
        fake_event("multi_tensor_apply_kernel<FusedAdam>", DeviceType.CUDA, 0, 10, id=5),
        fake_event("vectorized_elementwise_kernel<mul>", DeviceType.CUDA, 10, 30, id=6),
    ]
    shares = profiling.summarise(events, 30e-6, 1, torch.device("cuda"))["shares"]
    assert shares["optimizer"] == pytest.approx(1 / 3) and shares["elementwise"] == pytest.approx(
        2 / 3
    )


def test_a_fit_that_raises_leaves_no_profiler_or_sync_counting_running():
    module = SimpleNamespace(iteration=1)
    counter = timers.HostSyncCounter(iteration=2, device=torch.device("cpu"))
    counter.on_train_batch_start(None, module, None, 0)
    assert counter._counting is not None
    counter.on_exception(None, module, torch.OutOfMemoryError("out of memory"))
    assert counter._counting is None

    profiler = profiling.StepProfiler(start=1, iterations=3, device=torch.device("cpu"))
    profiler.on_train_batch_end(None, module, None, None, 0)  # iteration 1: recording starts
    assert profiler.profiler is not None
    profiler.on_exception(None, module, torch.OutOfMemoryError("out of memory"))
    assert profiler.profiler is None and torch.autograd.profiler._is_profiler_enabled is False
