"""The WSGI application, as gunicorn's threaded workers run it (`gunicorn.conf.py`).

Threads receive requests, one Django thread per process runs them: each thread reads its request body in full,
then hands the request to the process's Django thread and waits. So a client that sends slowly holds only its
own thread; requests do not interleave inside Django, where they would share one core's worth of Python and
stretch each other's latency (profile list: 327-350 req/s one at a time against 262-274 interleaved); and a
process keeps one database connection, as a sync worker did, instead of one per thread. A streamed response
(files) is iterated by the receiving thread.
"""

import io
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batchhub.settings")

_django = get_wsgi_application()

from django.conf import settings  # noqa: E402  (after the application set up Django)

from batchhub.core.apikit import API_PATH  # noqa: E402

_django_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="django")
_IN_MEMORY_UP_TO = 1024 * 1024


def _read_body_first(environ) -> None:
    """Replace the socket-backed body by a buffered copy, read in full (bounded on API paths)."""
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return  # Django answers a malformed length itself
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if not declared and not chunked:
        return
    limit = settings.API_MAX_BODY_BYTES + 1 if API_PATH.match(environ.get("PATH_INFO", "")) else None
    if limit is not None and declared >= limit:
        return  # the edge middleware refuses it from its Content-Length, without reading
    source = environ["wsgi.input"]
    if declared and declared <= _IN_MEMORY_UP_TO:
        environ["wsgi.input"] = io.BytesIO(source.read(declared))
        return
    body = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY_UP_TO)  # noqa: SIM115  (freed with the environ)
    if limit is not None:
        body.write(source.read(limit))  # chunked: at most one byte past the limit, so the middleware sees it
    else:
        shutil.copyfileobj(source, body, 64 * 1024)
    body.seek(0)
    environ["wsgi.input"] = body


def _respond(environ, start_response):
    """On the Django thread: the whole response, closed there (request_finished tidies that thread's
    connection), unless it is streamed."""
    response = _django(environ, start_response)
    if getattr(response, "streaming", False):
        return response
    try:
        return [b"".join(response)]
    finally:
        response.close()


def application(environ, start_response):
    _read_body_first(environ)
    return _django_thread.submit(_respond, environ, start_response).result()
