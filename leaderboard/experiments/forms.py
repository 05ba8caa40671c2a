"""Widgets for filing and editing an experiment. Every check is validation.clean_experiment's (or clean_edit's),
the same the API runs: the form only gathers its fields into the API's shape and maps errors back."""
from __future__ import annotations

from django import forms
from django.conf import settings

from leaderboard.basemodels.models import BaseModel, EvalCorpus
from leaderboard.domain import experiment_design as design
from leaderboard.domain.verdict import PAIRED_STATISTIC
from leaderboard.experiments.validation import SubmissionInvalid, clean_edit, clean_experiment
from leaderboard.recipes.forms import FTYPE_CHOICES, add_submission_errors
from leaderboard.recipes.models import Recipe

FORM_ARMS = 4
ARM_FIELDS = ("label", "role", "recipe", "ftype", "rules", "type_k", "type_v", "n_ctx", "gguf_url", "gguf_sha256", "gguf")
KV_CHOICES = [(t, t) for t in design.KV_CACHE_TYPES]


class CriterionFields(forms.Form):
    """The success criterion in its structured form; an empty metric means a baseline experiment."""

    title = forms.CharField(required=False, max_length=200)
    hypothesis = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Hypothesis (Markdown)")
    tags = forms.MultipleChoiceField(required=False, choices=[], widget=forms.CheckboxSelectMultiple, label="Techniques")
    reproduction_target = forms.IntegerField(required=False, initial=5, label="Reproductions per arm (target)")
    criterion_metric = forms.ChoiceField(required=False, label="Success criterion: treatment's",
                                         choices=[("", "— none: a baseline experiment —")] + [(m, m) for m in PAIRED_STATISTIC])
    criterion_comparator = forms.ChoiceField(required=False, choices=[("<=", "≤"), (">=", "≥")], label="is")
    criterion_threshold = forms.FloatField(required=False, label="threshold", initial=0.95)
    criterion_relative = forms.ChoiceField(required=False, label="as", choices=[
        ("relative", "× baseline's value"), ("absolute", "+ baseline's value (points or nats)")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tags"].choices = [(t, t) for t in settings.EXPERIMENT_TAGS]

    def common_data(self) -> dict:
        d = self.data
        metric = d.get("criterion_metric") or ""
        criterion = None
        if metric:
            criterion = {"metric": metric, "comparator": d.get("criterion_comparator") or "<=",
                         "threshold": d.get("criterion_threshold"), "relative": d.get("criterion_relative") != "absolute"}
        return {"title": d.get("title"), "hypothesis": d.get("hypothesis"), "tags": d.getlist("tags"),
                "reproduction_target": d.get("reproduction_target"), "criterion": criterion}

    def add_errors(self, errors: dict[str, list[str]], field_of=lambda key: key) -> None:
        add_submission_errors(self, errors, lambda key: "criterion_metric" if key == "criterion" else field_of(key))


class ExperimentForm(CriterionFields):
    base_model = forms.ChoiceField(required=False, choices=[])
    corpus = forms.ChoiceField(required=False, choices=[], label="Evaluation text")
    supersedes = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].choices = [(m.name, m.name) for m in BaseModel.objects.filter(approved=True)]
        self.fields["corpus"].choices = [(c.name, f"{c.name} ({c.n_chunks}×{c.n_ctx})") for c in
                                         EvalCorpus.objects.filter(enabled=True).order_by("-is_default", "name")]
        recipes = [("", "— inline recipe, or none —")] + [
            (str(r.pk), f"#{r.pk} {r.title} ({r.base_model.name})") for r in Recipe.objects.select_related("base_model")[:300]]
        for i in range(FORM_ARMS):
            prefix = f"arm{i}_"
            self.fields[prefix + "label"] = forms.CharField(required=False, label=f"Arm {i + 1}: label")
            self.fields[prefix + "role"] = forms.ChoiceField(
                required=False, choices=[(design.BASELINE, "baseline"), (design.TREATMENT, "treatment")],
                initial=design.BASELINE if i == 0 else design.TREATMENT, label="role")
            self.fields[prefix + "recipe"] = forms.ChoiceField(required=False, choices=recipes, label="recipe")
            self.fields[prefix + "ftype"] = forms.ChoiceField(required=False, label="…or inline: file type",
                                                              choices=[("", "—")] + [(f, f) for f in FTYPE_CHOICES])
            self.fields[prefix + "rules"] = forms.CharField(required=False, label="override rules",
                                                            widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}))
            self.fields[prefix + "type_k"] = forms.ChoiceField(required=False, choices=KV_CHOICES, initial="f16", label="KV cache: K")
            self.fields[prefix + "type_v"] = forms.ChoiceField(required=False, choices=KV_CHOICES, initial="f16", label="V")
            self.fields[prefix + "n_ctx"] = forms.IntegerField(required=False, label="context (empty: the corpus's)")
            self.fields[prefix + "gguf_url"] = forms.CharField(required=False, label="…or a GGUF made elsewhere: https URL")
            self.fields[prefix + "gguf_sha256"] = forms.CharField(required=False, label="its sha256")
            self.fields[prefix + "gguf"] = forms.FileField(required=False, label="or upload it")
        self.submission = None

    def arm_rows(self) -> list[list]:
        return [[self[f"arm{i}_{name}"] for name in ARM_FIELDS] for i in range(FORM_ARMS)]

    def clean(self):
        d = self.data
        rows = [i for i in range(FORM_ARMS) if (d.get(f"arm{i}_label") or "").strip()]
        arms, files = [], {}
        for n, i in enumerate(rows):
            get = lambda name: (d.get(f"arm{i}_{name}") or "").strip()  # noqa: E731
            arm = {"label": get("label"), "role": get("role"), "type_k": get("type_k") or "f16",
                   "type_v": get("type_v") or "f16", "n_ctx": get("n_ctx") or None,
                   "gguf_url": get("gguf_url"), "gguf_sha256": get("gguf_sha256")}
            if get("recipe"):
                arm["recipe"] = get("recipe")
            elif get("ftype"):
                arm["recipe"] = {"ftype": get("ftype"), "rules": d.get(f"arm{i}_rules") or ""}
            if self.files.get(f"arm{i}_gguf"):
                files[f"arms[{n}].gguf"] = self.files[f"arm{i}_gguf"]
            arms.append(arm)
        data = {**self.common_data(), "base_model": d.get("base_model"), "corpus": d.get("corpus"),
                "supersedes": d.get("supersedes"), "arms": arms}

        def field_of(key: str) -> str:
            if key.startswith("arms[") and "]" in key:
                index, _, rest = key[5:].partition("]")
                name = rest.lstrip(".").split(".")[0] or "label"
                return f"arm{rows[int(index)]}_{name}" if index.isdigit() and int(index) < len(rows) else key
            return key

        try:
            self.submission = clean_experiment(_Data(data), files)
        except SubmissionInvalid as exc:
            self.add_errors(exc.errors, field_of)
        return self.cleaned_data


class ExperimentEditForm(CriterionFields):
    def __init__(self, *args, experiment, **kwargs):
        super().__init__(*args, **kwargs)
        self.experiment = experiment
        self.changes = None

    def clean(self):
        try:
            self.changes = clean_edit(_Data(self.common_data()), self.experiment)
        except SubmissionInvalid as exc:
            self.add_errors(exc.errors)
        return self.cleaned_data


class _Data(dict):
    """A plain dict that answers getlist like a QueryDict (for the tags)."""

    def getlist(self, key):
        value = self.get(key) or []
        return value if isinstance(value, list) else [value]


def initial_from(experiment) -> dict:
    """The edit form's (or a superseding experiment's) starting values."""
    c = experiment.criterion or {}
    return {"title": experiment.title, "hypothesis": experiment.hypothesis, "tags": experiment.tags,
            "reproduction_target": experiment.reproduction_target, "criterion_metric": c.get("metric", ""),
            "criterion_comparator": c.get("comparator", "<="), "criterion_threshold": c.get("threshold"),
            "criterion_relative": "relative" if c.get("relative", True) else "absolute"}
