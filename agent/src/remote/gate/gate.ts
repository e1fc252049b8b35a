import { posix } from 'node:path'
import { describeFailure, succeeded, type Exec } from '../../exec/exec.ts'
import type { PassthroughExec } from '../../exec/passthrough.ts'
import { findmntArgv, listArgv } from '../../tools/btrfs.ts'
import { mountOf, parseFindmnt, parseSubvolumeList } from '../../tools/btrfs-parse.ts'
import { GATE_REFUSED_EXIT, GATE_REFUSED_PREFIX } from '../ssh.ts'
import { absolutePath } from '../../tools/btrfs-parse.ts'
import {
  btrfsPathOperand,
  checkBtrfsCommand,
  partialReceives,
  pathRefusal,
  type BtrfsGateRules,
} from './btrfs-rules.ts'
import { splitCommandLine } from './split-command.ts'
import { parseResumeTokenContents } from '../../tools/zfs-parse.ts'
import { checkZfsCommand, sendRefusal, type GateDecision, type ZfsGateRules } from './zfs-rules.ts'

/** The rules one authorized key carries (`remote-gate` --rules, --zfs-receive, --zfs-send, --btrfs-receive). */
export interface GateRules {
  readonly zfs?: ZfsGateRules
  readonly btrfs?: BtrfsGateRules
  /** Longest a permitted command may run (a full send of a large pool takes hours). */
  readonly timeoutMs: number
}

/** One logged decision (JSON line in the gate's log, if any). */
export interface GateLogEntry {
  readonly at: string
  readonly client: string
  readonly command: string
  readonly decision: 'allowed' | 'refused' | 'cleaned'
  readonly reason?: string
  readonly exitCode?: number
}

export interface GateDeps {
  /** Runs the permitted command on this process's stdin/stdout. */
  readonly passthrough: PassthroughExec
  /** For the gate's own reads and clean-ups (findmnt, subvolume list/delete), never for the peer's command. */
  readonly exec: Exec
  /** Resolves symlinks; null when the path does not exist. */
  readonly realpath: (path: string) => Promise<string | null>
  readonly mkdirp: (path: string) => Promise<void>
  readonly now: () => Date
  readonly log: (entry: GateLogEntry) => void
  readonly stderr: (text: string) => void
}

/** findmnt with exactly the columns Backstop parses: the sender maps subvolume paths to absolute ones with it. */
const FINDMNT = findmntArgv.join(' ')

function decide(argv: readonly string[], rules: GateRules): GateDecision {
  if (argv.join(' ') === FINDMNT && rules.btrfs !== undefined) {
    return { allow: true }
  }
  if (argv[0] === 'zfs' || argv[0] === 'zpool') {
    return rules.zfs === undefined
      ? { allow: false, reason: `${argv.join(' ')}: this key has no zfs rules` }
      : checkZfsCommand(argv, rules.zfs)
  }
  if (argv[0] === 'btrfs') {
    return rules.btrfs === undefined
      ? { allow: false, reason: `${argv.join(' ')}: this key has no btrfs rules` }
      : checkBtrfsCommand(argv, rules.btrfs)
  }
  return { allow: false, reason: `${argv.join(' ')}: only zfs, zpool and btrfs commands of a Backstop peer` }
}

/**
 * The forced command: checks `line` (SSH_ORIGINAL_COMMAND) against the rules, runs it with stdin/stdout passed
 * through, logs the decision, and returns the exit code for ssh to hand back. A refusal exits 126 with
 * `backstop-gate: refused: <why>` on stderr (the sender's ssh layer turns it into BK_ERR_REMOTE_GATE_REFUSED).
 */
export async function runGate(line: string | undefined, rules: GateRules, client: string, deps: GateDeps) {
  const log = (e: Omit<GateLogEntry, 'at' | 'client' | 'command'>): void =>
    deps.log({ at: deps.now().toISOString(), client, command: line ?? '', ...e })
  const refuse = (reason: string): number => {
    log({ decision: 'refused', reason })
    deps.stderr(`${GATE_REFUSED_PREFIX} ${reason}\n`)
    return GATE_REFUSED_EXIT
  }
  if (line === undefined) {
    return refuse('no command: this key only runs Backstop replication commands, not a login shell')
  }
  const split = splitCommandLine(line)
  if ('reason' in split) {
    return refuse(`${line}: ${split.reason}`)
  }
  let argv = split.argv
  const d = decide(argv, rules)
  if (!d.allow) {
    return refuse(d.reason)
  }
  if (d.resumeToken !== undefined && rules.zfs?.role === 'send') {
    const why = await resumeTokenRefusal(d.resumeToken, rules.zfs, deps.exec)
    if (why !== null) {
      return refuse(`zfs send -t <token>: ${why}`)
    }
  }
  const receiveDir = argv[0] === 'btrfs' && argv[1] === 'receive' ? btrfsPathOperand(argv) : null
  if (argv[0] === 'btrfs' && argv.join(' ') !== FINDMNT) {
    const resolved = await resolveInside(btrfsPathOperand(argv), rules.btrfs!, receiveDir !== null, deps)
    if ('reason' in resolved) {
      return refuse(`${line}: ${resolved.reason}`)
    }
    argv = [...argv.slice(0, -1), resolved.path]
  }
  if (receiveDir !== null) {
    await cleanPartials(argv.at(-1)!, deps, log)
  }
  const r = await deps.passthrough.run(argv, { timeoutMs: rules.timeoutMs })
  log({ decision: 'allowed', exitCode: r.exitCode })
  if (receiveDir !== null && (r.exitCode !== 0 || r.signal !== null)) {
    const removed = await cleanPartials(argv.at(-1)!, deps, log)
    if (removed.length > 0) {
      deps.stderr(
        `backstop-gate: btrfs receive cannot resume: removed the partial ${removed.join(', ')}; ` +
          'the sender sends it again from the start\n',
      )
    }
  }
  return r.exitCode
}

/**
 * Decodes a resume token the way zrepl does, with the host's own `zfs send -nv -t` (a dry run that prints the
 * token's nvlist), and refuses it unless it resumes a snapshot of a dataset this key may send. Null = allowed.
 */
async function resumeTokenRefusal(
  token: string,
  rules: Extract<ZfsGateRules, { role: 'send' }>,
  exec: Exec,
): Promise<string | null> {
  const r = await exec.run(['zfs', 'send', '-nv', '-t', token], { timeoutMs: 60_000, maxOutputBytes: 1024 * 1024 })
  const contents = succeeded(r) ? parseResumeTokenContents(r.stdout) : null
  if (contents === null) {
    return `the token could not be decoded here (${describeFailure(r).slice(0, 300)})`
  }
  const why = sendRefusal(contents.toname, rules)
  return why === null ? null : `it resumes ${contents.toname}: ${why}`
}

/** The real path of `path` (symlinks resolved) if it is still inside the prefix; a receive dir is created. */
async function resolveInside(
  path: string,
  rules: BtrfsGateRules,
  create: boolean,
  deps: GateDeps,
): Promise<{ path: string } | { reason: string }> {
  const prefix = (await deps.realpath(rules.prefix)) ?? rules.prefix
  if (create && (await deps.realpath(path)) === null) {
    await deps.mkdirp(path)
  }
  const real = await deps.realpath(path)
  if (real === null) {
    // Nothing there to lead anywhere: btrfs itself reports the missing path.
    return { path }
  }
  const why = pathRefusal(real, prefix)
  return why === null ? { path: real } : { reason: `${path} resolves to ${real}, outside ${prefix}` }
}

/**
 * Deletes what a cut receive left in `dir` (partialReceives: writable, no received_uuid, a Backstop snapshot
 * name). Run by the receiving host on its own, before and after each receive; never on a sender's request.
 */
async function cleanPartials(
  dir: string,
  deps: GateDeps,
  log: (e: Omit<GateLogEntry, 'at' | 'client' | 'command'>) => void,
): Promise<string[]> {
  const mounts = await deps.exec.run([...findmntArgv], { timeoutMs: 30_000 })
  const mount = succeeded(mounts) ? mountOf(parseFindmnt(mounts.stdout), dir) : null
  if (mount === null) {
    return []
  }
  const all = await deps.exec.run(listArgv(dir), { timeoutMs: 120_000, maxOutputBytes: 64 * 1024 * 1024 })
  const ro = await deps.exec.run(listArgv(dir, true), { timeoutMs: 120_000, maxOutputBytes: 64 * 1024 * 1024 })
  if (!succeeded(all) || !succeeded(ro)) {
    return []
  }
  const rows = parseSubvolumeList(all.stdout).flatMap((sv) => {
    const abs = absolutePath(mount, sv.path)
    return abs === null ? [] : [{ path: abs, uuid: sv.uuid, receivedUuid: sv.receivedUuid }]
  })
  const readonly = new Set(parseSubvolumeList(ro.stdout).map((s) => s.uuid))
  const removed: string[] = []
  for (const p of partialReceives(rows, readonly, posix.normalize(dir))) {
    const r = await deps.exec.run(['btrfs', 'subvolume', 'delete', '--commit-after', p], { timeoutMs: 600_000 })
    if (succeeded(r)) {
      removed.push(p)
      log({ decision: 'cleaned', reason: `removed the partial receive ${p}` })
    }
  }
  return removed
}
