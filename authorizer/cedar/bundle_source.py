"""Where a policy bundle comes from, and keeping it current (``CEDAR_POLICY_BUNDLE``).

- A source is a local path or ``s3://bucket/key``; a fetch is conditional (the last ETag: S3
  answers 304, a file's ETag is its size and modification time), so a check that finds nothing
  new costs one small request and no parsing.
- ``LiveBundle`` checks at most every ``refresh_seconds``, when asked at the start of an
  invocation (Lambda freezes background threads between invocations, so there are none), and
  swaps the engine in one assignment: a request holds the engine it started with.
- A bundle that cannot be fetched, does not parse or does not validate is refused: the last good
  one keeps serving, and ``on_refused`` (a log line and a metric) says why. With no good bundle
  yet (a cold start) there is nothing to serve: ``BundleUnavailable`` (500, fail closed).
- Missing (no such key or file): ``BundleMissing``. For a tenant's bundle that means the tenant
  has none: a Deny, never another tenant's policies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from authorizer.cedar.bundle import MAX_BUNDLE_BYTES, engine_of, read_bundle
from authorizer.cedar.engine import Engine
from authorizer.config import AWS_DEFAULTS, AwsSettings
from authorizer.errors import CedarAuthzError, DependencyError
from authorizer.records import NamedTuple

logger = logging.getLogger(__name__)
Clock = Callable[[], float]


class BundleUnavailable(DependencyError):
    """The bundle cannot be fetched and no good one is held: 500, never a Deny."""


class BundleMissing(BundleUnavailable):
    """The bundle's key or file does not exist."""


class Fetched(NamedTuple):
    body: bytes | None  # None: not modified since ``etag``
    etag: str | None


class BundleSource(Protocol):
    url: str

    def fetch(self, etag: str | None) -> Fetched: ...


class FileSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = str(path)

    def fetch(self, etag: str | None) -> Fetched:
        try:
            stat = self.path.stat()
            # Size and mtime alone missed a same-size publish that kept its mtime (`cp -p`,
            # `rsync -a`, an image's normalised times): the inode and its change time, which
            # no tool sets, move with every write and every file renamed into place.
            current = f"{stat.st_size}-{stat.st_mtime_ns}-{stat.st_ctime_ns}-{stat.st_ino}"
            if current == etag:
                return Fetched(None, etag)
            if stat.st_size > MAX_BUNDLE_BYTES:
                raise BundleUnavailable(f"{self.path}: larger than {MAX_BUNDLE_BYTES} bytes")
            return Fetched(self.path.read_bytes(), current)
        except FileNotFoundError:
            raise BundleMissing(f"{self.path}: no such bundle") from None
        except OSError as error:
            raise BundleUnavailable(f"{self.path}: cannot be read: {error}") from None


class S3Source:
    """``s3://bucket/key`` through boto3 (imported only when a bundle is on S3), with short
    timeouts and two attempts: a slow S3 costs an invocation seconds, not minutes."""

    def __init__(self, bucket: str, key: str, client: Any) -> None:
        self.bucket, self.key, self._client = bucket, key, client
        self.url = f"s3://{bucket}/{key}"

    def fetch(self, etag: str | None) -> Fetched:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        from authorizer.stores.aws_errors import failure_reason  # noqa: PLC0415

        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if etag:
            request["IfNoneMatch"] = etag
        try:
            answer = self._client.get_object(**request)
            if answer.get("ContentLength", 0) > MAX_BUNDLE_BYTES:
                raise BundleUnavailable(f"{self.url}: larger than {MAX_BUNDLE_BYTES} bytes")
            body = answer["Body"].read(MAX_BUNDLE_BYTES + 1)
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = error.response.get("Error", {}).get("Code")
            if status == 304 or code == "304":
                return Fetched(None, etag)
            # No bucket is no bundle too: with {tenant} in the bucket's name, a tenant without
            # a bucket is a tenant without a bundle (403), not an outage (500).
            if code in ("NoSuchKey", "NoSuchBucket", "404"):
                raise BundleMissing(f"{self.url}: no such bundle ({code})") from None
            raise BundleUnavailable(f"{self.url}: {': '.join(failure_reason(error))}") from None
        except BotoCoreError as error:
            raise BundleUnavailable(f"{self.url}: {': '.join(failure_reason(error))}") from None
        return Fetched(body, answer.get("ETag"))


def bundle_source(url: str, aws: AwsSettings = AWS_DEFAULTS, client: Any = None) -> BundleSource:
    """The source of ``url``: ``s3://bucket/key`` or a local path."""
    if not url.startswith("s3://"):
        return FileSource(Path(url))
    # Split by hand: urlsplit silently removes tabs and newlines, so two URLs would name one key.
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket or not key.strip("/") or not url.isprintable():
        raise BundleUnavailable(f"{url!r}: an S3 bundle is s3://bucket/key")
    return S3Source(bucket, key, client or s3_client(aws))  # `/k` and `k` are two keys


def s3_client(aws: AwsSettings) -> Any:
    import boto3  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415
    from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

    config = Config(connect_timeout=1.0, read_timeout=3.0,
                    retries={"total_max_attempts": 2, "mode": "standard"})  # fmt: skip
    return boto3.client("s3", region_name=aws.region, endpoint_url=aws.s3_endpoint, config=config)


# A bundle with nothing to serve (its first load failed, or there is none) is checked again
# this soon, whatever the refresh: a tenant's first request during an S3 blip was a 500 until
# the next refresh (for good with refresh 0), and a tenant's bundle published after its first
# request was never seen. Not on every request: a tenant without one would cost a GET each.
RETRY_WITHOUT_ENGINE_S = 5.0


class LiveBundle:
    """The current engine of one bundle, re-checked at most every ``refresh_seconds`` (0: never
    after the first load), and every ``RETRY_WITHOUT_ENGINE_S`` while it has none."""

    def __init__(
        self,
        source: BundleSource,
        refresh_seconds: float,
        clock: Clock = time.monotonic,
        on_refused: Callable[[str, str], None] | None = None,
        gone_means_none: bool = False,
        accept: Callable[[Engine], object] | None = None,
    ) -> None:
        """``gone_means_none``: a bundle deleted after it served means there is none any more (a
        tenant's: that tenant is denied from the next check), not an outage to ride out.
        ``accept``: what else a new version must pass before it serves (the pipeline built on
        it: its route table, its request types), raising a ``CedarAuthzError`` to refuse it."""
        self._accept = accept
        self.source = source
        self._refresh = refresh_seconds
        self._clock = clock
        self._on_refused = on_refused or _log_refused
        self._engine: Engine | None = None
        self._etag: str | None = None
        self._checked_at: float | None = None
        self._missing = False  # no engine because there is no bundle (until the next check)
        self._gone_means_none = gone_means_none
        self._lock = threading.Lock()  # one check at a time; requests read without it

    @property
    def version(self) -> str | None:
        return self._engine.version if self._engine is not None else None

    def engine(self) -> Engine:
        """The engine to decide this request with; checks the source first when it is due."""
        # The check time first: ``_check`` publishes it last, so an engine read after a check
        # time is that check's (or a later one's).
        checked = self._checked_at
        engine = self._engine
        if checked is None:
            due = True
        else:
            every = self._refresh if engine is not None else RETRY_WITHOUT_ENGINE_S
            due = every > 0 and self._clock() - checked >= every
        if due:
            with self._lock:
                if self._checked_at is checked:  # nobody checked while this thread waited
                    self._check()
                engine = self._engine
        if engine is None:
            if self._missing:
                raise BundleMissing(f"{self.source.url}: no such bundle")
            raise BundleUnavailable(f"{self.source.url}: no good bundle to serve")
        return engine

    def _check(self) -> None:
        """One check of the source, under the lock. Requests read without it, so what they read
        is published at the end, the check time last: none sees a check done whose outcome is
        not in place yet (a bundle still loading taken for none, a tenant's missing bundle for
        an unavailable one)."""
        started = self._clock()
        engine, etag, missing = self._engine, self._etag, False
        try:
            fetched = self.source.fetch(etag if engine is not None else None)
            if fetched.body is None:
                return
            bundle = read_bundle(fetched.body, self.source.url)
            if engine is not None and bundle["version"] == engine.version:
                etag = fetched.etag  # the same content written again
                return
            fresh = engine_of(bundle, self.source.url)
            if self._accept is not None:
                self._accept(fresh)  # refused here, the last good version keeps serving
            engine, etag = fresh, fetched.etag
            logger.info("policy bundle %s: version %s", self.source.url, engine.version)
        except BundleMissing:
            if engine is None or self._gone_means_none:
                engine, etag, missing = None, None, True
                raise
            self._on_refused(self.source.url, "missing")
        except CedarAuthzError as error:
            self._on_refused(self.source.url, str(error))
            if engine is None and isinstance(error, DependencyError):
                raise
        finally:
            self._missing, self._engine, self._etag = missing, engine, etag  # the swap
            self._checked_at = started


def _log_refused(url: str, why: str) -> None:
    logger.error("policy bundle %s refused, the last good one serves: %s", url, why[:500])
