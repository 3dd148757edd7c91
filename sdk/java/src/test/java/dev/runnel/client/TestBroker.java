package dev.runnel.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A {@code runnel serve} process ($RUNNEL_BIN) on ports the kernel chose, and the address it serves on. */
record TestBroker(Process process, String address) {
  // The ready file (runnel serve --ready-file) is one flat JSON object of
  // strings and numbers: a pattern reads its "grpc" field without a JSON
  // library the SDK does not need otherwise.
  private static final Pattern GRPC_FIELD = Pattern.compile("\"grpc\"\\s*:\\s*\"([^\"]+)\"");

  void stop() throws InterruptedException {
    process.destroy(); // SIGTERM: graceful
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly();
    }
  }

  /** Starts a broker and returns once it serves: once it has written its ready file. */
  static TestBroker start() throws IOException, InterruptedException {
    String bin = System.getenv().getOrDefault("RUNNEL_BIN", "../../bin/runnel");
    Path dir = Files.createTempDirectory("runnel-java-");
    Path readyFile = dir.resolve("ready.json");
    Process p = new ProcessBuilder(bin, "serve", "--data-dir", dir.resolve("data").toString(),
        "--ready-file", readyFile.toString(), "--listen", "127.0.0.1:0",
        "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0").redirectErrorStream(true).start();
    StringBuffer log = new StringBuffer();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
        for (String line; (line = r.readLine()) != null; ) {
          log.append(line).append('\n');
        }
      } catch (IOException e) {
        log.append("(reading the broker's output: ").append(e).append(")\n");
      }
    });
    reader.setDaemon(true);
    reader.start();
    Duration timeout = Duration.ofSeconds(60);
    long deadline = System.nanoTime() + timeout.toNanos();
    // NB: the broker writes the file whole or not at all (a rename): its
    // absence is the only reason to wait.
    while (!Files.exists(readyFile)) {
      if (!p.isAlive()) {
        reader.join(1000);
        throw new IllegalStateException("broker exited (" + p.exitValue() + ") before writing its ready file; stderr:\n" + log);
      }
      if (System.nanoTime() > deadline) {
        p.destroyForcibly();
        throw new IllegalStateException("broker wrote no ready file (" + readyFile + ") within " + timeout
            + ", so it did not serve; stderr:\n" + log);
      }
      Thread.sleep(20);
    }
    String ready = Files.readString(readyFile);
    Matcher m = GRPC_FIELD.matcher(ready);
    if (!m.find()) {
      p.destroyForcibly();
      throw new IllegalStateException("ready file " + readyFile + " has no grpc address: " + ready);
    }
    return new TestBroker(p, m.group(1));
  }
}
