"""Allocations: propose the rules an allocator gives for a budget (nothing saved), and submit them as an ordinary
recipe with what they were made from recorded (AllocatorInputs), so the same inputs make the same rules again.

The allocator runs here, in the web process (about a second): it prices every type choice in exact file bytes, so
the proposal's size is the file the worker will make, never above the budget.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from leaderboard.allocators import selectors
from leaderboard.allocators.models import AllocatorInputs, AllocatorMethod, DamageProbe
from leaderboard.allocators.probes import probe_table
from leaderboard.allocators.validation import (
    MIB, STAGED_FOLDER, AllocationAsk, Budget, ImatrixChoice, staged_name)
from leaderboard.basemodels.models import BaseModel
from leaderboard.domain.allocation import (
    DEFAULT_TIERS, Allocation, AllocationError, AllocationRequest, BudgetTooSmallError, allocate)
from leaderboard.domain.file_size import FileLayout
from leaderboard.domain.plan import ResolvedPlan, TensorPlan
from leaderboard.domain.recipe_format import imatrix_file_name
from leaderboard.files.gguf_header import read_header
from leaderboard.files.store import store_path
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.services import recipe_submit
from leaderboard.recipes.validation import SubmissionInvalid, clean_submission

STAGED_SECONDS = 24 * 3600  # how long an imatrix uploaded with a proposal is kept for its submission


@dataclass(frozen=True)
class PricedLayout:
    """The header and alignment the allocator prices a file with, and how well they are known."""

    layout: FileLayout
    exact: bool
    source: str  # where the header comes from, in words


@dataclass(frozen=True)
class AllocationProposal:
    base_model: BaseModel
    stock_recipe: Recipe  # the stock plan the tensors and their default types come from
    method: AllocatorMethod
    imatrix: ImatrixChoice
    budget: Budget
    priced: PricedLayout
    allocation: Allocation
    plan: ResolvedPlan  # the stock plan's tensors with the allocated types
    source_type: str | None  # the 4-bit type the base was dequantized from
    source_plan: ResolvedPlan | None  # the base's stock plan of that type, when planned
    seconds: float
    probe: DamageProbe | None = None  # the measured allocator's evidence

    @property
    def budget_bytes(self) -> int:
        return self.allocation.inputs["budget_bytes"]

    @property
    def file_bytes(self) -> int:
        return self.allocation.file_bytes

    @property
    def file_mib(self) -> float:
        return self.file_bytes / MIB

    @property
    def budget_mib(self) -> float:
        return self.budget_bytes / MIB

    @property
    def unused_bytes(self) -> int:
        return self.budget_bytes - self.file_bytes

    @property
    def bpw(self) -> float:
        return self.plan.bpw

    @property
    def override_text(self) -> str:
        return self.allocation.override_text()

    @property
    def title(self) -> str:
        """The recipe's title unless the submitter gives one."""
        return f"{self.method} under {self.budget}: {self.file_mib:,.2f} MiB, {self.bpw:.2f} bpw"[:200]

    @property
    def description(self) -> str:
        """The recipe's description: its inputs in words (AllocatorInputs holds them as data)."""
        inputs = self.allocation.inputs
        size = "exactly" if self.priced.exact else f"at most ({self.priced.source})"
        return "\n".join([
            f"Made by the **{self.method}** budget allocator ({self.method.summary}).",
            "",
            f"- budget: {self.budget} = {inputs['budget_bytes']:,} file bytes",
            f"- imatrix: sha256 `{self.imatrix.sha256}` ({self.imatrix.describe()})",
            *([f"- damage probe #{self.probe.pk}: {len(self.probe.arms)} arms measured on {self.probe.corpus.name} "
               f"({self.probe.corpus.n_chunks} × {self.probe.corpus.n_ctx} tokens), table sha256 `{self.probe.sha256}`"]
              if self.probe else []),
            f"- tiers: {', '.join(inputs['tiers'])}",
            f"- options: `{inputs['options']}`",
            f"- tensors and default types: the plan of stock recipe #{self.stock_recipe.pk} ({self.stock_recipe.ftype}); "
            f"{len(self.allocation.types)} tensors typed by the rules",
            f"- predicted file: {self.file_bytes:,} bytes {size}, {self.bpw:.4f} bpw ({self.allocation.search} "
            f"search); the worker's plan is llama.cpp's own answer",
            "",
            "The same inputs give the same rules: POST them to `/api/allocations/propose/` (docs/allocators.md).",
        ])

    @property
    def histogram(self) -> list[dict]:
        """Per type, largest share first: this plan's tensors, bytes and share of the tensor data, beside the source
        type's stock mix (llama.cpp's own types for the file the base was dequantized from)."""
        mine = self.plan.types_summary()
        source = self.source_plan.types_summary() if self.source_plan else {}
        rows = []
        for type_name in list(mine) + [t for t in source if t not in mine]:
            here, there = mine.get(type_name), source.get(type_name)
            rows.append({"type": type_name, "tensors": here["tensors"] if here else 0,
                         "bytes": here["bytes"] if here else 0,
                         "share": 100.0 * here["bytes"] / self.plan.tensor_bytes if here else 0.0,
                         "source_tensors": there["tensors"] if there else 0,
                         "source_share": 100.0 * there["bytes"] / self.source_plan.tensor_bytes if there else 0.0})
        return rows

    @property
    def same_as_source(self) -> int | None:
        """How many of the allocated tensors get the type the source type's stock mix gives them."""
        if self.source_plan is None:
            return None
        source = {t.name: t.final_type for t in self.source_plan.tensors}
        return sum(source.get(name) == type_name for name, type_name in self.allocation.types.items())


def _priced_layout(base_model: BaseModel, stock_plan: ResolvedPlan, imatrix: ImatrixChoice) -> PricedLayout:
    """The header of the file the worker will make (llama-quantize adds key/values for the imatrix), best first:
    from a plan of this base made with the same imatrix (every plan of one base and imatrix has the same header:
    same key/values, tensor infos of one length whatever the types); from the base file's own header when this
    host has the file in its model store; else the stock plan's header plus the imatrix's key/values padded, at
    most one alignment (32 bytes) above the real one, so the file is still never above the budget."""
    twin = (Recipe.objects.filter(base_model=base_model, imatrix_sha256=imatrix.sha256,
                                  plan_status=Recipe.PlanStatus.READY).order_by("pk").first())
    if twin is not None:
        return PricedLayout(FileLayout.of_plan(twin.resolved_plan), True,
                            f"exact: recipe #{twin.pk}'s plan was made with the same imatrix")
    base_file = store_path(settings.MODEL_STORE, base_model.sha256)
    if base_file.is_file():
        header = read_header(base_file)
        layout = FileLayout.of_quantized(kv_sizes=header.kv_sizes, alignment=header.alignment,
                                         tensors=stock_plan.tensors, metadata=imatrix.evidence.metadata)
        return PricedLayout(layout, True, "exact: from the base model file's header and the imatrix's key/values")
    stock = FileLayout.of_plan(stock_plan)
    added = (FileLayout.of_quantized(kv_sizes={}, alignment=1, tensors=(), metadata=imatrix.evidence.metadata)
             .header_bytes - FileLayout.of_quantized(kv_sizes={}, alignment=1, tensors=()).header_bytes)
    layout = FileLayout(stock.header_bytes + stock.tensor_bytes(added), stock.alignment)
    return PricedLayout(layout, False, f"at most {stock.alignment} bytes above the file: the base model's file is not "
                                       f"on this web host, so its header is known only to its {stock.alignment}-byte "
                                       f"alignment")


def _stock_plan(base_model: BaseModel) -> Recipe:
    stock = selectors.planned_stock_recipe(base_model)
    if stock is not None:
        return stock
    waiting = selectors.stock_recipes(base_model, selectors.STOCK_FTYPE).first()
    ftype = selectors.STOCK_FTYPE
    if waiting is None:
        why = (f"{base_model.name} has no stock {ftype} recipe yet, whose plan gives llama.cpp's default types: "
               f"submit one (file type {ftype}, no rules) and propose again when a worker has planned it")
    elif waiting.plan_status == Recipe.PlanStatus.FAILED:
        why = f"the plan of {base_model.name}'s stock {ftype} recipe #{waiting.pk} failed: {waiting.plan_error[:200]}"
    else:
        why = (f"{base_model.name}'s stock {ftype} recipe #{waiting.pk} has no plan yet: propose again when a worker "
               f"has planned it")
    raise SubmissionInvalid({"base_model": [why]})


def allocation_propose(*, base_model: BaseModel, imatrix: ImatrixChoice, budget: Budget, method: AllocatorMethod,
                       tiers: tuple[str, ...] = DEFAULT_TIERS, options: dict | None = None,
                       probe: DamageProbe | None = None) -> AllocationProposal:
    """The rules `method` gives for the budget on the base model's stock plan (selectors.STOCK_FTYPE), with the
    plan's exact size, bits per weight and type histogram. Saves nothing. SubmissionInvalid (field -> messages)
    when the base has no stock plan yet or the budget is below the smallest file the method can make."""
    started = time.perf_counter()
    stock = _stock_plan(base_model)
    stock_plan = stock.resolved_plan
    priced = _priced_layout(base_model, stock_plan, imatrix)
    request = AllocationRequest(method=method.name, version=method.version, tensors=stock_plan.tensors,
                                layout=priced.layout, budget_bytes=budget.file_bytes(stock_plan.tensors, priced.layout),
                                tiers=tuple(tiers), source_sha256=probe.sha256 if probe else imatrix.sha256,
                                options=dict(options or {}))
    try:
        allocation = allocate(request, probe_table(probe) if probe else imatrix.evidence.importance)
    except BudgetTooSmallError as exc:
        raise SubmissionInvalid({"budget": [f"{exc}; that is {exc.minimum_bytes / MIB:,.2f} MiB"]}) from None
    except AllocationError as exc:
        raise SubmissionInvalid({"non_field_errors": [str(exc)]}) from None
    plan = ResolvedPlan(tensors=tuple(TensorPlan(t.name, t.shape, t.base_type, allocation.types.get(t.name, t.final_type))
                                      for t in stock_plan.tensors), file_bytes=allocation.file_bytes)
    source_type = selectors.source_file_type(base_model)
    source = selectors.planned_stock_recipe(base_model, source_type) if source_type else None
    return AllocationProposal(base_model=base_model, stock_recipe=stock, method=method, imatrix=imatrix, budget=budget,
                              probe=probe, priced=priced, allocation=allocation, plan=plan, source_type=source_type,
                              source_plan=source.resolved_plan if source else None,
                              seconds=time.perf_counter() - started)


def allocation_submit(*, user, ask: AllocationAsk) -> tuple[Recipe, bool]:
    """Allocate again from the asked inputs (a client's copy of the rules is never trusted) and submit the rules
    as an ordinary recipe through recipes.services.recipe_submit: method `allocator`, the imatrix attached, the
    stock plan's file type; a worker plans it as any recipe. A new recipe gets its AllocatorInputs row; the same
    recipe submitted again is returned with created=False."""
    proposal = allocation_propose(**ask.proposal_arguments())
    upload = SimpleUploadedFile(imatrix_file_name(proposal.imatrix.sha256), proposal.imatrix.raw)
    submission = clean_submission({
        "base_model": proposal.base_model.sha256, "ftype": proposal.stock_recipe.ftype,
        "rules": proposal.override_text, "title": ask.title or proposal.title,
        "description": proposal.description, "method": Recipe.Method.ALLOCATOR,
    }, {"imatrix": upload})
    with transaction.atomic():
        recipe, created = recipe_submit(user=user, submission=submission)
        if created:
            AllocatorInputs.objects.create(
                recipe=recipe, method=proposal.method, inputs=proposal.allocation.inputs,
                stock_recipe=proposal.stock_recipe, header_bytes=proposal.priced.layout.header_bytes,
                alignment=proposal.priced.layout.alignment, size_exact=proposal.priced.exact,
                budget_value=proposal.budget.value, budget_unit=proposal.budget.unit,
                predicted_file_bytes=proposal.file_bytes, search=proposal.allocation.search,
                predicted_damage=proposal.allocation.predicted_damage, probe=proposal.probe)
    return recipe, created


def imatrix_stage(*, imatrix: ImatrixChoice) -> str:
    """Keep an uploaded imatrix (by its sha256) for the proposal's "Submit as a recipe", so it is not uploaded
    twice; staged files older than STAGED_SECONDS are removed on the way."""
    name = staged_name(imatrix.sha256)
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(imatrix.raw))
    _, files = default_storage.listdir(STAGED_FOLDER)
    cutoff = time.time() - STAGED_SECONDS
    for old in files:
        path = f"{STAGED_FOLDER}/{old}"
        if path != name and default_storage.get_modified_time(path).timestamp() < cutoff:
            default_storage.delete(path)
    return imatrix.sha256

