import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeCommand, keyPairFromSeed } from '@backstop/shared'
import { buildApp } from '../../src/app.ts'
import { createCommandService } from '../../src/commands/command-service.ts'
import { harness } from '../ledger/harness.ts'
import { appDepsOf, injectAs } from '../support/app-deps.ts'

function setup() {
  const h = harness()
  const published: Buffer[] = []
  const commands = createCommandService({
    db: h.db,
    audit: h.auditLog,
    collectorSecretKey: keyPairFromSeed(new Uint8Array(32).fill(9)).secretKey,
    now: () => new Date(),
    publish: (_t, p) => published.push(p),
    nodeState: (n) => (n === 'pve1' ? 'active' : n === 'old' ? 'revoked' : 'unknown'),
  })
  const deps = appDepsOf(h, { commands })
  const app = buildApp(deps)
  return { app, api: injectAs(app, deps.bearer('operator')), published }
}

describe('command API', () => {
  it('POST issues a signed command (202) that is published and listed', async (t) => {
    const { app, api, published } = setup()
    t.after(() => app.close())
    const res = await api({
      method: 'POST',
      url: '/api/v1/nodes/pve1/commands',
      payload: { kind: 'run-job', job: 'daily', ttlSeconds: 120 },
    })
    assert.equal(res.statusCode, 202, res.body)
    const id = res.json().command.id as string
    assert.equal(decodeCommand(published[0]!).id, id)
    assert.equal((await api(`/api/v1/commands/${id}`)).json().command.status, 'sent')
    assert.deepEqual(
      (await api('/api/v1/commands?node=pve1')).json().commands.map((c: { id: string }) => c.id),
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
      const { app, api, published } = setup()
      t.after(() => app.close())
      const res = await api({
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
    const { app, api } = setup()
    t.after(() => app.close())
    assert.equal((await api('/api/v1/commands/AAAAAAAAAAAAAAAAAAAAAA')).statusCode, 404)
  })
})
