import type { MediaType, StorageDevice } from '@backstop/shared'

/**
 * Media type from the probed devices, and how config may refine it. Detection wins: config can say what the
 * probe cannot see (what a loop file stands for, which kind of network store), never contradict what it saw.
 */
const transports = ['usb', 'nvme', 'sata', 'sas', 'ata', 'scsi', 'virtio'] as const

/** lsblk TRAN (plus the kernel name for virtio/NVMe disks, whose TRAN is often empty) → wire transport. */
export function transportOf(tran: string | null, kname: string): StorageDevice['transport'] {
  const t = (transports as readonly string[]).find((x) => x === tran)
  if (t !== undefined) {
    return t as StorageDevice['transport']
  }
  if (tran === 'iscsi' || tran === 'fc') {
    return 'network'
  }
  if (/^vd[a-z]/.test(kname)) {
    return 'virtio'
  }
  return /^nvme/.test(kname) ? 'nvme' : 'unknown'
}

/**
 * What the devices say. Null when nothing physical was seen: a chain of loop devices or file vdevs on a
 * filesystem that is not a block device (tmpfs), where only config can say what the file stands for.
 */
export function detectMedia(devices: readonly StorageDevice[], loopBacked: boolean): MediaType | null {
  if (devices.some((d) => d.transport === 'network')) {
    return 'nas'
  }
  if (loopBacked) {
    return null
  }
  const physical = devices.filter((d) => d.transport !== 'loop' && d.transport !== 'unknown')
  if (physical.some((d) => d.transport === 'usb' || d.removable === true)) {
    return 'usb'
  }
  if (physical.some((d) => d.transport === 'nvme')) {
    return 'nvme'
  }
  if (physical.some((d) => d.rotational === true)) {
    return 'hdd'
  }
  return physical.length > 0 ? 'ssd' : null
}

export interface RefinedMedia {
  readonly media: MediaType
  /** Set when config contradicts the probe; configcheck and the run's warnings print it. */
  readonly contradiction?: string
}

/** Refinements config may make of a detected type (a network store may be called object storage, tape …). */
const refinable: Readonly<Partial<Record<MediaType, readonly MediaType[]>>> = {
  nas: ['nas', 'object', 'tape', 'optical'],
}

export function refineMedia(detected: MediaType | null, configured: MediaType | undefined): RefinedMedia {
  if (detected === null) {
    return { media: configured ?? 'hdd' }
  }
  if (configured === undefined || configured === detected || refinable[detected]?.includes(configured)) {
    return { media: configured ?? detected }
  }
  return {
    media: detected,
    contradiction:
      `config says media "${configured}" but the device beneath it is "${detected}"; ` + `"${detected}" is reported`,
  }
}
