"""Paper-scale timing on a GPU: seconds per epoch per copy for each setup, and the projected cost of the paper's protocol.

ResNet-18 width 64, batch 256, the full 50,000-image CIFAR-10 training set, N copies trained together in one vmapped
group, bf16 autocast and channels_last, torch.compile off and on. A few steps are timed after a warm-up and the
epoch is extrapolated; the probe evaluation (K=1024, M=10) is timed once per setup. The projection is
30 copies x (200 simclr + 50 supervised + 20 random + 500 random_aug) epochs, each followed by a probe evaluation,
and its wall time on P GPUs under torchrun (each rank trains ceil(30/P) copies of every setup; --gpus 1,2,4,8).

    python benchmarks/gpu.py [--copies 8] [--steps 10] [--width 64] [--out results/benchmark-gpu]

Runs on CPU too (for checking the script: --device cpu --width 4 --steps 1 --copies 2 --train 512).
"""
import argparse, math, time
from pathlib import Path

import pandas as pd
import torch

from memo_nb.data.datasets import load_dataset, balanced_indices, cifar10_folder
from memo_nb.methods.setups import SETUPS, get_setup
from memo_nb.training.config import TrainConfig, resolved, pick_device
from memo_nb.training.copies import copy_groups
from memo_nb.training.loop import train_epoch, probe_views, evaluate_probe
from memo_nb.study.profiles import PROFILES

CIFAR_JPEG = cifar10_folder()  # $MEMO_NB_CIFAR10_DIR: a CIFAR-10 ImageFolder tree (else the digits)
PAPER_EPOCHS = {name: s.paper_epochs for name, s in SETUPS.items() if s.paper_epochs}  # the paper's protocol, from the registry
PAPER_COPIES, PAPER_TRAIN = PROFILES['paper']['copies'], 50_000


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def time_setup(setup, full, a, device, compile):
    cfg = resolved(TrainConfig(setup=setup, dataset='digits', copies=a.copies, concurrent=a.copies, width=a.width,
                               batch_size=a.batch, epochs=10, amp=device.type == 'cuda', compile=compile,
                               lr=3e-4, probe_size=1024, draws=10))
    n = a.steps*a.batch
    data = full.subset(balanced_indices(full.labels, n, seed=0)).to(device)
    group = copy_groups(cfg, 10, device)[0]
    augment = get_setup(setup).augment()
    warm = full.subset(balanced_indices(full.labels, 2*a.batch, seed=1)).to(device)
    train_epoch(group, warm, augment, 1)  # warm-up (and compilation)
    sync(device); t0 = time.perf_counter()
    train_epoch(group, data, augment, 1)
    sync(device); t_steps = time.perf_counter() - t0
    probe = data.images[:1024] if n >= 1024 else full.images[:1024].to(device)
    views = probe_views(cfg, probe)
    labels = full.labels[:1024].to(device)
    evaluate_probe(group, cfg, views[:1], labels)
    sync(device); t0 = time.perf_counter()
    evaluate_probe(group, cfg, views, labels)
    sync(device); t_probe = time.perf_counter() - t0
    epoch = t_steps*(a.train//a.batch)/a.steps  # all copies of the group
    return {'setup': setup, 'compile': compile, 'copies together': a.copies,
            's per epoch per copy': epoch/a.copies, 'probe s per copy': t_probe/a.copies,
            'paper GPU-hours': PAPER_COPIES*PAPER_EPOCHS[setup]*(epoch + t_probe)/a.copies/3600}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--width', type=int, default=64)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--copies', type=int, default=8, help='copies trained together in one vmapped group')
    ap.add_argument('--steps', type=int, default=10, help='timed optimizer steps per setup')
    ap.add_argument('--train', type=int, default=PAPER_TRAIN, help='training-set size the epoch is extrapolated to')
    ap.add_argument('--compile', default='off,on')
    ap.add_argument('--device', default='auto')
    ap.add_argument('--out', default='results/benchmark-gpu')
    ap.add_argument('--gpus', default='1,2,4,8', help='GPU counts P the wall time of the paper protocol is projected for')
    a = ap.parse_args()
    device = pick_device(a.device)
    card = torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'
    full = load_dataset(f'folder:{CIFAR_JPEG}' if CIFAR_JPEG else 'digits', 'train')
    rows = []
    for compile in [c == 'on' for c in a.compile.split(',')]:
        for setup in PAPER_EPOCHS:
            rows.append(time_setup(setup, full, a, device, compile)); print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    total = df.groupby('compile')['paper GPU-hours'].sum()
    best = df[df['compile'] == (total.idxmin())]
    per_copy_hours = (best['paper GPU-hours']/PAPER_COPIES).sum()  # one copy of every setup, one after another
    wall = {p: math.ceil(PAPER_COPIES/p)*per_copy_hours for p in (int(x) for x in a.gpus.split(','))}
    header = (f"{card}: ResNet-18 width {a.width}, batch {a.batch}, {a.copies} copies per vmapped group, bf16={device.type == 'cuda'}, "
              f"channels_last; epoch extrapolated to {a.train:,} images from {a.steps} steps.\n"
              f"Projected paper protocol (30 copies, 200/50/20/500 epochs + probes): "
              + ', '.join(f"compile {'on' if k else 'off'}: {v:.1f} GPU-hours" for k, v in total.items()) + ".\n"
              f"Wall time with torchrun on P such GPUs (compile {'on' if total.idxmin() else 'off'}; a rank trains ceil(30/P) copies of "
              f"every setup; the analyses after training not counted): "
              + ', '.join(f"P={p}: {h:.1f} h" for p, h in wall.items()) + "\n\n")
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out/'gpu.csv', index=False)
    (out/'gpu.md').write_text(header + df.to_markdown(index=False, floatfmt='.3g'))
    print(header + df.to_markdown(index=False, floatfmt='.3g'))


if __name__ == '__main__':
    main()
