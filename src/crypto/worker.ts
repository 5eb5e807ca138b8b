/** A crypto worker thread: runs one file range (ranges.ts) for parallel.ts and reports back. */

import { parentPort } from "node:worker_threads";
import type { RangeJob, RangeResult } from "./parallel.ts";
import { runRange } from "./ranges.ts";

const port = parentPort;
if (port === null) throw new Error("crypto worker started outside a worker thread");

port.on("message", (job: RangeJob) => {
  let result: RangeResult;
  try {
    result = runRange(job);
  } catch (error) {
    result = { failedAt: job.first, reason: (error as Error).message, io: true };
  }
  port.postMessage(result);
});
