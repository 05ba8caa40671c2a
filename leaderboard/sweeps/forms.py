from django import forms

from leaderboard.basemodels.models import EvalCorpus
from leaderboard.recipes.forms import add_submission_errors
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.validation import SubmissionInvalid
from leaderboard.sweeps.validation import clean_sweep

TYPE_CHOICES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0", "Q4_0", "Q5_0", "IQ4_NL", "IQ4_XS", "F16"]


class SweepForm(forms.Form):
    """Field widgets only: every check is clean_sweep's, the same one the API runs."""

    base_recipe = forms.CharField(required=False, label="Base recipe", widget=forms.Select)
    templates = forms.CharField(required=False, label="Tensors to sweep (one a line, {layer} for the block number)",
                                initial="blk.{layer}.ffn_down.weight",
                                widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}))
    type = forms.CharField(required=False, label="Type each variant gives its tensor", initial="Q2_K",
                           widget=forms.Select(choices=[(t, t) for t in TYPE_CHOICES]))
    first_layer = forms.CharField(required=False, label="First layer", initial="0")
    last_layer = forms.CharField(required=False, label="Last layer (empty: the model's last)")
    corpus = forms.CharField(required=False, label="Evaluation profile", widget=forms.Select)
    with_benchmarks = forms.BooleanField(required=False, label="Also score the benchmark suites on every variant "
                                                               "(about 2× the time of the KLD pass)")
    title = forms.CharField(required=False, max_length=200, label="Title (optional)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        recipes = Recipe.objects.filter(withdrawn_at=None, plan_status=Recipe.PlanStatus.READY).select_related(
            "base_model").order_by("base_model__name", "pk")
        self.fields["base_recipe"].widget.choices = [
            (r.pk, f"#{r.pk} {r.base_model.name} · {r.title}") for r in recipes]
        self.fields["corpus"].widget.choices = [("", "default")] + [
            (c.name, c.name) for c in EvalCorpus.objects.filter(enabled=True)]
        self.submission = None

    def clean(self):
        try:
            self.submission = clean_sweep(self.data)
        except SubmissionInvalid as exc:
            add_submission_errors(self, exc.errors)
        return self.cleaned_data
