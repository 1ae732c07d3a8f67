"""Images/s of the batched SimCLR augmentation vs torchvision's per-image PIL transforms.

Both pipelines augment the same real images in the same run; kornia's batched pipeline is timed too
when kornia is installed (it was the alternative to hand-written tensor ops).

    python benchmarks/augment.py [--n 4096] [--batch 256] [--device cpu]
"""
import argparse, time
from pathlib import Path

import torch
from torchvision import transforms as T
from torchvision.transforms.functional import to_pil_image

from memo_nb.data.augment import SimCLRAugment
from memo_nb.data.datasets import load_dataset, cifar10_folder

CIFAR_JPEG = cifar10_folder()  # $MEMO_NB_CIFAR10_DIR: a CIFAR-10 ImageFolder tree (else the digits)


def torchvision_simclr():
    "The original code's per-image pipeline (PIL in, tensor out)."
    return T.Compose([
        T.RandomResizedCrop(32, scale=(0.08, 1.0), ratio=(3/4, 4/3)),
        T.RandomHorizontalFlip(0.5),
        T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
        T.RandomGrayscale(0.2),
        T.GaussianBlur(3, sigma=(0.1, 2.0)),
        T.ToTensor()])


def kornia_simclr():
    import kornia.augmentation as K
    return K.AugmentationSequential(
        K.RandomResizedCrop((32, 32), scale=(0.08, 1.0), ratio=(3/4, 4/3)),
        K.RandomHorizontalFlip(p=0.5),
        K.ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8),
        K.RandomGrayscale(p=0.2),
        K.RandomGaussianBlur((3, 3), (0.1, 2.0), p=1.0))


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def rate(fn, n_images, device, repeats=3):
    "Best images/s over `repeats` timed runs of `fn` (after one warm-up run)."
    fn(); sync(device)
    best = float('inf')
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); sync(device)
        best = min(best, time.perf_counter() - t0)
    return n_images/best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=4096, help='images per timed run')
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    a = ap.parse_args()
    device = torch.device(a.device)
    name = f'folder:{CIFAR_JPEG}' if CIFAR_JPEG else 'digits'
    ds = load_dataset(name, 'train')
    images = ds.images[:a.n]
    n = len(images)
    print(f"data: {name}, {n} images {tuple(images.shape[1:])}; device {device}; torch threads {torch.get_num_threads()}")

    aug, g = SimCLRAugment(), torch.Generator().manual_seed(0)
    x_dev = images.to(device)
    def ours():
        for i in range(0, n, a.batch): aug(x_dev[i:i + a.batch], g)
    pil = [to_pil_image(im) for im in images]  # the original code's DataLoader held PIL images
    tv = torchvision_simclr()
    def torchvision_pil():
        torch.stack([tv(im) for im in pil])
    results = {'memo_nb (batched tensors)': rate(ours, n, device),
               'torchvision (per-image PIL)': rate(torchvision_pil, n, device, repeats=1)}
    try:
        ka = kornia_simclr().to(device)
        def kornia_run():
            for i in range(0, n, a.batch): ka(x_dev[i:i + a.batch].float()/255)
        results['kornia (batched tensors)'] = rate(kornia_run, n, device)
    except ImportError:
        pass
    for k, v in results.items(): print(f"{k:32s} {v:10,.0f} images/s")
    ratio = results['memo_nb (batched tensors)']/results['torchvision (per-image PIL)']
    print(f"ratio memo_nb / torchvision PIL: {ratio:.1f}x (target >= 5x)")


if __name__ == '__main__':
    main()
