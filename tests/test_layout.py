"""The house rules of the code's layout, checked: the ML core never imports
the lab service or Streamlit (the contracts in .importlinter), and no two
modules of the project import each other, directly or round a cycle."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold(monkeypatch):
    from importlinter.cli import lint_imports

    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / ".importlinter")) == 0


def test_no_import_cycles():
    import grimp

    graph = grimp.build_graph("model", "app_pages")
    modules = sorted(graph.modules)
    imports = {m: {n for n in graph.find_modules_directly_imported_by(m) if n in graph.modules} for m in modules}
    # a package's __init__ importing its own sub-modules is no cycle
    cycles, state = [], {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(imports[m]):
            if n.startswith(m + "."):
                continue
            if state.get(n) == "open":
                cycles.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in modules:
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
