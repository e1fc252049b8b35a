import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { hasCommand } from './platform.ts'
import { must, sh } from './zfs.ts'

/**
 * btrfs on a loop file for platform tests: `losetup -f --show`, mkfs.btrfs, mount — undone in t.after
 * (unmount, detach the loop device, delete the file), also when the test fails.
 */
export function btrfsReady(): string | null {
  for (const c of ['btrfs', 'mkfs.btrfs', 'losetup', 'mount', 'umount', 'findmnt']) {
    if (!hasCommand(c)) {
      return `${c} not found (scripts/setup.sh --test installs btrfs-progs / util-linux)`
    }
  }
  return process.getuid?.() === 0 ? null : 'loop devices and mounts need root'
}

export interface TestBtrfs {
  readonly dev: string
  readonly mnt: string
  readonly uuid: string
  unmount(): void
  mount(): void
}

/** A fresh btrfs of `sizeMb` MiB mounted at a temp dir. */
export function createTestBtrfs(t: TestContext, label: string, sizeMb = 200): TestBtrfs {
  const dir = mkdtempSync(join(tmpdir(), `bk-btrfs-${label}-`))
  const img = join(dir, 'fs.img')
  const mnt = join(dir, 'mnt')
  mkdirSync(mnt)
  writeFileSync(img, '')
  truncateSync(img, sizeMb * 1024 * 1024)
  const dev = must(['losetup', '-f', '--show', img]).trim()
  let mounted = false
  const cleanup = (): void => {
    if (mounted) {
      if (sh(['umount', mnt]).status !== 0) {
        sh(['umount', '-l', mnt])
      }
      mounted = false
    }
    sh(['losetup', '-d', dev])
    rmSync(dir, { recursive: true, force: true })
  }
  t.after(cleanup)
  must(['mkfs.btrfs', '-q', '-f', '-L', `bk${label}`.slice(0, 16), dev])
  const mount = (): void => {
    must(['mount', dev, mnt])
    mounted = true
  }
  mount()
  const uuid = must(['findmnt', '-n', '-o', 'UUID', mnt]).trim()
  return {
    dev,
    mnt,
    uuid,
    mount,
    unmount: () => {
      must(['umount', mnt])
      mounted = false
    },
  }
}

/** Entries of a directory that are subvolumes we named, sorted. */
export function subvolNames(dir: string, prefix = 'backstop'): string[] {
  return must(['ls', '-1', dir])
    .split('\n')
    .filter((n) => n.includes(`@${prefix}_`))
    .sort()
}

export function subvolShow(path: string): string {
  return must(['btrfs', 'subvolume', 'show', path])
}
