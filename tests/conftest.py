import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

if os.environ.get('PYTEST_XDIST_WORKER'):
    # several test processes share the cores: each gets its share of the threads, and so do the studies it starts (PyTorch
    # processes whose threads outnumber the cores wait on each other and run many times slower)
    _threads = max(1, (os.cpu_count() or 1)//int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1')))
    os.environ['OMP_NUM_THREADS'] = str(_threads)
    import torch
    torch.set_num_threads(_threads)

LONGEST_FIRST = ('test_study.py', 'test_train.py', 'test_heldout.py')   # the files with the longest studies start first


def pytest_collection_modifyitems(items):
    "Longest files first, the rest in their order, so that no long file starts last."
    items.sort(key=lambda item: LONGEST_FIRST.index(item.path.name) if item.path.name in LONGEST_FIRST else len(LONGEST_FIRST))


def memo_nb(*args, cwd=ROOT, env=None):
    "`memo-nb ARGS` in a new interpreter (the installed command's own process), its output captured."
    return subprocess.run([sys.executable, '-c', 'from memo_nb.study.cli import main; main()', *args], cwd=cwd, capture_output=True, text=True, env=env)


CIFAR10_DIR = os.environ.get('MEMO_NB_CIFAR10_DIR')  # a CIFAR-10 ImageFolder tree; tests that need one skip without it


@pytest.fixture(scope='session')
def cifar_jpeg():
    "The CIFAR-10 ImageFolder tree named by $MEMO_NB_CIFAR10_DIR (the test skips where it is unset)."
    if not CIFAR10_DIR: pytest.skip('needs a CIFAR-10 ImageFolder tree: set MEMO_NB_CIFAR10_DIR')
    path = Path(CIFAR10_DIR).expanduser()
    if not path.is_dir(): pytest.fail(f'MEMO_NB_CIFAR10_DIR={CIFAR10_DIR} is not a folder')
    return path


@pytest.fixture(scope='session')
def real_dataset()->str:
    "A dataset of real images that needs no download: the CIFAR-10 tree named by $MEMO_NB_CIFAR10_DIR, else scikit-learn's digits."
    return f'folder:{Path(CIFAR10_DIR).expanduser()}' if CIFAR10_DIR else 'digits'


@pytest.fixture(scope='session')
def cscores_file():
    "The published CIFAR-10 C-score file named by $MEMO_NB_CSCORES (the test skips where it is unset)."
    path = os.environ.get('MEMO_NB_CSCORES')
    if not path: pytest.skip('needs the published CIFAR-10 C-scores: set MEMO_NB_CSCORES to cifar10-cscores-orig-order.npz')
    if not Path(path).is_file(): pytest.fail(f'MEMO_NB_CSCORES={path} is not a file')
    return Path(path).expanduser().resolve()


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    "A private data root, so that tests never touch the user's cache; `cifar10` means torchvision's files in it."
    root = tmp_path/'data_root'
    monkeypatch.setenv('MEMO_NB_DATA', str(root))
    monkeypatch.delenv('MEMO_NB_CIFAR10_DIR', raising=False)
    return root
