import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { CliDeps, RuntimeInput } from '../../src/cli/deps.ts'
import { NodePassthroughExec } from '../../src/exec/passthrough.ts'
import { runCli } from '../../src/cli/program.ts'
import { loadAgentConfig } from '../../src/config/load.ts'
import { NodeExec } from '../../src/exec/node-exec.ts'
import { memoryLog } from '../exec/memory-log.ts'
import { FakeClock } from '../scheduler/fake-clock.ts'

export interface FakeRuntime {
  readonly emitted: { kind: string; body: Record<string, unknown> }[]
  started: number
  stopped: number
  acked: boolean
  jobStatus: RuntimeInput['jobStatus'] | null
  /** What the command asked for: presence (undefined = the default, the daemon's) and the stop reason. */
  presence?: boolean | undefined
  stopReason?: string | undefined
}

export interface Harness {
  readonly dir: string
  readonly config: string
  readonly src: string
  readonly dest: string
  readonly clock: FakeClock
  readonly runtime: FakeRuntime
  readonly deps: CliDeps
  /** Fires the stop-signal handlers (SIGTERM for `run`). */
  signal(): void
  cli(...argv: string[]): Promise<{ code: number; out: string; err: string }>
}

/** A temp state dir + config with one archive job over a temp source, and fakes for the runtime and signals. */
export function harness(t: TestContext, extraYaml = ''): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'bk-cli-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const src = join(dir, 'src')
  const dest = join(dir, 'backups')
  mkdirSync(src)
  writeFileSync(join(src, 'hosts'), '127.0.0.1 localhost\n')
  const config = join(dir, 'agent.yaml')
  writeFileSync(
    config,
    `node: test-node
stateDir: ${join(dir, 'state')}
collector:
  url: mqtt://127.0.0.1:1
  enrollmentToken: cli-harness-enrollment-token-0123456789
jobs:
  - kind: archive
    name: etc
    schedule: "0 3 * * *"
    paths: [${src}]
    destination: ${dest}
    retention: { keep: { last: 2 } }
    media: hdd
${extraYaml}`,
  )
  const clock = new FakeClock('2026-03-01T12:00:00Z')
  const runtime: FakeRuntime = { emitted: [], started: 0, stopped: 0, acked: true, jobStatus: null }
  const handlers = new Set<(s: string) => void>()
  const io = { out: '', err: '' }
  const deps: CliDeps = {
    io: {
      out: (s) => {
        io.out += s
      },
      err: (s) => {
        io.err += s
      },
    },
    clock,
    hostname: 'test-host',
    loadConfig: (file) => loadAgentConfig(file, { hostname: 'test-host' }),
    createLog: () => memoryLog('info').log,
    createExec: (log) => new NodeExec({ log }),
    createPassthroughExec: () => new NodePassthroughExec(),
    createRuntime: async (input) => {
      runtime.jobStatus = input.jobStatus
      runtime.presence = input.presence
      return {
        start: () => {
          runtime.started++
        },
        stop: async (reason) => {
          runtime.stopReason = reason
          runtime.stopped++
        },
        emit: async (kind, body) => {
          runtime.emitted.push({ kind, body: body as unknown as Record<string, unknown> })
        },
        flush: async () => runtime.acked,
        status: () => ({
          outbox: {
            pending: runtime.acked ? 0 : runtime.emitted.length,
            bytes: runtime.acked ? 0 : 100 * runtime.emitted.length,
          },
        }),
      }
    },
    enrollment: async () => 'pinned',
    readOutbox: async () => ({ pending: 0, bytes: 0 }),
    onStopSignal: (h) => {
      handlers.add(h)
      return () => handlers.delete(h)
    },
  }
  return {
    dir,
    config,
    src,
    dest,
    clock,
    runtime,
    deps,
    signal: () => {
      for (const h of [...handlers]) {
        h('SIGTERM')
      }
    },
    cli: async (...argv) => {
      io.out = ''
      io.err = ''
      const code = await runCli(argv, deps)
      return { code, out: io.out, err: io.err }
    },
  }
}
