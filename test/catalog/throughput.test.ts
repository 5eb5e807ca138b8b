// Measured figures, printed for the record; the bounds are loose floors, not targets.

import { afterEach, describe, expect, it } from "vitest";
import { addPrincipal, type Fixture, forEachEngine, openFixture, uploadInput } from "./fixture.ts";

let fixture: Fixture;
afterEach(() => fixture?.cleanup());

forEachEngine(() => {
  describe("throughput", () => {
    it("commits uploads one durable transaction each (synchronous = FULL)", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const owner = addPrincipal(catalog, "uploader");
      const recipients = [addPrincipal(catalog, "recipient"), addPrincipal(catalog, "recipient")];
      const inputs = Array.from({ length: 500 }, () => uploadInput(owner, recipients));
      const started = performance.now();
      for (const input of inputs) catalog.commitUpload(input);
      const seconds = (performance.now() - started) / 1000;
      const perSecond = inputs.length / seconds;

      const verifyStarted = performance.now();
      const check = catalog.verifyAuditChain();
      const verifyMs = performance.now() - verifyStarted;
      console.log(
        `commitUpload (2 recipients): ${perSecond.toFixed(0)}/s (${((seconds * 1000) / inputs.length).toFixed(2)} ms each); ` +
          `verifyAuditChain over ${check.ok ? check.count : "?"} events: ${verifyMs.toFixed(1)} ms`,
      );
      expect(check.ok).toBe(true);
      expect(perSecond).toBeGreaterThan(20);
    });
  });
});
