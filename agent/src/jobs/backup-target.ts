/**
 * Where a job writes, for fill forecasts (health/backup-targets.ts): a directory, or a ZFS dataset whose mountpoint
 * is looked up in the same `fsSize()` rows the disk report uses (df lists a ZFS filesystem under its dataset name).
 */
export type BackupTarget = { readonly path: string } | { readonly zfs: string }
