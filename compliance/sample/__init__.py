"""Deterministic generator of a realistic, deliberately messy sample district (contract: SAMPLE.md in this folder).

``generate(out_dir, scale, seed)`` writes one; ``ensure_sample(scale, seed)`` caches one under var/sample.
Nothing here imports Prefect; heavy libraries are imported only when generating.
"""

from compliance.sample.core import GENERATOR_VERSION, ensure_sample, generate, sample_path

__all__ = ["GENERATOR_VERSION", "ensure_sample", "generate", "sample_path"]
