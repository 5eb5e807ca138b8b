// docker/: what can be checked without a container engine (none runs here, and nothing in this
// file builds or starts an image). docker/compose.yaml must resolve with `docker-compose config`
// on a clean clone (no docker/.env, no docker/secrets/*) and wire the nodes as the README's
// Deployment section says; docker/Dockerfile must keep its basics (Node 24 slim, production
// dependencies only, a non-root final stage, a health check); .dockerignore must keep key
// material and local state out of the build context; the key files must stay out of git.

import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
const dockerDir = join(root, "docker");
const composeFile = join(dockerDir, "compose.yaml");
const read = (path: string) => readFileSync(join(root, path), "utf8");

const hasCompose = spawnSync("docker-compose", ["version"], { stdio: "ignore", timeout: 30_000 }).status === 0;

// ---------------------------------------------------------------------------------------------
// docker-compose, as a clean clone sees it

/** The environment without any setting an operator's shell might add to the interpolation. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(MEDVAULT_|COMPOSE_|POSTGRES_|DOCKER_)/.test(name)));
}

function compose(envFile: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // --env-file: an empty file instead of docker/.env, which on an operator's machine holds secrets.
    execFile(
      "docker-compose",
      ["--env-file", envFile, "-f", composeFile, ...args],
      { cwd: root, env: cleanEnv(), timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const indentOf = (line: string) => line.length - line.trimStart().length;

/**
 * The lines under `key:` at the top level of `lines` (a block of `docker-compose config`'s
 * output, which is plain block YAML). List items may sit at their key's own indentation.
 */
function section(lines: string[], key: string): string[] {
  const top = Math.min(...lines.filter((l) => l.trim() !== "").map(indentOf));
  const start = lines.findIndex((l) => indentOf(l) === top && (l.trim() === `${key}:` || l.trimStart().startsWith(`${key}: `)));
  if (start < 0) return [];
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === "") continue;
    if (indentOf(line) < top || (indentOf(line) === top && !line.trimStart().startsWith("- "))) break;
    body.push(line);
  }
  return body;
}

function path(lines: string[], ...keys: string[]): string[] {
  return keys.reduce((acc, key) => section(acc, key), lines);
}

/** `KEY: value` lines of a mapping block, unquoted. */
function scalars(lines: string[]): Map<string, string> {
  const top = Math.min(...lines.map(indentOf));
  const out = new Map<string, string>();
  for (const line of lines) {
    const m = /^(\S+): (.*)$/.exec(line.trim());
    if (indentOf(line) !== top || m === null) continue;
    let value = (m[2] as string).trim();
    if (/^'.*'$/.test(value)) value = value.slice(1, -1).replaceAll("''", "'");
    else if (/^".*"$/.test(value)) value = JSON.parse(value) as string;
    out.set(m[1] as string, value);
  }
  return out;
}

describe.skipIf(!hasCompose)("docker/compose.yaml (docker-compose config)", () => {
  let scratch: string;
  let emptyEnv: string;
  let config: { code: number; stdout: string; stderr: string };
  let lines: string[];

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "medvault-compose-"));
    emptyEnv = join(scratch, "empty.env");
    writeFileSync(emptyEnv, "");
    config = await compose(emptyEnv, ["config"]);
    lines = config.stdout.split("\n");
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("resolves on a clean clone: no docker/.env, no key files", () => {
    expect(config.stderr).not.toMatch(/error|invalid/i);
    expect(config.code).toBe(0);
    expect(config.stdout).toMatch(/^services:$/m);
  });

  it("has the two vaults, PostgreSQL and anvil, each with a volume of its own", async () => {
    const services = await compose(emptyEnv, ["config", "--services"]);
    expect(services.code).toBe(0);
    expect(services.stdout.trim().split("\n").sort()).toEqual(["anvil", "postgres", "vault-a", "vault-b"]);
    const volumes = await compose(emptyEnv, ["config", "--volumes"]);
    expect(volumes.stdout.trim().split("\n").sort()).toEqual(["anvil-state", "postgres-data", "vault-a-data", "vault-b-data"]);
  });

  it.each([
    ["vault-a", "vault-b", "vault-a-data"],
    ["vault-b", "vault-a", "vault-b-data"],
  ])("%s: the image from docker/Dockerfile, /healthz checked, started after healthy dependencies, wired to %s", (name, other, volume) => {
    const service = path(lines, "services", name);
    expect(service.length).toBeGreaterThan(0);

    const build = scalars(section(service, "build"));
    expect(build.get("context")).toBe(root);
    expect(build.get("dockerfile")).toBe("docker/Dockerfile");

    const test = path(service, "healthcheck", "test").join("\n");
    expect(test).toContain("CMD");
    expect(test).toContain("/healthz");

    const dependsOn = section(service, "depends_on");
    for (const dependency of ["postgres", "anvil"]) {
      expect(scalars(section(dependsOn, dependency)).get("condition")).toBe("service_healthy");
    }

    const env = scalars(section(service, "environment"));
    expect(env.get("MEDVAULT_DATA")).toBe("/data");
    expect(env.get("MEDVAULT_HOST")).toBe("0.0.0.0");
    expect(env.get("MEDVAULT_CATALOG_URL")).toMatch(/^postgres:\/\/medvault:[^@]*@postgres:5432\/medvault$/);
    expect(env.get("MEDVAULT_IPFS_LISTEN")).toBe("/ip4/0.0.0.0/tcp/4001");
    expect(env.get("MEDVAULT_IPFS_PEERS")).toBe(`/dns4/${other}/tcp/4001`);
    expect(env.get("MEDVAULT_REPLICATION")).toBe("2");
    expect(env.get("MEDVAULT_CHAIN_RPC")).toBe("http://anvil:8545");
    expect(env.has("MEDVAULT_ANCHOR_CONTRACT")).toBe(true);
    expect(env.has("MEDVAULT_ADMIN_TOKEN")).toBe(true);

    // Key material as mounted files, never as values in the environment.
    const secrets = section(service, "secrets").join("\n");
    for (const [setting, secret] of [
      ["MEDVAULT_SWARM_KEY", "swarm_key"],
      ["MEDVAULT_VAULT_IDENTITY", "vault_identity"],
      ["MEDVAULT_ANCHORER_KEY", "anchorer_key"],
    ] as const) {
      expect(env.get(setting)).toBe(`/run/secrets/${secret}`);
      expect(secrets).toMatch(new RegExp(`\\b${secret}\\b`));
    }

    expect(section(service, "volumes").join("\n")).toContain(`${volume}:/data`);
  });

  it("PostgreSQL and anvil are pinned and health-checked", () => {
    const postgres = path(lines, "services", "postgres");
    expect(scalars(postgres).get("image")).toMatch(/^postgres:1[56](\.\d+)?(-[a-z]+)?$/);
    expect(path(postgres, "healthcheck", "test").join("\n")).toContain("pg_isready");
    const anvil = path(lines, "services", "anvil");
    expect(scalars(anvil).get("image")).toMatch(/^ghcr\.io\/foundry-rs\/foundry:v\d+\.\d+\.\d+$/);
    expect(path(anvil, "command").join("\n")).toContain("--chain-id");
    expect(path(anvil, "healthcheck", "test").length).toBeGreaterThan(0);
  });

  it("reads every key file from docker/secrets/", () => {
    const secrets = section(lines, "secrets");
    for (const name of ["swarm_key", "vault_identity", "anchorer_key"]) {
      expect(scalars(section(secrets, name)).get("file")).toMatch(new RegExp(`^${join(dockerDir, "secrets")}/[\\w.-]+$`));
    }
  });
});

it("every MEDVAULT_ setting the compose file sets is in the README's Deployment section", () => {
  const readme = read("README.md");
  const start = readme.indexOf("\n## Deployment\n");
  expect(start).toBeGreaterThan(0);
  const next = readme.indexOf("\n## ", start + 1);
  const deployment = readme.slice(start, next < 0 ? undefined : next);
  const names = new Set(read("docker/compose.yaml").match(/\bMEDVAULT_[A-Z_]+(?=:)/g));
  expect(names.size).toBeGreaterThan(10);
  for (const name of names) expect(deployment, name).toContain(`\`${name}\``);
});

// ---------------------------------------------------------------------------------------------
// docker/Dockerfile, read as text (what hadolint would check first)

type Instruction = { keyword: string; args: string };

function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, " ");
  return joined
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l) as RegExpExecArray;
      return { keyword: (m[1] as string).toUpperCase(), args: (m[2] as string).trim() };
    });
}

describe("docker/Dockerfile", () => {
  const all = instructions(read("docker/Dockerfile"));
  const stages: Instruction[][] = [];
  for (const i of all) {
    if (i.keyword === "FROM") stages.push([]);
    stages.at(-1)?.push(i);
  }
  const final = stages.at(-1) ?? [];
  const args = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword).map((i) => i.args);

  it("builds in stages from Node 24 slim, pinned by tag", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const from of args(all, "FROM")) expect(from).toMatch(/^node:24(\.\d+){0,2}-[a-z]+-slim(\s+AS\s+\w+)?$/i);
  });

  it("installs with npm ci from the lock, production dependencies only in the final image", () => {
    const build = stages.slice(0, -1).flat();
    expect(args(build, "RUN").join("\n")).toMatch(/\bnpm ci\b[^\n]*--omit=dev/);
    expect(args(final, "RUN").join("\n")).not.toMatch(/\bnpm (ci|install|i)\b/);
    expect(args(final, "COPY").some((a) => /^--from=\S+\s+\S*node_modules\s/.test(a))).toBe(true);
  });

  it("runs as a non-root user in the final stage", () => {
    const users = args(final, "USER");
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:.*)?$/);
    // Nothing after the last USER switches back.
    const lastUser = final.findLastIndex((i) => i.keyword === "USER");
    expect(final.slice(lastUser + 1).some((i) => i.keyword === "RUN")).toBe(false);
  });

  it("has a health check on /healthz, the ports, the data volume and the container's settings", () => {
    const health = args(final, "HEALTHCHECK");
    expect(health).toHaveLength(1);
    expect(health[0]).toContain("/healthz");
    expect(health[0]).not.toMatch(/\bcurl\b|\bwget\b/); // neither is in the slim image
    expect(args(final, "EXPOSE").join(" ").split(/\s+/)).toEqual(expect.arrayContaining(["8080", "4001"]));
    expect(args(final, "VOLUME").join(" ")).toContain("/data");
    const env = args(final, "ENV").join(" ");
    expect(env).toMatch(/\bMEDVAULT_DATA=\/data\b/);
    expect(env).toMatch(/\bMEDVAULT_HOST=0\.0\.0\.0\b/);
  });

  it("starts the vault with the image's own node, as npm start does", () => {
    const cmd = args(final, "CMD");
    expect(cmd).toHaveLength(1);
    expect(JSON.parse(cmd[0] as string)).toEqual(["node", "--max-semi-space-size=1", "bin/medvault.js", "serve"]);
    expect(JSON.parse(read("package.json")).scripts.start).toBe("node --max-semi-space-size=1 bin/medvault.js serve");
    expect(args(final, "ENTRYPOINT")).toEqual([]);
  });

  it("keeps to the basics: COPY not ADD, absolute WORKDIR, no latest tag", () => {
    expect(all.some((i) => i.keyword === "ADD")).toBe(false);
    for (const dir of args(all, "WORKDIR")) expect(dir.startsWith("/")).toBe(true);
    for (const from of args(all, "FROM")) expect(from).not.toMatch(/:latest\b|^[^:]+$/);
  });
});

// ---------------------------------------------------------------------------------------------
// .dockerignore and git

/** Docker's rule: the last pattern that matches a path or one of its parent directories wins. */
function excludedFromContext(patterns: string[], file: string): boolean {
  const toRegExp = (pattern: string) =>
    new RegExp(
      `^${pattern
        .replace(/\/+$/, "")
        .split(/(\*\*\/|\*|\?)/)
        .map((part) => ({ "**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]" })[part] ?? part.replace(/[.+^${}()|[\]\\]/g, "\\$&"))
        .join("")}$`,
    );
  const parts = file.split("/");
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let excluded = false;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const re = toRegExp(negated ? raw.slice(1) : raw);
    if (prefixes.some((p) => re.test(p))) excluded = !negated;
  }
  return excluded;
}

describe(".dockerignore and .gitignore", () => {
  const patterns = read(".dockerignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));

  it("lets in what the Dockerfile copies, and nothing secret or local", () => {
    const copied = instructions(read("docker/Dockerfile"))
      .filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from"))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(copied.length).toBeGreaterThan(3);
    for (const source of copied) expect(excludedFromContext(patterns, source), source).toBe(false);
    for (const file of ["src/server.ts", "bin/medvault.js", "web/index.html", "anchors/VaultAnchor.json"]) {
      expect(excludedFromContext(patterns, file), file).toBe(false);
    }
    for (const file of [
      ".medvault/vault-identity.txt",
      ".medvault/anchorer.key",
      "docker/secrets/vault.key",
      "docker/.env",
      "node_modules/ethers/package.json",
      ".git/HEAD",
      "test-artifacts/vitest.json",
      "bench/results/latest.json",
      "src/node_modules/x.js",
    ]) {
      expect(excludedFromContext(patterns, file), file).toBe(true);
    }
  });

  it("keeps the key files and docker/.env out of git, but not the secrets README", () => {
    const ignored = (file: string) => spawnSync("git", ["check-ignore", "-q", "--no-index", file], { cwd: root }).status === 0;
    for (const file of ["docker/secrets/swarm.key", "docker/secrets/vault.key", "docker/secrets/anchorer.key", "docker/.env"]) {
      expect(ignored(file), file).toBe(true);
    }
    expect(ignored("docker/secrets/README.md")).toBe(false);
    expect(ignored("docker/compose.yaml")).toBe(false);
  });

  it("the helper scripts parse", () => {
    for (const script of ["docker/init-secrets.sh", "docker/dev-chain.sh"]) {
      expect(spawnSync("bash", ["-n", join(root, script)]).status, script).toBe(0);
    }
  });
});
