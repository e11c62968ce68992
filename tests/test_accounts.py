"""Accounts: sign-up, log in and out, password reset by e-mail, order history access."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from shop.cart import DbCart
from shop.models import Product

pytestmark = pytest.mark.django_db

PASSWORD = "Kashmiri-Chai-2024"


def signup(client: Client, **overrides):
    data = {"username": "meera", "email": "meera@example.com", "password1": PASSWORD, "password2": PASSWORD}
    return client.post(reverse("shop:signup"), {**data, **overrides})


def test_signup_creates_the_account_and_logs_in(client):
    page = client.get(reverse("shop:signup"))
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("username", "email", "password1", "password2"):
        assert f'<label for="id_{name}"' in html
    response = signup(client)
    assert response.status_code == 302 and response.url == reverse("shop:home")
    user = get_user_model().objects.get(username="meera")
    assert user.email == "meera@example.com" and user.check_password(PASSWORD)
    assert int(client.session["_auth_user_id"]) == user.pk
    assert client.get(reverse("shop:order_history")).status_code == 200


def test_signup_keeps_the_guest_cart_and_follows_next(client):
    product = Product.objects.create(sku="ACC1", name="Saree", price="2500.00", stock=3)
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "2"})
    response = client.post(
        reverse("shop:signup"),
        {
            "username": "ravi",
            "email": "ravi@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "next": "/checkout/",
        },
    )
    assert response.url == "/checkout/"
    assert DbCart(get_user_model().objects.get(username="ravi")).quantities() == {product.pk: 2}


@pytest.mark.parametrize(
    ("overrides", "field", "phrase"),
    [
        ({"password2": "something-else-entirely"}, "password2", "didn’t match"),
        ({"password1": "password", "password2": "password"}, "password2", "too common"),
        ({"password1": "12345678901", "password2": "12345678901"}, "password2", "entirely numeric"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"email": ""}, "email", "required"),
        ({"email": "TAKEN@example.com"}, "email", "already exists"),
        ({"username": "Taken"}, "username", "already exists"),
        ({"username": "bad name!"}, "username", "valid username"),
    ],
)
def test_signup_errors_are_shown_by_their_field(client, overrides, field, phrase):
    get_user_model().objects.create_user(username="taken", email="taken@example.com", password=PASSWORD)
    before = get_user_model().objects.count()
    response = signup(client, **overrides)
    assert response.status_code == 400
    assert phrase in " ".join(response.context["form"].errors[field])
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html
    assert re.search(
        rf'<input[^>]*aria-describedby="[^"]*id_{field}_error[^"]*"[^>]*id="id_{field}"', html
    ) or re.search(rf'<input[^>]*id="id_{field}"[^>]*aria-describedby="[^"]*id_{field}_error', html)
    assert 'data-testid="form-error"' in html
    assert get_user_model().objects.count() == before
    assert "_auth_user_id" not in client.session


def test_login_and_logout(client):
    get_user_model().objects.create_user(username="asha", email="asha@example.com", password=PASSWORD)
    page = client.get(reverse("login"))
    assert page.status_code == 200 and 'for="id_username"' in page.content.decode()
    wrong = client.post(reverse("login"), {"username": "asha", "password": "nope"})
    assert wrong.status_code == 200 and 'data-testid="form-error"' in wrong.content.decode()
    assert "_auth_user_id" not in client.session
    response = client.post(reverse("login"), {"username": "asha", "password": PASSWORD, "next": "/cart/"})
    assert response.url == "/cart/"
    assert client.get(reverse("logout")).status_code == 405  # logging out is a POST, so a link cannot do it
    page = client.post(reverse("logout"))
    assert page.status_code == 200 and "You are logged out" in page.content.decode()
    assert "_auth_user_id" not in client.session


def test_order_history_needs_login(client):
    response = client.get(reverse("shop:order_history"))
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={reverse('shop:order_history')}"


def test_password_reset_by_email_and_the_link_works(client):
    user = get_user_model().objects.create_user(username="lata", email="lata@example.com", password=PASSWORD)
    response = client.post(reverse("password_reset"), {"email": "LATA@example.com"})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["lata@example.com"] and "Reset your password" in message.subject
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body).group(1)
    # The link redirects once to a token-free URL (Django keeps the token in the session).
    page = client.get(link, follow=True)
    assert page.status_code == 200 and page.context["validlink"] is True
    form_url = page.redirect_chain[-1][0]
    new_password = "Masala-Dosa-Forever-7"
    mismatch = client.post(form_url, {"new_password1": new_password, "new_password2": "different-thing-9"})
    assert mismatch.status_code == 200 and 'id="id_new_password2_error"' in mismatch.content.decode()
    done = client.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")
    user.refresh_from_db()
    assert user.check_password(new_password)
    assert Client().login(username="lata", password=new_password)
    # A used link stops working.
    again = Client().get(link, follow=True)
    assert again.context["validlink"] is False and "no longer works" in again.content.decode()


def test_password_reset_for_unknown_email_sends_nothing_and_says_the_same(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.url == reverse("password_reset_done")
    assert mail.outbox == []
    bad = client.post(reverse("password_reset"), {"email": "not an email"})
    assert bad.status_code == 200 and 'id="id_email_error"' in bad.content.decode()


def test_signed_in_shopper_is_not_shown_the_signup_form(client):
    get_user_model().objects.create_user(username="asha", email="asha@example.com", password=PASSWORD)
    client.login(username="asha", password=PASSWORD)
    assert client.get(reverse("shop:signup")).url == reverse("shop:home")


def test_signup_ignores_an_offsite_next(client):
    response = signup(client, next="https://evil.example.com/")
    assert response.url == reverse("shop:home")
