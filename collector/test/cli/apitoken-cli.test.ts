import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { buildApp } from '../../src/app.ts'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { runCli } from '../../src/cli.ts'
import { openDb } from '../../src/store/db.ts'
import { appDepsOnDb } from '../support/app-deps.ts'
import { tempDir } from '../support/harness.ts'

async function cli(args: string[]) {
  const out: string[] = []
  const err: string[] = []
  const code = await runCli(['node', 'backstop-collector', ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    start: async () => undefined,
  })
  return { code, out, err }
}

describe('apitoken CLI', () => {
  it('create prints a working token once; list hides it; revoke locks it out; all audited', async (t) => {
    const dir = tempDir(t)
    const cfg = join(dir, 'collector.yaml')
    writeFileSync(cfg, `dataDir: ${dir}\nenrollment: {tokens: [static-token-0123456789abcdef]}\n`)
    const created = await cli(['apitoken', 'create', '--name', 'grafana', '--role', 'viewer', '-c', cfg])
    assert.equal(created.code, 0, created.err.join('\n'))
    const token = created.out[0]!
    assert.match(token, /^bkt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
    const id = token.slice(4, 20)
    const list = await cli(['apitoken', 'list', '-c', cfg])
    assert.match(list.out.join('\n'), new RegExp(`${id}\\s+viewer\\s+grafana`))
    assert.ok(!list.out.join('\n').includes(token.slice(21)), 'the secret is never listed')
    assert.equal((await cli(['apitoken', 'create', '--name', 'x', '--role', 'root', '-c', cfg])).code, 1)

    const { db } = openDb({ file: join(dir, 'collector.db') })
    t.after(() => db.close())
    const app = buildApp(appDepsOnDb(db))
    t.after(() => app.close())
    assert.equal((await app.inject('/api/v1/compliance/summary')).statusCode, 401, 'no token sent')
    assert.equal(
      (await app.inject({ url: '/api/v1/compliance/summary', headers: { authorization: `Bearer ${token}` } }))
        .statusCode,
      200,
    )
    assert.equal((await cli(['apitoken', 'revoke', id, '-c', cfg])).code, 0)
    assert.equal(
      (await app.inject({ url: '/api/v1/compliance/summary', headers: { authorization: `Bearer ${token}` } }))
        .statusCode,
      401,
      'revoked at once',
    )
    const actions = createAuditLog(db)
      .list({})
      .map((e) => e.action)
    assert.deepEqual(actions, ['apitoken.create', 'apitoken.revoke'])
  })
})
