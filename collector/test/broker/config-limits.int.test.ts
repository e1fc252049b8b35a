import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { test } from 'node:test'
import { parse, stringify } from 'yaml'
import { collectorSetup, tempDir } from '../../../test/support/processes.ts'

/** Resolves true when the server closes the socket within `ms`, false when it is still open then. */
function closedWithin(s: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    s.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

test('mqtt.limits in the YAML reach the running broker: a third connection from one address is refused', async (t) => {
  const dir = tempDir(t, 'bk-limits-')
  const setup = await collectorSetup(dir)
  const cfg = parse(readFileSync(setup.config, 'utf8')) as { mqtt: Record<string, unknown> }
  cfg.mqtt['limits'] = { maxConnectionsPerIp: 2 }
  writeFileSync(setup.config, stringify(cfg))
  const collector = await setup.start()
  const sockets: Socket[] = []
  t.after(async () => {
    sockets.forEach((s) => s.destroy())
    await collector.kill9()
  })
  const port = Number(new URL(setup.mqttUrl).port)
  const open = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s)).once('error', reject)
      sockets.push(s)
    })
  const [a, b] = [await open(), await open()]
  const c = await open()
  assert.equal(await closedWithin(c, 3000), true, 'the third connection is closed at accept')
  assert.deepEqual(
    await Promise.all([closedWithin(a, 300), closedWithin(b, 300)]),
    [false, false],
    'the two within the limit stay open (until their CONNECT timeout)',
  )
})
