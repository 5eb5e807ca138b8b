/**
 * UnixFS DAGs as the importer writes them (UnixFS v1 spec, dag-pb nodes over raw leaves):
 * decoding a file node, and walking a DAG for `pin` (is every block here?) and `collect`
 * (which blocks are live?). Walks read dag-pb nodes only; a raw leaf has no links, so its
 * CID, taken from the parent, is all a walk needs.
 */

import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import type { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { VaultError } from "../errors.ts";

export const RAW_CODE = raw.code;
export const DAG_PB_CODE = dagPb.code;

export interface FileNode {
  node: dagPb.PBNode;
  unixfs: UnixFS;
}

/** Decodes a dag-pb block holding a UnixFS file node. */
export function decodeFileNode(cid: CID, bytes: Uint8Array): FileNode {
  let node: dagPb.PBNode;
  let unixfs: UnixFS;
  try {
    node = dagPb.decode(bytes);
    if (node.Data === undefined) throw new Error("no UnixFS data");
    unixfs = UnixFS.unmarshal(node.Data);
  } catch (error) {
    throw new VaultError("INTEGRITY_FAILED", `block ${cid} is not a UnixFS node`, { cause: error });
  }
  if (unixfs.type !== "file" && unixfs.type !== "raw") {
    throw new VaultError("UNSUPPORTED", `${cid} is a UnixFS ${unixfs.type}, not a file`);
  }
  if (node.Links.length !== unixfs.blockSizes.length) {
    throw new VaultError("INTEGRITY_FAILED", `block ${cid} has ${node.Links.length} links but ${unixfs.blockSizes.length} sizes`);
  }
  return { node, unixfs };
}

export interface WalkSteps {
  /** Called for each CID before anything is read; false skips the CID and its children. */
  enter(cid: CID): boolean | Promise<boolean>;
  /** Reads (and verifies) a dag-pb block. */
  read(cid: CID): Promise<Uint8Array>;
}

/** Visits every block of the DAG under `root`, parents before children. */
export async function walkDag(root: CID, steps: WalkSteps): Promise<void> {
  const stack: CID[] = [root];
  for (let cid = stack.pop(); cid !== undefined; cid = stack.pop()) {
    if (!(await steps.enter(cid))) continue;
    if (cid.code === RAW_CODE) continue;
    if (cid.code !== DAG_PB_CODE) {
      throw new VaultError("UNSUPPORTED", `block ${cid}: codec 0x${cid.code.toString(16)} is not supported`);
    }
    let links: dagPb.PBLink[];
    try {
      links = dagPb.decode(await steps.read(cid)).Links;
    } catch (error) {
      if (error instanceof VaultError || isNotFound(error)) throw error;
      throw new VaultError("INTEGRITY_FAILED", `block ${cid} is not a dag-pb node`, { cause: error });
    }
    for (let i = links.length - 1; i >= 0; i--) stack.push((links[i] as dagPb.PBLink).Hash);
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof Error && error.name === "NotFoundError";
}
