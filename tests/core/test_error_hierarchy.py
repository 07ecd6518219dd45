"""One error hierarchy: every error class derives from ``ChainflowError``, is defined once and
sets a wire code no other class sets (STYLE.md sections 7 and 13).

The ``errors.py`` modules are imported and checked as classes; the whole source tree is read
as syntax (without importing it) so that an error class defined in two modules, or a wire
code set by two classes, fails here wherever it is written.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pytest

import chainflow
from chainflow.bridge.api import BarPublished
from chainflow.core.errors import ChainflowError, InvalidInput, MalformedEventError, ProtocolError
from chainflow.risk.errors import InvalidRiskInputError
from chainflow.risk.var import compute_historical_var

SOURCE = Path(chainflow.__file__).resolve().parent

# Wire codes set twice in services being restructured (issue 22, point 2), each with the fix:
# derive the class from the one that owns the code (and drop its own ``code``). Remove an
# entry once it is fixed; a new duplicate must not be added here.
PENDING_DUPLICATE_CODES: set[tuple[str, str]] = set()


def errors_modules() -> list[ModuleType]:
    """Return every ``chainflow.**.errors`` module, imported."""
    names = sorted(
        ".".join(("chainflow", *path.relative_to(SOURCE).with_suffix("").parts))
        for path in SOURCE.rglob("errors.py")
    )
    return [importlib.import_module(name) for name in names]


def exception_classes(module: ModuleType) -> list[type[BaseException]]:
    """Return the exception classes ``module`` defines (not those it imports)."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
    ]


@functools.cache
def defined_error_classes(root: Path = SOURCE) -> tuple[tuple[str, ast.ClassDef], ...]:
    """Return (file, class) for every exception class written under ``root``.

    A class is an exception class when one of its bases is a built-in exception or another
    exception class of the tree (by name, until no more are found).
    """
    classes = [
        (str(path.relative_to(root)), node)
        for path in sorted(root.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    ]
    known = {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    found: dict[int, tuple[str, ast.ClassDef]] = {}
    while True:
        added = [
            (file, node)
            for file, node in classes
            if id(node) not in found and any(_base_name(b) in known for b in node.bases)
        ]
        if not added:
            return tuple(found.values())
        for file, node in added:
            found[id(node)] = (file, node)
            known.add(node.name)


def _base_name(base: ast.expr) -> str:
    if isinstance(base, ast.Attribute):
        return base.attr
    return base.id if isinstance(base, ast.Name) else ""


def _own_code(node: ast.ClassDef) -> str | None:
    for statement in node.body:
        target: ast.expr | None = None
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
        elif isinstance(statement, ast.AnnAssign):
            target = statement.target
        value = getattr(statement, "value", None)
        if (
            isinstance(target, ast.Name)
            and target.id == "code"
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            return value.value
    return None


def classes_defined_twice(root: Path = SOURCE) -> dict[str, list[str]]:
    places: dict[str, list[str]] = defaultdict(list)
    for file, node in defined_error_classes(root):
        places[node.name].append(file)
    return {name: files for name, files in places.items() if len(files) > 1}


def codes_set_twice(root: Path = SOURCE) -> dict[str, list[str]]:
    owners: dict[str, list[str]] = defaultdict(list)
    for file, node in defined_error_classes(root):
        code = _own_code(node)
        if code is not None and (node.name, code) not in PENDING_DUPLICATE_CODES:
            owners[code].append(f"{file}:{node.name}")
    return {code: names for code, names in owners.items() if len(names) > 1}


class TestErrorsModules:
    def test_every_service_errors_module_is_found(self) -> None:
        names = {module.__name__ for module in errors_modules()}
        services = ["core", "users", "notify", "analytics", "gateway", "storage", "risk"]
        services += ["trading", "backtest", "features", "ml"]
        for service in services:
            assert f"chainflow.{service}.errors" in names

    @pytest.mark.parametrize("module", errors_modules(), ids=lambda m: m.__name__)
    def test_every_class_derives_from_chainflow_error(self, module: ModuleType) -> None:
        classes = exception_classes(module)
        outside = [c.__name__ for c in classes if not issubclass(c, ChainflowError)]
        assert not outside, f"expected only ChainflowError subclasses; received {outside}"

    @pytest.mark.parametrize("module", errors_modules(), ids=lambda m: m.__name__)
    def test_every_class_has_a_code_and_a_status(self, module: ModuleType) -> None:
        for error in exception_classes(module):
            assert issubclass(error, ChainflowError)
            assert isinstance(error.code, str) and error.code, error.__name__
            assert error.code == error.code.lower().replace(" ", "_"), error.__name__
            assert 400 <= error.status <= 599, error.__name__

    def test_a_code_is_set_by_one_class_of_the_errors_modules(self) -> None:
        owners: dict[str, list[str]] = defaultdict(list)
        for module in errors_modules():
            for error in exception_classes(module):
                assert issubclass(error, ChainflowError)
                if "code" in vars(error) and (error.__name__, error.code) not in (
                    PENDING_DUPLICATE_CODES
                ):
                    owners[error.code].append(f"{module.__name__}.{error.__name__}")
        shared = {code: names for code, names in owners.items() if len(names) > 1}
        assert not shared, f"expected each wire code set by one class; received {shared}"


class TestSourceTree:
    def test_the_tree_holds_the_hierarchy(self) -> None:
        names = {node.name for _, node in defined_error_classes()}
        assert {"ChainflowError", "InvalidInput", "MalformedEventError"} <= names

    def test_no_error_class_is_defined_twice(self) -> None:
        twice = classes_defined_twice()
        assert not twice, f"expected each error class defined once; received {twice}"

    def test_no_wire_code_is_set_by_two_classes(self) -> None:
        shared = codes_set_twice()
        assert not shared, f"expected each wire code set by one class; received {shared}"

    def test_a_duplicate_class_or_code_in_two_services_is_found(self, tmp_path: Path) -> None:
        (tmp_path / "one").mkdir()
        (tmp_path / "two").mkdir()
        (tmp_path / "one" / "errors.py").write_text(
            "class BaseError(Exception):\n    code = 'base'\n\n\n"
            "class TakenError(BaseError):\n    code = 'taken'\n"
        )
        (tmp_path / "two" / "errors.py").write_text(
            "from one.errors import BaseError\n\n\n"
            "class TakenError(BaseError):\n    code = 'other'\n\n\n"
            "class AlsoTakenError(TakenError):\n    code = 'taken'\n"
        )
        assert classes_defined_twice(tmp_path) == {"TakenError": ["one/errors.py", "two/errors.py"]}
        assert codes_set_twice(tmp_path) == {
            "taken": ["one/errors.py:TakenError", "two/errors.py:AlsoTakenError"]
        }


class TestValueErrorContracts:
    """Errors raised where a ``ValueError`` is documented stay ``ValueError``s."""

    def test_a_malformed_bus_event_is_a_protocol_error_and_a_value_error(self) -> None:
        with pytest.raises(MalformedEventError) as caught:
            BarPublished.from_json(b"{}")
        assert isinstance(caught.value, ProtocolError) and isinstance(caught.value, ValueError)
        assert caught.value.code == "event_malformed"

    def test_bad_risk_input_is_invalid_input_and_a_value_error(self) -> None:
        with pytest.raises(InvalidRiskInputError) as caught:
            compute_historical_var([], 0.95)
        assert isinstance(caught.value, InvalidInput) and isinstance(caught.value, ValueError)
        assert caught.value.status == 422
