from django.urls import path

from connective.urls import urlpatterns as product_urls

from . import views

urlpatterns = [
    path("bench/bare/", views.bare),
    path("bench/insert/", views.one_insert),
    *product_urls,
]
