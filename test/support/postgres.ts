/**
 * A real PostgreSQL server for the tests, from Debian's `postgresql` binaries (installed by
 * `.ci/run`): a fresh cluster in a temp dir (initdb, scram password auth), listening on
 * 127.0.0.1 only, on a port found free at run time, stopped by its PID. As root (CI), the
 * server runs as the `postgres` user, since PostgreSQL refuses to run as root.
 *
 * `createDatabase()` gives each test its own database, so suites never see each other's rows.
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export interface TestPostgres {
  /** URL of the maintenance database (for CREATE DATABASE). */
  adminUrl: string;
  /** A new empty database; its URL. */
  createDatabase(): Promise<string>;
  /** Where the cluster lives (tests look for erased bytes in its files). */
  dataDir: string;
  pid: number;
  stop(): Promise<void>;
}

/** The directory holding Debian's `postgres`, `initdb`…, newest version first; undefined if none. */
export function findPostgresBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

/** A TCP port free on 127.0.0.1 right now (for servers that cannot report the port they bound). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    throw new Error("running as root, but there is no postgres user to run PostgreSQL as");
  }
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = findPostgresBin();
  if (bin === undefined) {
    throw new Error("PostgreSQL is not installed: `apt-get install -y postgresql` (.ci/run does it) for the catalog and multi-node suites");
  }
  const owner = runAs();
  const dir = mkdtempSync(join(tmpdir(), "medvault-pg-"));
  const dataDir = join(dir, "data");
  const password = randomBytes(18).toString("base64url");
  const pwfile = join(dir, "pw");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (owner !== undefined) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(pwfile, owner.uid, owner.gid);
  }
  const as = owner === undefined ? {} : owner;
  execFileSync(
    join(bin, "initdb"),
    ["-D", dataDir, "-U", "medvault", "--auth=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--no-locale"],
    {
      stdio: "ignore",
      ...as,
    },
  );
  rmSync(pwfile);

  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; attempt < 5 && child === undefined; attempt++) {
    port = await freePort();
    const started = spawn(join(bin, "postgres"), ["-D", dataDir, "-p", String(port), "-h", "127.0.0.1", "-k", dir], {
      stdio: ["ignore", "ignore", "pipe"],
      ...as,
    });
    const ready = await new Promise<boolean>((resolve) => {
      let log = "";
      started.stderr?.on("data", (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes("ready to accept connections")) resolve(true);
      });
      started.once("exit", () => resolve(false));
    });
    if (ready) child = started;
  }
  if (child?.pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error("PostgreSQL did not start");
  }
  const running = child;
  const pid = child.pid;
  const base = `postgres://medvault:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  let databases = 0;

  return {
    adminUrl: `${base}/postgres`,
    dataDir,
    pid,
    async createDatabase() {
      const name = `mv_${process.pid}_${++databases}_${randomBytes(3).toString("hex")}`;
      const client = new pg.Client({ connectionString: `${base}/postgres` });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `${base}/${name}`;
    },
    async stop() {
      if (running.exitCode === null) {
        const exited = new Promise((resolve) => running.once("exit", resolve));
        process.kill(pid, "SIGINT"); // fast shutdown
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
