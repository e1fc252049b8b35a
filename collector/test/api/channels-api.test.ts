import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { buildApp } from '../../src/app.ts'
import { harness } from '../ledger/harness.ts'
import { appDepsOf, injectAs } from '../support/app-deps.ts'

function setup() {
  const h = harness()
  const deps = appDepsOf(h)
  const app = buildApp(deps)
  const admin = injectAs(app, deps.bearer('admin'))
  const viewer = injectAs(app, deps.bearer('viewer'))
  const post = (body: unknown) => admin({ method: 'POST', url: '/api/v1/channels', payload: body as object })
  return { h, app, admin, viewer, post }
}

describe('channels API: secrets are write-only', () => {
  it('refuses a ntfy URL with user:pass@, saying how to send the credentials instead', async () => {
    const { post } = setup()
    const r = await post({ name: 'phone', kind: 'ntfy', url: 'https://phil:hunter2@ntfy.example/backups' })
    assert.equal(r.statusCode, 400, r.body)
    assert.match(r.body, /BK_ERR_API_VALIDATION/)
    assert.match(r.body, /user:password@ in the URL is refused.*\\"type\\": \\"basic\\"/)
  })

  it('stores ntfy credentials apart from the URL and shows them masked to every reader', async () => {
    const { post, viewer, h } = setup()
    const r = await post({
      name: 'phone',
      kind: 'ntfy',
      url: 'https://ntfy.example/backups',
      minSeverity: 'info',
      credentials: { type: 'basic', username: 'phil', password: 'hunter2hunter2' },
    })
    assert.equal(r.statusCode, 201, r.body)
    assert.deepEqual(Object.keys(r.json() as object), ['id'], 'nothing generated, nothing echoed')
    const list = await viewer('/api/v1/channels')
    assert.equal(list.statusCode, 200, list.body)
    assert.doesNotMatch(list.body, /hunter2/)
    const [ch] = (list.json() as { channels: { url: string; credentials: unknown }[] }).channels
    assert.equal(ch!.url, 'https://ntfy.example/backups')
    assert.deepEqual(ch!.credentials, { type: 'basic', username: 'phil', password: '********' })
    const audit = JSON.stringify(h.db.prepare('SELECT * FROM audit_log').all())
    assert.doesNotMatch(audit, /hunter2/, 'the audit log records the credential type only')
    assert.match(audit, /channel\.add/)
  })

  it('a webhook without a secret gets one generated, returned once; PUT rotates it', async () => {
    const { post, admin, viewer, h } = setup()
    const r = await post({ name: 'hook', kind: 'webhook', url: 'https://hooks.example/in' })
    assert.equal(r.statusCode, 201, r.body)
    const { id, webhookSecret } = r.json() as { id: number; webhookSecret: string }
    assert.match(webhookSecret, /^whsec_[A-Za-z0-9+/]{43}=$/)
    const list = await viewer('/api/v1/channels')
    assert.doesNotMatch(list.body, new RegExp(webhookSecret.slice(6, 30).replace(/[+/]/g, '.')))
    assert.match(list.body, /"credentials":\{"type":"hmac","secret":"\*{8}"\}/)
    assert.deepEqual(h.part.channels.channel(id)?.credentials, { type: 'hmac', secret: webhookSecret })

    const rot = await admin({ method: 'PUT', url: `/api/v1/channels/${id}/credentials`, payload: {} })
    assert.equal(rot.statusCode, 200, rot.body)
    const next = (rot.json() as { webhookSecret: string }).webhookSecret
    assert.notEqual(next, webhookSecret)
    assert.deepEqual(h.part.channels.channel(id)?.credentials, { type: 'hmac', secret: next })
    const bad = await admin({
      method: 'PUT',
      url: `/api/v1/channels/${id}/credentials`,
      payload: { credentials: { type: 'hmac', secret: 'hunter2' } },
    })
    assert.equal(bad.statusCode, 400, bad.body)
    assert.match(bad.body, /whsec_/)
    const missing = await admin({ method: 'PUT', url: '/api/v1/channels/999/credentials', payload: {} })
    assert.equal(missing.statusCode, 404, missing.body)
  })

  it('gotify needs its application token; a token in the query string is refused', async () => {
    const { post } = setup()
    const none = await post({ name: 'g', kind: 'gotify', url: 'https://gotify.example' })
    assert.equal(none.statusCode, 400, none.body)
    assert.match(none.body, /application token/)
    const query = await post({
      name: 'g',
      kind: 'gotify',
      url: 'https://gotify.example/message?token=AGt0k',
      credentials: { type: 'token', token: 'AGt0k' },
    })
    assert.equal(query.statusCode, 400, query.body)
    const ok = await post({
      name: 'g',
      kind: 'gotify',
      url: 'https://gotify.example',
      credentials: { type: 'token', token: 'AGt0k' },
    })
    assert.equal(ok.statusCode, 201, ok.body)
  })

  it('only an admin adds channels or sets credentials', async () => {
    const { viewer } = setup()
    const r = await viewer({
      method: 'POST',
      url: '/api/v1/channels',
      payload: { name: 'x', kind: 'ntfy', url: 'https://ntfy.example/x' },
    })
    assert.equal(r.statusCode, 403, r.body)
    const put = await viewer({ method: 'PUT', url: '/api/v1/channels/1/credentials', payload: {} })
    assert.equal(put.statusCode, 403, put.body)
  })
})
