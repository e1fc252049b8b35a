import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Compile } from 'typebox/compile'
import { type CommandOutcome, CommandResultBody, type Copy, keyPairFromSeed } from '@backstop/shared'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { createCommandService } from '../../src/commands/command-service.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import { openDb } from '../../src/store/db.ts'

const collector = keyPairFromSeed(new Uint8Array(32).fill(5))
const checkResult = Compile(CommandResultBody)
const COPY = 'archive:/backups/pve-config-20261122T010000Z.tar.gz'

function world() {
  const { db } = openDb({ file: ':memory:' })
  const audit = createAuditLog(db)
  const svc = createCommandService({
    db,
    audit,
    collectorSecretKey: collector.secretKey,
    now: () => new Date('2026-11-22T02:00:00.000Z'),
    publish: () => {},
    nodeState: () => 'active',
  })
  const copies = createCopiesRepo(db)
  const copy: Copy = {
    copyId: COPY,
    asset: { kind: 'file-set', id: 'fileset:pve-config' },
    location: { kind: 'dir', target: '/backups' },
    name: 'pve-config-20261122T010000Z.tar.gz',
    media: 'usb',
    offsite: false,
    offline: false,
    immutable: false,
    createdAt: '2026-11-22T01:00:00.000Z',
    verification: { state: 'verified', at: '2026-11-22T01:00:05.000Z', method: 'sha256-manifest+tar-list' },
  }
  copies.upsert('pve1', copy, 'run-1', Date.parse('2026-11-22T01:00:06.000Z'))
  db.prepare('DELETE FROM ledger_changes').run()
  const only = () => copies.query({ node: 'pve1', includeDeleted: false, limit: 10, offset: 0 })[0]!
  const queued = () =>
    db.prepare("SELECT count(*) AS n FROM ledger_changes WHERE kind = 'asset' AND b = 'fileset:pve-config'").get() as {
      n: number
    }
  return { db, svc, audit, only, queued }
}

const outcome = (over: Partial<CommandOutcome> = {}): CommandOutcome => ({
  result: 'ok',
  job: 'pve-config',
  jobKind: 'archive',
  copyId: COPY,
  method: 'sha256-manifest+tar-list',
  checks: ['sha256 matches'],
  bytes: 1234,
  durationMs: 40,
  at: '2026-11-22T02:00:30.000Z',
  ...over,
})

function body(id: string, kind: 'reverify-copy' | 'restore-test', o: CommandOutcome): CommandResultBody {
  const b: CommandResultBody = {
    commandId: id,
    kind,
    status: o.result === 'ok' ? 'succeeded' : 'failed',
    outcome: o,
    at: o.at,
    ...(o.error ? { code: o.error.code, message: o.error.message } : {}),
  }
  assert.ok(checkResult.Check(b), 'a valid wire body')
  return b
}

describe('collector: reverify-copy / restore-test results reach the copy', () => {
  it('a passed re-verify stamps the copy verified (method, time, checks) and queues the asset for the ledger', () => {
    const w = world()
    const cmd = w.svc.issue({
      node: 'pve1',
      kind: 'reverify-copy',
      args: { job: 'pve-config', copyId: COPY },
      requestedBy: 'api:ops',
    })
    assert.equal(w.svc.recordResult('pve1', body(cmd.id, 'reverify-copy', outcome()), '2026-11-22T02:00:31.000Z'), true)
    const c = w.only()
    assert.deepEqual(
      [c.verification.state, c.verification.at, c.verification.method],
      ['verified', '2026-11-22T02:00:30.000Z', 'reverify:sha256-manifest+tar-list'],
    )
    assert.match(c.verification.detail!, new RegExp(`command ${cmd.id}: sha256 matches`))
    assert.equal(w.queued().n, 1)
    assert.equal(w.svc.get(cmd.id)!.outcome?.result, 'ok')
    assert.equal(w.audit.list({}).at(-1)!.action, 'command.succeeded')
  })

  it('a failed re-verify makes the copy failed with the coded error', () => {
    const w = world()
    const cmd = w.svc.issue({
      node: 'pve1',
      kind: 'reverify-copy',
      args: { job: 'pve-config', copyId: COPY },
      requestedBy: 'api:ops',
    })
    w.svc.recordResult(
      'pve1',
      body(
        cmd.id,
        'reverify-copy',
        outcome({ result: 'failed', error: { code: 'BK_ERR_VERIFY_FAILED', message: 'sha256 differs' } }),
      ),
      '2026-11-22T02:00:31.000Z',
    )
    const c = w.only()
    assert.equal(c.verification.state, 'failed')
    assert.match(c.verification.detail!, /BK_ERR_VERIFY_FAILED: sha256 differs/)
    const row = w.svc.get(cmd.id)!
    assert.deepEqual([row.status, row.resultCode], ['failed', 'BK_ERR_VERIFY_FAILED'])
  })

  it("ignored: another copy's outcome, a finding older than the last verification, a result without outcome", () => {
    const w = world()
    const a = w.svc.issue({
      node: 'pve1',
      kind: 'reverify-copy',
      args: { job: 'pve-config', copyId: COPY },
      requestedBy: 'x',
    })
    w.svc.recordResult(
      'pve1',
      body(
        a.id,
        'reverify-copy',
        outcome({
          result: 'failed',
          copyId: 'archive:/backups/other.tar.gz',
          error: { code: 'BK_ERR_VERIFY_FAILED', message: 'm' },
        }),
      ),
      '2026-11-22T02:00:31.000Z',
    )
    const b = w.svc.issue({
      node: 'pve1',
      kind: 'reverify-copy',
      args: { job: 'pve-config', copyId: COPY },
      requestedBy: 'x',
    })
    w.svc.recordResult(
      'pve1',
      body(
        b.id,
        'reverify-copy',
        outcome({
          result: 'failed',
          at: '2026-11-22T00:59:00.000Z',
          error: { code: 'BK_ERR_VERIFY_FAILED', message: 'm' },
        }),
      ),
      '2026-11-22T02:00:31.000Z',
    )
    const c = w.svc.issue({
      node: 'pve1',
      kind: 'reverify-copy',
      args: { job: 'pve-config', copyId: COPY },
      requestedBy: 'x',
    })
    w.svc.recordResult(
      'pve1',
      {
        commandId: c.id,
        kind: 'reverify-copy',
        status: 'failed',
        code: 'BK_ERR_JOB_BUSY',
        at: '2026-11-22T02:00:31.000Z',
      },
      '2026-11-22T02:00:31.000Z',
    )
    assert.equal(w.only().verification.state, 'verified')
    assert.equal(w.only().verification.at, '2026-11-22T01:00:05.000Z')
    assert.equal(w.svc.get(c.id)!.outcome, null)
  })

  it('a restore test is stored on the copy (newest wins) and leaves its verification alone', () => {
    const w = world()
    const cmd = w.svc.issue({ node: 'pve1', kind: 'restore-test', args: { job: 'pve-config' }, requestedBy: 'api:ops' })
    w.svc.recordResult(
      'pve1',
      body(cmd.id, 'restore-test', outcome({ method: 'sha256-manifest+tar-extract+tar-diff' })),
      '2026-11-22T02:00:31.000Z',
    )
    const c = w.only()
    assert.deepEqual(c.restoreTest, {
      result: 'ok',
      at: '2026-11-22T02:00:30.000Z',
      commandId: cmd.id,
      method: 'sha256-manifest+tar-extract+tar-diff',
      bytes: 1234,
      code: null,
    })
    assert.equal(c.verification.method, 'sha256-manifest+tar-list')
    const old = w.svc.issue({ node: 'pve1', kind: 'restore-test', args: { job: 'pve-config' }, requestedBy: 'api:ops' })
    w.svc.recordResult(
      'pve1',
      body(
        old.id,
        'restore-test',
        outcome({
          result: 'failed',
          at: '2026-11-22T01:30:00.000Z',
          error: { code: 'BK_ERR_RESTORE_TEST_FAILED', message: 'x' },
        }),
      ),
      '2026-11-22T02:00:32.000Z',
    )
    assert.equal(w.only().restoreTest!.commandId, cmd.id, 'an older test result does not replace a newer one')
  })
})
