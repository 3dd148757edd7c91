"""The idempotent producer against a real broker process: it sends its
producer fields, and a broker killed and restarted under it ends with
every record acknowledged once, in order per partition."""

from __future__ import annotations

import threading

import grpc
import pytest

from runnel.client import Client, ProduceError, murmur2, partition_for_key
from runnel.testing import Broker
from runnel.v1 import produce_pb2, record_pb2, subscribe_pb2


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


def read_all(client: Client, topic: str, partitions: int) -> "dict[int, list]":
    """Every record of topic, by partition, in log order."""
    stream = client.subscribe.Subscribe(subscribe_pb2.SubscribeRequest(
        topic=topic, partitions=list(range(partitions)), follow=False,
        start_position=subscribe_pb2.START_POSITION_EARLIEST))
    out: "dict[int, list]" = {p: [] for p in range(partitions)}
    for resp in stream:
        if resp.HasField("batch"):
            out[resp.batch.partition].extend(resp.batch.records)
    return out


def test_murmur2_matches_kafka():
    # Kafka's own vectors (UtilsTest.testMurmur2), as partitioner's Go test.
    for key, want in [("21", -973932308), ("foobar", -790332482), ("a-little-bit-long-string", -985981536),
                      ("a-little-bit-longer-string", -1486304829),
                      ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971), ("abc", 479470107),
                      ("1", -1993445489), ("12", 126087238), ("123", -267702483), ("1234", -1614185708),
                      ("12345", -1188365604)]:
        assert murmur2(key.encode()) == want, key
    assert partition_for_key(b"21", 6) == 1173551340 % 6


def test_a_resent_batch_gets_its_first_offsets(broker):
    with Client(broker.address) as client:
        client.create_topic("idem-fields", partitions=1)
        producer = client.producer("idem-fields", partition=0)
        producer.send(b"before")
        producer.flush(30)
        first = [producer.send(v) for v in (b"a", b"b", b"c")][0]
        producer.flush(30)
        assert producer.producer_id > 0
        ack = first.result().acks[0]
        assert (ack.partition, ack.base_offset, ack.record_count) == (0, 1, 3)
        # The same batch again by hand, as a retry: the producer's id, epoch
        # 0, and the sequence of its first record (1, after "before").
        again = next(client.produce.Produce(iter([produce_pb2.ProduceRequest(
            topic="idem-fields", partition=0, correlation_id=1,
            records=[record_pb2.Record(value=v) for v in (b"a", b"b", b"c")],
            producer_id=producer.producer_id, producer_epoch=0, base_sequence=1)])))
        assert not again.HasField("error"), again.error
        assert (again.acks[0].base_offset, again.acks[0].record_count) == (1, 3)
        # And the producer goes on in sequence after it.
        after = producer.send(b"d")
        producer.close(30)
        assert after.result().acks[0].base_offset == 4
        assert [r.value for r in read_all(client, "idem-fields", 1)[0]] == [b"before", b"a", b"b", b"c", b"d"]


def test_without_idempotence_no_producer_id(broker):
    with Client(broker.address) as client:
        client.create_topic("idem-off", partitions=1)
        producer = client.producer("idem-off", idempotent=False)
        sent = producer.send(b"x")
        producer.close(30)
        assert producer.producer_id == 0
        assert sent.result().acks[0].base_offset == 0
        # A raw request without a producer id is appended each time.
        raw = produce_pb2.ProduceRequest(topic="idem-off", partition=0, records=[record_pb2.Record(value=b"x")])
        for _ in range(2):
            assert not next(client.produce.Produce(iter([raw]))).HasField("error")
        assert len(read_all(client, "idem-off", 1)[0]) == 3


def test_a_broker_killed_and_restarted_under_the_producer_loses_and_duplicates_nothing():
    records, partitions = 3000, 3
    with Broker() as own, Client(own.address) as client:
        client.create_topic("restart", partitions=partitions)
        producer = client.producer("restart", batch_records=10)
        futures = []
        first_acked = threading.Event()
        for i in range(records):
            f = producer.send(str(i).encode(), key=f"k{i % 11}".encode())
            if i == 0:
                f.add_done_callback(lambda _: first_acked.set())
            futures.append(f)
            if i == records // 3:
                # Kill it once it acknowledges, while batches are in flight
                # and queued behind them.
                assert first_acked.wait(30)
                own.kill()
                unacked = sum(not f.done() for f in futures)
                own.restart()
        producer.flush(120)
        producer.close(30)
        assert unacked > 0, "the broker was killed after everything was acknowledged: nothing was retried"
        for f in futures:
            assert f.result().acks[0].record_count > 0
        log = read_all(client, "restart", partitions)
        values = [int(r.value) for p in log.values() for r in p]
        assert sorted(values) == list(range(records)), "each record exactly once"
        for p, recs in log.items():
            assert [r.offset for r in recs] == list(range(len(recs)))
            by_key: "dict[bytes, list[int]]" = {}
            for r in recs:
                assert partition_for_key(r.key, partitions) == p
                by_key.setdefault(r.key, []).append(int(r.value))
            for key, vs in by_key.items():
                assert vs == sorted(vs), f"{key!r} out of order in partition {p}"


def test_a_batch_stalled_past_its_delivery_timeout_fails_and_the_next_starts_a_new_epoch():
    with Broker() as own, Client(own.address) as client:
        client.create_topic("stalled", partitions=1)
        # NB: the broker, once it goes on, has as long to answer the next
        # batch: 1 s was once too short on CI (its acks after SIGCONT take
        # 2 to 11 ms here), so 3 s.
        producer = client.producer("stalled", partition=0, delivery_timeout=3.0, request_timeout=0.5)
        producer.send(b"first")
        producer.flush(30)
        own.pause()  # the connection stays up; nothing answers
        try:
            stalled = producer.send(b"stalled")
            with pytest.raises(ProduceError) as pe:
                producer.flush(30)
        finally:
            own.resume()
        assert pe.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "delivery timeout" in pe.value.message
        assert stalled.exception() is pe.value
        # Its outcome is unknown: the next batch starts the partition's
        # sequence again, at 0 in epoch 1.
        after = producer.send(b"after")
        producer.close(30)
        offset = after.result().acks[0].base_offset
        again = next(client.produce.Produce(iter([produce_pb2.ProduceRequest(
            topic="stalled", partition=0, records=[record_pb2.Record(value=b"after")],
            producer_id=producer.producer_id, producer_epoch=1, base_sequence=0)])))
        assert not again.HasField("error"), again.error
        assert again.acks[0].base_offset == offset
        # The stalled batch went out in the broker's buffers: appended once
        # the broker went on, or not at all; never twice.
        values = [r.value for r in read_all(client, "stalled", 1)[0]]
        assert values in ([b"first", b"after"], [b"first", b"stalled", b"after"])


def test_a_refused_sequence_is_sent_again_once_in_a_new_epoch(broker):
    with Client(broker.address) as client:
        client.create_topic("idem-refused", partitions=1)
        producer = client.producer("idem-refused", partition=0)
        producer.send(b"a")
        producer.flush(30)

        def as_producer(epoch: int, sequence: int, *values: bytes):
            resp = next(client.produce.Produce(iter([produce_pb2.ProduceRequest(
                topic="idem-refused", partition=0, records=[record_pb2.Record(value=v) for v in values],
                producer_id=producer.producer_id, producer_epoch=epoch, base_sequence=sequence)])))
            assert not resp.HasField("error"), resp.error
            return resp

        # Two records by hand at the producer's next sequence (1): its own
        # next batch, one record at sequence 1, overlaps them without being
        # a retry of them, and is refused (FAILED_PRECONDITION), appending
        # nothing. The producer sends it again at 0 in epoch 1.
        as_producer(0, 1, b"x", b"y")
        b = producer.send(b"b")
        producer.flush(30)
        assert b.result().acks[0].base_offset == 3
        c = producer.send(b"c")
        producer.flush(30)
        assert as_producer(1, 1, b"c").acks[0].base_offset == c.result().acks[0].base_offset == 4
        # Refused again in the new epoch (fenced: epoch 5 was seen), a batch
        # fails rather than go round for ever.
        as_producer(5, 0, b"z")
        d = producer.send(b"d")
        with pytest.raises(ProduceError) as pe:
            producer.flush(30)
        assert pe.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert d.exception() is pe.value
        producer.close(30)
        assert [r.value for r in read_all(client, "idem-refused", 1)[0]] == [b"a", b"x", b"y", b"b", b"c", b"z"]
