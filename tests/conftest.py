import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
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
