"""The budget form: base model, imatrix, budget, allocator and tiers -> the proposal (rules, exact size, type
histogram) -> "Submit as a recipe" -> the recipe's page, where a worker's plan appears as for any recipe."""
import json

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from leaderboard.allocators import services
from leaderboard.allocators.forms import AllocationForm
from leaderboard.recipes.forms import add_submission_errors
from leaderboard.recipes.validation import SubmissionInvalid


def _page(request, form: AllocationForm, proposal=None, kept_sha256: str = "", status: int = 200):
    ask = form.ask
    return render(request, "allocators/new.html", {
        "form": form, "proposal": proposal, "kept_sha256": kept_sha256,
        "options_json": json.dumps(ask.options) if ask and ask.options else "",
        "inputs_json": json.dumps(proposal.allocation.inputs, indent=1) if proposal else "",
    }, status=status)


@login_required
def allocation_new(request):
    form = AllocationForm(request.POST or None, request.FILES or None,
                          initial={"base_model": request.GET.get("base_model", ""),
                                   "imatrix_job": request.GET.get("imatrix_job", ""),
                                   "damage_probe": request.GET.get("damage_probe", ""),
                                   "method": request.GET.get("method", "")})
    if request.method != "POST":
        return _page(request, form)
    proposal = None
    if form.is_valid():
        try:
            proposal = services.allocation_propose(**form.ask.proposal_arguments())
        except SubmissionInvalid as exc:
            add_submission_errors(form, exc.errors)
    kept = "" if form.ask else request.POST.get("imatrix_sha256", "")
    if form.ask is not None and form.ask.imatrix.recipe is None and form.ask.imatrix.job is None:
        # an upload is kept for the next step (proposing again, or submitting) instead of being sent twice
        kept = services.imatrix_stage(imatrix=form.ask.imatrix) if form.ask.imatrix.uploaded else form.ask.imatrix.sha256
    return _page(request, form, proposal, kept, status=200 if proposal else 400)


@login_required
@require_POST
def allocation_submit(request):
    form = AllocationForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            recipe, created = services.allocation_submit(user=request.user, ask=form.ask)
        except SubmissionInvalid as exc:
            add_submission_errors(form, exc.errors)
        else:
            return redirect(f"{recipe.get_absolute_url()}{'' if created else '?duplicate=1'}")
    return _page(request, form, status=400)
