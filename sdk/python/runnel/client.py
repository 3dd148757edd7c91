"""A small, idiomatic layer over Runnel's generated gRPC stubs.

The stubs (``runnel.v1.*_pb2_grpc``, generated into ``gen/python``) are the
API; this module only adds what is awkward with them alone: an idempotent
producer that partitions and batches records, pipelines requests on one
stream and retries them without duplicating or reordering, and a consumer that
iterates a group's records and commits its position.

Errors are gRPC status codes: calls raise ``grpc.RpcError`` (``e.code()`` is a
``grpc.StatusCode`` such as ``NOT_FOUND`` or ``OUT_OF_RANGE``), and a produce
request that failed raises ``ProduceError``, which carries the same code.
"""

from __future__ import annotations

import collections
import queue
import random
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping, Optional, Sequence, Tuple

import grpc

from runnel import compression
from runnel.v1 import admin_pb2, admin_pb2_grpc
from runnel.v1 import commit_pb2, commit_pb2_grpc
from runnel.v1 import produce_pb2, produce_pb2_grpc
from runnel.v1 import record_pb2
from runnel.v1 import subscribe_pb2, subscribe_pb2_grpc

DEFAULT_TARGET = "127.0.0.1:7400"

# Runnel accepts records up to 32 MiB; let responses that large through.
# A broker that went away is dialled again at most a second apart (as the Go
# SDK and Kafka's reconnect.backoff.max.ms): gRPC's default backoff grows to
# two minutes, and every call fails fast UNAVAILABLE while it waits, so a
# consumer would resume that long after its brokers came back.
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]

Headers = Sequence[Tuple[str, bytes]]


class ProduceError(Exception):
    """A produce request the broker rejected; ``code`` is its grpc.StatusCode."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


def _status_code(value: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN


class _CallDetails(collections.namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials",
                                                             "wait_for_ready", "compression")),
                   grpc.ClientCallDetails):
    pass


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                   grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds ``authorization: Bearer TOKEN`` to every call, over TLS or not
    (gRPC's own call credentials insist on TLS; a broker on localhost or a
    sidecar may be plaintext)."""

    def __init__(self, token: str):
        self._header = ("authorization", "Bearer " + token)

    def _details(self, d: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = list(d.metadata or []) + [self._header]
        return _CallDetails(d.method, d.timeout, metadata, d.credentials, getattr(d, "wait_for_ready", None),
                            getattr(d, "compression", None))

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._details(details), requests)


def _read(path: Optional[str]) -> Optional[bytes]:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


class Client:
    """A connection to a broker, with the four services' stubs.

    Plaintext by default. For a broker serving TLS (``runnel serve
    --tls-cert``), set ``tls`` (trusting the system's CAs) or ``tls_ca``, a
    PEM file of the CAs to trust; ``tls_cert`` and ``tls_key`` are the client
    certificate a broker with ``--tls-client-ca`` requires; ``tls_server_name``
    is the name the broker's certificate must hold instead of the target's
    host. ``token`` authenticates every call with a bearer token (a broker
    with ``--token-file``; ``runnel token create`` makes one): over plaintext
    it crosses the network in the clear."""

    def __init__(self, target: str = DEFAULT_TARGET, channel: Optional[grpc.Channel] = None, *,
                 token: Optional[str] = None, tls: bool = False, tls_ca: Optional[str] = None,
                 tls_cert: Optional[str] = None, tls_key: Optional[str] = None,
                 tls_server_name: Optional[str] = None):
        if channel is None:
            if tls or tls_ca or tls_cert or tls_key or tls_server_name:
                if bool(tls_cert) != bool(tls_key):
                    raise ValueError("tls_cert and tls_key go together: the client certificate and its key")
                creds = grpc.ssl_channel_credentials(_read(tls_ca), _read(tls_key), _read(tls_cert))
                options = list(_CHANNEL_OPTIONS)
                if tls_server_name:
                    options.append(("grpc.ssl_target_name_override", tls_server_name))
                channel = grpc.secure_channel(target, creds, options=options)
            else:
                channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        if token:
            channel = grpc.intercept_channel(channel, _BearerToken(token))
        self.channel = channel
        self.admin = admin_pb2_grpc.AdminServiceStub(self.channel)
        self.produce = produce_pb2_grpc.ProduceServiceStub(self.channel)
        self.subscribe = subscribe_pb2_grpc.SubscribeServiceStub(self.channel)
        self.commit = commit_pb2_grpc.CommitServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def create_topic(self, name: str, partitions: int = 1, config: Optional[Mapping[str, str]] = None,
                     exist_ok: bool = False) -> None:
        """Creates a topic; with exist_ok, an existing one is fine."""
        try:
            self.admin.CreateTopic(admin_pb2.CreateTopicRequest(
                name=name, partitions=partitions, config=dict(config or {})))
        except grpc.RpcError as e:
            if not (exist_ok and e.code() == grpc.StatusCode.ALREADY_EXISTS):
                raise

    def producer(self, topic: str, partition: Optional[int] = None, batch_records: int = 500,
                 idempotent: bool = True, delivery_timeout: float = 120.0,
                 request_timeout: float = 10.0, acks: int = produce_pb2.ACKS_UNSPECIFIED) -> "Producer":
        """A producer to topic (see Producer): idempotent unless told not to."""
        return Producer(self, topic, partition, batch_records, idempotent, delivery_timeout, request_timeout, acks)

    def consumer(self, topic: "str | Sequence[str]", group: str, partitions: Sequence[int] = (),
                 follow: bool = True, max_batch_bytes: int = 0, instance_id: str = "",
                 on_assignment: "Optional[Callable[[Assignment], None]]" = None, commit_on_revoke: bool = True,
                 start_position: Optional[int] = None) -> "Consumer":
        """A consumer of group: a member of it that the broker assigns
        partitions of topic (a name, or several), or, with partitions, a
        reader of just those (see Consumer)."""
        return Consumer(self, topic, group, partitions, follow, max_batch_bytes, instance_id, on_assignment,
                        commit_on_revoke, start_position)


# The codes a batch is sent again on: the leader moved or is being elected,
# the broker is down, restarting or busy. Anything else would fail again.
_RETRIABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED)
# The codes of a stream that broke rather than failed.
_BROKEN = (grpc.StatusCode.ABORTED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.CANCELLED)


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils), bit for
    bit, as a signed 32-bit int: the broker's and every Runnel SDK's."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    blocks = length // 4
    for i in range(blocks):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[blocks * 4:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if len(tail) >= 1:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, partitions: int) -> int:
    """Where Kafka's default partitioner, and the broker, put a non-empty
    key: toPositive(murmur2(key)) % partitions."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class _Batch:
    """A partition's closed batch: its records, the future they share, and
    its delivery state."""

    def __init__(self, partition: int, records: list, future: Future, deadline: float):
        self.partition = partition
        self.records = records
        self.future = future
        self.deadline = deadline
        self.attempts = 0
        self.backoff = 0.05
        self.not_before = 0.0  # monotonic time of the next attempt
        self.stream: Optional[int] = None  # the stream it is in flight on
        self.correlation_id = 0  # of its request in flight
        self.ack_by = 0.0  # monotonic time by which its ack is due
        self.resequenced = False
        self.unknown = False  # an attempt may have been appended


class _Partition:
    """One partition's batches: the one filling, the one being delivered
    (at most one, so that a retry never lands after a later batch) and
    those waiting their turn; and the idempotent producer's epoch and next
    sequence number at the partition."""

    def __init__(self) -> None:
        self.records: list = []
        self.future: Future = Future()
        self.head: Optional[_Batch] = None
        self.waiting: "collections.deque[_Batch]" = collections.deque()
        self.epoch = 0
        self.next_sequence = 0


class Producer:
    """Batches records per partition into produce requests, pipelined on
    one stream, and retries them until they are acknowledged.

    ``send`` returns a Future that resolves to the ``ProduceResponse`` of the
    request the record went out in (its one ack gives the partition's base
    offset) or raises ``ProduceError``. ``flush`` sends what is batched,
    waits for every ack and raises the first error since the last flush.
    The producer partitions records itself: with ``partition`` set, every
    record goes there; a keyed record goes where Kafka's partitioner (and
    the broker) puts it, murmur2 of the key; keyless records fill one
    partition's batch, then the next one's.

    A batch that fails with ``UNAVAILABLE``, ``DEADLINE_EXCEEDED`` or
    ``RESOURCE_EXHAUSTED``, or whose stream broke (the broker went away),
    is sent again, on a new stream if need be, with a growing backoff,
    until ``delivery_timeout`` seconds after it was closed; then it fails. A
    request not acknowledged within ``request_timeout`` seconds counts as
    ``DEADLINE_EXCEEDED`` (a broker that hangs rather than goes away).
    A partition has one batch in flight at a time, so records sent to one
    partition are appended in order, retries included.

    The producer is idempotent (Kafka's ``enable.idempotence``, on by
    default): it asks the broker for a producer id before its first batch
    and numbers each partition's records, so that the broker appends a
    batch sent again after an unknown outcome once, and acknowledges the
    retry with the first offsets. With ``idempotent=False`` such a retry
    may append the batch twice (at least once).

    ``acks`` (a ``produce_pb2.Acks``) is left unset by default
    (``ACKS_UNSPECIFIED``): the receiver decides. A broker then acknowledges
    as ``ACKS_ALL`` (a quorum has the records fsync'd); a sidecar (``runnel
    sidecar``) once its local spool has them fsync'd, before the cluster
    has them, with ``base_offset`` -1 in the ack (the cluster's offset is
    not known yet): the future's response then says where the records went
    (``acks[0].partition``, ``record_count``) but not at which offset. Set
    ``ACKS_ALL`` to have a sidecar wait for the cluster and return its
    offsets, or ``ACKS_LEADER`` for the leader's fsync alone.

    The futures' done callbacks run on the producer's threads: they must
    not block (on another future of the producer, say).
    """

    def __init__(self, client: Client, topic: str, partition: Optional[int] = None, batch_records: int = 500,
                 idempotent: bool = True, delivery_timeout: float = 120.0, request_timeout: float = 10.0,
                 acks: int = produce_pb2.ACKS_UNSPECIFIED):
        self._client = client
        self._topic = topic
        self._partition = partition
        self._batch_records = batch_records
        self._idempotent = idempotent
        self._delivery_timeout = delivery_timeout
        self._request_timeout = request_timeout
        self._acks = acks
        self._producer_id = 0  # from InitProducer, before the first batch
        self._partition_count = 0  # from DescribeTopic, for a producer without partition
        self._sticky = 0  # where keyless records go
        self._cond = threading.Condition()  # guards everything below
        self._partitions: "dict[int, _Partition]" = {}
        self._in_flight: "dict[int, _Batch]" = {}
        self._next_id = 0
        self._stream: Optional[int] = None  # the open stream's number
        self._requests: "Optional[queue.Queue]" = None  # its requests
        self._streams = 0
        self._closed = False
        self._rejected: Optional[BaseException] = None  # first batch error since the last flush
        # Futures to settle once the lock is released, so that their
        # callbacks never run holding it.
        self._settle: "list[Callable[[], None]]" = []
        self._sender = threading.Thread(target=self._send_loop, daemon=True)
        self._sender.start()

    @property
    def producer_id(self) -> int:
        """The producer's id (0 before its first batch, and without idempotence)."""
        return self._producer_id

    def send(self, value: bytes, key: Optional[bytes] = None, headers: Headers = ()) -> Future:
        record = record_pb2.Record(value=value, key=key or b"",
                                   headers=[record_pb2.Header(key=k, value=v) for k, v in headers])
        partition = self._partition
        if partition is None and not self._partition_count:
            # NB: once, outside the lock; raises for a missing topic.
            n = self._client.admin.DescribeTopic(admin_pb2.DescribeTopicRequest(name=self._topic)).topic.partitions
            with self._cond:
                self._partition_count = self._partition_count or n
        with self._cond:
            if self._closed:
                raise ProduceError(grpc.StatusCode.FAILED_PRECONDITION, "the producer is closed")
            sticky = False
            if partition is None:
                if record.key:
                    partition = partition_for_key(record.key, self._partition_count)
                else:
                    partition, sticky = self._sticky, True
            p = self._partitions.get(partition)
            if p is None:
                p = self._partitions[partition] = _Partition()
            p.records.append(record)
            future = p.future
            if len(p.records) >= self._batch_records:
                self._close_batch_locked(partition, p)
                if sticky:
                    self._sticky = (self._sticky + 1) % self._partition_count
            return future

    def flush(self, timeout: Optional[float] = None) -> None:
        """Sends what is batched, waits for all acks, and raises the first
        error since the last flush."""
        with self._cond:
            pending = []
            for n, p in self._partitions.items():
                self._close_batch_locked(n, p)
                pending.extend(b.future for b in ([p.head] if p.head else []) + list(p.waiting))
        for f in pending:
            f.exception(timeout)  # waits; raises TimeoutError past timeout
        with self._cond:
            err, self._rejected = self._rejected, None
        if err is not None:
            raise err

    def close(self, timeout: Optional[float] = None) -> None:
        """Flushes, then ends the stream; what is still not delivered then
        (past timeout) fails."""
        try:
            self.flush(timeout)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._sender.join(timeout)

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _close_batch_locked(self, n: int, p: _Partition) -> None:
        if not p.records:
            return
        b = _Batch(n, p.records, p.future, time.monotonic() + self._delivery_timeout)
        p.records, p.future = [], Future()
        p.waiting.append(b)
        self._cond.notify_all()

    def _send_loop(self) -> None:
        """Sends each partition's next batch, and batches due for a retry,
        until the producer closes."""
        while True:
            with self._cond:
                if self._closed:
                    self._shut_down_locked()
                    due = None
                else:
                    due = self._due_locked()
                    if not due and not self._settle:
                        wakes = [p.head.not_before if p.head.stream is None else p.head.ack_by
                                 for p in self._partitions.values() if p.head is not None]
                        self._cond.wait(max(0.0, min(wakes) - time.monotonic()) if wakes else None)
                        continue
            self._settled()
            if due is None:
                return
            if not due:
                continue
            if self._idempotent and not self._producer_id:
                try:
                    self._producer_id = self._client.produce.InitProducer(
                        produce_pb2.InitProducerRequest(), timeout=10).producer_id
                except grpc.RpcError as e:
                    with self._cond:
                        for b in due:
                            self._retry_or_fail_locked(b, ProduceError(e.code(), e.details() or ""))
                    self._settled()
                    continue
            with self._cond:
                if self._stream is None:
                    self._open_stream_locked()
                for b in due:
                    p = self._partitions[b.partition]
                    self._next_id += 1
                    req = produce_pb2.ProduceRequest(topic=self._topic, partition=b.partition, records=b.records,
                                                     correlation_id=self._next_id, acks=self._acks)
                    if self._idempotent:
                        req.producer_id, req.producer_epoch, req.base_sequence = (
                            self._producer_id, p.epoch, p.next_sequence)
                    b.attempts += 1
                    b.stream, b.correlation_id = self._stream, self._next_id
                    b.ack_by = time.monotonic() + self._request_timeout
                    self._in_flight[self._next_id] = b
                    self._requests.put(req)

    def _due_locked(self) -> "list[_Batch]":
        now = time.monotonic()
        due = []
        for p in self._partitions.values():
            b = p.head
            if b is not None and b.stream is not None and b.ack_by <= now:
                # NB: its response, should it come, is ignored; the retry
                # goes on the same stream, after it.
                del self._in_flight[b.correlation_id]
                self._retry_or_fail_locked(b, ProduceError(
                    grpc.StatusCode.DEADLINE_EXCEEDED, f"no ack within {self._request_timeout:g}s"))
            if p.head is None and p.waiting:
                p.head = p.waiting.popleft()
            b = p.head
            if b is not None and b.stream is None and b.not_before <= now:
                due.append(b)
        return due

    def _open_stream_locked(self) -> None:
        self._streams += 1
        self._stream = self._streams
        self._requests = queue.Queue()
        responses = self._client.produce.Produce(iter(self._requests.get, None))
        threading.Thread(target=self._read, args=(self._stream, self._requests, responses), daemon=True).start()

    def _read(self, stream: int, requests: "queue.Queue", responses) -> None:
        try:
            for resp in responses:
                with self._cond:
                    b = self._in_flight.pop(resp.correlation_id, None)
                    if b is not None:
                        self._answered_locked(b, resp)
                self._settled()
            err = ProduceError(grpc.StatusCode.UNAVAILABLE, "the produce stream ended")
        except grpc.RpcError as e:
            err = ProduceError(e.code(), e.details() or "")
            # NB: a connection that breaks leaves the outcome of what was in
            # flight unknown, as UNAVAILABLE does: both are retried.
            if e.code() in _BROKEN:
                err = ProduceError(grpc.StatusCode.UNAVAILABLE, f"the produce stream broke: {err}")
        requests.put(None)  # ends the request iterator, if still read
        with self._cond:
            if self._stream == stream:
                self._stream, self._requests = None, None
            for cid, b in list(self._in_flight.items()):
                if b.stream == stream:
                    del self._in_flight[cid]
                    self._retry_or_fail_locked(b, err)
        self._settled()

    def _answered_locked(self, b: _Batch, resp) -> None:
        p = self._partitions[b.partition]
        if not resp.HasField("error"):
            p.next_sequence += len(b.records)
            self._resolve_locked(b, resp, None)
            return
        err = ProduceError(_status_code(resp.error.code), resp.error.message)
        if err.code == grpc.StatusCode.FAILED_PRECONDITION and self._idempotent and b.unknown:
            # NB: an earlier attempt may be in the log: sent anew, the
            # batch could be there twice.
            self._resequence_locked(p)
            self._resolve_locked(b, None, ProduceError(err.code, "an earlier attempt's outcome is unknown, and the partition no longer knows the producer's sequence: the records may or may not have been appended: " + err.message))
            return
        if err.code == grpc.StatusCode.FAILED_PRECONDITION and self._idempotent and not b.resequenced:
            # NB: nothing of the batch was appended; the partition lost
            # track of the producer (it expired, or its records were
            # deleted): start again at 0 in a new epoch, once.
            b.resequenced = True
            self._resequence_locked(p)
            b.stream, b.not_before = None, 0.0
            self._cond.notify_all()
            return
        self._retry_or_fail_locked(b, err)

    def _retry_or_fail_locked(self, b: _Batch, err: ProduceError) -> None:
        retriable = err.code in _RETRIABLE
        now = time.monotonic()
        if not retriable or self._closed or now + b.backoff > b.deadline:
            if retriable or self._closed:
                err = ProduceError(err.code, f"delivery timeout ({self._delivery_timeout:g}s) after {b.attempts} "
                                             f"attempts: {err.message}")
                if self._idempotent:
                    # The batch may or may not be appended: the next one
                    # cannot follow it in sequence.
                    self._resequence_locked(self._partitions[b.partition])
            self._resolve_locked(b, None, err)
            return
        b.stream, b.unknown = None, True
        b.not_before = now + b.backoff * (1 + random.random() / 2)
        b.backoff = min(2 * b.backoff, 1.0)
        self._cond.notify_all()

    def _resequence_locked(self, p: _Partition) -> None:
        p.epoch += 1
        p.next_sequence = 0

    def _resolve_locked(self, b: _Batch, resp, err: Optional[BaseException]) -> None:
        p = self._partitions[b.partition]
        if p.head is b:
            p.head = None
        if err is not None:
            self._rejected = self._rejected or err
            self._settle.append(lambda: b.future.set_exception(err))
        else:
            self._settle.append(lambda: b.future.set_result(resp))
        self._cond.notify_all()

    def _settled(self) -> None:
        """Settles the futures resolved while the lock was held."""
        with self._cond:
            run, self._settle = self._settle, []
        for settle in run:
            settle()

    def _shut_down_locked(self) -> None:
        """Closing: fail what was not delivered, and end the stream."""
        err = ProduceError(grpc.StatusCode.CANCELLED, "the producer closed before the batch was acknowledged")
        for p in self._partitions.values():
            for b in ([p.head] if p.head else []) + list(p.waiting):
                self._settle.append(lambda f=b.future: f.done() or f.set_exception(err))
            p.head, p.waiting = None, collections.deque()
            if p.records:
                self._settle.append(lambda f=p.future: f.set_exception(err))
                p.records, p.future = [], Future()
        self._in_flight.clear()
        if self._requests is not None:
            self._requests.put(None)
        self._stream, self._requests = None, None


@dataclass
class Message:
    """One consumed record."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: "list[Tuple[str, bytes]]" = field(default_factory=list)
    timestamp_ms: int = 0


@dataclass(frozen=True)
class Assignment:
    """A group member's assignment, as the broker's latest assignment event
    gave it: ``partitions`` is every partition the member now reads and
    ``revoked`` those the event took away, each by topic."""

    group: str
    member_id: str
    group_epoch: int
    member_epoch: int
    partitions: "dict[str, list[int]]"
    revoked: "dict[str, list[int]]"

    @staticmethod
    def _from_proto(a: subscribe_pb2.GroupAssignment) -> "Assignment":
        return Assignment(group=a.group, member_id=a.member_id, group_epoch=a.group_epoch,
                          member_epoch=a.member_epoch,
                          partitions={tp.topic: list(tp.partitions) for tp in a.partitions},
                          revoked={tp.topic: list(tp.partitions) for tp in a.revoked})


class Consumer:
    """Iterates records of a consumer group, and commits its position.

    Without ``partitions`` the consumer is a member of ``group``: the broker
    assigns the topics' partitions among the group's live members (each
    partition to one member; every group reads every record) and tells the
    member each change with an assignment event. The consumer keeps the
    latest (``assignment``) and passes each to ``on_assignment``. Each
    partition starts at the group's committed offset; where it has none, at
    the earliest offset, or the latest with ``start_position`` LATEST.

    With ``partitions`` (one topic) the consumer reads just those, from the
    group's committed offsets (the earliest without one): manual assignment,
    no membership, no assignment events.

    ``commit`` stores, per partition, the position after the last record
    handed out, so whoever reads the partition next resumes there. On an
    event that revokes partitions, the consumer first commits their
    positions (unless ``commit_on_revoke`` is false), which hands them to
    their new owner at once with nothing read twice; then it forgets them
    and calls ``on_assignment``. With ``commit_on_revoke`` false it calls
    ``on_assignment`` first, while ``commit`` still covers the revoked
    partitions (the last chance to commit them, as in Kafka's
    onPartitionsRevoked), and forgets them after; a revoked partition that
    is not committed moves only after the group's rebalance timeout, which
    also removes this member from the group.

    With ``follow`` it waits for new records; without, iteration ends at the
    end of the topics as they were when iteration started (for a member:
    once it owns its whole share and has read it to that end; the member
    then leaves its group, and can no longer commit).

    One stream serves the consumer from its first iteration to ``close``:
    leaving a loop early keeps it, and a member's membership, so that the
    consumer can still commit; iterating again goes on where it stopped.
    """

    def __init__(self, client: Client, topic: "str | Sequence[str]", group: str, partitions: Sequence[int] = (),
                 follow: bool = True, max_batch_bytes: int = 0, instance_id: str = "",
                 on_assignment: Optional[Callable[[Assignment], None]] = None, commit_on_revoke: bool = True,
                 start_position: "Optional[int]" = None):
        topics = [topic] if isinstance(topic, str) else list(topic)
        if not topics:
            raise ValueError("a consumer reads at least one topic")
        self._client = client
        self._group = group
        self._topics = topics
        self._member = not partitions
        if not self._member and (len(topics) > 1 or instance_id):
            raise ValueError("several topics and instance_id are for a group member: no partitions")
        if start_position is None:
            start_position = subscribe_pb2.START_POSITION_COMMITTED
        self._request = subscribe_pb2.SubscribeRequest(
            topic=topics[0], topics=topics[1:], group=group, partitions=list(partitions), follow=follow,
            start_position=start_position, max_batch_bytes=max_batch_bytes, instance_id=instance_id,
            accept_compression=compression.ACCEPTED)
        self._on_assignment = on_assignment
        self._commit_on_revoke = commit_on_revoke
        self._lock = threading.Lock()  # guards _positions and _assignment
        self._positions: "dict[Tuple[str, int], int]" = {}
        self._assignment: Optional[Assignment] = None
        self._stream = None
        self._ready: "collections.deque[Message]" = collections.deque()  # received, not handed out
        # Where the stream is in each partition it has sent a batch of: the
        # offset after that batch. A compressed batch comes whole, so the
        # first one may begin before where the read started.
        self._next: "dict[Tuple[str, int], int]" = {}
        self._ended = False

    @property
    def assignment(self) -> Optional[Assignment]:
        """The latest assignment event (None before the first, and for a
        consumer that named its partitions)."""
        with self._lock:
            return self._assignment

    def __iter__(self) -> Iterator[Message]:
        # NB: one stream serves every iteration, from the first to close():
        # leaving a loop early keeps it (and a member's membership), and
        # iterating again goes on where the last loop stopped.
        while True:
            while self._ready:
                m = self._ready.popleft()
                with self._lock:
                    self._positions[(m.topic, m.partition)] = m.offset + 1
                yield m
            if self._ended:
                return
            try:
                if self._stream is None:
                    self._stream = self._client.subscribe.Subscribe(self._request)
                resp = next(self._stream)
            except StopIteration:
                self._ended = True
                continue
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.CANCELLED:
                    raise
                self._ended = True
                continue
            if resp.HasField("assignment"):
                self._assigned(Assignment._from_proto(resp.assignment))
                continue
            batch = resp.batch
            tp = (batch.topic, batch.partition)
            # NB: the broker sends a batch as stored only from its start at
            # or after the read's position; what the stream sent before is
            # skipped, should a batch repeat it.
            records = compression.batch_records(batch, self._next.get(tp, 0))
            if batch.HasField("compressed"):
                self._next[tp] = batch.compressed.base_offset + batch.compressed.record_count
            elif records:
                self._next[tp] = records[-1].offset + 1
            self._ready.extend(
                Message(topic=batch.topic, partition=batch.partition, offset=r.offset, key=r.key, value=r.value,
                        headers=[(h.key, h.value) for h in r.headers], timestamp_ms=r.timestamp.ToMilliseconds())
                for r in records)

    def _assigned(self, a: Assignment) -> None:
        revoked = {(t, p) for t, ps in a.revoked.items() for p in ps}
        for tp in revoked:
            self._next.pop(tp, None)  # no batch of it follows; if it comes back, it starts anew
        with self._lock:
            self._assignment = a
        if revoked and self._commit_on_revoke:
            # NB: before the callback, so that the partitions move to their
            # new owner at once, which starts after the last record handed
            # out here.
            try:
                self._commit(revoked)
            except grpc.RpcError as e:
                # The group moved the partitions on already (its rebalance
                # timeout): their new owner resumes at the last commit.
                if e.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
            self._forget(revoked)
        try:
            if self._on_assignment is not None:
                self._on_assignment(a)
        finally:
            self._forget(revoked)

    def _forget(self, partitions: "set[Tuple[str, int]]") -> None:
        with self._lock:
            for tp in partitions:
                self._positions.pop(tp, None)

    def commit(self) -> None:
        """Commits the position after the last record handed out, per
        partition; a member commits as itself (its id and epoch), and the
        broker refuses (FAILED_PRECONDITION) a partition it no longer owns."""
        self._commit(None)

    def _commit(self, only: "Optional[set[Tuple[str, int]]]") -> None:
        with self._lock:
            positions = {tp: o for tp, o in self._positions.items() if only is None or tp in only}
            a = self._assignment
        by_topic: "dict[str, list]" = {}
        for (t, p), o in sorted(positions.items()):
            by_topic.setdefault(t, []).append(commit_pb2.PartitionOffset(partition=p, offset=o))
        for t, offsets in by_topic.items():
            req = commit_pb2.CommitRequest(group=self._group, topic=t, offsets=offsets)
            if self._member and a is not None:
                req.member_id, req.member_epoch = a.member_id, a.member_epoch
            self._client.commit.Commit(req)

    def committed(self, topic: Optional[str] = None) -> "dict[int, int]":
        """The group's committed offsets in topic (default: the first
        topic), by partition."""
        resp = self._client.commit.FetchCommitted(
            commit_pb2.FetchCommittedRequest(group=self._group, topic=topic or self._topics[0]))
        return {o.partition: o.offset for o in resp.offsets}

    def close(self) -> None:
        """Ends the stream (a member leaves its group) and the iteration."""
        self._ended = True
        self._ready.clear()
        if self._stream is not None:
            self._stream.cancel()
