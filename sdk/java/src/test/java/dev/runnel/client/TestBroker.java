package dev.runnel.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code runnel serve} process ($RUNNEL_BIN) on ports the kernel chose, over a fresh data
 * directory, and the address it serves on. {@link #kill} and {@link #restart} crash it and start it
 * again on the same data and addresses.
 */
final class TestBroker {
  // The ready file (runnel serve --ready-file) is one flat JSON object of
  // strings and numbers: a pattern reads a field without a JSON library the
  // SDK does not need otherwise.
  private static final Pattern FIELD = Pattern.compile("\"(grpc|http|peer|pid)\"\\s*:\\s*\"?([^\",}]+)\"?");

  private final Path dir;
  private final String address;
  private final String httpAddress;
  private final String peerAddress;
  private final StringBuffer log = new StringBuffer();
  private volatile Process process;
  private List<String> args = List.of();

  private TestBroker(Path dir, Process process, String address, String httpAddress, String peerAddress) {
    this.dir = dir;
    this.process = process;
    this.address = address;
    this.httpAddress = httpAddress;
    this.peerAddress = peerAddress;
  }

  String address() {
    return address;
  }

  /** Shuts the broker down (SIGTERM: graceful; SIGKILL after 30 s), keeping its data. */
  void stop() throws InterruptedException {
    process.destroy(); // SIGTERM: graceful
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly();
    }
  }

  /** Kills the broker (SIGKILL: no shutdown at all), keeping its data. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor();
  }

  /** Stops the broker (SIGSTOP): its connections stay up, and nothing answers. */
  void pause() throws IOException, InterruptedException {
    signal("STOP");
    // NB: the signal is delivered asynchronously: until the kernel shows the process stopped, it
    // may still answer.
    Path stat = Path.of("/proc/" + process.pid() + "/stat");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      String s = Files.readString(stat);
      if (s.substring(s.lastIndexOf(')') + 1).trim().startsWith("T")) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("broker " + process.pid() + " not stopped 10s after SIGSTOP");
      }
      Thread.sleep(1);
    }
  }

  /** Lets a paused broker go on (SIGCONT). */
  void resume() throws IOException, InterruptedException {
    signal("CONT");
  }

  private void signal(String name) throws IOException, InterruptedException {
    // NB: Process has no way to send a signal other than TERM and KILL.
    Process kill = new ProcessBuilder("kill", "-" + name, String.valueOf(process.pid())).inheritIO().start();
    if (kill.waitFor() != 0) {
      throw new IllegalStateException("kill -" + name + " " + process.pid() + " failed");
    }
  }

  /**
   * Starts the broker again, after kill or stop (both keep its data), on the same data directory and
   * addresses; returns once it serves.
   */
  void restart() throws IOException, InterruptedException {
    process = launch(dir, address, httpAddress, peerAddress, log, args).process;
  }

  /**
   * Starts a broker, with more runnel serve flags, and returns once it serves: once it has written
   * its ready file.
   */
  static TestBroker start(String... args) throws IOException, InterruptedException {
    Path dir = Files.createTempDirectory("runnel-java-");
    Launched l = launch(dir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", new StringBuffer(), List.of(args));
    TestBroker b = new TestBroker(dir, l.process, l.grpc, l.http, l.peer);
    b.args = List.of(args);
    return b;
  }

  private record Launched(Process process, String grpc, String http, String peer) {}

  private static Launched launch(Path dir, String listen, String httpListen, String peerListen, StringBuffer log,
      List<String> args) throws IOException, InterruptedException {
    String bin = System.getenv().getOrDefault("RUNNEL_BIN", "../../bin/runnel");
    Path readyFile = dir.resolve("ready.json");
    List<String> command = new ArrayList<>(List.of(bin, "serve", "--data-dir", dir.resolve("data").toString(),
        "--ready-file", readyFile.toString(), "--listen", listen, "--http-listen", httpListen, "--peer-listen", peerListen));
    command.addAll(args);
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
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
    // NB: the broker writes the file whole or not at all (a rename), and
    // removes one an earlier run left at start: its absence, or another
    // process's, is the only reason to wait.
    for (;;) {
      if (Files.exists(readyFile)) {
        String ready;
        try {
          ready = Files.readString(readyFile);
        } catch (java.nio.file.NoSuchFileException e) {
          ready = "";
        }
        String grpc = null, http = null, peer = null, pid = null;
        for (Matcher m = FIELD.matcher(ready); m.find(); ) {
          switch (m.group(1)) {
            case "grpc" -> grpc = m.group(2);
            case "http" -> http = m.group(2);
            case "peer" -> peer = m.group(2);
            default -> pid = m.group(2).trim();
          }
        }
        if (String.valueOf(p.pid()).equals(pid)) {
          if (grpc == null || http == null || peer == null) {
            p.destroyForcibly();
            throw new IllegalStateException("ready file " + readyFile + " lacks an address: " + ready);
          }
          return new Launched(p, grpc, http, peer);
        }
      }
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
  }
}
