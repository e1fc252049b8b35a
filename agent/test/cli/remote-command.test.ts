import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { splitCommandLine } from '../../src/remote/gate/split-command.ts'
import { harness } from './cli-harness.ts'

const PUB = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPLef76cqXOV9VILtOOgxxwPJlkqTt1Q/g+6rE5E2w4o backstop@pve1'

test('remote authorized-key prints a restricted forced-command line the gate would accept', async (t) => {
  const h = harness(t)
  const key = join(h.dir, 'id.pub')
  writeFileSync(key, `${PUB}\n`)
  const r = await h.cli(
    'remote',
    'authorized-key',
    '--key',
    key,
    '--btrfs-receive',
    '/mnt/backup/my dir',
    '--from',
    '192.0.2.10',
  )
  assert.equal(r.code, 0, r.err)
  const m = /^command="(.*)",restrict,from="192\.0\.2\.10" (ssh-ed25519 \S+ backstop@pve1)\n$/.exec(r.out)
  assert.ok(m !== null, r.out)
  assert.equal(m[2], PUB.split(' ').slice(0, 3).join(' '))
  // authorized_keys unescapes \" and \\; sshd then runs the command with the user's shell: single quotes hold.
  const command = m[1]!.replaceAll('\\"', '"').replaceAll('\\\\', '\\')
  assert.deepEqual(splitCommandLine(command), {
    argv: ['/usr/local/bin/backstop-agent', 'remote-gate', '--btrfs-receive', '/mnt/backup/my dir'],
  })
})

test('remote authorized-key refuses rules the gate would refuse, and a file that is no public key', async (t) => {
  const h = harness(t)
  const key = join(h.dir, 'id.pub')
  writeFileSync(key, `${PUB}\n`)
  const both = await h.cli('remote', 'authorized-key', '--key', key, '--zfs-receive', 'nas/r', '--zfs-send', 'tank/d')
  assert.equal(both.code, 1)
  assert.match(both.err, /BK_ERR_CONFIG_INVALID: .*never both/)
  assert.equal(both.out, '', 'no line printed')
  const none = await h.cli('remote', 'authorized-key', '--key', key)
  assert.match(none.err, /no rules: give --zfs-receive/)
  writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\n')
  const priv = await h.cli('remote', 'authorized-key', '--key', key, '--btrfs-receive', '/srv/r')
  assert.equal(priv.code, 1)
  assert.match(priv.err, /--key .*id\.pub: not an OpenSSH public key line/)
})
