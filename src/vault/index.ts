export { loadOrCreateVaultKey, type VaultKey } from "./identity.ts";
export { sniffMediaType } from "./sniff.ts";
export {
  type AgeFile,
  type AnchorHooks,
  type Content,
  createVault,
  type ErasureCertificate,
  type UploadInput,
  type Vault,
  type VaultDeps,
} from "./vault.ts";
export type { AnchorView, FileView, GrantView } from "./views.ts";
