import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { PassThrough } from 'node:stream'
import { describe, it } from 'node:test'
import { PacketGuard } from '../../src/broker/packet-guard.ts'

/** A stand-in for the client socket: bytes written to `wire` arrive at the guard as socket data. */
function guarded(limit: number) {
  const wire = new PassThrough()
  const oversize: number[] = []
  const guard = new PacketGuard(wire as unknown as Socket, limit, (declared) => oversize.push(declared))
  const passed: Buffer[] = []
  guard.on('data', (d: Buffer) => passed.push(d))
  guard.on('error', () => undefined)
  const settle = () => new Promise((r) => setImmediate(r))
  return { wire, guard, oversize, passed, settle }
}

describe('PacketGuard: the fixed header decides before the body is buffered', () => {
  const cases: Array<[string, number[][], number, number | undefined]> = [
    [
      'small packets pass, header in one chunk',
      [
        [0x30, 3, 0, 1, 0x61],
        [0xc0, 0],
      ],
      16,
      undefined,
    ],
    ['a 2-byte varint split across chunks (200 > 128)', [[0x30, 0xc8], [0x01]], 128, 200],
    ['a 4-byte varint declaring 2 MiB, alone', [[0x30, 0x80, 0x80, 0x80, 0x01]], 1 << 20, 2 * 1024 * 1024],
    ['the largest MQTT length (256 MiB - 1)', [[0x30, 0xff, 0xff, 0xff, 0x7f]], 1 << 20, 256 * 1024 * 1024 - 1],
    ['a second packet over the limit after a good one', [[0x30, 1, 0x61, 0x30, 0xff, 0x7f]], 1024, 16383],
    ['a malformed 5-byte varint', [[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]], 1 << 30, 0xfffffff],
  ]
  for (const [what, chunks, limit, declared] of cases) {
    it(what, async () => {
      const g = guarded(limit)
      for (const c of chunks) {
        g.wire.write(Buffer.from(c))
        await g.settle()
      }
      if (declared === undefined) {
        assert.deepEqual(g.oversize, [])
        assert.deepEqual(Buffer.concat(g.passed), Buffer.from(chunks.flat()), 'bytes pass unchanged')
        assert.equal(g.guard.destroyed, false)
      } else {
        assert.deepEqual(g.oversize, [declared])
        assert.equal(g.wire.destroyed, true, 'the socket is closed')
      }
    })
  }

  it('a body larger than one chunk is skipped, not scanned as headers', async () => {
    const g = guarded(300)
    const body = Buffer.alloc(200, 0xff)
    g.wire.write(Buffer.concat([Buffer.from([0x30, 0xc8, 0x01]), body.subarray(0, 100)]))
    await g.settle()
    g.wire.write(Buffer.concat([body.subarray(100), Buffer.from([0xc0, 0])]))
    await g.settle()
    assert.deepEqual(g.oversize, [])
    assert.equal(Buffer.concat(g.passed).length, 3 + 200 + 2)
  })
})
