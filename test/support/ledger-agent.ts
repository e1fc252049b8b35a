// A real agent process for the collector disk-loss test: the agent's own config loader, runtime, FileOutbox (with
// outbox.keep from the config) and MQTT transport — everything but the scheduler. The test drives it on stdin:
//   run <n>   emits n backup runs of job `docs` (job.started, then job.finished with two copies of file-set
//             fileset:docs, each copy new), prints `sent <kind> <seq> <msgId>` as each emit resolves (the agent-side
//             sent log), then `ran <n>` once the collector acknowledged everything
//   stats     prints `stats <json of the outbox's keptStats()>`
//   stop      stops the runtime gracefully and exits 0
//   node --import tsx test/support/ledger-agent.ts --config <agent.yaml>
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import type { BodyOf, Envelope } from '@backstop/shared'
import { systemClock } from '@backstop/agent/src/clock.ts'
import { loadAgentConfig } from '@backstop/agent/src/config/load.ts'
import { createAgentRuntime } from '@backstop/agent/src/runtime.ts'

const { values } = parseArgs({ options: { config: { type: 'string' } } })
const config = loadAgentConfig(values.config!, { hostname: hostname() })
const log = pino({ level: 'info' }, pino.destination(2))
const runtime = await createAgentRuntime({ config, clock: systemClock, log })
runtime.start()
const asset = { kind: 'file-set' as const, id: 'fileset:docs' }
let runNo = 0

function sent(env: Envelope): void {
  process.stdout.write(`sent ${env.kind} ${env.seq} ${env.msgId}\n`)
}

function copy(
  runId: string,
  at: string,
  where: string,
  media: 'hdd' | 'usb',
): BodyOf<'job.finished'>['copies'][number] {
  return {
    copyId: `${where}/docs-${runId}.tar`,
    asset,
    location: { kind: 'dir', target: where },
    name: `docs-${runId}.tar`,
    media,
    offsite: false,
    offline: false,
    immutable: false,
    createdAt: at,
    verification: { state: 'verified', at, method: 'sha256-manifest' },
    runId,
  }
}

async function oneRun(): Promise<void> {
  runNo++
  const runId = `r${runNo}-${randomUUID().slice(0, 8)}`
  const startedAt = new Date().toISOString()
  sent(await runtime.emit('job.started', { runId, job: 'docs', jobKind: 'archive', startedAt, trigger: 'manual' }))
  const finishedAt = new Date().toISOString()
  sent(
    await runtime.emit('job.finished', {
      runId,
      job: 'docs',
      jobKind: 'archive',
      startedAt,
      finishedAt,
      status: 'success',
      copies: [copy(runId, finishedAt, '/srv/backup', 'hdd'), copy(runId, finishedAt, '/mnt/usb', 'usb')],
      deleted: [],
      warnings: [],
    }),
  )
}

let chain: Promise<void> = Promise.resolve()
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(/\s+/)
  chain = chain.then(async () => {
    if (cmd === 'run') {
      const n = Number(arg)
      for (let i = 0; i < n; i++) {
        await oneRun()
      }
      while (!(await runtime.flush(1000))) {
        // the test decides how long is too long
      }
      process.stdout.write(`ran ${n}\n`)
    } else if (cmd === 'stats') {
      process.stdout.write(`stats ${JSON.stringify(runtime.status().outbox.keep)}\n`)
    } else if (cmd === 'stop') {
      await runtime.stop()
      process.exit(0)
    }
  })
}
