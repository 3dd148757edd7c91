package dev.runnel.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code runnel sidecar} process ($RUNNEL_BIN) in front of an upstream broker, on ports the kernel
 * chose, over a fresh spool directory: the address it serves the broker API on, and its backlog
 * ({@code /status} on its HTTP listener).
 */
final class TestSidecar implements AutoCloseable {
  // The ready file is one flat JSON object of strings and numbers, as the broker's (TestBroker).
  private static final Pattern FIELD = Pattern.compile("\"(grpc|http|pid)\"\\s*:\\s*\"?([^\",}]+)\"?");
  // /status's top-level count of records the cluster has not acknowledged; the per-partition
  // entries name theirs "waiting", so this one is unique.
  private static final Pattern WAITING = Pattern.compile("\"records_waiting\"\\s*:\\s*(\\d+)");

  private final Process process;
  private final String address;
  private final String httpAddress;
  private final StringBuffer log;
  private final HttpClient http = HttpClient.newHttpClient();

  private TestSidecar(Process process, String address, String httpAddress, StringBuffer log) {
    this.process = process;
    this.address = address;
    this.httpAddress = httpAddress;
    this.log = log;
  }

  String address() {
    return address;
  }

  /** The sidecar's /status, as JSON text. */
  String status() throws IOException, InterruptedException {
    HttpResponse<String> resp = http.send(HttpRequest.newBuilder(URI.create("http://" + httpAddress + "/status"))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    if (resp.statusCode() != 200) {
      throw new IllegalStateException(httpAddress + "/status answered " + resp.statusCode() + ": " + resp.body());
    }
    return resp.body();
  }

  /** Spooled records the cluster has not acknowledged yet (/status's records_waiting). */
  long recordsWaiting() throws IOException, InterruptedException {
    String status = status();
    Matcher m = WAITING.matcher(status);
    if (!m.find()) {
      throw new IllegalStateException("/status has no records_waiting: " + status);
    }
    return Long.parseLong(m.group(1));
  }

  /** Returns once the sidecar has no record the cluster has not acknowledged. */
  void waitForwarded() throws IOException, InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (recordsWaiting() > 0) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the sidecar still has records waiting after 60 s: " + status() + "; stderr:\n" + log);
      }
      Thread.sleep(50);
    }
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy(); // SIGTERM: graceful
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly();
    }
  }

  /** Starts a sidecar in front of upstream and returns once it serves: once it has written its ready file. */
  static TestSidecar start(String upstream) throws IOException, InterruptedException {
    String bin = System.getenv().getOrDefault("RUNNEL_BIN", "../../bin/runnel");
    Path dir = Files.createTempDirectory("runnel-java-sidecar-");
    Path readyFile = dir.resolve("ready.json");
    Process p = new ProcessBuilder(bin, "sidecar", "--upstream", upstream, "--data-dir", dir.resolve("spool").toString(),
        "--ready-file", readyFile.toString(), "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
        .redirectErrorStream(true).start();
    StringBuffer log = new StringBuffer();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
        for (String line; (line = r.readLine()) != null; ) {
          log.append(line).append('\n');
        }
      } catch (IOException e) {
        log.append("(reading the sidecar's output: ").append(e).append(")\n");
      }
    });
    reader.setDaemon(true);
    reader.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    // NB: the sidecar writes the file whole or not at all (a rename): its absence, or another
    // process's, is the only reason to wait.
    for (;;) {
      String ready = "";
      try {
        ready = Files.readString(readyFile);
      } catch (java.nio.file.NoSuchFileException e) {
        // not yet
      }
      String grpc = null, httpAddr = null, pid = null;
      for (Matcher m = FIELD.matcher(ready); m.find(); ) {
        switch (m.group(1)) {
          case "grpc" -> grpc = m.group(2);
          case "http" -> httpAddr = m.group(2);
          default -> pid = m.group(2).trim();
        }
      }
      if (String.valueOf(p.pid()).equals(pid)) {
        if (grpc == null || httpAddr == null) {
          p.destroyForcibly();
          throw new IllegalStateException("ready file " + readyFile + " lacks an address: " + ready);
        }
        return new TestSidecar(p, grpc, httpAddr, log);
      }
      if (!p.isAlive()) {
        reader.join(1000);
        throw new IllegalStateException("sidecar exited (" + p.exitValue() + ") before writing its ready file; output:\n" + log);
      }
      if (System.nanoTime() > deadline) {
        p.destroyForcibly();
        throw new IllegalStateException("sidecar wrote no ready file (" + readyFile + ") within 60 s; output:\n" + log);
      }
      Thread.sleep(20);
    }
  }
}
