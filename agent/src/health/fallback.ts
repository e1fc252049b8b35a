import type { DiskHealth } from '@backstop/shared'

/**
 * Where smartctl is absent: systeminformation's `diskLayout()` (it runs lsblk and, if present, smartctl
 * itself) gives identity, size and a coarse smart status. Its `smartStatus` values are 'Ok' / 'Predicted
 * Failure' / 'unknown' on Linux (systeminformation lib/filesystem.js `diskLayout`).
 */
export interface SiDiskLayout {
  readonly device: string
  readonly type: string
  readonly name: string
  readonly vendor: string
  readonly size: number
  readonly firmwareRevision: string
  readonly serialNum: string
  readonly interfaceType: string
  readonly smartStatus: string
  readonly temperature: number | null
}

export function diskFromLayout(d: SiDiskLayout): DiskHealth {
  const status = d.smartStatus.toLowerCase()
  const out: DiskHealth = {
    name: d.device,
    type: 'unknown',
    protocol:
      d.type === 'NVMe' || d.interfaceType === 'PCIe'
        ? 'NVMe'
        : d.interfaceType === 'SATA'
          ? 'ATA'
          : d.interfaceType === 'SCSI'
            ? 'SCSI'
            : 'unknown',
    source: 'systeminformation',
    smart: status === 'ok' ? 'passed' : status === 'predicted failure' ? 'failed' : 'unknown',
    counters: {},
    failingAttributes: [],
    messages: [],
  }
  const model = [d.vendor, d.name]
    .filter((s) => s && s.trim() !== '')
    .join(' ')
    .trim()
  if (model) {
    out.model = model.slice(0, 256)
  }
  if (d.serialNum.trim()) {
    out.serial = d.serialNum.trim()
  }
  if (d.firmwareRevision.trim()) {
    out.firmware = d.firmwareRevision.trim()
  }
  if (d.size > 0) {
    out.capacityBytes = d.size
  }
  if (d.type === 'SSD' || d.type === 'NVMe') {
    out.rotationRpm = 0
  }
  if (typeof d.temperature === 'number' && d.temperature > 0) {
    out.temperatureC = d.temperature
  }
  return out
}
