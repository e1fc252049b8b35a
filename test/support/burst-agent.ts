// A real agent process for the crash tests: the agent's own config loader, FileOutbox, MQTT transport and runtime —
// everything but the scheduler — emitting a burst of job.started events (runId burst-<i>).
//   node --import tsx test/support/burst-agent.ts --config <agent.yaml> --count N [--from K] [--pace-ms M]
// [--max-pending P] [--backoff-max-ms B]
// --pace-ms waits M ms between groups of 32 emits, so fault tests can land many kills inside one flow.
// --max-pending holds the next group while P or more events await the collector's ack: a test driver's throttle
// (not agent behaviour) so the flow cannot run ahead of a collector that is down or restarting, and a fault test's
// last kills still land inside the flow on a loaded machine where each restart takes seconds.
// --backoff-max-ms caps the transport's reconnect backoff (default: the agent's own, up to 60 s): for a test whose
// collector is down or cut on purpose, where what is checked is the ledger, not how long the agent waits to retry.
// Resumes after a kill -9: it starts at max(--from, highest index still in its own outbox + 1), because every index
// below that is durable (outbox appends are FIFO and fsync'd before `emit` resolves). Prints `emitted <i>` as each
// emit resolves and `drained` once the collector has acknowledged everything, then exits 0.
import { hostname } from 'node:os'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { loadAgentConfig } from '@backstop/agent/src/config/load.ts'
import { systemClock } from '@backstop/agent/src/clock.ts'
import { FileOutbox } from '@backstop/agent/src/outbox/file-outbox.ts'
import { createAgentRuntime } from '@backstop/agent/src/runtime.ts'

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    count: { type: 'string' },
    from: { type: 'string', default: '1' },
    'pace-ms': { type: 'string', default: '0' },
    'max-pending': { type: 'string', default: '0' },
    'backoff-max-ms': { type: 'string' },
  },
})
const config = loadAgentConfig(values.config!, { hostname: hostname() })
const count = Number(values.count)
const paceMs = Number(values['pace-ms'])
const maxPending = Number(values['max-pending'])
const log = pino({ level: 'warn' }, pino.destination(2))
const outbox = await FileOutbox.open({
  dir: config.outbox.dir,
  maxBytes: config.outbox.maxBytes,
  log,
  clock: systemClock,
})

let from = Number(values.from)
for (let after = 0; ;) {
  const batch = await outbox.readPending(after, 1000)
  if (batch.length === 0) {
    break
  }
  for (const r of batch) {
    const runId = (r.envelope.body as { runId?: string }).runId ?? ''
    const i = Number(runId.replace('burst-', ''))
    if (Number.isInteger(i) && i + 1 > from) {
      from = i + 1
    }
  }
  after = batch[batch.length - 1]!.seq
}
process.stdout.write(`resume ${from}\n`)

const backoffMaxMs = values['backoff-max-ms'] === undefined ? undefined : Number(values['backoff-max-ms'])
const runtime = await createAgentRuntime({
  config,
  clock: systemClock,
  log,
  outbox,
  ...(backoffMaxMs === undefined
    ? {}
    : { transport: { backoff: { baseMs: Math.min(1000, backoffMaxMs), maxMs: backoffMaxMs } } }),
})
runtime.start()
// A stalled burst is diagnosed from the log tail: every 5 s the outbox's state and how many emits are unresolved.
let unresolved = 0
const watch = setInterval(() => {
  const d = outbox.diagnostics()
  const st = runtime.status()
  const state = {
    ...outbox.stats(),
    ...d,
    unresolvedEmits: unresolved,
    connected: st.connected,
    transport: st.transport,
  }
  process.stderr.write(`# state ${JSON.stringify(state)}\n`)
}, 5000)
watch.unref()
const startedAt = new Date().toISOString()
const PARALLEL = 32
for (let i = from; i <= count; i += PARALLEL) {
  while (maxPending > 0 && outbox.stats().pending >= maxPending) {
    await new Promise((r) => setTimeout(r, 20))
  }
  const group: Promise<void>[] = []
  for (let j = i; j < Math.min(i + PARALLEL, count + 1); j++) {
    unresolved++
    group.push(
      runtime
        .emit('job.started', { runId: `burst-${j}`, job: 'burst', jobKind: 'archive', startedAt, trigger: 'manual' })
        .then(() => {
          unresolved--
          process.stdout.write(`emitted ${j}\n`)
        }),
    )
  }
  await Promise.all(group)
  if (paceMs > 0) {
    await new Promise((r) => setTimeout(r, paceMs))
  }
}
while (!(await runtime.flush(1000))) {
  // keep waiting: the test decides how long is too long
}
process.stdout.write('drained\n')
await runtime.stop()
await outbox.close()
process.exit(0)
