/**
 * Imports a module that sits beside a package's entry point but is not among its exports:
 * typage's `recipients.js` (keys.ts), Helia's `helia.js` (store/helia.ts). The file URL is
 * resolved from the entry point, so an exports map does not stand in the way; the tests that
 * use each module fail at once if a package moves it.
 */

import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

export async function importBeside<T>(pkg: string, file: string): Promise<T> {
  const entry = pathToFileURL(createRequire(import.meta.url).resolve(pkg));
  return (await import(new URL(file, entry).href)) as T;
}
