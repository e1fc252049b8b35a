import { BackstopError, type DiskHealth, isBackstopError } from '@backstop/shared'
import type { Exec } from '../exec/exec.ts'
import { needsExplicitType, parseSmartctlDevice, parseSmartctlScan, type ScannedDevice } from '../tools/smartctl.ts'

export interface SmartScanOptions {
  /**
   * `-d` type per device node, overriding smartctl's own choice: USB-SATA bridges that smartctl does not know
   * need `sat` (or `sat,12`, `usbjmicron`, `usbprolific` …, see firmware-notes/usb-sata-bridges.md).
   */
  readonly deviceTypes?: Readonly<Record<string, string>>
  /** Device nodes to leave alone (e.g. a RAID volume that only answers with errors). */
  readonly skip?: readonly string[]
  /** Extra devices smartctl --scan does not list (behind RAID controllers: `/dev/sda` with type `megaraid,0`). */
  readonly extra?: readonly ScannedDevice[]
}

export interface SmartScanResult {
  readonly disks: DiskHealth[]
  readonly notes: string[]
  /** False when smartctl is not installed; the caller then falls back to systeminformation. */
  readonly available: boolean
}

/**
 * `smartctl --scan -j`, then `smartctl -j -x -d TYPE DEV` per device. smartctl's exit code is a bit mask that
 * is non-zero for perfectly readable failing disks, so the JSON is always parsed and the exit code kept as
 * `exitStatus`. A device behind an unknown USB bridge is retried once with `-d sat`.
 */
export async function scanSmart(exec: Exec, opts: SmartScanOptions = {}): Promise<SmartScanResult> {
  let scanned: ScannedDevice[]
  try {
    const r = await exec.run(['smartctl', '--scan', '-j'], { timeoutMs: 60_000 })
    scanned = parseSmartctlScan(r.stdout)
  } catch (e) {
    if (isBackstopError(e, 'BK_ERR_EXEC_SPAWN')) {
      return {
        disks: [],
        notes: ['smartctl not installed (apt install smartmontools); SMART data from systeminformation'],
        available: false,
      }
    }
    throw e
  }
  const skip = new Set(opts.skip ?? [])
  const devices = [...scanned, ...(opts.extra ?? [])].filter((d) => !skip.has(d.name))
  const disks: DiskHealth[] = []
  const notes: string[] = []
  for (const dev of devices) {
    const type = opts.deviceTypes?.[dev.name] ?? dev.type
    let health = await readDevice(exec, dev.name, type)
    if (needsExplicitType(health) && type !== 'sat') {
      health = await readDevice(exec, dev.name, 'sat')
      notes.push(
        `${dev.name}: smartctl needed -d sat (unknown USB bridge); ` +
          `set health.deviceTypes["${dev.name}"] to make it explicit`,
      )
    }
    disks.push(health)
  }
  if (devices.length === 0) {
    notes.push('smartctl --scan found no devices (virtual machine or container?)')
  }
  return { disks, notes, available: true }
}

async function readDevice(exec: Exec, name: string, type: string): Promise<DiskHealth> {
  const argv = ['smartctl', '-j', '-x', ...(type && type !== 'auto' ? ['-d', type] : []), name]
  const r = await exec.run(argv, { timeoutMs: 120_000 })
  if (r.stdout.trim() === '') {
    throw new BackstopError(
      'BK_ERR_EXEC_FAILED',
      `\`${argv.join(' ')}\` printed no JSON (exit ${r.exitCode}); smartmontools ≥ 7.0 is needed for -j`,
    )
  }
  return parseSmartctlDevice(r.stdout, { name, type })
}
