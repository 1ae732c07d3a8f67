"Every branch of the verdict rules, on synthetic records whose truth is known."
import numpy as np
import pytest

from memo_nb.analysis.claims import (spread_statistics, claim_objects_differ, claim_supervised_widest, claim_simclr_between,
                            claim_augmentations_differ, study_claims, family_verdict, holm, position_table)
from memo_nb.analysis.spreads import simulate_bits


def records(sigma, draw_sigma=0., M=4, N=8, K=256, seed=0, p=0.3, epochs=1):
    "[epochs+1, N, M, K] records: all wrong at epoch 0, then the Beta-binomial model at mean p (the last epoch at p)."
    steps = [simulate_bits(N, M, K, p*t/epochs, sigma*t/epochs, seed=seed + t, draw_sigma=draw_sigma) for t in range(1, epochs + 1)]
    return np.stack([np.zeros_like(steps[0])] + steps)


def stats(**setups): return spread_statistics(setups, (0.25,), n_boot=100, n_perm=40, n_sim=20)


def test_no_common_level_is_inconclusive_and_names_each_setups_levels():
    st = stats(supervised=records(0.2, p=0.3), random=records(0.05, M=1, p=0.2, seed=1))   # random never passes 0.25
    c = claim_supervised_widest(st, ['supervised', 'random'])
    assert c['verdict'] == 'inconclusive'
    assert 'not comparable' in c['evidence'] and 'supervised reached p0 0.25' in c['evidence'] and 'random reached no level' in c['evidence']


def test_a_setup_that_reaches_no_level_is_read_at_its_last_epoch():
    st = stats(random=records(0.15, M=1, p=0.2))
    c = claim_objects_differ(st, ['random'])
    assert 'random at its last epoch 1 (p0 0.20)' in c['evidence'] and c['verdict'] == 'holds'


def test_a_mix_of_larger_and_unclear_is_inconclusive():
    st = stats(supervised=records(0.2), random=records(0.05, M=1, seed=1), random_aug=records(0.19, seed=2))
    c = claim_supervised_widest(st, ['supervised', 'random', 'random_aug'])
    assert c['verdict'] == 'inconclusive' and 'larger in 1 of 2 comparisons' in c['evidence'], c['evidence']


def test_claim_2_with_supervised_alone_or_absent():
    st = stats(supervised=records(0.2), simclr=records(0.1, seed=1), random=records(0.05, M=1, seed=2))
    assert claim_supervised_widest(st, ['supervised'])['evidence'] == 'supervised is the only setup of the study: nothing to compare it with.'
    assert claim_supervised_widest(st, ['simclr', 'random'])['evidence'] == 'the study has no supervised setup.'


def test_a_study_of_simclr_and_random_labels_says_why_each_claim_cannot_be_decided():
    "The `-p setups=simclr,random` study: claims 2-4 inconclusive, each with its reason."
    st = stats(simclr=records(0.2, draw_sigma=0.2), random=records(0.15, M=1, seed=1))
    c1, c2, c3, c4 = study_claims(st, ['simclr', 'random'])
    assert c1['verdict'] == 'holds'
    assert c2['evidence'] == 'the study has no supervised setup.'
    assert c3['evidence'] == 'the study has no supervised setup.'
    assert c4['verdict'] == 'inconclusive' and c4['evidence'].startswith('no other setup with several augmentation draws to compare SimCLR with.')


def test_does_not_hold_needs_a_comparison_that_survives_holm():
    assert family_verdict([{'direction': 'larger', 'p': 0.01}, {'direction': 'smaller', 'p': 0.03}, {'direction': 'unclear', 'p': 0.5}],
                          'larger', 0.05) == 'inconclusive'
    assert family_verdict([{'direction': 'larger', 'p': 0.01}, {'direction': 'smaller', 'p': 0.005}], 'larger', 0.05) == 'does not hold'
    assert holm([0.005, 0.03, 0.5]) == [True, False, False]


def test_claim_4_not_detected_names_the_smallest_detectable_spread():
    st = stats(simclr=records(0.1), supervised=records(0.1, seed=1))
    c = claim_augmentations_differ(st, ['simclr', 'supervised'], ['supervised'])
    if c['verdict'] == 'not detected': assert 'smallest detectable σ_aug' in c['evidence']
    else: assert c['verdict'] == 'inconclusive'


def test_claim_3_halves_have_their_own_verdicts():
    st = stats(simclr=records(0.03, draw_sigma=0.25, M=10), supervised=records(0.22, seed=1), random=records(0.05, M=1, seed=2))
    c = claim_simclr_between(st, ['simclr', 'supervised', 'random'])
    assert c['verdict'] == 'holds' and c['evidence'].startswith('single-draw half holds, averaged half holds'), c['evidence']


def averaged_half(simclr_sigma, seed, N=16, K=1024):
    "Claim 3's averaged-half reading of a study whose random labels have σ_obj 0.12 and supervised 0.25 (SimCLR: M = 10, σ_aug 0.25)."
    st = spread_statistics({'simclr': records(simclr_sigma, draw_sigma=0.25, M=10, N=N, K=K, seed=seed),
                            'supervised': records(0.25, N=N, K=K, seed=seed + 1), 'random': records(0.12, M=1, N=N, K=K, seed=seed + 2)},
                           (0.25,), n_boot=200, n_perm=20, n_sim=20)
    r = position_table(st, ['simclr'], kinds=('object',)).iloc[0]
    return r.reading + (f' ({r.side})' if r.reading == 'does not hold' else '')


EXPECTED = {0.02: 'does not hold (narrower than random labels)', 0.12: 'holds', 0.25: 'does not hold (nearer supervised learning than random labels)'}


@pytest.mark.parametrize('sigma', list(EXPECTED))
def test_claim_3_moves_with_simclr(sigma):
    "With the references fixed, SimCLR's σ_obj alone moves the averaged half's verdict (one seeded study each)."
    assert averaged_half(sigma, 0) == EXPECTED[sigma]


@pytest.mark.slow
@pytest.mark.parametrize('sigma', list(EXPECTED))
def test_claim_3_reads_right_in_90_percent_of_runs(sigma):
    "The acceptance check: each expected reading in at least 90% of 20 simulated studies."
    assert np.mean([averaged_half(sigma, 100*s) == EXPECTED[sigma] for s in range(20)]) >= 0.9


def test_too_few_copies_are_not_judged():
    st = stats(simclr=records(0.2, draw_sigma=0.2, N=3), supervised=records(0.3, seed=1), random=records(0.05, M=1, seed=2))
    for c in study_claims(st, ['simclr', 'supervised', 'random']):
        assert c['verdict'] == 'inconclusive' and 'too few copies to judge: simclr has 3' in c['evidence'], c
