import re

from django import forms

from leaderboard.basemodels.models import BaseModel, BaseModelProposal
from leaderboard.files.fetch import url_refusal

SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class BaseModelProposalForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="how the site names it, e.g. qwen2.5-0.5b-instruct-F16")
    url = forms.URLField(max_length=1000, assume_scheme="https", label="https URL of the GGUF file",
                         help_text="a worker downloads it; an F16 or BF16 file gives the most useful frontiers")
    sha256 = forms.CharField(max_length=64, label="sha256 of the file")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                           help_text="what a reader should know about this base (where it comes from, its license)")

    def clean_url(self):
        url = self.cleaned_data["url"]
        refusal = url_refusal(url)  # what the URL alone tells; the worker checks the address it resolves to
        if refusal:
            raise forms.ValidationError(refusal)
        return url

    def clean_sha256(self):
        sha = self.cleaned_data["sha256"].strip()
        if not SHA256.match(sha):
            raise forms.ValidationError("give the 64 hexadecimal digits of the file's sha256")
        existing = BaseModel.objects.filter(sha256=sha.lower()).first()
        if existing:
            raise forms.ValidationError(f"this file is already registered as {existing.name}")
        if BaseModelProposal.objects.filter(sha256=sha.lower(), state__in=["pending", "fetched"]).exists():
            raise forms.ValidationError("this file is already proposed and waiting")
        return sha.lower()

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if BaseModel.objects.filter(name=name).exists():
            raise forms.ValidationError("a base model of this name exists")
        return name
