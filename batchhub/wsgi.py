"""The WSGI application, as gunicorn's threaded workers run it (`gunicorn.conf.py`).

Threads receive requests, one Django thread per process runs them: each thread reads its request body in full,
then hands the request to the process's Django thread and waits. So a client that sends slowly holds only its
own thread; requests do not interleave inside Django, where they would share one core's worth of Python and
stretch each other's latency (profile list: 327-350 req/s one at a time against 262-274 interleaved); and a
process keeps one database connection, as a sync worker did, instead of one per thread. A streamed response
or a file is sent by the receiving thread. A request that runs over `WEB_REQUEST_TIMEOUT` is answered 503 and
its process replaced (a stuck Django thread would hold every request of the process).
"""

import gc
import io
import logging
import os
import signal
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, TimeoutError

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batchhub.settings")

_django = get_wsgi_application()

# What Django loaded at start lives as long as the process: out of the collector's sight, a full collection scans only
# what requests made. A full collection of everything took 104 ms once every ~2,000 picker searches (the slowest
# request of 2,000: 112 ms, frozen: 19 ms).
gc.collect()
gc.freeze()

from django.conf import settings  # noqa: E402  (after the application set up Django)

from batchhub.api.errors import API_PATH  # noqa: E402
from batchhub.core.web.logging import masked_path  # noqa: E402

logger = logging.getLogger("batchhub.wsgi")

_django_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="django")
_IN_MEMORY_UP_TO = 1024 * 1024


def _refused(start_response, status: str, text: str, retry_after: int | None = None) -> list[bytes]:
    headers = [("Content-Type", "text/plain; charset=utf-8")]
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    start_response(status, headers)
    return [text.encode()]


def _read_body_first(environ) -> bool:
    """Replace the socket-backed body by a buffered copy, read in full; False if it is over the limit of a
    non-API path (an API path keeps one byte past its limit, so the edge middleware answers in the family's
    shape)."""
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True  # Django answers a malformed length itself
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if not declared and not chunked:
        return True
    api = bool(API_PATH.match(environ.get("PATH_INFO", "")))
    limit = (settings.API_MAX_BODY_BYTES if api else settings.WEB_MAX_BODY_BYTES) + 1
    if declared >= limit:
        return api  # the edge middleware refuses it from its Content-Length, without reading
    source = environ["wsgi.input"]
    if declared and declared <= _IN_MEMORY_UP_TO:
        environ["wsgi.input"] = io.BytesIO(source.read(declared))
        return True
    body = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY_UP_TO)  # noqa: SIM115  (freed with the environ)
    while chunk := source.read(min(64 * 1024, limit - body.tell())):
        body.write(chunk)  # at most one byte past the limit
    if body.tell() >= limit and not api:
        return False
    body.seek(0)
    environ["wsgi.input"] = body
    return True


def _respond(environ, start_response):
    """On the Django thread: the whole response, closed there (request_finished tidies that thread's
    connection), unless it is streamed (a file is sent by the receiving thread, with sendfile)."""
    response = _django(environ, start_response)
    file_wrapper = environ.get("wsgi.file_wrapper")
    if getattr(response, "streaming", False) or (file_wrapper and isinstance(response, file_wrapper)):
        return response
    try:
        return [b"".join(response)]
    finally:
        response.close()


def application(environ, start_response):
    if not _read_body_first(environ):
        return _refused(start_response, "413 Payload Too Large", "The body is larger than this server accepts.")
    started = threading.Event()

    def run():
        started.set()
        return _respond(environ, start_response)

    answer = _django_thread.submit(run)
    try:
        # Waiting behind other requests is not running: the timeout counts from the start on the Django thread
        # (a stuck thread is caught by the request it runs, which replaces the process).
        started.wait()
        return answer.result(timeout=settings.WEB_REQUEST_TIMEOUT)
    except TimeoutError:
        # The Django thread is stuck (a lock wait, a runaway query): every request of this process would queue
        # behind it. Under gunicorn the process stops gracefully and a fresh one replaces it.
        logger.error("request %s %s ran over %s s", environ.get("REQUEST_METHOD"), masked_path(
            environ.get("PATH_INFO", "")[:120]), settings.WEB_REQUEST_TIMEOUT)  # fmt: skip
        if environ.get("SERVER_SOFTWARE", "").startswith("gunicorn"):
            os.kill(os.getpid(), signal.SIGTERM)
        return _refused(start_response, "503 Service Unavailable", "The request took too long.", retry_after=10)
