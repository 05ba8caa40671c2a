"""A budget request's fields -> an AllocationAsk: the one validation path the budget form and the API share.

It takes raw values and uploads and returns an AllocationAsk or raises SubmissionInvalid with field -> messages.
The imatrix is read here (in a limited child process, leaderboard/allocators/imatrix_evidence.py), because
whether it is one, and whether it was made for this base model, are questions about the field.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage

from leaderboard.allocators import selectors
from leaderboard.allocators.imatrix_evidence import ImatrixEvidence, evidence_in_subprocess
from leaderboard.allocators.models import AllocatorMethod, DamageProbe, ImatrixJob
from leaderboard.basemodels.models import BaseModel
from leaderboard.domain.allocation import DEFAULT_TIERS, METHODS, budget_for_bpw
from leaderboard.domain.file_size import FileLayout
from leaderboard.domain.plan import TensorPlan
from leaderboard.domain.recipe_format import quant_type_name
from leaderboard.files.gguf_check import CheckFailed
from leaderboard.files.gguf_header import GGUFHeaderError
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.validation import SubmissionInvalid, base_model_field, field_text

MIB = 1024 * 1024
MAX_BUDGET_MIB = 16 * 1024 * 1024  # 16 TiB
MAX_BPW = 32.0  # an F32 file
UNITS = ("MiB", "bpw")
STAGED_FOLDER = "allocator-imatrix"  # imatrices uploaded with a proposal, kept for its "Submit as a recipe"
EVIDENCE_CACHE_SECONDS = 24 * 3600  # the evidence is a function of the file's bytes: any time would do
_BUDGET = re.compile(r"^\s*((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)\s*(mib|bpw)?\s*$", re.IGNORECASE)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAMED_VERSION = re.compile(r"^(\w+)\s+v(\d+)$")


@dataclass(frozen=True)
class Budget:
    value: float
    unit: str  # MiB or bpw

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"

    def file_bytes(self, tensors: tuple[TensorPlan, ...], layout: FileLayout) -> int:
        """The budget in file bytes: MiB as they are; bits per weight as llama-quantize prints them (tensor data
        over all elements), with the file's header and padding on top."""
        if self.unit == "bpw":
            return budget_for_bpw(self.value, tensors, layout)
        return math.floor(self.value * MIB)


@dataclass(frozen=True)
class ImatrixChoice:
    raw: bytes
    evidence: ImatrixEvidence
    recipe: Recipe | None = None  # the recipe whose imatrix was chosen
    uploaded: bool = False  # sent with this request (the web form keeps it for the next step)
    job: ImatrixJob | None = None  # the imatrix job that computed it

    @property
    def sha256(self) -> str:
        return self.evidence.sha256

    def describe(self) -> str:
        if self.recipe is not None:
            return f"recipe #{self.recipe.pk}'s imatrix"
        if self.job is not None:
            return (f"computed on a worker by imatrix job #{self.job.pk}: {self.job.chunks} × {self.job.n_ctx} tokens of "
                    f"{self.job.calibration.name}, {self.job.coverage}")
        return "the uploaded imatrix" if self.uploaded else "the imatrix uploaded earlier"


@dataclass(frozen=True)
class AllocationAsk:
    base_model: BaseModel
    imatrix: ImatrixChoice
    budget: Budget
    method: AllocatorMethod
    tiers: tuple[str, ...] = DEFAULT_TIERS
    options: dict = field(default_factory=dict)
    title: str = ""
    probe: DamageProbe | None = None  # the measured allocator's evidence

    def proposal_arguments(self) -> dict:
        return {"base_model": self.base_model, "imatrix": self.imatrix, "budget": self.budget, "method": self.method,
                "tiers": self.tiers, "options": self.options, "probe": self.probe}


def staged_name(sha256: str) -> str:
    return f"{STAGED_FOLDER}/{sha256}.gguf"


def _list(data, name: str) -> list[str]:
    """A list field from a form (repeated keys), JSON (a list) or a comma- or space-separated string."""
    values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        return [str(values)]
    return [part for v in values for part in re.split(r"[\s,]+", str(v)) if part]


def _budget(data, errors: dict) -> Budget | None:
    text = field_text(data, "budget")
    unit_text = field_text(data, "budget_unit")
    if not text:
        errors["budget"] = ["This field is required."]
        return None
    match = _BUDGET.match(text)
    if match is None or not math.isfinite(float(match[1])):
        errors["budget"] = [f"'{text[:40]}' is not a budget: give a number of MiB (e.g. 180) or of bits per weight "
                            f"with budget_unit bpw (e.g. 4.5)"]
        return None
    by_suffix = {"mib": "MiB", "bpw": "bpw"}.get((match[2] or "").lower())
    by_field = {u.lower(): u for u in UNITS}.get(unit_text.lower()) if unit_text else None
    if unit_text and by_field is None:
        errors["budget_unit"] = [f"unknown unit '{unit_text[:20]}': MiB or bpw"]
        return None
    if by_suffix and by_field and by_suffix != by_field:
        errors["budget"] = [f"the budget says {by_suffix} and budget_unit says {by_field}: give one unit"]
        return None
    budget = Budget(float(match[1]), by_suffix or by_field or "MiB")
    if budget.value <= 0:
        errors["budget"] = [f"the budget must be more than 0 {budget.unit}"]
    elif budget.unit == "MiB" and budget.value > MAX_BUDGET_MIB:
        errors["budget"] = [f"a budget of {budget} is more than the site allocates for ({MAX_BUDGET_MIB:,} MiB)"]
    elif budget.unit == "bpw" and budget.value > MAX_BPW:
        errors["budget"] = [f"a budget of {budget} is more than an F32 file's {MAX_BPW:g} bits per weight"]
    return None if "budget" in errors else budget


def _method(data, errors: dict) -> AllocatorMethod | None:
    name = field_text(data, "method")
    version = field_text(data, "version")
    if (named := _NAMED_VERSION.match(name)) and not version:  # "ashq1 v1", as the form's choices read
        name, version = named[1], named[2]
    offered = selectors.offered_methods()
    names = ", ".join(str(m) for m in offered) or "none"
    if not name:
        errors["method"] = [f"This field is required (offered: {names})."]
        return None
    if version and not version.isdigit():
        errors["version"] = [f"give the method's version as a whole number, not '{version[:20]}'"]
        return None
    matching = [m for m in offered if m.name == name and (not version or m.version == int(version))]
    if not matching:
        asked = f"{name[:40]} v{version}" if version else name[:40]
        errors["method"] = [f"unknown allocator '{asked}' (offered: {names})"]
        return None
    return max(matching, key=lambda m: m.version)


def _probe(data, method: AllocatorMethod | None, base_model: BaseModel | None, errors: dict) -> DamageProbe | None:
    """The done damage probe a method that reads measured damage needs (and only such a method takes)."""
    ref = field_text(data, "damage_probe")
    if method is None or selectors.reads_imatrix(method):
        if ref and method is not None:
            errors["damage_probe"] = [f"the {method} allocator reads an imatrix, not a damage probe"]
        return None
    if not ref:
        errors["damage_probe"] = [f"the {method} allocator needs a damage probe of this base model: measure one from "
                                  f"one of its computed imatrices (the imatrix's page), then give its number"]
        return None
    return done_job(DamageProbe.objects.select_related("imatrix__calibration", "corpus"), ref, "damage_probe",
                    base_model, errors)


def done_job(jobs, ref: str, name: str, base_model: BaseModel | None, errors: dict):
    """The done WorkerJob `ref` names (an imatrix job, a damage probe) of this base model, else None and a field
    error on `name`."""
    job = jobs.filter(pk=int(ref)).first() if ref.isdigit() else None
    noun = jobs.model._meta.verbose_name
    if job is None:
        errors[name] = [f"no {noun} #{ref[:20]}"]
    elif job.state != job.State.DONE:
        errors[name] = [f"{noun} #{job.pk} is {job.get_state_display()}: use it once it is done"]
    elif base_model is not None and job.base_model_id != base_model.pk:
        errors[name] = [f"{noun} #{job.pk} was made for another base model"]
    else:
        return job
    return None


def _tiers(data, errors: dict) -> tuple[str, ...]:
    asked = _list(data, "tiers")
    if not asked:
        return DEFAULT_TIERS
    tiers, bad = [], []
    for name in asked:
        try:
            tiers.append(quant_type_name(name))
        except ValueError as exc:
            bad.append(str(exc))
    if bad:
        errors["tiers"] = bad
    return tuple(dict.fromkeys(tiers))


def _options(data, method: AllocatorMethod | None, errors: dict) -> dict:
    raw = data.get("options")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors["options"] = [f"not valid JSON: {exc}"]
            return {}
    if not isinstance(raw, dict):
        errors["options"] = ['give the options as an object, e.g. {"qat": true}']
        return {}
    if method is None:
        return raw
    defaults = METHODS[(method.name, method.version)].options
    problems = []
    for key, value in raw.items():
        if key not in defaults:
            known = ", ".join(sorted(defaults)) or "none"
            problems.append(f"the {method} allocator has no option '{str(key)[:40]}' (its options: {known})")
        elif isinstance(defaults[key], bool) and not isinstance(value, bool):
            problems.append(f"{key} is true or false")
        elif not isinstance(defaults[key], bool) and value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1):
            problems.append(f"{key} is a whole number of at least 1, or null")
    if problems:
        errors["options"] = problems
    return raw


def _read_upload(upload, errors: dict) -> bytes | None:
    if upload.size > settings.IMATRIX_MAX_BYTES:
        errors["imatrix"] = [f"file is {upload.size} bytes; the limit is {settings.IMATRIX_MAX_BYTES}"]
        return None
    return upload.read()


def _stored_imatrix(sha256: str) -> bytes | None:
    """The bytes of an imatrix the site holds: one staged with a proposal, one a worker computed, or a recipe's."""
    if default_storage.exists(staged_name(sha256)):
        with default_storage.open(staged_name(sha256), "rb") as f:
            return f.read()
    for job in ImatrixJob.objects.filter(sha256=sha256, state=ImatrixJob.State.DONE):
        if job.file and job.file.storage.exists(job.file.name):
            with job.file.open("rb") as f:
                return f.read()
    for recipe in Recipe.objects.filter(imatrix_sha256=sha256).exclude(imatrix=""):
        if recipe.imatrix.storage.exists(recipe.imatrix.name):
            with recipe.imatrix.open("rb") as f:
                return f.read()
    return None


def _evidence(raw: bytes, errors: dict) -> ImatrixEvidence | None:
    """Read in a limited child process once per file (cached by sha256: the answer depends on the bytes alone)."""
    key = f"allocators:evidence:{hashlib.sha256(raw).hexdigest()}"
    cached = cache.get(key)
    if cached is not None:
        return ImatrixEvidence.from_dict(cached)
    with tempfile.NamedTemporaryFile(suffix=".gguf") as tmp:
        tmp.write(raw)
        tmp.flush()
        try:
            evidence = evidence_in_subprocess(Path(tmp.name), memory_bytes=settings.UPLOAD_CHECK_MEMORY_BYTES,
                                              cpu_seconds=settings.UPLOAD_CHECK_CPU_SECONDS)
        except (GGUFHeaderError, CheckFailed) as exc:
            errors["imatrix"] = [f"not a valid GGUF imatrix: {exc}"]
            return None
    cache.set(key, evidence.to_dict(), EVIDENCE_CACHE_SECONDS)
    return evidence


def _fits(evidence: ImatrixEvidence, base_model: BaseModel) -> list[str]:
    """Problems with using this imatrix on this base model: no entry names one of its tensors, or an entry's length
    is not its tensor's row length (× experts), which llama-quantize refuses."""
    shapes = {t["name"]: t["shape"] for t in base_model.tensors}
    covered = [name for name in evidence.columns if name in shapes]
    if not covered:
        return [f"the imatrix has no entry for any tensor of {base_model.name} (was it made for another model?)"]
    wrong = []
    for name in covered:
        shape = shapes[name]
        expected = shape[0] * (shape[2] if len(shape) > 2 else 1)
        if evidence.columns[name] != expected:
            wrong.append(f"imatrix entry {name} has {evidence.columns[name]:,} values; the tensor has {expected:,} "
                         f"columns")
    return wrong[:3]


def _imatrix(data, files, base_model: BaseModel | None, errors: dict) -> ImatrixChoice | None:
    upload = files.get("imatrix")
    recipe_ref = field_text(data, "imatrix_recipe")
    job_ref = field_text(data, "imatrix_job")
    sha_ref = field_text(data, "imatrix_sha256").lower()
    if sum(bool(x) for x in (upload is not None, recipe_ref, job_ref)) > 1:
        errors["imatrix"] = ["give one imatrix: a file, a recipe whose imatrix to use, or a computed one"]
        return None
    recipe, job, raw = None, None, None
    if upload is not None:
        raw = _read_upload(upload, errors)
    elif job_ref:
        job = done_job(ImatrixJob.objects.select_related("calibration"), job_ref, "imatrix_job", base_model, errors)
        if job is not None:
            raw = _stored_imatrix(job.sha256)
            if raw is None:
                errors["imatrix_job"] = [f"imatrix job #{job.pk}'s file is missing on the site"]
    elif recipe_ref:
        recipe = Recipe.objects.select_related("base_model").filter(pk=int(recipe_ref)).first() \
            if recipe_ref.isdigit() else None
        if recipe is None:
            errors["imatrix_recipe"] = [f"no recipe #{recipe_ref[:20]}"]
        elif not recipe.imatrix_sha256:
            errors["imatrix_recipe"] = [f"recipe #{recipe.pk} has no imatrix"]
        elif base_model is not None and recipe.base_model_id != base_model.pk:
            errors["imatrix_recipe"] = [f"recipe #{recipe.pk} is on {recipe.base_model.name}: its imatrix was made "
                                        f"for that model, not for {base_model.name}"]
        else:
            raw = _stored_imatrix(recipe.imatrix_sha256)
            if raw is None:
                errors["imatrix_recipe"] = [f"recipe #{recipe.pk}'s imatrix file is missing on the site"]
    elif sha_ref:
        raw = _stored_imatrix(sha_ref) if _SHA256.match(sha_ref) else None
        if raw is None:
            errors["imatrix_sha256"] = ["the site holds no imatrix with this sha256 (an earlier upload is kept for a "
                                        "day): upload it again"]
    else:
        errors["imatrix"] = ["This field is required: upload an imatrix (GGUF), give a recipe whose imatrix to use, or "
                             "one a worker computed (imatrix_job)."]
    if raw is None:
        return None
    evidence = _evidence(raw, errors)
    if evidence is None:
        return None
    if base_model is not None and (problems := _fits(evidence, base_model)):
        errors["imatrix_recipe" if recipe else "imatrix_job" if job else "imatrix"] = problems
        return None
    return ImatrixChoice(raw=raw, evidence=evidence, recipe=recipe, uploaded=upload is not None, job=job)


def clean_allocation(data, files) -> AllocationAsk:
    if not hasattr(data, "get"):
        raise SubmissionInvalid({"non_field_errors": ["send the fields as a JSON object or a form"]})
    errors: dict[str, list[str]] = {}
    base_model = base_model_field(data, errors)
    budget = _budget(data, errors)
    method = _method(data, errors)
    tiers = _tiers(data, errors)
    options = _options(data, method, errors)
    title = field_text(data, "title")
    if len(title) > 200:
        errors["title"] = ["at most 200 characters"]
    probe = _probe(data, method, base_model, errors)
    if probe is not None:  # the recipe is quantized with the imatrix the probe measured with
        given = [name for name in ("imatrix_recipe", "imatrix_job", "imatrix_sha256") if field_text(data, name)]
        if files.get("imatrix") is not None or any(
                field_text(data, n) not in ("", str(probe.imatrix_id), probe.imatrix.sha256) for n in given):
            errors["imatrix"] = [f"the measured allocator quantizes with its probe's imatrix (job #{probe.imatrix_id}); "
                                 f"give no other"]
            imatrix = None
        else:
            imatrix = _imatrix({"imatrix_job": str(probe.imatrix_id)}, {}, base_model, errors)
    else:
        imatrix = _imatrix(data, files, base_model, errors)
    if errors:
        raise SubmissionInvalid(errors)
    return AllocationAsk(base_model=base_model, imatrix=imatrix, budget=budget, method=method, tiers=tiers,
                         options=options, title=title, probe=probe)
