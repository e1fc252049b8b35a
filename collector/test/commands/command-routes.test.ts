import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeCommand, keyPairFromSeed } from '@backstop/shared'
import { buildApp } from '../../src/app.ts'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { createCommandService } from '../../src/commands/command-service.ts'
import { openDb } from '../../src/store/db.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import { createNodesRepo } from '../../src/store/nodes-repo.ts'
import { createRunsRepo } from '../../src/store/runs-repo.ts'

function setup() {
  const { db } = openDb({ file: ':memory:' })
  const nodes = createNodesRepo(db)
  nodes.insert({
    node: 'pve1',
    publicKey: 'k',
    fingerprint: 'f',
    enrolledAt: '2026-11-22T00:00:00.000Z',
    hostname: 'pve1',
    agentVersion: '0',
  })
  const published: Buffer[] = []
  const commands = createCommandService({
    db,
    audit: createAuditLog(db),
    collectorSecretKey: keyPairFromSeed(new Uint8Array(32).fill(9)).secretKey,
    now: () => new Date(),
    publish: (_t, p) => published.push(p),
    nodeState: (n) => (n === 'pve1' ? 'active' : n === 'old' ? 'revoked' : 'unknown'),
  })
  const app = buildApp({
    nodes,
    runs: createRunsRepo(db),
    copies: createCopiesRepo(db),
    health: () => ({ db: true, broker: true }),
    commands,
  })
  return { app, published }
}

describe('command API', () => {
  it('POST issues a signed command (202) that is published and listed', async (t) => {
    const { app, published } = setup()
    t.after(() => app.close())
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/nodes/pve1/commands',
      payload: { kind: 'run-job', job: 'daily', ttlSeconds: 120 },
    })
    assert.equal(res.statusCode, 202, res.body)
    const id = res.json().command.id as string
    assert.equal(decodeCommand(published[0]!).id, id)
    assert.equal((await app.inject(`/api/v1/commands/${id}`)).json().command.status, 'sent')
    assert.deepEqual(
      (await app.inject('/api/v1/commands?node=pve1')).json().commands.map((c: { id: string }) => c.id),
      [id],
    )
  })
  const refused: Array<[string, string, unknown, number, string]> = [
    ['unknown kind', 'pve1', { kind: 'exec', job: 'daily' }, 400, 'BK_ERR_API_VALIDATION'],
    ['shell in a job name', 'pve1', { kind: 'run-job', job: 'daily; reboot' }, 400, 'BK_ERR_API_VALIDATION'],
    [
      'argv smuggled as an extra field',
      'pve1',
      { kind: 'run-job', job: 'daily', argv: ['sh'] },
      400,
      'BK_ERR_API_VALIDATION',
    ],
    ['reverify without copyId', 'pve1', { kind: 'reverify-copy', job: 'daily' }, 400, 'BK_ERR_API_VALIDATION'],
    ['ttl over an hour', 'pve1', { kind: 'run-job', job: 'daily', ttlSeconds: 7200 }, 400, 'BK_ERR_API_VALIDATION'],
    ['unknown node', 'ghost', { kind: 'run-job', job: 'daily' }, 404, 'BK_ERR_API_NOT_FOUND'],
    ['revoked node', 'old', { kind: 'run-job', job: 'daily' }, 403, 'BK_ERR_NODE_REVOKED'],
  ]
  for (const [name, node, payload, status, code] of refused) {
    it(`refuses: ${name} (nothing published)`, async (t) => {
      const { app, published } = setup()
      t.after(() => app.close())
      const res = await app.inject({
        method: 'POST',
        url: `/api/v1/nodes/${node}/commands`,
        payload: payload as object,
      })
      assert.equal(res.statusCode, status, res.body)
      assert.equal(res.json().error.code, code)
      assert.equal(published.length, 0)
    })
  }
  it('GET of an unknown command id is 404', async (t) => {
    const { app } = setup()
    t.after(() => app.close())
    assert.equal((await app.inject('/api/v1/commands/AAAAAAAAAAAAAAAAAAAAAA')).statusCode, 404)
  })
})
