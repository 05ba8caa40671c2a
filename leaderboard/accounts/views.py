from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
from rest_framework.authtoken.models import Token

from leaderboard.accounts import selectors


def register(request):
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("home")
    return render(request, "registration/register.html", {"form": form}, status=400 if request.method == "POST" else 200)


@login_required
def me(request):
    """The user's API token (made on first visit) and everything they submitted or asked for."""
    token, _ = Token.objects.get_or_create(user=request.user)
    return render(request, "registration/account.html", {"token": token, **selectors.submissions_of(request.user)})
