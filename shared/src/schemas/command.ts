import Type, { type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { BackstopError } from '../errors.ts'
import { COMMAND_DOMAIN, signValue, verifyValue, type SecretKey } from '../signing.ts'
import { assertJsonDepth } from '../canonical-json.ts'
import { Base64, IsoTimestamp, JobName, LongText, NodeId, RunId, ShortText } from './common.ts'

/**
 * Collector → agent commands (published to `backstop/v1/<node>/commands`). A command is a closed set of kinds
 * with typed arguments — never a command line — signed by the collector key, bound to one node, with a
 * random nonce (`id`, replays refused by the agent's persisted nonce store) and a short validity window.
 */
export const commandKinds = ['run-job', 'reverify-copy', 'restore-test'] as const
export type CommandKind = (typeof commandKinds)[number]

export const COMMAND_VERSION = 1
/** Commands are tiny; anything larger is hostile. */
export const MAX_COMMAND_BYTES = 16 * 1024
/** A command may be valid for at most this long, so a captured one is useless soon after. */
export const MAX_COMMAND_LIFETIME_MS = 60 * 60 * 1000
/** Tolerated clock difference between collector and agent. */
export const COMMAND_CLOCK_SKEW_MS = 5 * 60 * 1000

/** 128+ bits of randomness, base64url or hex: the nonce. */
export const CommandId = Type.String({ minLength: 16, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })
const CopyId = Type.String({ minLength: 1, maxLength: 512 })

const header = {
  v: Type.Literal(COMMAND_VERSION),
  type: Type.Literal('command'),
  id: CommandId,
  node: NodeId,
  issuedAt: IsoTimestamp,
  expiresAt: IsoTimestamp,
  /** Who asked (API token id / CLI user), echoed into the audit log and the result. */
  requestedBy: ShortText,
}

export const RunJobCommand = Type.Object(
  { ...header, kind: Type.Literal('run-job'), args: Type.Object({ job: JobName }, { additionalProperties: false }) },
  { additionalProperties: false },
)
export const ReverifyCopyCommand = Type.Object(
  {
    ...header,
    kind: Type.Literal('reverify-copy'),
    args: Type.Object({ job: JobName, copyId: CopyId }, { additionalProperties: false }),
  },
  { additionalProperties: false },
)
export const RestoreTestCommand = Type.Object(
  {
    ...header,
    kind: Type.Literal('restore-test'),
    args: Type.Object({ job: JobName, copyId: Type.Optional(CopyId) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
)

export const UnsignedCommand = Type.Union([RunJobCommand, ReverifyCopyCommand, RestoreTestCommand])
export type UnsignedCommand = Static<typeof UnsignedCommand>
export type SignedCommand = UnsignedCommand & { readonly sig: string }

const SignedCommandSchema = Type.Union(
  [RunJobCommand, ReverifyCopyCommand, RestoreTestCommand].map((s) =>
    Type.Object({ ...s.properties, sig: Base64 }, { additionalProperties: false }),
  ),
)
const signedCheck = Compile(SignedCommandSchema)

/** Agent → collector (`command.result` envelope body): what became of a command. */
export const commandStatuses = ['accepted', 'rejected', 'succeeded', 'failed'] as const
export type CommandStatus = (typeof commandStatuses)[number]
/**
 * What a `reverify-copy` or `restore-test` found (agent/src/jobs/copy-checks.ts): the copy it looked at, every
 * check it made, and a coded error when one failed. Optional on the result, so results of older agents stay valid.
 */
export const CommandOutcome = Type.Object(
  {
    result: Type.Union([Type.Literal('ok'), Type.Literal('failed')]),
    job: JobName,
    jobKind: ShortText,
    /** The copy checked (for restore-test without a copyId: the one the agent picked). */
    copyId: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    /** e.g. `sha256-manifest+tar-list`, `zfs-send-stream`, `btrfs-receive-dump`. */
    method: ShortText,
    /**
     * Human-readable, one line each: `sha256 of x matches the manifest`, `12 files restored, sizes and hashes match`.
     */
    checks: Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 32 }),
    bytes: Type.Optional(Type.Integer({ minimum: 0 })),
    durationMs: Type.Integer({ minimum: 0 }),
    at: IsoTimestamp,
    error: Type.Optional(Type.Object({ code: ShortText, message: LongText }, { additionalProperties: false })),
  },
  { additionalProperties: false },
)
export type CommandOutcome = Static<typeof CommandOutcome>

export const CommandResultBody = Type.Object(
  {
    commandId: CommandId,
    kind: Type.Union([Type.Literal('run-job'), Type.Literal('reverify-copy'), Type.Literal('restore-test')]),
    status: Type.Union([
      Type.Literal('accepted'),
      Type.Literal('rejected'),
      Type.Literal('succeeded'),
      Type.Literal('failed'),
    ]),
    /** BK_ERR_* code when rejected or failed. */
    code: Type.Optional(ShortText),
    message: Type.Optional(LongText),
    /** The job run the command started, when it started one. */
    runId: Type.Optional(RunId),
    /** reverify-copy / restore-test: what was checked and what came out (on succeeded and on failed). */
    outcome: Type.Optional(CommandOutcome),
    at: IsoTimestamp,
  },
  { additionalProperties: false },
)
export type CommandResultBody = Static<typeof CommandResultBody>

export function signCommand(cmd: UnsignedCommand, collectorSecretKey: SecretKey): SignedCommand {
  return { ...cmd, sig: signValue({ domain: COMMAND_DOMAIN, ...cmd }, collectorSecretKey) }
}

/** Bytes → schema-valid command. Throws BK_ERR_WIRE_* ; the signature is still unchecked after this. */
export function decodeCommand(payload: Uint8Array | string): SignedCommand {
  const size = typeof payload === 'string' ? payload.length : payload.byteLength
  if (size > MAX_COMMAND_BYTES) {
    throw new BackstopError('BK_ERR_WIRE_TOO_LARGE', `command of ${size} bytes > ${MAX_COMMAND_BYTES}`)
  }
  let value: unknown
  try {
    const text = typeof payload === 'string' ? payload : new TextDecoder('utf-8', { fatal: true }).decode(payload)
    assertJsonDepth(text, 16)
    value = JSON.parse(text)
  } catch (e) {
    throw new BackstopError('BK_ERR_WIRE_JSON', `command: ${(e as Error).message}`)
  }
  if (!signedCheck.Check(value)) {
    const first = [...signedCheck.Errors(value)].slice(0, 2).map((e) => `${e.instancePath || '/'} ${e.message}`)
    throw new BackstopError('BK_ERR_WIRE_SCHEMA', `command: ${first.join('; ')}`)
  }
  return value as SignedCommand
}

export interface CommandCheck {
  readonly collectorPublicKey: string
  /** This agent's node id: a command for another node is refused even if correctly signed. */
  readonly node: string
  readonly now: Date
  /** Kinds this agent's config allows; anything else is refused. */
  readonly allow: readonly CommandKind[]
}

/**
 * Pure checks in order: signature (so nothing unauthenticated learns more), node binding, validity window,
 * allowlist. The nonce (replay) check needs the agent's persisted store and comes after this.
 */
export function checkCommand(cmd: SignedCommand, c: CommandCheck): void {
  const { sig, ...unsigned } = cmd
  if (!verifyValue({ domain: COMMAND_DOMAIN, ...unsigned }, sig, c.collectorPublicKey)) {
    throw new BackstopError(
      'BK_ERR_CMD_SIG',
      `command ${cmd.id}: signature does not verify; the sender is not the enrolled collector ` +
        '(re-enroll if the collector was reinstalled)',
    )
  }
  if (cmd.node !== c.node) {
    throw new BackstopError(
      'BK_ERR_WIRE_TOPIC',
      `command ${cmd.id} is addressed to node ${cmd.node}, this is ${c.node}`,
    )
  }
  const issued = Date.parse(cmd.issuedAt)
  const expires = Date.parse(cmd.expiresAt)
  const now = c.now.getTime()
  if (!(expires > issued) || expires - issued > MAX_COMMAND_LIFETIME_MS) {
    throw new BackstopError(
      'BK_ERR_CMD_EXPIRED',
      `command ${cmd.id}: validity window ${cmd.issuedAt} → ${cmd.expiresAt} is empty or longer than ` +
        `${MAX_COMMAND_LIFETIME_MS / 60000} min`,
    )
  }
  if (issued - now > COMMAND_CLOCK_SKEW_MS) {
    throw new BackstopError(
      'BK_ERR_CMD_EXPIRED',
      `command ${cmd.id} was issued at ${cmd.issuedAt}, in the future of this node's clock ` +
        `(${c.now.toISOString()}); check NTP on both ends`,
    )
  }
  if (now > expires) {
    throw new BackstopError(
      'BK_ERR_CMD_EXPIRED',
      `command ${cmd.id} expired at ${cmd.expiresAt} (now ${c.now.toISOString()})`,
    )
  }
  if (!c.allow.includes(cmd.kind)) {
    throw new BackstopError(
      'BK_ERR_CMD_NOT_ALLOWED',
      `command kind ${cmd.kind} is not in commands.allow of this agent's config (allowed: ` +
        `${c.allow.join(', ') || 'none'})`,
    )
  }
}
