"""Account pages beyond Django's auth views: sign-up, order history, and the login page's lockout."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from events.services import list_impressions_record
from recommendations.selectors import shopper_recommended_list
from shop.cart import cart_get
from shop.checkout import order_list_for_user
from shop.login_throttle import LOCKED_MESSAGE, login_retry_after


class SignupForm(UserCreationForm):
    email = forms.EmailField(
        label="E-mail", help_text="For order confirmations and password resets.", widget=forms.EmailInput()
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ["username", "email"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs["autocomplete"] = "email"

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        # One account per address, so password reset e-mails reach exactly one account.
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this e-mail already exists. Log in or reset your password.")
        return email


def signup(request: HttpRequest) -> HttpResponse:
    """registration/signup.html (`form`, `next`): creates the account and logs the shopper in."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    if request.user.is_authenticated:
        return redirect(next_url or "shop:home")
    if request.method == "POST":
        form = SignupForm(request.POST)
        if form.is_valid():
            user = form.save()
            # Logging in fires user_logged_in, which moves the guest cart into the new account.
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.get_username()}! Your account is ready.")
            return redirect(next_url or "shop:home")
        status = 400
    else:
        form, status = SignupForm(), 200
    return render(request, "registration/signup.html", {"form": form, "next": next_url}, status=status)


@login_required
def order_history(request: HttpRequest) -> HttpResponse:
    """shop/order_history.html, the account page: the shopper's own orders (`orders`) and their
    "Recommended for you" with each item's reason (`recommended`, a RecommendedList)."""
    in_cart = cart_get(user=request.user, session=request.session).quantities()
    recommended = shopper_recommended_list(user=request.user, k=settings.RECOMMENDED_FOR_YOU_COUNT, exclude_ids=in_cart)
    list_impressions_record(request=request, shown={"recommended_for_you": len(recommended.items)})
    return render(
        request,
        "shop/order_history.html",
        {"orders": order_list_for_user(user=request.user), "recommended": recommended},
    )


class LoginThrottleFormMixin:
    """Refuses to check the password while the client IP or the username is locked out, and says so
    (the authentication backend alone would only say the password is wrong)."""

    retry_after = 0

    def clean(self) -> dict:
        self.retry_after = login_retry_after(self.request, self.cleaned_data.get("username"))
        if self.retry_after:
            raise forms.ValidationError(LOCKED_MESSAGE, code="throttled")
        return super().clean()


class ThrottledAuthenticationForm(LoginThrottleFormMixin, AuthenticationForm):
    """The shop's login form."""


class LoginView(auth_views.LoginView):
    """registration/login.html; 429 with a message (and Retry-After) after too many failed logins."""

    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response
