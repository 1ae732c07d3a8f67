"The committed explorer pages as a reader uses them: opened in headless Chromium, sorted, filtered and an object selected (slow)."
import shutil, time
from pathlib import Path

import pytest

from conftest import ROOT

PAGES = sorted((ROOT/'results').glob('*/explorer.html'))

DEEP_QUERY = """
const found = [];
const walk = (root) => { root.querySelectorAll(arguments[0]).forEach(e => found.push(e));
                         root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) walk(e.shadowRoot); }); };
walk(document);
return found;
"""


@pytest.fixture(scope='module')
def browser():
    webdriver = pytest.importorskip('selenium.webdriver')
    from selenium.webdriver.chrome.service import Service
    chromium, driver = shutil.which('chromium') or shutil.which('chromium-browser'), shutil.which('chromedriver')
    if not (chromium and driver): pytest.skip('needs headless Chromium and chromedriver (apt-get install chromium chromium-driver)')
    opts = webdriver.ChromeOptions()
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--window-size=1400,1400', '--allow-file-access-from-files'): opts.add_argument(a)
    opts.binary_location = chromium
    d = webdriver.Chrome(service=Service(driver), options=opts)
    yield d
    d.quit()


def model(d, name, expr):
    return d.execute_script(f"const m = Bokeh.documents[0].get_model_by_name('{name}'); return {expr};")


def wait_for(check, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if (v := check()): return v
        time.sleep(0.2)
    raise AssertionError('the page did not get there in time')


def test_the_main_and_heldout_studies_have_explorer_pages():
    assert {'cpu-cifar10', 'heldout-cifar10'} <= {p.parent.name for p in PAGES}


@pytest.mark.slow
@pytest.mark.parametrize('page', PAGES, ids=[p.parent.name for p in PAGES])
def test_explorer_lists_sorts_filters_and_selects(browser, page, tmp_path):
    import pandas as pd
    from memo_nb.analysis.explorer import read_explorer
    table = read_explorer(page)
    d = browser
    d.get(page.resolve().as_uri())
    wait_for(lambda: d.execute_script("return window.Bokeh && Bokeh.documents.length"))
    assert model(d, 'count', 'm.text') == f'{len(table)} of {len(table)} objects shown'
    # sort by r: click its header twice (ascending, then descending); the first row is then an object with the largest r
    header = wait_for(lambda: [h for h in d.execute_script(DEEP_QUERY, '.slick-header-column') if h.text.strip() == 'r'])[0]
    setup = model(d, 'setup', 'm.value')
    for _ in range(2): d.execute_script('arguments[0].click()', header); time.sleep(0.5)
    first_row = d.execute_script(DEEP_QUERY, '.slick-row')[0].text.split('\n')
    assert float(first_row[2]) == pytest.approx(table[f'{setup}:r'].max(), abs=5e-4), first_row
    # filter by a class, then select the first object shown: its curves are drawn for every setup
    cls = sorted(table['class'].unique())[1]
    model(d, 'class', f"(m.value = '{cls}', 1)")
    assert model(d, 'count', 'm.text') == f"{(table['class'] == cls).sum()} of {len(table)} objects shown"
    row = d.execute_script(DEEP_QUERY, '.slick-row')[0]
    d.execute_script('arguments[0].querySelector(".slick-cell.l1").click()', row)
    chosen = wait_for(lambda: model(d, 'objects', 'm.selected.indices'))
    assert table['class'][chosen[0]] == cls
    drawn = d.execute_script("return Bokeh.documents[0].all_models.size && [...Bokeh.documents[0].all_models]"
                             ".filter(m => m.type === 'ColumnDataSource' && m.data.lo !== undefined).map(m => m.data.y.length)")
    assert drawn and min(drawn) > 1, drawn
    assert 'success per draw' in model(d, 'draws', 'm.text')
    shot = ROOT/'runs'/f'explorer-{page.parent.name}.png'
    shot.parent.mkdir(exist_ok=True)
    d.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
