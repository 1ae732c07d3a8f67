"The project's own invariants: README mirrors nbs/index.ipynb, memo_nb/ mirrors the notebooks."
import re, shutil, subprocess

import pytest

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
    for f in (ROOT/'memo_nb').rglob('*.py'):
        rel = f.relative_to(ROOT/'memo_nb')
        assert (tmp_path/'memo_nb'/rel).read_text() == f.read_text(), f"{f} is out of sync: run nbdev_export"
    made = lambda root: {f.relative_to(root).as_posix() for f in root.rglob('*.py')}
    assert made(tmp_path/'memo_nb') == made(ROOT/'memo_nb')


def test_committed_results_name_no_absolute_path():
    "Showcase results are portable: every path in them is relative to the repository (memo-nb publish makes them so)."
    from memo_nb.study.publish import absolute_paths
    assert (ROOT/'results').exists()
    assert absolute_paths(ROOT/'results') == []


def test_library_notebooks_show_their_outputs():
    "A reader of nbs/ sees every library notebook's examples executed: each one that exports code keeps outputs."
    import json
    for nb in sorted((ROOT/'nbs').rglob('[0-9]*.ipynb')):
        cells = json.loads(nb.read_text())['cells']
        if not any('#| export' in ''.join(c['source']) for c in cells): continue
        assert sum(len(c.get('outputs', [])) for c in cells if c['cell_type'] == 'code') > 0, f"{nb.name} has lost its outputs"


def test_library_notebooks_outputs_belong_to_their_code():
    "Each library notebook was executed (memo-nb notebooks) after its code last changed: its stamp is the digest of its code cells."
    from memo_nb.study.docs import stale_notebooks, library_notebooks
    assert len(library_notebooks(ROOT)) > 10
    assert stale_notebooks(ROOT) == [], "re-execute them with `memo-nb notebooks`"


STUDY_RESULTS = sorted(p for p in (ROOT/'results').iterdir() if (p/'study.json').exists())


def test_committed_results_are_complete():
    "Every committed study has its report in both forms, every figure the report shows, and its executed notebooks."
    assert STUDY_RESULTS
    for folder in STUDY_RESULTS:
        report = (folder/'REPORT.md').read_text()
        figures = re.findall(r'!\[[^\]]*\]\(([^)]+)\)', report)
        assert figures and all((folder/f).exists() for f in figures), folder
        assert (folder/'REPORT.html').exists() and len(re.findall(r'<img ', (folder/'REPORT.html').read_text())) == len(figures), folder
        notebooks = {p.name for p in (folder/'notebooks').glob('*.ipynb')}
        assert {'memorization.ipynb', 'representations.ipynb'} <= notebooks and any(n.startswith('train_') for n in notebooks), folder


RENDER_CHECK = ("<script>window.addEventListener('load', () => { for (const i of document.images) "
                "i.setAttribute('data-natural-width', i.complete ? i.naturalWidth : 0); });</script>")


@pytest.mark.slow
@pytest.mark.parametrize('folder', STUDY_RESULTS, ids=lambda p: p.name)
def test_report_renders_in_a_browser(folder, tmp_path):
    "Headless Chromium opens REPORT.html and draws every figure (each image loaded with a width)."
    browser = next((b for b in map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome')) if b), None)
    if browser is None: pytest.skip('needs Chromium (Debian: apt install chromium)')
    copy = shutil.copytree(folder, tmp_path/folder.name)
    page = (copy/'REPORT.html').read_text().replace('</body>', RENDER_CHECK + '</body>')
    (copy/'render-check.html').write_text(page)
    res = subprocess.run([browser, '--headless', '--no-sandbox', '--disable-gpu', '--allow-file-access-from-files',
                          '--virtual-time-budget=20000', '--dump-dom', (copy/'render-check.html').as_uri()],
                         capture_output=True, text=True, timeout=300)
    images = re.findall(r'<img [^>]*>', res.stdout)
    expected = re.findall(r'!\[[^\]]*\]\(([^)]+)\)', (folder/'REPORT.md').read_text())
    assert len(images) == len(expected) > 0, res.stderr[-2000:]
    widths = [int(re.search(r'data-natural-width="(\d+)"', i).group(1)) for i in images]
    assert all(w > 100 for w in widths), list(zip(expected, widths))


SITE_CHECK = ("<script>window.addEventListener('load', () => { const bad = []; let drawn = 0; for (const i of document.images) "
              "if (i.complete && i.naturalWidth > 0) drawn++; else bad.push(i.getAttribute('src').slice(0, 60)); "
              "const side = document.querySelector('.bd-sidebar-primary'); "
              "document.body.setAttribute('data-site-check', JSON.stringify({drawn, bad, sidebar: side ? side.querySelectorAll('a').length : 0})); });</script>")


@pytest.mark.slow
def test_site_builds_offline_and_its_pages_open(tmp_path):
    """memo-nb docs builds the site with Sphinx; every link resolves and nothing is fetched from the internet; headless Chromium opens
    the home page, a library notebook, an executed study notebook (the one its template links to) and a report, finds the sidebar and draws every image (screenshots kept)."""
    browser = next((b for b in map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome')) if b), None)
    if browser is None: pytest.skip('needs Chromium (Debian: apt install chromium)')
    import json
    from memo_nb.study.docs import build_site, site_problems, site_groups
    site = tmp_path/'site'
    pages = {p.relative_to(site).as_posix() for p in build_site(site, ROOT)}
    documents = {'index.ipynb'} | {d for docs in site_groups(ROOT).values() for d in docs}
    assert {d.rsplit('.', 1)[0] + '.html' for d in documents} <= pages
    assert site_problems(site) == []
    shots = ROOT/'runs'/'site-screenshots'; shots.mkdir(parents=True, exist_ok=True)
    for page in ('index.html', 'nbs/analysis/52_claims.html', 'results/cpu-cifar10/notebooks/memorization.html', 'results/cpu-cifar10/REPORT.html'):
        path = site/page
        checked = path.with_name(path.stem + '.check.html')
        checked.write_text(path.read_text().replace('</body>', SITE_CHECK + '</body>'))
        res = subprocess.run([browser, '--headless', '--no-sandbox', '--disable-gpu', '--allow-file-access-from-files',
                              '--virtual-time-budget=20000', '--dump-dom', checked.as_uri()], capture_output=True, text=True, timeout=300)
        m = re.search(r"data-site-check=\"([^\"]*)\"", res.stdout)
        assert m, (page, res.stderr[-1500:])
        check = json.loads(m.group(1).replace('&quot;', '"'))
        assert check['bad'] == [] and check['drawn'] >= 1 and check['sidebar'] >= 40, (page, check)
        subprocess.run([browser, '--headless', '--no-sandbox', '--disable-gpu', '--allow-file-access-from-files', '--virtual-time-budget=8000',
                        '--window-size=1300,1000', f"--screenshot={shots/(page.replace('/', '_') + '.png')}", path.as_uri()],
                       capture_output=True, timeout=300)
        checked.unlink()


def test_study_templates_link_to_their_executed_copies():
    "A reader of a study template in nbs/ is one click from a committed study's outputs, and the executed copy links back to the template."
    import json
    for nb in sorted((ROOT/'nbs').glob('1[0-9]_study_*.ipynb')):
        first = next(''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'markdown')
        targets = re.findall(r'\]\((\.\./results/[^)]+\.ipynb)\)', first)
        assert targets and all((nb.parent/t).resolve().exists() for t in targets), (nb.name, targets)
        copy = (nb.parent/targets[0]).resolve()
        text = '\n'.join(''.join(c['source']) for c in json.loads(copy.read_text())['cells'] if c['cell_type'] == 'markdown')
        assert any((copy.parent/b).resolve() == nb.resolve() for b in re.findall(r'\]\(([^)]*nbs/[^)]+\.ipynb)\)', text)), copy
