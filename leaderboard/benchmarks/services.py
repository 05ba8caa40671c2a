"""Registering suites and profiles (admin actions) and saving a run's benchmark results (worker)."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction

from leaderboard.benchmarks.models import BenchmarkResult, BenchmarkSuite, EvalProfile
from leaderboard.domain.task_formats import convert_original, count_tasks
from leaderboard.files.store import fetch_into_store, store_path, verified_sha256
from leaderboard.runs.models import Run
from leaderboard.runs.services import RunLost


def _read_source(source: str, sha256: str | None) -> tuple[str, Path, str]:
    if source.startswith("https://"):
        path, digest = fetch_into_store(source, settings.MODEL_STORE, sha256)
        return source, path, digest
    path = Path(source).resolve()
    return str(path), path, verified_sha256(path, sha256)


def suite_register(*, slug: str, name: str, format: str, source: str, sha256: str | None = None,
                   task_limit: int = 0, selection: str = "random", note: str = "") -> BenchmarkSuite:
    """A task file already in llama-perplexity's format (registering again updates the row)."""
    canonical, path, digest = _read_source(source, sha256)
    n = count_tasks(format, path.read_bytes())
    suite, _ = BenchmarkSuite.objects.update_or_create(slug=slug, defaults=dict(
        name=name, format=format, source=canonical, sha256=digest, size_bytes=path.stat().st_size, n_available=n,
        task_limit=task_limit, selection=selection, note=note))
    return suite


def suite_register_converted(*, slug: str, name: str, kind: str, originals: list[Path], task_limit: int = 0,
                             selection: str = "random", note: str = "") -> BenchmarkSuite:
    """Convert an original dataset (WinoGrande jsonl, ARC jsonl, MMLU CSVs) into llama-perplexity's format,
    keep the result in the model store (content-addressed) and register it from there."""
    fmt, data = convert_original(kind, [p.read_text(encoding="utf-8") for p in originals])
    digest = hashlib.sha256(data).hexdigest()
    final = store_path(settings.MODEL_STORE, digest)
    if not final.is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, suffix=".part")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, final)
    origin = ", ".join(str(p) for p in originals[:3]) + (f" and {len(originals) - 3} more" if len(originals) > 3 else "")
    note = note or f"converted from {kind} original ({origin}) by manage.py register_suite --convert"
    return suite_register(slug=slug, name=name, format=fmt, source=str(final), sha256=digest,
                          task_limit=task_limit, selection=selection, note=note)


@transaction.atomic
def profile_set(*, name: str, suite_slugs: list[str], make_default: bool = False,
                health_check: bool = True) -> EvalProfile:
    suites = list(BenchmarkSuite.objects.filter(slug__in=suite_slugs))
    missing = set(suite_slugs) - {s.slug for s in suites}
    if missing:
        raise BenchmarkSuite.DoesNotExist(f"no suite {', '.join(sorted(missing))}")
    if make_default:
        EvalProfile.objects.update(is_default=False)
    profile, _ = EvalProfile.objects.update_or_create(
        name=name, defaults={"health_check": health_check, **({"is_default": True} if make_default else {})})
    profile.suites.set(suites)
    return profile


@transaction.atomic
def profile_add_suite(*, name: str, slug: str, make_default: bool = False) -> EvalProfile:
    """Add a suite to a profile, creating the profile when missing."""
    existing = EvalProfile.objects.filter(name=name).first()
    slugs = {s.slug for s in existing.suites.all()} if existing else set()
    return profile_set(name=name, suite_slugs=sorted(slugs | {slug}), make_default=make_default,
                       health_check=existing.health_check if existing else True)


@transaction.atomic
def results_save(*, run_id: int, token, results: list[dict]) -> None:
    """The worker's results for an owned run (a later attempt replaces an earlier attempt's rows)."""
    if not Run.objects.select_for_update().filter(pk=run_id, claim_token=token).exists():
        raise RunLost(run_id)
    for r in results:
        BenchmarkResult.objects.update_or_create(run_id=run_id, suite_id=r["suite_id"], defaults={
            k: r[k] for k in ("accuracy", "stderr", "tasks", "correct", "base_accuracy", "flips", "lost", "gained",
                              "flipped_tasks", "seconds")})


# The standard suites, from the shared data folder: (slug, name, kind or format, files, tasks per run in the
# default profile). The counts are chosen so that a default reproduction's suites and health check together
# cost at most about twice its KLD pass on Gemma 3 270M on 2 cores (bench/profile_cost.py), each suite about
# 0.37 KLD passes and the health check about 0.43 (per task, measured: HellaSwag about 6.5 WinoGrande tasks,
# MMLU 3, ARC-Challenge 2); each run of the profile scores the same tasks (llama-perplexity's seeded selection). The paired interval they buy is measured in
# docs/metrics.md ("Task budgets", bench/task_budget.py). The full profile scores every task, under the slug +
# FULL_SUFFIX, so a score on all tasks is never mixed with one on the default selection.
STANDARD_SUITES = (
    ("hellaswag", "HellaSwag", "hellaswag", "hellaswag/hellaswag_val_full.txt", 8),
    ("arc-challenge", "ARC-Challenge", "arc", "arc/ARC-Challenge-Test.jsonl", 25),
    ("winogrande", "WinoGrande", "winogrande", "winogrande/dev.jsonl", 50),
    ("mmlu", "MMLU (val, pre-release CSVs)", "mmlu", "mmlu/val", 18),
)
FULL_SUFFIX = "-all"
PROFILES = {"default": tuple(slug for slug, *_ in STANDARD_SUITES),
            "full": tuple(slug + FULL_SUFFIX for slug, *_ in STANDARD_SUITES)}


def standard_suites_register(*, data_dir: Path) -> list[EvalProfile]:
    """Register the four standard suites from data_dir (../shared/data layout) twice: at the default
    profile's task counts, and with every task (slug-all) for the "full" profile. The "default" profile is
    made the default. Registering again changes nothing."""
    for slug, name, kind, rel, tasks in STANDARD_SUITES:
        path = Path(data_dir) / rel
        for suite_slug, suite_name, limit in ((slug, name, tasks), (slug + FULL_SUFFIX, f"{name} (all tasks)", 0)):
            if kind == "hellaswag":
                suite_register(slug=suite_slug, name=suite_name, format="hellaswag", source=str(path),
                               task_limit=limit)
            else:
                files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
                suite_register_converted(slug=suite_slug, name=suite_name, kind=kind, originals=files,
                                         task_limit=limit)
    return [profile_set(name=name, suite_slugs=list(slugs), make_default=name == "default")
            for name, slugs in PROFILES.items()]
