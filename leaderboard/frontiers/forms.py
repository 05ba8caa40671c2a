"""What a frontier page or API call asks for besides the recipe filters: profile, metric, budget, order."""
from __future__ import annotations

from django import forms

from leaderboard.domain.metrics import METRICS, metric

GIB = 1024 ** 3
SORTS = {"size": "size", "bpw": "bpw", "kld": "kld_mean", "ppl": "ppl", "same_top": "same_top_p", "runs": "runs",
         "date": "date", "title": "title"}


class FrontierQueryForm(forms.Form):
    profile = forms.CharField(required=False)
    metric = forms.CharField(required=False, initial="kld_mean")
    verified = forms.BooleanField(required=False, label="verified only")
    sort = forms.ChoiceField(required=False, choices=[(k, k) for s in SORTS for k in (s, f"-{s}")])
    max_gib = forms.DecimalField(required=False, min_value=0, max_digits=12, decimal_places=6, label="fits in (GiB)")
    max_bpw = forms.DecimalField(required=False, min_value=0, max_digits=8, decimal_places=4, label="at most (bpw)")
    page = forms.IntegerField(required=False, min_value=1, max_value=100000)

    def clean_metric(self):
        key = self.cleaned_data.get("metric") or "kld_mean"
        try:
            metric(key)
        except KeyError:
            raise forms.ValidationError(f"unknown metric '{key}'; one of {', '.join(METRICS)}, bench:<suite> "
                                        "or bench:<suite>:delta") from None
        return key

    @property
    def max_bytes(self) -> float | None:
        gib = self.cleaned_data.get("max_gib")
        return float(gib) * GIB if gib is not None else None

    @property
    def max_bpw_value(self) -> float | None:
        bpw = self.cleaned_data.get("max_bpw")
        return float(bpw) if bpw is not None else None

    @property
    def has_budget(self) -> bool:
        return self.max_bytes is not None or self.max_bpw_value is not None
