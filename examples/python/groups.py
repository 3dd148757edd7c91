"""Runnel from Python: two members of group "billing" split a topic's
partitions between them, and group "audit" reads every record.

    python examples/python/groups.py [BROKER]      # default 127.0.0.1:7400

The broker assigns the partitions (each to one member of a group) and tells
each member with an assignment event; the SDK passes every event to
``on_assignment``. Needs PYTHONPATH=gen/python:sdk/python (see README.md).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid

from runnel.client import Assignment, Client

RECORDS = 20


def run(target: str, timeout: float = 30.0) -> dict:
    topic = "orders-" + uuid.uuid4().hex[:8]
    with Client(target) as client:
        client.create_topic(topic, partitions=4)

        # Two members of "billing", each iterating on its own thread.
        changed = threading.Condition()
        received: "list[list]" = [[], []]

        def on_assignment(a: Assignment) -> None:
            print(f"member {a.member_id[:8]} epoch {a.member_epoch}: owns {a.partitions.get(topic, [])}"
                  f", lost {a.revoked.get(topic, [])}")
            with changed:
                changed.notify_all()

        members = [client.consumer(topic, "billing", on_assignment=on_assignment) for _ in range(2)]

        def consume(i: int) -> None:
            for message in members[i]:
                with changed:
                    received[i].append(message)
                    changed.notify_all()

        threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()

        def owned(i: int) -> "list[int]":
            a = members[i].assignment
            return [] if a is None else a.partitions.get(topic, [])

        def wait(what: str, done) -> None:
            with changed:
                if not changed.wait_for(done, timeout):
                    raise TimeoutError(what)

        # Wait until the broker has split the partitions: 2 each.
        wait("the split", lambda: len(owned(0)) == 2 and len(owned(1)) == 2)

        # Produce: keyed records, spread over the partitions.
        with client.producer(topic) as producer:
            for i in range(RECORDS):
                producer.send(f"order {i}".encode(), key=f"customer-{i}".encode())

        # Between them, the members get every record once.
        wait("every record", lambda: len(received[0]) + len(received[1]) >= RECORDS)
        split = [{"member_id": members[i].assignment.member_id, "partitions": owned(i),
                  "messages": list(received[i])} for i in range(2)]
        for m in members:
            m.commit()  # as the member it is: its id and epoch
            m.close()
        for t in threads:
            t.join(10)

        # Another group reads every record, whatever "billing" did.
        audit = list(client.consumer(topic, "audit", follow=False))

    return {"topic": topic, "produced": RECORDS, "members": split, "audit": audit}


def main() -> None:
    start = time.monotonic()
    result = run(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7400")
    for m in result["members"]:
        print(f"billing member {m['member_id'][:8]} read partitions {m['partitions']}: "
              f"{len(m['messages'])} records")
    print(f"audit read {len(result['audit'])} records ({time.monotonic() - start:.1f}s)")


if __name__ == "__main__":
    main()
