"Held-out design on real images: balanced membership, copies train only on their own images; scores and their agreement."
import json, os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import memo_nb.training.loop as train_mod
from memo_nb.training.config import TrainConfig, resolved, run_data
from memo_nb.data.datasets import load_dataset
from memo_nb.analysis.scores import original_to_folder_order, compare_scores, object_scores, read_scores
from memo_nb.training.records import load_records
from conftest import memo_nb


def test_copies_train_only_on_their_images(real_dataset, tmp_path, monkeypatch):
    "On real images: every probe object is in exactly N/2 copies, and no copy ever draws an image outside its share."
    cfg = TrainConfig(setup='supervised', dataset=real_dataset, train_size=400, copies=4, subsample=0.5, probe_size=64,
                      draws=2, epochs=2, width=4, batch_size=50, lr=0.05)
    seen = []
    real = train_mod.make_batch
    def spy(group, data, augment, idx):
        seen.append([(i, ix.cpu()) for i, ix in zip(group.indices, idx)])
        return real(group, data, augment, idx)
    monkeypatch.setattr(train_mod, 'make_batch', spy)
    rec = load_records(train_mod.train_run(cfg, tmp_path/'run', progress=False))
    members = rec['train_members']
    assert members.shape == (4, 400) and (members.sum(1) == 200).all()
    assert (rec['membership'].sum(0) == 2).all() and np.array_equal(rec['membership'], members[:, rec['probe']])
    assert len(seen) == 2*4*(200//50)  # epochs x copies x steps: an epoch is one pass over the copy's own 200 images
    drawn = {i: torch.cat([ix for step in seen for j, ix in step if j == i]) for i in range(4)}
    for i, ix in drawn.items():
        assert members[i, ix.numpy()].all(), f"copy {i} trained on an image outside its share"
        assert len(ix.unique()) == 200  # and on all of its share, every epoch
    assert np.array_equal(run_data(resolved(cfg)).members.numpy(), members)  # the design is fixed by the seed


def test_bad_subsample_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r'subsample must be a number in \(0, 1\], got 0'):
        train_mod.train_run(TrainConfig(subsample=0.), tmp_path/'r', progress=False)
    with pytest.raises(ValueError, match='puts each probe object in 2 of 2 copies'):
        train_mod.train_run(TrainConfig(copies=2, subsample=0.9), tmp_path/'r', progress=False)
    assert not (tmp_path/'r').exists()


def test_original_order_maps_onto_the_cifar_tree(cifar_jpeg):
    "Scores given in an original order (labels interleaved, each class's images in file order) land on the right files."
    tree = load_dataset(f'folder:{cifar_jpeg}', 'test')
    labels = tree.labels.numpy()
    rng = np.random.default_rng(0)
    original_labels = rng.permutation(labels)  # an interleaving of the classes; the j-th image of class c is file j of c
    rank = np.zeros(len(labels), int); seen = {}
    for i, c in enumerate(original_labels): rank[i] = seen.get(c, 0); seen[c] = rank[i] + 1
    start = np.r_[0, np.cumsum(np.bincount(labels))[:-1]]
    tree_index = start[original_labels] + rank          # where original image i sits in the tree
    pixel_mean = tree.images.float().mean((1, 2, 3)).numpy()
    scores_original = pixel_mean[tree_index]            # a score that depends on the image content
    np.testing.assert_array_equal(original_to_folder_order(scores_original, original_labels), pixel_mean)


def test_compare_on_synthetic_scores(tmp_path):
    "A score file that is a monotone copy of one of a run's scores has Spearman 1 with it; the CSV and NPZ forms agree."
    from memo_nb.training.loop import train_run
    rec = load_records(train_run(TrainConfig(setup='random', dataset='digits', train_size=300, copies=4, subsample=0.5, probe_size=200,
                                             epochs=4, width=4, batch_size=50, lr=0.05), tmp_path/'run', progress=False))
    scores = object_scores(rec)
    external = np.full(1437, np.nan)
    external[scores.index] = 2*scores['mean_success'] + 1   # a monotone copy of one score
    np.savez(tmp_path/'ext.npz', scores=external)
    pd.DataFrame({'index': scores.index, 'score': external[scores.index]}).to_csv(tmp_path/'ext.csv', index=False)
    for f in ('ext.npz', 'ext.csv'):
        table = compare_scores(scores, read_scores(tmp_path/f)).set_index('score')
        assert table.loc['mean_success', 'rho'] > 0.999 and (table.n == 200).all()
        assert (table.ci_low <= table.rho).all() and (table.rho <= table.ci_high).all() and table.loc['r_in', 'rho'] < 0.999


@pytest.fixture(scope='module')
def heldout_run(tmp_path_factory, real_dataset):
    """One small held-out study read by the held-out tests: random labels and supervised training, 4 copies (each probe object in 2,
    out of 2), on the CIFAR-10 tree with the published C-scores where both are set, else on digits."""
    out = tmp_path_factory.mktemp('heldout')/'h'
    args = ['run', 'smoke', '--dataset', real_dataset, '--out', str(out), '--quiet', '-p', 'subsample=0.5', '-p', 'copies=4',
            '-p', 'setups=random,supervised', '-p', 'epochs=2']
    cscores = os.environ.get('MEMO_NB_CSCORES')
    if cscores and real_dataset.startswith('folder:'): args += ['-p', f'cscores={Path(cscores).expanduser().resolve()}']
    res = memo_nb(*args)
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_heldout_study_and_compare_command(heldout_run, real_dataset, tmp_path):
    out = heldout_run
    for name in ('fig_h1_in_out', 'fig_h2_mem_distribution', 'fig_h3_memorized', 'fig_h4_spearman', 'fig_h5_alignment_layers',
                 'fig_h6_retrieval_batches'): assert (out/f'{name}.png').exists(), name
    report = (out/'REPORT.md').read_text()
    for t in ('table_heldout', 'table_mem_agreement', 'table_reliability', 'table_alignment_score', 'table_retrieval_batches', 'table_random_label_context'):
        assert (out/f'{t}.md').read_text() in report, t
    rel = pd.read_csv(out/'table_reliability.csv')   # two copies in and two out per object: one copy a half, so these reliabilities are defined
    assert rel[rel.score.isin(['r_in', 'r_out', 'mem'])].reliability.notna().all()
    retr = pd.read_csv(out/'table_retrieval_batches.csv')
    assert set(retr['probe batch']) == {8, 32, 64} and set(retr.layer) == {'pooled'}   # smoke: 64 probe objects; classifiers have no projection
    probe = np.load(out/'train'/'random'/'probe.npz')
    assert (probe['membership'].sum(0) == 2).all()  # 4 copies: each probe object in exactly two
    claims = json.loads((out/'claims.json').read_text())  # two training copies per object: the analyses keep to them, and say so
    assert all("every setup: each object's training copies only" in c['evidence'] for c in claims), claims
    n_train = len(load_dataset(real_dataset, 'train').labels)
    np.save(tmp_path/'s.npy', np.arange(n_train, dtype=float))
    res = memo_nb('compare', str(out), str(tmp_path/'s.npy'))
    assert res.returncode == 0, res.stderr
    assert 'rho' in res.stdout and 'ci_low' in res.stdout and (out/'compare_s.csv').exists()
    table = pd.read_csv(out/'compare_s.csv')
    assert set(table.setup) == {'random', 'supervised'} and (table.n == 64).all()
    bad = memo_nb('compare', str(out), str(tmp_path/'missing.npy'))
    assert bad.returncode == 2 and 'missing.npy not found' in bad.stderr


def test_one_copy_a_side_pools_and_has_no_reliability():
    "With one training copy per object the analyses pool copies in and out of training, and reliability says why it has no halves."
    from memo_nb.analysis.heldout import analysis_records, split_half_reliability
    m = np.array([[1, 0, 1, 0], [0, 1, 0, 1]], bool)   # 2 copies, each object in exactly one
    correct = np.random.default_rng(0).integers(0, 2, (3, 2, 1, 4)).astype(bool)
    got, which = analysis_records({'correct': correct, 'membership': m})
    assert which == 'pooled' and got is correct
    r = split_half_reliability(correct[-1, :, 0].astype(float), m, 'in')
    assert np.isnan(r['reliability']) and 'fewer than 2 copies' in r['note']
    two = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], bool)   # 4 copies, each object in two
    assert analysis_records({'correct': np.zeros((3, 4, 1, 4), bool), 'membership': two})[1] == 'training'


@pytest.mark.parametrize('N, m, K', [(8, 4, 256), (6, 3, 64), (4, 2, 1000), (30, 15, 1024)])
def test_membership_design_is_balanced_and_random(N, m, K):
    "Every probe object in exactly m copies, copies within one object of each other, and nearly min(K, C(N, m)) distinct in-sets."
    from math import comb
    from memo_nb.training.config import membership_mask, distinct_in_sets
    mask = membership_mask(N, K, m, seed=0)
    assert set(mask.sum(0).tolist()) == {m} and int(mask.sum(1).max() - mask.sum(1).min()) <= 1
    # K draws from C(N, m) sets: the expected number of distinct ones, were the in-sets uniform and independent
    expected = comb(N, m)*(1 - (1 - 1/comb(N, m))**K)
    assert distinct_in_sets(mask) >= 0.9*expected, (distinct_in_sets(mask), expected)
    assert torch.equal(mask, membership_mask(N, K, m, seed=0)) and not torch.equal(mask, membership_mask(N, K, m, seed=1))


def test_heldout_report_agrees_with_published_cscores(heldout_run, cifar_jpeg, cscores_file):
    "The held-out study over the CIFAR-10 tree: the report's C-score table has supervised r_out with an interval, and memo-nb compare reads the file's own labels."
    out = heldout_run
    table = pd.read_csv(out/'table_cscore_agreement.csv')
    row = table[(table.setup == 'supervised') & (table.score == 'r_out')].iloc[0]
    assert row.n == 64 and row.ci_low < row.rho < row.ci_high and -1 <= row.ci_low and row.ci_high <= 1
    classes = pd.read_csv(out/'table_cscore_classes.csv')
    assert len(classes) == 10 and classes['mean C-score'].is_monotonic_increasing
    assert str(cscores_file.parent) not in (out/'REPORT.md').read_text()   # the report names the file, not where it lies
    res = memo_nb('compare', str(out), str(cscores_file))   # no --labels: the file's own label sequence places the scores on the tree
    assert res.returncode == 0, res.stderr[-2000:]
    direct = pd.read_csv(out/f'compare_{cscores_file.stem}.csv')
    direct = direct[(direct.setup == 'supervised') & (direct.score == 'r_out')].iloc[0]
    assert direct.n == 64 and abs(direct.rho - row.rho) < 1e-9


def test_published_cscores_land_on_the_right_tree_files(cifar_jpeg, cscores_file):
    "The published C-scores, placed by their own labels on the CIFAR-10 tree, have the class means the authors report (cat hardest, automobile easiest)."
    from memo_nb.analysis.scores import read_score_labels, in_dataset_order
    tree = load_dataset(f'folder:{cifar_jpeg}', 'train')
    scores = in_dataset_order(read_scores(cscores_file), read_score_labels(cscores_file), tree.labels.numpy())
    means = pd.Series(scores).groupby(tree.labels.numpy()).mean()
    assert tree.classes[int(means.idxmin())] == 'cat' and tree.classes[int(means.idxmax())] == 'automobile'
    assert abs(means[tree.classes.index('cat')] - 0.666) < 0.001 and abs(scores.mean() - 0.764) < 0.001
