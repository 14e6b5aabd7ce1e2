"""The S3 transport (AWS S3 and S3-compatible stores) on boto3.

Writes stream: a file smaller than one part is one PutObject; a larger one is a multipart upload of 8 MiB parts
read one at a time from the caller's stream (so at most about two parts are in memory), completed only once the
stream is exhausted and aborted on any failure, so no partial object ever becomes visible. Reads stream the
GetObject body. Errors are classified by S3's error code; their messages never hold the secret key, the access key
id in full, nor the server's own text.

An `endpoint_url` (an S3-compatible store, the partner's) is checked by the SSRF guard twice: its host at open time
(a clear error before any request), and every connection botocore makes to it at connect time, made to the address
checked then (a rebinding DNS server could answer the first lookup with a public address and a later one with
127.0.0.1 or 169.254.169.254). AWS's own endpoints need neither, and keep botocore's connections untouched.

How the connections are checked: botocore sends over urllib3, through the pool manager of the client's
`URLLib3Session`, whose `pool_classes_by_scheme` botocore itself sets to its own pool classes. `_connections_checked`
replaces them with subclasses whose connection class has `common.CheckedConnection` mixed in: urllib3's
`_new_conn` (resolve, then connect) becomes the guard's resolve-check-connect, and nothing else changes — TLS is
still verified by urllib3 against the host name, botocore's 100-continue, streamed bodies, timeouts
(`storage_timeout()` for the connect and each read) and exception mapping are its own. The alternative, a
`before-send` handler sending each request through http.py's guarded httpx transport, would re-implement what
botocore's HTTP layer does (100-continue, chunked bodies, a raw stream with urllib3's interface for streamed
reads, exception mapping for its retries): more code resting on more of botocore's internals. The client's
session and pool classes are private to botocore: should they change, `_connections_checked` refuses to open
(ours to fix) rather than connect unchecked, and the tests that rebind a name at connect time fail. No proxy from
the environment is used for such an endpoint (a proxy would resolve the host itself).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import mimetypes
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO

import boto3
import botocore.exceptions as boto_errors
from boto3.s3.transfer import TransferConfig
from botocore.awsrequest import AWSHTTPConnectionPool, AWSHTTPSConnectionPool
from botocore.config import Config
from botocore.httpsession import URLLib3Session

from batchhub.core.secrets.crypto import mask
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
    source_read,
)

logger = logging.getLogger(__name__)

PART_SIZE = 8 * MiB  # S3's minimum is 5 MiB; a 50 MB write peaks at 16.5 MiB of Python allocations (measured)
MAX_PARTS = 10_000  # S3's limit: files up to about 78 GiB at this part size
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
"""A valid S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or
a digit (`s3_open` also refuses `..`). Public: the dashboard's form checks a bucket with it too."""

_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId", "InvalidToken", "ExpiredToken"}
_DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "AccountProblem", "403", "Forbidden"}
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}
_REDIRECT_CODES = {"PermanentRedirect", "TemporaryRedirect", "301", "302", "307", "308"}
_TRANSIENT_CODES = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "TooManyRequests",
    "503",
    "500",
    "502",
    "504",
}


class S3Transport(Transport):
    kind = "s3"

    def __init__(self, client, bucket: str, prefix: str, access_key_id: str) -> None:
        self._client, self.bucket, self.prefix = client, bucket, prefix
        self._key_shown = mask(access_key_id)  # the last 4 characters only, for messages

    def _key(self, name: str) -> str:
        return self.prefix + remote_name(name)

    def _error(self, exc: Exception, name: str | None = None) -> TransportError:
        return s3_error(exc, bucket=self.bucket, name=name, key_shown=self._key_shown)

    def _call(self, name: str | None, call: Callable, **params):
        try:
            return call(**params)
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            error = self._error(exc, name)
            raise error from (exc if error.error_class is ErrorClass.PLATFORM else None)

    def list(self, pattern: str = "*") -> list[RemoteFile]:
        parts = pattern_parts(pattern)
        found = []
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + pattern_prefix(parts))
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    name = item["Key"][len(self.prefix) :]
                    if name_matches(name, parts):  # a folder marker (`a/`) has an empty last level: never
                        modified_at = item["LastModified"].astimezone(dt.UTC)
                        found.append(RemoteFile(name=name, size=item["Size"], modified_at=modified_at))
        except PASS_THROUGH:
            raise
        except Exception as exc:
            error = self._error(exc)
            raise error from (exc if error.error_class is ErrorClass.PLATFORM else None)
        return sorted(found, key=lambda item: item.name)

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes]]:
        key = self._key(name)
        response = self._call(name, self._client.get_object, Bucket=self.bucket, Key=key)
        with reading(file_reader(response["Body"], lambda exc: self._error(exc, name))) as stream:
            yield stream

    def write(self, name: str, stream: IO[bytes]) -> int:
        key = self._key(name)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            data = source_read(stream, PART_SIZE)
        except SourceFailed as failed:
            raise failed.original from None
        if len(data) < PART_SIZE:  # the whole file: one request, visible at once
            self._call(name, self._client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
            return len(data)
        upload = self._call(
            name, self._client.create_multipart_upload, Bucket=self.bucket, Key=key, ContentType=content_type
        )
        upload_id = upload["UploadId"]
        try:
            parts, written = [], 0
            while data:
                number = len(parts) + 1
                if number > MAX_PARTS:
                    raise TransportError(
                        ErrorClass.FIX_ON_YOUR_SIDE,
                        "too_large",
                        f"{name[:200]} is larger than S3 accepts in one upload from BatchHub "
                        f"({MAX_PARTS * PART_SIZE // (1024 * MiB)} GiB). Split the export.",
                    )
                part = self._call(
                    name,
                    self._client.upload_part,
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                )
                parts.append({"ETag": part["ETag"], "PartNumber": number})
                written += len(data)
                data = b""  # let the part go before the next one is read
                data = source_read(stream, PART_SIZE)
            self._call(
                name,
                self._client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            return written
        except BaseException as exc:
            self._abort(key, upload_id)
            if isinstance(exc, SourceFailed):
                raise exc.original from None
            raise

    def _abort(self, key: str, upload_id: str) -> None:
        """Drops an unfinished upload's parts (never visible, but stored and billed until aborted)."""
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except PASS_THROUGH:
            raise
        except Exception as exc:
            logger.warning(
                "s3: an unfinished upload to bucket %s could not be aborted (%s); a lifecycle rule removes it",
                self.bucket,
                type(exc).__name__,
            )

    def discard_unfinished(self, name: str) -> int:
        key = self._key(name)
        listed = self._call(name, self._client.list_multipart_uploads, Bucket=self.bucket, Prefix=key)
        uploads = [upload["UploadId"] for upload in listed.get("Uploads", []) if upload["Key"] == key]
        for upload_id in uploads:
            self._abort(key, upload_id)
        return len(uploads)

    def delete(self, name: str) -> None:
        """Deletes `name`; a file already gone is not an error (S3's own rule, and a retried job may delete twice)."""
        self._call(name, self._client.delete_object, Bucket=self.bucket, Key=self._key(name))

    def move(self, name: str, to: str) -> None:
        """Copies on the server side (multipart for large objects), then deletes the original."""
        source, target = self._key(name), self._key(to)
        if source == target:  # S3 refuses a copy onto itself; a delete after it would lose the file
            return
        config = TransferConfig(
            multipart_threshold=512 * MiB, multipart_chunksize=512 * MiB, use_threads=False, max_concurrency=1
        )
        self._call(
            name,
            self._client.copy,
            CopySource={"Bucket": self.bucket, "Key": source},
            Bucket=self.bucket,
            Key=target,
            Config=config,
        )
        self._call(name, self._client.delete_object, Bucket=self.bucket, Key=source)

    def close(self) -> None:
        with quietly():
            self._client.close()


def s3_error(exc: Exception, *, bucket: str, name: str | None, key_shown: str) -> TransportError:
    """A boto3/botocore failure, classified; the message says what to do and whether retrying helps."""
    exc = _guard_error(exc) or exc
    if isinstance(exc, TransportError):
        return exc
    shown = (name or "")[:200]
    if isinstance(exc, Redirected):
        exc = boto_errors.ClientError({"Error": {"Code": "PermanentRedirect"}}, "redirected")
    if isinstance(exc, boto_errors.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _AUTH_CODES:
            return TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "auth_refused",
                f"S3 refused the credentials (access key {key_shown}): the key id is unknown, or the secret key "
                "does not match it. Check both in the settings; retrying will not help until they are fixed.",
            )
        if code in _DENIED_CODES:
            return TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "permission_denied",
                f"S3 accepted the access key {key_shown} but it is not allowed to do this in bucket {bucket}"
                f"{' (on ' + shown + ')' if shown else ''}. Give it list, read, write and delete rights on the "
                "bucket and prefix; retrying will not help until then.",
            )
        if code == "NoSuchBucket":
            return TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "bucket_missing",
                f"The bucket {bucket} does not exist. Check its name in the settings (and the region or endpoint); "
                "retrying will not help.",
            )
        if code in _NOT_FOUND_CODES:
            return TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "file_not_found",
                f"There is no file {shown} in bucket {bucket} (or the bucket itself does not exist). Check the "
                "name; retrying will not help.",
            )
        if code in _REDIRECT_CODES or status in (301, 302, 303, 307, 308):
            return TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "redirected",
                f"S3 sent the request for bucket {bucket} elsewhere (another region or endpoint), which BatchHub "
                "does not follow. Check the bucket's region and the endpoint in the settings; retrying will not "
                "help.",
            )
        if code in _TRANSIENT_CODES or status in (429, 500, 502, 503, 504):
            return TransportError(
                ErrorClass.TRANSIENT,
                "server_busy",
                "S3 answered with a temporary error (busy, unavailable or slow to receive the request); it will "
                "be retried.",
            )
        logger.warning("s3: unexpected error code %s (HTTP %s)", code[:64], status)
        return _platform()
    if isinstance(exc, boto_errors.ConnectTimeoutError | boto_errors.ReadTimeoutError):
        return TransportError(
            ErrorClass.TRANSIENT,
            "timeout",
            "S3 did not answer in time; it will be retried. If this persists, check the endpoint and your network.",
        )
    if isinstance(exc, boto_errors.SSLError):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "tls_failed",
            "The secure connection to the S3 endpoint failed (its certificate is not valid for its name or not "
            "trusted). Fix the endpoint's certificate; retrying will not help.",
        )
    if isinstance(
        exc,
        boto_errors.ConnectionError
        | boto_errors.HTTPClientError
        | boto_errors.IncompleteReadError
        | boto_errors.ResponseStreamingError,
    ):
        return TransportError(
            ErrorClass.TRANSIENT,
            "connection_failed",
            "The connection to S3 failed (refused, reset or cut while transferring); it will be retried. If this "
            "persists, check the endpoint and your firewall.",
        )
    if isinstance(exc, boto_errors.NoCredentialsError | boto_errors.PartialCredentialsError):
        return _credentials_missing()
    logger.warning("s3: unexpected %s", type(exc).__name__)
    return _platform()


def _platform() -> TransportError:
    return TransportError(
        ErrorClass.PLATFORM,
        "unexpected",
        "An unexpected error occurred while talking to S3. This is ours to fix and has been reported; retrying "
        "will not help.",
    )


def _credentials_missing() -> TransportError:
    return TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "credentials_missing",
        "The S3 access key id and secret access key must both be given. Add them in the settings.",
    )


def _prefix(value: object) -> str:
    """`prefix` as the start of every key: '' or 'a/b/' (slashes around it ignored, `..` refused)."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise TransportError(ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", "The prefix must be a folder path.")
    stripped = value.strip("/")
    return remote_name(stripped) + "/" if stripped else ""


_CLIENT_LOCK = threading.Lock()


@functools.cache
def _boto_session() -> boto3.session.Session:
    """One session for the process, holding no credentials (each client gets its own): its loaded service models
    make a client in a few milliseconds instead of about 0.3 s."""
    return boto3.session.Session()


@transport_kind("s3")
def s3_open(settings: Mapping, secrets: Mapping) -> S3Transport:
    bucket = settings.get("bucket")
    if not isinstance(bucket, str) or not BUCKET_NAME.match(bucket) or ".." in bucket:
        raise TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "bad_settings",
            "The bucket name is not a valid S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens).",
        )
    prefix = _prefix(settings.get("prefix"))
    access_key_id, secret_key = secret_text(secrets, "access_key_id"), secret_text(secrets, "secret_access_key")
    if not access_key_id or not secret_key:
        # never fall back on the environment's credentials (BatchHub's own role) for a partner's bucket
        raise _credentials_missing()
    endpoint_url = settings.get("endpoint_url") or None
    if endpoint_url is not None:
        endpoint_url = endpoint_checked(endpoint_url)
    region = settings.get("region") or "us-east-1"
    if not isinstance(region, str) or not re.fullmatch(r"[a-z0-9-]{1,32}", region):
        raise TransportError(ErrorClass.FIX_ON_YOUR_SIDE, "bad_settings", "The region is not a valid S3 region.")
    timeout = storage_timeout()
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"max_attempts": 2, "mode": "standard"},
        # an S3-compatible store is addressed by path (bucket.host names rarely resolve there)
        s3={"addressing_style": "path"} if endpoint_url else None,
        # no proxy from the environment for a partner's endpoint: the proxy would resolve its host itself
        proxies={} if endpoint_url else None,
        user_agent_extra="batchhub",
    )
    try:
        with _CLIENT_LOCK:  # a boto3 session is not thread-safe; the clients it makes are
            client = _boto_session().client(
                "s3",
                region_name=region,
                endpoint_url=endpoint_url,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_key,
                config=config,
            )
    except PASS_THROUGH:
        raise
    except Exception as exc:
        logger.warning("s3: client not created (%s)", type(exc).__name__)
        raise _platform() from None
    if endpoint_url:
        try:
            _connections_checked(client)
        except TransportError:
            with quietly():
                client.close()
            raise
        client.meta.events.register_first("needs-retry.s3", _retry_stopped)
    return S3Transport(client, bucket, prefix, access_key_id)


_BOTOCORE_POOLS = {"http": AWSHTTPConnectionPool, "https": AWSHTTPSConnectionPool}
_CHECKED_POOLS = checked_pools(AWSHTTPConnectionPool, AWSHTTPSConnectionPool)


def _connections_checked(client) -> None:
    """Every connection `client` makes from now on goes to an address the SSRF guard checks as it connects: the
    pools of its HTTP session's pool manager become `_CHECKED_POOLS` (see the module's docstring). Refused (ours to
    fix) when botocore no longer builds its session and pools as this expects, rather than left unchecked."""
    http_session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    manager = getattr(http_session, "_manager", None)
    if (
        not isinstance(http_session, URLLib3Session)
        or getattr(manager, "pool_classes_by_scheme", None) != _BOTOCORE_POOLS
        or getattr(http_session, "_pool_classes_by_scheme", None) != _BOTOCORE_POOLS
    ):
        logger.error("s3: botocore's HTTP session is not the one expected; its connections cannot be checked")
        raise _platform()
    manager.clear()  # none made yet; any would be of botocore's own classes
    manager.pool_classes_by_scheme = _CHECKED_POOLS
    http_session._pool_classes_by_scheme = _CHECKED_POOLS  # a proxy's pools too, were one ever set


class Redirected(Exception):
    """An S3-compatible endpoint answered with a redirect."""


def _guard_error(exc: BaseException | None) -> TransportError | None:
    """The SSRF guard's refusal (or its failure to resolve the host) at connect time, which botocore wraps in an
    HTTPClientError."""
    if isinstance(exc, boto_errors.HTTPClientError) and isinstance(exc.kwargs.get("error"), TransportError):
        return exc.kwargs["error"]
    return None


def _retry_stopped(response=None, caught_exception=None, **kwargs) -> None:
    """Stops botocore's retries on an S3-compatible endpoint:
    - when the SSRF guard answered instead of a connection (the address the host resolved to as botocore connected
      is refused, or the host no longer resolves): raised as the guard classified it, so that a refusal is never
      retried (a temporary DNS failure is, by the job, with its backoff);
    - a redirect: botocore would ask the bucket's region with HEAD requests that the same redirect answers again,
      recursing until Python's limit (about 80 requests, measured). AWS's own endpoints name the region, and keep
      botocore's handling."""
    refused = _guard_error(caught_exception)
    if refused is not None:
        raise refused
    if response is not None and response[0] is not None and 300 <= response[0].status_code < 400:
        raise Redirected
