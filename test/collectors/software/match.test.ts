import { describe, expect, it } from "vitest";
import { matcherFor } from "../../../policies/matchers/index.js";
import { matchSoftware } from "../../../policies/matchers/software.js";

const chrome = { name: "Google Chrome", version: "124.0.6367.61", publisher: "Google LLC", source: "registry", scope: "machine" };
const deb = { name: "openssl", version: "3.0.19-1~deb12u2", previousVersion: "3.0.17-1~deb12u1", source: "dpkg", arch: "amd64" };

describe("matchSoftware", () => {
  it("is the matcher for the software control", () => {
    expect(matcherFor("software")).toBe(matchSoftware);
  });
  it("name and publisher are globs (case-insensitive)", () => {
    expect(matchSoftware({ name: "google chrome" }, chrome, "software.installed")).toBe(true);
    expect(matchSoftware({ name: "Google*" }, chrome, "software.installed")).toBe(true);
    expect(matchSoftware({ name: "Firefox*" }, chrome, "software.installed")).toBe(false);
    expect(matchSoftware({ name: "*", publisher: "Google*" }, chrome, "software.installed")).toBe(true);
    expect(matchSoftware({ name: "*", publisher: "Mozilla" }, chrome, "software.installed")).toBe(false);
    expect(matchSoftware({ name: "openssl", publisher: "*" }, deb, "software.updated")).toBe(false); // no publisher on the event
  });
  it("action comes from the event type", () => {
    expect(matchSoftware({ name: "openssl", action: "update" }, deb, "software.updated")).toBe(true);
    expect(matchSoftware({ name: "openssl", action: "install" }, deb, "software.updated")).toBe(false);
    expect(matchSoftware({ name: "openssl", action: "remove" }, deb, "software.removed")).toBe(true);
  });
  it("version is a range compared with the source's comparator", () => {
    expect(matchSoftware({ name: "Google Chrome", version: ">=124 <125" }, chrome, "software.updated")).toBe(true);
    expect(matchSoftware({ name: "Google Chrome", version: "123.*" }, chrome, "software.updated")).toBe(false);
    // Debian: ~ sorts before the end, so 3.0.19-1~deb12u2 < 3.0.19-1
    expect(matchSoftware({ name: "openssl", version: "<3.0.19-1" }, deb, "software.updated")).toBe(true);
    // the same range under dotted comparison would not hold (3.0.19.1.deb12u2 > 3.0.19.1)
    expect(matchSoftware({ name: "openssl", version: "<3.0.19-1" }, { ...deb, source: "registry" }, "software.updated")).toBe(false);
    expect(matchSoftware({ name: "openssl", version: "3.0.*" }, deb, "software.updated")).toBe(true);
  });
  it("an unreadable range or a missing version matches nothing", () => {
    expect(matchSoftware({ name: "*", version: ">=" }, chrome, "software.installed")).toBe(false);
    expect(matchSoftware({ name: "*", version: "*" }, { name: "x", source: "registry" }, "software.installed")).toBe(false);
  });
  it("other keys (source, scope, arch) are globs too", () => {
    expect(matchSoftware({ name: "*", source: "dpkg", arch: "amd64" }, deb, "software.updated")).toBe(true);
    expect(matchSoftware({ name: "*", scope: "user:*" }, chrome, "software.installed")).toBe(false);
  });
});
