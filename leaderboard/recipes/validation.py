"""The one validation path for a recipe submission, shared by the web form and the API serializer.

It takes raw values (strings and uploaded files) and returns a RecipeSubmission or raises
SubmissionInvalid with field -> messages; nothing is saved here.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from django.conf import settings
from django.db.models import Q

from leaderboard.basemodels.models import BaseModel
from leaderboard.domain.ggml_types import canonical_ftype
from leaderboard.domain.recipe_format import (
    MAX_RECIPE_BYTES, RecipeFormatError, RecipeSpec, parse_recipe, quant_type_name)
from leaderboard.files.gguf_check import CheckFailed, check_in_subprocess
from leaderboard.files.gguf_header import GGUFHeaderError
from leaderboard.recipes.models import Recipe


MAX_DESCRIPTION_CHARS = 10_000


class SubmissionInvalid(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(json.dumps(errors))


@dataclass
class RecipeSubmission:
    base_model: BaseModel
    ftype: str
    spec: RecipeSpec
    source_text: str
    title: str
    description: str
    method: str
    claimed_metrics: dict
    imatrix_bytes: bytes | None = None
    imatrix_sha256: str = ""
    imatrix_tensors: list[str] = field(default_factory=list)


TRUE_WORDS = {"1", "true", "on", "yes"}  # a checkbox or a JSON boolean, as field_text reads them


def field_text(data, name: str) -> str:
    value = data.get(name)
    return "" if value is None else str(value).strip()


def base_model_field(data, errors: dict) -> BaseModel | None:
    """The `base_model` field (name, sha256 or id) of a request, or None with the field's error."""
    ref = field_text(data, "base_model")
    base_model = find_base_model(ref) if ref else None
    if not ref:
        errors["base_model"] = ["This field is required."]
    elif base_model is None:
        errors["base_model"] = [f"unknown base model '{ref[:80]}'"]
    return base_model


def find_base_model(ref: str) -> BaseModel | None:
    query = Q(name=ref) | Q(sha256=ref.lower())
    if ref.isdigit():
        query |= Q(pk=int(ref))
    return BaseModel.objects.filter(query).first()


def _read_upload(upload, limit: int, errors: dict, name: str) -> bytes | None:
    if upload is None:
        return None
    if upload.size > limit:
        errors.setdefault(name, []).append(f"file is {upload.size} bytes; the limit is {limit}")
        return None
    return upload.read()


def _check_imatrix(raw: bytes, sha256: str, errors: dict) -> list[str]:
    """The imatrix's entry names. An upload is only ever parsed in a limited child process
    (leaderboard/files/gguf_check.py); a file the site already accepted is not parsed again."""
    known = Recipe.objects.filter(imatrix_sha256=sha256).values_list("imatrix_tensors", flat=True).first()
    if known is not None:
        return known
    with tempfile.NamedTemporaryFile(suffix=".gguf") as tmp:
        tmp.write(raw)
        tmp.flush()
        try:
            return check_in_subprocess("imatrix", Path(tmp.name), memory_bytes=settings.UPLOAD_CHECK_MEMORY_BYTES,
                                       cpu_seconds=settings.UPLOAD_CHECK_CPU_SECONDS)
        except (GGUFHeaderError, CheckFailed) as exc:
            errors.setdefault("imatrix", []).append(f"not a valid GGUF imatrix: {exc}")
            return []


def clean_submission(data, files) -> RecipeSubmission:
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    base_ref = field_text(data, "base_model")
    base_model = find_base_model(base_ref) if base_ref else None
    if not base_ref:
        fail("base_model", "This field is required.")
    elif base_model is None:
        fail("base_model", f"unknown base model '{base_ref}'")

    ftype = ""
    ftype_text = field_text(data, "ftype")
    if not ftype_text:
        fail("ftype", "This field is required.")
    else:
        try:
            ftype = canonical_ftype(ftype_text)
        except KeyError:
            fail("ftype", f"unknown file type '{ftype_text}' (use a llama-quantize type such as Q3_K_M)")

    rules_raw = _read_upload(files.get("rules_file"), MAX_RECIPE_BYTES, errors, "rules_file")
    source_text = data.get("rules") or ""
    if not isinstance(source_text, str):
        fail("rules", "give the rules as text: an override file's contents or --tensor-type lines")
        source_text = ""
    if rules_raw is not None:
        if source_text.strip():
            fail("rules_file", "give the rules as text or as a file, not both")
        try:
            source_text = rules_raw.decode("utf-8")
        except UnicodeDecodeError:
            fail("rules_file", "the override file is not UTF-8 text")
    spec = RecipeSpec()
    field_for_rules = "rules_file" if rules_raw is not None else "rules"
    try:
        spec = parse_recipe(source_text)
    except RecipeFormatError as exc:
        for error in exc.errors:
            fail(field_for_rules, str(error))
    single_types = {}
    for name in ("output_tensor_type", "token_embedding_type"):
        value = field_text(data, name)
        in_text = getattr(spec, name)
        if value and in_text and quant_type_or_none(value) != in_text:
            fail(name, f"the rules text already sets {name.replace('_', '-')} to {in_text}")
        elif value:
            try:
                single_types[name] = quant_type_name(value)
            except ValueError as exc:
                fail(name, str(exc))
    spec = replace(spec, **single_types)

    title = field_text(data, "title")
    if not title:
        fail("title", "This field is required.")
    elif len(title) > 200:
        fail("title", "at most 200 characters")
    method = field_text(data, "method") or Recipe.Method.MANUAL
    if method not in Recipe.Method.values:
        fail("method", f"unknown method '{method}'; one of {', '.join(Recipe.Method.values)}")
    claimed = data.get("claimed_metrics") or {}
    if isinstance(claimed, str):
        try:
            claimed = json.loads(claimed) if claimed.strip() else {}
        except json.JSONDecodeError as exc:
            fail("claimed_metrics", f"not valid JSON: {exc}")
            claimed = {}
    if not isinstance(claimed, dict) or not all(isinstance(v, (int, float, str)) for v in claimed.values()):
        fail("claimed_metrics", "give an object of metric name -> number, e.g. {\"ppl\": 139.69}")
        claimed = {}
    elif any("\x00" in f"{k}{v}" for k, v in claimed.items()):  # PostgreSQL's jsonb cannot store it
        fail("claimed_metrics", "text with a NUL character (\\x00) is not accepted")
        claimed = {}

    description = data.get("description") or ""
    if not isinstance(description, str):
        fail("description", "give the description as Markdown text")
        description = ""
    elif len(description) > MAX_DESCRIPTION_CHARS:
        fail("description", f"{len(description)} characters; at most {MAX_DESCRIPTION_CHARS} are allowed")

    imatrix_raw = _read_upload(files.get("imatrix"), settings.IMATRIX_MAX_BYTES, errors, "imatrix")
    imatrix_sha256 = hashlib.sha256(imatrix_raw).hexdigest() if imatrix_raw else ""
    imatrix_tensors = _check_imatrix(imatrix_raw, imatrix_sha256, errors) if imatrix_raw else []

    if errors:
        raise SubmissionInvalid(errors)
    return RecipeSubmission(
        base_model=base_model, ftype=ftype, spec=spec, source_text=source_text, title=title,
        description=description, method=method, claimed_metrics=claimed,
        imatrix_bytes=imatrix_raw, imatrix_sha256=imatrix_sha256,
        imatrix_tensors=imatrix_tensors,
    )



def quant_type_or_none(name: str) -> str | None:
    try:
        return quant_type_name(name)
    except ValueError:
        return None


EDITABLE = ("title", "description", "method", "claimed_metrics")


def clean_recipe_edit(data, recipe: Recipe) -> dict:
    """The editable fields, checked by clean_submission itself with what the recipe makes held as it is
    (base, file type, rules, single-tensor types): the same messages the submission form gives."""
    if not hasattr(data, "get"):
        raise SubmissionInvalid({"non_field_errors": ["send the changes as a JSON object or a form"]})
    fixed = {"base_model": recipe.base_model.name, "ftype": recipe.ftype, "rules": recipe.source_text,
             "output_tensor_type": "", "token_embedding_type": ""}
    if not recipe.source_text:  # a recipe stored from rules alone (the admin's stock recipes)
        fixed["rules"] = "\n".join(f"{r['pattern']}={r['type']}" for r in recipe.rules)
    current = {"title": recipe.title, "description": recipe.description, "method": recipe.method,
               "claimed_metrics": recipe.claimed_metrics}
    merged = {**current, **{k: data.get(k) for k in EDITABLE if k in data}, **fixed}
    submission = clean_submission(merged, {})
    return {name: getattr(submission, name) for name in EDITABLE}
