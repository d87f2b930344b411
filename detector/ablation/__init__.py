"""Controlled experiments: every (cfg, seed) with one recipe, NMS re-evaluation, peers, statistics."""
from .runner import AblationConfig, Recipe, run_ablation

__all__ = ["AblationConfig", "Recipe", "run_ablation"]
