"Datasets: real CIFAR-10 JPEGs, caching, and every kind of bad input."
import shutil
from pathlib import Path

import pytest
import torch

from memo_nb.data.datasets import balanced_indices, load_dataset, random_labels


def small_tree(src:Path, dst:Path, classes=('cat', 'dog'), n=5):
    "A copy of a few real CIFAR-10 JPEGs as a folder dataset."
    for split in ('train', 'test'):
        for c in classes:
            (dst/split/c).mkdir(parents=True)
            for f in sorted((src/split/c).glob('*.jpg'))[:n]: shutil.copy(f, dst/split/c/f.name)
    return dst


def cache_files(root:Path): return sorted((root/'cache').glob('*')) if (root/'cache').exists() else []


def test_cifar_jpeg_counts_and_cache(cifar_jpeg, tmp_path, monkeypatch):
    root = tmp_path/'root'
    test = load_dataset(f'folder:{cifar_jpeg}', 'test', root=root)
    assert test.images.shape == (10_000, 3, 32, 32) and test.images.dtype == torch.uint8
    assert test.labels.dtype == torch.int64
    assert torch.bincount(test.labels).tolist() == [1000]*10
    assert test.classes == ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
    assert len(cache_files(root)) == 1
    import memo_nb.data.datasets
    decoded = []
    monkeypatch.setattr(memo_nb.data.datasets, 'decode_images', lambda files: decoded.append(files))
    again = load_dataset(f'folder:{cifar_jpeg}', 'test', root=root)
    assert decoded == []   # read from the cache
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)


def test_folder_images_are_decoded_faithfully(cifar_jpeg, data_root):
    from PIL import Image
    import numpy as np
    ds = load_dataset(f'folder:{small_tree(cifar_jpeg, data_root.parent/"tree")}', 'train')
    f = sorted((cifar_jpeg/'train'/'dog').glob('*.jpg'))[2]
    want = np.asarray(Image.open(f).convert('RGB'))
    assert ds.classes == ['cat', 'dog'] and ds.labels.tolist() == [0]*5 + [1]*5
    assert (ds.images[7].permute(1, 2, 0).numpy() == want).all()


def test_cache_follows_changes(cifar_jpeg, data_root):
    tree = small_tree(cifar_jpeg, data_root.parent/'tree')
    assert len(load_dataset(f'folder:{tree}', 'train')) == 10
    (tree/'train'/'cat'/'0000.jpg').unlink()
    assert len(load_dataset(f'folder:{tree}', 'train')) == 9
    assert len(cache_files(data_root)) == 2


@pytest.mark.parametrize('name, match', [
    ('imagenet', "Unknown dataset 'imagenet'"), ('folder:', 'names no folder'), (3, 'Unknown dataset 3')])
def test_unknown_names(name, match, data_root):
    with pytest.raises(ValueError, match=match): load_dataset(name, 'train')


def test_unknown_split():
    with pytest.raises(ValueError, match="'valid'.*'train' or 'test'"): load_dataset('digits', 'valid')


def test_missing_cifar_says_how_to_get_it(data_root):
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py.*download=True.*folder:"):
        load_dataset('cifar10', 'train')


def test_cifar10_setting_names_a_folder(cifar_jpeg, data_root, monkeypatch):
    "$MEMO_NB_CIFAR10_DIR makes 'cifar10' that ImageFolder tree; a bad value is named."
    tree = small_tree(cifar_jpeg, data_root.parent/'tree')
    monkeypatch.setenv('MEMO_NB_CIFAR10_DIR', str(tree))
    a, b = load_dataset('cifar10', 'train'), load_dataset(f'folder:{tree}', 'train')
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels) and a.classes == b.classes
    monkeypatch.setenv('MEMO_NB_CIFAR10_DIR', str(tree/'missing'))
    with pytest.raises(FileNotFoundError, match='MEMO_NB_CIFAR10_DIR=.*missing is not a folder'): load_dataset('cifar10', 'test')


def test_missing_folder(tmp_path, data_root):
    with pytest.raises(FileNotFoundError, match=str(tmp_path/'nope')): load_dataset(f'folder:{tmp_path/"nope"}', 'train')


def test_folder_without_test_split(cifar_jpeg, data_root):
    tree = small_tree(cifar_jpeg, data_root.parent/'tree')
    shutil.rmtree(tree/'test')
    with pytest.raises(FileNotFoundError, match=r"no test/ subfolder"): load_dataset(f'folder:{tree}', 'train')
    assert cache_files(data_root) == []


def test_empty_class_folder(cifar_jpeg, data_root):
    tree = small_tree(cifar_jpeg, data_root.parent/'tree')
    (tree/'train'/'empty').mkdir()
    with pytest.raises(ValueError, match=r"train/empty holds no images"): load_dataset(f'folder:{tree}', 'train')
    assert cache_files(data_root) == []


@pytest.mark.parametrize('suffix', ['.jpg', '.png'])
def test_unreadable_image_named_and_no_partial_cache(cifar_jpeg, data_root, suffix):
    tree = small_tree(cifar_jpeg, data_root.parent/'tree')
    bad = tree/'train'/'dog'/f'broken{suffix}'
    bad.write_bytes(b'this is not an image')
    with pytest.raises(ValueError, match=f"Cannot read image .*broken{suffix}"): load_dataset(f'folder:{tree}', 'train')
    assert cache_files(data_root) == []


def test_images_of_different_sizes(cifar_jpeg, data_root):
    from PIL import Image
    tree = small_tree(cifar_jpeg, data_root.parent/'tree')
    Image.new('RGB', (40, 30)).save(tree/'train'/'dog'/'big.png')
    with pytest.raises(ValueError, match=r"differ in size.*big.png"): load_dataset(f'folder:{tree}', 'train')


def test_digits_is_embedded_and_fixed():
    a, b = load_dataset('digits', 'train'), load_dataset('digits', 'train')
    assert torch.equal(a.images, b.images) and a.images.shape[1:] == (3, 32, 32)
    assert len(a) == 1437 and len(load_dataset('digits', 'test')) == 360
    assert torch.equal(a.images[:, 0], a.images[:, 2])  # grey, repeated to 3 channels


def test_balanced_subset_of_real_labels(real_dataset):
    ds = load_dataset(real_dataset, 'train')
    idx = balanced_indices(ds.labels, 1024, seed=7)
    assert len(idx.unique()) == 1024
    assert sorted(torch.bincount(ds.labels[idx]).tolist()) == [102]*6 + [103]*4
    assert torch.equal(idx, balanced_indices(ds.labels, 1024, seed=7))
    first_batch = ds.labels[idx[:256]]
    assert len(first_batch.unique()) == 10  # shuffled: a probe batch mixes classes
    r = random_labels(ds.labels, seed=0)
    assert torch.equal(torch.bincount(r), torch.bincount(ds.labels))
    assert torch.equal(r, random_labels(ds.labels, seed=0)) and not torch.equal(r, random_labels(ds.labels, seed=1))
