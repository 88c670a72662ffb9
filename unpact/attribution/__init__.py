"""Prompt attribution (unPact's leave-one-out score and alternatives), KeyTokens, tracking and heat-text."""
from __future__ import annotations

from unpact.attribution.attributor import METHODS, AttributionResult, Attributor, PromptAttribution

__all__ = ["METHODS", "AttributionResult", "Attributor", "PromptAttribution"]
