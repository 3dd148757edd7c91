/** Start a real broker process for tests and examples. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const SERVING = /msg="runnel serving" grpc=(\S+)/;

/** A `runnel serve` process on ports the kernel chose, over a fresh data
 * directory. The binary defaults to $RUNNEL_BIN, then bin/runnel. */
export class Broker {
  readonly log: string[] = [];
  private constructor(readonly address: string, private readonly proc: ChildProcess, private readonly dataDir: string) {}

  static start(binary = process.env.RUNNEL_BIN ?? "bin/runnel", timeoutMs = 60_000): Promise<Broker> {
    const dataDir = mkdtempSync(join(tmpdir(), "runnel-ts-"));
    const proc = spawn(binary, ["serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0"],
      { stdio: ["ignore", "ignore", "pipe"] });
    const log: string[] = [];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { proc.kill("SIGKILL"); reject(new Error("broker did not start:\n" + log.join("\n"))); }, timeoutMs);
      proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`broker exited (${code}):\n` + log.join("\n"))); });
      createInterface({ input: proc.stderr! }).on("line", (line) => {
        log.push(line);
        const m = SERVING.exec(line);
        if (m) {
          clearTimeout(timer);
          const b = new Broker(m[1], proc, dataDir);
          b.log.push(...log);
          resolve(b);
        }
      });
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      const exited = new Promise((resolve) => this.proc.once("exit", resolve));
      this.proc.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
