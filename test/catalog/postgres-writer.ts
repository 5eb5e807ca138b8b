// A second vault instance on one PostgreSQL catalog, for postgres.test.ts: commits `count`
// uploads (each with its audit event and leaves) as fast as it can, then prints how many.
import { randomBytes } from "node:crypto";
import { newFileId, openCatalog } from "../../src/catalog/index.ts";

const [url, ownerId, count] = process.argv.slice(2);
const catalog = openCatalog({ path: url ?? "" });
let done = 0;
for (let i = 0; i < Number(count); i++) {
  catalog.commitUpload({
    file: {
      id: newFileId(),
      ownerId: ownerId ?? "",
      name: "scan.dcm",
      mediaType: "application/dicom",
      size: 1,
      plaintextSha256: randomBytes(32),
      payloadCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
      salt: randomBytes(32),
      commitment: randomBytes(32),
    },
    vaultHeader: randomBytes(180),
    recipients: [],
    actorId: ownerId ?? "",
  });
  done++;
}
catalog.close();
process.stdout.write(`${done}\n`);
