"The package's plan: modules live in stage subpackages, and imports only point down the pipeline, never in a circle."
import ast
from pathlib import Path

from conftest import ROOT

STAGES = ('data', 'methods', 'training', 'analysis', 'study')   # the pipeline, in order: a stage reads only itself and the stages before it
PKG = ROOT/'memo_nb'


def module_name(path:Path)->str:
    parts = path.relative_to(ROOT).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imported_modules(path:Path)->set[str]:
    "Every memo_nb module `path` imports, at its top or inside a function, absolute or relative."
    me, out = module_name(path).split('.'), set()
    package = me if path.name == '__init__.py' else me[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import): names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = '.'.join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) if node.level else node.module
            names = [base] + [f'{base}.{a.name}' for a in node.names]   # `from pkg import module` imports the module
        else: continue
        out |= {n for n in names if n and n.split('.')[0] == 'memo_nb'}
    known = {module_name(p) for p in PKG.rglob('*.py')}
    return {n for n in out if n in known} - {module_name(path)}


def graph()->dict[str, set[str]]:
    return {module_name(p): imported_modules(p) for p in PKG.rglob('*.py') if p.name != '_modidx.py'}


def stage(module:str)->int|None:
    parts = module.split('.')
    return STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else None


def test_every_module_lives_in_a_stage():
    flat = [m for m in graph() if m != 'memo_nb' and stage(m) is None]
    assert flat == [], f"modules outside the stages {STAGES}: {flat}"
    assert {p.name for p in PKG.iterdir() if p.is_dir() and not p.name.startswith('_')} - {'__pycache__'} == set(STAGES)


def upward(g:dict[str, set[str]])->list[str]:
    return [f"{m} -> {n}" for m, ns in g.items() for n in ns if stage(m) is not None and stage(n) is not None and stage(n) > stage(m)]


def circles(g:dict[str, set[str]])->list[str]:
    state, found = {}, []
    def visit(m, path):
        state[m] = 'open'
        for n in sorted(g.get(m, ())):
            if state.get(n) == 'open': found.append(' -> '.join(path[path.index(n):] + [n]))
            elif n not in state: visit(n, path + [n])
        state[m] = 'done'
    for m in sorted(g):
        if m not in state: visit(m, [m])
    return found


def test_imports_point_down_the_pipeline():
    assert upward(graph()) == [], "a stage imports a later stage"


def test_no_import_circle():
    assert circles(graph()) == []


def test_the_checker_sees_a_circle_and_an_upward_arrow():
    "The checks fail on the old plan (setups -> ssl_methods -> setups; docs reading the runner is sideways, training reading analysis is up)."
    old = {'memo_nb.methods.setups': {'memo_nb.methods.ssl_methods'}, 'memo_nb.methods.ssl_methods': {'memo_nb.methods.setups'},
           'memo_nb.training.loop': {'memo_nb.analysis.spreads'}, 'memo_nb.study.docs': {'memo_nb.study.runner'}}
    assert circles(old) == ['memo_nb.methods.setups -> memo_nb.methods.ssl_methods -> memo_nb.methods.setups']
    assert upward(old) == ['memo_nb.training.loop -> memo_nb.analysis.spreads']
    # the reader finds relative imports, imports inside functions, and `from package import module`
    p = PKG/'methods'/'setups.py'
    assert 'memo_nb.methods.ssl_methods' in imported_modules(p) and 'memo_nb.methods.objectives' in imported_modules(p)
    assert 'memo_nb.training.loop' in graph()['memo_nb.analysis.representations']
    assert stage('memo_nb.study.cli') > stage('memo_nb.analysis.claims') > stage('memo_nb.training.loop') > stage('memo_nb.methods.setups') > stage('memo_nb.data.files')


MAX_CELL = 30


def is_declaration(code:str)->bool:
    "A cell that only declares data: one dataclass of fields (no methods), or one name bound to a literal table."
    body = ast.parse(code).body
    if len(body) != 1: return False
    node = body[0]
    if isinstance(node, ast.ClassDef): return not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in node.body)
    return isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, (ast.Dict, ast.List, ast.Tuple))


def exported_cells():
    import json
    for nb in sorted((ROOT/'nbs').glob('*/[0-9]*.ipynb')):
        for i, c in enumerate(json.loads(nb.read_text())['cells']):
            src = ''.join(c['source'])
            if c['cell_type'] == 'code' and src.startswith('#| export'):
                yield f"{nb.relative_to(ROOT/'nbs')} cell {i}", '\n'.join(l for l in src.rstrip('\n').split('\n') if not l.startswith('#|'))


def test_exported_cells_hold_one_idea():
    "No exported cell over 30 lines, but a declaration of data (a dataclass's fields, a literal table such as the profiles)."
    cells = list(exported_cells())
    assert len(cells) > 200
    long = [f"{where}: {len(code.splitlines())} lines" for where, code in cells if len(code.splitlines()) > MAX_CELL and not is_declaration(code)]
    assert long == [], long
    assert is_declaration('@dataclass\nclass A:\n    x: int = 1') and is_declaration('P = {"a": 1}')
    assert not is_declaration('class A:\n    def f(self): pass') and not is_declaration('def f(): pass')
