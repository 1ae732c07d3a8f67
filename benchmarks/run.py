"""One benchmark table for memo_nb, every figure measured in this run on this machine.

- augmentation images/s: memo_nb's batched SimCLR pipeline vs torchvision's per-image PIL transforms
- training images/s per setup, all copies together: memo_nb vs the reference pipeline (copies one after another,
  PIL transforms in a DataLoader, fp32, same model and batch size)
- probe-evaluation overhead as a share of an epoch at the paper's K=1024, M=10 on 50,000 images, and
  at K=512, M=4 on 2,000 images (probe timed, epoch extrapolated from the measured training rate)
- time per epoch for N = 1, 2, 4, 8 copies and for 2k / 10k / 50k training images (a few steps timed, extrapolated)
- peak memory

    python benchmarks/run.py [--width 16] [--out results/benchmark]

Writes benchmark.csv and benchmark.md into --out.
"""
import argparse, resource, sys, time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from augment import rate, torchvision_simclr, CIFAR_JPEG  # noqa: E402
from train import PILSet, reference_epoch, ours_epoch  # noqa: E402
from torchvision.transforms.functional import to_pil_image  # noqa: E402

from memo_nb.data.augment import SimCLRAugment  # noqa: E402
from memo_nb.data.datasets import load_dataset, balanced_indices  # noqa: E402
from memo_nb.methods.setups import SETUPS  # noqa: E402
from memo_nb.training.config import TrainConfig, resolved, pick_device  # noqa: E402
from memo_nb.training.copies import CopyGroup  # noqa: E402
from memo_nb.training.loop import probe_views, evaluate_probe  # noqa: E402

PAPER_SETUPS = [name for name, s in SETUPS.items() if s.paper_epochs]  # the setups the reference pipeline reproduces


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def timed(fn, device):
    sync(device); t0 = time.perf_counter(); fn(); sync(device)
    return time.perf_counter() - t0


def peak_memory_mb(device):
    if device.type == 'cuda': return torch.cuda.max_memory_allocated(device)/2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--width', type=int, default=16)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--steps', type=int, default=4, help='optimizer steps per copy in the timed training runs')
    ap.add_argument('--copies', type=int, default=2, help='copies in the memo_nb vs reference comparison')
    ap.add_argument('--device', default='auto')
    ap.add_argument('--out', default='results/benchmark')
    a = ap.parse_args()
    device = pick_device(a.device)
    name = f'folder:{CIFAR_JPEG}' if CIFAR_JPEG else 'digits'
    full = load_dataset(name, 'train')
    rows = []
    add = lambda group, what, ours=None, ref=None, unit='', note='': rows.append(
        {'group': group, 'measure': what, 'memo_nb': ours, 'reference': ref,
         'ratio': (ours/ref if unit.endswith('/s') else ref/ours) if ours and ref else None, 'unit': unit, 'note': note})
    print(f"data {name}; device {device}; width {a.width}; batch {a.batch}; torch threads {torch.get_num_threads()}", flush=True)

    # augmentation
    imgs = full.images[:4096]
    aug, g, x_dev = SimCLRAugment(), torch.Generator().manual_seed(0), imgs.to(device)
    ours = rate(lambda: [aug(x_dev[i:i + 256], g) for i in range(0, len(imgs), 256)], len(imgs), device)
    pil, tv = [to_pil_image(im) for im in imgs], torchvision_simclr()
    ref = rate(lambda: torch.stack([tv(im) for im in pil]), len(imgs), device, repeats=1)
    add('augmentation', 'SimCLR views', ours, ref, 'images/s', 'batches of 256 vs per-image PIL')
    print(rows[-1], flush=True)

    # training, memo_nb vs reference
    n = a.steps*a.batch
    data = full.subset(balanced_indices(full.labels, n, seed=0))
    train_rate, cfgs, t_ref = {}, {}, {}
    for setup in PAPER_SETUPS:  # the reference first, with the C library's default allocator, as the original code ran
        cfgs[setup] = resolved(TrainConfig(setup=setup, dataset='digits', copies=a.copies, width=a.width, batch_size=a.batch,
                                           lr=1e-3 if setup == 'simclr' else 0.05, epochs=1))
        t_ref[setup] = reference_epoch(setup, PILSet(data.images, data.labels, setup), cfgs[setup], device, 0)
    d = data.to(device)
    for setup in PAPER_SETUPS:  # memo_nb's engine (which tunes the CPU allocator, as train_run does)
        cfg, views = cfgs[setup], 2 if setup == 'simclr' else 1
        ours_epoch(setup, d, resolved(TrainConfig(**{**cfg.__dict__, 'copies': 1})), device)  # warm-up
        t_ours = ours_epoch(setup, d, cfg, device)
        amp = resolved(TrainConfig(**{**cfg.__dict__, 'amp': True}))
        ours_epoch(setup, d, resolved(TrainConfig(**{**amp.__dict__, 'copies': 1})), device)  # warm-up
        t_amp = ours_epoch(setup, d, amp, device)
        train_rate[setup] = a.copies*n/t_ours  # training images (not views) per second
        ref = a.copies*n*views/t_ref[setup]
        add('training', setup, a.copies*n*views/t_ours, ref, 'views/s', f'fp32; {a.copies} copies x {a.steps} steps')
        print(rows[-1], flush=True)
        add('training', f'{setup}, bf16 autocast', a.copies*n*views/t_amp, ref, 'views/s', 'amp=True; reference fp32')
        print(rows[-1], flush=True)
    if device.type == 'cpu':  # how much of the gain is the allocator: the reference again, now with it tuned
        t = reference_epoch('simclr', PILSet(data.images, data.labels, 'simclr'), cfgs['simclr'], device, 0)
        add('training', 'simclr reference with the tuned allocator', a.copies*n*2/t, a.copies*n*2/t_ref['simclr'], 'views/s',
            'reference pipeline after tune_cpu_allocator(), vs itself before')
        print(rows[-1], flush=True)

    add('memory', 'peak after the training rows', peak_memory_mb(device), None, 'MiB', 'CUDA max allocated' if device.type == 'cuda' else 'max RSS of the process')

    # probe overhead: paper K, M on 50,000 images; a small study's K, M on 2,000
    for label, K, M, n_train in (('paper K=1024 M=10, 50k images', 1024, 10, 50_000), ('K=512 M=4, 2k images', 512, 4, 2000)):
        for setup in ('simclr', 'supervised'):
            cfg = resolved(TrainConfig(setup=setup, dataset='digits', copies=1, width=a.width, probe_size=K, draws=M, epochs=1,
                                       probe_batch=256 if K >= 256 else K))
            c = CopyGroup(cfg, [0], 10, device)
            probe = full.images[balanced_indices(full.labels, K, seed=1)].to(device)
            views = probe_views(cfg, probe)
            labels = full.labels[:K].to(device)
            evaluate_probe(c, cfg, views[:1], labels)  # warm-up
            t_probe = timed(lambda: evaluate_probe(c, cfg, views, labels), device)
            t_epoch = n_train/train_rate[setup]
            add('probe overhead', f'{setup}, {label}', 100*t_probe/(t_probe + t_epoch), None, '% of epoch',
                f'probe {t_probe:.1f} s, epoch {t_epoch:.0f} s (extrapolated)')
            print(rows[-1], flush=True)

    # scaling in copies (measured) and in dataset size (extrapolated from the per-step time)
    small = data.subset(torch.arange(2*a.batch)).to(device)
    for N in (1, 2, 4, 8):
        for together in (False, True):
            if together and N == 1: continue
            cfg = resolved(TrainConfig(setup='supervised', dataset='digits', copies=N, width=a.width, batch_size=a.batch, lr=0.05,
                                       epochs=1, concurrent=N if together else 1))
            t = ours_epoch('supervised', small, cfg, device)
            how = 'one vmapped group' if together else 'one after another'
            add('scaling', f'supervised, N={N}, {how}', t/N/2, None, 's per copy-step', f'{t:.2f} s for 2 steps of {N} copies')
            print(rows[-1], flush=True)
    for setup in ('simclr', 'supervised'):
        for n_train in (2000, 10_000, 50_000):
            add('scaling', f'{setup}, one copy, {n_train:,} images', n_train/train_rate[setup], None, 's per epoch', 'extrapolated')
    add('memory', 'peak after the scaling rows (vmapped groups of 8)', peak_memory_mb(device), None, 'MiB', 'CUDA max allocated' if device.type == 'cuda' else 'max RSS of the process')

    df = pd.DataFrame(rows)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out/'benchmark.csv', index=False)
    header = f"Measured {time.strftime('%Y-%m-%d')} on {device} ({torch.get_num_threads()} threads), ResNet-18 width {a.width}, batch {a.batch}, data {name.split('/')[-1]}.\n\n"
    (out/'benchmark.md').write_text(header + df.to_markdown(index=False, floatfmt='.3g'))
    print(header + df.to_markdown(index=False, floatfmt='.3g'))


if __name__ == '__main__':
    main()
