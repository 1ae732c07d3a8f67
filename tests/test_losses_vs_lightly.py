"Our contrastive and self-supervised losses against an independent implementation, lightly's, on random inputs (values and gradients)."
import pytest
import torch

from memo_nb.methods.losses import nt_xent
from memo_nb.methods.ssl_methods import simsiam_loss, byol_loss, barlow_twins_loss, vicreg_loss

lightly_loss = pytest.importorskip('lightly.loss', reason='lightly is a test dependency: pip install -e ".[dev]"')


def views(seed:int, B:int=64, d:int=32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, d, generator=g, dtype=torch.float64).float().requires_grad_() for _ in range(4)]


def assert_same(ours, theirs, inputs):
    "Equal values and equal gradients with respect to every input, to 1e-5."
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5, abs=1e-5)
    g1 = torch.autograd.grad(ours, inputs, retain_graph=True, allow_unused=True)
    g2 = torch.autograd.grad(theirs, inputs, allow_unused=True)
    for a, b in zip(g1, g2):
        if a is None or b is None: assert a is None and b is None; continue
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('temperature', [0.1, 0.5])
def test_nt_xent_is_lightlys(seed, temperature):
    z1, z2, *_ = views(seed)
    assert_same(nt_xent(z1, z2, temperature), lightly_loss.NTXentLoss(temperature=temperature)(z1, z2), [z1, z2])


@pytest.mark.parametrize('seed', [0, 1])
def test_simsiam_is_lightlys_negative_cosine(seed):
    p1, p2, z1, z2 = views(seed)
    crit = lightly_loss.NegativeCosineSimilarity()
    assert_same(simsiam_loss(p1, p2, z1, z2), 0.5*(crit(p1, z2.detach()) + crit(p2, z1.detach())), [p1, p2, z1, z2])


@pytest.mark.parametrize('seed', [0, 1])
def test_byol_is_2_minus_2_cos_of_lightlys_negative_cosine(seed):
    "BYOL's loss in its paper's form, (2 - 2 cos) per view pair: 4 + 2 x the sum of lightly's two negative cosines."
    p1, p2, t1, t2 = views(seed)
    crit = lightly_loss.NegativeCosineSimilarity()
    assert_same(byol_loss(p1, p2, t1, t2), 4 + 2*(crit(p1, t2.detach()) + crit(p2, t1.detach())), [p1, p2, t1, t2])


@pytest.mark.parametrize('seed', [0, 1])
def test_barlow_twins_is_lightlys_at_its_scale_and_lambda(seed):
    "Ours multiplies the loss by `scale` (0.1, the official code's scale-loss for small batches) and uses λ = 0.0051; at scale 1 and lightly's λ they agree."
    z1, z2, *_ = views(seed)
    assert_same(barlow_twins_loss(z1, z2, lambd=0.005, scale=1.0), lightly_loss.BarlowTwinsLoss(lambda_param=0.005)(z1, z2), [z1, z2])


@pytest.mark.parametrize('seed', [0, 1])
def test_vicreg_is_lightlys_with_its_variance_weight(seed):
    "Ours sums both views' variance terms, as the paper's equation (μ = 25); lightly and the official code average them, which is var = 12.5 here."
    z1, z2, *_ = views(seed)
    theirs = lightly_loss.VICRegLoss(lambda_param=25.0, mu_param=25.0, nu_param=1.0)(z1, z2)
    assert_same(vicreg_loss(z1, z2, sim=25.0, var=12.5, cov=1.0), theirs, [z1, z2])
    assert vicreg_loss(z1, z2).item() != pytest.approx(theirs.item(), rel=1e-3)   # the documented difference is real
