import pytest
import torch

from mangacolor.benchmark.host_syncs import count_host_syncs


def test_on_the_cpu_there_is_nothing_to_count():
    with count_host_syncs(torch.device("cpu")) as syncs:
        torch.ones(3).sum().item()
    assert syncs.count is None and syncs.where == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_a_gpu_each_wait_for_the_device_is_counted_with_its_line():
    x = torch.ones(1000, device="cuda")
    with count_host_syncs(x.device) as syncs:
        (x * 2).sum()  # queued: no wait
        x.sum().item()  # waits
        x.max().item()  # waits
    assert syncs.count == 2
    assert all("test_host_syncs.py" in place for place in syncs.where)
    with count_host_syncs(x.device) as quiet:
        (x + 1).mul_(3)
    assert quiet.count == 0
