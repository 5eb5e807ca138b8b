import { readFileSync } from "node:fs";
import { Interface } from "ethers";
import { describe, expect, it } from "vitest";
import { artifactPath, compileVaultAnchor, serializeArtifact } from "../../anchors/build.ts";

describe("VaultAnchor artifact", () => {
  it("the committed anchors/VaultAnchor.json is what the build produces", () => {
    expect(readFileSync(artifactPath, "utf8")).toBe(serializeArtifact(compileVaultAnchor()));
  });

  it("has exactly the interface of issue 4", () => {
    const artifact = JSON.parse(readFileSync(artifactPath, "utf8")) as { abi: unknown[]; contractName: string };
    expect(artifact.contractName).toBe("VaultAnchor");
    const iface = new Interface(artifact.abi as never);
    const fn = (sig: string) => iface.getFunction(sig)?.format("full");
    expect(fn("anchor")).toBe("function anchor(uint64 batchId, bytes32 root, uint32 leafCount, bytes32 prevRoot)");
    expect(fn("roots")).toBe("function roots(bytes32 root) view returns (uint64 batchId, uint64 timestamp, uint64 blockNumber)");
    expect(fn("nextBatchId")).toBe("function nextBatchId() view returns (uint64)");
    expect(fn("lastRoot")).toBe("function lastRoot() view returns (bytes32)");
    expect(fn("setAnchorer")).toBe("function setAnchorer(address account, bool allowed)");
    expect(fn("isAnchorer")).toBe("function isAnchorer(address account) view returns (bool allowed)");
    expect(fn("owner")).toBe("function owner() view returns (address)");
    expect(iface.getEvent("BatchAnchored")?.format("full")).toBe(
      "event BatchAnchored(uint64 indexed batchId, bytes32 indexed root, uint32 leafCount, bytes32 prevRoot)",
    );
    const errors: string[] = [];
    iface.forEachError((e) => errors.push(e.name));
    expect(errors.sort()).toEqual([
      "BatchIdMismatch",
      "EmptyBatch",
      "NotAnchorer",
      "NotOwner",
      "PrevRootMismatch",
      "RootAlreadyAnchored",
      "ZeroAddress",
      "ZeroRoot",
    ]);
  });
});
