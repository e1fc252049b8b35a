import assert from 'node:assert/strict'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import pino from 'pino'
import type { AuditSegment } from '@backstop/shared'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { runCli } from '../../src/cli.ts'
import { loadOrCreateCollectorKeys } from '../../src/keys.ts'
import { sealDueAuditSegment, type AuditSealDeps } from '../../src/retention/audit-seal.ts'
import { openDb } from '../../src/store/db.ts'
import { tempDir } from '../support/harness.ts'

const DAY = 86_400_000
const T0 = Date.parse('2026-01-01T00:00:00Z')

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

/** A collector data dir with 40 audit entries, one every 2.5 days from T0, and the collector's own key. */
function setup(t: TestContext) {
  const dir = tempDir(t)
  const cfg = join(dir, 'collector.yaml')
  writeFileSync(cfg, `dataDir: ${dir}\n`)
  const keys = loadOrCreateCollectorKeys(dir)
  const { db } = openDb({ file: join(dir, 'collector.db') })
  t.after(() => db.close())
  const audit = createAuditLog(db)
  for (let i = 0; i < 40; i++) {
    audit.append(
      { actor: 'cli:root', action: 'token.create', target: `t${i}`, detail: { i } },
      new Date(T0 + i * 2.5 * DAY),
    )
  }
  const exportDir = join(dir, 'audit-segments')
  const deps: AuditSealDeps = {
    db,
    audit,
    secretKey: keys.secretKey,
    publicKey: keys.publicKey,
    exportDir,
    sealAfterDays: 30,
    maxEntries: 10,
    log: pino({ level: 'silent' }),
  }
  const segments = (): AuditSegment[] =>
    readdirSync(exportDir)
      .sort()
      .map((f) => JSON.parse(readFileSync(join(exportDir, f), 'utf8')) as AuditSegment)
  return { dir, cfg, db, audit, deps, exportDir, segments, keys }
}

describe('audit chain retention: sealed, signed segments, never silently', () => {
  it('seals entries past the window into signed files; verify passes across the cut (library and CLI)', async (t) => {
    const s = setup(t)
    const now = T0 + 100 * DAY // entries before day 70 (seq 1..28) are due
    const sealed = []
    for (;;) {
      const r = await sealDueAuditSegment(s.deps, now)
      if (!r) {
        break
      }
      sealed.push(r)
    }
    assert.deepEqual(
      sealed.map((r) => [r.fromSeq, r.toSeq]),
      [
        [1, 10],
        [11, 20],
        [21, 28],
      ],
    )
    assert.equal(s.segments().length, 3)
    const left = s.audit.list({ limit: 1000 })
    assert.deepEqual(
      left.map((e) => e.seq),
      [...Array.from({ length: 12 }, (_, i) => 29 + i), 41, 42, 43],
      'entries 29–40 stay, and each seal is an entry of the chain itself',
    )
    assert.deepEqual(
      left.slice(-3).map((e) => [e.action, e.detail['fromSeq'], e.detail['toSeq']]),
      [
        ['audit.seal', 1, 10],
        ['audit.seal', 11, 20],
        ['audit.seal', 21, 28],
      ],
    )
    const tail = s.audit.verify()
    assert.ok(tail.ok, JSON.stringify(tail))
    const whole = s.audit.verifySealed(s.segments(), s.keys.publicKey)
    assert.deepEqual(whole, { ok: true, sealed: 28, count: 43, head: s.audit.head()?.hash })
    // a head recorded before the cut is still checked, inside its segment
    const early = s.audit.verifySealed(s.segments(), s.keys.publicKey, {
      seq: 5,
      hash: s.segments()[0]!.entries[4]!.hash,
    })
    assert.ok(early.ok)

    const ok = await cli(['audit', 'verify', '-c', s.cfg, '--segments', s.exportDir])
    assert.equal(ok.code, 0, ok.err.join('\n'))
    assert.match(ok.out[0]!, /^audit log OK: 43 entries \(28 sealed in 3 segment file\(s\), 15 in the database\)/)
    const plain = await cli(['audit', 'verify', '-c', s.cfg])
    assert.equal(plain.code, 0, plain.err.join('\n'))
    assert.match(plain.out[0]!, /after the cut at entry 28.*sealed in 3 segment file\(s\).*--segments /)
  })

  it('a tampered, missing or foreign segment fails verify; unsealed entries stay undeletable', async (t) => {
    const s = setup(t)
    while (await sealDueAuditSegment(s.deps, T0 + 100 * DAY)) {
      // seal everything due
    }
    const files = readdirSync(s.exportDir).sort()
    const second = join(s.exportDir, files[1]!)
    const original = readFileSync(second, 'utf8')
    writeFileSync(second, original.replace('"actor":"cli:root"', '"actor":"cli:eve"'))
    const edited = await cli(['audit', 'verify', '-c', s.cfg, '--segments', s.exportDir])
    assert.equal(edited.code, 1)
    assert.match(edited.err.join('\n'), /BK_ERR_AUDIT_TAMPERED: .*segment 11\.\.20 is not signed by the key/)
    rmSync(second)
    const missing = await cli(['audit', 'verify', '-c', s.cfg, '--segments', s.exportDir])
    assert.equal(missing.code, 1)
    assert.match(missing.err.join('\n'), /segment 21\.\.28 does not continue the chain at entry 11/)
    writeFileSync(second, original)
    const other = loadOrCreateCollectorKeys(tempDir(t)).publicKey
    const foreign = await cli(['audit', 'verify', '-c', s.cfg, '--segments', s.exportDir, '--public-key', other])
    assert.equal(foreign.code, 1)
    assert.match(foreign.err.join('\n'), /segment 1\.\.10 is not signed by the key/)
    assert.throws(() => s.db.prepare('DELETE FROM audit_log WHERE seq = 30').run(), /append-only/)
    assert.throws(() => s.db.prepare('DELETE FROM audit_segments').run(), /append-only/)
  })

  it('without audit.sealAfterDays nothing is sealed, however old', async (t) => {
    const s = setup(t)
    assert.equal(await sealDueAuditSegment({ ...s.deps, sealAfterDays: undefined }, T0 + 3650 * DAY), undefined)
    assert.equal(s.audit.list({ limit: 1000 }).length, 40)
  })
})
