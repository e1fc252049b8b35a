import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { parseRcloneConfigDump, rclonePlace } from '../../src/tools/rclone-parse.ts'

// Recorded from Debian's rclone 1.60 (`RCLONE_CONFIG=rclone.conf rclone config dump`, the file next to it).
const dump = readFileSync(new URL('../fixtures/rclone/config-dump.json', import.meta.url), 'utf8')
const config = parseRcloneConfigDump(dump)

test('rclone: every remote of a real config dump, followed to where the bytes are', () => {
  const cases: [string, ReturnType<typeof rclonePlace>][] = [
    ['usb:/mnt/usb/restic', { kind: 'local', path: '/mnt/usb/restic' }],
    ['usb:relative/dir', { kind: 'local', path: '/relative/dir' }],
    // alias → local: a repository that looks remote but is a directory of this host.
    ['offsite:pve1', { kind: 'local', path: '/mnt/usb/restic/pve1' }],
    // crypt → sftp: the encrypted bytes are on the sftp host.
    ['secret:repo', { kind: 'host', host: '198.51.100.2' }],
    ['nas:/srv/restic', { kind: 'host', host: '198.51.100.2' }],
    ['minio:bucket/restic', { kind: 'host', host: '127.0.0.1' }],
    ['aws:bucket/restic', { kind: 'host', host: 's3.eu-west-1.amazonaws.com' }],
    ['dav:restic', { kind: 'host', host: 'dav.example.net' }],
    ['b2:bucket', { kind: 'host', host: 'b2' }],
    ['both:x', { kind: 'unknown', why: 'rclone remote "both" (union) spreads over several upstreams' }],
    ['gone:x', { kind: 'unknown', why: 'rclone remote "gone" is not in rclone\'s config as the agent sees it' }],
    // On-the-fly remotes need no config.
    [':local:/srv/restic', { kind: 'local', path: '/srv/restic' }],
    [':sftp,host=nas.example.net,user=backup:/srv', { kind: 'host', host: 'nas.example.net' }],
  ]
  for (const [spec, want] of cases) {
    assert.deepEqual(rclonePlace(config, spec), want, spec)
  }
})

test('rclone: an alias loop is reported, not followed forever; a dump that is not an object is refused', () => {
  const loop = new Map([
    ['a', { type: 'alias', remote: 'b:' }],
    ['b', { type: 'alias', remote: 'a:' }],
  ])
  assert.equal(rclonePlace(loop, 'a:x').kind, 'unknown')
  assert.throws(() => parseRcloneConfigDump('[]'), /no JSON object/)
})
