/** Start a real broker process for tests and examples. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** The part of the ready file (runnel serve --ready-file) used here. */
interface ReadyInfo { grpc: string; http: string }

/** A `runnel serve` process on ports the kernel chose, over a fresh data
 * directory. The binary defaults to $RUNNEL_BIN, then bin/runnel. */
export class Broker {
  private constructor(readonly address: string, readonly log: string[], private readonly proc: ChildProcess, private readonly dir: string) {}

  /** Starts the broker and resolves once it serves: once it has written its
   * ready file, which names the ports it bound. */
  static start(binary = process.env.RUNNEL_BIN ?? "bin/runnel", timeoutMs = 60_000): Promise<Broker> {
    const dir = mkdtempSync(join(tmpdir(), "runnel-ts-"));
    const readyFile = join(dir, "ready.json");
    const proc = spawn(binary, ["serve", "--data-dir", join(dir, "data"), "--ready-file", readyFile,
      "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0"],
      { stdio: ["ignore", "ignore", "pipe"] });
    const log: string[] = [];
    createInterface({ input: proc.stderr! }).on("line", (line) => log.push(line));
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearInterval(poll);
        clearTimeout(timer);
        rmSync(dir, { recursive: true, force: true });
        reject(new Error(`${why}; stderr:\n` + log.join("\n")));
      };
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        fail(`broker wrote no ready file (${readyFile}) within ${timeoutMs} ms, so it did not serve`);
      }, timeoutMs);
      proc.on("exit", (code, signal) => fail(`broker exited (${code ?? signal}) before writing its ready file`));
      // NB: the broker writes the file whole or not at all (a rename): its
      // absence is the only reason to wait.
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
        clearInterval(poll);
        clearTimeout(timer);
        proc.removeAllListeners("exit");
        resolve(new Broker(info.grpc, log, proc, dir));
      }, 20);
    });
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
