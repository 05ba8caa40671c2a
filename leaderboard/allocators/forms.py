from django import forms

from leaderboard.allocators import selectors
from leaderboard.allocators.imatrix_validation import clean_imatrix_request
from leaderboard.allocators.models import CalibrationText
from leaderboard.allocators.validation import UNITS, clean_allocation
from leaderboard.basemodels.models import BaseModel
from leaderboard.domain.allocation import DEFAULT_TIERS
from leaderboard.recipes.forms import add_submission_errors
from leaderboard.recipes.validation import SubmissionInvalid, find_base_model

# the candidate types the form offers, lowest bits first; seed 003's tier table is checked by default
TIER_CHOICES = ("q2_K", "q3_K", "iq4_xs", "iq4_nl", "q4_0", "q4_1", "q4_K", "q5_0", "q5_1", "q5_K", "q6_K", "q8_0",
                "bf16", "f16")
UNIT_LABELS = {"MiB": "MiB (the whole file)", "bpw": "bits per weight (as llama-quantize prints them)"}


class AllocationForm(forms.Form):
    """Field widgets only: every check is clean_allocation's, the same one the API runs."""

    base_model = forms.CharField(required=False, label="Base model", widget=forms.Select)
    imatrix = forms.FileField(required=False, label="imatrix (GGUF, llama-imatrix's format)")
    imatrix_recipe = forms.CharField(required=False, label="…or use the imatrix of a recipe of this base model",
                                     widget=forms.Select)
    imatrix_job = forms.CharField(required=False, label="…or one a worker computed for this base model",
                                  widget=forms.Select)
    damage_probe = forms.CharField(required=False, label="Damage probe (the measured allocator's evidence)",
                                   widget=forms.Select)
    budget = forms.CharField(required=False, label="Budget", widget=forms.TextInput(attrs={"placeholder": "e.g. 180"}))
    budget_unit = forms.CharField(required=False, label="Budget unit", initial="MiB",
                                  widget=forms.Select(choices=[(u, UNIT_LABELS[u]) for u in UNITS]))
    method = forms.CharField(required=False, label="Allocator", widget=forms.Select)
    tiers = forms.MultipleChoiceField(required=False, label="Candidate types", initial=list(DEFAULT_TIERS),
                                      choices=[(t, t) for t in TIER_CHOICES], widget=forms.CheckboxSelectMultiple)
    options = forms.CharField(required=False, label="Options (JSON, e.g. {\"qat\": true})")
    title = forms.CharField(required=False, max_length=200, label="Recipe title (optional)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].widget.choices = [(m.pk, m.name) for m in BaseModel.objects.order_by("name")]
        base = find_base_model(str(self["base_model"].value() or ""))
        self.fields["imatrix_recipe"].widget.choices = [("", "—")] + (
            [(r.pk, f"#{r.pk} {r.title}") for r in selectors.imatrix_recipes(base)] if base else [])
        self.fields["imatrix_job"].widget.choices = [("", "—")] + (
            [(j.pk, f"#{j.pk} {j.calibration.name}, {j.chunks} × {j.n_ctx} tokens ({j.coverage})")
             for j in selectors.computed_imatrices(base)] if base else [])
        self.fields["damage_probe"].widget.choices = [("", "—")] + (
            [(p.pk, f"#{p.pk}: {len(p.arms)} arms on {p.corpus.name}, imatrix #{p.imatrix_id}")
             for p in selectors.damage_probes(base)] if base else [])
        self.fields["method"].widget.choices = [
            (str(m), f"{m}: {m.summary}" + ("" if selectors.reads_imatrix(m) else
                                            " (reads a damage probe, quantizes with the probe's imatrix)"))
            for m in selectors.offered_methods()]
        self.ask = None

    def clean(self):
        try:
            self.ask = clean_allocation(self.data, self.files)
        except SubmissionInvalid as exc:
            add_submission_errors(self, exc.errors)
        return self.cleaned_data


class ImatrixForm(forms.Form):
    """Field widgets only: every check is clean_imatrix_request's, the same one the API runs."""

    base_model = forms.CharField(required=False, label="Base model", widget=forms.Select)
    calibration = forms.CharField(required=False, label="Calibration text", widget=forms.Select)
    n_ctx = forms.CharField(required=False, initial="512", label="Context (tokens per chunk, llama-imatrix -c)")
    n_chunks = forms.CharField(required=False, initial="100", label="Chunks (at most; fewer when the text is shorter)")
    include_output = forms.BooleanField(required=False, label="Also collect output.weight (--process-output)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].widget.choices = [(m.pk, m.name) for m in BaseModel.objects.filter(approved=True)
                                                    .order_by("name")]
        self.fields["calibration"].widget.choices = [
            (t.pk, f"{t.name}: {t.note}" if t.note else t.name) for t in CalibrationText.objects.filter(enabled=True)]
        self.ask = None

    def clean(self):
        try:
            self.ask = clean_imatrix_request(self.data)
        except SubmissionInvalid as exc:
            add_submission_errors(self, exc.errors)
        return self.cleaned_data
