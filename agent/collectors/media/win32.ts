/**
 * Windows media reader: one PowerShell call returning Get-Disk, Get-Volume (with the disk
 * number of each volume's partition), Get-BitLockerVolume (BitLocker To Go) and the present USB
 * device instance ids; the assembling is done by buildWin32Media (parse-win32.ts).
 * That call runs only when the drive letters change (changeToken: kernel32, no process) or every
 * 10 minutes — never per poll. Read-only enforcement is not supported here (setReadOnly absent →
 * "not-supported").
 */
import type { Logger } from "../../../lib/log.js";
import { run } from "./exec.js";
import { buildWin32Media, jsonList, parseGetBitLockerVolume, parseGetDisk, parseGetVolume } from "./parse-win32.js";
import type { MediaReader, Medium } from "./types.js";
import { win32 } from "../../os/win32/ffi.js";
import { drivesToken, listDrives } from "../../os/win32/drives.js";

const SCRIPT = `
$ErrorActionPreference = 'SilentlyContinue'
[Console]::OutputEncoding = [System.Text.Encoding]::UTF8
$disks = @(Get-Disk | Select-Object Number, FriendlyName, SerialNumber, @{n='BusType';e={[string]$_.BusType}}, Size, Path)
$vols = @(foreach ($p in (Get-Partition | Where-Object { $_.DriveLetter })) {
  $v = $p | Get-Volume
  if ($v) { [pscustomobject]@{ DriveLetter = [string]$v.DriveLetter; DiskNumber = $p.DiskNumber; FileSystemLabel = $v.FileSystemLabel; FileSystemType = [string]$v.FileSystemType; Size = $v.Size; DriveType = [string]$v.DriveType; UniqueId = $v.UniqueId } }
})
$bl = @(Get-BitLockerVolume | Select-Object MountPoint, @{n='VolumeStatus';e={[string]$_.VolumeStatus}}, @{n='ProtectionStatus';e={[string]$_.ProtectionStatus}}, @{n='LockStatus';e={[string]$_.LockStatus}}, @{n='EncryptionMethod';e={[string]$_.EncryptionMethod}}, EncryptionPercentage)
$usb = @(Get-PnpDevice -PresentOnly | Where-Object { $_.InstanceId -like 'USB\\VID_*' } | ForEach-Object { $_.InstanceId })
[pscustomobject]@{ disks = $disks; volumes = $vols; bitlocker = $bl; usb = $usb } | ConvertTo-Json -Depth 4 -Compress
`;

/** A full PowerShell inventory at least this often even when no drive letter changed. */
const FULL_LIST_MS = 10 * 60_000;

export class Win32MediaReader implements MediaReader {
  private lastToken: string | undefined;
  private cached: { at: number; token: string; media: Medium[] } | undefined;
  private ffi: boolean | undefined;

  constructor(private readonly log?: Logger) {}

  /**
   * Drive letters, types and removable volumes' serials through kernel32 (no process): the
   * collector polls this; the PowerShell inventory runs only when it changed.
   */
  async changeToken(): Promise<string> {
    if (this.ffi === undefined) {
      try {
        win32();
        this.ffi = true;
      } catch {
        this.ffi = false;
      }
    }
    // without the FFI layer every poll lists (the token changes every time)
    this.lastToken = this.ffi ? drivesToken(listDrives()) : String(Date.now());
    return this.lastToken;
  }

  async list(): Promise<Medium[]> {
    const token = this.lastToken;
    if (token !== undefined && this.cached && this.cached.token === token && Date.now() - this.cached.at < FULL_LIST_MS) return this.cached.media;
    const media = await this.listNow();
    if (token !== undefined) this.cached = { at: Date.now(), token, media };
    return media;
  }

  private async listNow(): Promise<Medium[]> {
    const r = await run("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", SCRIPT], { timeoutMs: 60_000 });
    if (r.code !== 0) {
      this.log?.warn({ code: r.code, stderr: r.stderr.slice(0, 500) }, "PowerShell media inventory failed; no media listed this cycle");
      return [];
    }
    const doc = jsonList(r.stdout)[0] ?? {};
    const part = (v: unknown): string => JSON.stringify(v ?? []);
    return buildWin32Media({
      disks: parseGetDisk(part(doc.disks)),
      volumes: parseGetVolume(part(doc.volumes)),
      bitlocker: parseGetBitLockerVolume(part(doc.bitlocker)),
      usbDeviceIds: (Array.isArray(doc.usb) ? doc.usb : [doc.usb]).filter((x): x is string => typeof x === "string"),
    });
  }
}
