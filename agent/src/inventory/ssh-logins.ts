import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { InventoryBody } from '@backstop/shared'
import { succeeded, type Exec } from '../exec/exec.ts'

/**
 * Which ssh keys may log in to this node, and which keys this node holds, by SHA-256 fingerprint. The collector
 * compares them across the fleet: a replica pulled by a NAS counts as immutable only while no key of the source
 * node is authorized on the NAS (docs/compliance.md). `ssh-keygen -l` reads authorized_keys lines with options and
 * skips comments and junk, and prints a private key's fingerprint from its public half.
 */
export interface SshKeyPaths {
  /** authorized_keys files: keys that may log in here. */
  readonly authorized: readonly string[]
  /** Key files this node holds (private keys, or their `.pub`): what it could log in elsewhere with. */
  readonly own: readonly string[]
}

export const keygenFingerprintArgv = (file: string): string[] => ['ssh-keygen', '-l', '-E', 'sha256', '-f', file]

/** `ssh-keygen -l -E sha256` output: `<bits> SHA256:<base64> <comment> (<TYPE>)` per key. */
export function parseKeygenFingerprints(stdout: string): string[] {
  return [...stdout.matchAll(/^\d+ (SHA256:[A-Za-z0-9+/]+={0,2}) /gm)].map((m) => m[1]!)
}

/** Every `identity:` (an ssh private key path) anywhere in the jobs' resolved config: keys this node logs in with. */
export function jobIdentities(configs: readonly unknown[]): string[] {
  const out: string[] = []
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach(walk)
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'identity' && typeof x === 'string' && x.startsWith('/')) {
          out.push(x)
        } else {
          walk(x)
        }
      }
    }
  }
  walk(configs)
  return [...new Set(out)]
}

/**
 * Where the inventory looks: config's `sshKeys:` lists when given, else root's and every home's `.ssh` (the
 * standard places of authorized_keys and of the keys a user holds) plus the jobs' identities.
 */
export function sshKeyPathsOf(
  configured: { readonly authorized?: readonly string[]; readonly own?: readonly string[] } | undefined,
  jobs: readonly unknown[],
): SshKeyPaths {
  const found = defaultSshKeyPaths(jobIdentities(jobs))
  return { authorized: configured?.authorized ?? found.authorized, own: configured?.own ?? found.own }
}

/** Root's and every home's `.ssh`: the standard places of authorized_keys and of the keys a user holds. */
export function defaultSshKeyPaths(identities: readonly string[], root = '/'): SshKeyPaths {
  const homes = [join(root, 'root'), ...subdirs(join(root, 'home'))]
  const dotSsh = homes.map((h) => join(h, '.ssh'))
  return {
    authorized: dotSsh.flatMap((d) => [join(d, 'authorized_keys'), join(d, 'authorized_keys2')]),
    own: [...dotSsh.flatMap((d) => files(d).filter((f) => f.endsWith('.pub'))), ...identities],
  }
}

export async function sshKeyFacts(exec: Exec, paths: SshKeyPaths): Promise<NonNullable<InventoryBody['sshKeys']>> {
  const fingerprints = async (list: readonly string[]): Promise<string[]> => {
    const out = new Set<string>()
    for (const file of new Set(list)) {
      if (!existsSync(file)) {
        continue
      }
      // A file without a key (empty, or not a key file) exits 255: it authorizes nothing.
      const r = await exec.run(keygenFingerprintArgv(file), { timeoutMs: 10_000 })
      if (succeeded(r)) {
        parseKeygenFingerprints(r.stdout).forEach((f) => out.add(f))
      }
    }
    return [...out].sort().slice(0, 500)
  }
  return { authorized: await fingerprints(paths.authorized), own: await fingerprints(paths.own) }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(dir, e.name))
  } catch {
    return []
  }
}

function files(dir: string): string[] {
  try {
    return readdirSync(dir).map((f) => join(dir, f))
  } catch {
    return []
  }
}
