import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  checkChannelUrl,
  checkCredentials,
  newWebhookSecret,
  splitUrlCredentials,
  webhookKey,
  type ChannelKind,
  type Credentials,
} from '../../src/notifiers/credentials.ts'

function refusal(fn: () => void): string {
  try {
    fn()
  } catch (e) {
    const err = e as { code?: string; message: string }
    assert.equal(err.code, 'BK_ERR_API_VALIDATION')
    return err.message
  }
  return 'accepted'
}

describe('channel URLs carry no secrets', () => {
  const table: [ChannelKind, string, RegExp][] = [
    ['ntfy', 'https://ntfy.example/backups', /^accepted$/],
    [
      'ntfy',
      'https://phil:pw@ntfy.example/backups',
      /body\.url: user:password@ in the URL is refused.*"type": "basic", "username".*"type": "token", "token": "tk_…"/,
    ],
    [
      'gotify',
      'https://g.example/message?token=AGt0k',
      /query parameter "token" looks like a secret.*body\.credentials/,
    ],
    ['ntfy', 'https://ntfy.example/t?auth=QmFzaWM', /"auth"/],
    ['webhook', 'https://u@hooks.example/in', /webhook-signature/],
    ['webhook', 'https://', /is not a URL/],
  ]
  for (const [kind, url, want] of table) {
    it(`${kind} ${url}`, () =>
      assert.match(
        refusal(() => checkChannelUrl(kind, url)),
        want,
      ))
  }
})

describe('which credentials each kind takes', () => {
  const table: [ChannelKind, Credentials | undefined, RegExp][] = [
    ['ntfy', undefined, /^accepted$/],
    ['ntfy', { type: 'token', token: 'tk_abc' }, /^accepted$/],
    ['ntfy', { type: 'basic', username: 'phil', password: 'pw' }, /^accepted$/],
    ['ntfy', { type: 'basic', username: 'ph:il', password: 'pw' }, /username: .*without ":"/],
    ['ntfy', { type: 'token', token: 'tk abc\n' }, /token: must be 1–1024 visible ASCII/],
    ['ntfy', { type: 'hmac', secret: newWebhookSecret() }, /credentials\.type: a ntfy channel takes .*token or basic/],
    ['gotify', undefined, /needs its application token/],
    ['gotify', { type: 'token', token: 'AGt0k' }, /^accepted$/],
    ['webhook', undefined, /^accepted$/],
    ['webhook', { type: 'hmac', secret: newWebhookSecret() }, /^accepted$/],
    ['webhook', { type: 'hmac', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }, /^accepted$/],
    ['webhook', { type: 'hmac', secret: 'hunter2' }, /secret: must be "whsec_" \+ base64 of 24–64 random bytes/],
    ['webhook', { type: 'hmac', secret: 'whsec_c2hvcnQ=' }, /24–64/],
    ['webhook', { type: 'token', token: 'x' }, /takes credentials of type hmac/],
  ]
  for (const [kind, c, want] of table) {
    it(`${kind} ${c === undefined ? 'none' : c.type}`, () =>
      assert.match(
        refusal(() => checkCredentials(kind, c)),
        want,
      ))
  }

  it('a generated webhook secret is 32 random bytes behind whsec_', () => {
    const a = newWebhookSecret()
    assert.match(a, /^whsec_[A-Za-z0-9+/]{43}=$/)
    assert.equal(webhookKey(a).length, 32)
    assert.notEqual(a, newWebhookSecret())
  })

  it('splitUrlCredentials takes user:pass@ out of a stored URL, decoding it', () => {
    assert.deepEqual(splitUrlCredentials('https://phil:s%3Acret@ntfy.example/t'), {
      url: 'https://ntfy.example/t',
      credentials: { type: 'basic', username: 'phil', password: 's:cret' },
    })
    assert.equal(splitUrlCredentials('https://ntfy.example/t'), null)
  })
})
