import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { FixtureExec } from '../../../src/exec/fixture-exec.ts'
import type { PassthroughExec } from '../../../src/exec/passthrough.ts'
import { checkBtrfsCommand } from '../../../src/remote/gate/btrfs-rules.ts'
import { parseGateRulesFile, resolveGateRules } from '../../../src/remote/gate/gate-rules.ts'
import { runGate, type GateLogEntry, type GateRules } from '../../../src/remote/gate/gate.ts'
import { fingerprintOf, mergeKnownHosts, parseKeyscan } from '../../../src/remote/known-hosts.ts'
import { findmntArgv, listArgv } from '../../../src/tools/btrfs.ts'
import { parseResumeTokenContents } from '../../../src/tools/zfs-parse.ts'

const fixture = (tool: string, name: string): string =>
  readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', tool, name), 'utf8')
const btrfs = { prefix: '/mnt/nas/replicas' }

test('btrfs rules: receive and the listing below the prefix; delete, property set and escapes refused', () => {
  for (const argv of [
    ['btrfs', 'receive', '/mnt/nas/replicas/node1'],
    ['btrfs', 'receive', '-e', '/mnt/nas/replicas'],
    listArgv('/mnt/nas/replicas/node1'),
    listArgv('/mnt/nas/replicas/node1', true),
    ['btrfs', 'subvolume', 'show', '/mnt/nas/replicas/node1/home@backstop_20261110T000000Z_hdwmy'],
  ]) {
    assert.deepEqual(checkBtrfsCommand(argv, btrfs), { allow: true }, argv.join(' '))
  }
  for (const [argv, why] of [
    [['btrfs', 'subvolume', 'delete', '/mnt/nas/replicas/node1/home@x'], /subvolume delete is not allowed/],
    [['btrfs', 'property', 'set', '/mnt/nas/replicas/node1/x', 'ro', 'false'], /property is not allowed/],
    [['btrfs', 'receive', '/mnt/nas/other'], /outside \/mnt\/nas\/replicas/],
    [['btrfs', 'receive', '/mnt/nas/replicas2'], /outside/],
    [['btrfs', 'receive', '/mnt/nas/replicas/../etc'], /not a normal absolute path/],
    [['btrfs', 'receive', 'replicas'], /not a normal absolute path/],
    [['btrfs', 'receive', '-f', '/tmp/stream', '/mnt/nas/replicas'], /option -f/],
    [['btrfs', 'receive', '--dump'], /option --dump/],
    [['btrfs', 'receive', '/mnt/nas/replicas', '-C'], /after an operand/],
    [['btrfs', 'receive', '/mnt/nas/replicas', '/mnt/nas/replicas/x'], /exactly one path/],
    [['btrfs', 'send', '/mnt/nas/replicas/x'], /btrfs send is not allowed/],
    [['rm', '-rf', '/mnt/nas/replicas'], /only btrfs/],
  ] as const) {
    const d = checkBtrfsCommand(argv, btrfs)
    assert.equal(d.allow, false, `${argv.join(' ')} must be refused`)
    assert.match(d.allow ? '' : d.reason, why)
  }
})

test('gate rules: flags or a file, one zfs role per key, clear messages', () => {
  assert.deepEqual(resolveGateRules({ btrfsReceive: '/mnt/nas/replicas' }, 'flags'), {
    btrfs: btrfs,
    timeoutMs: 86_400_000,
  })
  const file = parseGateRulesFile('zfsReceive: nas/replicas\nbtrfsReceive: /srv/r\ntimeoutSeconds: 60\n', 'r.yaml')
  assert.deepEqual(resolveGateRules(file, 'r.yaml'), {
    zfs: { role: 'receive', prefix: 'nas/replicas' },
    btrfs: { prefix: '/srv/r' },
    timeoutMs: 60_000,
  })
  assert.throws(() => resolveGateRules({ zfsReceive: 'a/b', zfsSend: ['c'] }, 'flags'), /never both/)
  assert.throws(() => resolveGateRules({ btrfsReceive: '/srv/../etc' }, 'flags'), /normal absolute directory/)
  assert.throws(() => resolveGateRules({}, 'flags'), /no rules: give --zfs-receive/)
  assert.throws(() => parseGateRulesFile('btrfsReceive: relative\n', 'r.yaml'), /r\.yaml: \/btrfsReceive/)
})

interface Harness {
  readonly ran: (readonly string[])[]
  readonly log: GateLogEntry[]
  stderr: string
  readonly run: (line: string | undefined, exitCode?: number) => Promise<number>
}

function harness(rules: GateRules, exec = new FixtureExec([])): Harness {
  const h: Harness = {
    ran: [],
    log: [],
    stderr: '',
    run: async (line, exitCode = 0) => {
      const passthrough: PassthroughExec = {
        run: async (argv) => {
          h.ran.push(argv)
          return { exitCode, signal: null, durationMs: 1 }
        },
      }
      return runGate(line, rules, '192.0.2.7', {
        passthrough,
        exec,
        realpath: async (p) => p,
        mkdirp: async () => undefined,
        now: () => new Date('2026-11-10T01:00:00Z'),
        log: (e) => h.log.push(e),
        stderr: (s) => {
          h.stderr += s
        },
      })
    },
  }
  return h
}

test('the gate refuses with exit 126 and a reason, runs nothing, and logs the decision', async () => {
  const h = harness({ btrfs, timeoutMs: 1000 })
  for (const line of [
    undefined,
    'btrfs subvolume delete /mnt/nas/replicas/node1/home@backstop_20261110T000000Z_hdwmy',
    'btrfs receive /mnt/nas/replicas; rm -rf /',
    'zfs destroy tank',
    'sh',
  ]) {
    assert.equal(await h.run(line), 126, String(line))
  }
  assert.deepEqual(h.ran, [], 'nothing ran')
  assert.equal(h.log.length, 5)
  assert.ok(h.log.every((e) => e.decision === 'refused' && e.client === '192.0.2.7'))
  assert.match(h.stderr, /^backstop-gate: refused: no command: this key only runs Backstop/m)
  assert.match(h.stderr, /subvolume delete is not allowed/)
  assert.match(h.stderr, /this key has no zfs rules/)
})

test('a receive runs on the stream; a cut receive is cleaned up by the gate itself and says so', async () => {
  const dir = '/mnt/nas/replicas/node1'
  const reads = [
    { argv: [...findmntArgv], stdout: fixture('btrfs', 'findmnt-json-nas.txt'), repeat: true },
    { argv: listArgv(dir), stdout: fixture('btrfs', 'subvolume-list-uqR-partial-receive.txt'), repeat: true },
    { argv: listArgv(dir, true), stdout: fixture('btrfs', 'subvolume-list-r-uqR-partial-receive.txt'), repeat: true },
  ]
  const partial = `${dir}/home@backstop_20261110T010000Z_h`
  const exec = new FixtureExec([
    ...reads,
    { argv: ['btrfs', 'subvolume', 'delete', '--commit-after', partial], stdout: `Delete subvolume '${partial}'\n` },
    { argv: ['btrfs', 'subvolume', 'delete', '--commit-after', partial], stdout: `Delete subvolume '${partial}'\n` },
  ])
  const h = harness({ btrfs, timeoutMs: 1000 }, exec)
  assert.equal(await h.run(`btrfs receive ${dir}`, 1), 1, 'the receive’s own exit code goes back')
  assert.deepEqual(h.ran, [['btrfs', 'receive', dir]])
  const deletes = exec.calls.filter((c) => c.includes('delete'))
  assert.equal(deletes.length, 2, 'the leftover before the receive, and the partial after it failed')
  assert.ok(!exec.calls.flat().includes(`${dir}/home@s1`), 'the complete replica is never touched')
  assert.match(h.stderr, /btrfs receive cannot resume: removed the partial .*home@backstop_20261110T010000Z_h/)
  assert.deepEqual(
    h.log.map((e) => e.decision),
    ['cleaned', 'allowed', 'cleaned'],
  )
})

test('a pull resumes (send -t) only if the token, decoded on the source, names a dataset this key sends', async () => {
  const token = '1-e604ea4bf-e0-789c63a2'
  const decode = ['zfs', 'send', '-nv', '-t', token]
  const contents = fixture('zfs', 'openzfs-send-nv-t.stdout.txt')
  assert.deepEqual(parseResumeTokenContents(contents), {
    toname: 'tank/data@backstop_20261110T010000Z_h',
    toguid: '0xc7442ab399a28a9b',
    fromguid: '0x8d1e4b2c77a01f3e',
  })
  const inScope = harness(
    { zfs: { role: 'send', datasets: ['tank/data'] }, timeoutMs: 1000 },
    new FixtureExec([{ argv: decode, stdout: contents }]),
  )
  assert.equal(await inScope.run(`zfs send -t ${token}`), 0)
  assert.deepEqual(inScope.ran, [['zfs', 'send', '-t', token]], 'the resume runs as the peer asked')
  // The same token on a key that may send only tank/vm: it would stream tank/data, so it is refused.
  const other = harness(
    { zfs: { role: 'send', datasets: ['tank/vm'] }, timeoutMs: 1000 },
    new FixtureExec([{ argv: decode, stdout: contents }]),
  )
  assert.equal(await other.run(`zfs send -t ${token}`), 126)
  assert.deepEqual(other.ran, [], 'nothing sent')
  assert.match(other.stderr, /refused: zfs send -t <token>: it resumes tank\/data@backstop_\S+: .*outside tank\/vm/)
  // A token the host cannot decode (libzfs: "resume token is corrupt") is refused too.
  const corrupt = harness(
    { zfs: { role: 'send', datasets: ['tank/data'] }, timeoutMs: 1000 },
    new FixtureExec([{ argv: decode, exitCode: 255, stderr: 'cannot resume send: resume token is corrupt\n' }]),
  )
  assert.equal(await corrupt.run(`zfs send -t ${token}`), 126)
  assert.match(corrupt.stderr, /could not be decoded here .*resume token is corrupt/)
  assert.equal(parseResumeTokenContents('cannot resume send: resume token is corrupt\n'), null)
})

test('pinning: keyscan output parsed, fingerprint as ssh-keygen prints it, a re-pin replaces the old key', () => {
  const keys = parseKeyscan(fixture('ssh', 'keyscan-ed25519.stdout.txt'))
  assert.equal(keys.length, 1)
  const expected = fixture('ssh', 'keyscan-ed25519.fingerprint.txt').split(' ')[1]
  assert.equal(fingerprintOf(keys[0]!), expected)
  const marker = keys[0]!.marker
  const before = `nas ssh-ed25519 AAAAother\n${marker} ssh-ed25519 AAAAold\n`
  const after = mergeKnownHosts(before, marker, keys)
  assert.equal(after, `nas ssh-ed25519 AAAAother\n${marker} ssh-ed25519 ${keys[0]!.base64}\n`)
})
