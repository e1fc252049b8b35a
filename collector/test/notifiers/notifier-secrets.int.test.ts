import assert from 'node:assert/strict'
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { describe, it } from 'node:test'
import pino from 'pino'
import { newWebhookSecret } from '../../src/notifiers/credentials.ts'
import { createDeliverer } from '../../src/notifiers/deliverer.ts'
import { webhookSignature } from '../../src/notifiers/requests.ts'
import { openDb } from '../../src/store/db.ts'
import { createNotifyRepo } from '../../src/store/notify-repo.ts'
import { fakeClock } from '../ledger/fake-clock.ts'
import { flip, receiver as startReceiver, type Received } from './support.ts'

/** A receiver closed when the test ends. */
async function receiver(
  t: { after(fn: () => unknown): void },
  script: { status: number; location?: string; retryAfter?: string }[] = [],
) {
  const r = await startReceiver(script)
  t.after(r.close)
  return r
}

/**
 * What a receiver does (the example in docs/security.md): recompute HMAC-SHA256 over "<id>.<timestamp>.<body>"
 * with the decoded whsec_ key, compare in constant time, and refuse a timestamp more than 5 minutes off.
 */
function verifyWebhook(secret: string, h: IncomingHttpHeaders, body: string, nowSec: number): boolean {
  const id = String(h['webhook-id'])
  const ts = String(h['webhook-timestamp'])
  if (Math.abs(nowSec - Number(ts)) > 300) {
    return false
  }
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const want = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest()
  return String(h['webhook-signature'])
    .split(' ')
    .some((s) => {
      const got = Buffer.from(s.replace(/^v1,/, ''), 'base64')
      return s.startsWith('v1,') && got.length === want.length && timingSafeEqual(got, want)
    })
}

function setup(t: { after(fn: () => unknown): void }) {
  const { db } = openDb({ file: ':memory:' })
  t.after(() => db.close())
  const repo = createNotifyRepo(db)
  const clock = fakeClock(flip.at)
  const lines: { msg: string; permanent?: boolean }[] = []
  const log = pino({ level: 'warn' }, { write: (l: string) => lines.push(JSON.parse(l) as { msg: string }) })
  const d = createDeliverer({ repo, clock, log, backoffMs: () => 1000 })
  t.after(() => d.stop())
  d.start()
  return { db, repo, clock, d, lines }
}

describe('webhook signature (Standard Webhooks 1.0)', () => {
  it('matches the specification test vector', () => {
    const h = webhookSignature(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330_000,
      '{"test": 2432232314}',
    )
    assert.deepEqual(h, {
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    })
  })

  it('a delivered webhook verifies at the receiver; a changed body, secret or an old timestamp does not', async (t) => {
    const hook = await receiver(t)
    const { repo, clock, d } = setup(t)
    const secret = newWebhookSecret()
    repo.addChannel(
      {
        name: 'hook',
        kind: 'webhook',
        url: `${hook.url}/in`,
        minSeverity: 'info',
        credentials: { type: 'hmac', secret },
      },
      clock.now(),
    )
    repo.enqueue(41, flip, clock.now())
    await d.drain()
    assert.equal(hook.got.length, 1)
    const g = hook.got[0]!
    const nowSec = Math.floor(clock.now() / 1000)
    assert.equal(g.headers['webhook-id'], 'bk-flip-41')
    assert.equal(g.headers['webhook-timestamp'], String(nowSec))
    assert.equal(verifyWebhook(secret, g.headers, g.body, nowSec), true)
    assert.equal(verifyWebhook(secret, g.headers, g.body.replace('critical', 'info'), nowSec), false)
    assert.equal(verifyWebhook(newWebhookSecret(), g.headers, g.body, nowSec), false)
    assert.equal(verifyWebhook(secret, g.headers, g.body, nowSec + 301), false, 'a replay 5 minutes later')
    assert.equal((JSON.parse(g.body) as { key: string }).key, flip.key)
  })
})

describe('ntfy and Gotify credentials travel as headers', () => {
  it('ntfy access token as Bearer, user + password as Basic, Gotify token as X-Gotify-Key on /message', async (t) => {
    const srv = await receiver(t)
    const { repo, clock, d } = setup(t)
    const at = clock.now()
    const base = { minSeverity: 'info' as const }
    repo.addChannel(
      { ...base, name: 'tok', kind: 'ntfy', url: `${srv.url}/a`, credentials: { type: 'token', token: 'tk_abc123' } },
      at,
    )
    repo.addChannel(
      {
        ...base,
        name: 'basic',
        kind: 'ntfy',
        url: `${srv.url}/b`,
        credentials: { type: 'basic', username: 'phil', password: 'pä:ss' },
      },
      at,
    )
    repo.addChannel(
      { ...base, name: 'gotify', kind: 'gotify', url: `${srv.url}/`, credentials: { type: 'token', token: 'AGt0k' } },
      at,
    )
    repo.enqueue(1, flip, at)
    await d.drain()
    const by = (p: string): Received => srv.got.find((g) => g.path === p)!
    assert.equal(by('/a').headers.authorization, 'Bearer tk_abc123')
    assert.equal(by('/b').headers.authorization, `Basic ${Buffer.from('phil:pä:ss').toString('base64')}`)
    const gotify = by('/message')
    assert.equal(gotify.headers['x-gotify-key'], 'AGt0k')
    assert.equal(gotify.headers.authorization, undefined)
    assert.deepEqual(JSON.parse(gotify.body), {
      title: 'CRITICAL: missed-backup pve1',
      message: flip.summary,
      priority: 8,
    })
    for (const g of srv.got) {
      assert.doesNotMatch(g.path, /tk_|AGt0k|phil/, 'no secret in the request line')
    }
  })
})

describe('secrets are masked when read', () => {
  it('the channel list names the type and user, never the secret; the deliverer still gets it', (t) => {
    const { repo, clock } = setup(t)
    const secret = newWebhookSecret()
    const hook = repo.addChannel(
      { name: 'h', kind: 'webhook', url: 'https://x/h', minSeverity: 'info', credentials: { type: 'hmac', secret } },
      clock.now(),
    )
    repo.addChannel(
      {
        name: 'n',
        kind: 'ntfy',
        url: 'https://x/n',
        minSeverity: 'info',
        credentials: { type: 'basic', username: 'phil', password: 'hunter2hunter2' },
      },
      clock.now(),
    )
    const listed = JSON.stringify(repo.channels())
    assert.doesNotMatch(listed, new RegExp(`${secret.slice(6, 20)}|hunter2`))
    assert.deepEqual(
      repo.channels().map((c) => c.credentials),
      [
        { type: 'hmac', secret: '********' },
        { type: 'basic', username: 'phil', password: '********' },
      ],
    )
    assert.deepEqual(repo.channel(hook)?.credentials, { type: 'hmac', secret })
    assert.equal(repo.setCredentials(hook, null, clock.now()), true)
    assert.equal(repo.channel(hook)?.credentials, null)
    assert.equal(repo.setCredentials(999, null, clock.now()), false)
  })
})

describe('permanent failures are reported once and never retried; transient ones are retried', () => {
  it('401 (credentials refused): dead at once, one log line for two flips, no retry scheduled', async (t) => {
    const srv = await receiver(t, [{ status: 401 }, { status: 401 }])
    const { repo, clock, d, lines } = setup(t)
    repo.addChannel({ name: 'n', kind: 'ntfy', url: `${srv.url}/t`, minSeverity: 'info' }, clock.now())
    repo.enqueue(1, flip, clock.now())
    await d.drain()
    repo.enqueue(2, { ...flip, key: `${flip.key}-2` }, clock.now())
    await d.drain()
    assert.equal(srv.got.length, 2, 'each flip is tried once')
    const h = repo.channels()[0]!.health
    assert.deepEqual([h.dead, h.pending, h.failedTotal], [2, 0, 2])
    assert.match(
      h.lastError ?? '',
      /^HTTP 401: credentials refused; set them with PUT \/api\/v1\/channels\/:id\/credentials/,
    )
    assert.equal(repo.nextDue(), null, 'nothing left to retry')
    assert.equal(lines.filter((l) => /permanently/.test(l.msg)).length, 1, lines.map((l) => l.msg).join('\n'))
  })

  it('a redirect is not followed (credentials stay with the configured URL) and is permanent', async (t) => {
    const other = await receiver(t)
    const srv = await receiver(t, [{ status: 302, location: `${other.url}/elsewhere` }])
    const { repo, clock, d } = setup(t)
    repo.addChannel(
      {
        name: 'n',
        kind: 'ntfy',
        url: `${srv.url}/t`,
        minSeverity: 'info',
        credentials: { type: 'token', token: 'tk_x' },
      },
      clock.now(),
    )
    repo.enqueue(1, flip, clock.now())
    await d.drain()
    assert.equal(other.got.length, 0)
    const h = repo.channels()[0]!.health
    assert.equal(h.dead, 1)
    assert.match(h.lastError ?? '', /HTTP 302: redirected to .*\/elsewhere; configure the final URL/)
  })

  it('a stored URL no request can use (user:pass@ on a webhook) is permanent without a request', async (t) => {
    const srv = await receiver(t)
    const { db, repo, clock, d } = setup(t)
    const id = repo.addChannel({ name: 'w', kind: 'webhook', url: `${srv.url}/w`, minSeverity: 'info' }, clock.now())
    db.prepare('UPDATE notify_channels SET url = ? WHERE id = ?').run(srv.url.replace('//', '//u:p@'), id)
    repo.enqueue(1, flip, clock.now())
    await d.drain()
    assert.equal(srv.got.length, 0)
    assert.equal(repo.channels()[0]!.health.dead, 1)
    assert.match(repo.channels()[0]!.health.lastError ?? '', /user:password@/)
  })

  it("a 429's Retry-After (seconds) is honoured when longer than the backoff", async (t) => {
    const srv = await receiver(t, [{ status: 429, retryAfter: '120' }])
    const { repo, clock, d } = setup(t)
    repo.addChannel({ name: 'n', kind: 'ntfy', url: `${srv.url}/t`, minSeverity: 'info' }, clock.now())
    repo.enqueue(1, flip, clock.now())
    await d.drain()
    assert.equal(repo.nextDue(), clock.now() + 120_000)
  })

  it('429 and 503 are retried with backoff until delivered', async (t) => {
    const srv = await receiver(t, [{ status: 429 }, { status: 503 }])
    const { repo, clock, d } = setup(t)
    repo.addChannel({ name: 'n', kind: 'ntfy', url: `${srv.url}/t`, minSeverity: 'info' }, clock.now())
    repo.enqueue(1, flip, clock.now())
    await d.drain()
    assert.equal(repo.channels()[0]!.health.pending, 1)
    assert.equal(repo.nextDue(), clock.now() + 1000)
    clock.advance(1000)
    await d.drain()
    clock.advance(1000)
    await d.drain()
    const h = repo.channels()[0]!.health
    assert.deepEqual([srv.got.length, h.deliveredTotal, h.dead, h.pending], [3, 1, 0, 0])
  })
})
