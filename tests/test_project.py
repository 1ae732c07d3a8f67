"The project's own invariants: README mirrors nbs/index.ipynb, memo_nb/ mirrors the notebooks."
import shutil, subprocess

from conftest import ROOT


def test_readme_is_index_notebook():
    from nbconvert import MarkdownExporter
    body, _ = MarkdownExporter().from_filename(str(ROOT/'nbs'/'index.ipynb'))
    assert (ROOT/'README.md').read_text() == body, (
        "README.md differs from nbs/index.ipynb; regenerate it with "
        "`jupyter nbconvert --to markdown nbs/index.ipynb --output-dir . --output README`")


def test_library_in_sync_with_notebooks(tmp_path):
    for p in ('nbs', 'settings.ini', 'memo_nb'): 
        (shutil.copytree if (ROOT/p).is_dir() else shutil.copy)(ROOT/p, tmp_path/p)
    subprocess.run(['nbdev_export'], cwd=tmp_path, check=True, capture_output=True)
    for f in (ROOT/'memo_nb').glob('*.py'):
        assert (tmp_path/'memo_nb'/f.name).read_text() == f.read_text(), f"{f} is out of sync: run nbdev_export"
    assert {f.name for f in (tmp_path/'memo_nb').glob('*.py')} == {f.name for f in (ROOT/'memo_nb').glob('*.py')}


def test_committed_results_name_no_absolute_path():
    "Showcase results are portable: every path in them is relative to the repository (memo-nb publish makes them so)."
    from memo_nb.study import absolute_paths
    assert (ROOT/'results').exists()
    assert absolute_paths(ROOT/'results') == []


def test_library_notebooks_show_their_outputs():
    "A reader of nbs/ sees every library notebook's examples executed: each one that exports code keeps outputs."
    import json
    for nb in sorted((ROOT/'nbs').glob('[0-9]*.ipynb')):
        cells = json.loads(nb.read_text())['cells']
        if not any('#| export' in ''.join(c['source']) for c in cells): continue
        assert sum(len(c.get('outputs', [])) for c in cells if c['cell_type'] == 'code') > 0, f"{nb.name} has lost its outputs"
