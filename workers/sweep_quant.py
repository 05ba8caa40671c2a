"""A sweep variant's file, spliced from files quantized once per sweep instead of quantized whole.

The parent (the base recipe) and the donors (the tensors the variants change, in their variant types: pins
read from the variants' llama.cpp plans, engine/variant_file.donor_pins) are quantized once per worker machine
and sweep into WORK_DIR/sweeps/<key>/, under a file lock; each variant is then the parent with its changed
tensors taken from the donors, byte-identical to quantizing its own rules (tests/workers/test_variant_file.py).
The files go when the sweep's last variant has been made, or, on a machine that did not make it, when an attempt
starts there after the sweep has ended (remove_finished_sweeps_files).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from django.conf import settings

from leaderboard.recipes.models import Recipe
from leaderboard.sweeps.models import Sweep, SweepVariant
from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize
from workers.engine.variant_file import (
    donor_pins, parent_files, pin_overrides, remove_parent_files, splice_tensors, sweep_key)
from workers.recipe_request import quantize_request


def _final_types(recipe: Recipe) -> dict[str, str]:
    return {t["name"]: t["final_type"] for t in recipe.plan["tensors"]}


def sweep_variant_of(run) -> SweepVariant | None:
    """The sweep variant this run was queued for, when its plans let it be spliced."""
    variant = (SweepVariant.objects.select_related("sweep__base_recipe", "recipe")
               .filter(run_id=run.pk).first())
    if variant is None or not (variant.recipe.plan and variant.sweep.base_recipe.plan):
        return None
    return variant


def splice_variant(variant: SweepVariant, base_path: Path, out: Path, *, base_sha256: str, build_family: str,
                   nthread: int, progress: Callable[[float], None]) -> list[str]:
    """Write the variant's file to `out`; returns what to log (the parent and donors made, or found made)."""
    sweep = variant.sweep
    base_recipe = sweep.base_recipe
    runnable = list(sweep.variants.select_related("recipe").filter(skipped="").exclude(recipe__plan=None))
    parent_request = quantize_request(base_recipe)
    pins = donor_pins(_final_types(base_recipe), [_final_types(v.recipe) for v in runnable])
    # the sweep's own files (not shared with another sweep of the same recipe, whose end would remove them)
    key = f"sweep-{sweep.pk}-" + sweep_key(base=base_sha256, build=build_family, recipe=base_recipe.content_hash,
                                          pins=pins)
    made: list[str] = []

    def maker(request: QuantizeRequest, what: str):
        def make(path: Path) -> None:
            run_quantize(base_path, path, request, dry_run=False, nthread=nthread, progress=progress)
            made.append(what)
        return make

    makers = [maker(parent_request, "the parent (the base recipe)")] + [
        maker(replace(parent_request, overrides=pin_overrides(p) + parent_request.overrides),
              f"donor {i + 1} ({len(p)} tensors)") for i, p in enumerate(pins)]
    cache = Path(settings.WORK_DIR) / "sweeps"
    paths = parent_files(cache, key, makers)
    splice_tensors(paths[0], paths[1:], _final_types(variant.recipe), out)
    if _last_to_make(sweep, variant):
        remove_parent_files(cache, key)
    return [f"spliced from sweep {sweep.pk}'s parent and {len(pins)} donor file(s) quantized once"
            + (f"; made now: {', '.join(made)}" if made else "; all found made")]


def _last_to_make(sweep, variant: SweepVariant) -> bool:
    """No other variant of the sweep still needs the files: every other runnable variant has a final run."""
    others = sweep.variants.filter(skipped="").exclude(pk=variant.pk).select_related("run")
    return all(v.run is not None and v.run.is_final for v in others)


def remove_finished_sweeps_files(work_dir: Path) -> list[str]:
    """Remove the cached parents and donors of every sweep that is no longer planning or running (stopped,
    failed, or finished on another machine): what `splice_variant` leaves when its machine did not make the
    sweep's last variant. Returns the keys removed."""
    cache = work_dir / "sweeps"
    folders = {f.name: int(f.name.split("-")[1]) for f in cache.glob("sweep-*-*") if f.is_dir()}
    live = set(Sweep.objects.filter(pk__in=set(folders.values()),
                                    state__in=(Sweep.State.PLANNING, Sweep.State.RUNNING)).values_list("pk", flat=True))
    gone = [key for key, pk in folders.items() if pk not in live]
    for key in gone:
        remove_parent_files(cache, key)
    return gone
