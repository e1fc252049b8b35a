import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import { createDeliverer } from '../../src/notifiers/deliverer.ts'
import { buildRequest, classifyStatus } from '../../src/notifiers/requests.ts'
import { openDb } from '../../src/store/db.ts'
import { createNotifyRepo } from '../../src/store/notify-repo.ts'
import { fakeClock } from '../ledger/fake-clock.ts'
import { flip, receiver } from './support.ts'

describe('notification requests', () => {
  it('classifies statuses as delivered, transient or permanent', () => {
    const cases: Array<[number, string]> = [
      [200, 'ok'],
      [204, 'ok'],
      [400, 'permanent'],
      [401, 'permanent'],
      [404, 'permanent'],
      [408, 'transient'],
      [429, 'transient'],
      [500, 'transient'],
      [503, 'transient'],
    ]
    for (const [status, want] of cases) {
      const r = classifyStatus(status)
      assert.equal(r.ok ? 'ok' : r.permanent ? 'permanent' : 'transient', want, String(status))
    }
  })
  it('ntfy headers are ASCII and carry priority and tags', () => {
    const r = buildRequest({ kind: 'ntfy', url: 'http://x/topic', credentials: null }, flip, {
      id: 'bk-flip-1',
      now: 0,
    })
    assert.equal(r.headers.priority, '5')
    assert.equal(r.headers.tags, 'rotating_light')
    assert.equal(r.headers.title, 'CRITICAL: missed-backup pve1')
    assert.equal(r.body, flip.summary)
  })
})

describe('deliverer: durable queue with retries', () => {
  it('retries transient failures with backoff, gives up on permanent ones, and records channel health', async (t) => {
    const hook = await receiver([503, 503, 200])
    const ntfy = await receiver([404])
    t.after(hook.close)
    t.after(ntfy.close)
    const { db } = openDb({ file: ':memory:' })
    t.after(() => db.close())
    const repo = createNotifyRepo(db)
    const clock = fakeClock(flip.at)
    const hookId = repo.addChannel(
      { name: 'hook', kind: 'webhook', url: `${hook.url}/hook`, minSeverity: 'warning' },
      clock.now(),
    )
    const ntfyId = repo.addChannel(
      { name: 'phone', kind: 'ntfy', url: `${ntfy.url}/backups`, minSeverity: 'warning' },
      clock.now(),
    )
    repo.addChannel(
      { name: 'crit-only', kind: 'webhook', url: `${hook.url}/never`, minSeverity: 'critical' },
      clock.now(),
    )
    repo.enqueue(1, { ...flip, severity: 'warning' }, clock.now())
    const d = createDeliverer({ repo, clock, log: pino({ level: 'silent' }), backoffMs: (n) => n * 1000 })
    d.start()
    await d.drain()
    assert.equal(hook.got.length, 1)
    assert.equal(ntfy.got.length, 1)
    assert.equal(ntfy.got[0]!.path, '/backups')
    assert.equal(ntfy.got[0]!.headers.title, 'WARNING: missed-backup pve1')
    let ch = repo.channels()
    assert.equal(ch.find((c) => c.id === ntfyId)!.health.dead, 1, '404 is permanent: dead at once')
    assert.equal(ch.find((c) => c.id === hookId)!.health.pending, 1)
    assert.equal(repo.nextDue(), clock.now() + 1000)

    clock.advance(1000)
    await d.drain()
    clock.advance(2000)
    await d.drain()
    assert.equal(hook.got.length, 3)
    const body = JSON.parse(hook.got[2]!.body) as Record<string, unknown>
    assert.deepEqual([body.key, body.to, body.severity], [flip.key, 'firing', 'warning'])
    ch = repo.channels()
    const h = ch.find((c) => c.id === hookId)!.health
    assert.deepEqual([h.pending, h.dead, h.deliveredTotal, h.failedTotal, h.consecutiveFailures], [0, 0, 1, 2, 0])
    assert.equal(h.lastError, 'HTTP 503')
    assert.equal(
      ch.find((c) => c.name === 'crit-only')!.health.pending + hook.got.filter((g) => g.path === '/never').length,
      0,
      'below the channel threshold: never queued',
    )
    d.stop()
  })

  it('a connection refused is transient and the row survives a restart (reopened from the same file)', async (t) => {
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = mkdtempSync(join(tmpdir(), 'bk-notify-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'c.db')
    const dead = await receiver([])
    await dead.close() // nothing listens on this port any more
    const clock = fakeClock(flip.at)
    {
      const { db } = openDb({ file })
      const repo = createNotifyRepo(db)
      repo.addChannel({ name: 'hook', kind: 'webhook', url: dead.url, minSeverity: 'info' }, clock.now())
      repo.enqueue(7, flip, clock.now())
      const d = createDeliverer({ repo, clock, log: pino({ level: 'silent' }) })
      d.start()
      await d.drain()
      d.stop()
      const h = repo.channels()[0]!.health
      assert.equal(h.pending, 1)
      assert.ok(h.lastError && h.lastError.length > 0)
      db.close()
    }
    const live = await receiver([200])
    t.after(live.close)
    const { db } = openDb({ file })
    t.after(() => db.close())
    const repo = createNotifyRepo(db)
    db.prepare('UPDATE notify_channels SET url = ?').run(live.url)
    clock.advance(60_000)
    const d = createDeliverer({ repo, clock, log: pino({ level: 'silent' }) })
    d.start()
    await d.drain()
    d.stop()
    assert.equal(live.got.length, 1)
    assert.equal(repo.channels()[0]!.health.deliveredTotal, 1)
  })
})
