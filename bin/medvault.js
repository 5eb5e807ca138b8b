#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=4194304 node --max-semi-space-size=1
// The medvault command. Node 24 runs the TypeScript sources directly (type stripping).
//
// --max-semi-space-size=1: streaming crypto allocates a short-lived 64 KiB buffer per chunk
// (node:crypto has no in-place API); a small young generation frees them sooner. Measured
// here on a 512 MiB encrypt: peak RSS from about 160 MiB to about 105 MiB, and faster.
// GLIBC_TUNABLES: node:crypto returns each 64 KiB chunk in a fresh malloc'ed buffer, and glibc
// hands freed heap tops back to the kernel past 128 KiB, so every batch faulted its memory in
// again (about 44,000 page faults on a 512 MiB encrypt, 63 % of them in the cipher's output
// copy). Keeping up to 64 MiB of freed heap, and serving blocks up to 4 MiB from the heap
// rather than mmap, cut that to about 10,000, system time from 0.45 s to 0.33 s and peak RSS
// from 97 to 84 MiB. Other C libraries ignore the variable.
// The compile cache keeps start-up short for commands used in pipelines.
import module from "node:module";

module.enableCompileCache?.();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
