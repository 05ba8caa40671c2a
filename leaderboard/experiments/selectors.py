"""Reads for experiments: the board, and an experiment's standing — per arm its runs on the counted profile,
its numbers, its paired difference from its baseline and its verdict (domain/verdict.py)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet

from leaderboard.domain import experiment_design as design
from leaderboard.domain import run_states
from leaderboard.domain.paired import PairedDifference
from leaderboard.domain.verdict import PAIRED_STATISTIC, PENDING, verdict
from leaderboard.experiments.models import Arm, Experiment
from leaderboard.frontiers.selectors import token_arrays_by_id, paired_difference
from leaderboard.runs.models import Run

SHOWN_METRICS = ("kld_mean", "ppl", "same_top_p", "rms_dp", "kld_p99")


def family_of(run: Run) -> tuple:
    """What the arms of one experiment must share to be compared: the text, chunk count, backend, build and
    CPU (the context length and KV cache are the arms' own)."""
    p = run.profile
    return (p.corpus_sha256, p.n_chunks, p.backend, p.build_family, p.cpu)


@dataclass
class ArmStanding:
    arm: Arm
    target: int
    counted: list[Run] = field(default_factory=list)  # finished on the experiment's profile
    waiting: int = 0  # queued or running
    failed: int = 0
    elsewhere: int = 0  # finished on another profile: not counted
    representative: Run | None = None
    baseline: ArmStanding | None = None
    differences: dict[str, PairedDifference] | None = None
    verdict: str = PENDING
    statistic: str | None = None  # the paired statistic the criterion judges

    @property
    def n(self) -> int:
        return len(self.counted)

    @property
    def missing(self) -> int:
        return max(0, self.target - self.n - self.waiting)

    @property
    def metrics(self) -> dict:
        return self.representative.metrics if self.representative else {}

    @property
    def deciding(self) -> PairedDifference | None:
        return self.differences.get(self.statistic) if self.differences and self.statistic else None

    @property
    def difference_rows(self) -> list[tuple[str, PairedDifference]]:
        return [(key, self.differences[stat]) for key, stat in PAIRED_STATISTIC.items()] if self.differences else []

    def to_dict(self) -> dict:
        a = self.arm
        return {
            "label": a.label, "role": a.role, "kind": a.kind, "measured_not_rederived": a.kind == design.GGUF,
            "recipe": a.recipe_id, "type_k": a.type_k, "type_v": a.type_v, "n_ctx": a.n_ctx,
            "gguf_sha256": a.gguf_sha256 or None, "reproductions": self.n, "target": self.target,
            "waiting": self.waiting, "failed": self.failed, "not_counted_other_profiles": self.elsewhere,
            "runs": [r.pk for r in self.counted],
            "metrics": {k: self.metrics.get(k) for k in SHOWN_METRICS} if self.representative else None,
            "bpw": self.representative.bpw if self.representative else None,
            "baseline": self.baseline.arm.label if self.baseline else None,
            "paired_vs_baseline": {k: d.to_dict() for k, d in self.difference_rows} or None,
            "verdict": self.verdict if a.role == design.TREATMENT else None,
        }


@dataclass
class ExperimentStanding:
    experiment: Experiment
    arms: list[ArmStanding]
    profile_family: tuple | None
    result: str

    @property
    def active(self) -> bool:
        return any(a.waiting for a in self.arms)

    @property
    def missing(self) -> int:
        """Runs the queue button would ask for."""
        return sum(a.missing for a in self.arms)

    @property
    def progress(self) -> tuple[int, int]:
        """(reproductions counted, reproductions wanted) over all arms."""
        return sum(min(a.n, a.target) for a in self.arms), sum(a.target for a in self.arms)

    @property
    def deciding(self) -> ArmStanding | None:
        """The treatment whose interval the board shows (the first with a verdict)."""
        return next((a for a in self.arms if a.arm.role == design.TREATMENT and a.deciding), None)

    @property
    def profile_label(self) -> str:
        if not self.profile_family:
            return ""
        for a in self.arms:
            if a.counted:
                p = a.counted[0].profile
                cpu = f" on {p.cpu}" if p.cpu else ""
                return f"{p.corpus.name} · {p.n_chunks} chunks · {p.backend}{cpu} · {short_build(p.build_family)}"
        return ""


def short_build(build_family: str) -> str:
    """The build family without the CPU feature list a llama.cpp build string ends with."""
    return build_family.split(" | CPU:")[0]


def _arm_runs() -> Prefetch:
    return Prefetch("runs", queryset=Run.objects.select_related("profile__corpus").order_by("pk"))


def experiment_standing(experiment: Experiment) -> ExperimentStanding:
    arms = list(experiment.arms.select_related("recipe").prefetch_related(_arm_runs()))
    corpus_n_ctx = experiment.corpus.n_ctx
    done = [r for a in arms for r in a.runs.all() if r.state == run_states.DONE and r.profile_id]
    families = Counter(family_of(r) for r in done)
    # the profile with the most finished runs (ties: the one measured first) is the experiment's
    family = max(families, key=lambda f: (families[f], -min(r.pk for r in done if family_of(r) == f)), default=None)
    standings = []
    for arm in arms:
        s = ArmStanding(arm=arm, target=experiment.reproduction_target)
        kv = f"{arm.type_k}/{arm.type_v}"
        n_ctx = arm.runtime.effective_n_ctx(corpus_n_ctx)
        for run in arm.runs.all():
            if run.state == run_states.DONE and run.profile_id:
                on_profile = family_of(run) == family and run.profile.n_ctx == n_ctx and run.profile.kv_cache == kv
                if on_profile:
                    s.counted.append(run)
                else:
                    s.elsewhere += 1
            elif run.state == run_states.FAILED:
                s.failed += 1
            elif not run.is_final:
                s.waiting += 1
        if s.counted:  # runs of one profile are deterministic; the median one stands for them all
            ranked = sorted(s.counted, key=lambda r: (r.metrics.get("kld_mean", float("inf")), r.pk))
            s.representative = ranked[(len(ranked) - 1) // 2]
        standings.append(s)
    _judge(experiment, standings, corpus_n_ctx)
    treatments = [s.verdict for s in standings if s.arm.role == design.TREATMENT]
    return ExperimentStanding(experiment, standings, family, design.experiment_result(treatments))


def _judge(experiment: Experiment, standings: list[ArmStanding], corpus_n_ctx: int) -> None:
    designs = [s.arm.design() for s in standings]
    criterion = experiment.success_criterion()
    token_ids = {s.representative.tokens_id for s in standings if s.representative and s.representative.tokens_id}
    data = token_arrays_by_id(token_ids)
    for i, s in enumerate(standings):
        if s.arm.role != design.TREATMENT:
            continue
        b = design.baseline_of(designs, i, corpus_n_ctx)
        s.baseline = standings[b] if b is not None else None
        t_run, b_run = s.representative, s.baseline.representative if s.baseline else None
        if not (t_run and b_run and t_run.tokens_id and b_run.tokens_id and criterion):
            continue
        s.differences = paired_difference(data, t_run.tokens_id, b_run.tokens_id)
        s.statistic = PAIRED_STATISTIC[criterion.metric]
        d = s.differences[s.statistic]
        s.verdict = verdict(criterion, baseline_value=b_run.metrics.get(criterion.metric, 0.0), low=d.low, high=d.high)


def experiment_board(*, tag: str = "", result: str = "", base_model: str = "") -> list[ExperimentStanding]:
    """The board: every experiment with its computed result, newest first, filtered by tag, base model and
    result (the result is computed, so that filter applies after the standings are made)."""
    experiments = experiment_list(tag=tag, base_model=base_model)
    standings = [experiment_standing(e) for e in experiments[:200]]
    return [s for s in standings if not result or s.result == result]


def experiment_list(*, tag: str = "", base_model: str = "") -> QuerySet[Experiment]:
    qs = (Experiment.objects.filter(withdrawn_at__isnull=True).select_related("base_model", "corpus", "submitter")
          .prefetch_related("near_duplicates"))
    if tag:
        qs = qs.filter(tags__contains=[tag])
    if base_model:
        qs = qs.filter(base_model__name=base_model)
    return qs


def experiment_export(experiment: Experiment) -> dict:
    """Everything needed to run the experiment again elsewhere: the design, the arms' exact inputs (recipe
    rules and types, GGUF sha256 and source, runtime settings), the corpus and the frozen criterion."""
    arms = []
    for arm in experiment.arms.select_related("recipe"):
        entry = {"label": arm.label, "role": arm.role, "kind": arm.kind, "type_k": arm.type_k, "type_v": arm.type_v,
                 "n_ctx": arm.n_ctx}
        if arm.recipe_id:
            r = arm.recipe
            entry["recipe"] = {"id": r.pk, "ftype": r.ftype, "rules": r.source_text,
                               "output_tensor_type": r.output_tensor_type or None,
                               "token_embedding_type": r.token_embedding_type or None,
                               "imatrix_sha256": r.imatrix_sha256 or None}
        if arm.kind == design.GGUF:
            entry["gguf"] = {"sha256": arm.gguf_sha256, "bytes": arm.gguf_bytes, "url": arm.gguf_url or None,
                             "uploaded": bool(arm.gguf_file)}
        arms.append(entry)
    c = experiment.corpus
    return {
        "id": experiment.pk, "title": experiment.title, "hypothesis": experiment.hypothesis, "tags": experiment.tags,
        "base_model": {"name": experiment.base_model.name, "sha256": experiment.base_model.sha256},
        "corpus": {"name": c.name, "sha256": c.sha256, "n_ctx": c.n_ctx, "n_chunks": c.n_chunks},
        "reproduction_target": experiment.reproduction_target, "criterion": experiment.criterion,
        "frozen_at": experiment.frozen_at.isoformat() if experiment.frozen_at else None,
        "supersedes": experiment.supersedes_id, "arms": arms,
    }
