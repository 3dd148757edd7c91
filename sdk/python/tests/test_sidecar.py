"""The SDK's idempotent producer and consumer through a real `runnel sidecar`
process in front of a real broker process: acks left to the receiver are
the sidecar's (spooled, base_offset -1, taken as success), InitProducer and
the sequences are the sidecar's, a resent batch is appended once, ACKS_ALL
gets the cluster's offsets, and everything reaches the broker once, in
order, including what was produced while the broker was down."""

from __future__ import annotations

from runnel.client import Client, partition_for_key
from runnel.testing import Broker, Sidecar
from runnel.v1 import produce_pb2, record_pb2, subscribe_pb2


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


def test_the_idempotent_producer_through_a_sidecar():
    partitions, records = 3, 600
    with Broker() as broker, Sidecar(broker.address) as sidecar, \
            Client(sidecar.address) as local, Client(broker.address) as direct:
        local.create_topic("sc-orders", partitions=partitions)
        producer = local.producer("sc-orders", batch_records=50)
        futures = []
        for i in range(records):
            futures.append(producer.send(str(i).encode(), key=f"k{i % 7}".encode()))
            if i == records // 2:
                producer.flush(30)
                broker.terminate()  # the sidecar goes on acknowledging
        producer.flush(30)
        assert producer.producer_id > 0, "the sidecar's InitProducer gave it an id"
        # Each batch is acknowledged as spooled: its whole record count at
        # base offset -1, a success.
        by_response = {}
        for i, f in enumerate(futures):
            [ack] = f.result().acks
            assert ack.base_offset == -1, ack
            assert ack.partition == partition_for_key(f"k{i % 7}".encode(), partitions)
            by_response.setdefault(id(f.result()), (ack.record_count, []))[1].append(i)
        assert all(count == len(sent) for count, sent in by_response.values())
        assert sidecar.status()["records_waiting"] > 0, "the broker was down: nothing after it went was forwarded"
        producer.close(30)

        broker.restart()
        sidecar.wait_forwarded()
        log = read_all(direct, "sc-orders", partitions)
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
        assert read_all(local, "sc-orders", partitions) == log


def test_a_batch_resent_to_the_sidecar_is_appended_once():
    with Broker() as broker, Sidecar(broker.address) as sidecar, \
            Client(sidecar.address) as local, Client(broker.address) as direct:
        local.create_topic("sc-idem", partitions=1)
        producer = local.producer("sc-idem", partition=0)
        producer.send(b"before")
        producer.flush(30)
        first = [producer.send(v) for v in (b"a", b"b", b"c")][0]
        producer.flush(30)
        ack = first.result().acks[0]
        assert (ack.partition, ack.base_offset, ack.record_count) == (0, -1, 3)
        # The same batch again by hand, as a retry: the producer's id, epoch
        # 0, and the sequence of its first record (1, after "before").
        again = next(local.produce.Produce(iter([produce_pb2.ProduceRequest(
            topic="sc-idem", partition=0, correlation_id=1,
            records=[record_pb2.Record(value=v) for v in (b"a", b"b", b"c")],
            producer_id=producer.producer_id, producer_epoch=0, base_sequence=1)])))
        assert not again.HasField("error"), again.error
        assert again.acks[0].record_count == 3
        # And the producer goes on in sequence after it.
        after = producer.send(b"d")
        producer.close(30)
        assert after.result().acks[0].base_offset == -1
        sidecar.wait_forwarded()
        assert [r.value for r in read_all(direct, "sc-idem", 1)[0]] == [b"before", b"a", b"b", b"c", b"d"]


def test_acks_all_through_the_sidecar_gets_the_clusters_offsets():
    with Broker() as broker, Sidecar(broker.address) as sidecar, Client(sidecar.address) as local:
        local.create_topic("sc-all", partitions=1)
        spooled = local.producer("sc-all", partition=0)
        spooled.send(b"spooled")
        spooled.close(30)
        producer = local.producer("sc-all", partition=0, batch_records=2, acks=produce_pb2.ACKS_ALL)
        futures = [producer.send(v) for v in (b"x", b"y", b"z")]
        producer.close(30)
        # Each batch waited for the cluster, after the spooled record that
        # went before it.
        assert [(f.result().acks[0].base_offset, f.result().acks[0].record_count) for f in futures] \
            == [(1, 2), (1, 2), (3, 1)]
        assert sidecar.status()["records_waiting"] == 0
