import { hostname } from 'node:os'
import { pino } from 'pino'
import { setDataFileGroup } from '@backstop/node-io'
import type { CliDeps } from './cli/deps.ts'
import { runCli } from './cli/program.ts'
import { systemClock } from './clock.ts'
import { loadAgentConfig } from './config/load.ts'
import { NodeExec } from './exec/node-exec.ts'
import { NodePassthroughExec } from './exec/passthrough.ts'
import { loadCollectorKey } from './keys.ts'
import type { Log } from './log.ts'
import { FileOutbox } from './outbox/file-outbox.ts'
import { createAgentRuntime } from './runtime.ts'
import { pinnedTlsForUrl } from './transport/tls-trust-store.ts'

/**
 * The composition root, the only place that picks implementations: NodeExec, the runtime with its FileOutbox and
 * MQTT transport, the system clock, pino. Logs go to stderr (JSON lines; journald keeps them) so that stdout
 * carries only command output (`status --json`, `plan --json`).
 */
function productionDeps(): CliDeps {
  const createLog = (level: string): Log =>
    pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }))
  return {
    io: { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) },
    clock: systemClock,
    hostname: hostname(),
    loadConfig: (file) => {
      const config = loadAgentConfig(file, { hostname: hostname() })
      // Process-wide, like the umask: every data file this process creates follows the configured group.
      setDataFileGroup(config.group)
      return config
    },
    createLog,
    createExec: (log) => new NodeExec({ log: log.child({ component: 'exec' }) }),
    createPassthroughExec: () => new NodePassthroughExec(),
    createRuntime: async ({ config, clock, log, jobStatus, onCommand, presence }) => {
      // mqtts:// with collector.fingerprint: trust exactly the pinned collector CA (docs/security.md).
      const tls =
        config.collector.url.startsWith('mqtts://') && config.collector.fingerprint
          ? await pinnedTlsForUrl({
              stateDir: config.stateDir,
              url: config.collector.url,
              fingerprint: config.collector.fingerprint,
            })
          : undefined
      const runtime = await createAgentRuntime({
        config,
        clock,
        log,
        ...(tls ? { tls } : {}),
        ...(onCommand ? { onCommand } : {}),
        ...(presence !== undefined ? { presence } : {}),
      })
      runtime.onJobStatus(jobStatus)
      return runtime
    },
    enrollment: async (config) => ((await loadCollectorKey(config.stateDir)) !== null ? 'pinned' : 'not-enrolled'),
    readOutbox: async (config) => {
      const outbox = await FileOutbox.open({
        dir: config.outbox.dir,
        maxBytes: config.outbox.maxBytes,
        log: createLog('warn'),
        clock: systemClock,
        // With the same keep settings as the daemon: opened without, the outbox would release the kept events.
        ...(config.outbox.keep ? { keep: config.outbox.keep } : {}),
      })
      try {
        const { pending, bytes } = outbox.stats()
        return { pending, bytes, ...(config.outbox.keep ? { keep: outbox.keptStats() } : {}) }
      } finally {
        await outbox.close()
      }
    },
    onStopSignal: (handler) => {
      process.on('SIGTERM', handler)
      process.on('SIGINT', handler)
      return () => {
        process.off('SIGTERM', handler)
        process.off('SIGINT', handler)
      }
    },
  }
}

// No top-level await: the single binary is a CommonJS bundle (Node 20 SEA).
runCli(process.argv.slice(2), productionDeps()).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`backstop-agent: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
    process.exit(1)
  },
)
