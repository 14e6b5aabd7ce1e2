"""Reference views of the benchmarks: what the web stack alone can do, to compare the product's views with."""

from __future__ import annotations

import json
import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST


@csrf_exempt
@require_POST
def parse_only(request: HttpRequest) -> HttpResponse:
    """The ingest call's floor (`bench/api_ingest.py`): parse the JSON body, answer 202 with a token."""
    json.loads(request.body)
    return JsonResponse({"token": str(uuid.uuid4())}, status=202)


@login_required
@require_GET
def logged_in(request: HttpRequest) -> HttpResponse:
    """A dashboard request's floor (`bench/picker.py`): the session and the user loaded, a few bytes answered."""
    return HttpResponse(request.user.username)
