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

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, Optional, Sequence, Tuple

import grpc

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

    def consumer(self, topic: str, group: str, partitions: Sequence[int] = (), follow: bool = True,
                 max_batch_bytes: int = 0) -> "Consumer":
        return Consumer(self, topic, group, partitions, follow, max_batch_bytes)


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


class Consumer:
    """Iterates a topic's records as a member of a consumer group.

    It starts where the group committed (the earliest offset for partitions
    without a commit) and ``commit`` stores the position after the last
    record handed out, so a consumer created later resumes from there.
    With ``follow`` it waits for new records; without, iteration ends at the
    end of the topic as it was when iteration started.
    """

    def __init__(self, client: Client, topic: str, group: str, partitions: Sequence[int] = (),
                 follow: bool = True, max_batch_bytes: int = 0):
        self._client = client
        self._topic = topic
        self._group = group
        self._request = subscribe_pb2.SubscribeRequest(
            topic=topic, group=group, partitions=list(partitions), follow=follow,
            start_position=subscribe_pb2.START_POSITION_COMMITTED, max_batch_bytes=max_batch_bytes)
        self._positions: "dict[int, int]" = {}
        self._stream = None

    def __iter__(self) -> Iterator[Message]:
        self._stream = self._client.subscribe.Subscribe(self._request)
        try:
            for resp in self._stream:
                batch = resp.batch
                for r in batch.records:
                    self._positions[batch.partition] = r.offset + 1
                    yield Message(topic=batch.topic, partition=batch.partition, offset=r.offset, key=r.key,
                                  value=r.value, headers=[(h.key, h.value) for h in r.headers],
                                  timestamp_ms=r.timestamp.ToMilliseconds())
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                raise

    def commit(self) -> None:
        """Commits the position after the last record handed out, per partition."""
        if not self._positions:
            return
        self._client.commit.Commit(commit_pb2.CommitRequest(
            group=self._group, topic=self._topic,
            offsets=[commit_pb2.PartitionOffset(partition=p, offset=o) for p, o in sorted(self._positions.items())]))

    def committed(self) -> "dict[int, int]":
        resp = self._client.commit.FetchCommitted(commit_pb2.FetchCommittedRequest(group=self._group, topic=self._topic))
        return {o.partition: o.offset for o in resp.offsets}

    def close(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
