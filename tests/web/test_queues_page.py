"""The operators' queue page: staff only; broker depth per queue from the real Redis, runs waiting from the database."""
import pytest

from leaderboard.runs.services import run_request
from tests.finished_runs import recipe

pytestmark = pytest.mark.django_db(transaction=True)


def test_queue_depth_per_queue_for_staff_only(client, alice, django_user_model, base_model, corpus,
                                               celery_app_for_tests):
    with celery_app_for_tests.connection_for_write() as conn:
        redis = conn.default_channel.client
        redis.delete("gpu")
        try:
            _check_page(client, alice, django_user_model, base_model)
        finally:
            redis.delete("gpu")  # no worker of a later test should meet this run's message


def _check_page(client, alice, django_user_model, base_model):
    run_request(recipe=recipe(alice, base_model, "r"), user=alice)  # committed: its message is sent to "gpu"
    client.force_login(alice)
    assert client.get("/admin/queues/").status_code == 302  # to the admin login
    client.force_login(django_user_model.objects.create_user("op", password="op-password", is_staff=True))
    page = client.get("/admin/queues/").content.decode()
    assert 'data-depth="1"' in page  # the gpu queue holds the run's message
    assert 'data-state="queued">1<' in page and "Oldest queued run waiting" in page
    assert 'id="queues-link"' in client.get("/admin/").content.decode()
