"""Which recipes a frontier table or chart shows: one FilterSet for the pages and the API."""
from __future__ import annotations

import django_filters

from leaderboard.recipes.models import Recipe


class RecipeFilter(django_filters.FilterSet):
    base_model = django_filters.CharFilter(field_name="base_model__name", label="base model")
    ftype = django_filters.CharFilter(field_name="ftype", lookup_expr="iexact", label="base type")
    method = django_filters.ChoiceFilter(choices=Recipe.Method.choices)
    has_imatrix = django_filters.ChoiceFilter(choices=[("true", "yes"), ("false", "no")], method="filter_has_imatrix",
                                              label="has imatrix")
    submitter = django_filters.CharFilter(field_name="submitter__username")

    class Meta:
        model = Recipe
        fields = ["base_model", "ftype", "method", "has_imatrix", "submitter"]

    def filter_has_imatrix(self, queryset, name, value):
        return queryset.exclude(imatrix_sha256="") if value == "true" else queryset.filter(imatrix_sha256="")
