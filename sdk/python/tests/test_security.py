"""TLS, client certificates and bearer tokens against a real broker process
that enforces ACLs, with certificates made at test time (openssl)."""

from __future__ import annotations

import os
import subprocess
import tempfile

import grpc
import pytest

from runnel.client import Client
from runnel.v1 import acl_pb2, admin_pb2


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _certificates(d: str) -> dict:
    """A CA, a broker certificate for 127.0.0.1 and a client one for alice."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *key, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem", "-days", "1", "-subj", "/CN=test CA")
    for name, ext in (("broker", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"),
                      ("alice", "extendedKeyUsage=clientAuth\n")):
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        _openssl("req", *key, "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr", "-subj", f"/CN={name}")
        _openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
                 "-CAcreateserial", "-out", f"{d}/{name}.pem", "-days", "1", "-extfile", f"{d}/{name}.ext")
    return {n: f"{d}/{n}" for n in ("ca.pem", "broker.pem", "broker.key", "alice.pem", "alice.key")}


@pytest.fixture(scope="module")
def secured():
    from runnel.testing import Broker
    with tempfile.TemporaryDirectory() as d:
        certs = _certificates(d)
        runnel = os.environ.get("RUNNEL_BIN") or "bin/runnel"
        line = subprocess.run([runnel, "token", "create", "User:admin"], check=True, capture_output=True, text=True).stdout
        token = line.split("\n")[0].removeprefix("token: ")
        with open(f"{d}/tokens", "w") as f:
            f.write(line.strip().split("\n")[-1] + "\n")
        args = ["--tls-cert", certs["broker.pem"], "--tls-key", certs["broker.key"], "--tls-client-ca", certs["ca.pem"],
                "--token-file", f"{d}/tokens", "--authorization", "--superusers", "User:admin"]
        with Broker(args=args) as b:
            yield b, certs, token


def test_plaintext_is_refused(secured):
    broker, _, _ = secured
    with Client(broker.address) as client:
        with pytest.raises(grpc.RpcError) as e:
            client.admin.ListTopics(admin_pb2.ListTopicsRequest(), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_certificate_and_token_principals(secured):
    broker, certs, admin_token = secured
    tls = dict(tls_ca=certs["ca.pem"], tls_cert=certs["alice.pem"], tls_key=certs["alice.key"])
    # The certificate alone: principal User:alice, whom no ACL allows yet.
    with Client(broker.address, **tls) as alice:
        with pytest.raises(grpc.RpcError) as e:
            alice.create_topic("py-secure", partitions=1)
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert 'principal "User:alice" is not allowed to create on topic "py-secure"' in e.value.details()
    # The token: the superuser, who creates the topic and alice's ACLs.
    with Client(broker.address, token=admin_token, **tls) as admin:
        admin.create_topic("py-secure", partitions=1)
        admin.admin.CreateAcls(acl_pb2.CreateAclsRequest(acls=[
            acl_pb2.Acl(principal="User:alice", resource_type=acl_pb2.ACL_RESOURCE_TYPE_TOPIC, resource_name="py-secure",
                        pattern_type=acl_pb2.ACL_PATTERN_TYPE_LITERAL, operation=op, permission=acl_pb2.ACL_PERMISSION_ALLOW)
            for op in (acl_pb2.ACL_OPERATION_PRODUCE, acl_pb2.ACL_OPERATION_CONSUME)] + [
            acl_pb2.Acl(principal="User:alice", resource_type=acl_pb2.ACL_RESOURCE_TYPE_GROUP, resource_name="py",
                        pattern_type=acl_pb2.ACL_PATTERN_TYPE_LITERAL, operation=acl_pb2.ACL_OPERATION_CONSUME,
                        permission=acl_pb2.ACL_PERMISSION_ALLOW)]))
    # Now alice produces and consumes, over mTLS, as allowed.
    with Client(broker.address, **tls) as alice:
        with alice.producer("py-secure") as producer:
            for i in range(3):
                producer.send(f"secret {i}".encode())
        got = [m.value for m in alice.consumer("py-secure", "py", partitions=[0], follow=False)]
        assert got == [b"secret 0", b"secret 1", b"secret 2"]


def test_a_bad_token_is_unauthenticated(secured):
    broker, certs, _ = secured
    with Client(broker.address, token="not-a-token", tls_ca=certs["ca.pem"], tls_cert=certs["alice.pem"],
                tls_key=certs["alice.key"]) as client:
        with pytest.raises(grpc.RpcError) as e:
            client.admin.ListTopics(admin_pb2.ListTopicsRequest(), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_cert_without_key_is_refused_at_once():
    with pytest.raises(ValueError, match="tls_cert and tls_key go together"):
        Client("127.0.0.1:1", tls_cert="x.pem")
