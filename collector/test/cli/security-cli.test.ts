import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { runCli } from '../../src/cli.ts'
import { openDb } from '../../src/store/db.ts'
import { loadOrCreateTls } from '../../src/tls/load-or-create.ts'
import { tempDir } from '../support/harness.ts'

async function cli(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const code = await runCli(['node', 'backstop-collector', ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    start: async () => undefined,
  })
  return { code, out, err }
}

function setup(t: TestContext): string {
  const dir = tempDir(t)
  const cfg = join(dir, 'collector.yaml')
  writeFileSync(cfg, `dataDir: ${dir}\nenrollment: {tokens: [static-token-0123456789abcdef]}\n`)
  return cfg
}

describe('security CLI: token, node, audit', () => {
  it('token create prints the token once, the pin and the agent config; list shows no secret', async (t) => {
    const cfg = setup(t)
    const tls = loadOrCreateTls({
      dir: join(cfg, '..', 'tls'),
      names: ['localhost'],
      now: new Date(),
      keyBits: { ca: 2048, server: 2048 },
    })
    const r = await cli(['token', 'create', '-c', cfg, '--ttl', '2h', '--note', 'pve3'])
    assert.equal(r.code, 0, r.err.join('\n'))
    const token = /^token:\s+(bk_\S+)$/m.exec(r.out.join('\n'))?.[1]
    assert.ok(token)
    assert.match(r.out.join('\n'), new RegExp(`fingerprint: "${tls.fingerprint}"`))
    const list = await cli(['token', 'list', '-c', cfg])
    assert.match(list.out.join('\n'), /valid\s+\S+\s+-\s+pve3/)
    assert.ok(!list.out.join('\n').includes(token!.slice(12)))
    const bad = await cli(['token', 'create', '-c', cfg, '--ttl', 'forever'])
    assert.equal(bad.code, 1)
    assert.match(bad.err.join('\n'), /BK_ERR_API_VALIDATION: .*--ttl "forever"/)
  })

  it('node commands are audited; unknown nodes are a clear error', async (t) => {
    const cfg = setup(t)
    const { db } = openDb({ file: join(cfg, '..', 'collector.db') })
    db.prepare(
      'INSERT INTO nodes (node, public_key, fingerprint, enrolled_at) ' +
        "VALUES ('pve1', 'k', 'fp1', '2026-11-22T00:00:00Z')",
    ).run()
    db.close()
    assert.equal((await cli(['node', 'revoke', 'pve1', '--reason', 'stolen', '-c', cfg])).code, 0)
    assert.match((await cli(['node', 'list', '-c', cfg])).out.join('\n'), /pve1\s+revoked\s+fp1.*\(stolen\)/)
    assert.equal((await cli(['node', 'reenroll', 'pve1', '-c', cfg])).code, 0)
    const ghost = await cli(['node', 'revoke', 'ghost', '--reason', 'x', '-c', cfg])
    assert.equal(ghost.code, 1)
    assert.match(ghost.err.join('\n'), /BK_ERR_API_NOT_FOUND: .*no node "ghost"/)
    const lines = (await cli(['audit', 'list', '-c', cfg])).out.map(
      (l) => JSON.parse(l) as { action: string; actor: string },
    )
    assert.deepEqual(
      lines.map((l) => l.action),
      ['node.revoke', 'node.allow-reenroll'],
    )
    assert.match(lines[0]!.actor, /^cli:/)
  })

  it('audit verify passes, flags an edit as BK_ERR_AUDIT_TAMPERED, and --expect-head catches truncation', async (t) => {
    const cfg = setup(t)
    for (let i = 0; i < 3; i++) {
      assert.equal((await cli(['token', 'create', '-c', cfg])).code, 0)
    }
    const ok = await cli(['audit', 'verify', '-c', cfg])
    assert.equal(ok.code, 0)
    assert.match(ok.out[0]!, /^audit log OK: 3 entries/)
    const head = (await cli(['audit', 'head', '-c', cfg])).out[0]!
    assert.match(head, /^3:[0-9a-f]{64}$/)
    const { db } = openDb({ file: join(cfg, '..', 'collector.db') })
    db.exec('DROP TRIGGER audit_log_no_delete')
    db.prepare('DELETE FROM audit_log WHERE seq = 3').run()
    db.close()
    assert.equal((await cli(['audit', 'verify', '-c', cfg])).code, 0, 'a cut tail alone is invisible …')
    const cut = await cli(['audit', 'verify', '-c', cfg, '--expect-head', head])
    assert.equal(cut.code, 1, '… but not against the recorded head')
    assert.match(cut.err.join('\n'), /BK_ERR_AUDIT_TAMPERED: .*head-mismatch/)
    const db2 = openDb({ file: join(cfg, '..', 'collector.db') }).db
    db2.exec('DROP TRIGGER audit_log_no_update')
    db2.prepare("UPDATE audit_log SET actor = 'cli:someone-else' WHERE seq = 1").run()
    db2.close()
    const edited = await cli(['audit', 'verify', '-c', cfg])
    assert.equal(edited.code, 1)
    assert.match(edited.err.join('\n'), /BK_ERR_AUDIT_TAMPERED: .*hash-mismatch at entry 1/)
  })
})
