"Training engine: resumable, deterministic, independent copies, clear errors."
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from memo_nb.data.augment import normalize
from memo_nb.data.datasets import load_dataset, balanced_indices
from memo_nb.methods.setups import get_setup
from memo_nb.training.config import TrainConfig, resolved
from memo_nb.training.copies import CopyGroup
from memo_nb.training.records import load_records
from memo_nb.training.loop import train_epoch, train_run

# deterministic: bit-exact comparisons hold on CUDA too (cudnn picks fixed algorithms); no effect on CPU
TINY = dict(dataset='digits', train_size=256, copies=2, probe_size=64, draws=2, epochs=3, width=4, batch_size=32, probe_batch=32,
            deterministic=True)


def weights(run, i): return torch.load(Path(run)/'weights'/f'copy_{i:02d}.pt', weights_only=True)


@pytest.mark.parametrize('setup, lr', [('simclr', 1e-3), ('supervised', 0.05), ('byol', 0.05),   # a classifier, SimCLR, a target network
                                       pytest.param('random', 0.05, marks=pytest.mark.slow), pytest.param('vicreg', 1e-3, marks=pytest.mark.slow)])
def test_resumed_run_equals_uninterrupted(tmp_path, setup, lr):
    "Stopping after epoch 1 and resuming gives the records and weights of an uninterrupted run (BYOL: its target network is resumed too)." 
    cfg = TrainConfig(setup=setup, lr=lr, **TINY)
    whole = train_run(cfg, tmp_path/'whole', progress=False)
    part = train_run(cfg, tmp_path/'part', progress=False, stop_after=1)
    assert (part/'state.pt').exists() and not (part/'weights').exists()
    assert len(list((part/'records').glob('*.npz'))) == 2
    train_run(cfg, part, progress=False)  # resumes at epoch 2
    a, b = load_records(whole), load_records(part)
    for k in ('correct', 'p_true', 'loss', 'acc', 'embedding_std'):
        if k in a or k in b: np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert ('embedding_std' in a) == get_setup(setup).objective.self_supervised
    for i in range(2):
        for k, v in weights(whole, i).items(): assert torch.equal(v, weights(part, i)[k]), k
    assert not (part/'state.pt').exists()


@pytest.mark.parametrize('setup, field, own, other', [('barlow_twins', 'off_diagonal', 0.0051, 0.05), ('byol', 'target_momentum', 0.99, 0.5)])
def test_a_method_setting_left_unset_trains_the_methods_own_value(tmp_path, setup, field, own, other):
    "Unset, a method setting trains the records of the method's own value written out; another value trains other records, and the registered method keeps its own."
    base = dict(setup=setup, lr=1e-3, **{**TINY, 'epochs': 2})
    unset, written, changed = (load_records(train_run(TrainConfig(**base, **kw), tmp_path/name, progress=False))
                               for name, kw in (('unset', {}), ('written', {'method_settings': {field: own}}), ('changed', {'method_settings': {field: other}})))
    for k in ('correct', 'p_true', 'loss', 'embedding_std'): np.testing.assert_array_equal(unset[k], written[k], err_msg=k)
    assert not np.array_equal(unset['loss'][1:], changed['loss'][1:])
    assert getattr(get_setup(setup).objective, get_setup(setup).objective.settings[field].attribute) == own


def test_record_shapes_and_probe(tmp_path):
    rec = load_records(train_run(TrainConfig(setup='simclr', lr=1e-3, **TINY), tmp_path/'r', progress=False))
    assert rec['correct'].shape == (4, 2, 2, 64, 2) and rec['correct'].dtype == bool
    assert rec['p_true'].shape == (4, 2, 2, 64, 2)
    assert len(np.unique(rec['probe'])) == 64
    assert np.bincount(rec['probe_true_labels']).min() >= 6  # class-balanced
    # the same draws for every copy and epoch: untrained copies differ, so their bits differ, but the probe is fixed
    again = load_records(train_run(TrainConfig(setup='simclr', lr=1e-3, **TINY), tmp_path/'r2', progress=False))
    np.testing.assert_array_equal(rec['correct'], again['correct'])  # same seeds, same records


def test_copies_do_not_depend_on_each_other(tmp_path):
    # one at a time (a vmapped group, CUDA's default, matches only within float tolerance: see the tests below)
    one = train_run(TrainConfig(setup='supervised', lr=0.05, concurrent=1, **{**TINY, 'copies': 1}), tmp_path/'one', progress=False)
    two = train_run(TrainConfig(setup='supervised', lr=0.05, concurrent=1, **TINY), tmp_path/'two', progress=False)
    for k, v in weights(one, 0).items(): assert torch.equal(v, weights(two, 0)[k]), k
    assert not torch.equal(weights(two, 0)['head.weight'], weights(two, 1)['head.weight'])
    np.testing.assert_array_equal(load_records(one)['correct'][:, 0], load_records(two)['correct'][:, 0])


def test_other_seed_other_records(tmp_path):
    a = load_records(train_run(TrainConfig(setup='supervised', lr=0.05, **TINY), tmp_path/'a', progress=False))
    b = load_records(train_run(TrainConfig(setup='supervised', lr=0.05, seed=1, **TINY), tmp_path/'b', progress=False))
    assert not np.array_equal(a['p_true'], b['p_true'])


def test_finished_run_is_skipped(tmp_path):
    run = train_run(TrainConfig(setup='random', lr=0.05, **TINY), tmp_path/'r', progress=False)
    stamp = (run/'records'/'epoch_0003.npz').stat().st_mtime_ns
    train_run(TrainConfig(setup='random', lr=0.05, **TINY), run, progress=False)
    assert (run/'records'/'epoch_0003.npz').stat().st_mtime_ns == stamp


def test_other_config_in_same_folder_is_refused(tmp_path):
    run = train_run(TrainConfig(setup='supervised', lr=0.05, **{**TINY, 'epochs': 1}), tmp_path/'r', progress=False)
    with pytest.raises(ValueError, match=r"another configuration \(copies: 2 -> 3\)"):
        train_run(TrainConfig(setup='supervised', lr=0.05, **{**TINY, 'epochs': 1, 'copies': 3}), run, progress=False)
    # how it runs (device, checkpoint interval) may change
    train_run(TrainConfig(setup='supervised', lr=0.05, save_every=5, device='cpu', **{**TINY, 'epochs': 1}), run, progress=False)


def test_nan_loss_names_setup_copy_epoch_and_keeps_records(tmp_path):
    cfg = TrainConfig(setup='supervised', lr=1e12, **TINY)
    with pytest.raises(FloatingPointError, match=r"setup 'supervised', copy 0, epoch 1"):
        train_run(cfg, tmp_path/'r', progress=False)
    assert (tmp_path/'r'/'records'/'epoch_0000.npz').exists()


@pytest.mark.parametrize('change, match', [
    (dict(setup='moco'), "Unknown setup 'moco'"), (dict(copies=0), 'copies must be an integer >= 1, got 0'),
    (dict(probe_size=300), 'probe_size 300 is larger than the training set'), (dict(draws=0), 'draws must be'),
    (dict(setup='simclr', batch_size=1), 'batch_size must be >= 2'), (dict(lr=-1.), 'lr must be a positive'),
    (dict(setup='simclr', probe_size=33), 'probe batch of one object'), (dict(train_size=5000), 'train_size 5000 is larger'),
    (dict(dataset='nope'), "Unknown dataset 'nope'"), (dict(concurrent=-1), 'concurrent must be an integer >= 0')])
def test_bad_config_fails_before_any_work(tmp_path, change, match):
    with pytest.raises(ValueError, match=match): train_run(TrainConfig(**{**TINY, **change}), tmp_path/'r', progress=False)
    assert not (tmp_path/'r').exists()


def _param_diff(a, b, j=0):
    return max((a.params[k][j] - b.params[k][0]).abs().max().item() for k in b.params)


@pytest.mark.parametrize('setup, lr', [('simclr', 1e-4), ('supervised', 0.01)])
def test_concurrent_copies_match_copies_trained_alone(real_dataset, setup, lr):
    """Three copies trained as one vmapped group match the same copies trained one at a time, on real images.

    float32 rounding differs between a grouped and a plain convolution and training amplifies it, so the
    yardstick is how far a copy trained alone drifts from itself when its initial weights move by 1e-6 (relative)."""
    full = load_dataset(real_dataset, 'train')
    data = full.subset(balanced_indices(full.labels, 120, seed=0))
    cfg = resolved(TrainConfig(setup=setup, lr=lr, copies=3, width=16, batch_size=60, epochs=2))
    cpu, augment = torch.device('cpu'), get_setup(setup).augment()
    together = CopyGroup(cfg, range(3), 10, cpu)
    alone = [CopyGroup(cfg, [i], 10, cpu) for i in range(3)]
    nudged = [CopyGroup(cfg, [i], 10, cpu) for i in range(3)]
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for g in nudged:
            for v in g.params.values(): v.mul_(1 + 1e-6*torch.randn(v.shape, generator=gen))
    for g in [together] + alone + nudged: train_epoch(g, data, augment, 1)  # 2 steps each
    probe = normalize(data.images[:50].float()/255)
    with torch.no_grad():
        out = together.train()(probe, shared=True)  # batch statistics: the outputs depend on the weights alone
        for i in range(3):
            ref, drift = alone[i].train()(probe, shared=True)[0], nudged[i].train()(probe, shared=True)[0]
            # the drift of one nudge is itself a random yardstick: allow a factor of 8 (with one thread, copy 2 of the supervised
            # group measured 5 times its nudge's drift, and still 240 times closer to its own copy than to another)
            w_tol = 8*max(_param_diff(nudged[i], alone[i]), 1e-6)
            out_tol = 8*max((drift - ref).abs().max().item(), 1e-5)
            assert _param_diff(together, alone[i], i) <= w_tol, i
            assert (out[i] - ref).abs().max() <= out_tol, i
            # the yardstick tells copies apart: the group's copy i is far from the other copies trained alone
            other = alone[(i + 1) % 3].train()
            assert _param_diff(together, other, i) > 10*w_tol


def test_concurrent_runs_and_regrouped_resume(tmp_path):
    "A run trained in vmapped groups records the same untrained networks, nearly the same bits, and resumes in any grouping."
    cfg = dict(setup='supervised', lr=0.05, **{**TINY, 'copies': 3})
    alone = load_records(train_run(TrainConfig(concurrent=1, **cfg), tmp_path/'alone', progress=False))
    whole = train_run(TrainConfig(concurrent=3, **cfg), tmp_path/'whole', progress=False)
    a = load_records(whole)
    np.testing.assert_array_equal(a['correct'][0], alone['correct'][0])
    # near chance (3 epochs of width 4) many predictions are near ties, which float rounding flips: 'nearly' is 80% of the bits
    assert (a['correct'] == alone['correct']).mean() > 0.8
    part = train_run(TrainConfig(concurrent=3, **cfg), tmp_path/'part', progress=False, stop_after=1)
    train_run(TrainConfig(concurrent=2, **cfg), part, progress=False)  # groups of 2 + 1 from a 3-copy checkpoint
    b = load_records(part)
    np.testing.assert_array_equal(a['p_true'][:2], b['p_true'][:2])
    assert (a['correct'] == b['correct']).mean() > 0.9
    for i in range(3): assert weights(part, i).keys() == weights(whole, i).keys()


def test_damaged_checkpoint_is_recomputed(tmp_path, capsys):
    "A checkpoint cut short is named in one line and the run trains again, to the same records."
    cfg = TrainConfig(setup='supervised', lr=0.05, **TINY)
    whole = load_records(train_run(cfg, tmp_path/'whole', progress=False))
    part = train_run(cfg, tmp_path/'part', progress=False, stop_after=2)
    raw = (part/'state.pt').read_bytes(); (part/'state.pt').write_bytes(raw[:len(raw)//3])
    capsys.readouterr(); train_run(cfg, part, progress=False)
    assert capsys.readouterr().out == '[memo-nb] supervised: 1 damaged file(s), recomputed: state.pt\n'
    again = load_records(part)
    for k in ('correct', 'p_true', 'loss', 'acc'): np.testing.assert_array_equal(whole[k], again[k], err_msg=k)


def test_damaged_record_is_named(tmp_path):
    run = train_run(TrainConfig(setup='random', lr=0.05, **TINY), tmp_path/'r', progress=False)
    (run/'records'/'epoch_0002.npz').write_bytes(b'')
    with pytest.raises(ValueError, match=r'epoch_0002.npz cannot be read'): load_records(run)


def test_folder_of_an_older_version_resumes(tmp_path):
    "A run folder written before a TrainConfig field existed counts that field as its default."
    cfg = TrainConfig(setup='supervised', lr=0.05, **{**TINY, 'epochs': 2})
    run = train_run(cfg, tmp_path/'r', progress=False, stop_after=1)
    saved = json.loads((run/'config.json').read_text()); del saved['schedule_epochs']
    (run/'config.json').write_text(json.dumps(saved))
    train_run(cfg, run, progress=False)
    assert len(load_records(run)['correct']) == 3
    with pytest.raises(ValueError, match=r'schedule_epochs: 0 -> 200'):
        train_run(TrainConfig(setup='supervised', lr=0.05, schedule_epochs=200, **{**TINY, 'epochs': 2}), run, progress=False)


@pytest.mark.slow
def test_all_setups_learn_on_cifar_subset(tmp_path, cifar_jpeg):
    "The issue's acceptance run: 4 width-16 copies on 2,000 CIFAR-10 images learn in every setup."
    common = dict(dataset=f'folder:{cifar_jpeg}', train_size=2000, copies=4, probe_size=512, draws=4, width=16)
    runs = {
        'supervised': TrainConfig(setup='supervised', lr=0.05, epochs=10, batch_size=256, **common),
        'random_aug': TrainConfig(setup='random_aug', lr=0.05, epochs=40, batch_size=64, **common),
        'random': TrainConfig(setup='random', lr=0.05, epochs=25, batch_size=256, **common),
        'simclr': TrainConfig(setup='simclr', lr=1e-3, temperature=0.1, epochs=15, batch_size=128, probe_batch=128, **common),
    }
    rec = {k: load_records(train_run(c, tmp_path/k)) for k, c in runs.items()}
    assert rec['supervised']['acc'][-1].mean() > 0.35            # chance 0.1
    assert rec['random_aug']['acc'][-1].mean() > 0.14
    assert rec['random']['correct'][-1].mean() > 0.9             # memorised
    assert rec['simclr']['correct'][-1][..., 0].mean() > 10/255  # chance 1/255


def test_folder_of_another_record_format_is_refused_by_name(tmp_path):
    "A run written with the first record format (other seeds, other probe batches) is not resumed into the current one."
    cfg = TrainConfig(setup='supervised', lr=0.05, **{**TINY, 'epochs': 2})
    run = train_run(cfg, tmp_path/'r', progress=False, stop_after=1)
    saved = json.loads((run/'config.json').read_text())
    assert saved['record_format'] == 2
    del saved['record_format']; (run/'config.json').write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r'record format 1 -> 2, written by an older memo_nb'): train_run(cfg, run, progress=False)


def test_every_registered_setup_gets_its_own_random_streams():
    "Seeds come from the whole key: no two setups share the initial weights, data order or augmentations of a copy."
    from memo_nb.training.config import derive_seed
    from memo_nb.methods.setups import SETUPS
    for copy in range(4):
        seeds = {(s, k): derive_seed(0, s, k, copy) for s in SETUPS for k in ('init', 'order', 'aug')}
        assert len(set(seeds.values())) == len(seeds), copy
    a = CopyGroup(resolved(TrainConfig(setup='supervised', **TINY)), range(1), 10, torch.device('cpu'))
    b = CopyGroup(resolved(TrainConfig(setup='supervised_simclr_aug', **TINY)), range(1), 10, torch.device('cpu'))
    assert not all(torch.equal(x, y) for x, y in zip(a.network_state(0).values(), b.network_state(0).values()))
    assert not torch.equal(a.g_order[0].get_state(), b.g_order[0].get_state())


def test_contrastive_records_keep_batch_mate_partitions(tmp_path):
    "A contrastive run records draw 0 under R other probe partitions; each draw's own partition is seeded and differs between draws."
    from memo_nb.training.loop import probe_partitions
    cfg = resolved(TrainConfig(setup='simclr', lr=1e-3, **{**TINY, 'epochs': 1, 'probe_batch': 8}))
    rec = load_records(train_run(cfg, tmp_path/'s', progress=False))
    assert rec['mates'].shape == (2, 2, cfg.mate_partitions, 64) and rec['record_format'] == 2
    orders, mates = probe_partitions(cfg, 64)
    assert len(orders) == cfg.draws and not torch.equal(orders[0], orders[1]) and len(mates) == 4
    assert 'mates' not in load_records(train_run(TrainConfig(setup='supervised', lr=0.05, **{**TINY, 'epochs': 1}), tmp_path/'c', progress=False))


def test_kept_weights_are_the_networks_of_their_epoch_and_survive_a_resume(tmp_path):
    "keep_weights=2 over 4 epochs keeps epochs 2 and 4, across a resume; epoch 4's are the final weights, epoch 2's differ from them."
    from memo_nb.training.loop import weights_path, kept_weight_epochs
    cfg = TrainConfig(setup='supervised', lr=0.05, keep_weights=2, **{**TINY, 'epochs': 4})
    part = train_run(cfg, tmp_path/'part', progress=False, stop_after=3)
    assert kept_weight_epochs(part) == [2]
    train_run(cfg, part, progress=False)   # resumes at epoch 4
    assert kept_weight_epochs(part) == [2, 4]
    whole = train_run(cfg, tmp_path/'whole', progress=False)
    for i in range(2):
        final, at4 = torch.load(weights_path(part, i), weights_only=True), torch.load(weights_path(part, i, 4), weights_only=True)
        assert all(torch.equal(v, at4[k]) for k, v in final.items())
        at2, whole2 = (torch.load(weights_path(r, i, 2), weights_only=True) for r in (part, whole))
        assert all(torch.equal(v, whole2[k]) for k, v in at2.items())      # the resumed run kept what the uninterrupted one kept
        assert not all(torch.equal(v, at2[k]) for k, v in final.items())   # epochs 3-4 changed them


def test_collapse_check_stops_names_and_resumes(tmp_path):
    "A tripped collapse check stops the run after the epoch it trips on, keeps the records, and the run resumes to the same records."
    from memo_nb.training.loop import CollapseError
    cfg = TrainConfig(setup='simsiam', lr=0.05, **TINY)
    whole = train_run(cfg, tmp_path/'whole', progress=False)
    spread = load_records(whole)['embedding_std']
    assert np.isnan(spread[0]).all() and (spread[1:] > 0).all() and (spread[1:]*np.sqrt(cfg.proj_dim) <= 1.01).all()   # unit vectors: at most sqrt(n/(n-1)) with n views
    tripping = TrainConfig(setup='simsiam', lr=0.05, collapse_std=1.01, collapse_epochs=2, **TINY)   # above any spread
    with pytest.raises(CollapseError, match=r'simsiam copy 0 collapsed \(2 copies in all\).* in epochs 1-2, below collapse_std 1.01'):
        train_run(tripping, tmp_path/'part', progress=False)
    assert len(list((tmp_path/'part'/'records').glob('*.npz'))) == 3
    train_run(cfg, tmp_path/'part', progress=False)   # collapse_std is a runtime setting: the same run continues
    a, b = load_records(whole), load_records(tmp_path/'part')
    for k in ('correct', 'p_true', 'loss', 'embedding_std'): np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_a_study_resolves_each_setup_once(tmp_path, monkeypatch):
    "Profile, overrides and setup defaults are resolved once per setup, in study_configs; train_run receives that configuration and resolves nothing."
    import memo_nb.study.params as params_mod, memo_nb.training.loop as loop_mod, memo_nb.training.distributed as dist_mod
    from memo_nb.study.params import parse_overrides
    from memo_nb.study.runner import prepare_study
    from memo_nb.training.config import is_resolved, resolved as real_resolved
    calls, received = [], []
    monkeypatch.setattr(params_mod, 'resolved', lambda c: calls.append(c.setup) or real_resolved(c))
    monkeypatch.setattr(loop_mod, 'resolved', lambda c: pytest.fail(f"train_run resolved {c.setup} again"))
    real_train_run = dist_mod.train_run
    monkeypatch.setattr(dist_mod, 'train_run', lambda cfg, *a, **k: received.append(cfg) or real_train_run(cfg, *a, **k))
    cfgs, _, out = prepare_study('smoke', tmp_path/'out', overrides=parse_overrides(['setups=simclr,random', 'epochs=1', 'random.lr=0.02']))
    assert sorted(calls) == ['random', 'simclr']
    dist_mod.train_items(cfgs, out, progress=False)
    assert [c.setup for c in received] == ['simclr', 'random'] and all(is_resolved(c) for c in received)
    assert received == list(cfgs.values()) and received[1].lr == 0.02 and received[0].temperature is not None
