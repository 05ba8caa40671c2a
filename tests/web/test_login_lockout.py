"""Password guessing is cut off without locking the real user out: failures count per (user, address), per
address and per user over all addresses; a refused login is a 429 with Retry-After on every way in (API
token, login page, admin), and the right password from an address that did not fail is always taken."""
import time

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def token(username, password, address):
    return APIClient(REMOTE_ADDR=address).post("/api/auth/token/", {"username": username, "password": password})


def page_login(client, username, password, address):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def assert_locked(response, settings):
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= settings.LOGIN_FAILURE_WINDOW_SECONDS


def test_guessing_from_one_address_locks_that_address_out_of_that_account_only(client, alice, bob, settings):
    for attempt in range(settings.LOGIN_FAILURES_ALLOWED):
        assert token("alice", f"guess{attempt}", "10.1.1.1").status_code == 400
    refused = token("alice", "alice-password", "10.1.1.1")  # the guesser's address, even with the password
    assert_locked(refused, settings)
    assert refused.json()["code"] == "login_locked" and "too many failed logins" in refused.json()["detail"]
    assert_locked(page_login(client, "alice", "alice-password", "10.1.1.1"), settings)
    assert "_auth_user_id" not in client.session
    # alice herself, from her own machine, is not locked out: by the API and by the page
    assert token("alice", "alice-password", "10.1.1.2").status_code == 200
    assert page_login(client, "alice", "alice-password", "10.1.1.3").status_code == 302
    # and the guessing address may still log in as someone it did not guess at
    assert page_login(client, "bob", "bob-password", "10.1.1.1").status_code == 302


def test_an_address_guessing_many_accounts_is_locked_out_of_all(client, bob, settings, admin_user):
    for i in range(settings.LOGIN_ADDRESS_FAILURES_ALLOWED):
        assert token(f"user{i}", "guess", "10.2.2.2").status_code == 400
    assert_locked(token("bob", "bob-password", "10.2.2.2"), settings)
    admin = client.post("/admin/login/", {"username": admin_user.username, "password": "password"},
                        REMOTE_ADDR="10.2.2.2")
    assert_locked(admin, settings)
    assert token("bob", "bob-password", "10.2.2.3").status_code == 200


def test_guessing_spread_over_many_addresses_is_cut_off_for_the_addresses_that_guessed(client, alice, settings):
    settings.LOGIN_USER_FAILURES_ALLOWED = 20
    for i in range(settings.LOGIN_USER_FAILURES_ALLOWED):
        assert token("alice", "guess", f"10.3.0.{i}").status_code == 400  # one guess each: under every other limit
    assert_locked(token("alice", "alice-password", "10.3.0.7"), settings)
    assert token("alice", "alice-password", "10.3.1.1").status_code == 200  # an address that never failed


def test_the_lock_lifts_when_the_window_passes(alice, settings):
    settings.LOGIN_FAILURES_ALLOWED, settings.LOGIN_FAILURE_WINDOW_SECONDS = 2, 1
    for _ in range(2):
        assert token("alice", "guess", "10.4.4.4").status_code == 400
    assert_locked(token("alice", "alice-password", "10.4.4.4"), settings)
    time.sleep(1.2)
    assert token("alice", "alice-password", "10.4.4.4").status_code == 200


def test_ipv6_guessing_is_counted_per_64_so_fresh_addresses_in_it_do_not_help(alice, settings):
    """A /64 is what one IPv6 subscriber gets: stepping through its addresses is still one address."""
    for i in range(settings.LOGIN_FAILURES_ALLOWED):
        assert token("alice", "guess", f"2001:db8:1:2::{i + 1:x}").status_code == 400
    assert_locked(token("alice", "alice-password", "2001:db8:1:2:ffff::99"), settings)
    # the next /64 over is another network, and it has not failed
    assert token("alice", "alice-password", "2001:db8:1:3::1").status_code == 200
