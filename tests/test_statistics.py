"Statistics the verdicts rest on: the latent spread recovers a known sd, its interval covers it, nulls and power behave."
import numpy as np
import pytest

from memo_nb.memorization import latent_spread, simulate_bits, detectable_sigma, augmentation_spread


@pytest.mark.parametrize('sigma', [0., 0.05, 0.1, 0.2])
def test_latent_spread_recovers_sigma(sigma):
    "The acceptance check: N=8, M=4, K=512, p=0.3 (one seeded run; coverage over many runs is the next test)."
    est = latent_spread(simulate_bits(8, 4, 512, 0.3, sigma, seed=1), pool_draws=True, n_boot=200, seed=0)
    if sigma >= 0.05: assert abs(est['sigma'] - sigma) <= 0.02, est['sigma']
    assert est['ci'][0] <= sigma <= est['ci'][1], est['ci']
    assert est['sigma'] == np.sqrt(max(est['var'], 0))


def test_interval_covers_about_95_percent():
    "Resampling objects (copies fixed) gives intervals that cover the true sd in about 95% of simulated runs."
    covered = [(lambda e: e['ci'][0] <= 0.1 <= e['ci'][1])(latent_spread(simulate_bits(8, 2, 256, 0.3, 0.1, seed=100 + s), n_boot=100, seed=s))
               for s in range(120)]
    assert 0.88 <= np.mean(covered) <= 0.99, np.mean(covered)


def test_single_draw_spread_includes_augmentation_spread():
    b = simulate_bits(8, 4, 512, 0.3, 0.1, seed=3, draw_sigma=0.15)
    pooled, single = latent_spread(b, True, n_boot=0), latent_spread(b, False, n_boot=0)
    assert abs(single['sigma'] - np.sqrt(0.1**2 + 0.15**2)) < 0.03 and pooled['sigma'] < single['sigma']
    assert abs(augmentation_spread(b, n_boot=0, n_perm=20)['sigma'] - 0.15) < 0.03


def test_power_grows_with_copies_and_objects():
    small, large = detectable_sigma(8, 1, 256, 0.3, n_sim=30), detectable_sigma(30, 1, 1024, 0.3, n_sim=30)
    assert large < small < 0.2, (small, large)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r'one epoch'): latent_spread(np.zeros((2, 8, 4, 10, 2), bool))
    with pytest.raises(ValueError, match=r'at least 2 copies'): latent_spread(np.zeros((1, 4, 10), bool))
