"""Training images/s per setup: memo_nb's engine vs a reference PyTorch pipeline, same machine, same run.

memo_nb: data as one uint8 tensor on the device, batched tensor augmentations, channels_last, N copies.
Reference (how the original code fed its models): copies trained one after another, each from a DataLoader
over PIL images with torchvision's per-image transforms, fp32, same model and batch size.

    python benchmarks/train.py [--width 16] [--copies 2] [--steps 6] [--batch 256] [--workers 0]
"""
import argparse, time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T
from torchvision.transforms.functional import to_pil_image

from memo_nb.data.augment import CIFAR_MEAN, CIFAR_STD
from memo_nb.data.datasets import load_dataset, balanced_indices, cifar10_folder
from memo_nb.methods.losses import nt_xent
from memo_nb.methods.setups import SETUPS, get_setup
from memo_nb.training.config import TrainConfig, resolved, pick_device
from memo_nb.training.copies import copy_groups
from memo_nb.training.loop import tune_cpu_allocator, train_epoch

CIFAR_JPEG = cifar10_folder()  # $MEMO_NB_CIFAR10_DIR: a CIFAR-10 ImageFolder tree (else the digits)


def reference_transform(setup):
    if setup == 'simclr':
        return T.Compose([T.RandomResizedCrop(32, scale=(0.08, 1.0)), T.RandomHorizontalFlip(),
                          T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8), T.RandomGrayscale(0.2),
                          T.GaussianBlur(3, sigma=(0.1, 2.0)), T.ToTensor()])
    norm = [T.ToTensor(), T.Normalize(CIFAR_MEAN, CIFAR_STD)]
    return T.Compose(norm if setup == 'random' else [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] + norm)


class PILSet(Dataset):
    def __init__(self, images, labels, setup):
        self.pil, self.labels, self.tf, self.two = [to_pil_image(i) for i in images], labels, reference_transform(setup), setup == 'simclr'
    def __len__(self): return len(self.pil)
    def __getitem__(self, i):
        im = self.pil[i]
        return ((self.tf(im), self.tf(im)) if self.two else self.tf(im)), self.labels[i]


def reference_epoch(setup, ds, cfg, device, workers):
    "Train cfg.copies networks one after another for one pass over `ds`; returns seconds."
    t0 = time.perf_counter()
    for c in range(cfg.copies):
        torch.manual_seed(c)
        net = get_setup(setup).network(10, cfg.width).to(device)
        opt = (torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay) if setup == 'simclr'
               else torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay))
        for x, y in DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True, num_workers=workers):
            if setup == 'simclr':
                z = net(torch.cat(x).to(device)); loss = nt_xent(z[:len(y)], z[len(y):], cfg.temperature)
            else:
                loss = F.cross_entropy(net(x.to(device)), y.to(device))
            opt.zero_grad(); loss.backward(); opt.step()
    if device.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t0


def ours_epoch(setup, data, cfg, device):
    "Train the copies of `cfg` (grouped as cfg.concurrent says) for one pass over `data`; returns seconds."
    if device.type == 'cpu': tune_cpu_allocator()  # as train_run does
    groups = copy_groups(cfg, 10, device)
    t0 = time.perf_counter()
    augment = get_setup(setup).augment()
    for g in groups: train_epoch(g, data, augment, 1)
    if device.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--width', type=int, default=16)
    ap.add_argument('--copies', type=int, default=2)
    ap.add_argument('--steps', type=int, default=6, help='optimizer steps per copy')
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--workers', type=int, default=0, help='DataLoader workers of the reference')
    ap.add_argument('--device', default='auto')
    ap.add_argument('--setups', default=','.join(s for s in SETUPS if get_setup(s).paper_epochs))
    a = ap.parse_args()
    device = pick_device(a.device)
    name = f'folder:{CIFAR_JPEG}' if CIFAR_JPEG else 'digits'
    full = load_dataset(name, 'train')
    n = a.steps*a.batch
    data = full.subset(balanced_indices(full.labels, n, seed=0))
    print(f"data: {name}, {n} images; device {device}; width {a.width}, batch {a.batch}, {a.copies} copies x {a.steps} steps; "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'setup':12s} {'memo_nb img/s':>14s} {'reference img/s':>16s} {'ratio':>6s}")
    setups = a.setups.split(',')
    cfgs = {s: resolved(TrainConfig(setup=s, dataset='digits', copies=a.copies, width=a.width, batch_size=a.batch,
                                    lr=1e-3 if s == 'simclr' else 0.05, epochs=1)) for s in setups}
    # the reference first, with the C library's default allocator (ours_epoch tunes it, as train_run does)
    t_ref = {s: reference_epoch(s, PILSet(data.images, data.labels, s), cfgs[s], device, a.workers) for s in setups}
    for setup in setups:
        cfg, views = cfgs[setup], 2 if setup == 'simclr' else 1
        ours_epoch(setup, data.to(device), resolved(TrainConfig(**{**cfg.__dict__, 'copies': 1})), device)  # warm-up
        t_ours = ours_epoch(setup, data.to(device), cfg, device)
        imgs = a.copies*n*views
        print(f"{setup:12s} {imgs/t_ours:14,.0f} {imgs/t_ref[setup]:16,.0f} {t_ref[setup]/t_ours:5.2f}x", flush=True)
    print("(images/s count every augmented view that is trained on, all copies together)")


if __name__ == '__main__':
    main()
