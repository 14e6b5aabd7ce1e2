"""The product's URLs plus the benchmarks' reference views (see `bench/settings.py`)."""

from django.urls import path

from batchhub.urls import handler500
from batchhub.urls import urlpatterns as product_urlpatterns
from bench.views import logged_in, parse_only

__all__ = ["handler500", "urlpatterns"]

# Before the REST API, whose catch-all patterns (<version>/<api_key>/...) come last in the product's list.
urlpatterns = [
    path("bench/parse-only", parse_only, name="bench_parse_only"),
    path("bench/logged-in", logged_in, name="bench_logged_in"),
    *product_urlpatterns,
]
