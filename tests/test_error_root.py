"""Every error the production code defines hangs from one root, says whose fault it is,
and is defined once with a docstring; each refusal carries the status and code its
app answers with (DESIGN section 1, "Errors")."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import Counter

import pytest

from protocol.errors import BranchlineError, InvariantBroken, Refused

# The production packages; the CLI, the simulator and launch/ are tools around them.
PRODUCTION = ("protocol", "conflict", "inventory", "loyalty", "shared_tables", "devices", "node", "hq")


def production_errors() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package_name in PRODUCTION:
        package = importlib.import_module(package_name)
        names = [package_name] + [
            module.name for module in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}.")
        ]
        for name in names:
            module = importlib.import_module(name)
            for value in vars(module).values():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == name
                    and not value.__name__.startswith("_")  # a module's private control flow
                ):
                    found[f"{name}.{value.__name__}"] = value
    return list(found.values())


ERRORS = production_errors()


def test_the_check_finds_the_errors_of_every_shell() -> None:
    modules = {error.__module__.split(".")[0] for error in ERRORS}
    assert {"protocol", "conflict", "node", "hq"} <= modules
    assert len(ERRORS) > 40


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: f"{error.__module__}.{error.__name__}")
def test_each_error_hangs_from_the_root_and_says_whose_fault(error: type[BaseException]) -> None:
    assert issubclass(error, BranchlineError), f"{error} is not a BranchlineError"
    if error in (BranchlineError, Refused, InvariantBroken):
        return
    assert issubclass(error, Refused) != issubclass(error, InvariantBroken), (
        f"{error} must be either ours (InvariantBroken) or theirs (Refused)"
    )
    assert (error.__doc__ or "").strip(), f"{error} has no docstring saying what to do"


@pytest.mark.parametrize(
    "error",
    [error for error in ERRORS if issubclass(error, Refused)],
    ids=lambda error: f"{error.__module__}.{error.__name__}",
)
def test_each_refusal_carries_its_status_and_code(error: type[Refused]) -> None:
    assert isinstance(error.http_status, int)
    assert 400 <= error.http_status <= 599
    assert isinstance(error.code, str)
    assert error.code.isascii()
    assert error.code == error.code.lower()


def test_each_error_is_defined_once() -> None:
    """Two classes of one name (an UnknownCard at the node and another at HQ) are two
    leaves for one failure: each side would catch only its own."""
    names = Counter(error.__name__ for error in ERRORS)
    assert [name for name, count in names.items() if count > 1] == []
