import type { BodyOf } from '@backstop/shared'
import type { Clock } from '../clock.ts'
import type { ResolvedAgentConfig } from '../config/schema.ts'
import type { Exec } from '../exec/exec.ts'
import type { PassthroughExec } from '../exec/passthrough.ts'
import type { SystemInfo } from '../health/collect.ts'
import type { Log } from '../log.ts'
import type { KeptStats } from '../outbox/outbox.ts'
import type { DurableKind } from '../runtime.ts'
import type { JobScheduleStatus } from '../scheduler/scheduler.ts'

/** What the runtime reports (runtime.ts AgentStatus); the CLI reads the outbox numbers, the rest is kept as given. */
export interface RuntimeStatus {
  readonly outbox: OutboxNumbers
}

/** `keep`: acknowledged events kept until a collector backup covers them (null or absent: keeping is off). */
export interface OutboxNumbers {
  readonly pending: number
  readonly bytes: number
  readonly keep?: KeptStats | null
}

/**
 * The agent runtime (outbox + MQTT transport + heartbeat; agent/src/runtime.ts `createAgentRuntime`), as the
 * CLI uses it. `emit` signs an event and makes it durable before it resolves.
 */
export interface AgentRuntime {
  /** Connects in the background (and keeps reconnecting); does not wait for the collector. */
  start(): void | Promise<void>
  /** Graceful: the node's status says offline with this reason (default `shutdown`), not the Last Will. */
  stop(reason?: 'shutdown' | 'restart'): Promise<void>
  /** Any durable agent kind of shared/src/schemas/kinds.ts: a new message kind needs no change here. */
  readonly emit: <K extends DurableKind>(kind: K, body: BodyOf<K>) => Promise<unknown>
  /** Resolves true once every appended event is acknowledged, false after `timeoutMs`. */
  flush(timeoutMs: number): Promise<boolean>
  status(): RuntimeStatus
}

export interface RuntimeInput {
  readonly config: ResolvedAgentConfig
  readonly clock: Clock
  readonly log: Log
  /** For the heartbeat's `jobs` (next run, skipped overlaps). */
  readonly jobStatus: () => readonly JobScheduleStatus[]
  /** Signed collector commands (commands/daemon-commands.ts); absent = the commands topic is not subscribed. */
  readonly onCommand?: ((payload: Buffer) => void) | undefined
  /** false for a one-shot run (`once`): no Will, no online/offline, no heartbeat; events are still delivered. */
  readonly presence?: boolean
}

export interface CliIO {
  out(text: string): void
  err(text: string): void
}

/**
 * Everything the commands need from the outside world. Only main.ts builds the real one (NodeExec, the runtime
 * with its FileOutbox, systemClock, pino); tests hand in fakes.
 */
export interface CliDeps {
  readonly io: CliIO
  readonly clock: Clock
  readonly hostname: string
  readonly loadConfig: (file: string) => ResolvedAgentConfig
  readonly createLog: (level: ResolvedAgentConfig['logLevel']) => Log
  readonly createExec: (log: Log) => Exec
  /** For the ssh forced-command gate (`remote-gate`): a command that owns this process's stdin and stdout. */
  readonly createPassthroughExec: () => PassthroughExec
  /** systeminformation for disk-health reports; default: the library itself (health/system-info.ts). */
  readonly createSystemInfo?: () => SystemInfo
  readonly createRuntime: (input: RuntimeInput) => Promise<AgentRuntime>
  /** Whether the collector's key is pinned (enrolled), from the state directory. */
  readonly enrollment: (config: ResolvedAgentConfig) => Promise<'pinned' | 'not-enrolled'>
  /** Outbox numbers read from disk while no daemon is running (opening it recovers torn tails). */
  readonly readOutbox: (config: ResolvedAgentConfig) => Promise<OutboxNumbers>
  /** Subscribes to SIGTERM/SIGINT; returns the unsubscribe. */
  readonly onStopSignal: (handler: (signal: string) => void) => () => void
}
