import { posix } from 'node:path'
import type { GateDecision } from './zfs-rules.ts'

/**
 * What the forced-command gate lets a Backstop sender run with `btrfs` over ssh: `btrfs receive <dir>` into a
 * directory at or below the configured prefix, and the listing the sender needs to find the common parent by
 * received_uuid (`btrfs subvolume list` / `show` there). No delete, no property set (a replica must stay
 * read-only), no send, no snapshot: a compromised sender can add replicas, not remove or change them. Partial
 * receives are cleaned up by the gate itself on the receiving host (gate.ts), never on a sender's request.
 * Pure: argv in, decision out. Paths must be absolute and normal (no `..`, `.`, `//`, trailing `/`); the gate
 * resolves symlinks before it runs anything (a link below the prefix must not lead out of it).
 */
export interface BtrfsGateRules {
  /** Absolute directory; receive and listing only at or below it. */
  readonly prefix: string
}

/** Options of each allowed verb: letters only, no values (so no operand can hide behind an option). */
const verbs: Readonly<Record<string, { readonly flags: string; readonly operands: 1 }>> = {
  receive: { flags: 'eq', operands: 1 },
  'subvolume list': { flags: 'uqRrosap', operands: 1 },
  'subvolume show': { flags: '', operands: 1 },
}

/** The path is absolute, normal and at or below `prefix`; the reason otherwise. */
export function pathRefusal(path: string, prefix: string): string | null {
  if (!path.startsWith('/') || posix.normalize(path) !== path || (path.length > 1 && path.endsWith('/'))) {
    return `"${path}" is not a normal absolute path`
  }
  return path === prefix || path.startsWith(`${prefix}/`) ? null : `"${path}" is outside ${prefix}`
}

export function checkBtrfsCommand(argv: readonly string[], rules: BtrfsGateRules): GateDecision {
  const deny = (reason: string): GateDecision => ({ allow: false, reason: `${argv.join(' ')}: ${reason}` })
  if (argv[0] !== 'btrfs') {
    return deny('only btrfs')
  }
  const two = `${argv[1] ?? ''} ${argv[2] ?? ''}`
  const [verb, rest] = argv[1] === 'subvolume' ? [two.trim(), argv.slice(3)] : [argv[1] ?? '', argv.slice(2)]
  const rule = verbs[verb]
  if (rule === undefined) {
    return deny(`btrfs ${verb} is not allowed (only receive, subvolume list and subvolume show)`)
  }
  const operands: string[] = []
  for (const a of rest) {
    if (a.startsWith('-')) {
      if (operands.length > 0) {
        return deny(`option ${a} after an operand is not allowed`)
      }
      const bad = [...a.slice(1)].find((c) => !rule.flags.includes(c))
      if (a === '-' || a.startsWith('--') || bad !== undefined) {
        return deny(`option ${a} is not allowed`)
      }
      continue
    }
    operands.push(a)
  }
  if (operands.length !== rule.operands) {
    return deny('exactly one path is required')
  }
  const why = pathRefusal(operands[0]!, rules.prefix)
  return why === null ? { allow: true } : deny(why)
}

/** The path operand of an allowed btrfs command (the gate resolves it and checks again). */
export function btrfsPathOperand(argv: readonly string[]): string {
  return argv.at(-1)!
}

/**
 * Pure: the subvolumes a receive left half-done in `dir`, from `btrfs subvolume list -u -q -R` rows (paths relative
 * to the top level, mapped to absolute ones by the caller): writable (not in `readonly`), no received_uuid, a name
 * Backstop gives its snapshots (`<subvol>@<prefix>_<UTC>_<tags>`), directly in `dir`. An operator's own
 * subvolume never matches.
 */
export function partialReceives(
  rows: readonly { readonly path: string; readonly uuid: string; readonly receivedUuid: string | null }[],
  readonly: ReadonlySet<string>,
  dir: string,
): string[] {
  const ours = /^[A-Za-z0-9][A-Za-z0-9_.-]*@[A-Za-z0-9][A-Za-z0-9_-]*_\d{8}T\d{6}Z_[-a-z]+$/
  return rows
    .filter((r) => posix.dirname(r.path) === dir && ours.test(posix.basename(r.path)))
    .filter((r) => r.receivedUuid === null && !readonly.has(r.uuid))
    .map((r) => r.path)
}
