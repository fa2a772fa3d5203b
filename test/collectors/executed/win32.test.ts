/**
 * The executed collector's Windows reader on Linux, with its two Windows APIs faked or captured:
 *  - the signer: WinVerifyTrust results captured under Wine (fixtures/win32/executed/
 *    winverifytrust-wine.json: an unsigned PE, the signed node.exe, a missing file) decoded to the
 *    event's signer fields; the reader asks WinVerifyTrust once per (path, size, mtime);
 *  - the index: the Uninstall keys' InstallLocation values through a fake registry API (machine
 *    keys, a user's hive, a service account's hive that is not read, values refused), the change
 *    watch moving the index token.
 * The same code runs for real under Wine in test/e2e/windows-executed.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { signatureOf, signerFromWinVerifyTrust } from "../../../agent/collectors/executed/parse-win32.js";
import { Win32ExecutedPlatform } from "../../../agent/collectors/executed/win32.js";
import type { RegistryApi, UninstallKey } from "../../../agent/collectors/software/win32.js";
import type { Values } from "../../../agent/collectors/software/parse-win32.js";

interface Captured { path: string; code: number; subject?: string; issuer?: string; thumbprint?: string }
const captured = JSON.parse(readFileSync(new URL("../../fixtures/win32/executed/winverifytrust-wine.json", import.meta.url), "utf8")) as Captured[];
const byName = (name: string): Captured => captured.find((c) => c.path.toLowerCase().endsWith(name))!;
const dir = mkdtempSync(join(tmpdir(), "kyoka-exec-win32-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ENV = { SystemRoot: "C:\\Windows", ProgramFiles: "C:\\Program Files", "ProgramFiles(x86)": "C:\\Program Files (x86)" };

describe("the signer from WinVerifyTrust (results captured under Wine)", () => {
  it("the signed node.exe: valid, the OpenJS Foundation, with the certificate's subject, issuer and thumbprint", () => {
    const r = byName("node.exe");
    expect(signatureOf(signerFromWinVerifyTrust(r.code, r))).toEqual({
      signer: "OpenJS Foundation", status: "valid",
      detail: { subject: r.subject, issuer: "CN=DigiCert Trusted G4 Code Signing RSA4096 SHA384 2021 CA1, O=\"DigiCert, Inc.\", C=US", thumbprint: "6153EB0186DD8FEBD9E3693F4F110DEFC007715D" },
    });
  });

  it("an unsigned PE: TRUST_E_NOSIGNATURE → not signed, no signer; a missing file → unknown error", () => {
    expect(signatureOf(signerFromWinVerifyTrust(byName("notepad.exe").code))).toEqual({ signer: null, status: "not_signed" });
    expect(signatureOf(signerFromWinVerifyTrust(byName("nonexistent.exe").code)).status).toBe("unknown_error");
  });

  it("the reader asks once per path, size and modification time; the HRESULT is kept in the detail", async () => {
    const calls: string[] = [];
    const platform = new Win32ExecutedPlatform({
      env: ENV, registry: null,
      verify: async (path) => {
        calls.push(path);
        return path.endsWith("signed.exe") ? byName("node.exe") : byName("notepad.exe");
      },
    });
    const file = join(dir, "tool.exe");
    writeFileSync(file, "MZ one");
    const first = await platform.signer(file);
    expect(first).toEqual({ signer: null, status: "not_signed", detail: { code: "0x800b0100" } });
    expect(await platform.signer(file)).toEqual(first);
    expect(calls).toHaveLength(1);
    // replaced in place (another size, another time): asked again
    writeFileSync(file, "MZ two, longer");
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    await platform.signer(file);
    expect(calls).toHaveLength(2);
    const signed = await platform.signer(join(dir, "signed.exe"));
    expect(signed).toMatchObject({ signer: "OpenJS Foundation", status: "valid", detail: { code: "0x00000000", thumbprint: "6153EB0186DD8FEBD9E3693F4F110DEFC007715D" } });
  });
});

/** A registry with Uninstall entries: key label → entry name → values. */
function fakeRegistry(keys: Record<string, Record<string, Values>>, hives: string[]): RegistryApi & { asked: string[][]; fire: () => void; watched: string[] } {
  const watchers: Array<() => void> = [];
  const asked: string[][] = [];
  const watched: string[] = [];
  return {
    asked, watched,
    fire: () => watchers.forEach((w) => w()),
    loadedHives: () => hives,
    profiles: () => hives,
    readUninstall: (key: UninstallKey, values?: readonly string[]) => {
      asked.push([...(values ?? [])]);
      const entries = keys[`${key.root}\\${key.sub}`];
      if (!entries) return undefined;
      // the API returns only the values asked for
      return new Map(Object.entries(entries).map(([name, v]) => [name, Object.fromEntries(Object.entries(v).filter(([k]) => values?.includes(k)))]));
    },
    watch: (key, _subtree, onChange) => {
      watched.push(`${key.root}\\${key.sub}`);
      watchers.push(onChange);
      return () => undefined;
    },
  };
}

describe("the package index from the registry API", () => {
  const U = "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
  const U32 = "Software\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
  const SID = "S-1-5-21-1004336348-1177238915-682003330-1001";
  const registry = () => fakeRegistry({
    [`HKLM\\${U}`]: { "7-Zip": { InstallLocation: "C:\\Program Files\\7-Zip\\", DisplayName: "7-Zip" }, Tools: { InstallLocation: "\"D:\\Tools\\Site\"" }, Bad: { InstallLocation: "C:\\" }, Empty: {} },
    [`HKLM\\${U32}`]: { Old: { InstallLocation: "D:\\Legacy App" } },
    [`HKU\\${SID}\\${U}`]: { Zoom: { InstallLocation: "C:\\Users\\taro\\AppData\\Roaming\\Zoom\\bin" } },
    [`HKU\\S-1-5-18\\${U}`]: { System: { InstallLocation: "C:\\Users\\Public\\Evil" } },
  }, [SID, `${SID}_Classes`, "S-1-5-18"]);

  it("install locations of machine and user entries; drive roots refused; only InstallLocation asked for", async () => {
    const reg = registry();
    const index = await new Win32ExecutedPlatform({ env: ENV, registry: reg }).buildIndex();
    expect(index.lookup("c:\\program files\\7-zip\\7z.exe")).toMatchObject({ kind: "tree" });
    expect(index.lookup("D:\\Tools\\Site\\run.exe")).toMatchObject({ source: "uninstall" });
    expect(index.lookup("D:\\Legacy App\\x.exe")).toMatchObject({ source: "uninstall" });
    expect(index.lookup("C:\\Users\\taro\\AppData\\Roaming\\Zoom\\bin\\Zoom.exe")).toMatchObject({ source: "uninstall" });
    expect(index.lookup("C:\\Users\\taro\\Downloads\\putty.exe")).toBeUndefined(); // "C:\" was refused
    expect(index.lookup("C:\\Users\\Public\\Evil\\x.exe")).toBeUndefined(); // a service account's hive is not a user's
    expect(index.lookup("C:\\Windows\\System32\\cmd.exe")).toMatchObject({ source: "windows" });
    expect(index.lookup("C:\\Windows\\Temp\\x.exe")).toBeUndefined();
    expect(reg.asked.length).toBe(4); // HKLM 64/32 + the user's two keys
    expect(reg.asked.every((v) => v.length === 1 && v[0] === "InstallLocation")).toBe(true);
  });

  it("a change to a watched Uninstall key moves the index token and asks for a rebuild", async () => {
    const reg = registry();
    const platform = new Win32ExecutedPlatform({ env: ENV, registry: reg });
    let rebuilds = 0;
    const stop = platform.watchIndex(() => rebuilds++);
    expect(reg.watched).toEqual(["HKU\\", `HKLM\\${U}`, `HKLM\\${U32}`, `HKU\\${SID}\\${U}`, `HKU\\${SID}\\${U32}`]);
    const before = await platform.indexToken();
    reg.fire();
    expect(rebuilds).toBe(5);
    expect(await platform.indexToken()).not.toBe(before);
    stop();
  });
});
