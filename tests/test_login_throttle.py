"""Brute-force protection: repeated failed logins lock the client IP and the username out, on every login."""

import pytest
import redis
from django.core.cache import caches
from django.test import override_settings

from shop.login_throttle import LOCKED_MESSAGE

pytestmark = pytest.mark.django_db

PASSWORD = "right-pass-123"
LOCKED = "Too many failed logins"


@pytest.fixture(autouse=True)
def five_failures_an_hour(settings):
    """A small limit and empty counts (they live in the shared Redis cache, outside the test's transaction)."""
    caches["shared"].clear()
    with override_settings(LOGIN_FAILURE_RATE="5/hour"):
        yield
    caches["shared"].clear()


@pytest.fixture
def asha(django_user_model):
    return django_user_model.objects.create_user("asha", "asha@example.com", PASSWORD, is_staff=True)


def page_login(client, username: str, password: str, ip: str = "198.51.100.1", **headers):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip, **headers)


def api_login(client, username: str, password: str, ip: str = "198.51.100.1", **headers):
    return client.post("/api/auth/token/", {"username": username, "password": password}, REMOTE_ADDR=ip, **headers)


def test_login_page_locks_out_after_repeated_failures(client, asha):
    """25 wrong passwords in a row: the first 5 are checked, the rest are refused with 429, and then
    even the right password is refused until the window ends."""
    statuses = [page_login(client, "asha", f"guess-{i}").status_code for i in range(25)]
    assert statuses == [200] * 5 + [429] * 20
    response = page_login(client, "asha", PASSWORD)
    assert response.status_code == 429 and int(response["Retry-After"]) == 3600
    html = response.content.decode()
    assert LOCKED in html and 'data-testid="form-error"' in html and 'data-testid="login-form"' in html
    assert "_auth_user_id" not in client.session


def test_token_api_locks_out_after_repeated_failures(client, asha):
    statuses = [api_login(client, "asha", f"guess-{i}").status_code for i in range(25)]
    assert statuses == [400] * 5 + [429] * 20
    response = api_login(client, "asha", PASSWORD)
    assert response.status_code == 429 and int(response["Retry-After"]) == 3600
    assert set(response.json()) == {"error"} and LOCKED in response.json()["error"]


def test_a_username_is_locked_whatever_ip_the_guesses_come_from(client, asha, django_user_model):
    django_user_model.objects.create_user("bela", "bela@example.com", PASSWORD)
    for i in range(3):
        assert page_login(client, "asha", "wrong", ip=f"203.0.113.{i}").status_code == 200
    for i in range(3, 5):
        assert api_login(client, "ASHA", "wrong", ip=f"203.0.113.{i}").status_code == 400  # page and API add up
    assert page_login(client, "asha", PASSWORD, ip="203.0.113.99").status_code == 429
    assert api_login(client, "bela", PASSWORD, ip="203.0.113.99").status_code == 200, "another account is not locked"


def test_an_ip_is_locked_whatever_usernames_it_tries(client, asha):
    for i in range(5):
        assert api_login(client, f"user{i}", "wrong").status_code == 400
    assert api_login(client, "asha", PASSWORD).status_code == 429
    assert api_login(client, "asha", PASSWORD, ip="198.51.100.2").status_code == 200, "another IP is not locked"


def test_a_forged_x_forwarded_for_does_not_reset_the_count(client, asha):
    for i in range(5):
        assert api_login(client, f"user{i}", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code == 400
    assert api_login(client, "someone", "wrong", HTTP_X_FORWARDED_FOR="10.0.0.9").status_code == 429


def test_admin_login_is_refused_while_locked_out(client, asha):
    """Logins that do not go through the two views above are refused by the authentication backend."""
    for i in range(5):
        page_login(client, "asha", f"guess-{i}")
    response = client.post("/admin/login/", {"username": "asha", "password": PASSWORD}, REMOTE_ADDR="198.51.100.7")
    assert "_auth_user_id" not in client.session
    assert LOCKED_MESSAGE in response.content.decode(), "the admin says why, not 'wrong password'"
    caches["shared"].clear()  # the window is over
    response = client.post("/admin/login/?next=/admin/", {"username": "asha", "password": PASSWORD})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(asha.pk)


def test_failure_counts_are_in_redis_so_every_web_process_shares_them(client, settings):
    page_login(client, "nobody", "wrong")
    shared = settings.CACHES["shared"]
    keys = redis.Redis.from_url(shared["LOCATION"]).keys(f"{shared['KEY_PREFIX']}:*login-failures*")
    assert len(keys) == 2, "one for the IP, one for the username"


def test_successful_logins_do_not_count(client, asha):
    for _ in range(8):
        assert api_login(client, "asha", PASSWORD).status_code == 200
    assert page_login(client, "asha", PASSWORD).status_code == 302


def test_login_page_still_needs_the_csrf_token(asha):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "asha", "password": PASSWORD})
    assert response.status_code == 403 and "_auth_user_id" not in client.session
