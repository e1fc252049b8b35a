import { posix } from 'node:path'
import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'
import { parse } from 'yaml'
import { BackstopError } from '@backstop/shared'
import type { GateRules } from './gate.ts'

/**
 * The rules of one authorized key, from a rules file (YAML) or from flags on the forced command line. One key
 * carries one zfs role (receive or send, never both: a push target must not be able to send, a pull source must
 * not be able to receive) and optionally a btrfs receive prefix.
 */
export const GateRulesFile = Type.Object(
  {
    /** Push target: `zfs receive` only below this dataset. */
    zfsReceive: Type.Optional(Type.String({ minLength: 1 })),
    /** Pull source: `zfs send` only of these datasets and their descendants. */
    zfsSend: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
    /** Btrfs push target: `btrfs receive` only at or below this absolute directory. */
    btrfsReceive: Type.Optional(Type.String({ minLength: 2, pattern: '^/' })),
    /** Longest a permitted command may run, in seconds (default 24 h). */
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
)
export type GateRulesInput = Static<typeof GateRulesFile>

const DATASET = /^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-]+)*$/

export function parseGateRulesFile(text: string, file: string): GateRulesInput {
  let raw: unknown
  try {
    raw = parse(text)
  } catch (e) {
    throw new BackstopError('BK_ERR_CONFIG_INVALID', `${file}: not YAML: ${(e as Error).message.split('\n')[0]}`)
  }
  if (!Value.Check(GateRulesFile, raw)) {
    const first = [...Value.Errors(GateRulesFile, raw)][0]
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `${file}: ${first?.instancePath || '/'} ${first?.message ?? 'invalid'}; expected zfsReceive:, zfsSend: [..], ` +
        'btrfsReceive: /dir, timeoutSeconds:',
    )
  }
  return raw
}

/** Validates and combines; `where` names the file or `command line` in messages. */
export function resolveGateRules(input: GateRulesInput, where: string): GateRules {
  const bad = (msg: string): never => {
    throw new BackstopError('BK_ERR_CONFIG_INVALID', `${where}: ${msg}`)
  }
  if (input.zfsReceive !== undefined && input.zfsSend !== undefined) {
    bad('a key gets zfs receive or zfs send, never both: give the push target and the pull source their own key')
  }
  for (const d of [input.zfsReceive, ...(input.zfsSend ?? [])].filter((x) => x !== undefined)) {
    if (!DATASET.test(d)) {
      bad(`"${d}" is not a ZFS dataset name (e.g. tank/replicas)`)
    }
  }
  const dir = input.btrfsReceive
  if (dir !== undefined && (dir === '/' || posix.normalize(dir) !== dir || dir.endsWith('/'))) {
    bad(`btrfs receive prefix "${dir}" must be a normal absolute directory other than / (e.g. /mnt/backup/replicas)`)
  }
  if (input.zfsReceive === undefined && input.zfsSend === undefined && dir === undefined) {
    bad('no rules: give --zfs-receive <dataset>, --zfs-send <dataset>, --btrfs-receive <dir> or --rules <file>')
  }
  return {
    ...(input.zfsReceive !== undefined ? { zfs: { role: 'receive' as const, prefix: input.zfsReceive } } : {}),
    ...(input.zfsSend !== undefined ? { zfs: { role: 'send' as const, datasets: input.zfsSend } } : {}),
    ...(dir !== undefined ? { btrfs: { prefix: dir } } : {}),
    timeoutMs: (input.timeoutSeconds ?? 24 * 3600) * 1000,
  }
}
