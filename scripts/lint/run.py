"""AST lints for the rules import contracts cannot express (STYLE.md section 4).

1. no ``select(<TenantOwned model>)`` outside a ``repository.py``;
2. no ``datetime.now``/``datetime.utcnow``/``time.time``/``time.time_ns`` outside
   ``core/clock.py`` (and ``core/ids.py``, whose UUIDv7 needs wall time by definition);
3. no ``.commit()`` on a session outside the storage unit of work.

Exit code 1 with one line per finding; 0 when clean.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "chainflow"
CLOCK_ALLOWED = {"core/clock.py", "core/ids.py"}
COMMIT_ALLOWED = {"storage/relational/unit_of_work.py"}
WALL_TIME_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("time", "time"),
    ("time", "time_ns"),
}


def _tenant_owned_models(files: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in files:
        if path.name != "models.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if "TenantOwned" in bases:
                    names.add(node.name)
    return names


def _dotted(node: ast.AST) -> tuple[str, str] | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    return None


def lint(files: list[Path]) -> list[str]:
    tenant_models = _tenant_owned_models(files)
    findings: list[str] = []
    for path in files:
        rel = path.relative_to(SOURCE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            where = f"src/chainflow/{rel}:{node.lineno}"
            dotted = _dotted(node.func)
            if dotted in WALL_TIME_CALLS and rel not in CLOCK_ALLOWED:
                findings.append(
                    f"{where}: {'.'.join(dotted)}() outside core/clock.py; inject a Clock"
                )
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "commit"
                and rel not in COMMIT_ALLOWED
            ):
                findings.append(f"{where}: .commit() outside the storage unit of work")
            is_select = (isinstance(node.func, ast.Name) and node.func.id == "select") or (
                isinstance(node.func, ast.Attribute) and node.func.attr == "select"
            )
            if is_select and path.name != "repository.py":
                for arg in node.args:
                    if isinstance(arg, ast.Name) and arg.id in tenant_models:
                        findings.append(
                            f"{where}: select({arg.id}) of a tenant table outside repository.py"
                        )
    return findings


def main() -> int:
    files = sorted(SOURCE.rglob("*.py"))
    findings = lint(files)
    for line in findings:
        print(line)  # noqa: T201
    print(f"scripts/lint: {len(files)} files, {len(findings)} findings")  # noqa: T201
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
