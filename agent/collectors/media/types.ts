/**
 * Removable media (別記2 第2 持ち出し, 第3, 第11 取り入れ時のウイルスチェック; 第12 第8項, 第10項(2) 暗号化):
 * the shapes shared by the parsers, the OS readers and the collector.
 */

/** How a medium's contents are protected, as far as the agent can tell. */
export type EncryptionKind = "luks1" | "luks2" | "luks" | "bitlocker" | "apfs" | "dm-crypt" | "filevault" | null;

/**
 * One removable medium as the agent sees it: a volume (a partition, or a whole disk without a
 * partition table) on a removable disk. Identity fields come from the disk it lives on.
 */
export interface Medium {
  /** stable while the medium stays attached (device + disk sequence / volume uuid) */
  key: string;
  /** OS path of the volume: /dev/sdb1, /dev/loop3, /dev/disk4s1, E: */
  device: string;
  /** the whole disk the volume lives on (/dev/sdb, /dev/disk4, \\.\PhysicalDrive2) */
  disk: string | null;
  /** USB vendor id, 4 lowercase hex digits (idVendor) */
  vendorId: string | null;
  /** USB product id, 4 lowercase hex digits (idProduct) */
  productId: string | null;
  serial: string | null;
  vendor: string | null;
  model: string | null;
  label: string | null;
  fsType: string | null;
  uuid: string | null;
  /** bytes */
  size: number | null;
  /** where it is mounted, or null when it is attached but not mounted */
  mount: string | null;
  /** the mount is read-only right now */
  mountReadOnly: boolean;
  /** usb, ata, nvme, mmc, loop, virtio, sas… as far as known */
  bus: string | null;
  /** true: encrypted; false: a plain filesystem; null: could not tell */
  encrypted: boolean | null;
  encryption: EncryptionKind;
  /** mounted through FUSE (exfat-fuse, ntfs-3g): remounting read-only may not be supported */
  fuse: boolean;
}

/** What an OS reader returns for the collector to diff. */
export interface MediaReader {
  /** removable media attached now (mounted or not) */
  list(opts: { treatAsRemovable: readonly string[] }): Promise<Medium[]>;
  /**
   * A cheap text that changes whenever list() could change (Linux: mountinfo + partitions).
   * Without it the collector lists every cycle.
   */
  changeToken?(): Promise<string>;
  /** Load what watch() needs (async; called once at start, before watch). */
  prepare?(): Promise<void>;
  /** Start an OS notification source that calls onChange on device events; returns a stopper. */
  watch?(onChange: () => void): () => void;
  /**
   * The OS event sources watch() has running ("uevent" = devices, "mountinfo" = mounts). With
   * both, the collector polls slowly (the safety net); without, every policy.media.pollSeconds.
   */
  live?(): ReadonlySet<string>;
  /** Make the mount read-only (or writable again) until the scan is clean. */
  setReadOnly?(medium: Medium, readOnly: boolean): Promise<ReadOnlyChange>;
  /**
   * setReadOnly dismounts the volume (Windows): before making it writable again the collector
   * releases its own handles on the medium (the copy-out watch) and watches again afterwards.
   */
  readOnlyRemounts?: boolean;
  /**
   * Removal requests for a mounted medium (Windows: an eject asks first). On "query-remove" the
   * collector releases every handle it holds on the medium before returning (else the eject is
   * refused); on "query-remove-failed" it watches again; "removed": the device is going away.
   * Returns the stopper.
   */
  watchRemoval?(medium: Medium, onEvent: (e: RemovalEvent) => void): () => void;
  /**
   * The volume's encryption, read once when the medium is announced (never per poll): Windows'
   * BitLocker To Go state. null: could not tell (the inventory's guess stays).
   */
  encryptionOf?(medium: Medium): Promise<VolumeEncryption | null>;
}

/** BitLocker To Go as read at insertion (media.inserted details.bitlocker). */
export interface BitLockerState {
  /** on, off, encrypting, decrypting, paused, suspended, locked, or unknown (<value>) */
  state: string;
  locked: boolean | null;
  source: "shell-property" | "Win32_EncryptableVolume";
}

export interface VolumeEncryption {
  encrypted: boolean | null;
  encryption: EncryptionKind;
  bitlocker: BitLockerState;
}

export type RemovalEvent = "query-remove" | "query-remove-failed" | "removed";

/**
 * What setReadOnly did. "already": the medium was read-only before the agent touched it (Windows: the
 * disk's read-only attribute) — it is then never made writable by the agent. `code`: the OS error
 * (Windows: the Win32 error of the call that failed).
 */
export type ReadOnlyChange =
  | { ok: true; method: string }
  | { ok: false; reason: "not-supported" | "failed" | "already"; detail: string; code?: number };

/**
 * What happened to readOnlyUntilScanned for one medium, reported in media.scanned:
 * off (policy off), enforced (read-only, scan pending), released (clean scan → writable again),
 * kept (scan not clean → stays read-only), already (mounted read-only by someone else),
 * not-supported (this OS/filesystem cannot be remounted), failed (the remount was refused).
 */
export type ReadOnlyState = "off" | "enforced" | "released" | "kept" | "already" | "not-supported" | "failed";

export type ScanResultKind = "clean" | "infected" | "failed" | "scanner-missing";

export interface InfectedFile {
  path: string;
  signature: string;
}

export interface ScanOutcome {
  result: ScanResultKind;
  signatures: string[];
  infectedFiles: InfectedFile[];
  /** clamscan | clamdscan | null when none was found */
  scanner: string | null;
  durationMs: number;
  scannedFiles: number | null;
  /** why it failed, for result failed / scanner-missing */
  error?: string;
}

/** One file written onto a medium (持ち出し). sha256 is null when it could not be read back. */
export interface CopiedFile {
  path: string;
  size: number;
  sha256: string | null;
}
