"""Leaderboard API: the frontier pages' data as JSON (and CSV), the budget query and paired comparisons.

Every endpoint goes through frontiers.selectors.frontier_query, the pages' own validation path."""
from __future__ import annotations

from django.core.cache import cache
from django.shortcuts import get_object_or_404
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.renderers import CSVRenderer
from leaderboard.api.serializers import profile_data
from leaderboard.basemodels.models import Architecture, BaseModel
from leaderboard.frontiers import selectors
from leaderboard.frontiers.selectors import Point
from leaderboard.recipes.models import Recipe


def scope_from(params) -> selectors.Scope:
    """?architecture=<id> or ?base_model=<name or id>; one of them is required."""
    if params.get("architecture"):
        try:
            return selectors.Scope(architecture=get_object_or_404(Architecture, pk=int(params["architecture"])))
        except ValueError:
            raise ValidationError({"architecture": ["give the architecture's id"]})
    name = params.get("base_model")
    if name:
        lookup = {"pk": int(name)} if name.isdigit() else {"name": name}
        model = BaseModel.objects.select_related("architecture").filter(approved=True, **lookup).first()
        if model is None:
            raise NotFound(f"no approved base model '{name}'")
        return selectors.Scope(architecture=model.architecture, base_model=model)
    raise ValidationError({"scope": ["give ?architecture=<id> or ?base_model=<name or id>"]})


def point_data(p: Point, request) -> dict:
    s = p.standing
    return {
        "recipe_id": p.recipe_id, "title": p.title, "base_model": p.base_model, "ftype": p.ftype, "method": p.method,
        "has_imatrix": p.has_imatrix, "output_bytes": s.output_bytes, "gib": round(p.gib, 6), "bpw": s.bpw,
        "kld_mean": p.value("kld_mean"), "kld_mean_err": p.error("kld_mean"), "ppl": p.value("ppl"),
        "ppl_err": p.error("ppl"), "same_top_p": p.value("same_top_p"), "same_top_p_err": p.error("same_top_p"),
        "values": s.values, "errors": s.errors, "n_runs": s.n_runs,
        "bit_identical": s.bit_identical[0] if s.bit_identical else None,
        "bit_compared": s.bit_identical[1] if s.bit_identical else None,
        "verified": s.verified, "not_verified_because": s.reason or None, "on_frontier": p.on_frontier,
        "within_noise_of": p.no_gain_over, "degenerate": p.degenerate, "submitter": p.submitter,
        "created_at": p.created_at.isoformat(), "profile_id": None,
        "url": request.build_absolute_uri(f"/recipes/{p.recipe_id}/"),
    }


def _rows(query: selectors.FrontierQuery, request) -> list[dict]:
    """The rows as JSON-ready dicts, cached with the frontier they come from (its version changes with every
    finished run) per host and query string."""
    version = query.result.version
    key = f"{version}:rows:{request.get_host()}:{request.get_full_path()}" if version else None
    rows = cache.get(key) if key else None
    if rows is None:
        rows = [point_data(p, request) | {"profile_id": query.result.profile.pk} for p in query.rows]
        if key:
            cache.set(key, rows, selectors.FRONTIER_CACHE_SECONDS)
    return rows


def _query(request) -> selectors.FrontierQuery:
    query = selectors.frontier_query(scope_from(request.query_params), request.query_params)
    if query.errors:
        raise ValidationError(query.errors)
    return query


class Leaderboard(APIView):
    """GET ?architecture=|base_model= [&profile=&metric=&ftype=&method=&has_imatrix=&verified=&sort=]"""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]

    def get(self, request):
        query = _query(request)
        result = query.result
        profile = result.profile
        rows = _rows(query, request)
        return Response({
            "profile": profile_data(profile) if profile else None,
            "profiles": [profile_data(p) | {"n_runs": p.n_runs} for p in query.profiles],
            "metric": result.metric_key, "frontier": result.frontier_ids, "noise_floor": result.noise_floor,
            "count": len(rows), "results": rows,
        })


class BestUnder(APIView):
    """GET ?architecture=|base_model= &max_gib= and/or &max_bpw= [&metric=&profile=]: the best verified recipe."""

    def get(self, request):
        if not (request.query_params.get("max_gib") or request.query_params.get("max_bpw")):
            raise ValidationError({"max_gib": ["give max_gib and/or max_bpw"]})
        query = _query(request)
        best = query.best
        return Response({"profile": profile_data(query.result.profile) if query.result.profile else None,
                         "metric": query.result.metric_key,
                         "best": point_data(best, request) if best else None})


class Compare(APIView):
    """GET ?a=<recipe id>&b=<recipe id>[&profile=]: A minus B token by token, with 95 % intervals."""

    def get(self, request):
        try:
            a = Recipe.objects.select_related("base_model__architecture").get(pk=int(request.query_params.get("a", "")))
            b = Recipe.objects.select_related("base_model__architecture").get(pk=int(request.query_params.get("b", "")))
        except ValueError:
            raise ValidationError({"a": ["give two recipe ids as ?a=&b="]})
        except Recipe.DoesNotExist:
            raise NotFound("no such recipe")
        scope = selectors.Scope(architecture=a.base_model.architecture, base_model=a.base_model)
        profile = selectors.pick_profile(selectors.profiles_of(scope), request.query_params.get("profile"))
        comparison = selectors.compare_recipes(a, b, profile) if profile else None
        if comparison is None:
            raise NotFound("these recipes have no finished runs of one base model on a common profile")
        return Response({"profile": profile_data(profile), "a": a.pk, "b": b.pk, "differences": [
            {"statistic": r["label"], "a": r["a"], "b": r["b"], **r["difference"].to_dict()} for r in comparison["rows"]]})
