import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { must, sh } from '../../support/zfs.ts'

/**
 * The physical things a scenario's fleet stands on, all created by the scenario and removed by it (also when it
 * fails): "disks" (a tmpfs each, so nothing beneath one is shared with another or with /tmp), zfs-fuse pools and
 * btrfs filesystems on files on a disk, and loop "USB sticks" that are attached (losetup + mount) and detached
 * (umount + losetup -d) like a stick pulled out of its port.
 */
export type Undo = () => void

/** Runs undo steps last-registered first; every step runs even when an earlier one throws. */
export class Teardown {
  private readonly steps: Undo[] = []
  add(step: Undo): void {
    this.steps.push(step)
  }
  async run(): Promise<void> {
    const errors: unknown[] = []
    while (this.steps.length > 0) {
      try {
        await this.steps.pop()!()
      } catch (e) {
        errors.push(e)
      }
    }
    if (errors.length > 0) {
      throw new Error(`teardown: ${errors.map(String).join('; ')}`)
    }
  }
}

let counter = 0
const unique = (name: string): string => `${name}${process.pid % 100_000}x${++counter}`

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** A disk: a directory on its own tmpfs (or, for `systemDisk`, a directory on the filesystem holding /tmp). */
export interface Disk {
  readonly name: string
  readonly dir: string
}

export function systemDisk(teardown: Teardown): Disk {
  const dir = mkdtempSync(join(tmpdir(), 'bk-scn-sys-'))
  teardown.add(() => rmSync(dir, { recursive: true, force: true }))
  return { name: 'system disk', dir }
}

export function tmpfsDisk(teardown: Teardown, name: string, sizeMb = 300): Disk {
  const dir = mkdtempSync(join(tmpdir(), `bk-scn-${name}-`))
  teardown.add(() => rmSync(dir, { recursive: true, force: true }))
  must(['mount', '-t', 'tmpfs', '-o', `size=${sizeMb}M`, `bk${name}`, dir])
  teardown.add(() => {
    if (sh(['umount', dir]).status !== 0) {
      sh(['umount', '-l', dir])
    }
  })
  return { name, dir }
}

export interface ZfsPool {
  readonly pool: string
  /** Creates `<pool>/<name>` with a little data in it; returns its full name (the asset id). */
  dataset(name: string): string
}

/** A file-backed zfs-fuse pool on `disk` (`zpool create`), destroyed at teardown. */
export function zfsPoolOn(teardown: Teardown, disk: Disk, name: string, sizeMb = 96): ZfsPool {
  const pool = unique(name)
  const file = join(disk.dir, `${pool}.vdev`)
  writeFileSync(file, '')
  truncateSync(file, sizeMb * 1024 * 1024)
  const mnt = join(disk.dir, `${pool}.mnt`)
  must(['zpool', 'create', '-f', '-m', mnt, pool, file])
  teardown.add(() => {
    destroyPool(pool, mnt)
    rmSync(file, { force: true })
  })
  return {
    pool,
    dataset(ds) {
      const full = `${pool}/${ds}`
      must(['zfs', 'create', '-p', full])
      writeFileSync(join(mnt, ds, 'data.bin'), Buffer.alloc(64 * 1024, 7))
      return full
    },
  }
}

/**
 * zfs-fuse may call a just-used pool busy for a while (a scenario pool was once found left behind, FAULTED in
 * zfs-fuse's cache, its file removed); holds block nothing with -f on a whole pool. Retries for ~10 s, then
 * unmounts the pool's mounts lazily and tries once more; a pool that still stands is reported, not left silently.
 */
function destroyPool(pool: string, mnt: string): void {
  const exists = (): boolean => sh(['zpool', 'list', '-H', '-o', 'name', pool]).status === 0
  for (let i = 0; i < 30 && exists(); i++) {
    if (sh(['zpool', 'destroy', '-f', pool]).status === 0) {
      return
    }
    sleepMs(300)
  }
  if (!exists()) {
    return
  }
  sh(['umount', '-R', '-l', mnt])
  const last = sh(['zpool', 'destroy', '-f', pool])
  if (last.status !== 0 && exists()) {
    process.stderr.write(`# scenario teardown: zpool destroy ${pool}: ${last.stderr.trim()}\n`)
  }
}

export interface LoopFs {
  readonly mnt: string
  readonly uuid: string
  readonly dev: () => string | null
  /** Plugged in: loop device attached and filesystem mounted. */
  attach(): void
  /** Pulled out: unmounted and the loop device gone, as a stick leaves no block device behind. */
  detach(): void
}

/** A btrfs filesystem in an image file on `disk`, attached at creation; torn down whatever its state. */
export function btrfsOn(teardown: Teardown, disk: Disk, name: string, sizeMb = 160): LoopFs {
  const img = join(disk.dir, `${unique(name)}.img`)
  const mnt = mkdtempSync(join(tmpdir(), `bk-scn-mnt-${name}-`))
  writeFileSync(img, '')
  truncateSync(img, sizeMb * 1024 * 1024)
  let dev: string | null = null
  let mounted = false
  const attach = (): void => {
    dev ??= must(['losetup', '-f', '--show', img]).trim()
    must(['mount', dev, mnt])
    mounted = true
  }
  const detach = (): void => {
    if (mounted) {
      if (sh(['umount', mnt]).status !== 0) {
        sh(['umount', '-l', mnt])
      }
      mounted = false
    }
    if (dev !== null) {
      sh(['losetup', '-d', dev])
      dev = null
    }
  }
  teardown.add(() => {
    detach()
    rmSync(mnt, { recursive: true, force: true })
    rmSync(img, { force: true })
  })
  dev = must(['losetup', '-f', '--show', img]).trim()
  must(['mkfs.btrfs', '-q', '-f', '-L', `bk${name}`.slice(0, 16), dev])
  attach()
  const uuid = must(['findmnt', '-n', '-o', 'UUID', mnt]).trim()
  return { mnt, uuid, dev: () => dev, attach, detach }
}

/** `btrfs subvolume create <fs>/<name>` with a little data; returns its path (the asset id). */
export function subvolume(fs: LoopFs, name: string): string {
  const path = join(fs.mnt, name)
  must(['btrfs', 'subvolume', 'create', path])
  writeFileSync(join(path, 'data.bin'), Buffer.alloc(64 * 1024, 7))
  return path
}

/** A directory on `fs`, created if needed (a replication target's landing place). */
export function dirOn(fs: LoopFs, name: string): string {
  const path = join(fs.mnt, name)
  mkdirSync(path, { recursive: true })
  return path
}

export interface ZfsStick extends ZfsPool {
  /** Pulled out: `zpool export` (the pool leaves the system, as a USB disk's pool does before it is unplugged). */
  unplug(): void
  /** Plugged back in: `zpool import -d <its disk>`. */
  plugIn(): void
}

/** A zfs-fuse pool on its own "USB disk" (a file on `disk`, a tmpfs of its own), imported at creation. */
export function zfsStickOn(teardown: Teardown, disk: Disk, name: string, sizeMb = 96): ZfsStick {
  const p = zfsPoolOn(teardown, disk, name, sizeMb)
  return {
    ...p,
    unplug: () => {
      // zfs-fuse may call a pool busy for a moment after a job's last command; a person would simply retry.
      for (let i = 0; i < 10; i++) {
        if (sh(['zpool', 'export', p.pool]).status === 0) {
          return
        }
        sleepMs(300)
      }
      must(['zpool', 'export', p.pool]) // the last try, failing with zpool's message if the pool is still busy
    },
    plugIn: () => void must(['zpool', 'import', '-d', disk.dir, p.pool]),
  }
}

/**
 * The Backstop snapshots directly in `dir` in the order the filesystem made them (by subvolume ID, which only
 * grows): for a target, the order they were received in.
 */
export function madeInOrder(dir: string, prefix = 'backstop'): string[] {
  const id = (name: string): number =>
    Number(/Subvolume ID:\s*(\d+)/.exec(must(['btrfs', 'subvolume', 'show', join(dir, name)]))?.[1])
  return must(['ls', '-1', dir])
    .split('\n')
    .filter((n) => n.includes(`@${prefix}_`))
    .map((n) => ({ n, id: id(n) }))
    .sort((a, b) => a.id - b.id)
    .map((x) => x.n)
}
