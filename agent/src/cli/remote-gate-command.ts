import { appendFileSync } from 'node:fs'
import { mkdir, readFile, realpath } from 'node:fs/promises'
import type { Command } from 'commander'
import { runGate } from '../remote/gate/gate.ts'
import { parseGateRulesFile, resolveGateRules, type GateRulesInput } from '../remote/gate/gate-rules.ts'
import type { GateRules } from '../remote/gate/gate.ts'
import { exitCodes, type SetExit } from './common.ts'
import type { CliDeps } from './deps.ts'

/** Flags shared by `remote-gate` and `remote authorized-key` (which prints them into the forced command). */
export interface GateFlags {
  rules?: string
  zfsReceive?: string
  zfsSend?: string[]
  btrfsReceive?: string
  timeout?: string
  log?: string
}

export function addGateFlags(cmd: Command): Command {
  return cmd
    .option('--rules <file>', 'rules file (YAML: zfsReceive, zfsSend, btrfsReceive, timeoutSeconds)')
    .option('--zfs-receive <dataset>', 'allow zfs receive (and its listing) only below this dataset')
    .option('--zfs-send <datasets...>', 'allow zfs send (and its listing) only of these datasets')
    .option('--btrfs-receive <dir>', 'allow btrfs receive (and its listing) only at or below this directory')
    .option('--timeout <seconds>', 'longest a permitted command may run (default 86400)')
    .option('--log <file>', 'append each decision as a JSON line to this file')
}

/** The rules of the flags, or of the rules file when given (flags and a file are not mixed). */
export async function gateRulesOf(f: GateFlags): Promise<GateRules> {
  if (f.rules !== undefined) {
    const input = parseGateRulesFile(await readFile(f.rules, 'utf8'), f.rules)
    return resolveGateRules(input, f.rules)
  }
  const input: GateRulesInput = {
    ...(f.zfsReceive !== undefined ? { zfsReceive: f.zfsReceive } : {}),
    ...(f.zfsSend !== undefined ? { zfsSend: f.zfsSend } : {}),
    ...(f.btrfsReceive !== undefined ? { btrfsReceive: f.btrfsReceive } : {}),
    ...(f.timeout !== undefined ? { timeoutSeconds: Number(f.timeout) } : {}),
  }
  return resolveGateRules(input, 'remote-gate flags')
}

/**
 * `backstop-agent remote-gate …`: the forced command of a Backstop peer's key in authorized_keys
 * (`command="backstop-agent remote-gate --btrfs-receive /mnt/backup/replicas",restrict ssh-ed25519 …`). Reads
 * SSH_ORIGINAL_COMMAND, allows only what the rules allow, runs it on the ssh stream. docs/remote.md.
 */
export function registerRemoteGate(program: Command, deps: CliDeps, setExit: SetExit): void {
  addGateFlags(
    program
      .command('remote-gate')
      .description('ssh forced command for a Backstop peer: run only the replication commands the rules allow'),
  ).action(async (f: GateFlags) => {
    const rules = await gateRulesOf(f)
    const env = process.env
    const code = await runGate(env['SSH_ORIGINAL_COMMAND'], rules, env['SSH_CLIENT']?.split(' ')[0] ?? 'local', {
      passthrough: deps.createPassthroughExec(),
      exec: deps.createExec(deps.createLog('warn')),
      realpath: (p) => realpath(p).catch(() => null),
      mkdirp: async (p) => {
        await mkdir(p, { recursive: true })
      },
      now: () => deps.clock.now(),
      log: (entry) => {
        if (f.log !== undefined) {
          try {
            // 0600: the log names datasets, paths and the commands the source host sent.
            appendFileSync(f.log, `${JSON.stringify(entry)}\n`, { mode: 0o600 })
          } catch {
            // Best effort: an unwritable log must not break a replication the rules allow.
          }
        }
      },
      stderr: (s) => deps.io.err(s),
    })
    setExit(code === 0 ? exitCodes.ok : code)
  })
}
