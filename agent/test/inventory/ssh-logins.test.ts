import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { FixtureExec } from '../../src/exec/fixture-exec.ts'
import {
  defaultSshKeyPaths,
  jobIdentities,
  keygenFingerprintArgv,
  parseKeygenFingerprints,
  sshKeyFacts,
} from '../../src/inventory/ssh-logins.ts'

const fixture = (p: string): string => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8')
const K1 = 'SHA256:z8cSgvOjx2YP/FLsEuM5eJijgMOHwnnmsrgoZap1ID8'
const K2 = 'SHA256:jBVhcy01i8mEzKhLVcO/B0S8YZI7/i+X0wrbo7/CKgo'

// Issue 11: a replica pulled by a NAS is immutable only while the source node has no login on the NAS. The inventory
// sends the fingerprints of the keys authorized on a node and of the keys it holds; the collector compares them.

test('ssh-keygen -l lists every key of an authorized_keys file, forced-command options and junk skipped', () => {
  assert.deepEqual(parseKeygenFingerprints(fixture('ssh-keys/keygen-l-authorized_keys.txt')), [K1, K2])
  assert.deepEqual(parseKeygenFingerprints(fixture('ssh-keys/keygen-l-identity.txt')), [K1])
  assert.deepEqual(parseKeygenFingerprints(fixture('ssh-keys/keygen-l-empty.stderr.txt')), [])
})

test('facts: fingerprints of existing files; a keyless file (exit 255) or a missing one adds nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bk-sshkeys-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const [auth, empty, id] = ['authorized_keys', 'empty', 'id_ed25519'].map((f) => join(dir, f))
  for (const f of [auth!, empty!, id!]) {
    writeFileSync(f, '')
  }
  const exec = new FixtureExec([
    { argv: keygenFingerprintArgv(auth!), stdout: fixture('ssh-keys/keygen-l-authorized_keys.txt') },
    { argv: keygenFingerprintArgv(empty!), exitCode: 255, stderr: fixture('ssh-keys/keygen-l-empty.stderr.txt') },
    { argv: keygenFingerprintArgv(id!), stdout: fixture('ssh-keys/keygen-l-identity.txt') },
  ])
  const facts = await sshKeyFacts(exec, { authorized: [auth!, empty!, join(dir, 'missing')], own: [id!] })
  assert.deepEqual(facts, { authorized: [K2, K1].sort(), own: [K1] })
})

test('where it looks by default: root and every home, authorized_keys and *.pub, plus every job identity', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bk-sshroot-'))
  t.after(() => rmSync(root, { recursive: true, force: true }))
  mkdirSync(join(root, 'root/.ssh'), { recursive: true })
  mkdirSync(join(root, 'home/admin/.ssh'), { recursive: true })
  writeFileSync(join(root, 'root/.ssh/id_ed25519.pub'), '')
  writeFileSync(join(root, 'root/.ssh/known_hosts'), '')
  const ids = jobIdentities([
    { kind: 'zfs', targets: [{ ssh: { identity: '/etc/backstop/ssh/id_ed25519', host: 'nas' } }] },
    { kind: 'zfs-pull', source: { identity: '/etc/backstop/ssh/pull' } },
    { kind: 'restic', repository: { ssh: { identity: '/etc/backstop/ssh/id_ed25519' } } },
  ])
  assert.deepEqual(ids, ['/etc/backstop/ssh/id_ed25519', '/etc/backstop/ssh/pull'])
  const paths = defaultSshKeyPaths(ids, root)
  assert.deepEqual(paths.authorized, [
    join(root, 'root/.ssh/authorized_keys'),
    join(root, 'root/.ssh/authorized_keys2'),
    join(root, 'home/admin/.ssh/authorized_keys'),
    join(root, 'home/admin/.ssh/authorized_keys2'),
  ])
  assert.deepEqual(paths.own, [join(root, 'root/.ssh/id_ed25519.pub'), ...ids])
})
