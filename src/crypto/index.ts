/** The envelope: age v1 (C2SP) with the header and the payload stored apart. */
export * from "./envelope.ts";
export * from "./format.ts";
export * from "./keys.ts";
export * from "./payload.ts";
