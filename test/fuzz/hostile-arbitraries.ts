import fc from 'fast-check'
import { randomBytes } from 'node:crypto'
import { MAX_MESSAGE_BYTES, nodeTopic, type Envelope } from '@backstop/shared'
import type { FakeAgent } from '../../collector/test/support/harness.ts'
import { hostileBatch } from './hostile-batches.ts'

/**
 * Hostile message generators for the ingest fuzz suite. Each produces `{ topicNode, payload, expect }`, where
 * `expect` is what the pipeline must do with it: drop it (garbage without a usable msgId), reject it (ack with a
 * code), or treat it as a duplicate (a replayed, already stored msgId). Nothing generated here may be stored.
 */
export type Expect = 'drop' | 'reject' | 'reject-or-drop' | 'duplicate'
export interface Hostile {
  readonly category: string
  readonly topicNode: string
  readonly payload: Buffer
  readonly expect: Expect
}

export interface FuzzWorld {
  /** Enrolled (its key is pinned by the test before fuzzing). */
  readonly enrolled: FakeAgent
  /** Valid events of `enrolled`, stored once before fuzzing; replaying them must not store anything new. */
  readonly stored: readonly Envelope[]
}

const huge = Buffer.alloc(MAX_MESSAGE_BYTES + 1024, 0x20)

const b = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))
const msgId = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/)
const hbBody = { agentVersion: '0.1.0', hostname: 'h', uptimeS: 1, outbox: { pending: 0, bytes: 0 }, jobs: [] }

export function hostile(w: FuzzWorld): fc.Arbitrary<Hostile> {
  const node = w.enrolled.node
  const envelopeFields = fc.record({
    v: fc.constant(1),
    kind: fc.constantFrom('heartbeat', 'job.started', 'job.finished', 'inventory', 'command.result'),
    node: fc.constant(node),
    msgId,
    seq: fc.nat(),
    ts: fc.constant('2026-11-22T02:00:00.000Z'),
    body: fc.constant(hbBody as unknown),
    sig: fc.base64String({ minLength: 88, maxLength: 88 }),
  })
  return fc.oneof(
    {
      weight: 20,
      arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({
        category: 'random bytes',
        topicNode: node,
        payload: Buffer.from(bytes),
        expect: 'reject-or-drop' as Expect,
      })),
    },
    {
      weight: 15,
      arbitrary: fc
        .jsonValue({ maxDepth: 4 })
        .map((v) => ({ category: 'random JSON', topicNode: node, payload: b(v), expect: 'reject-or-drop' as Expect })),
    },
    {
      weight: 20,
      // Every header field replaced by a wrong type or value in turn: schema rejections with a salvageable msgId.
      arbitrary: fc
        .tuple(
          envelopeFields,
          fc.constantFrom('v', 'kind', 'node', 'seq', 'ts', 'body', 'sig', 'extra'),
          fc.anything({ maxDepth: 2 }),
        )
        .map(([env, field, junk]) => {
          const out: Record<string, unknown> = { ...env }
          if (field === 'extra') {
            out['__proto__x'] = junk
          } else if (field === 'body') {
            out['body'] = { ...hbBody, uptimeS: junk === undefined ? 'x' : typeof junk === 'number' ? -1 : junk }
          } else {
            out[field] =
              junk === undefined ? null : typeof junk === typeof out[field] && field !== 'kind' ? ['wrong'] : junk
          }
          return {
            category: `wrong type: ${field}`,
            topicNode: node,
            payload: b(out),
            expect: 'reject-or-drop' as Expect,
          }
        }),
    },
    {
      weight: 10,
      arbitrary: envelopeFields.map((env) => ({
        category: 'bad signature',
        topicNode: node,
        payload: b(env),
        expect: 'reject' as Expect,
      })),
    },
    {
      weight: 5,
      arbitrary: envelopeFields.map((env) => {
        const { sig: _s, ...rest } = env
        return { category: 'missing signature', topicNode: node, payload: b(rest), expect: 'reject' as Expect }
      }),
    },
    {
      weight: 5,
      arbitrary: envelopeFields.map((env) => ({
        category: 'stale timestamp, forged',
        topicNode: node,
        payload: b({ ...env, ts: '1970-01-01T00:00:00.000Z' }),
        expect: 'reject' as Expect,
      })),
    },
    {
      weight: 8,
      arbitrary: fc.constantFrom(...w.stored).map((env) => ({
        category: "wrong topic (another node's envelope)",
        topicNode: 'intruder',
        payload: b(env),
        expect: 'reject' as Expect,
      })),
    },
    {
      weight: 4,
      arbitrary: envelopeFields.map((env) => ({
        category: 'unknown node',
        topicNode: 'ghost',
        payload: b({ ...env, node: 'ghost' }),
        expect: 'reject' as Expect,
      })),
    },
    {
      weight: 8,
      arbitrary: fc.constantFrom(...w.stored).map((env) => ({
        category: 'replayed msgId',
        topicNode: node,
        payload: b(env),
        expect: 'duplicate' as Expect,
      })),
    },
    {
      weight: 3,
      arbitrary: fc.integer({ min: 1000, max: 200_000 }).map((depth) => ({
        category: 'deep nesting',
        topicNode: node,
        payload: Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`),
        expect: 'reject-or-drop' as Expect,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.constant(null).map(() => ({
        category: 'over 1 MiB',
        topicNode: node,
        payload: Buffer.concat([b(`{"msgId":"huge-${randomBytes(4).toString('hex')}","pad":"`), huge, b('"}')]),
        expect: 'reject-or-drop' as Expect,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.string({ maxLength: 40 }).map((token) => ({
        category: 'enroll with a wrong token',
        topicNode: node,
        payload: b({ ...w.enrolled.enroll(`${token}-not-a-token`), node }),
        expect: 'reject' as Expect,
      })),
    },
    // Event batches that fail as a whole (hostile-batches.ts): one rejection each, under the batch msgId.
    { weight: 10, arbitrary: hostileBatch(w) },
  )
}

export function topicOf(h: Hostile): string {
  return nodeTopic(h.topicNode, 'events')
}
