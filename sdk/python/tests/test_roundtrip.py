"""The Python example's round trip against a real broker process."""

from __future__ import annotations

import os
import sys
from collections import Counter

import grpc
import pytest

from runnel.client import Client, ProduceError
from runnel.testing import Broker
from runnel.v1 import subscribe_pb2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "python"))
import roundtrip  # noqa: E402


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


def test_example_roundtrip(broker):
    result = roundtrip.run(broker.address)
    first, rest = result["first"], result["rest"]
    assert len(first) == 6 and len(rest) == 4
    everything = first + rest
    # Every record once: values, keys and headers as produced.
    assert sorted(m.value.decode() for m in everything) == sorted(f"order {i}" for i in range(10))
    for m in everything:
        i = int(m.value.decode().split()[1])
        assert m.key == f"customer-{i % 3}".encode()
        assert m.headers == [("source", b"python")]
        assert m.timestamp_ms > 0
    # One key, one partition; offsets dense from 0 within each partition.
    partitions = {m.key: m.partition for m in everything}
    assert all(partitions[m.key] == m.partition for m in everything)
    by_partition = Counter(m.partition for m in everything)
    for p, n in by_partition.items():
        assert sorted(m.offset for m in everything if m.partition == p) == list(range(n))
    # The second consumer started exactly where the first committed.
    committed = {}
    for m in first:
        committed[m.partition] = m.offset + 1
    for p, start in committed.items():
        resumed = [m.offset for m in rest if m.partition == p]
        if resumed:
            assert min(resumed) == start
    assert result["not_found"] == grpc.StatusCode.NOT_FOUND


def test_errors_are_status_codes(broker):
    with Client(broker.address) as client:
        client.create_topic("errors", partitions=1, exist_ok=True)
        with pytest.raises(grpc.RpcError) as e:
            client.create_topic("errors", partitions=1)
        assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
        with pytest.raises(grpc.RpcError) as e:
            list(client.subscribe.Subscribe(subscribe_pb2.SubscribeRequest(
                topic="errors", start_position=subscribe_pb2.START_POSITION_OFFSET, start_offset=99)))
        assert e.value.code() == grpc.StatusCode.OUT_OF_RANGE
        producer = client.producer("errors", partition=7)
        future = producer.send(b"x")
        with pytest.raises(ProduceError) as pe:
            producer.flush(10)
        assert pe.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "partition 7" in pe.value.message
        assert future.exception() is pe.value
        producer.close(10)


def test_flush_reports_requests_rejected_earlier(broker):
    with Client(broker.address) as client:
        client.create_topic("rejected", partitions=1, exist_ok=True)
        producer = client.producer("rejected", partition=5, batch_records=1)
        first = producer.send(b"a")  # a full batch: sent at once, rejected
        with pytest.raises(ProduceError):
            first.result(10)
        with pytest.raises(ProduceError) as pe:
            producer.flush(10)  # nothing pending, but the rejection is reported
        assert pe.value.code == grpc.StatusCode.INVALID_ARGUMENT
        producer.flush(10)  # reported once
        producer.close(10)


def test_a_broker_gone_for_good_fails_what_it_did_not_acknowledge():
    with Broker() as own:
        with Client(own.address) as client:
            client.create_topic("t", partitions=1)
            producer = client.producer("t", delivery_timeout=1.0)
            producer.send(b"acked")
            producer.flush(10)
            batched = producer.send(b"still batched")
            own.stop()  # the stream ends with UNAVAILABLE, and so does every retry
            with pytest.raises(ProduceError) as pe:
                producer.flush(10)  # after the delivery timeout
            assert pe.value.code == grpc.StatusCode.UNAVAILABLE
            assert "delivery timeout" in pe.value.message
            assert batched.exception(10) is pe.value
            after = producer.send(b"after")
            with pytest.raises(ProduceError):
                producer.close(10)  # fails what it could not deliver, and returns
            assert isinstance(after.exception(10), ProduceError)
