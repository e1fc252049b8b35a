import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileDurable } from '@backstop/node-io'
import type { Copy, StorageIdentity } from '@backstop/shared'
import type { StorageProber } from '../storage/probe.ts'
import { locatorOf, ruleFor, type JobStorageSpec, type StorageTargetRule } from './job-storage.ts'

/** In the job's own state directory (`<stateDir>/job-data/<job>`). */
export const REMOVABLE_MEDIA_FILE = 'removable-media.json'

/** Per target of the job (`<location kind>:<config path or pool>`): the copies last seen there while attached. */
type Memory = Record<string, { readonly copies: readonly Copy[] }>

const keyOf = (r: StorageTargetRule): string => `${r.kind}:${r.at}`

/**
 * A removable target (USB stick, rotated disk, exported pool) that is not attached at run time: the job cannot
 * list its copies, so without this the collector would keep the last report — `attached: true` — and count an
 * unplugged stick as online. The copies a target held the last time it was seen attached are remembered; when a
 * later run reports none there and a fresh probe shows the medium gone (not attached, or another filesystem or
 * no pool where it was), they are reported again as last seen, with `attached: false`.
 */
export async function reportDetachedMedia(
  copies: readonly Copy[],
  spec: JobStorageSpec,
  prober: Pick<StorageProber, 'probe'>,
  jobStateDir: string,
): Promise<{ copies: Copy[]; warnings: string[] }> {
  const file = join(jobStateDir, REMOVABLE_MEDIA_FILE)
  const warnings: string[] = []
  const memory = await load(file, warnings)
  let changed = false
  const out: Copy[] = []
  for (const rule of spec.targets) {
    const key = keyOf(rule)
    const here = copies.filter((c) => ruleFor(spec, c.location) === rule)
    const attached = here.filter((c) => c.storage?.attached === true)
    if (attached.length > 0) {
      // A copy made by this run is not made again by a later one: the remembered copy carries no run id.
      memory[key] = { copies: attached.map(({ runId: _made, ...c }) => c) }
      changed = true
      continue
    }
    const last = memory[key]
    const seen = last?.copies[0]?.storage
    if (here.length > 0 || last === undefined || seen === undefined) {
      continue
    }
    const now = await prober.probe(locatorOf({ kind: rule.kind, target: rule.at }), rule.hints).catch(() => null)
    if (now === null || !gone(seen, now.storage)) {
      continue
    }
    out.push(...last.copies.map((c) => ({ ...c, storage: { ...(c.storage ?? seen), attached: false } })))
    warnings.push(
      `${rule.at}: the removable medium${seen.fsUuid ? ` ${seen.fsUuid}` : ''} is not attached; its ` +
        `${last.copies.length} copies are reported as last seen, detached`,
    )
  }
  if (changed) {
    await mkdir(jobStateDir, { recursive: true })
    await writeFileDurable(file, JSON.stringify(memory))
  }
  return { copies: out, warnings }
}

/** The medium the copies were on is not here: the probe says so, or finds another filesystem (or none) there. */
function gone(seen: StorageIdentity, now: StorageIdentity): boolean {
  return now.attached === false || (seen.fsUuid !== undefined && now.fsUuid !== seen.fsUuid)
}

async function load(file: string, warnings: string[]): Promise<Memory> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return {}
  }
  try {
    return JSON.parse(text) as Memory
  } catch (e) {
    warnings.push(`${file} is unreadable (${(e as Error).message}): removable media are remembered from this run on`)
    return {}
  }
}
