"""A small, idiomatic layer over Runnel's generated gRPC stubs.

The stubs (``runnel.v1.*_pb2_grpc``, generated into ``gen/python``) are the
API; this module only adds what is awkward with them alone: a producer that
batches records and pipelines requests on one stream, and a consumer that
iterates a group's records and commits its position.

Errors are gRPC status codes: calls raise ``grpc.RpcError`` (``e.code()`` is a
``grpc.StatusCode`` such as ``NOT_FOUND`` or ``OUT_OF_RANGE``), and a produce
request that failed raises ``ProduceError``, which carries the same code.
"""

from __future__ import annotations

import collections
import queue
import threading
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
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
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


class Client:
    """A connection to a broker, with the four services' stubs."""

    def __init__(self, target: str = DEFAULT_TARGET, channel: Optional[grpc.Channel] = None):
        self.channel = channel or grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
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

    def producer(self, topic: str, partition: Optional[int] = None, batch_records: int = 500) -> "Producer":
        return Producer(self, topic, partition, batch_records)

    def consumer(self, topic: "str | Sequence[str]", group: str, partitions: Sequence[int] = (),
                 follow: bool = True, max_batch_bytes: int = 0, instance_id: str = "",
                 on_assignment: "Optional[Callable[[Assignment], None]]" = None, commit_on_revoke: bool = True,
                 start_position: Optional[int] = None) -> "Consumer":
        """A consumer of group: a member of it that the broker assigns
        partitions of topic (a name, or several), or, with partitions, a
        reader of just those (see Consumer)."""
        return Consumer(self, topic, group, partitions, follow, max_batch_bytes, instance_id, on_assignment,
                        commit_on_revoke, start_position)


class Producer:
    """Batches records into produce requests, pipelined on one stream.

    ``send`` returns a Future that resolves to the ``ProduceResponse`` of the
    request the record went out in (its ``acks`` give each partition's base
    offset) or raises ``ProduceError``. ``flush`` sends what is batched,
    waits for every ack and raises the first error since the last flush.
    Records with the same key go to the same partition, in order; with
    ``partition`` set, every record goes there. Once the stream itself
    fails (the broker went away), every future fails and so does every
    later call.
    """

    def __init__(self, client: Client, topic: str, partition: Optional[int] = None, batch_records: int = 500):
        self._topic = topic
        self._partition = partition
        self._batch_records = batch_records
        self._lock = threading.Lock()  # guards everything below
        self._batch: list = []
        self._batch_future: Future = Future()
        self._in_flight: "dict[int, Future]" = {}
        self._next_id = 0
        self._broken: Optional[BaseException] = None  # the stream failed: final
        self._rejected: Optional[BaseException] = None  # first request error since the last flush
        self._requests: "queue.Queue" = queue.Queue()
        self._responses = client.produce.Produce(iter(self._requests.get, None))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def send(self, value: bytes, key: Optional[bytes] = None, headers: Headers = ()) -> Future:
        record = record_pb2.Record(value=value, key=key or b"",
                                   headers=[record_pb2.Header(key=k, value=v) for k, v in headers])
        with self._lock:
            if self._broken is not None:
                raise self._broken
            self._batch.append(record)
            future = self._batch_future
            if len(self._batch) >= self._batch_records:
                self._send_batch_locked()
            return future

    def flush(self, timeout: Optional[float] = None) -> None:
        """Sends what is batched, waits for all acks, and raises the first
        error since the last flush (or the stream's failure)."""
        with self._lock:
            self._send_batch_locked()
            pending = list(self._in_flight.values())
        for f in pending:
            f.exception(timeout)  # waits; raises TimeoutError past timeout
        with self._lock:
            err = self._broken or self._rejected
            self._rejected = None
        if err is not None:
            raise err

    def close(self, timeout: Optional[float] = None) -> None:
        try:
            self.flush(timeout)
        finally:
            self._requests.put(None)  # ends the request stream
            self._reader.join(timeout)

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send_batch_locked(self) -> None:
        if not self._batch:
            return
        records, future = self._batch, self._batch_future
        self._batch, self._batch_future = [], Future()
        if self._broken is not None:
            future.set_exception(self._broken)
            return
        self._next_id += 1
        req = produce_pb2.ProduceRequest(topic=self._topic, records=records, correlation_id=self._next_id)
        if self._partition is not None:
            req.partition = self._partition
        self._in_flight[self._next_id] = future
        self._requests.put(req)

    def _read(self) -> None:
        try:
            for resp in self._responses:
                with self._lock:
                    future = self._in_flight.pop(resp.correlation_id, None)
                if future is None:
                    continue
                if resp.HasField("error"):
                    err = ProduceError(_status_code(resp.error.code), resp.error.message)
                    with self._lock:
                        self._rejected = self._rejected or err
                    future.set_exception(err)
                else:
                    future.set_result(resp)
            self._break(ProduceError(grpc.StatusCode.UNAVAILABLE, "the produce stream ended"))
        except grpc.RpcError as e:
            self._break(e)

    def _break(self, err: BaseException) -> None:
        """The stream is gone: fail everything not acknowledged."""
        with self._lock:
            if self._broken is None:
                self._broken = err
            pending = list(self._in_flight.values())
            self._in_flight = {}
            if self._batch:
                pending.append(self._batch_future)
                self._batch, self._batch_future = [], Future()
        for f in pending:
            f.set_exception(err)


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
            if batch.HasField("compressed") and tp not in self._next:
                self._next[tp] = self._read_start(batch.topic, batch.partition)
            records = compression.batch_records(batch, self._next.get(tp, 0))
            if batch.HasField("compressed"):
                self._next[tp] = batch.compressed.base_offset + batch.compressed.record_count
            elif records:
                self._next[tp] = records[-1].offset + 1
            self._ready.extend(
                Message(topic=batch.topic, partition=batch.partition, offset=r.offset, key=r.key, value=r.value,
                        headers=[(h.key, h.value) for h in r.headers], timestamp_ms=r.timestamp.ToMilliseconds())
                for r in records)

    def _read_start(self, topic: str, partition: int) -> int:
        """Where the broker started reading partition: the group's committed
        offset for a member, or with START_POSITION_COMMITTED; otherwise
        (EARLIEST, LATEST) a batch boundary, so 0 skips nothing."""
        # NB: asked only when a partition's first batch is compressed. The
        # committed offset is the one the broker started from: this consumer
        # commits no partition before it has handed out one of its records,
        # and the group moves a partition only once its owner has committed.
        if self._member or self._request.start_position in (
                subscribe_pb2.START_POSITION_UNSPECIFIED, subscribe_pb2.START_POSITION_COMMITTED):
            return self.committed(topic).get(partition, 0)
        return 0

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
