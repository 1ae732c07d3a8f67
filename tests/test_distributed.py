"Scale-out: a real two-rank torchrun study equals one process, and a killed job resumes to the same records."
import os, re, signal, subprocess, sys, sysconfig, time
from pathlib import Path

import numpy as np
import pytest

from memo_nb.training.records import load_records
from memo_nb.study.params import study_configs
from memo_nb.training.distributed import shard_dir
from memo_nb.training.loop import is_finished

MEMO_NB = [sys.executable, '-c', 'import sys; from memo_nb.study.cli import main; sys.exit(main())']
TORCHRUN = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg'}  # the threads torchrun gives each rank, for both


def memo_nb_cmd(*args): return MEMO_NB + list(args)
def torchrun_cmd(*args):  # the README's `torchrun ... $(which memo-nb) run ...`, with the entry script itself (not a pyenv shim)
    return TORCHRUN + [str(Path(sysconfig.get_path('scripts'))/'memo-nb'), *args]


def same_records(a:Path, b:Path):
    for s in study_configs('smoke')[0]:
        ra, rb = load_records(a/'train'/s), load_records(b/'train'/s)
        for k in ('correct', 'p_true', 'loss', 'acc'): assert np.array_equal(ra[k], rb[k], equal_nan=True), (s, k)


@pytest.mark.slow
def test_torchrun_equals_one_process_and_resumes(tmp_path):
    one, two = tmp_path/'one', tmp_path/'two'
    res = subprocess.run(memo_nb_cmd('run', 'smoke', '--out', str(one), '--quiet', '--workers', '1'), env=ENV, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    # start the two-rank job, kill it once a shard has recorded an epoch of simclr, run the same command again
    job = subprocess.Popen(torchrun_cmd('run', 'smoke', '--out', str(two), '--quiet'), env=ENV, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    shards = two/'train'/'simclr'/'shards'
    deadline = time.time() + 600
    while not list(shards.glob('copies_*/records/epoch_0002.npz')) and job.poll() is None and time.time() < deadline: time.sleep(0.2)
    assert job.poll() is None, 'the job ended before it could be killed: ' + job.stdout.read()[-2000:]
    os.killpg(job.pid, signal.SIGKILL); job.wait()
    assert not (two/'REPORT.md').exists()
    res = subprocess.run(torchrun_cmd('run', 'smoke', '--out', str(two), '--quiet'), env=ENV, capture_output=True, text=True)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert 'of 10 (setup, copies) items finished on all ranks' in res.stdout, res.stdout[-2000:]
    assert (two/'REPORT.md').exists() and not shards.exists()
    same_records(one, two)


def _children(pid:int)->list[int]:
    "Child processes of `pid`, from /proc."
    kids = []
    for d in Path('/proc').iterdir():
        if d.name.isdigit():
            try: stat = (d/'stat').read_text()
            except OSError: continue
            if int(stat.rsplit(')', 1)[1].split()[1]) == pid: kids.append(int(d.name))
    return kids

def _workers(pid:int)->list[int]:
    "The training worker processes that the runner `pid` spawned (not multiprocessing's resource tracker), in pid order."
    cmd = lambda p: (Path('/proc')/str(p)/'cmdline').read_text()
    return sorted(p for p in _children(pid) if 'spawn_main' in cmd(p) and 'resource_tracker' not in cmd(p))

def _alive(pid:int)->bool:
    try: return (Path('/proc')/str(pid)/'stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError: return False


@pytest.mark.skipif(not Path('/proc/self/stat').exists(), reason='reads processes from /proc (Linux)')
def test_workers_end_with_a_killed_runner(tmp_path):
    "memo-nb's worker processes stop by themselves when the runner that started them is killed outright (SIGKILL)."
    out = tmp_path/'w'
    job = subprocess.Popen(memo_nb_cmd('run', 'smoke', '--out', str(out), '--quiet', '--workers', '2'), env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((out/'train'/'simclr'/'shards').glob('copies_*/records/epoch_0001.npz')) and time.time() < deadline: time.sleep(0.2)
    workers = _workers(job.pid)
    assert len(workers) == 2, workers
    job.kill(); job.wait()
    deadline = time.time() + 15
    while any(map(_alive, workers)) and time.time() < deadline: time.sleep(0.2)
    assert not any(map(_alive, workers)), 'a worker is still running after the runner was killed'


@pytest.mark.skipif(not Path('/proc/self/stat').exists(), reason='reads processes from /proc (Linux)')
def test_a_worker_killed_by_a_signal_is_named(tmp_path):
    "A worker that dies by a signal (as in a crashing kernel) stops the study in one line naming the signal and what it was training."
    out = tmp_path/'w'
    job = subprocess.Popen(memo_nb_cmd('run', 'smoke', '--out', str(out), '--quiet', '--workers', '2'), env=ENV,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while len(list((out/'train'/'simclr'/'shards').glob('copies_*/records/epoch_0001.npz'))) < 2 and time.time() < deadline: time.sleep(0.2)
    workers = _workers(job.pid)
    assert len(workers) == 2, workers
    os.kill(workers[1], signal.SIGSEGV)
    stdout, stderr = job.communicate(timeout=120)
    assert job.returncode == 1, stderr[-2000:]
    line = [l for l in stderr.splitlines() if l.startswith('memo-nb: error:')]
    # which setup it was on depends on how far worker 1 got before the signal (smoke epochs take a fraction of a second)
    m = line and re.search(r'worker 1 of 2 died of SIGSEGV while training (\w+), copy (\d+);', line[0])
    assert m, stderr[-2000:]
    cfgs = study_configs('smoke')[0]
    order = list(cfgs)
    assert m[1] in order and m[2] == '1', line[0]   # a setup of the study, and worker 1's copy
    for s in order[:order.index(m[1])]:   # it trains its items in the study's order: each one before the named one is finished
        assert is_finished(shard_dir(out/'train'/s, range(1, 2)), cfgs[s], range(1, 2)), (s, line[0])
    assert not (out/'REPORT.md').exists()


def test_damaged_files_are_named_once_and_recomputed(tmp_path, capfd):
    "A cut record and a cut weights file: the study names both in one line, its two workers train silently, and the same records come back."
    from memo_nb.study.runner import prepare_study
    from memo_nb.training.distributed import train_in_workers
    from memo_nb.training.loop import report_damage, damaged_files, weights_path
    out = tmp_path/'out'
    from memo_nb.study.params import parse_overrides
    cfgs, _, _ = prepare_study('smoke', out, overrides=parse_overrides(['setups=random', 'epochs=2']))
    train_in_workers(cfgs, out, 2, progress=False)
    run = out/'train'/'random'; before = load_records(run)
    for f in (run/'records'/'epoch_0001.npz', weights_path(run, 1)): f.write_bytes(f.read_bytes()[:100])
    capfd.readouterr()
    assert report_damage(run, 'random') == [run/'records'/'epoch_0001.npz', weights_path(run, 1)]
    train_in_workers(cfgs, out, 2, progress=False)
    said = capfd.readouterr()
    assert said.out.splitlines()[0] == '[memo-nb] random: 2 damaged file(s), recomputed: records/epoch_0001.npz, weights/copy_01.pt'
    assert 'damaged' not in said.out.split('\n', 1)[1] + said.err and 'Warning' not in said.err, said
    assert damaged_files(run) == [] and is_finished(run, cfgs['random'])
    after = load_records(run)
    for k in ('correct', 'p_true', 'loss', 'acc'): assert np.array_equal(before[k], after[k], equal_nan=True), k
