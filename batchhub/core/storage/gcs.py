"""The Google Cloud Storage transport on google-cloud-storage, authenticated with a service-account key.

Writes are resumable uploads fed chunk by chunk from the caller's stream (`blob.open("wb")`): the object exists
only once the upload is finalized at the stream's end; on any failure the upload session is cancelled, so nothing
partial is ever visible. Reads pin the object's generation and fetch it in ranged chunks (`blob.open("rb")`).
Every call has a timeout and a bounded retry. Messages never hold the key nor the server's own text.

An `endpoint_url` (the tests' emulator, a private endpoint) and a service-account key's own `token_uri`, when it is
not Google's, are hosts the partner chose: each is checked by the SSRF guard at open time (a clear error before
any request), and every connection made to it is checked again at connect time, made to the address checked then
(a rebinding DNS server could answer the first lookup with a public address and a later one with 127.0.0.1 or
169.254.169.254). The session that talks to such a host is a requests session whose adapter (`_CheckedAdapter`)
builds its urllib3 pools from `common.checked_pools`: urllib3's `_new_conn` (resolve, then connect) becomes the
guard's resolve-check-connect and nothing else changes (TLS verified by urllib3 against the host name, streamed
bodies, each request's timeout). A requests adapter's `init_poolmanager` is requests' documented place to change
its pool manager, and `pool_classes_by_scheme` the pool manager's own attribute for its pool classes (botocore
sets it the same way); its `send` drops the environment's proxies (a proxy would resolve the host itself), its CA
bundle (REQUESTS_CA_BUNDLE) still counts. Every host that session reaches is checked, a resumable upload's session
URL too (the server names it). Google's own endpoints keep google-auth's sessions untouched.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO
from urllib.parse import urlsplit

import google.api_core.exceptions as api_errors
import google.auth.exceptions as auth_errors
import requests
import urllib3
from django.conf import settings as django_settings
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from google.cloud.storage.retry import DEFAULT_RETRY
from google.oauth2 import service_account

from batchhub.core.storage.base import (
    ErrorClass,
    RemoteFile,
    Transport,
    TransportError,
    remote_name,
    storage_timeout,
    transport_kind,
)
from batchhub.core.storage.common import (
    PASS_THROUGH,
    MiB,
    SourceFailed,
    checked_pools,
    endpoint_checked,
    file_reader,
    name_matches,
    pattern_parts,
    pattern_prefix,
    quietly,
    reading,
    secret_text,
    source_chunks,
)

logger = logging.getLogger(__name__)

# A resumable upload sends chunks of this size (a multiple of 256 KiB); a ranged read fetches this much at a time.
# The client holds about two copies of an upload chunk and three of a read chunk. Measured on 50 MB through the
# emulator (Python allocations): writing peaks at 17.0 MiB with 8 MiB chunks (33.9 with 16), reading at 11.8 MiB
# with 4 MiB chunks (23.8 with 8: at the contract's 24 MB bound).
UPLOAD_CHUNK = 8 * MiB
READ_CHUNK = 4 * MiB
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - an address, not a secret
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9]$")
"""A valid Google Cloud Storage bucket name: 3 to 222 lowercase letters, digits, dots, hyphens and underscores,
starting and ending with a letter or a digit (`gcs_open` also refuses `..`). Public: the dashboard's form checks a
bucket with it too."""
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


_CHECKED_POOLS = checked_pools(urllib3.HTTPConnectionPool, urllib3.HTTPSConnectionPool)


class _CheckedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections are each made to an address the SSRF guard checks as it connects, never
    through a proxy (the proxy would resolve the host itself)."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _CHECKED_POOLS

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=None)


def _checked(session: requests.Session, retries: int = 0) -> requests.Session:
    """`session` with every connection checked by the SSRF guard at connect time, and no proxy."""
    adapter = _CheckedAdapter(max_retries=retries)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class _TimedSession(AuthorizedSession):
    """The client's HTTP session: every request has our timeout, even one the client sends without (cancelling an
    upload would wait 120 s), the token's refresh too; no redirect is followed (it could lead to an address the
    SSRF guard never saw). With `endpoint_checked`, its connections are checked at connect time; with
    `token_checked`, those of the token's refresh (its own session) too."""

    def __init__(self, credentials, timeout: float, *, endpoint_checked: bool, token_checked: bool) -> None:
        # google-auth's own token session retries a connection 3 times over https
        self._token_session = _checked(requests.Session(), retries=3) if token_checked else None
        auth_request = Request(self._token_session) if self._token_session is not None else None
        super().__init__(credentials, refresh_timeout=timeout, auth_request=auth_request)
        if endpoint_checked:
            _checked(self)
        self.default_timeout = timeout
        self.max_redirects = 0

    def request(self, method, url, data=None, headers=None, max_allowed_time=None, timeout=None, **kwargs):
        timeout = self.default_timeout if timeout is None else timeout
        return super().request(method, url, data, headers, max_allowed_time, timeout=timeout, **kwargs)

    def close(self) -> None:
        super().close()
        if self._token_session is not None:
            self._token_session.close()


class GCSTransport(Transport):
    kind = "gcs"

    def __init__(self, client: storage.Client, session: _TimedSession, bucket: str, prefix: str) -> None:
        self._client, self._session = client, session
        self.bucket_name, self.prefix = bucket, prefix
        self._bucket = client.bucket(bucket)
        self._timeout = storage_timeout()
        # transient failures are retried briefly here; longer outages are the job's retry with backoff
        self._retry = DEFAULT_RETRY.with_delay(initial=0.5, maximum=4.0).with_timeout(self._timeout)

    def _key(self, name: str) -> str:
        return self.prefix + remote_name(name)

    def _error(self, exc: Exception, name: str | None = None) -> TransportError:
        """`exc` classified. With a `name`, a 404 may be the file's or the bucket's: said apart."""
        exc = api_error(exc)
        if name is not None and isinstance(exc, api_errors.NotFound) and not self._bucket_is_missing(exc):
            return _not_found(name, self.bucket_name)
        return gcs_error(exc, bucket=self.bucket_name)

    def _bucket_is_missing(self, exc: api_errors.NotFound) -> bool:
        # GCS says which ("The specified bucket does not exist." or "No such object: bucket/name") after the
        # request's URL; a server that does not (the emulator) is asked whether the bucket exists.
        said = (exc.message or "").partition(": ")[2].lower()
        if "no such object" in said:
            return False
        if "bucket" in said:
            return True
        try:
            return not self._bucket.exists(timeout=self._timeout, retry=None)
        except PASS_THROUGH:
            raise
        except Exception:  # not allowed to look at the bucket itself: the file is what is missing
            return False

    def _call(self, name: str | None, call: Callable, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            error = self._error(exc, name)
            raise error from (exc if error.error_class is ErrorClass.PLATFORM else None)

    def list(self, pattern: str = "*") -> list[RemoteFile]:
        parts = pattern_parts(pattern)
        found = []
        try:
            blobs = self._client.list_blobs(
                self._bucket,
                prefix=self.prefix + pattern_prefix(parts),
                timeout=self._timeout,
                retry=self._retry,
            )
            for blob in blobs:
                name = blob.name[len(self.prefix) :]
                if name_matches(name, parts):  # a folder marker (`a/`) has an empty last level: never
                    found.append(RemoteFile(name=name, size=blob.size, modified_at=blob.updated))
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            error = self._error(exc)
            raise error from (exc if error.error_class is ErrorClass.PLATFORM else None)
        return sorted(found, key=lambda item: item.name)

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes]]:
        key = self._key(name)
        blob = self._bucket.blob(key)
        self._call(name, blob.reload, timeout=self._timeout, retry=self._retry)
        # the generation read now is the one read to the end, even if the object is replaced meanwhile
        pinned = self._bucket.blob(key, generation=blob.generation)
        reader = pinned.open("rb", chunk_size=READ_CHUNK, timeout=self._timeout, retry=self._retry)
        with reading(file_reader(reader, lambda exc: self._error(exc, name))) as stream:
            yield stream

    def write(self, name: str, stream: IO[bytes]) -> int:
        key = self._key(name)
        blob = self._bucket.blob(key, chunk_size=UPLOAD_CHUNK)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        writer = blob.open(
            "wb",
            chunk_size=UPLOAD_CHUNK,
            ignore_flush=True,
            content_type=content_type,
            timeout=self._timeout,
            retry=self._retry,
        )
        written = 0
        try:
            for chunk in source_chunks(stream):
                writer.write(chunk)
                written += len(chunk)
            writer.close()  # finalizes: the object appears now, whole
            return written
        except SourceFailed as failed:
            self._cancel(writer)
            raise failed.original from None
        except (TransportError, *PASS_THROUGH):
            self._cancel(writer)
            raise
        except Exception as exc:
            self._cancel(writer)
            error = self._error(exc)  # an upload needs no file there: a 404 is the bucket's
            raise error from (exc if error.error_class is ErrorClass.PLATFORM else None)
        except BaseException:
            self._cancel(writer)
            raise

    @staticmethod
    def _cancel(writer) -> None:
        """Cancels an unfinished resumable upload (never visible; the session would expire by itself in a week)."""
        try:
            writer.terminate()
        except PASS_THROUGH:
            raise
        except Exception as exc:
            logger.warning(
                "gcs: an unfinished upload could not be cancelled (%s); it expires by itself", type(exc).__name__
            )

    def delete(self, name: str) -> None:
        """Deletes `name`; a file already gone is not an error (a retried job may delete twice), a missing bucket
        is."""
        blob = self._bucket.blob(self._key(name))
        try:
            self._call(name, blob.delete, timeout=self._timeout, retry=self._retry)
        except TransportError as error:
            if error.code != "file_not_found":
                raise

    def move(self, name: str, to: str) -> None:
        """Rewrites on the server side (in several calls for a large object), then deletes the original."""
        if self._key(name) == self._key(to):  # a rewrite onto itself then a delete would lose the file
            return
        source = self._bucket.blob(self._key(name))
        target = self._bucket.blob(self._key(to))
        token = None
        while True:
            token, _, _ = self._call(
                name, target.rewrite, source, token=token, timeout=self._timeout, retry=self._retry
            )
            if token is None:
                break
        self._call(name, source.delete, timeout=self._timeout, retry=self._retry)

    def close(self) -> None:
        with quietly():
            self._client.close()
        with quietly():
            self._session.close()


def _bucket_missing(bucket: str) -> TransportError:
    return TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "bucket_missing",
        f"The bucket {bucket} does not exist. Check its name in the settings; retrying will not help.",
    )


def _not_found(name: str | None, bucket: str) -> TransportError:
    return TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "file_not_found",
        f"There is no file {(name or '')[:200]} in bucket {bucket}. Check the name; retrying will not help.",
    )


def _transient(code: str = "server_busy") -> TransportError:
    if code == "timeout":
        return TransportError(
            ErrorClass.TRANSIENT,
            "timeout",
            "Google Cloud Storage did not answer in time; it will be retried. If this persists, check your network.",
        )
    if code == "connection_failed":
        return TransportError(
            ErrorClass.TRANSIENT,
            "connection_failed",
            "The connection to Google Cloud Storage failed (refused, reset or cut while transferring); it will be "
            "retried.",
        )
    return TransportError(
        ErrorClass.TRANSIENT,
        "server_busy",
        "Google Cloud Storage answered with a temporary error (busy or unavailable); it will be retried.",
    )


def _auth_refused() -> TransportError:
    return TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "auth_refused",
        "Google refused the service-account key (deleted, disabled, or for another project). Create a new key for "
        "the service account and paste it in the settings; retrying will not help until then.",
    )


def _platform() -> TransportError:
    return TransportError(
        ErrorClass.PLATFORM,
        "unexpected",
        "An unexpected error occurred while talking to Google Cloud Storage. This is ours to fix and has been "
        "reported; retrying will not help.",
    )


def api_error(exc: Exception) -> Exception:
    """The failure to judge: a retry that ran out of time is judged by its last failure, an upload's unexpected
    answer by its HTTP status."""
    while isinstance(exc, api_errors.RetryError) and isinstance(exc.cause, Exception):
        exc = exc.cause
    if isinstance(exc, InvalidResponse):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(status, int):
            return api_errors.from_http_status(status, "upload failed")
    return exc


def gcs_error(exc: Exception, *, bucket: str) -> TransportError:
    """A google-cloud-storage / google-auth / requests failure, classified (a 404 here is the bucket's)."""
    exc = api_error(exc)
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, api_errors.RetryError):
        return _transient("timeout")
    if isinstance(exc, api_errors.Unauthorized):
        return _auth_refused()
    if isinstance(exc, api_errors.Forbidden):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "permission_denied",
            f"Google accepted the service account but it is not allowed to do this in bucket {bucket}. Give it the "
            "Storage Object Admin role on the bucket; retrying will not help until then.",
        )
    if isinstance(exc, api_errors.NotFound):
        return _bucket_missing(bucket)
    if isinstance(exc, api_errors.GoogleAPICallError) and exc.code in _TRANSIENT_STATUS:
        return _transient()
    if isinstance(exc, auth_errors.InvalidOperation):  # an endpoint that wants credentials, given none
        return _auth_refused()
    if isinstance(exc, auth_errors.RefreshError):
        # the token endpoint answered: a refused key, unless it said to retry (its own 5xx)
        return _transient() if getattr(exc, "retryable", False) else _auth_refused()
    if isinstance(exc, auth_errors.TransportError):  # the token endpoint could not be reached
        return _transient("connection_failed")
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "redirected",
            "The storage endpoint answered with a redirect, which BatchHub does not follow. Give the endpoint's own "
            "address in the settings; retrying will not help.",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "tls_failed",
            "The secure connection to the storage endpoint failed (its certificate is not valid for its name or not "
            "trusted). Fix the endpoint's certificate; retrying will not help.",
        )
    if isinstance(exc, requests.exceptions.Timeout | TimeoutError):
        return _transient("timeout")
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return _transient("connection_failed")
    if isinstance(exc, ConnectionError | DataCorruption):
        return _transient("connection_failed")
    status = getattr(exc, "code", None)
    logger.warning("gcs: unexpected %s (status %s)", type(exc).__name__, status if isinstance(status, int) else "-")
    return _platform()


def _bad_credentials(reason: str) -> TransportError:
    return TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "bad_credentials",
        f"The service-account key is not usable: {reason}. Paste the whole JSON key file downloaded from Google "
        "Cloud (IAM → Service accounts → Keys); retrying will not help.",
    )


def gcs_credentials(text: str):
    """(service-account credentials from the key's JSON text, validated, its project, whether its token_uri is a
    host other than Google's); errors never quote the text."""
    try:
        info = json.loads(text)
    except (ValueError, RecursionError):
        raise _bad_credentials("it is not valid JSON") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise _bad_credentials('it is not a service-account key (its "type" must be "service_account")')
    missing = [field for field in ("client_email", "private_key", "token_uri") if not isinstance(info.get(field), str)]
    if missing:
        raise _bad_credentials(f"it has no {', '.join(missing)}")
    if info.get("universe_domain", "googleapis.com") != "googleapis.com":
        raise _bad_credentials("it belongs to another universe than Google Cloud's (universe_domain)")
    token_uri = info["token_uri"]
    if token_uri != GOOGLE_TOKEN_URI:  # the key says where to trade it for a token: a host we must check
        parts = urlsplit(token_uri)
        if parts.scheme != "https" and not (parts.scheme == "http" and django_settings.STORAGE_ALLOW_LOOPBACK):
            raise _bad_credentials("its token_uri is not an https address")
        endpoint_checked(token_uri)
    try:
        credentials = service_account.Credentials.from_service_account_info(
            info, scopes=["https://www.googleapis.com/auth/devstorage.read_write"]
        )
    except Exception:  # a key the library cannot load; its message may quote the key
        raise _bad_credentials("its private key could not be read") from None
    return credentials, info.get("project_id"), token_uri != GOOGLE_TOKEN_URI


@transport_kind("gcs")
def gcs_open(settings: Mapping, secrets: Mapping) -> GCSTransport:
    bucket = settings.get("bucket")
    if not isinstance(bucket, str) or not BUCKET_NAME.match(bucket) or ".." in bucket:
        raise TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "bad_settings",
            "The bucket name is not a valid Google Cloud Storage bucket name (lowercase letters, digits, dots, "
            "hyphens and underscores).",
        )
    prefix = settings.get("prefix") or ""
    if not isinstance(prefix, str):
        raise TransportError(ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", "The prefix must be a folder path.")
    prefix = remote_name(prefix.strip("/")) + "/" if prefix.strip("/") else ""
    endpoint_url = settings.get("endpoint_url") or None
    if endpoint_url is not None:
        endpoint_url = endpoint_checked(endpoint_url)
    key_text = secret_text(secrets, "service_account_json")
    token_checked = False
    if key_text and key_text.strip():
        credentials, project, token_checked = gcs_credentials(key_text)
    elif endpoint_url is not None:  # an emulator or a private endpoint that takes no credentials
        credentials, project = AnonymousCredentials(), None
    else:
        raise _bad_credentials("it is missing")
    session = _TimedSession(
        credentials, storage_timeout(), endpoint_checked=endpoint_url is not None, token_checked=token_checked
    )
    try:
        client = storage.Client(
            # a project given keeps the client from looking one up (on the metadata server, among others)
            project=project or "batchhub",
            credentials=credentials,
            _http=session,
            client_options={"api_endpoint": endpoint_url} if endpoint_url else None,
        )
    except PASS_THROUGH:
        session.close()
        raise
    except Exception as exc:
        session.close()
        logger.warning("gcs: client not created (%s)", type(exc).__name__)
        raise _platform() from None
    # The client would fetch each bucket's metadata in a thread of its own for its traces' attributes: a request
    # outside our timeouts and retries, after the job may have closed the session. Off (the client allows None).
    client._bucket_metadata_cache = None
    return GCSTransport(client, session, bucket, prefix)
