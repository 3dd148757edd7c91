"""A Python service that uses only the generated stubs produces and consumes
through a real `runnel sidecar` process in front of a real broker process:
the topic is created through the sidecar (Admin relayed), keyed records are
produced through it (acknowledged once spooled, base_offset -1; ACKS_ALL
end to end, with the cluster's offsets), forwarded to the broker, consumed
through it in Kafka's partitions and per-key order, and a commit through it
is the broker's. The sidecar keeps acknowledging while the broker is down,
and its backlog reaches the broker once it is back.

Every RPC here is a generated stub's (runnel.v1.*_pb2_grpc); the SDK is used
only for the harness (runnel.testing) and for Kafka's murmur2
(runnel.client.partition_for_key, checked against Kafka's vectors in
test_idempotence), to say where each key belongs."""

from __future__ import annotations

import grpc
import pytest

from runnel.client import partition_for_key
from runnel.testing import Broker, Sidecar
from runnel.v1 import admin_pb2, admin_pb2_grpc
from runnel.v1 import commit_pb2, commit_pb2_grpc
from runnel.v1 import produce_pb2, produce_pb2_grpc
from runnel.v1 import record_pb2
from runnel.v1 import subscribe_pb2, subscribe_pb2_grpc

PARTITIONS = 4
KEYS = [f"customer-{i}".encode() for i in range(9)]


class Stubs:
    """The generated stubs on one channel."""

    def __init__(self, address: str):
        self.channel = grpc.insecure_channel(address)
        self.admin = admin_pb2_grpc.AdminServiceStub(self.channel)
        self.produce = produce_pb2_grpc.ProduceServiceStub(self.channel)
        self.subscribe = subscribe_pb2_grpc.SubscribeServiceStub(self.channel)
        self.commit = commit_pb2_grpc.CommitServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def cluster():
    """A broker, a sidecar in front of it, and stubs on each."""
    with Broker() as broker, Sidecar(broker.address) as sidecar:
        local, direct = Stubs(sidecar.address), Stubs(broker.address)
        try:
            yield broker, sidecar, local, direct
        finally:
            local.close()
            direct.close()


def requests(topic: str, first: int, count: int, per_request: int, acks=None):
    """Requests of count keyed records, numbered from first, the key of
    record i being KEYS[i % len(KEYS)]; the value says key and number. No
    partition: the receiver partitions them, as Kafka's producer would."""
    out = []
    for start in range(first, first + count, per_request):
        req = produce_pb2.ProduceRequest(topic=topic, correlation_id=start, records=[
            record_pb2.Record(key=KEYS[i % len(KEYS)], value=b"%s:%d" % (KEYS[i % len(KEYS)], i))
            for i in range(start, min(start + per_request, first + count))])
        if acks is not None:
            req.acks = acks
        out.append(req)
    return out


def per_partition(req) -> "dict[int, int]":
    """How many of req's records belong to each partition, by murmur2."""
    n: "dict[int, int]" = {}
    for r in req.records:
        p = partition_for_key(r.key, PARTITIONS)
        n[p] = n.get(p, 0) + 1
    return n


def produce(stubs: Stubs, reqs, timeout: float = 60.0):
    """Sends reqs on one Produce stream (pipelined), and returns the
    responses, one per request in order, none failed."""
    resps = list(stubs.produce.Produce(iter(reqs), timeout=timeout))
    assert [r.correlation_id for r in resps] == [r.correlation_id for r in reqs]
    for r in resps:
        assert not r.HasField("error"), r.error
    return resps


def assert_spooled(reqs, resps) -> None:
    """Each response acknowledged its request's records once spooled: one
    ack per partition its records belong to, with their count and base
    offset -1 (the cluster's offsets are not known yet)."""
    for req, resp in zip(reqs, resps):
        assert {a.partition: a.record_count for a in resp.acks} == per_partition(req)
        assert all(a.base_offset == -1 for a in resp.acks), resp


def read_all(stubs: Stubs, topic: str) -> "dict[int, list]":
    """Every record of topic, by partition, in log order (up to the end as
    the read started)."""
    out: "dict[int, list]" = {p: [] for p in range(PARTITIONS)}
    for resp in stubs.subscribe.Subscribe(subscribe_pb2.SubscribeRequest(
            topic=topic, partitions=list(range(PARTITIONS)), follow=False,
            start_position=subscribe_pb2.START_POSITION_EARLIEST), timeout=60):
        assert resp.HasField("batch"), resp  # no group, no assignment
        out[resp.batch.partition].extend(resp.batch.records)
    return out


def assert_log(log: "dict[int, list]", produced: int) -> None:
    """The log holds records 0 to produced-1 once each, each in its key's
    murmur2 partition, each key's in the order produced, offsets dense."""
    values = sorted(int(r.value.split(b":")[1]) for recs in log.values() for r in recs)
    assert values == list(range(produced)), "every record once"
    for p, recs in log.items():
        assert [r.offset for r in recs] == list(range(len(recs)))
        by_key: "dict[bytes, list[int]]" = {}
        for r in recs:
            key, i = r.value.split(b":")
            assert r.key == key == KEYS[int(i) % len(KEYS)]
            assert partition_for_key(r.key, PARTITIONS) == p, f"{r.key!r} in partition {p}"
            by_key.setdefault(r.key, []).append(int(i))
        for key, ns in by_key.items():
            assert ns == sorted(ns), f"{key!r} out of order in partition {p}"
    assert all(log.values()), "every partition got some keys"


def test_stubs_produce_and_consume_through_the_sidecar(cluster):
    broker, sidecar, local, direct = cluster
    topic = "stub-orders"
    local.admin.CreateTopic(admin_pb2.CreateTopicRequest(name=topic, partitions=PARTITIONS), timeout=30)
    # The topic is the cluster's; through the sidecar, every partition's
    # leader is the sidecar, node 1 at epoch 0, the only broker.
    assert direct.admin.DescribeTopic(admin_pb2.DescribeTopicRequest(name=topic), timeout=30).topic.partitions \
        == PARTITIONS
    described = local.admin.DescribeTopic(admin_pb2.DescribeTopicRequest(name=topic), timeout=30)
    assert [(p.partition, p.leader, p.leader_epoch) for p in described.partitions] \
        == [(p, 1, 0) for p in range(PARTITIONS)]
    brokers = local.admin.DescribeCluster(admin_pb2.DescribeClusterRequest(), timeout=30).brokers
    assert [(b.node_id, b.address) for b in brokers] == [(1, sidecar.address)]

    # Acks left unset: acknowledged once spooled, base offset -1.
    spooled = requests(topic, 0, 300, per_request=25)
    assert_spooled(spooled, produce(local, spooled))
    # ACKS_ALL: acknowledged once the cluster has it, with its offsets.
    end_to_end = requests(topic, 300, 40, per_request=40, acks=produce_pb2.ACKS_ALL)
    [resp] = produce(local, end_to_end)
    assert {a.partition: a.record_count for a in resp.acks} == per_partition(end_to_end[0])
    assert all(a.base_offset >= 0 for a in resp.acks), resp
    # And unset again after it.
    more = requests(topic, 340, 60, per_request=20)
    assert_spooled(more, produce(local, more))

    status = sidecar.wait_forwarded()
    assert status["records_waiting"] == 0
    log = read_all(local, topic)
    assert_log(log, 400)
    assert read_all(direct, topic) == log, "the sidecar relays the broker's log"
    # The ACKS_ALL request's offsets are where its records are.
    for a in resp.acks:
        got = [r.value for r in log[a.partition][a.base_offset:a.base_offset + a.record_count]]
        assert got == [r.value for r in end_to_end[0].records if partition_for_key(r.key, PARTITIONS) == a.partition]

    # A commit through the sidecar is the broker's.
    ends = {p: len(recs) for p, recs in log.items()}
    local.commit.Commit(commit_pb2.CommitRequest(group="stub-billing", topic=topic, offsets=[
        commit_pb2.PartitionOffset(partition=p, offset=o) for p, o in ends.items()]), timeout=30)
    committed = direct.commit.FetchCommitted(
        commit_pb2.FetchCommittedRequest(group="stub-billing", topic=topic), timeout=30)
    assert {o.partition: o.offset for o in committed.offsets} == ends
    relayed = local.commit.FetchCommitted(
        commit_pb2.FetchCommittedRequest(group="stub-billing", topic=topic), timeout=30)
    assert {o.partition: o.offset for o in relayed.offsets} == ends


def test_the_sidecar_acks_while_the_broker_is_down_and_forwards_its_backlog(cluster):
    broker, sidecar, local, direct = cluster
    topic = "stub-outage"
    local.admin.CreateTopic(admin_pb2.CreateTopicRequest(name=topic, partitions=PARTITIONS), timeout=30)
    before = requests(topic, 0, 100, per_request=20)
    assert_spooled(before, produce(local, before))
    sidecar.wait_forwarded()

    broker.terminate()  # SIGTERM: the broker shuts down, its data kept
    during = requests(topic, 100, 200, per_request=20)
    assert_spooled(during, produce(local, during, timeout=30))
    waiting = sidecar.status()["records_waiting"]
    assert waiting == 200, "nothing could be forwarded while the broker was down"
    # The next stream too: nothing waits for the cluster.
    later = requests(topic, 300, 50, per_request=10)
    assert_spooled(later, produce(local, later, timeout=30))

    broker.restart()  # the same data directory and port: the sidecar's --upstream
    sidecar.wait_forwarded()
    log = read_all(direct, topic)
    assert_log(log, 350)
    assert read_all(local, topic) == log
