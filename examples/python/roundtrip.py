"""Runnel from Python: produce keyed records, consume them as a member of
a group, commit, and resume where the group left off.

    python examples/python/roundtrip.py [BROKER]      # default 127.0.0.1:7400

Needs the generated stubs and the SDK on the path:
PYTHONPATH=gen/python:sdk/python (see examples/python/README.md).
"""

from __future__ import annotations

import sys
import uuid

import grpc

from runnel.client import Client


def run(target: str) -> dict:
    topic = "orders-" + uuid.uuid4().hex[:8]
    with Client(target) as client:
        client.create_topic(topic, partitions=3)

        # Produce: ten records over three keys, each with a header.
        with client.producer(topic) as producer:
            for i in range(10):
                key = f"customer-{i % 3}".encode()
                producer.send(f"order {i}".encode(), key=key, headers=[("source", b"python")])

        # Consume six records as a member of group "billing", commit, stop.
        # The broker assigns the member every partition (it is alone in the
        # group); it commits as that member while its stream is open.
        first = client.consumer(topic, "billing")
        seen = []
        for message in first:
            seen.append(message)
            if len(seen) == 6:
                break
        first.commit()
        first.close()

        # A reader of the group's partitions (manual assignment: no
        # membership) resumes after what was committed, and stops at the end.
        rest = list(client.consumer(topic, "billing", partitions=[0, 1, 2], follow=False))

        # Errors are gRPC status codes.
        try:
            list(client.consumer("no-such-topic", "billing", follow=False))
        except grpc.RpcError as e:
            not_found = e.code()

    return {"topic": topic, "first": seen, "rest": rest, "not_found": not_found}


def main() -> None:
    result = run(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7400")
    for label in ("first", "rest"):
        for m in result[label]:
            print(f"{label}: partition {m.partition} offset {m.offset} key={m.key.decode()} "
                  f"value={m.value.decode()} headers={dict(m.headers)}")
    print("an unknown topic gives", result["not_found"].name)


if __name__ == "__main__":
    main()
