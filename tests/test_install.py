"An installed package, not the clone, runs a study: the wheel carries the templates and declares what it imports."
import os, site, subprocess, sys, sysconfig

import pytest

from conftest import ROOT


def run(*args, **kw):
    res = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    assert res.returncode == 0, f"{args}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope='module')
def wheel_env(tmp_path_factory):
    """A fresh virtual environment with the built wheel installed; this interpreter's packages (torch, papermill ...) reachable
    through a path file, but not its editable memo_nb (a listed folder's own .pth files are not read)."""
    tmp = tmp_path_factory.mktemp('wheel')
    run(sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', tmp/'dist', ROOT, cwd=tmp)
    wheel = next((tmp/'dist').glob('memo_nb-*.whl'))
    env_dir = tmp/'venv'
    run(sys.executable, '-m', 'venv', env_dir)   # with pip, from the interpreter's own bundled wheel (no network)
    py = env_dir/'bin'/'python'
    env_site = run(py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])').stdout.strip()
    ours = [p for p in {*site.getsitepackages(), sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']} if os.path.isdir(p)]
    open(os.path.join(env_site, 'outer-packages.pth'), 'w').write('\n'.join(sorted(ours)) + '\n')
    run(env_dir/'bin'/'python', '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', wheel)
    return env_dir, wheel


def test_the_wheel_ships_the_templates(wheel_env):
    import zipfile
    _, wheel = wheel_env
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n.split('/')[-1] for n in names if n.startswith('memo_nb/templates/'))
    assert shipped == sorted(p.name for p in (ROOT/'nbs').glob('1[0-9]_study_*.ipynb')), shipped


def test_the_installed_package_runs_a_study_from_an_empty_folder(wheel_env, tmp_path):
    env_dir, _ = wheel_env
    py = env_dir/'bin'/'python'
    where = run(py, '-c', 'import memo_nb, memo_nb.study.runner as s; print(memo_nb.__file__); print(s.NBS)', cwd=tmp_path).stdout.split()
    assert str(env_dir) in where[0] and where[1].endswith(os.path.join('memo_nb', 'templates')), where  # not the clone
    work = tmp_path/'empty'; work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'MEMO_NB_CIFAR10_DIR')}
    env['PATH'] = f"{env_dir/'bin'}{os.pathsep}{env['PATH']}"
    res = run(env_dir/'bin'/'memo-nb', 'run', 'smoke', '--quiet', '-p', 'setups=random', cwd=work, env=env)   # one setup: the templates' path, not the study again
    out = work/'runs'/'smoke'
    assert (out/'REPORT.md').exists() and (out/'claims.json').exists(), res.stdout[-2000:]
    # every template the study needs, from the wheel; no comparison notebook without a method beyond SimCLR, no held-out one without held-out copies
    assert sorted(p.name for p in (out/'notebooks').glob('*.ipynb')) == ['memorization.ipynb', 'representations.ipynb', 'train_random.ipynb']
    assert res.stdout == '' and res.stderr == '', (res.stdout[-1000:], res.stderr[-1000:])   # --quiet: nothing but errors
    version = run(env_dir/'bin'/'memo-nb', '--version', cwd=work, env=env).stdout.strip()
    assert version.startswith('memo-nb ') and version.split()[1][0].isdigit(), version
