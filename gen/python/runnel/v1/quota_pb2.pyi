from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Quota(_message.Message):
    __slots__ = ("principal", "is_default", "produce_bytes_per_sec", "consume_bytes_per_sec", "requests_per_sec")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    PRODUCE_BYTES_PER_SEC_FIELD_NUMBER: _ClassVar[int]
    CONSUME_BYTES_PER_SEC_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SEC_FIELD_NUMBER: _ClassVar[int]
    principal: str
    is_default: bool
    produce_bytes_per_sec: float
    consume_bytes_per_sec: float
    requests_per_sec: float
    def __init__(self, principal: _Optional[str] = ..., is_default: _Optional[bool] = ..., produce_bytes_per_sec: _Optional[float] = ..., consume_bytes_per_sec: _Optional[float] = ..., requests_per_sec: _Optional[float] = ...) -> None: ...

class SetQuotaRequest(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: Quota
    def __init__(self, quota: _Optional[_Union[Quota, _Mapping]] = ...) -> None: ...

class SetQuotaResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListQuotasRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListQuotasResponse(_message.Message):
    __slots__ = ("quotas",)
    QUOTAS_FIELD_NUMBER: _ClassVar[int]
    quotas: _containers.RepeatedCompositeFieldContainer[Quota]
    def __init__(self, quotas: _Optional[_Iterable[_Union[Quota, _Mapping]]] = ...) -> None: ...

class DeleteQuotaRequest(_message.Message):
    __slots__ = ("principal", "is_default")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    principal: str
    is_default: bool
    def __init__(self, principal: _Optional[str] = ..., is_default: _Optional[bool] = ...) -> None: ...

class DeleteQuotaResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...
