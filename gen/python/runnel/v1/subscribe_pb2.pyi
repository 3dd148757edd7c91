import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from runnel.v1 import record_pb2 as _record_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StartPosition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    START_POSITION_UNSPECIFIED: _ClassVar[StartPosition]
    START_POSITION_EARLIEST: _ClassVar[StartPosition]
    START_POSITION_LATEST: _ClassVar[StartPosition]
    START_POSITION_OFFSET: _ClassVar[StartPosition]
    START_POSITION_TIMESTAMP: _ClassVar[StartPosition]
    START_POSITION_COMMITTED: _ClassVar[StartPosition]
START_POSITION_UNSPECIFIED: StartPosition
START_POSITION_EARLIEST: StartPosition
START_POSITION_LATEST: StartPosition
START_POSITION_OFFSET: StartPosition
START_POSITION_TIMESTAMP: StartPosition
START_POSITION_COMMITTED: StartPosition

class SubscribeRequest(_message.Message):
    __slots__ = ("topic", "partitions", "start_position", "start_offset", "start_time", "group", "follow", "max_batch_bytes", "topics", "member_id", "instance_id", "auto_commit_interval", "accept_compression")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    START_POSITION_FIELD_NUMBER: _ClassVar[int]
    START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_BYTES_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    AUTO_COMMIT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partitions: _containers.RepeatedScalarFieldContainer[int]
    start_position: StartPosition
    start_offset: int
    start_time: _timestamp_pb2.Timestamp
    group: str
    follow: bool
    max_batch_bytes: int
    topics: _containers.RepeatedScalarFieldContainer[str]
    member_id: str
    instance_id: str
    auto_commit_interval: _duration_pb2.Duration
    accept_compression: _containers.RepeatedScalarFieldContainer[_record_pb2.Compression]
    def __init__(self, topic: _Optional[str] = ..., partitions: _Optional[_Iterable[int]] = ..., start_position: _Optional[_Union[StartPosition, str]] = ..., start_offset: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group: _Optional[str] = ..., follow: _Optional[bool] = ..., max_batch_bytes: _Optional[int] = ..., topics: _Optional[_Iterable[str]] = ..., member_id: _Optional[str] = ..., instance_id: _Optional[str] = ..., auto_commit_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., accept_compression: _Optional[_Iterable[_Union[_record_pb2.Compression, str]]] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("batch", "assignment")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    batch: _record_pb2.RecordBatch
    assignment: GroupAssignment
    def __init__(self, batch: _Optional[_Union[_record_pb2.RecordBatch, _Mapping]] = ..., assignment: _Optional[_Union[GroupAssignment, _Mapping]] = ...) -> None: ...

class GroupAssignment(_message.Message):
    __slots__ = ("group", "member_id", "group_epoch", "member_epoch", "partitions", "revoked")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_EPOCH_FIELD_NUMBER: _ClassVar[int]
    MEMBER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    group: str
    member_id: str
    group_epoch: int
    member_epoch: int
    partitions: _containers.RepeatedCompositeFieldContainer[_record_pb2.TopicPartitions]
    revoked: _containers.RepeatedCompositeFieldContainer[_record_pb2.TopicPartitions]
    def __init__(self, group: _Optional[str] = ..., member_id: _Optional[str] = ..., group_epoch: _Optional[int] = ..., member_epoch: _Optional[int] = ..., partitions: _Optional[_Iterable[_Union[_record_pb2.TopicPartitions, _Mapping]]] = ..., revoked: _Optional[_Iterable[_Union[_record_pb2.TopicPartitions, _Mapping]]] = ...) -> None: ...
