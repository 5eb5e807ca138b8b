/**
 * `createHeliaLight` without `helia`'s entry point. That entry point also defines `createHelia`,
 * so importing it evaluates @helia/libp2p's whole default stack (WebRTC and its native addon,
 * HTTP gateways, bitswap): measured here, 0.7 s and about 45 MiB of RSS for a store that only
 * ever makes a light node. So we load the module `createHeliaLight` itself uses, `helia.js`
 * beside the entry point, and do what it does (pass its name and version). The store tests
 * fail at once if the package moves it.
 */

import type { createHeliaLight as CreateHeliaLight } from "helia";
import { importBeside } from "../beside.ts";

type Init = NonNullable<Parameters<typeof CreateHeliaLight>[0]>;
type LightHelia = ReturnType<typeof CreateHeliaLight>;

export async function createLightHelia(init: Init): Promise<LightHelia> {
  const [{ Helia }, { name, version }] = await Promise.all([
    importBeside<{ Helia: new (init: Init & { name: string; version: string }) => LightHelia }>("helia", "helia.js"),
    importBeside<{ name: string; version: string }>("helia", "version.js"),
  ]);
  return new Helia({ name, version, ...init });
}
