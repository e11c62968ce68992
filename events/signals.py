"""Signal receivers of the event log: only hand-offs to services."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from events.services import interactions_join_session


@receiver(user_logged_in, dispatch_uid="events_join_session_on_login")
def interactions_join_on_login(sender, request, user, **kwargs) -> None:
    # Login and sign-up both log in, as the cart merge relies on too.
    if request is not None and hasattr(request, "session"):
        interactions_join_session(user=user, session=request.session)
