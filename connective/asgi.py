"""The ASGI application: what the production server runs (the panel's live streams need it)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connective.settings")

application = get_asgi_application()
