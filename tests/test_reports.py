"The README's claims table and the results page (nbs/92_results.ipynb) say what the committed reports' tables and claims say."
import json, re

import pandas as pd
import pytest

from conftest import ROOT

README = (ROOT/'README.md').read_text()
RESULTS_PAGE = ROOT/'nbs'/'92_results.ipynb'
TEXT = '\n'.join(''.join(c['source']) for c in json.loads(RESULTS_PAGE.read_text())['cells'] if c['cell_type'] == 'markdown')
REPORT_LINK = re.compile(r'^\[`results/([\w-]+)/REPORT\.md`\]', re.M)
NUMBER = re.compile(r'(?<![\w.])[−+-]?\d+\.\d+|(?<![\w.])\d+(?=%)')   # decimals, and integer percentages
STALE = 'not yet re-made'   # a paragraph that says its report predates the current analyses is not checked against it


def paragraph(name:str)->str:
    "The results page's text about results/<name>: from its report link to the next report link or bold heading."
    start = re.search(r'^\[`results/%s/REPORT\.md`\]' % re.escape(name), TEXT, re.M).start()
    end = re.compile(r'^(\[`results/|\*\*|## )', re.M).search(TEXT, start + 1)
    return TEXT[start:end.start() if end else len(TEXT)]


def decimals(text:str)->list[float]: return [float(x.replace('−', '-')) for x in re.findall(r'[−+-]?\d+\.\d+', text)]


def report_numbers(name:str)->list[float]:
    "Every number in a report's tables (cells, and numbers inside text cells) and in its claims' evidence."
    vals = []
    for f in (ROOT/'results'/name).glob('*.csv'):
        for v in pd.read_csv(f).to_numpy().ravel():
            if isinstance(v, str): vals += decimals(v) + [float(x)/100 for x in re.findall(r'(?<![\w.])(\d+)%', v)]   # '28% (22%–34%)'
            elif isinstance(v, (int, float)): vals.append(float(v))
    for c in json.loads((ROOT/'results'/name/'claims.json').read_text()): vals += decimals(c['evidence'])
    return vals


def unmatched(text:str, values:list[float])->list[str]:
    "The numbers of `text` that no value rounds to (at the number of decimals written; '19%' is 0.19)."
    bad = []
    for m in NUMBER.finditer(text):
        s = m.group(0)
        x, d = (float(s)/100, 2) if text[m.end():m.end() + 1] == '%' else (float(s.replace('−', '-')), len(s.split('.')[1]))
        if not any(abs(v - x) <= 0.5*10**-d + 1e-9 for v in values): bad.append(f"{s} in '…{text[max(0, m.start() - 50):m.end() + 10]}…'")
    return bad


CHECKED = [n for n in REPORT_LINK.findall(TEXT) if STALE not in paragraph(n)]


def test_readme_checks_some_reports():
    assert {'quick-digits', 'cpu-cifar10'} <= set(CHECKED), CHECKED


@pytest.mark.parametrize('name', CHECKED)
def test_readme_numbers_are_in_the_reports_tables(name):
    text = paragraph(name)
    assert len(NUMBER.findall(text)) > 10, f"the paragraph on {name} quotes few numbers: is the link still there?"
    bad = unmatched(text, report_numbers(name))
    assert not bad, f"Results-page numbers about results/{name} found in none of its tables or claims:\n" + '\n'.join(bad)


@pytest.mark.parametrize('name', CHECKED)
def test_readme_verdicts_are_the_reports(name):
    claims = {int(c['claim'].split('.')[0]): c['verdict'] for c in json.loads((ROOT/'results'/name/'claims.json').read_text())}
    said = {int(n): v for n, v in re.findall(r'Claim (\d) (?:is )?\*\*([\w ]+)\*\*', paragraph(name))}
    assert said, f"the paragraph on {name} states no verdict"
    for n, v in said.items(): assert claims[n] == v, f"The results page says claim {n} {v!r} about {name}; its claims.json says {claims[n]!r}"


def test_the_number_check_sees_a_wrong_number():
    "The check itself: a number off by one in its last digit is caught, one within rounding is not."
    assert unmatched('σ 0.080 and 0.07 (19%)', [0.0795, 0.071, 0.188]) == []
    assert len(unmatched('σ 0.081 and 0.06', [0.0795, 0.071])) == 2


CLAIMS_TABLE = re.compile(r'^\| claim \|(.+)\|\n\|[-| ]+\|\n((?:\|.*\|\n?)+)', re.M)


def readme_claims_table()->tuple[list[str], list[list[str]]]:
    "The README's claims x studies table: the studies of its header (`results/<name>` links) and its rows of cells."
    m = CLAIMS_TABLE.search(README)
    assert m, "the README has no claims table (a header '| claim | ...')"
    studies = [re.search(r'results/([\w-]+)/', h).group(1) for h in m.group(1).split('|')]
    rows = [[c.strip() for c in l.strip().strip('|').split('|')] for l in m.group(2).strip().splitlines()]
    return studies, rows


def test_readme_is_short_with_a_figure_and_both_commands_first():
    lines = README.splitlines()
    assert len(lines) <= 150 and len(README.split()) <= 1500, (len(lines), len(README.split()))
    assert re.search(r'!\[[^\]]*\]\(results/[\w-]+/fig_\w+\.png\)', README)
    head = '\n'.join(lines[:40])
    assert 'pip install -e . && memo-nb run quick' in head and 'pip install -e ".[dev]" && OMP_NUM_THREADS=1 nbdev_test --n_workers 2 && pytest' in head


def test_readme_links_resolve():
    "Every relative link of the README names a file of the clone (the sections it dropped live in the pages it links)."
    links = [l.split('#')[0] for l in re.findall(r'\]\(([^)]+)\)', README) if '://' not in l]
    assert {'nbs/90_running.ipynb', 'nbs/91_method.ipynb', 'nbs/92_results.ipynb', 'nbs/93_library.ipynb'} <= set(links)
    assert all((ROOT/l).exists() for l in links), [l for l in links if not (ROOT/l).exists()]


def test_readme_claims_table_is_the_reports():
    "Each cell of the README's claims table gives its study's verdict, and every number in it is one of that study's."
    studies, rows = readme_claims_table()
    assert 'cpu-cifar10' in studies and len(rows) == 4
    for row in rows:
        n = int(row[0].split('.')[0])
        for name, cell in zip(studies, row[1:]):
            verdict = {int(c['claim'].split('.')[0]): c['verdict'] for c in json.loads((ROOT/'results'/name/'claims.json').read_text())}[n]
            assert cell.startswith(f'**{verdict}**'), (name, n, cell, verdict)
            bad = unmatched(cell[len(verdict) + 4:], report_numbers(name))
            assert not bad, (name, n, bad)
