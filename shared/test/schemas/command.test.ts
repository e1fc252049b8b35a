import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  assertJsonDepth,
  BackstopError,
  checkBody,
  checkCommand,
  type CommandKind,
  decodeCommand,
  decodeEnvelope,
  keyPairFromSeed,
  signCommand,
  signEnvelope,
  type UnsignedCommand,
} from '@backstop/shared'

const collector = keyPairFromSeed(new Uint8Array(32).fill(1))
const mallory = keyPairFromSeed(new Uint8Array(32).fill(2))
const now = new Date('2026-11-22T02:00:00.000Z')
const allowAll: CommandKind[] = ['run-job', 'reverify-copy', 'restore-test']

function cmd(over: Partial<UnsignedCommand> = {}): UnsignedCommand {
  return {
    v: 1,
    type: 'command',
    id: 'n0nce-0123456789abcdef',
    node: 'pve1',
    kind: 'run-job',
    args: { job: 'daily' },
    issuedAt: '2026-11-22T01:59:00.000Z',
    expiresAt: '2026-11-22T02:04:00.000Z',
    requestedBy: 'api:ops',
    ...over,
  } as UnsignedCommand
}

function code(fn: () => void): string {
  try {
    fn()
  } catch (e) {
    assert.ok(e instanceof BackstopError, String(e))
    return e.code
  }
  return 'ok'
}

describe('signed commands', () => {
  const ok = { collectorPublicKey: collector.publicKey, node: 'pve1', now, allow: allowAll }
  const cases: Array<[string, () => string, string]> = [
    ['a valid command passes', () => JSON.stringify(signCommand(cmd(), collector.secretKey)), 'ok'],
    ['signed by another key', () => JSON.stringify(signCommand(cmd(), mallory.secretKey)), 'BK_ERR_CMD_SIG'],
    [
      'args changed after signing',
      () => JSON.stringify({ ...signCommand(cmd(), collector.secretKey), args: { job: 'other' } }),
      'BK_ERR_CMD_SIG',
    ],
    [
      'kind changed after signing',
      () =>
        JSON.stringify({
          ...signCommand(
            cmd({ kind: 'restore-test', args: { job: 'daily' } } as Partial<UnsignedCommand>),
            collector.secretKey,
          ),
          kind: 'run-job',
        }),
      'BK_ERR_CMD_SIG',
    ],
    [
      'expiry extended after signing',
      () => JSON.stringify({ ...signCommand(cmd(), collector.secretKey), expiresAt: '2026-11-22T02:30:00.000Z' }),
      'BK_ERR_CMD_SIG',
    ],
    [
      'addressed to another node',
      () => JSON.stringify(signCommand(cmd({ node: 'nas1' }), collector.secretKey)),
      'BK_ERR_WIRE_TOPIC',
    ],
    [
      'expired',
      () =>
        JSON.stringify(
          signCommand(
            cmd({ issuedAt: '2026-11-22T01:50:00.000Z', expiresAt: '2026-11-22T01:55:00.000Z' }),
            collector.secretKey,
          ),
        ),
      'BK_ERR_CMD_EXPIRED',
    ],
    [
      'issued in the future beyond skew',
      () =>
        JSON.stringify(
          signCommand(
            cmd({ issuedAt: '2026-11-22T02:10:00.000Z', expiresAt: '2026-11-22T02:15:00.000Z' }),
            collector.secretKey,
          ),
        ),
      'BK_ERR_CMD_EXPIRED',
    ],
    [
      'lifetime over an hour',
      () => JSON.stringify(signCommand(cmd({ expiresAt: '2026-11-22T04:00:00.000Z' }), collector.secretKey)),
      'BK_ERR_CMD_EXPIRED',
    ],
    [
      'shell metacharacters in job name',
      () => JSON.stringify({ ...cmd({ args: { job: 'daily; rm -rf /' } }), sig: 'AAAA' }),
      'BK_ERR_WIRE_SCHEMA',
    ],
    ['unknown kind', () => JSON.stringify({ ...cmd(), kind: 'exec', sig: 'AAAA' }), 'BK_ERR_WIRE_SCHEMA'],
    [
      'extra field (e.g. argv)',
      () => JSON.stringify({ ...cmd(), argv: ['sh', '-c', 'id'], sig: 'AAAA' }),
      'BK_ERR_WIRE_SCHEMA',
    ],
    ['short nonce', () => JSON.stringify({ ...cmd({ id: 'abc' }), sig: 'AAAA' }), 'BK_ERR_WIRE_SCHEMA'],
    ['not JSON', () => '{"v":1,', 'BK_ERR_WIRE_JSON'],
    ['too large', () => 'x'.repeat(17 * 1024), 'BK_ERR_WIRE_TOO_LARGE'],
  ]
  for (const [name, payload, expected] of cases) {
    it(name, () =>
      assert.equal(
        code(() => checkCommand(decodeCommand(payload()), ok)),
        expected,
      ),
    )
  }

  it('refuses kinds outside the allowlist, after the signature check', () => {
    const signed = signCommand(
      cmd({ kind: 'restore-test', args: { job: 'daily' } } as Partial<UnsignedCommand>),
      collector.secretKey,
    )
    assert.equal(
      code(() => checkCommand(signed, { ...ok, allow: ['run-job'] })),
      'BK_ERR_CMD_NOT_ALLOWED',
    )
    const forged = signCommand(
      cmd({ kind: 'restore-test', args: { job: 'daily' } } as Partial<UnsignedCommand>),
      mallory.secretKey,
    )
    assert.equal(
      code(() => checkCommand(forged, { ...ok, allow: ['run-job'] })),
      'BK_ERR_CMD_SIG',
    )
  })

  it('a command signature cannot be replayed as an envelope signature', () => {
    const signed = signCommand(cmd(), collector.secretKey)
    const env = signEnvelope(
      {
        v: 1,
        kind: 'command.result',
        node: 'pve1',
        msgId: 'r1',
        seq: 0,
        ts: now.toISOString(),
        body: { commandId: signed.id, kind: 'run-job', status: 'succeeded', at: now.toISOString() },
      },
      collector.secretKey,
    )
    assert.notEqual(env.sig, signed.sig)
    checkBody(env)
  })
})

describe('JSON nesting guard (decodeEnvelope, decodeCommand)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['flat envelope-like object', '{"a":[1,{"b":2}],"c":"x"}', true],
    ['64 levels', `${'['.repeat(64)}${']'.repeat(64)}`, true],
    ['65 levels', `${'['.repeat(65)}${']'.repeat(65)}`, false],
    ['brackets inside strings do not count', `{"s":"${'['.repeat(500)}"}`, true],
    ['escaped quote does not end the string', `{"s":"\\"${'{'.repeat(500)}"}`, true],
    ['half a megabyte of [', '['.repeat(512 * 1024), false],
  ]
  for (const [name, text, ok] of cases) {
    it(name, () => {
      if (ok) {
        assertJsonDepth(text, 64)
      } else {
        assert.throws(() => assertJsonDepth(text, 64), SyntaxError)
      }
    })
  }
  it('deep payloads are refused as BK_ERR_WIRE_JSON in well under a millisecond per KiB', () => {
    const deep = '['.repeat(1000 * 1000)
    const t0 = performance.now()
    assert.equal(
      code(() => decodeEnvelope(deep)),
      'BK_ERR_WIRE_JSON',
    )
    assert.equal(
      code(() => decodeCommand('{'.repeat(10_000))),
      'BK_ERR_WIRE_JSON',
    )
    assert.ok(performance.now() - t0 < 200, `${performance.now() - t0} ms`)
  })
})
