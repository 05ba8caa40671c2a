from django import forms

from leaderboard.basemodels.models import BaseModel
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.validation import SubmissionInvalid, clean_recipe_edit, clean_submission

FTYPE_CHOICES = ["Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_K_S", "Q4_K_M", "Q5_K_S",
                 "Q5_K_M", "Q6_K", "Q8_0", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_S",
                 "IQ3_M", "IQ4_NL", "IQ4_XS", "F16", "BF16"]


def add_submission_errors(form: forms.Form, errors: dict[str, list[str]], field_of=lambda key: key) -> None:
    """Put the validation path's field -> messages on the form: on the field it names (field_of maps a key
    to a form field), else at the top, prefixed by the key."""
    for key, messages in errors.items():
        name = field_of(key)
        name = name if name in form.fields else None
        for message in messages:
            form.add_error(name, message if name or key == "non_field_errors" else f"{key}: {message}")


class RecipeForm(forms.Form):
    """Field widgets only: every check is clean_submission's, the same one the API runs."""

    base_model = forms.CharField(required=False, widget=forms.Select)
    ftype = forms.CharField(required=False, label="Base file type", initial="Q3_K_M",
                            widget=forms.Select(choices=[(f, f) for f in FTYPE_CHOICES]))
    title = forms.CharField(required=False, max_length=200)
    rules = forms.CharField(required=False, label="Override rules", widget=forms.Textarea(attrs={
        "rows": 8, "class": "mono", "placeholder": "blk\\.14\\.ffn_down=Q2_K\n# or --tensor-type (blk)\\.(3|7)\\.attn_k=Q8_0"}))
    rules_file = forms.FileField(required=False, label="…or an override file")
    output_tensor_type = forms.CharField(required=False, label="--output-tensor-type")
    token_embedding_type = forms.CharField(required=False, label="--token-embedding-type")
    imatrix = forms.FileField(required=False, label="imatrix (GGUF)")
    method = forms.CharField(required=False, initial=Recipe.Method.MANUAL,
                             widget=forms.Select(choices=Recipe.Method.choices))
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Description (Markdown)")
    claimed_metrics = forms.CharField(required=False, label="Claimed metrics (JSON)",
                                      widget=forms.TextInput(attrs={"placeholder": '{"ppl": 139.69}'}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].widget.choices = [(m.name, m.name) for m in BaseModel.objects.all()]
        self.submission = None

    def clean(self):
        try:
            self.submission = clean_submission(self.data, self.files)
        except SubmissionInvalid as exc:
            add_submission_errors(self, exc.errors)
        return self.cleaned_data


class RecipeEditForm(forms.Form):
    """What an owner or moderator may change; checked by clean_recipe_edit, the API's path too."""

    title = forms.CharField(required=False, max_length=200)
    method = forms.CharField(required=False, widget=forms.Select(choices=Recipe.Method.choices))
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}), label="Description (Markdown)")
    claimed_metrics = forms.CharField(required=False, label="Claimed metrics (JSON)")

    def __init__(self, *args, recipe, **kwargs):
        super().__init__(*args, **kwargs)
        self.recipe = recipe
        self.changes = None

    def clean(self):
        try:
            self.changes = clean_recipe_edit(self.data, self.recipe)
        except SubmissionInvalid as exc:
            add_submission_errors(self, exc.errors)
        return self.cleaned_data
