"""Compressed batches, produced through the stub, consumed through the SDK
from a real broker process."""

from __future__ import annotations

import gzip

import cramjam
import grpc
import lz4.frame
import pytest
import zstandard
from google.protobuf import timestamp_pb2

from runnel import compression
from runnel.client import Client
from runnel.testing import Broker
from runnel.v1 import commit_pb2, produce_pb2, record_pb2, subscribe_pb2

COMPRESSORS = {
    record_pb2.COMPRESSION_GZIP: gzip.compress,
    record_pb2.COMPRESSION_SNAPPY: lambda b: bytes(cramjam.snappy.compress_raw(b)),
    record_pb2.COMPRESSION_LZ4: lz4.frame.compress,
    record_pb2.COMPRESSION_ZSTD: zstandard.ZstdCompressor().compress,
}
CODECS = sorted(COMPRESSORS)
BATCH = 5  # records per compressed batch


def codec_name(c: int) -> str:
    return record_pb2.Compression.Name(c)


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def record(i: int) -> record_pb2.Record:
    ts = timestamp_pb2.Timestamp()
    ts.FromMilliseconds(1_700_000_000_000 + i)
    return record_pb2.Record(key=f"k{i}".encode(), value=f"value {i}".encode() * 20,
                             headers=[record_pb2.Header(key="i", value=str(i).encode())], timestamp=ts)


def compressed(codec: int, records: "list[record_pb2.Record]") -> record_pb2.CompressedRecords:
    plain = b"".join(uvarint(len(b)) + b for b in (r.SerializeToString() for r in records))
    return record_pb2.CompressedRecords(compression=codec, data=COMPRESSORS[codec](plain),
                                        record_count=len(records))


def produce_compressed(client: Client, topic: str, codec: int, batches: int) -> None:
    """batches compressed batches of BATCH records each to partition 0."""
    reqs = [produce_pb2.ProduceRequest(topic=topic, partition=0, correlation_id=b + 1,
                                       compressed_records=compressed(codec, [record(b * BATCH + j) for j in range(BATCH)]))
            for b in range(batches)]
    resps = list(client.produce.Produce(iter(reqs)))
    assert len(resps) == batches
    for r in resps:
        assert not r.HasField("error"), r.error
    assert sorted(r.acks[0].base_offset for r in resps) == [b * BATCH for b in range(batches)]


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


@pytest.fixture(scope="module")
def topics(broker):
    """A topic per codec holding three compressed batches: offsets 0-14."""
    with Client(broker.address) as client:
        for c in CODECS:
            client.create_topic(f"z-{codec_name(c)}", partitions=1)
            produce_compressed(client, f"z-{codec_name(c)}", c, 3)
    return {c: f"z-{codec_name(c)}" for c in CODECS}


def check(messages, first: int, last: int) -> None:
    assert [m.offset for m in messages] == list(range(first, last))
    for m in messages:
        want = record(m.offset)
        assert (m.key, m.value, m.headers) == (want.key, want.value, [("i", str(m.offset).encode())])
        assert m.timestamp_ms == want.timestamp.ToMilliseconds()


@pytest.mark.parametrize("codec", CODECS, ids=codec_name)
def test_broker_delivers_the_codec_as_stored_to_a_subscriber_that_accepts_it(broker, topics, codec):
    with Client(broker.address) as client:
        req = subscribe_pb2.SubscribeRequest(topic=topics[codec], partitions=[0], accept_compression=compression.ACCEPTED)
        batches = [r.batch for r in client.subscribe.Subscribe(req)]
        assert [(b.compressed.compression, b.compressed.base_offset, b.compressed.record_count, len(b.records))
                for b in batches] == [(codec, 0, BATCH, 0), (codec, 5, BATCH, 0), (codec, 10, BATCH, 0)]
        # Without accept_compression, plain records.
        plain = [r.batch for r in client.subscribe.Subscribe(subscribe_pb2.SubscribeRequest(topic=topics[codec]))]
        assert not any(b.HasField("compressed") for b in plain)
        assert [r.offset for b in plain for r in b.records] == list(range(15))


class _Recorder(grpc.UnaryStreamClientInterceptor):
    def __init__(self):
        self.subscribes: "list[subscribe_pb2.SubscribeRequest]" = []

    def intercept_unary_stream(self, continuation, details, request):
        if isinstance(request, subscribe_pb2.SubscribeRequest):
            self.subscribes.append(request)
        return continuation(details, request)


@pytest.mark.parametrize("member", [False, True], ids=["partitions", "member"])
def test_consumer_accepts_every_codec_it_decodes(broker, topics, member):
    rec = _Recorder()
    with grpc.insecure_channel(broker.address) as ch, Client(channel=grpc.intercept_channel(ch, rec)) as client:
        c = client.consumer(topics[record_pb2.COMPRESSION_ZSTD], f"accepts-{member}",
                            partitions=() if member else [0], follow=False)
        check(list(c), 0, 15)
        c.close()
    assert [list(r.accept_compression) for r in rec.subscribes] == [CODECS]
    assert list(compression.ACCEPTED) == CODECS


@pytest.mark.parametrize("codec", CODECS, ids=codec_name)
def test_consumer_decodes_compressed_batches(broker, topics, codec):
    with Client(broker.address) as client:
        c = client.consumer(topics[codec], f"all-{codec}", partitions=[0], follow=False)
        check(list(c), 0, 15)
        c.close()


@pytest.mark.parametrize("codec", CODECS, ids=codec_name)
@pytest.mark.parametrize("member", [False, True], ids=["partitions", "member"])
def test_consumer_starting_inside_a_compressed_batch_skips_what_is_before(broker, topics, codec, member):
    group = f"mid-{codec}-{member}"
    with Client(broker.address) as client:
        client.commit.Commit(commit_pb2.CommitRequest(group=group, topic=topics[codec],
                                                      offsets=[commit_pb2.PartitionOffset(partition=0, offset=7)]))
        c = client.consumer(topics[codec], group, partitions=() if member else [0], follow=False)
        got = []
        for m in c:
            got.append(m)
            if m.offset == 11:
                c.commit()  # a position inside the third batch
                break
        check(got, 7, 12)
        c.close()
        # A later consumer of the group resumes inside that batch.
        c = client.consumer(topics[codec], group, partitions=() if member else [0], follow=False)
        check(list(c), 12, 15)
        c.close()


def test_plain_and_compressed_batches_interleave(broker):
    with Client(broker.address) as client:
        client.create_topic("mixed", partitions=1)
        produce_compressed(client, "mixed", record_pb2.COMPRESSION_LZ4, 1)  # 0-4
        with client.producer("mixed", partition=0) as p:
            p.send(b"plain 5")
        resps = list(client.produce.Produce(iter([produce_pb2.ProduceRequest(
            topic="mixed", partition=0, correlation_id=1,
            compressed_records=compressed(record_pb2.COMPRESSION_GZIP, [record(6), record(7)]))])))
        assert resps[0].acks[0].base_offset == 6
        c = client.consumer("mixed", "mixed", partitions=[0], follow=False)
        got = list(c)
        c.close()
        assert [m.offset for m in got] == list(range(8))
        assert got[5].value == b"plain 5"
        assert [m.value for m in got[6:]] == [record(6).value, record(7).value]


def test_an_lz4_frame_of_linked_blocks(broker):
    # NB: liblz4's default: blocks that refer to the ones before them; the
    # broker stores such frames as they come.
    with Client(broker.address) as client:
        client.create_topic("linked", partitions=1)
        plain = plain_bytes([record(i) for i in range(2000)])
        assert len(plain) > 4 * 65536
        data = lz4.frame.compress(plain, block_size=lz4.frame.BLOCKSIZE_MAX64KB, block_linked=True,
                                  content_checksum=True)
        resps = list(client.produce.Produce(iter([produce_pb2.ProduceRequest(
            topic="linked", partition=0, correlation_id=1, compressed_records=record_pb2.CompressedRecords(
                compression=record_pb2.COMPRESSION_LZ4, data=data, record_count=2000))])))
        assert not resps[0].HasField("error")
        c = client.consumer("linked", "linked", partitions=[0], follow=False)
        check(list(c), 0, 2000)
        c.close()


# batch_records on its own: what a broker never sends, and a hostile one might.

def batch(codec: int, data: bytes, count: int, base: int = 0) -> record_pb2.RecordBatch:
    return record_pb2.RecordBatch(topic="t", partition=3, compressed=record_pb2.CompressedRecords(
        compression=codec, data=data, record_count=count, base_offset=base))


def plain_bytes(records) -> bytes:
    return b"".join(uvarint(len(b)) + b for b in (r.SerializeToString() for r in records))


@pytest.mark.parametrize("codec", CODECS, ids=codec_name)
def test_batch_records_gives_offsets_and_skips(codec):
    data = COMPRESSORS[codec](plain_bytes([record(i) for i in range(4)]))
    got = compression.batch_records(batch(codec, data, 4, base=100), start=102)
    assert [(r.offset, r.value) for r in got] == [(102, record(2).value), (103, record(3).value)]


@pytest.mark.parametrize("codec", CODECS, ids=codec_name)
def test_a_bomb_stops_at_the_bound(codec):
    # NB: all zeros: one varint length and then nothing but empty records,
    # 1 MiB past the bound.
    data = COMPRESSORS[codec](bytes(compression.MAX_DECOMPRESSED_BYTES + (1 << 20)))
    with pytest.raises(compression.CompressionError, match=r"t/3 batch at offset 0: .*more than 33619968 bytes"):
        compression.batch_records(batch(codec, data, 1))


@pytest.mark.parametrize("codec", CODECS, ids=codec_name)
def test_damage_raises_a_clear_error(codec):
    good = COMPRESSORS[codec](plain_bytes([record(i) for i in range(4)]))
    for data in (b"\x17not " + good, good[: len(good) // 2], good[:-3]):
        with pytest.raises(compression.CompressionError, match=r"^runnel: t/3 batch at offset 0: "):
            compression.batch_records(batch(codec, data, 4))
    if codec != record_pb2.COMPRESSION_SNAPPY:  # a raw snappy block has no end to miss
        with pytest.raises(compression.CompressionError, match="truncated|end of"):
            compression.batch_records(batch(codec, good[:-3], 4))
    with pytest.raises(compression.CompressionError, match="holds 4 records, not the 5 it declares"):
        compression.batch_records(batch(codec, good, 5))
    with pytest.raises(compression.CompressionError, match="malformed after 3 of its 3 records"):
        compression.batch_records(batch(codec, good, 3))
    garbage = COMPRESSORS[codec](uvarint(3) + b"\xff\xff\xff")
    with pytest.raises(compression.CompressionError, match="t/3 record at offset 0"):
        compression.batch_records(batch(codec, garbage, 1))


def test_an_unknown_codec_is_an_error():
    with pytest.raises(compression.CompressionError, match="compression 9"):
        compression.batch_records(batch(9, b"x", 1))
