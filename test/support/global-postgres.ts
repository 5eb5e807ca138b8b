/**
 * Vitest global setup: one real PostgreSQL server for the whole run (see postgres.ts), stopped
 * by its PID at the end. Suites ask for it with `inject("postgresAdminUrl")` and make their own
 * databases. Without Debian's postgresql the URL is missing and those suites fail saying why.
 */

import type { TestProject } from "vitest/node";
import { findPostgresBin, startPostgres, type TestPostgres } from "./postgres.ts";

declare module "vitest" {
  export interface ProvidedContext {
    postgresAdminUrl: string | undefined;
    postgresDataDir: string | undefined;
    postgresMissing: string | undefined;
  }
}

let server: TestPostgres | undefined;

export async function setup(project: TestProject): Promise<void> {
  if (findPostgresBin() === undefined) {
    project.provide("postgresAdminUrl", undefined);
    project.provide("postgresDataDir", undefined);
    project.provide("postgresMissing", "PostgreSQL is not installed: `apt-get install -y postgresql` (.ci/run does it)");
    return;
  }
  server = await startPostgres();
  project.provide("postgresAdminUrl", server.adminUrl);
  project.provide("postgresDataDir", server.dataDir);
  project.provide("postgresMissing", undefined);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
