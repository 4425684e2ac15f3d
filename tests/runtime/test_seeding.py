from mangacolor.runtime.seeding import DROPOUT_STREAM, step_seed


def test_step_seeds_differ_for_every_part_and_fit_in_63_bits():
    seeds = {
        step_seed(seed, rank, step, stream)
        for seed in (0, 1)
        for rank in (0, 1, 7)
        for step in (0, 1, 10**6)
        for stream in (0, DROPOUT_STREAM)
    }
    assert len(seeds) == 2 * 3 * 3 * 2
    assert all(0 <= s < 2**63 for s in seeds)
    assert step_seed(2**62, 5, 10**9, 3) < 2**63
