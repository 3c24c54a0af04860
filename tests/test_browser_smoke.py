"""The browser set-up itself: Chromium starts, and the admin login works in it."""

import pytest

from .browser import log_in, screenshot


@pytest.mark.django_db(transaction=True)
def test_an_administrator_logs_in_to_the_admin_in_a_real_browser(live_server, page, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")

    log_in(page, live_server, "root", "pw-root-123")

    page.wait_for_selector("text=Telephony channels")
    assert "Site administration" in page.title()
    assert screenshot(page, "admin-index").exists()
