"""The attribution-method registry: one class registers a method for ``Attributor`` and the CLI."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from unpact.attribution import Attributor
from unpact.attribution.methods import METHODS, AttributionMethod, Prompt, get_method, register
from unpact.cli import main
from unpact.errors import UsageError


def test_every_method_module_is_registered_with_a_summary() -> None:
    assert list(METHODS)[0] == "loo"
    assert set(METHODS) >= {"loo", "captum", "ig", "attention"}
    for name, cls in METHODS.items():
        assert cls.name == name and cls.summary


def test_unknown_method_lists_the_registered_ones() -> None:
    with pytest.raises(UsageError, match="valid choices: " + ", ".join(sorted(METHODS))):
        get_method("shap")


@pytest.fixture
def position_method() -> Iterator[type[AttributionMethod]]:
    @register
    class Position(AttributionMethod):
        """Scores each unit by its position: a method made of one class, registered in a test."""

        name = "position_test"
        summary = "the unit's index"

        def prompt_scores(self, prompt: Prompt) -> np.ndarray:
            return np.arange(len(prompt.units.units), dtype=float)

    yield Position
    del METHODS["position_test"]


def test_a_registered_method_runs_through_attributor_with_loo_lps(
    tiny_llama: tuple[Any, Any], position_method: type[AttributionMethod]
) -> None:
    model, tok = tiny_llama
    prompts, targets = ["Mira was born in ?", "Tolan won the prize"], [" Oslo", " award"]
    mine = Attributor(model, tok, method="position_test").attribute(prompts, targets)
    loo = Attributor(model, tok).attribute(prompts, targets)
    for a, b in zip(mine.items, loo.items):
        assert a.method == "position_test" and a.units == b.units
        assert a.contributions.tolist() == list(range(len(a.units)))
        assert a.lp == pytest.approx(b.lp, abs=1e-5)  # the base class computes LP like loo


def test_cli_lists_methods_from_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attribute", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}: {cls.summary}" in out for name, cls in METHODS.items())
