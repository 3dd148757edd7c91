"""Consumer groups coordinated by the broker, against a real broker process:
members split a topic's partitions, every group reads every record, and a
revoked partition moves to its new owner right after what the old one
read."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid

import grpc
import pytest

from runnel.client import Assignment, Client
from runnel.testing import Broker
from runnel.v1 import commit_pb2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "python"))
import groups  # noqa: E402

# Well below the broker's rebalance timeout (30 s), after which a revoked
# partition moves whether or not its old owner committed it.
WAIT = 15.0


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


@pytest.fixture
def client(broker):
    with Client(broker.address) as c:
        yield c


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Running:
    """A consumer iterated on its own thread, keeping what it was given."""

    def __init__(self, make, on_assignment=None):
        self.cond = threading.Condition()
        self.messages: list = []
        self.events: "list[Assignment]" = []
        self.error: "BaseException | None" = None
        self._user_callback = on_assignment
        self.consumer = make(self._on_assignment)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _on_assignment(self, a: Assignment) -> None:
        if self._user_callback is not None:
            self._user_callback(self, a)
        with self.cond:
            self.events.append(a)
            self.cond.notify_all()

    def _run(self) -> None:
        try:
            for m in self.consumer:
                with self.cond:
                    self.messages.append(m)
                    self.cond.notify_all()
        except BaseException as e:  # noqa: BLE001 - reported by wait()
            with self.cond:
                self.error = e
                self.cond.notify_all()

    def owned(self) -> "set[tuple[str, int]]":
        a = self.consumer.assignment
        return set() if a is None else {(t, p) for t, ps in a.partitions.items() for p in ps}

    def wait(self, what: str, pred, timeout: float = WAIT) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: self.error is not None or pred(), timeout)
            if self.error is not None:
                raise AssertionError(f"the consumer failed while waiting for {what}") from self.error
            assert ok, f"{what} within {timeout:g}s; events {self.events}, {len(self.messages)} messages"

    def stop(self) -> None:
        self.consumer.close()
        self.thread.join(10)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


def wait_all(what: str, members: "list[Running]", pred, timeout: float = WAIT) -> None:
    """Waits for pred over several members (each notifies its own condition)."""
    deadline = time.monotonic() + timeout
    while not pred():
        for m in members:
            if m.error is not None:
                raise AssertionError(f"a consumer failed while waiting for {what}") from m.error
        assert time.monotonic() < deadline, (
            f"{what} within {timeout:g}s; events {[m.events for m in members]}, "
            f"messages {[len(m.messages) for m in members]}")
        time.sleep(0.02)


def produce(client: Client, topic: str, partitions: int, per_partition: int, start: int = 0) -> None:
    for p in range(partitions):
        with client.producer(topic, partition=p) as producer:
            for i in range(start, start + per_partition):
                producer.send(f"{p}:{i}".encode())


def everything(topic: str, partitions: int) -> "set[tuple[str, int]]":
    return {(topic, p) for p in range(partitions)}


def test_two_members_split_the_partitions_and_another_group_reads_everything(client):
    topic, grp = name("split"), name("g")
    client.create_topic(topic, partitions=4)
    a = Running(lambda cb: client.consumer(topic, grp, on_assignment=cb))
    a.wait("the first member to own every partition", lambda: a.owned() == everything(topic, 4))
    first = a.consumer.assignment
    assert first.group == grp and first.member_id and first.member_epoch > 0
    assert first.partitions == {topic: [0, 1, 2, 3]} and first.revoked == {}

    b = Running(lambda cb: client.consumer(topic, grp, on_assignment=cb))
    wait_all("the members to split the partitions", [a, b],
             lambda: a.owned() and b.owned() and not (a.owned() & b.owned())
             and a.owned() | b.owned() == everything(topic, 4))
    assert len(a.owned()) == len(b.owned()) == 2
    assert a.consumer.assignment.member_id != b.consumer.assignment.member_id
    # The callback sees every event, the accessor the latest (once the
    # callbacks of the events in flight have run).
    wait_all("the callbacks to catch up", [a, b],
             lambda: all(m.events and m.events[-1] is m.consumer.assignment for m in (a, b)))
    # The first member was told what it lost: just what the second got.
    revoked = {(t, p) for e in a.events for t, ps in e.revoked.items() for p in ps}
    assert revoked == b.owned()

    produce(client, topic, 4, 10)
    wait_all("every record", [a, b], lambda: len(a.messages) + len(b.messages) >= 40)
    for m in (a, b):
        assert {(x.topic, x.partition) for x in m.messages} <= m.owned()
    seen = [(x.partition, x.offset) for x in a.messages + b.messages]
    assert len(seen) == 40 and set(seen) == {(p, o) for p in range(4) for o in range(10)}
    a.stop()
    b.stop()

    # Another group reads every record, whatever the first committed.
    other = client.consumer(topic, name("other"), follow=False)
    got = list(other)
    assert sorted((x.partition, x.offset) for x in got) == sorted(seen)
    assert other.assignment.partitions == {topic: [0, 1, 2, 3]}


@pytest.mark.parametrize("commit_on_revoke", [True, False], ids=["commit-on-revoke", "commit-in-callback"])
def test_a_revoked_partition_moves_right_after_what_its_owner_read(client, commit_on_revoke):
    topic, grp = name("handoff"), name("g")
    client.create_topic(topic, partitions=4)
    produce(client, topic, 4, 10)

    def commit_in_callback(running: Running, a: Assignment) -> None:
        if a.revoked:
            running.consumer.commit()  # still covers the revoked partitions

    a = Running(lambda cb: client.consumer(topic, grp, on_assignment=cb, commit_on_revoke=commit_on_revoke),
                on_assignment=None if commit_on_revoke else commit_in_callback)
    a.wait("the first member to read every record", lambda: len(a.messages) == 40)
    assert a.consumer.committed() == {}  # nothing committed by hand

    b = Running(lambda cb: client.consumer(topic, grp, on_assignment=cb))
    # The revoked partitions move at once: their commit releases them, long
    # before the rebalance timeout would.
    b.wait("the second member to get its partitions", lambda: len(b.owned()) == 2)
    moved = b.owned()
    assert not (a.owned() & moved) and a.owned() | moved == everything(topic, 4)
    committed = a.consumer.committed()
    assert {p: committed.get(p) for _, p in moved} == {p: 10 for _, p in moved}

    produce(client, topic, 4, 5, start=10)
    wait_all("the new records", [a, b], lambda: len(a.messages) == 50 and len(b.messages) == 10)
    # The new owner started right after what the old one read: nothing
    # twice, and nothing of a moved partition read by both.
    assert sorted((x.partition, x.offset) for x in b.messages) == sorted(
        (p, o) for _, p in moved for o in range(10, 15))
    assert all(x.offset < 10 for x in a.messages if (x.topic, x.partition) in moved)
    # The old owner commits as the member it is now: the partitions it kept.
    a.consumer.commit()
    assert {p: o for p, o in a.consumer.committed().items() if (topic, p) in a.owned()} == {
        p: 15 for _, p in a.owned()}
    a.stop()
    b.stop()


def test_a_commit_of_a_partition_taken_away_is_refused(client):
    topic, grp = name("fenced"), name("g")
    client.create_topic(topic, partitions=2)
    a = Running(lambda cb: client.consumer(topic, grp, on_assignment=cb))
    a.wait("the member to own both partitions", lambda: len(a.owned()) == 2)
    produce(client, topic, 2, 1)
    a.wait("both records", lambda: len(a.messages) == 2)
    stale = a.consumer.assignment
    b = Running(lambda cb: client.consumer(topic, grp, on_assignment=cb))
    b.wait("the second member's partition", lambda: len(b.owned()) == 1)
    (_, lost), = b.owned()
    # Done with the revocation: committed and forgotten, then the callback.
    a.wait("the first member's revocation", lambda: any(e.revoked for e in a.events))
    # The member's own commit carries its id and epoch: the broker refuses a
    # partition the member no longer owns, here moving it back (committing
    # again the committed offset, 1, would change nothing, and passes).
    with pytest.raises(grpc.RpcError) as e:
        client.commit.Commit(commit_pb2.CommitRequest(
            group=grp, topic=topic, member_id=stale.member_id, member_epoch=stale.member_epoch,
            offsets=[commit_pb2.PartitionOffset(partition=lost, offset=0)]))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # Its own commit covers only what it still owns (it committed the other
    # when it lost it): accepted.
    a.consumer.commit()
    assert a.consumer.committed() == {0: 1, 1: 1}
    a.stop()
    b.stop()


def test_several_topics_and_a_static_member(client):
    t1, t2, grp = name("multi-a"), name("multi-b"), name("g")
    client.create_topic(t1, partitions=2)
    client.create_topic(t2, partitions=2)
    produce(client, t1, 2, 3)
    produce(client, t2, 2, 3)
    a = Running(lambda cb: client.consumer([t1, t2], grp, instance_id="worker-1", on_assignment=cb))
    a.wait("every record of both topics", lambda: len(a.messages) == 12)
    assert a.consumer.assignment.partitions == {t1: [0, 1], t2: [0, 1]}
    assert {(m.topic, m.partition, m.offset) for m in a.messages} == {
        (t, p, o) for t in (t1, t2) for p in range(2) for o in range(3)}
    a.consumer.commit()  # one commit per topic
    assert a.consumer.committed(t1) == {0: 3, 1: 3} and a.consumer.committed(t2) == {0: 3, 1: 3}
    member_id = a.consumer.assignment.member_id
    a.stop()

    # The same instance, back within the session timeout: the same member
    # with the same partitions, resuming after its commit.
    produce(client, t2, 2, 1, start=3)
    again = Running(lambda cb: client.consumer([t1, t2], grp, instance_id="worker-1", on_assignment=cb))
    again.wait("the restarted member's new records", lambda: len(again.messages) == 2)
    assert again.consumer.assignment.member_id == member_id
    assert again.consumer.assignment.partitions == {t1: [0, 1], t2: [0, 1]}
    assert sorted((m.topic, m.partition, m.offset) for m in again.messages) == [(t2, 0, 3), (t2, 1, 3)]
    again.stop()


def test_manual_assignment_reads_just_its_partitions(client):
    topic, grp = name("manual"), name("g")
    client.create_topic(topic, partitions=3)
    produce(client, topic, 3, 2)
    consumer = client.consumer(topic, grp, partitions=[1], follow=False)
    got = list(consumer)
    assert [(m.partition, m.offset) for m in got] == [(1, 0), (1, 1)]
    assert consumer.assignment is None  # no membership
    consumer.commit()
    assert consumer.committed() == {1: 2}
    assert list(client.consumer(topic, grp, partitions=[1], follow=False)) == []


def test_example_groups(broker):
    result = groups.run(broker.address)
    members = result["members"]
    assert len(members) == 2
    owned = [set(m["partitions"]) for m in members]
    assert owned[0] and owned[1] and not (owned[0] & owned[1]) and owned[0] | owned[1] == {0, 1, 2, 3}
    split = [(x.partition, x.offset) for m in members for x in m["messages"]]
    assert len(split) == len(set(split)) == result["produced"]
    for m in members:
        assert {x.partition for x in m["messages"]} <= set(m["partitions"])
    audit = [(x.partition, x.offset) for x in result["audit"]]
    assert sorted(audit) == sorted(split)
