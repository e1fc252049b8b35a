import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { alertTopics } from '@backstop/shared'
import mqtt from 'mqtt'
import pino from 'pino'
import { aedesPublisher } from '../../src/alerts/mqtt-publisher.ts'
import { createAuditLog } from '../../src/audit/audit-log.ts'
import { createBroker } from '../../src/broker/broker.ts'
import { composeLedger } from '../../src/compose/ledger.ts'
import { createBrokerIdentity } from '../../src/identity/broker-identity.ts'
import { createAccessRepo } from '../../src/identity/node-access.ts'
import { createOperators } from '../../src/identity/operators.ts'
import { createKeyRing } from '../../src/ingest/key-ring.ts'
import { ledgerConfig } from '../../src/ledger/config.ts'
import { createCounters } from '../../src/metrics/counters.ts'
import { createCopiesRepo } from '../../src/store/copies-repo.ts'
import { openDb } from '../../src/store/db.ts'
import { createLedgerChangesRepo } from '../../src/store/ledger-changes-repo.ts'
import { createNodesRepo } from '../../src/store/nodes-repo.ts'
import { createRunsRepo } from '../../src/store/runs-repo.ts'
import { fakeClock } from '../ledger/fake-clock.ts'

const T0 = Date.parse('2026-11-20T00:00:00Z')
const H = 3600_000

describe('alerts over MQTT (real broker, real mqtt.js client)', () => {
  it('publishes retained state per key and the event stream to an operator subscriber', async (t) => {
    const log = pino({ level: 'silent' })
    const { db } = openDb({ file: ':memory:' })
    t.after(() => db.close())
    const nodes = createNodesRepo(db)
    const audit = createAuditLog(db)
    const operators = createOperators(db, audit, () => new Date(T0))
    const broker = await createBroker({
      keys: createKeyRing(nodes),
      counters: createCounters(),
      log,
      now: () => new Date(),
      onEvent: (_n, _p, done) => done(),
      onStatus: () => undefined,
      identity: createBrokerIdentity(createAccessRepo(db), operators),
    })
    const server = createServer(broker.aedes.handle)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    t.after(async () => {
      server.close()
      await broker.close()
    })
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`

    const clock = fakeClock(T0)
    const part = composeLedger({
      db,
      log,
      clock,
      config: ledgerConfig(),
      publish: aedesPublisher(broker.aedes, log),
      audit,
      telemetry: undefined,
      afterCommit: () => undefined,
      fetch: globalThis.fetch,
    })
    part.start()
    t.after(() => part.stop())
    nodes.insert({
      node: 'pve1',
      publicKey: 'k',
      fingerprint: 'f',
      enrolledAt: T0,
      hostname: 'pve1',
      agentVersion: '0',
    })
    const runs = createRunsRepo(db)
    const copies = createCopiesRepo(db)
    const changes = createLedgerChangesRepo(db)
    db.transaction(() => {
      runs.finished(
        'pve1',
        {
          runId: 'r1',
          job: 'snap',
          jobKind: 'zfs-snapshot',
          startedAt: new Date(T0).toISOString(),
          finishedAt: new Date(T0 + 1000).toISOString(),
          status: 'success',
          copies: [],
          deleted: [],
          warnings: [],
        },
        T0 + 1000,
      )
      copies.upsert(
        'pve1',
        {
          copyId: 'c1',
          asset: { kind: 'zfs-dataset', id: 'tank/data' },
          location: { kind: 'zfs-pool', target: 'backup' },
          name: 'c1',
          media: 'hdd',
          offsite: false,
          offline: false,
          immutable: false,
          createdAt: new Date(T0 + 500).toISOString(),
          verification: { state: 'verified' },
        },
        'r1',
        T0 + 1000,
      )
      // What the job.finished handler marks for the ledger (ingest/job-finished.ts).
      changes.mark({ kind: 'run-finished', node: 'pve1', runId: 'r1' })
      changes.runProduced('pve1', 'r1', 'zfs-dataset', 'tank/data')
    })()
    part.ledger.runNow()
    // The deadline passes with nobody watching: the retained state must be there for a late subscriber.
    clock.set(T0 + 1000 + 25 * H + 1)

    const op = operators.create('homeassistant', 'test')
    const client = await mqtt.connectAsync(url, {
      username: op.username,
      password: op.password,
      clientId: 'ha-test',
      reconnectPeriod: 0,
    })
    t.after(() => client.endAsync())
    const got: { topic: string; body: Record<string, unknown>; retain: boolean }[] = []
    client.on('message', (topic, payload, packet) =>
      got.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown>, retain: packet.retain }),
    )
    await client.subscribeAsync(alertTopics.stateWildcard, { qos: 1 })
    await client.subscribeAsync(alertTopics.events, { qos: 1 })
    const key = 'missed-backup/pve1/snap/zfs-dataset/tank/data'
    const waitFor = async (pred: () => boolean): Promise<void> => {
      for (let i = 0; i < 100 && !pred(); i++) {
        await new Promise((r) => setTimeout(r, 20))
      }
      assert.ok(pred(), `timed out; got ${JSON.stringify(got.map((g) => g.topic))}`)
    }
    await waitFor(() => got.some((g) => g.topic === alertTopics.state(key)))
    const retained = got.find((g) => g.topic === alertTopics.state(key))!
    assert.equal(retained.retain, true, 'delivered as a retained message to a late subscriber')
    assert.equal(retained.body.state, 'firing')
    assert.equal(retained.body.since, new Date(T0 + 1000 + 25 * H).toISOString(), 'dated at the true deadline')

    // A live transition arrives on both the state topic and the event stream.
    db.transaction(() => {
      runs.finished(
        'pve1',
        {
          runId: 'r2',
          job: 'snap',
          jobKind: 'zfs-snapshot',
          startedAt: new Date(T0 + 26 * H).toISOString(),
          finishedAt: new Date(T0 + 26 * H + 1000).toISOString(),
          status: 'success',
          copies: [],
          deleted: [],
          warnings: [],
        },
        T0 + 26 * H + 1000,
      )
      copies.upsert(
        'pve1',
        {
          copyId: 'c2',
          asset: { kind: 'zfs-dataset', id: 'tank/data' },
          location: { kind: 'zfs-pool', target: 'backup' },
          name: 'c2',
          media: 'hdd',
          offsite: false,
          offline: false,
          immutable: false,
          createdAt: new Date(T0 + 26 * H + 500).toISOString(),
          verification: { state: 'verified' },
        },
        'r2',
        T0 + 26 * H + 1000,
      )
      changes.mark({ kind: 'run-finished', node: 'pve1', runId: 'r2' })
      changes.runProduced('pve1', 'r2', 'zfs-dataset', 'tank/data')
    })()
    clock.set(T0 + 26 * H + 2000)
    part.ledger.runNow()
    await waitFor(() =>
      got.some((g) => g.topic === alertTopics.events && g.body.key === key && g.body.to === 'resolved'),
    )
    await waitFor(() => got.filter((g) => g.topic === alertTopics.state(key)).at(-1)?.body.state === 'resolved')
    const live = got.filter((g) => g.topic === alertTopics.state(key)).at(-1)!
    assert.equal(live.body.state, 'resolved')
    assert.equal(live.retain, false, 'live deliveries to an existing subscriber carry retain=0 (MQTT 3.1.1 §3.3.1.3)')

    // And the broker keeps only the newest state: a fresh subscriber sees "resolved".
    const late = await mqtt.connectAsync(url, {
      username: op.username,
      password: op.password,
      clientId: 'ha-late',
      reconnectPeriod: 0,
    })
    t.after(() => late.endAsync())
    const lateGot: Record<string, unknown>[] = []
    late.on('message', (topic, payload) => {
      if (topic === alertTopics.state(key)) {
        lateGot.push(JSON.parse(payload.toString()) as Record<string, unknown>)
      }
    })
    await late.subscribeAsync(alertTopics.stateWildcard, { qos: 1 })
    await waitFor(() => lateGot.length > 0)
    assert.equal(lateGot[0]!.state, 'resolved')
    // Operators are read-only: a subscription outside the alert tree is refused.
    await assert.rejects(
      late.subscribeAsync('backstop/v1/pve1/events', { qos: 1 }),
      (e: Error & { packet?: { granted?: number[] } }) => e.packet?.granted?.[0] === 128,
    )
  })
})
