// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title VaultAnchor: append-only register of medvault Merkle batch roots.
/// @notice Each batch is one RFC 9162 Merkle root over file commitments and audit event hashes
/// (see DESIGN.md, "Integrity and anchoring"). Batches form a chain: batch n names the root of
/// batch n - 1 as `prevRoot`, so a retried transaction for an already anchored batch reverts
/// instead of anchoring twice, and nobody can insert or reorder batches.
/// Batch ids start at 1, so `roots(r).batchId == 0` (like every other field) means "unknown root".
/// Storage and gas per batch are constant: the leaf count is only logged, never iterated.
contract VaultAnchor {
    struct RootInfo {
        uint64 batchId;
        uint64 timestamp;
        uint64 blockNumber;
    }

    /// Account that manages the anchorer role. Packed with `nextBatchId` into one slot.
    address public owner;
    /// Id that the next call to `anchor` must carry.
    uint64 public nextBatchId;
    /// Root of the last anchored batch, zero before the first.
    bytes32 public lastRoot;
    /// Root -> where it was anchored; zeros for an unknown root.
    mapping(bytes32 root => RootInfo info) public roots;
    /// Accounts allowed to call `anchor`.
    mapping(address account => bool allowed) public isAnchorer;

    event BatchAnchored(uint64 indexed batchId, bytes32 indexed root, uint32 leafCount, bytes32 prevRoot);
    event AnchorerSet(address indexed account, bool allowed);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner(address caller);
    error NotAnchorer(address caller);
    error BatchIdMismatch(uint64 expected, uint64 given);
    error PrevRootMismatch(bytes32 expected, bytes32 given);
    error RootAlreadyAnchored(bytes32 root, uint64 batchId);
    error ZeroRoot();
    error EmptyBatch();
    error ZeroAddress();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// The deployer is the owner and the first anchorer.
    constructor() {
        owner = msg.sender;
        nextBatchId = 1;
        isAnchorer[msg.sender] = true;
        emit OwnershipTransferred(address(0), msg.sender);
        emit AnchorerSet(msg.sender, true);
    }

    /// Anchor batch `batchId` with Merkle root `root` over `leafCount` leaves.
    /// Requires `batchId == nextBatchId` and `prevRoot == lastRoot`; a root is anchored at most once.
    function anchor(uint64 batchId, bytes32 root, uint32 leafCount, bytes32 prevRoot) external {
        if (!isAnchorer[msg.sender]) revert NotAnchorer(msg.sender);
        uint64 expected = nextBatchId;
        if (batchId != expected) revert BatchIdMismatch(expected, batchId);
        bytes32 last = lastRoot;
        if (prevRoot != last) revert PrevRootMismatch(last, prevRoot);
        if (root == bytes32(0)) revert ZeroRoot();
        if (leafCount == 0) revert EmptyBatch();
        RootInfo storage info = roots[root];
        if (info.blockNumber != 0) revert RootAlreadyAnchored(root, info.batchId);

        info.batchId = batchId;
        info.timestamp = uint64(block.timestamp);
        info.blockNumber = uint64(block.number);
        nextBatchId = batchId + 1;
        lastRoot = root;
        emit BatchAnchored(batchId, root, leafCount, prevRoot);
    }

    /// Grant (`allowed = true`) or revoke the anchorer role.
    function setAnchorer(address account, bool allowed) external onlyOwner {
        if (account == address(0)) revert ZeroAddress();
        isAnchorer[account] = allowed;
        emit AnchorerSet(account, allowed);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }
}
