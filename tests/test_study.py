"The study runner end to end: `memo-nb run smoke` through papermill, and its command-line errors."
import dataclasses, json, re

import numpy as np
import pytest

from conftest import ROOT, memo_nb
from memo_nb.training.config import TrainConfig
from memo_nb.methods.setups import SETUPS, STUDY_SETUPS
from memo_nb.analysis.claims import VERDICTS


def main_in_this_process(capsys, *args)->tuple[int, str]:
    "The exit status of `memo-nb ARGS` run by `memo_nb.study.cli.main` in this process, and what it wrote to stderr (no second interpreter to start)."
    from memo_nb.study.cli import main
    with pytest.raises(SystemExit) as e: main(list(args))
    return e.value.code, capsys.readouterr().err


SSL_METHODS = ('simsiam', 'byol', 'barlow_twins', 'vicreg')
SMOKE_SETUPS = STUDY_SETUPS + SSL_METHODS   # the study's five setups, then the four self-supervised methods beyond SimCLR


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory):
    "One smoke study of nine setups in two workers, read by every test of a finished study (one study, not one per test)."
    out = tmp_path_factory.mktemp('smoke')/'run'
    res = memo_nb('run', 'smoke', '--out', str(out), '-p', 'setups=' + ','.join(SMOKE_SETUPS), '--workers', '2')
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert 'without encryption' not in res.stderr  # kernels talk over IPC sockets, not TCP
    return out, res


MULTI_SETUP_FIGURES = ('fig_1_dynamics', 'fig_3_binomial_single', 'fig_5_spread', 'fig_7_classwise', 'fig_9_tsne',
                       'fig_10_class_kl', 'fig_11_activation_max', 'fig_12_extremes')


def panel_setups(out, name):
    "The setups named in the panel titles of a saved figure."
    entry = next(e for e in json.loads((out/'outputs.json').read_text()) if e['name'] == name)
    return {s for s in SETUPS if any(t == s or t.startswith(f'{s},') or t.startswith(f'{s} ') or t.startswith(f'{s}:') for t in entry['panels'])}


def test_smoke_writes_report_figures_and_tables(smoke_run):
    out, res = smoke_run
    tail = res.stdout.strip().splitlines()[-6:]   # the run ends on its time, the four verdicts and the report's path
    assert [l.split(':')[0].split(' in ')[0] for l in tail] == ['[memo-nb] done', '[memo-nb] claim 1', '[memo-nb] claim 2', '[memo-nb] claim 3',
                                                               '[memo-nb] claim 4', '[memo-nb] report'], tail
    assert tail[-1] == f"[memo-nb] report: {out/'REPORT.md'}" and 'inconclusive (too few copies to judge' in tail[1]
    assert (out/'REPORT.md').read_text().split('\n## ')[1].startswith("The paper's claims at this scale\n\n| claim | verdict |")
    report = (out/'REPORT.md').read_text()
    figures = sorted(p.stem for p in out.glob('fig_*.png'))
    grids = {f'fig_13_class_grid_{s}' for s in SMOKE_SETUPS}
    assert grids <= set(figures)
    assert set(figures) - {'fig_position'} - grids == {'fig_0_training', 'fig_1_dynamics', 'fig_2_alignment', 'fig_3_binomial_single', 'fig_4_latent_spread',
                                                       'fig_4_paper_mae', 'fig_5_spread', 'fig_6_views', 'fig_7_classwise', 'fig_8_data_maps', 'fig_9_tsne',
                                                       'fig_10_class_kl', 'fig_11_activation_max', 'fig_12_extremes',
                                                       'fig_s1_ssl_training', 'fig_s2_representation'}   # the position figure when SimCLR reaches the level too
    assert report.index('fig_7_classwise.png') < report.index('fig_9_tsne.png') < report.index('fig_12_extremes.png')
    for f in figures:
        assert (out/f'{f}.pdf').stat().st_size > 1000 and f'({f}.png)' in report
    tables = sorted(p.stem for p in out.glob('table_*.md'))
    assert {'table_binomial_single', 'table_binomial_mae', 'table_linear_probe', 'table_alignment', 'table_latent_spread',
            'table_augmentation_spread', 'table_paper_vs_run', 'table_class_kl'} <= set(tables)
    for t in tables:  # every table the run wrote reaches the report, under the title it was saved with
        assert (out/f'{t}.csv').exists() and (out/f'{t}.md').read_text() in report
    for e in json.loads((out/'outputs.json').read_text()):
        assert f"## {e['title']}" in report or f"### {e['title']}" in report, e
    claims = json.loads((out/'claims.json').read_text())
    assert [c['claim'][:2] for c in claims] == ['1.', '2.', '3.', '4.']
    assert all(c['verdict'] in VERDICTS and any(ch.isdigit() for ch in c['evidence']) for c in claims), claims
    assert 'digits' in report and 'N = 2 copies' in report
    probe = (out/'table_linear_probe.csv').read_text()
    assert all(m in probe for m in list(SMOKE_SETUPS) + ['random init', 'raw pixels'])
    for s in SMOKE_SETUPS:
        assert (out/'notebooks'/f'train_{s}.ipynb').exists() and f'| {s} |' in report
        assert len(list((out/'train'/s/'records').glob('epoch_*.npz'))) == 4
    assert not list((ROOT/'nbs').glob('*train_*.ipynb'))  # templates are never executed in place
    # smoke reads its spreads at p0 = 0.1 from a dense probe where one read the epochs that bracket it
    read = [s for s in STUDY_SETUPS if list((out/'train'/s/'dense'/'records').glob('epoch_*.npz'))]
    assert read, 'the dense probe read no setup'
    assert any(l.split(',')[4] == 'dense' for l in (out/'table_latent_spread.csv').read_text().splitlines()[1:])


def test_score_files_are_written_and_compare_reads_them_back(smoke_run, capsys):
    "Every study writes scores.csv and C-score-layout .npz files; `memo-nb compare` of a setup's own file with it gives rho = 1."
    from memo_nb.study.cli import main
    from memo_nb.training.records import load_probe
    out, _ = smoke_run
    header = (out/'scores.csv').read_text().splitlines()[0].split(',')
    assert header[:5] == ['dataset', 'index', 'label', 'class', 'simclr:r'] and {f'{s}:r' for s in STUDY_SETUPS} <= set(header)
    rows = (out/'scores.csv').read_text().splitlines()[1:]
    assert sorted(int(r.split(',')[1]) for r in rows) == sorted(load_probe(out/'train'/'simclr')['probe_dataset_index'])
    epoch = json.loads((out/'scores.json').read_text())['epochs']['simclr']
    with np.load(out/'scores'/'simclr_r.npz') as z: assert np.isfinite(z['scores']).sum() == len(rows) == 64 and len(z['labels']) == len(z['scores'])
    main(['compare', str(out), str(out/'scores'/'simclr_r.npz'), '--epoch', str(epoch)])
    table = capsys.readouterr().out
    assert re.search(r'\|\s*simclr\s*\|\s*r\s*\|\s*1\.000\s*\|', table), table




def test_train_notebook_gets_the_whole_config(smoke_run):
    "The runner injects every TrainConfig field into the training template as one `config` dict."
    out, _ = smoke_run
    nb = json.loads((out/'notebooks'/'train_simclr.ipynb').read_text())
    injected = next(''.join(c['source']) for c in nb['cells'] if 'injected-parameters' in c.get('metadata', {}).get('tags', []))
    scope = {}; exec(injected, scope)
    assert set(scope['config']) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert scope['config']['setup'] == 'simclr' and scope['config']['temperature'] == 0.1


def test_rerun_skips_finished_training(smoke_run):
    "The training stage of `memo-nb run` (checks, worker processes, joining the shards), run again on the finished smoke study, rewrites no file."
    from memo_nb.study.runner import prepare_study
    from memo_nb.training.distributed import train_in_workers, default_workers
    out, _ = smoke_run
    files = sorted(f for f in (out/'train').rglob('*') if f.is_file())
    stamps = [f.stat().st_mtime_ns for f in files]
    from memo_nb.study.params import parse_overrides
    cfgs, _, _ = prepare_study('smoke', out, overrides=parse_overrides(['setups=' + ','.join(SMOKE_SETUPS)]))
    train_in_workers(cfgs, out, default_workers(cfgs), progress=False)
    assert sorted(f for f in (out/'train').rglob('*') if f.is_file()) == files
    assert [f.stat().st_mtime_ns for f in files] == stamps


@pytest.mark.parametrize('args, message', [
    (['run', 'tiny'], "Unknown profile 'tiny'; allowed: smoke, quick, cpu, heldout, paper"),
    (['run', 'smoke', '-p', 'epoch=3'], "Unknown parameter 'epoch'"),
    (['run', 'smoke', '-p', 'copies=many'], "copies takes int"),
    (['run', 'smoke', '-p', 'copies=0'], "copies must be an integer >= 1, got 0"),
    (['run', 'smoke', '-p', 'moco.lr=0.1'], "Unknown setup 'moco'"),
    (['run', 'smoke', '-p', 'nonexistent_setup.epochs=3'], "Unknown setup 'nonexistent_setup'"),
    (['run', 'smoke', '-p', 'simclr.probe_size=10'], "simclr.probe_size: probe_size is shared by every setup"),
    (['run', 'smoke', '-p', 'setups=supervised', '-p', 'simclr.epochs=3'], "simclr.epochs: simclr is not among this study's setups (supervised)"),
    (['run', 'smoke', '-p', 'setups=simclr,moco'], "Unknown setup 'moco'"),
    (['run', 'smoke', '-p', 'off_diagonal=0.02'], "off_diagonal is a setting of barlow_twins, not of simclr"),
    (['run', 'smoke', '-p', 'setups=barlow_twins', '-p', 'barlow_twins.off_diagonal=-1'], "off_diagonal must be a number in [0, inf], got -1.0"),
    (['run', 'smoke', '-p', 'setups=byol', '-p', 'target_momentum=2'], "target_momentum must be a number in [0, 1], got 2"),
    (['run', 'smoke', '--dataset', 'imagenet'], "Unknown dataset 'imagenet'"),
    (['run', 'smoke', '--dataset', 'cifar10'], "Dataset 'cifar10' is not in "),
    (['run', 'smoke', '-p', 'probe_size=300'], "probe_size 300 is larger than the training set (200 images)"),
    (['run', 'smoke', '-p', 'batch_size=256'], "batch_size 256 is larger than the training set (200 images)"),
    (['run', 'smoke', '-p', 'train_size=5000'], "train_size 5000 is larger than the training split of 'digits' (1437 images)"),
    (['run', 'smoke', '-p', 'cscores=nowhere.npz'], "cscores='nowhere.npz': no such file"),
    (['run', 'smoke', '-p', f'cscores={ROOT/"README.md"}'], "an .npz file with arrays 'scores' and 'labels' is needed, not .md"),
])
def test_bad_command_lines_fail_before_running(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.setenv('MEMO_NB_DATA', str(tmp_path/'no-data'))  # no CIFAR-10 files here
    monkeypatch.delenv('MEMO_NB_CIFAR10_DIR', raising=False)
    code, err = main_in_this_process(capsys, *args, '--out', str(tmp_path/'out'))
    assert code == 2, err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err
    assert not (tmp_path/'out'/'train').exists()


def test_a_score_file_of_another_dataset_is_refused_before_running(tmp_path):
    np.savez(tmp_path/'c.npz', scores=np.zeros(50000), labels=np.zeros(50000, int))
    res = memo_nb('run', 'smoke', '--out', str(tmp_path/'out'), '-p', f'cscores={tmp_path/"c.npz"}')
    assert res.returncode == 2 and "c.npz scores 50000 images, but digits's training split has 1437" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and 'Traceback' not in res.stderr, res.stderr   # the installed command's own process
    assert not (tmp_path/'out'/'train').exists()


def test_unwritable_output_folder(tmp_path):
    (tmp_path/'file').write_text('')
    res = memo_nb('run', 'smoke', '--out', str(tmp_path/'file'/'out'))
    assert res.returncode == 2 and 'Cannot write to the output folder' in res.stderr and 'Traceback' not in res.stderr, res.stderr


@pytest.mark.parametrize('workers, start', [('1', 'training random, copies 0-1, failed: FloatingPointError'),
                                            ('2', r'rank ([01]) of 2: training random, copy \1, failed: FloatingPointError')])
def test_failing_training_is_one_line(tmp_path, workers, start):
    "In one process or in worker processes, a failing training ends the run with one line naming where it failed."
    res = memo_nb('run', 'smoke', '--out', str(tmp_path/'out'), '--quiet', '-p', 'setups=random', '-p', 'lr=1e12', '-p', 'epochs=1',
                  '--workers', workers)
    assert res.returncode == 1, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert re.match('memo-nb: error: ' + start, last), res.stderr
    assert re.search(r"setup 'random', copy [01], epoch 1", last) and 'Traceback' not in res.stderr, res.stderr


def test_collapse_ends_the_run_in_one_line(tmp_path):
    "A collapse check that trips (here: a threshold above any spread) names the setup and the copy in one line, and keeps the records."
    out = tmp_path/'out'
    res = memo_nb('run', 'smoke', '--out', str(out), '--quiet', '-p', 'setups=vicreg', '-p', 'collapse_std=1.01', '-p', 'collapse_epochs=2',
                  '--workers', '1')
    assert res.returncode == 1, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert re.match(r'memo-nb: error: training vicreg, copies 0-1, failed: CollapseError: vicreg copy 0 collapsed \(2 copies in all\): '
                    r'its embedding spread x sqrt\(d\) was 0\.\d+, 0\.\d+ in epochs 1-2', last), res.stderr
    assert 'Traceback' not in res.stderr
    assert sorted(p.name for p in (out/'train'/'vicreg'/'records').iterdir()) == [f'epoch_{e:04d}.npz' for e in range(3)]


def test_chosen_setups_and_ssl_methods(smoke_run):
    """Chosen setups, in two workers: SimCLR, supervised training, the random-label references and the four methods beyond SimCLR
    train as setups of a study, appear in every multi-setup figure and get the comparison notebook, which leads the report's tables."""
    out, res = smoke_run
    # the terminal: an epoch bar per setup and worker, a line per notebook, no cell counts and no kernel warnings
    assert '[memo-nb] training in 2 worker processes' in res.stdout, res.stdout[-2000:]
    for s in SMOKE_SETUPS:
        assert f'{s} (copy 0 of 2)' in res.stderr and f'{s} (copy 1 of 2)' in res.stderr, res.stderr[-2000:]
    assert not (out/'train'/'simsiam'/'shards').exists()
    assert '[memo-nb] notebook memorization ...' in res.stdout and '[memo-nb] notebook ssl ...' in res.stdout
    assert 'Executing' not in res.stderr + res.stdout and 'without encryption' not in res.stderr
    assert sorted(p.name for p in (out/'train').iterdir()) == sorted(SMOKE_SETUPS)
    assert list(json.loads((out/'study.json').read_text())['configs']) == list(SMOKE_SETUPS)
    for name in MULTI_SETUP_FIGURES: assert panel_setups(out, name) == set(SMOKE_SETUPS), name
    assert panel_setups(out, 'fig_s1_ssl_training') == {'simclr', *SSL_METHODS}
    report = (out/'REPORT.md').read_text()
    comparison = report.index('## Self-supervised methods compared')
    assert comparison < report.index('## The last epoch of every setup')   # the comparison leads the tables
    for m in SSL_METHODS:
        assert f'| {m} ' in (out/'table_ssl_comparison.md').read_text() and f'| {m} ' in (out/'table_s1_collapse.md').read_text()
        rec = np.load(out/'train'/m/'records'/'epoch_0001.npz')
        assert 0 < rec['embedding_std'].min() and rec['embedding_std'].max()*np.sqrt(128) < 1.01   # unit vectors: at most about 1
    probe = (out/'table_s2_representation.csv').read_text()
    assert all(f'{m},linear probe' in probe and f'{m},kNN' in probe for m in SMOKE_SETUPS + ('random init',))


def test_failing_notebook_is_one_line(tmp_path, monkeypatch):
    "A study notebook that fails: one line naming the executed notebook, its cell and the error."
    import nbformat
    from memo_nb.study import runner
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1'), nbformat.v4.new_code_cell("raise ValueError('no such level 7')")])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'python3', 'language': 'python'}
    (tmp_path/'nbs').mkdir(); nbformat.write(nb, tmp_path/'nbs'/'broken.ipynb')
    monkeypatch.setattr(runner, 'NBS', tmp_path/'nbs')
    with pytest.raises(runner.StudyError) as e: runner.run_notebook('broken.ipynb', tmp_path/'out', 'broken', {}, progress=False)
    msg = str(e.value)
    assert 'broken.ipynb failed in cell 2: ValueError: no such level 7' in msg and '\n' not in msg, msg


def test_template_parameters_are_checked_before_any_work(tmp_path, monkeypatch):
    "papermill only warns about an unknown parameter and runs a forgotten one with its default; the runner refuses both, by name, in prepare_study."
    from memo_nb.study import runner
    with pytest.raises(ValueError) as e:
        runner.run_notebook(runner.HELDOUT_NB, tmp_path/'out', 'heldout', {'study_dir': str(tmp_path), 'c_scores': 'x.npz'}, progress=False)
    assert "declares no parameter c_scores (it declares cscores, study_dir)" in str(e.value), e.value
    assert not (tmp_path/'out'/'notebooks').exists()
    # a runner that forgot a parameter a template declares is refused in the checks, before the output folder exists
    real = runner.study_notebooks
    monkeypatch.setattr(runner, 'study_notebooks', lambda *a: [(n, t, {k: v for k, v in p.items() if k != 'levels'}) for n, t, p in real(*a)])
    with pytest.raises(ValueError, match='11_study_memorization.ipynb declares levels, which the runner does not set'):
        runner.prepare_study('smoke', tmp_path/'never')
    assert not (tmp_path/'never').exists()


def test_version_is_the_package_version():
    import memo_nb as package
    res = memo_nb('--version')
    assert res.returncode == 0 and res.stdout.strip() == f'memo-nb {package.__version__}', res.stdout + res.stderr


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    out = tmp_path/'plan'
    res = memo_nb('run', 'smoke', '--dry-run', '--out', str(out), '-p', 'setups=simclr,random', '-p', 'simclr.epochs=5')
    assert res.returncode == 0, res.stderr
    plan, power = res.stdout.split('[memo-nb] estimated training time')   # the plan's table, then the design's power
    rows = {l.split('|')[1].strip(): [x.strip() for x in l.split('|')[2:-1]] for l in plan.splitlines() if l.startswith('| s') or l.startswith('| r')}
    assert set(rows) == {'setup', 'simclr', 'random'}, res.stdout
    col = rows['setup'].index('copy-epochs')
    assert int(rows['simclr'][col]) == 5*int(rows['simclr'][rows['setup'].index('copies')]), res.stdout
    assert 'notebooks: train_simclr, train_random, memorization, representations' in res.stdout
    assert 'the smallest spreads this design can detect' in power and re.search(r'\|\s*simclr\s*\|\s*0\.1\s*\|\s*dense\s*\|', power), power
    assert not out.exists()
    bad = memo_nb('run', 'smoke', '--dry-run', '--out', str(out), '-p', 'simclr.probe_size=10')   # a dry run makes every check
    assert bad.returncode == 2 and 'probe_size is shared' in bad.stderr, bad.stderr


def without_cifar(tmp_path)->dict:
    "The environment of a machine that has no CIFAR data: an empty data folder and no ImageFolder copy named."
    import os
    env = {k: v for k, v in os.environ.items() if k != 'MEMO_NB_CIFAR10_DIR'}
    env['MEMO_NB_DATA'] = str(tmp_path/'empty_data')
    return env


def test_a_run_without_its_data_names_download_and_a_dry_run_plans_it(tmp_path):
    "`memo-nb run cpu` with no CIFAR-10 here stops before any work in one line naming --download; a dry run plans it and says what it would fetch."
    env, out = without_cifar(tmp_path), tmp_path/'cpu'
    run = lambda *args: memo_nb(*args, env=env)
    res = run('run', 'cpu', '--out', str(out))
    assert res.returncode == 2 and '--download' in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not out.exists() and not (tmp_path/'empty_data').exists()
    res = run('run', 'cpu', '--dry-run', '--out', str(out), '-p', 'setups=simclr,random')
    assert res.returncode == 0, res.stderr[-2000:]
    assert re.search(r'\|\s*simclr\s*\|\s*6\s*\|\s*180\s*\|', res.stdout), res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith('[memo-nb] cifar10 is not in') and '--download to fetch it (163 MB)' in res.stdout
    assert not out.exists() and not (tmp_path/'empty_data').exists()


def test_bad_worker_count_is_refused(tmp_path):
    res = memo_nb('run', 'smoke', '--out', str(tmp_path/'w'), '--workers', '0')
    assert res.returncode == 2 and '--workers must be >= 1, got 0' in res.stderr and not (tmp_path/'w').exists()


def test_publish_is_portable_and_refusal_keeps_the_old_copy(smoke_run, tmp_path):
    "publish relativizes the paths of the clone that ran the study; a copy it refuses leaves the published folder as it was."
    import shutil
    from memo_nb.study.publish import publish, absolute_paths
    out, _ = smoke_run
    dest = publish(out, tmp_path/'results'/'smoke')
    assert not absolute_paths(dest) and (dest/'REPORT.html').exists()
    nb = json.loads((dest/'notebooks'/'memorization.ipynb').read_text())
    assert nb['metadata']['papermill']['input_path'] == 'nbs/11_study_memorization.ipynb'
    bad = tmp_path/'bad'; shutil.copytree(out, bad, ignore=shutil.ignore_patterns('train'))
    (bad/'REPORT.md').write_text((bad/'REPORT.md').read_text() + '\nmade in /opt/elsewhere/data\n')
    before = (dest/'REPORT.md').read_text()
    with pytest.raises(ValueError, match='Absolute paths left'): publish(bad, dest)
    assert (dest/'REPORT.md').read_text() == before and not (tmp_path/'results'/'smoke.publishing').exists()


def test_explorer_page_holds_the_records(smoke_run):
    "explorer.html lists every probe object; for three objects its r and curve agree with the records read directly."
    from memo_nb.analysis.explorer import read_explorer, decode_curve
    from memo_nb.training.records import load_records, select_view
    out, _ = smoke_run
    page = read_explorer(out/'explorer.html')
    rec = {s: load_records(out/'train'/s) for s in ('simclr', 'random')}
    assert sorted(page['index']) == sorted(rec['simclr']['probe_dataset_index'])
    epochs = json.loads((out/'scores.json').read_text())['epochs']
    for s, r in rec.items():
        bits, order = select_view(r['correct']), list(r['probe_dataset_index'])
        for row in (0, len(page)//2, len(page) - 1):
            k = order.index(page['index'][row])
            assert page[f'{s}:r'][row] == pytest.approx(bits[epochs[s], :, :, k].mean())
            curve = decode_curve(page[f'{s}:curve'][row], len(bits), 3)   # smoke keeps every epoch
            assert curve[:, 0] == pytest.approx(bits[:, :, :, k].mean((1, 2)), abs=0.003)
            assert len(page[f'{s}:rates'][row].split()) == bits.shape[2]
    report = (out/'REPORT.md').read_text()
    assert '(explorer.html)' in report and 'fig_8_data_maps' in report and 'fig_13_class_grid_simclr' in report
    assert (out/'table_regions.md').exists()
