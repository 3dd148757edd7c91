package dev.runnel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.runnel.v1.Acl;
import dev.runnel.v1.AclOperation;
import dev.runnel.v1.AclPatternType;
import dev.runnel.v1.AclPermission;
import dev.runnel.v1.AclResourceType;
import dev.runnel.v1.CreateAclsRequest;
import dev.runnel.v1.ListTopicsRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * TLS, client certificates and bearer tokens against a real broker process that enforces ACLs, with
 * certificates made at test time (openssl).
 */
class SecurityTest {
  private static Path dir;
  private static TestBroker broker;
  private static String adminToken;

  private static void run(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (p.waitFor() != 0) {
      throw new IllegalStateException(String.join(" ", command) + ":\n" + out);
    }
  }

  private static File file(String name) {
    return dir.resolve(name).toFile();
  }

  @BeforeAll
  static void start() throws Exception {
    dir = Files.createTempDirectory("runnel-java-tls-");
    String[] key = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"};
    List<String> ca = new ArrayList<>(List.of("openssl", "req", "-x509"));
    ca.addAll(List.of(key));
    ca.addAll(List.of("-keyout", file("ca.key").toString(), "-out", file("ca.pem").toString(), "-days", "1", "-subj", "/CN=test CA"));
    run(ca.toArray(String[]::new));
    for (String[] cert : new String[][] {
        {"broker", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"},
        {"alice", "extendedKeyUsage=clientAuth\n"}}) {
      String name = cert[0];
      Files.writeString(dir.resolve(name + ".ext"), cert[1]);
      List<String> req = new ArrayList<>(List.of("openssl", "req"));
      req.addAll(List.of(key));
      req.addAll(List.of("-keyout", file(name + ".key").toString(), "-out", file(name + ".csr").toString(), "-subj", "/CN=" + name));
      run(req.toArray(String[]::new));
      run("openssl", "x509", "-req", "-in", file(name + ".csr").toString(), "-CA", file("ca.pem").toString(),
          "-CAkey", file("ca.key").toString(), "-CAcreateserial", "-out", file(name + ".pem").toString(), "-days", "1",
          "-extfile", file(name + ".ext").toString());
    }
    String bin = System.getenv().getOrDefault("RUNNEL_BIN", "../../bin/runnel");
    Process p = new ProcessBuilder(bin, "token", "create", "User:admin").start();
    String[] out = new String(p.getInputStream().readAllBytes()).trim().split("\n");
    assertEquals(0, p.waitFor());
    adminToken = out[0].replaceFirst("^token: ", "");
    Files.writeString(dir.resolve("tokens"), out[out.length - 1] + "\n");
    broker = TestBroker.start("--tls-cert", file("broker.pem").toString(), "--tls-key", file("broker.key").toString(),
        "--tls-client-ca", file("ca.pem").toString(), "--token-file", file("tokens").toString(), "--authorization",
        "--superusers", "User:admin");
  }

  @AfterAll
  static void stop() throws Exception {
    broker.stop();
  }

  private static RunnelClient.Options alice() {
    return new RunnelClient.Options().tlsCa(file("ca.pem")).tlsCert(file("alice.pem"), file("alice.key"));
  }

  private static Acl acl(AclResourceType type, String name, AclOperation op) {
    return Acl.newBuilder().setPrincipal("User:alice").setResourceType(type).setResourceName(name)
        .setPatternType(AclPatternType.ACL_PATTERN_TYPE_LITERAL).setOperation(op)
        .setPermission(AclPermission.ACL_PERMISSION_ALLOW).build();
  }

  @Test
  void plaintextIsRefused() {
    try (RunnelClient client = new RunnelClient(broker.address())) {
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
          () -> client.admin.withDeadlineAfter(5, TimeUnit.SECONDS).listTopics(ListTopicsRequest.getDefaultInstance()));
      assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
    }
  }

  @Test
  void certificateAndTokenPrincipals() throws Exception {
    try (RunnelClient alice = new RunnelClient(broker.address(), alice());
        RunnelClient admin = new RunnelClient(broker.address(), alice().token(adminToken))) {
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> alice.createTopic("java-secure", 1, Map.of(), false));
      assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode());
      assertTrue(e.getStatus().getDescription().contains("principal \"User:alice\" is not allowed to create on topic \"java-secure\""),
          e.getStatus().getDescription());
      admin.createTopic("java-secure", 1, Map.of(), false);
      admin.admin.createAcls(CreateAclsRequest.newBuilder()
          .addAcls(acl(AclResourceType.ACL_RESOURCE_TYPE_TOPIC, "java-secure", AclOperation.ACL_OPERATION_PRODUCE))
          .addAcls(acl(AclResourceType.ACL_RESOURCE_TYPE_TOPIC, "java-secure", AclOperation.ACL_OPERATION_CONSUME))
          .addAcls(acl(AclResourceType.ACL_RESOURCE_TYPE_GROUP, "java", AclOperation.ACL_OPERATION_CONSUME)).build());
      try (Producer producer = alice.producer("java-secure", 0)) {
        for (int i = 0; i < 3; i++) {
          producer.send(ByteString.EMPTY, ByteString.copyFromUtf8("secret " + i), Map.of());
        }
        producer.flush();
      }
      List<String> got = new ArrayList<>();
      try (Consumer c = alice.consumer("java-secure", "java", new Consumer.Options().partitions(List.of(0)).follow(false))) {
        for (Message m : c) {
          got.add(m.value().toStringUtf8());
        }
      }
      assertEquals(List.of("secret 0", "secret 1", "secret 2"), got);
    }
  }

  @Test
  void aBadTokenIsUnauthenticated() {
    try (RunnelClient client = new RunnelClient(broker.address(), alice().token("not-a-token"))) {
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
          () -> client.admin.listTopics(ListTopicsRequest.getDefaultInstance()));
      assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    }
  }

  @Test
  void aCertificateWithoutItsKeyIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> new RunnelClient.Options().tlsCert(new File("x.pem"), null));
  }
}
