from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CIFAR_JPEG = ROOT.parent/'shared'/'data'/'cifar10-jpeg'


@pytest.fixture(scope='session')
def cifar_jpeg():
    "The workplace's CIFAR-10 JPEG tree (skips where it is absent)."
    if not CIFAR_JPEG.exists(): pytest.skip(f'{CIFAR_JPEG} not present')
    return CIFAR_JPEG


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    "A private data root, so that tests never touch the user's cache."
    root = tmp_path/'data_root'
    monkeypatch.setenv('MEMO_NB_DATA', str(root))
    return root
