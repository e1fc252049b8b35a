import {
  BackstopError,
  checkCommand,
  type CommandKind,
  type CommandOutcome,
  type CommandResultBody,
  decodeCommand,
  isBackstopError,
  type SignedCommand,
} from '@backstop/shared'
import type { NonceStore } from './nonce-store.ts'

/**
 * What each command kind does on this node. Implementations call into the job runner / verifier with typed
 * arguments (job names are checked against the config there) — there is no path from a command to a shell.
 */
export type CommandHandlers = {
  readonly [K in CommandKind]: (cmd: Extract<SignedCommand, { kind: K }>) => Promise<HandlerResult>
}

/** `outcome.result === 'failed'` reports the command as failed (with the outcome's code), still with the outcome. */
export interface HandlerResult {
  readonly runId?: string
  readonly outcome?: CommandOutcome
}

export interface ReceiverDeps {
  readonly node: string
  /**
   * Pinned at enrollment (`<stateDir>/keys/collector.json`); undefined = not enrolled yet: every command is refused.
   */
  readonly collectorPublicKey: () => string | undefined
  /** `commands.allow` from the agent config; empty (the default) refuses every command. */
  readonly allow: readonly CommandKind[]
  readonly nonces: NonceStore
  readonly now: () => Date
  readonly handlers: CommandHandlers
  /** Hands a `command.result` body to the outbox (durable, signed, acked like every event). */
  readonly report: (body: CommandResultBody) => Promise<void> | void
  readonly log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }
}

export type Outcome = { status: 'dropped'; code: string } | { status: CommandResultBody['status']; code?: string }

/**
 * One message from backstop/v1/<node>/commands. Order: decode → signature/node/expiry/allowlist (shared
 * `checkCommand`) → nonce (replay) → persist the nonce → report `accepted` → run → report the outcome.
 * Rejections of a command that verified are reported; anything unsigned or malformed is only logged (it did
 * not come from the collector, and answering would let anyone make us write to the outbox).
 */
export async function receiveCommand(payload: Buffer | string, d: ReceiverDeps): Promise<Outcome> {
  let cmd: SignedCommand
  try {
    cmd = decodeCommand(payload)
  } catch (e) {
    const code = isBackstopError(e) ? e.code : 'BK_ERR_WIRE_JSON'
    d.log.warn({ code, err: (e as Error).message }, 'command dropped: malformed')
    return { status: 'dropped', code }
  }
  const at = (): string => d.now().toISOString()
  const base = { commandId: cmd.id, kind: cmd.kind }
  try {
    const key = d.collectorPublicKey()
    if (!key) {
      throw new BackstopError(
        'BK_ERR_CMD_SIG',
        'this agent is not enrolled yet (no pinned collector key); commands are refused until it is',
      )
    }
    checkCommand(cmd, { collectorPublicKey: key, node: d.node, now: d.now(), allow: d.allow })
    if (d.nonces.has(cmd.id)) {
      throw new BackstopError(
        'BK_ERR_CMD_REPLAY',
        `command ${cmd.id} was already received; a replayed command is never run twice`,
      )
    }
  } catch (e) {
    const err = isBackstopError(e) ? e : new BackstopError('BK_ERR_INTERNAL_ERROR', String(e))
    d.log.warn({ commandId: cmd.id, kind: cmd.kind, code: err.code, err: err.message }, 'command refused')
    if (err.code === 'BK_ERR_CMD_SIG' || err.code === 'BK_ERR_WIRE_TOPIC') {
      return { status: 'dropped', code: err.code }
    }
    if (err.code !== 'BK_ERR_CMD_REPLAY') {
      await d.report({ ...base, status: 'rejected', code: err.code, message: err.message.slice(0, 8000), at: at() })
    }
    return { status: 'rejected', code: err.code }
  }
  d.nonces.add(cmd.id, cmd.expiresAt)
  d.log.info({ commandId: cmd.id, kind: cmd.kind, args: cmd.args, requestedBy: cmd.requestedBy }, 'command accepted')
  await d.report({ ...base, status: 'accepted', at: at() })
  try {
    const r = await runHandler(cmd, d.handlers)
    const bad = r.outcome?.result === 'failed'
    const code = bad ? (r.outcome?.error?.code ?? 'BK_ERR_VERIFY_FAILED') : undefined
    await d.report({
      ...base,
      status: bad ? 'failed' : 'succeeded',
      ...(r.runId ? { runId: r.runId } : {}),
      ...(code ? { code, message: (r.outcome?.error?.message ?? 'the check failed').slice(0, 8000) } : {}),
      ...(r.outcome ? { outcome: r.outcome } : {}),
      at: at(),
    })
    return bad ? { status: 'failed', ...(code ? { code } : {}) } : { status: 'succeeded' }
  } catch (e) {
    const code = isBackstopError(e) ? e.code : 'BK_ERR_INTERNAL_ERROR'
    await d.report({ ...base, status: 'failed', code, message: (e as Error).message.slice(0, 8000), at: at() })
    return { status: 'failed', code }
  }
}

function runHandler(cmd: SignedCommand, h: CommandHandlers): Promise<HandlerResult> {
  switch (cmd.kind) {
    case 'run-job':
      return h['run-job'](cmd)
    case 'reverify-copy':
      return h['reverify-copy'](cmd)
    case 'restore-test':
      return h['restore-test'](cmd)
    default: {
      const never: never = cmd
      throw new BackstopError(
        'BK_ERR_CMD_NOT_ALLOWED',
        `unknown command kind ${JSON.stringify((never as SignedCommand).kind)}`,
      )
    }
  }
}
