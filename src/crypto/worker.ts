/**
 * A crypto worker thread: takes file ranges (ranges.ts) from the shared queue of parallel.ts
 * until none is left, then reports their results.
 */

import { parentPort } from "node:worker_threads";
import { type QueueReport, type RangeQueue, takeRange } from "./parallel.ts";
import { runRange } from "./ranges.ts";

const port = parentPort;
if (port === null) throw new Error("crypto worker started outside a worker thread");

port.on("message", (queue: RangeQueue) => {
  const report: QueueReport = [];
  for (let index = takeRange(queue, 1); index >= 0; index = takeRange(queue, 1)) {
    const job = queue.jobs[index];
    if (job === undefined) break;
    try {
      report.push({ index, result: runRange(job) });
    } catch (error) {
      report.push({ index, result: { failedAt: job.first, reason: (error as Error).message, io: true } });
    }
  }
  port.postMessage(report);
});
