"""Reads for the allocators: the methods offered, the stock plan an allocation starts from, the type a demo base
was dequantized from, and the base-model page's "allocators vs stock" panel."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from leaderboard.allocators.models import AllocatorInputs, AllocatorMethod, DamageProbe, ImatrixJob
from leaderboard.basemodels.models import BaseModel
from leaderboard.domain.allocation import METHODS, SIZE_TOLERANCE, TensorImportance
from leaderboard.domain.ggml_types import canonical_ftype
from leaderboard.domain.paired import PairedDifference
from leaderboard.frontiers.selectors import Point, Scope, frontier, paired_difference, token_arrays_by_id
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import MeasurementProfile

# The stock plan every allocation starts from. An allocator types every tensor llama.cpp quantizes and leaves
# the rest (norms, 1-D tensors) as they are, so it needs a plan whose block types mark exactly the tensors
# llama.cpp quantizes, with their default types (kept where no tier fits their rows). Every K-quant mix
# quantizes the same tensors; Q4_K_M is llama.cpp's recommended mix and the one the allocators' own tests
# model. The allocator's recipe is submitted with this file type too, so the worker's plan starts from the
# same defaults.
STOCK_FTYPE = "Q4_K_M"
_SOURCE_SENTENCE = re.compile(r"dequantized from the (\w+) file")


def offered_methods() -> list[AllocatorMethod]:
    """Enabled rows whose (name, version) the domain's registry has: a row without code is never offered."""
    return [m for m in AllocatorMethod.objects.filter(enabled=True) if (m.name, m.version) in METHODS]


def reads_imatrix(method: AllocatorMethod) -> bool:
    """Whether the method's evidence is an imatrix; else it reads measured damage per tensor class and layer (a
    damage probe a worker measured)."""
    return METHODS[(method.name, method.version)].evidence is TensorImportance


def stock_recipes(base_model: BaseModel, ftype: str):
    """The base model's stock recipes of a file type (no rules, no single-tensor types, no imatrix), oldest first."""
    return Recipe.objects.filter(base_model=base_model, ftype=ftype, method=Recipe.Method.STOCK, rules=[],
                                 output_tensor_type="", token_embedding_type="", imatrix_sha256="",
                                 withdrawn_at__isnull=True).order_by("pk")


def planned_stock_recipe(base_model: BaseModel, ftype: str = STOCK_FTYPE) -> Recipe | None:
    return stock_recipes(base_model, ftype).filter(plan_status=Recipe.PlanStatus.READY).first()


def imatrix_recipes(base_model: BaseModel):
    """Recipes of this base model with an imatrix, newest first: the "use recipe #N's imatrix" choices."""
    return (Recipe.objects.filter(base_model=base_model, withdrawn_at__isnull=True).exclude(imatrix_sha256="")
            .order_by("-pk"))


def computed_imatrices(base_model: BaseModel):
    """The imatrices workers computed for this base model, newest first."""
    return (ImatrixJob.objects.filter(base_model=base_model, state=ImatrixJob.State.DONE)
            .select_related("calibration").order_by("-finished_at"))


def damage_probes(base_model: BaseModel):
    """The damage probes workers measured for this base model, newest first."""
    return (DamageProbe.objects.filter(base_model=base_model, state=DamageProbe.State.DONE)
            .select_related("imatrix__calibration", "corpus").order_by("-finished_at"))


def source_file_type(base_model: BaseModel) -> str | None:
    """The 4-bit type a demo base was dequantized from (Gemma 3 270M: Q4_K_M, SmolLM2-135M: Q4_1), or None. The site
    records no source type of its own: the packaged bases' note (workers/engine/packaged_bases.PackagedBase.note,
    shown wherever their results are) names it, and an allocator can "win" by rediscovering that file's types."""
    found = _SOURCE_SENTENCE.search(base_model.note or "")
    if found is None:
        return None
    try:
        return canonical_ftype(found[1])
    except KeyError:
        return None


@dataclass(frozen=True)
class VersusStockRow:
    stock: Point
    allocator: Point | None  # the allocator recipe with the lowest mean KLD at this size, if any
    method: str  # its allocator, e.g. "ashq1 v1"
    difference: PairedDifference | None  # allocator minus stock, mean KLD, on the same tokens

    @property
    def size_change_percent(self) -> float | None:
        if self.allocator is None:
            return None
        return 100.0 * (self.allocator.standing.output_bytes / self.stock.standing.output_bytes - 1.0)

    @property
    def relative_change_percent(self) -> float | None:
        """The change in mean KLD as a share of the stock recipe's."""
        stock_kld = self.stock.value("kld_mean")
        if self.difference is None or not stock_kld:
            return None
        return 100.0 * self.difference.estimate / stock_kld


@dataclass(frozen=True)
class VersusStock:
    base_model: BaseModel
    profile: MeasurementProfile | None
    rows: list[VersusStockRow]
    n_allocator_recipes: int  # allocator recipes measured on this profile
    tolerance_percent: float = 100.0 * SIZE_TOLERANCE

    @cached_property  # the template reads it three times; it parses the base's note
    def source_type(self) -> str | None:
        """The 4-bit type this base was dequantized from: the panel says an allocator can win by re-finding it."""
        return source_file_type(self.base_model)


def _measured(point: Point) -> bool:
    return point.tokens_id is not None and point.value("kld_mean") is not None


def versus_stock(base_model: BaseModel, profile: MeasurementProfile | None) -> VersusStock:
    """At each stock recipe's size on this profile: the allocator recipe of at most that size plus SIZE_TOLERANCE
    with the lowest mean KLD, and its paired difference against the stock recipe token by token (the frontier's
    own paired_difference: a seeded bootstrap over chunks, 95 %)."""
    if profile is None:
        return VersusStock(base_model, None, [], 0)
    points = frontier(Scope(architecture=base_model.architecture, base_model=base_model), profile).points
    stock = sorted((p for p in points if p.is_stock and _measured(p)), key=lambda p: (p.standing.output_bytes, p.recipe_id))
    allocated = [p for p in points if p.method == Recipe.Method.ALLOCATOR and _measured(p)]
    chosen = []
    for s in stock:
        limit = s.standing.output_bytes * (1.0 + SIZE_TOLERANCE)
        fits = [a for a in allocated if a.standing.output_bytes <= limit]
        chosen.append((s, min(fits, key=lambda a: (a.value("kld_mean"), a.standing.output_bytes, a.recipe_id))
                       if fits else None))
    methods = {i.recipe_id: str(i.method) for i in AllocatorInputs.objects.select_related("method")
               .filter(recipe_id__in=[a.recipe_id for _, a in chosen if a])}
    arrays = token_arrays_by_id({p.tokens_id for s, a in chosen if a for p in (s, a)})
    rows = [VersusStockRow(stock=s, allocator=a, method=methods.get(a.recipe_id, "") if a else "",
                           difference=paired_difference(arrays, a.tokens_id, s.tokens_id)["kld_mean"] if a else None)
            for s, a in chosen]
    return VersusStock(base_model, profile, rows, len(allocated))
