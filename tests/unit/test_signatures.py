"""No function in stack/ takes more than four positional parameters: past that, a call is a
row of values whose order the reader must remember, so the rest are keyword-only."""

from __future__ import annotations

import ast

from tests.helpers import ROOT

MOST = 4


def positional(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = [a.arg for a in node.args.posonlyargs + node.args.args]
    return [n for n in names if n not in ("self", "cls")]


def test_no_function_in_stack_takes_more_than_four_positional_parameters() -> None:
    found = []
    for path in sorted((ROOT / "stack").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = positional(node)
                if len(names) > MOST:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.append(f"{where} {node.name}({', '.join(names)})")
    assert found == [], "make the parameters after the fourth keyword-only (`*,`)"
