"The study runner end to end: `memo-nb run smoke` through papermill, and its command-line errors."
import json, subprocess, sys
from pathlib import Path

import pytest

from conftest import ROOT


def memo_nb(*args, cwd=ROOT):
    return subprocess.run([sys.executable, '-c', 'from memo_nb.study import main; main()', *args],
                          cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('smoke')/'run'
    res = memo_nb('run', 'smoke', '--out', str(out), '--quiet')
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out, res


def test_smoke_writes_report_figures_and_tables(smoke_run):
    out, _ = smoke_run
    report = (out/'REPORT.md').read_text()
    figures = sorted(p.stem for p in out.glob('fig_*.png'))
    assert figures == sorted(['fig_0_training', 'fig_1_dynamics', 'fig_2_alignment', 'fig_3_binomial_single', 'fig_5_spread',
                              'fig_6_views', 'fig_7_classwise', 'fig_9_tsne', 'fig_10_class_kl', 'fig_11_activation_max',
                              'fig_12_extremes'])
    assert report.index('fig_7_classwise.png') < report.index('fig_9_tsne.png') < report.index('fig_12_extremes.png')
    for f in figures:
        assert (out/f'{f}.pdf').stat().st_size > 1000 and f'({f}.png)' in report
    for t in ('table_binomial_single', 'table_binomial_mae', 'table_linear_probe'):
        assert (out/f'{t}.csv').exists() and (out/f'{t}.md').read_text() in report
    claims = json.loads((out/'claims.json').read_text())
    assert [c['claim'][:2] for c in claims] == ['1.', '2.', '3.', '4.']
    assert 'digits' in report and 'N = 2 copies' in report
    probe = (out/'table_linear_probe.csv').read_text()
    assert all(m in probe for m in ('simclr', 'supervised', 'random init', 'raw pixels'))
    for s in ('simclr', 'supervised', 'random', 'random_aug'):
        assert (out/'notebooks'/f'train_{s}.ipynb').exists()
        assert len(list((out/'train'/s/'records').glob('epoch_*.npz'))) == 4
    assert not list((ROOT/'nbs').glob('*train_*.ipynb'))  # templates are never executed in place


def test_rerun_skips_finished_training(smoke_run):
    out, _ = smoke_run
    stamp = (out/'train'/'simclr'/'records'/'epoch_0003.npz').stat().st_mtime_ns
    res = memo_nb('run', 'smoke', '--out', str(out), '--quiet')
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out/'train'/'simclr'/'records'/'epoch_0003.npz').stat().st_mtime_ns == stamp


@pytest.mark.parametrize('args, message', [
    (['run', 'tiny'], "Unknown profile 'tiny'; allowed: smoke, quick, cpu, paper"),
    (['run', 'smoke', '-p', 'epoch=3'], "Unknown parameter 'epoch'"),
    (['run', 'smoke', '-p', 'copies=many'], "copies takes int"),
    (['run', 'smoke', '-p', 'copies=0'], "copies must be an integer >= 1, got 0"),
    (['run', 'smoke', '-p', 'moco.lr=0.1'], "Unknown setup 'moco'"),
    (['run', 'smoke', '--dataset', 'imagenet'], None),
])
def test_bad_command_lines_fail_before_running(tmp_path, args, message):
    res = memo_nb(*args, '--out', str(tmp_path/'out'))
    assert res.returncode != 0
    if message: assert message in res.stderr, res.stderr
    else: assert "Unknown dataset 'imagenet'" in res.stderr + res.stdout
    assert not (tmp_path/'out'/'train').exists()


def test_train_notebook_takes_every_config_field():
    "The training template's parameters cell names every TrainConfig field, and passes each one on."
    import ast, dataclasses, json
    from memo_nb.train import TrainConfig
    nb = json.loads((Path(__file__).resolve().parents[1]/'nbs'/'10_study_train.ipynb').read_text())
    cells = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code']
    params = next(''.join(c['source']) for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', []))
    names = {t.id for node in ast.parse(params).body if isinstance(node, ast.Assign) for t in node.targets}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields <= names, fields - names
    call = next(c for c in cells if 'cfg = TrainConfig(' in c)
    assert all(f'{f}={f}' in call for f in fields), [f for f in fields if f'{f}={f}' not in call]
