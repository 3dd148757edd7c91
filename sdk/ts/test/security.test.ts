import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

import { RunnelClient } from "../src/client.js";
import { Broker } from "../src/testing.js";
import { AclOperation, AclPatternType, AclPermission, AclResourceType, AclSchema } from "../../../gen/ts/runnel/v1/acl_pb.js";

// TLS, client certificates and bearer tokens against a real broker process
// that enforces ACLs, with certificates made at test time (openssl).

const dir = mkdtempSync(join(tmpdir(), "runnel-ts-tls-"));
const path = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

let broker: Broker;
let adminToken: string;
const aliceTLS = () => ({ tlsCa: path("ca.pem"), tlsCert: path("alice.pem"), tlsKey: path("alice.key") });

before(async () => {
  openssl("req", "-x509", ...key, "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "1", "-subj", "/CN=test CA");
  for (const [name, ext] of [["broker", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"], ["alice", "extendedKeyUsage=clientAuth\n"]]) {
    writeFileSync(path(`${name}.ext`), ext);
    openssl("req", ...key, "-keyout", path(`${name}.key`), "-out", path(`${name}.csr`), "-subj", `/CN=${name}`);
    openssl("x509", "-req", "-in", path(`${name}.csr`), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
      "-out", path(`${name}.pem`), "-days", "1", "-extfile", path(`${name}.ext`));
  }
  const binary = process.env.RUNNEL_BIN ?? "bin/runnel";
  const out = execFileSync(binary, ["token", "create", "User:admin"], { encoding: "utf8" }).trim().split("\n");
  adminToken = out[0].replace(/^token: /, "");
  writeFileSync(path("tokens"), out[out.length - 1] + "\n");
  broker = await Broker.start(binary, 60_000, ["--tls-cert", path("broker.pem"), "--tls-key", path("broker.key"),
    "--tls-client-ca", path("ca.pem"), "--token-file", path("tokens"), "--authorization", "--superusers", "User:admin"]);
});
after(async () => {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("plaintext is refused by a TLS broker", async () => {
  const client = new RunnelClient(broker.address);
  try {
    // NB: connect-node reports the TLS listener closing its plaintext
    // HTTP/2 stream as CANCEL, grpc-go's clients as UNAVAILABLE.
    await assert.rejects(client.admin.listTopics({}, { timeoutMs: 5000 }),
      (e) => [Code.Unavailable, Code.Canceled].includes(ConnectError.from(e).code));
  } finally {
    client.close();
  }
});

test("a certificate's principal and a token's, under ACLs", async () => {
  const alice = new RunnelClient(broker.address, aliceTLS());
  const admin = new RunnelClient(broker.address, { token: adminToken, ...aliceTLS() });
  try {
    await assert.rejects(alice.createTopic("ts-secure"), (e) => {
      const err = ConnectError.from(e);
      return err.code === Code.PermissionDenied && err.rawMessage.includes('principal "User:alice" is not allowed to create on topic "ts-secure"');
    });
    await admin.createTopic("ts-secure");
    const acl = (resourceType: AclResourceType, resourceName: string, operation: AclOperation) => create(AclSchema, {
      principal: "User:alice", resourceType, resourceName, patternType: AclPatternType.LITERAL, operation, permission: AclPermission.ALLOW });
    await admin.admin.createAcls({ acls: [acl(AclResourceType.TOPIC, "ts-secure", AclOperation.PRODUCE),
      acl(AclResourceType.TOPIC, "ts-secure", AclOperation.CONSUME), acl(AclResourceType.GROUP, "ts", AclOperation.CONSUME)] });
    const producer = alice.producer("ts-secure");
    for (let i = 0; i < 3; i++) void producer.send(`secret ${i}`);
    await producer.close();
    const got: string[] = [];
    for await (const m of alice.consumer("ts-secure", "ts", { partitions: [0], follow: false })) got.push(new TextDecoder().decode(m.value));
    assert.deepEqual(got, ["secret 0", "secret 1", "secret 2"]);
  } finally {
    alice.close();
    admin.close();
  }
});

test("a bad token is unauthenticated", async () => {
  const client = new RunnelClient(broker.address, { token: "not-a-token", ...aliceTLS() });
  try {
    await assert.rejects(client.admin.listTopics({}), (e) => ConnectError.from(e).code === Code.Unauthenticated);
  } finally {
    client.close();
  }
});

test("a certificate without its key is refused at once", () => {
  assert.throws(() => new RunnelClient("127.0.0.1:1", { tlsCert: "x.pem" }), /tlsCert and tlsKey go together/);
});
