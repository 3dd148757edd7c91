/** Start a real broker process, or a sidecar in front of one, for tests and examples. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** The part of the ready file (runnel serve --ready-file) used here. */
interface ReadyInfo { grpc: string; http: string; peer: string; pid?: number }

/** A `runnel serve` process on ports the kernel chose, over a fresh data
 * directory. The binary defaults to $RUNNEL_BIN, then bin/runnel. */
export class Broker {
  private constructor(readonly address: string, readonly log: string[], private proc: ChildProcess,
    private readonly dir: string, private readonly info: ReadyInfo, private readonly binary: string,
    private readonly timeoutMs: number, private readonly args: string[]) {}

  /** Starts the broker and resolves once it serves: once it has written its
   * ready file, which names the ports it bound. args are more runnel serve flags. */
  static async start(binary = process.env.RUNNEL_BIN ?? "bin/runnel", timeoutMs = 60_000, args: string[] = []): Promise<Broker> {
    const dir = mkdtempSync(join(tmpdir(), "runnel-ts-"));
    try {
      const { proc, log, info } = await launch(binary, dir, { grpc: "127.0.0.1:0", http: "127.0.0.1:0", peer: "127.0.0.1:0" }, timeoutMs, [], args);
      return new Broker(info.grpc, log, proc, dir, info, binary, timeoutMs, args);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Shuts the broker down (SIGTERM: gracefully), keeping its data; resolves once it exited. */
  async terminate(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((resolve) => this.proc.once("exit", resolve));
      this.proc.kill("SIGTERM");
      await exited;
    }
  }

  /** Kills the broker (SIGKILL: no shutdown at all), keeping its data. */
  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((resolve) => this.proc.once("exit", resolve));
      this.proc.kill("SIGKILL");
      await exited;
    }
  }

  /** Stops the broker (SIGSTOP): its connections stay up, and nothing answers.
   * Returns once the kernel shows it stopped: the signal is delivered
   * asynchronously, and until then the broker may still answer. */
  pause(): void {
    this.proc.kill("SIGSTOP");
    const deadline = Date.now() + 10_000;
    while (processState(this.proc.pid!) !== "T") {
      if (Date.now() > deadline) throw new Error(`broker ${this.proc.pid} not stopped 10s after SIGSTOP`);
    }
  }

  /** Lets a paused broker go on (SIGCONT). */
  resume(): void {
    this.proc.kill("SIGCONT");
  }

  /** Starts the broker again, after kill or terminate, on the same data directory and
   * addresses; resolves once it serves. */
  async restart(): Promise<void> {
    this.proc = (await launch(this.binary, this.dir, this.info, this.timeoutMs, this.log, this.args)).proc;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((resolve) => this.proc.once("exit", resolve));
      this.proc.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What a sidecar's /status says of its backlog (the part used here). */
export interface SidecarStatus { records_waiting: number; partitions: { topic: string; partition: number; waiting: number }[] }

/** A `runnel sidecar` process in front of upstream (a broker's client address, or several
 * comma-separated), on ports the kernel chose, over a fresh spool directory. The binary defaults
 * to $RUNNEL_BIN, then bin/runnel. */
export class Sidecar {
  private constructor(readonly address: string, readonly httpAddress: string, readonly log: string[],
    private readonly proc: ChildProcess, private readonly dir: string) {}

  /** Starts the sidecar and resolves once it serves (it has written its ready file). */
  static async start(upstream: string, binary = process.env.RUNNEL_BIN ?? "bin/runnel", timeoutMs = 60_000): Promise<Sidecar> {
    const dir = mkdtempSync(join(tmpdir(), "runnel-ts-sidecar-"));
    try {
      const readyFile = join(dir, "ready.json");
      const { proc, log, info } = await launchReady(binary, ["sidecar", "--upstream", upstream, "--data-dir", join(dir, "spool"),
        "--ready-file", readyFile, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"], readyFile, "sidecar", timeoutMs, []);
      return new Sidecar(info.grpc, info.http, log, proc, dir);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** The sidecar's backlog: its HTTP /status. */
  async status(): Promise<SidecarStatus> {
    const resp = await fetch(`http://${this.httpAddress}/status`, { signal: AbortSignal.timeout(10_000) });
    if (!resp.ok) throw new Error(`${this.httpAddress}/status answered ${resp.status}`);
    return (await resp.json()) as SidecarStatus;
  }

  /** Resolves once the sidecar has no record the cluster has not acknowledged (records_waiting 0). */
  async waitForwarded(timeoutMs = 60_000): Promise<SidecarStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.status();
      if (status.records_waiting === 0) return status;
      if (Date.now() > deadline) {
        throw new Error(`the sidecar still has ${status.records_waiting} records waiting after ${timeoutMs} ms: ` +
          JSON.stringify(status) + "; stderr:\n" + this.log.join("\n"));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((resolve) => this.proc.once("exit", resolve));
      this.proc.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs `runnel serve` over dir on the given addresses, and resolves once
 * it has written its ready file. */
function launch(binary: string, dir: string, listen: ReadyInfo, timeoutMs: number, log: string[] = [], args: string[] = []):
  Promise<{ proc: ChildProcess; log: string[]; info: ReadyInfo }> {
  const readyFile = join(dir, "ready.json");
  return launchReady(binary, ["serve", "--data-dir", join(dir, "data"), "--ready-file", readyFile,
    "--listen", listen.grpc, "--http-listen", listen.http, "--peer-listen", listen.peer, ...args], readyFile, "broker", timeoutMs, log);
}

/** Runs binary with args, and resolves once it has written readyFile (naming its own pid). */
function launchReady(binary: string, args: string[], readyFile: string, what: string, timeoutMs: number, log: string[]):
  Promise<{ proc: ChildProcess; log: string[]; info: ReadyInfo }> {
  const proc = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
  createInterface({ input: proc.stderr! }).on("line", (line) => log.push(line));
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`${why}; stderr:\n` + log.join("\n")));
    };
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      fail(`${what} wrote no ready file (${readyFile}) within ${timeoutMs} ms, so it did not serve`);
    }, timeoutMs);
    proc.on("exit", (code, signal) => fail(`${what} exited (${code ?? signal}) before writing its ready file`));
    // NB: the broker (and the sidecar) writes the file whole or not at all (a rename), and
    // removes one an earlier run left at start: its absence, or another
    // process's, is the only reason to wait.
    const poll = setInterval(() => {
      let info: ReadyInfo;
      try {
        info = JSON.parse(readFileSync(readyFile, "utf8")) as ReadyInfo;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
        proc.kill("SIGKILL");
        fail(`ready file ${readyFile}: ${e}`);
        return;
      }
      if (info.pid !== proc.pid) return;
      clearInterval(poll);
      clearTimeout(timer);
      proc.removeAllListeners("exit");
      resolve({ proc, log, info });
    }, 20);
  });
}

/** A process's state letter, from /proc (the field after the command name,
 * which is in parentheses). */
function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  return stat.slice(stat.lastIndexOf(")") + 1).trim().split(/\s+/)[0];
}
