"""Admins can withdraw runs and re-run recipes from the admin's run list."""
import pytest

from leaderboard.domain import run_states
from leaderboard.recipes.models import Recipe
from leaderboard.runs import services
from leaderboard.runs.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="Root-Password-16"))
    return client


def test_withdrawing_fails_active_runs_and_the_worker_loses_them(admin_client, alice, base_model, corpus):
    recipe = Recipe.objects.create(base_model=base_model, ftype="Q4_0", title="t", submitter=alice, content_hash="w")
    running, _ = services.run_request(recipe=recipe, user=alice)
    token = services.run_claim(run_id=running.pk, worker="w1")
    done = Run.objects.create(recipe=recipe, corpus=corpus, state=run_states.DONE)
    admin_client.post("/admin/runs/run/", {"action": "withdraw", "_selected_action": [running.pk, done.pk]})
    running.refresh_from_db()
    assert (running.state, running.error) == (run_states.FAILED, "withdrawn by root")
    assert Run.objects.get(pk=done.pk).state == run_states.DONE
    with pytest.raises(services.RunLost):
        services.run_heartbeat(run_id=running.pk, token=token, progress=0.5)


def test_rerun_queues_one_new_run_per_recipe(admin_client, alice, base_model, corpus):
    recipe = Recipe.objects.create(base_model=base_model, ftype="Q4_0", title="t", submitter=alice, content_hash="r")
    old = Run.objects.create(recipe=recipe, corpus=corpus, state=run_states.DONE)
    admin_client.post("/admin/runs/run/", {"action": "rerun", "_selected_action": [old.pk]})
    admin_client.post("/admin/runs/run/", {"action": "rerun", "_selected_action": [old.pk]})
    assert Run.objects.filter(recipe=recipe, state=run_states.QUEUED).count() == 1
