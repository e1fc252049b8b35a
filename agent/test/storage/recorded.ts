import { readFileSync } from 'node:fs'
import { FixtureExec, type ExecFixture } from '../../src/exec/fixture-exec.ts'
import { lsblkStorageArgv } from '../../src/tools/lsblk.ts'
import { findmntTargetArgv } from '../../src/tools/storage-parse.ts'

export const fx = (name: string): string =>
  readFileSync(new URL(`../fixtures/storage/${name}`, import.meta.url), 'utf8')
export const R = '/tmp/bk-h7-rec'

/** The machine as recorded (fixtures/storage/README.md): every answer may be asked for any number of times. */
export function recorded(mounted = true): FixtureExec {
  const f = (argv: string[], stdout: string, exitCode = 0, stderr = ''): ExecFixture => ({
    argv,
    stdout,
    stderr,
    exitCode,
    repeat: true,
  })
  return new FixtureExec([
    f(['zpool'], '', 2, fx('zpool-usage-zfs-fuse-0.7.txt')),
    f(['zpool', 'status', 'bkh7pa'], fx('zpool-status-zfs-fuse-files.txt').split(/(?=^ {2}pool: bkh7pa)/m)[1]!),
    f(['zpool', 'status', 'bkh7pb'], fx('zpool-status-zfs-fuse-pb.txt')),
    f(['zpool', 'list', '-H', '-o', 'name,guid', 'bkh7pa'], fx('zpool-list-H-name-guid.txt')),
    f(['zpool', 'list', '-H', '-o', 'name,guid', 'bkh7pb'], fx('zpool-list-H-name-guid-pb.txt')),
    f(findmntTargetArgv('/'), fx('findmnt-T-root.json')),
    f(findmntTargetArgv(`${R}/a/p1.img`), fx('findmnt-T-ext4-root.json')),
    f(findmntTargetArgv(`${R}/a/p2.img`), fx('findmnt-T-ext4-root.json')),
    f(findmntTargetArgv(`${R}/b.img`), fx('findmnt-T-ext4-root.json')),
    f(findmntTargetArgv(`${R}/bm/data`), fx('findmnt-T-btrfs-loop.json')),
    f(['btrfs', 'filesystem', 'show', `${R}/bm`], fx('btrfs-filesystem-show-loop.txt')),
    f(findmntTargetArgv(`${R}/um`), fx(mounted ? 'findmnt-T-loop-usb.json' : 'findmnt-T-usb-unmounted.json')),
    f(findmntTargetArgv(`${R}/usbfs/usb.img`), fx('findmnt-T-tmpfs.json')),
    f(lsblkStorageArgv(), fx('lsblk-storage.json')),
    f(['losetup', '-J'], fx('losetup-J.json')),
    mounted
      ? f(['blkid', '-c', '/dev/null', '-o', 'export', '-t', 'LABEL=BKH7USB'], fx('blkid-label-BKH7USB.txt'))
      : f(['blkid', '-c', '/dev/null', '-o', 'export', '-t', 'LABEL=BKH7USB'], '', 2),
  ])
}
