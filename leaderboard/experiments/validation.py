"""The one validation path for an experiment, shared by the web form and the API.

It takes raw values (the API's JSON, or the form's fields gathered into the same shape) and uploaded files,
and returns an ExperimentSubmission or raises SubmissionInvalid with field -> messages; nothing is saved.
Arms are reported as "arms[<i>].<field>" so both the form and the API can point at the arm at fault.
"""
from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from leaderboard.basemodels.models import BaseModel, EvalCorpus
from leaderboard.domain import experiment_design as design
from leaderboard.domain.verdict import Criterion, CriterionInvalid
from leaderboard.experiments.models import Experiment
from leaderboard.files.fetch import url_refusal
from leaderboard.files.gguf_check import CheckFailed, check_in_subprocess
from leaderboard.files.gguf_header import GGUFHeaderError
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.validation import (
    MAX_DESCRIPTION_CHARS, RecipeSubmission, SubmissionInvalid, clean_submission, field_text, find_base_model)

SHA256 = re.compile(r"[0-9a-f]{64}")
EDITABLE_FIELDS = ("title", "hypothesis", "tags", "criterion", "reproduction_target")


class ExperimentFrozen(SubmissionInvalid):
    """The experiment's first run has started: its hypothesis and criterion can no longer change."""

    def __init__(self, experiment: Experiment):
        super().__init__({"non_field_errors": [experiment.frozen_notice]})
        self.notice = experiment.frozen_notice


@dataclass
class ArmSubmission:
    label: str
    role: str
    kind: str
    runtime: design.Runtime = design.Runtime()
    recipe: Recipe | None = None
    inline_recipe: RecipeSubmission | None = None
    gguf_url: str = ""
    gguf_upload: object | None = None  # an UploadedFile, checked
    gguf_sha256: str = ""
    gguf_bytes: int | None = None


@dataclass
class ExperimentSubmission:
    title: str
    hypothesis: str
    tags: list[str]
    base_model: BaseModel | None
    corpus: EvalCorpus | None
    reproduction_target: int
    criterion: Criterion | None
    supersedes: Experiment | None = None
    arms: list[ArmSubmission] = field(default_factory=list)


def _as_json(value, what: str, errors: dict, name: str):
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            errors.setdefault(name, []).append(f"{what} is not valid JSON: {exc}")
            return None
    return value


def _clean_common(data, errors: dict) -> dict:
    """title, hypothesis, tags, target and criterion: what an edit before the freeze may change."""
    def fail(name, message):
        errors.setdefault(name, []).append(message)

    title = field_text(data, "title")
    if not title:
        fail("title", "This field is required.")
    elif len(title) > 200:
        fail("title", "at most 200 characters")
    hypothesis = data.get("hypothesis") or ""
    if not isinstance(hypothesis, str) or not hypothesis.strip():
        fail("hypothesis", "state the hypothesis (Markdown)")
        hypothesis = ""
    elif len(hypothesis) > MAX_DESCRIPTION_CHARS:
        fail("hypothesis", f"{len(hypothesis)} characters; at most {MAX_DESCRIPTION_CHARS} are allowed")
    tags = data.getlist("tags") if hasattr(data, "getlist") else data.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        fail("tags", "give the technique tags as a list of names")
        tags = []
    unknown = [t for t in tags if t not in settings.EXPERIMENT_TAGS]
    if unknown:
        fail("tags", f"unknown tag(s) {', '.join(map(repr, unknown))}; use {', '.join(settings.EXPERIMENT_TAGS)}")
    target_text = field_text(data, "reproduction_target") or "5"
    target = int(target_text) if target_text.isdigit() else 0
    if not 1 <= target <= settings.EXPERIMENT_MAX_TARGET:
        fail("reproduction_target", f"a whole number from 1 to {settings.EXPERIMENT_MAX_TARGET}")
    raw = _as_json(data.get("criterion"), "the criterion", errors, "criterion")
    criterion = None
    if raw not in (None, {}):
        try:
            criterion = Criterion.from_dict(raw) if isinstance(raw, dict) else Criterion.from_dict({})
        except CriterionInvalid as exc:
            fail("criterion", str(exc))
    return {"title": title, "hypothesis": hypothesis, "tags": list(dict.fromkeys(tags)), "reproduction_target": target,
            "criterion": criterion}


def clean_edit(data, experiment: Experiment) -> dict:
    """The editable fields of an experiment not yet frozen (SubmissionInvalid when frozen or invalid)."""
    if experiment.frozen:
        raise ExperimentFrozen(experiment)
    errors: dict[str, list[str]] = {}
    common = _clean_common(data, errors)
    has_treatments = experiment.arms.filter(role=design.TREATMENT).exists()
    if has_treatments and common["criterion"] is None:
        errors.setdefault("criterion", []).append("treatment arms need a success criterion")
    if not has_treatments and common["criterion"] is not None:
        errors.setdefault("criterion", []).append("a success criterion needs at least one treatment arm")
    if errors:
        raise SubmissionInvalid(errors)
    return common


def _find_recipe(ref, base_model: BaseModel | None) -> Recipe | None:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return Recipe.objects.filter(pk=int(ref), base_model=base_model).first()
    return None


def _clean_gguf_upload(upload, base_model: BaseModel, fail) -> tuple[str, int]:
    """(sha256, size) of an uploaded GGUF whose header (read in a limited child process) names the base's
    architecture and vocabulary size."""
    if upload.size > settings.ARM_GGUF_MAX_BYTES:
        fail(f"file is {upload.size} bytes; the limit is {settings.ARM_GGUF_MAX_BYTES} (give an https URL instead)")
        return "", 0
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    path = Path(upload.temporary_file_path()) if hasattr(upload, "temporary_file_path") else None
    if path is None:  # a small upload held in memory: the child reads a copy
        with tempfile.NamedTemporaryFile(suffix=".gguf", delete=False) as tmp:
            for chunk in upload.chunks():
                tmp.write(chunk)
        upload.seek(0)
        path = Path(tmp.name)
    try:
        identity = check_in_subprocess("model", path, memory_bytes=settings.UPLOAD_CHECK_MEMORY_BYTES,
                                       cpu_seconds=settings.UPLOAD_CHECK_CPU_SECONDS)
    except (GGUFHeaderError, CheckFailed) as exc:
        fail(f"not a usable GGUF model: {exc}")
        return "", 0
    finally:
        if not hasattr(upload, "temporary_file_path"):
            path.unlink(missing_ok=True)
    mismatch = identity_mismatch(identity, base_model)
    if mismatch:
        fail(mismatch)
    return digest.hexdigest(), upload.size


def identity_mismatch(identity: dict, base_model: BaseModel) -> str | None:
    """Why a model cannot be compared with the base (None when it can): another architecture or vocabulary."""
    arch = base_model.architecture
    if identity["architecture"] != arch.name:
        return f"the file is a {identity['architecture']} model; {base_model.name} is {arch.name}"
    if arch.vocab_size and identity["n_vocab"] != arch.vocab_size:
        return f"the file's vocabulary has {identity['n_vocab']} tokens; {base_model.name}'s has {arch.vocab_size}"
    return None


def _int_or_none(value, fail) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return int(value)
    fail("n_ctx must be a whole number of tokens")
    return None


def _clean_arm(i: int, raw: dict, files, base_model: BaseModel | None, experiment_title: str, errors: dict) -> ArmSubmission:
    def fail_on(name):
        return lambda message: errors.setdefault(f"arms[{i}].{name}", []).append(message)

    label = str(raw.get("label") or "").strip()
    if not label:
        fail_on("label")("name the arm, e.g. 'baseline' or 'K cache q4_0'")
    elif len(label) > 80:
        fail_on("label")("at most 80 characters")
    role = str(raw.get("role") or (design.BASELINE if i == 0 else design.TREATMENT)).strip()
    runtime = design.Runtime(type_k=str(raw.get("type_k") or design.DEFAULT_KV).strip().lower(),
                             type_v=str(raw.get("type_v") or design.DEFAULT_KV).strip().lower(),
                             n_ctx=_int_or_none(raw.get("n_ctx"), fail_on("n_ctx")))
    upload = files.get(f"arms[{i}].gguf") if files else None
    gguf_url = str(raw.get("gguf_url") or "").strip()
    kind = str(raw.get("kind") or "").strip() or (
        design.GGUF if upload or gguf_url else design.RUNTIME if runtime != design.Runtime() else design.RECIPE)
    arm = ArmSubmission(label=label, role=role, kind=kind, runtime=runtime)
    if base_model is None:
        return arm
    if kind in (design.RECIPE, design.RUNTIME):
        ref = raw.get("recipe")
        if isinstance(ref, dict):
            try:
                arm.inline_recipe = clean_submission(
                    {"title": f"{experiment_title[:150]} — {label}", **ref, "base_model": base_model.name}, {})
            except SubmissionInvalid as exc:
                for name, messages in exc.errors.items():
                    errors.setdefault(f"arms[{i}].recipe.{name}", []).extend(messages)
        elif ref in (None, ""):
            fail_on("recipe")("give a recipe: the id of one on this base model, or {ftype, rules} to submit one")
        else:
            arm.recipe = _find_recipe(ref, base_model)
            if arm.recipe is None:
                fail_on("recipe")(f"no recipe #{ref} on {base_model.name}")
        if upload or gguf_url:
            fail_on("gguf")("a recipe arm is re-made by the workers; an uploaded GGUF is its own arm")
    elif kind == design.GGUF:
        sha = str(raw.get("gguf_sha256") or raw.get("sha256") or "").strip().lower()
        if sha and not SHA256.fullmatch(sha):
            fail_on("gguf_sha256")("a sha256 is 64 hex digits")
        if upload and gguf_url:
            fail_on("gguf")("give the file or its https URL, not both")
        elif upload:
            got, size = _clean_gguf_upload(upload, base_model, fail_on("gguf"))
            if sha and got and got != sha:
                fail_on("gguf_sha256")(f"the uploaded file's sha256 is {got}, not {sha}")
            arm.gguf_upload, arm.gguf_sha256, arm.gguf_bytes = upload, got, size
        elif gguf_url:
            if len(gguf_url) > 500:
                fail_on("gguf_url")("give an https URL (at most 500 characters)")
            elif refusal := url_refusal(gguf_url):  # the worker checks the address the host resolves to
                fail_on("gguf_url")(refusal)
            if not sha:
                fail_on("gguf_sha256")("give the file's sha256: the workers refuse a file that does not match it")
            arm.gguf_url, arm.gguf_sha256 = gguf_url, sha
        else:
            fail_on("gguf")("upload the GGUF or give its https URL and sha256")
        if raw.get("recipe") not in (None, ""):
            fail_on("recipe")("an uploaded-GGUF arm has no recipe: it is measured as it is")
    return arm


def clean_experiment(data, files=None) -> ExperimentSubmission:
    if not hasattr(data, "get"):
        raise SubmissionInvalid({"non_field_errors": ["send the experiment as a JSON object or a form"]})
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    base_ref = field_text(data, "base_model")
    base_model = None
    if not base_ref:
        fail("base_model", "This field is required.")
    else:
        base_model = find_base_model(base_ref)
        if base_model is None:
            fail("base_model", f"unknown base model '{base_ref}'")
        elif not base_model.approved:
            fail("base_model", f"{base_model.name} waits for a moderator's approval")
    corpus_ref = field_text(data, "corpus")
    corpus = (EvalCorpus.objects.filter(name=corpus_ref).first() if corpus_ref
              else EvalCorpus.objects.filter(is_default=True).first() or EvalCorpus.objects.filter(enabled=True).first())
    if corpus is None:
        fail("corpus", f"no evaluation corpus named '{corpus_ref}'" if corpus_ref else "no evaluation corpus is registered")
    elif not (corpus.enabled or corpus.is_default):
        fail("corpus", f"evaluation profile '{corpus.name}' is not offered for reproductions")
    common = _clean_common(data, errors)
    supersedes = None
    ref = field_text(data, "supersedes")
    if ref:
        supersedes = Experiment.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
        if supersedes is None:
            fail("supersedes", f"no experiment #{ref}")
    raw_arms = _as_json(data.get("arms"), "arms", errors, "arms")
    arms: list[ArmSubmission] = []
    if not isinstance(raw_arms, list) or not all(isinstance(a, dict) for a in raw_arms):
        fail("arms", "give the arms as a list of objects: label, role, and recipe / gguf_url / runtime settings")
    else:
        arms = [_clean_arm(i, a, files, base_model, common["title"], errors) for i, a in enumerate(raw_arms)]
        if corpus is not None:
            found = design.design_errors([design.ArmDesign(a.label, a.role, a.kind, a.runtime) for a in arms],
                                         corpus.n_ctx, has_criterion=common["criterion"] is not None,
                                         max_arms=settings.EXPERIMENT_MAX_ARMS)
            for where, messages in found.items():
                errors.setdefault("arms" if where is None else f"arms[{where}]", []).extend(messages)
    if errors:
        raise SubmissionInvalid(errors)
    return ExperimentSubmission(base_model=base_model, corpus=corpus, supersedes=supersedes, arms=arms, **common)
