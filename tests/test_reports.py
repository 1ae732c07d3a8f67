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
            if isinstance(v, str): vals += decimals(v)
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
