import assert from 'node:assert/strict'
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  type CommandKind,
  type CommandResultBody,
  keyPairFromSeed,
  signCommand,
  type UnsignedCommand,
} from '@backstop/shared'
import { openNonceStore } from '../../src/commands/nonce-store.ts'
import { type CommandHandlers, receiveCommand } from '../../src/commands/receive-command.ts'

const collector = keyPairFromSeed(new Uint8Array(32).fill(21))
const mallory = keyPairFromSeed(new Uint8Array(32).fill(22))
const T = Date.parse('2026-11-22T02:00:00.000Z')
const dir = mkdtempSync(join(tmpdir(), 'bk-cmd-'))
let n = 0

function cmd(over: Partial<UnsignedCommand> = {}): UnsignedCommand {
  n++
  return {
    v: 1,
    type: 'command',
    id: `nonce-${String(n).padStart(16, '0')}`,
    node: 'pve1',
    kind: 'run-job',
    args: { job: 'daily' },
    issuedAt: new Date(T - 1000).toISOString(),
    expiresAt: new Date(T + 300_000).toISOString(),
    requestedBy: 'api:ops',
    ...over,
  } as UnsignedCommand
}

function agent(o: { allow?: CommandKind[]; file?: string; now?: number; enrolled?: boolean; fail?: boolean } = {}) {
  const reports: CommandResultBody[] = []
  const ran: string[] = []
  const handlers: CommandHandlers = {
    'run-job': async (c) => {
      ran.push(`run-job ${c.args.job}`)
      if (o.fail) {
        throw new Error('job daily failed: dataset is busy')
      }
      return { runId: 'run-42' }
    },
    'reverify-copy': async (c) => {
      ran.push(`reverify-copy ${c.args.job} ${c.args.copyId}`)
      return {}
    },
    'restore-test': async (c) => {
      ran.push(`restore-test ${c.args.job}`)
      return {}
    },
  }
  const now = () => new Date(o.now ?? T)
  const file = o.file ?? join(dir, `nonces-${n}-${Math.random()}.jsonl`)
  const deps = {
    node: 'pve1',
    collectorPublicKey: () => (o.enrolled === false ? undefined : collector.publicKey),
    allow: o.allow ?? ['run-job', 'reverify-copy', 'restore-test'],
    nonces: openNonceStore(file, now),
    now,
    handlers,
    report: (b: CommandResultBody) => {
      reports.push(b)
    },
    log: { warn: () => {}, info: () => {} },
  }
  return {
    deps,
    reports,
    ran,
    file,
    receive: (payload: unknown) =>
      receiveCommand(typeof payload === 'string' ? payload : JSON.stringify(payload), deps),
  }
}

describe('agent: signed commands', () => {
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('runs a valid command once and reports accepted then succeeded with the run id', async () => {
    const a = agent()
    const c = signCommand(cmd(), collector.secretKey)
    assert.deepEqual(await a.receive(c), { status: 'succeeded' })
    assert.deepEqual(a.ran, ['run-job daily'])
    assert.deepEqual(
      a.reports.map((r) => [r.status, r.runId]),
      [
        ['accepted', undefined],
        ['succeeded', 'run-42'],
      ],
    )
  })

  const refusals: Array<
    [string, () => { payload: unknown; opts?: Parameters<typeof agent>[0] }, string, 'reported' | 'silent']
  > = [
    ['forged signature', () => ({ payload: signCommand(cmd(), mallory.secretKey) }), 'BK_ERR_CMD_SIG', 'silent'],
    [
      'not enrolled yet',
      () => ({ payload: signCommand(cmd(), collector.secretKey), opts: { enrolled: false } }),
      'BK_ERR_CMD_SIG',
      'silent',
    ],
    [
      'for another node',
      () => ({ payload: signCommand(cmd({ node: 'nas1' }), collector.secretKey) }),
      'BK_ERR_WIRE_TOPIC',
      'silent',
    ],
    [
      'expired',
      () => ({ payload: signCommand(cmd(), collector.secretKey), opts: { now: T + 301_000 } }),
      'BK_ERR_CMD_EXPIRED',
      'reported',
    ],
    [
      'kind not in allowlist',
      () => ({
        payload: signCommand(
          cmd({ kind: 'restore-test', args: { job: 'daily' } } as Partial<UnsignedCommand>),
          collector.secretKey,
        ),
        opts: { allow: ['run-job'] },
      }),
      'BK_ERR_CMD_NOT_ALLOWED',
      'reported',
    ],
    [
      'empty allowlist (default) refuses everything',
      () => ({ payload: signCommand(cmd(), collector.secretKey), opts: { allow: [] } }),
      'BK_ERR_CMD_NOT_ALLOWED',
      'reported',
    ],
    [
      'shell injection in a job name',
      () => ({ payload: { ...cmd({ args: { job: '$(reboot)' } }), sig: 'AAAA' } }),
      'BK_ERR_WIRE_SCHEMA',
      'silent',
    ],
    ['garbage', () => ({ payload: '\u0000\u0001{' }), 'BK_ERR_WIRE_JSON', 'silent'],
  ]
  for (const [name, make, code, reporting] of refusals) {
    it(`refuses: ${name}`, async () => {
      const { payload, opts } = make()
      const a = agent(opts)
      const out = await a.receive(payload)
      assert.equal(out.code, code)
      assert.deepEqual(a.ran, [], 'nothing ran')
      assert.deepEqual(
        a.reports.map((r) => [r.status, r.code]),
        reporting === 'reported' ? [['rejected', code]] : [],
      )
    })
  }

  it('a replay is refused, also after a restart (nonce persisted before running)', async () => {
    const file = join(dir, 'replay.jsonl')
    const c = signCommand(cmd(), collector.secretKey)
    const first = agent({ file })
    assert.equal((await first.receive(c)).status, 'succeeded')
    assert.equal((await first.receive(c)).code, 'BK_ERR_CMD_REPLAY')
    const restarted = agent({ file })
    assert.equal((await restarted.receive(c)).code, 'BK_ERR_CMD_REPLAY')
    assert.deepEqual(restarted.ran, [])
  })

  it('a failing handler is reported as failed with its message', async () => {
    const a = agent({ fail: true })
    const out = await a.receive(signCommand(cmd(), collector.secretKey))
    assert.equal(out.status, 'failed')
    assert.match(a.reports[1]!.message!, /dataset is busy/)
  })

  it('handlers get typed arguments for each kind', async () => {
    const a = agent()
    await a.receive(
      signCommand(
        cmd({
          kind: 'reverify-copy',
          args: { job: 'zfs-daily', copyId: 'tank/data@autosnap_2026-11-22' },
        } as Partial<UnsignedCommand>),
        collector.secretKey,
      ),
    )
    await a.receive(
      signCommand(
        cmd({ kind: 'restore-test', args: { job: 'zfs-daily' } } as Partial<UnsignedCommand>),
        collector.secretKey,
      ),
    )
    assert.deepEqual(a.ran, ['reverify-copy zfs-daily tank/data@autosnap_2026-11-22', 'restore-test zfs-daily'])
  })
})

describe('nonce store', () => {
  it('survives a torn last line and forgets nonces only after they can no longer be valid', () => {
    const file = join(dir, 'torn.jsonl')
    const s = openNonceStore(file, () => new Date(T))
    s.add('aaaaaaaaaaaaaaaa', new Date(T + 60_000).toISOString())
    s.add('bbbbbbbbbbbbbbbb', new Date(T - 3600_000).toISOString())
    appendFileSync(file, '{"id":"cccc')
    const again = openNonceStore(file, () => new Date(T))
    assert.equal(again.has('aaaaaaaaaaaaaaaa'), true)
    assert.equal(again.has('bbbbbbbbbbbbbbbb'), false, 'expired long ago (beyond clock skew)')
    const later = openNonceStore(file, () => new Date(T + 60_000 + 6 * 60_000))
    assert.equal(later.has('aaaaaaaaaaaaaaaa'), false)
  })

  it('compacts a file full of expired nonces', () => {
    const file = join(dir, 'compact.jsonl')
    const s = openNonceStore(file, () => new Date(T))
    for (let i = 0; i < 300; i++) {
      s.add(`old-${String(i).padStart(12, '0')}`, new Date(T - 3600_000).toISOString())
    }
    s.add('fresh-0000000000000', new Date(T + 60_000).toISOString())
    const reopened = openNonceStore(file, () => new Date(T))
    assert.equal(reopened.size, 1)
    assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1)
  })
})
