import { getDiskInfoSync } from 'node-disk-info'
import si from 'systeminformation'
import type { SystemInfo } from './collect.ts'
import type { SiDiskLayout } from './fallback.ts'
import type { SiFsSize } from './filesystems.ts'

/**
 * The real `SystemInfo` for main.ts: systeminformation's `diskLayout()` and `fsSize()`; when `fsSize()` fails
 * (it parses `df -lkPTx squashfs`, which some busybox/NAS userlands lack), node-disk-info's `df -kP` parse is
 * the fallback — it has no filesystem type, so the type is reported as `unknown`.
 */
export function librarySystemInfo(): SystemInfo {
  return {
    diskLayout: async () => (await si.diskLayout()) as SiDiskLayout[],
    fsSize: async () => {
      try {
        return (await si.fsSize()).map((r) => ({ fs: r.fs, type: r.type, size: r.size, used: r.used, mount: r.mount }))
      } catch {
        return fromNodeDiskInfo(
          getDiskInfoSync().map((d) => ({
            filesystem: d.filesystem,
            blocks: d.blocks,
            used: d.used,
            mounted: d.mounted,
          })),
        )
      }
    },
  }
}

/** node-disk-info rows (df -kP: 1K blocks) → fsSize rows. */
export function fromNodeDiskInfo(
  rows: readonly { filesystem: string; blocks: number; used: number; mounted: string }[],
): SiFsSize[] {
  return rows.map((r) => ({
    fs: r.filesystem,
    type: r.filesystem === 'tmpfs' || r.filesystem === 'devtmpfs' ? r.filesystem : 'unknown',
    size: r.blocks * 1024,
    used: r.used * 1024,
    mount: r.mounted,
  }))
}
