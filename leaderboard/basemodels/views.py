from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from leaderboard.basemodels import services
from leaderboard.basemodels.forms import BaseModelProposalForm


@login_required
def base_model_propose(request):
    form = BaseModelProposalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.base_model_propose(user=request.user, **form.cleaned_data)
        return redirect("account")
    return render(request, "basemodels/propose.html", {"form": form}, status=400 if request.method == "POST" else 200)
