import { succeeded, describeFailure, type Exec } from '../../exec/exec.ts'
import { classifyZfsError, destroyArgvs, destroyRecursiveArgv, type ZfsCapabilities } from '../../tools/zfs.ts'

export interface DestroyRequest {
  readonly dataset: string
  /** Short name (after `@`). */
  readonly name: string
  readonly rule: string
}

export interface DestroyOutcome {
  readonly destroyed: DestroyRequest[]
  /** `dataset is busy`: held or cloned since we listed it. Protected, not an error. */
  readonly protected: DestroyRequest[]
  /** Already gone when we got to it (someone else destroyed it): neither ours to report nor an error. */
  readonly gone: DestroyRequest[]
  readonly failed: { readonly req: DestroyRequest; readonly error: string }[]
}

/**
 * Destroys snapshots with as few processes as the CLI allows (sanoid runs one `zfs destroy` per snapshot):
 * 1. a name that every dataset below a recursive root is losing goes in one `zfs destroy -r root@name`;
 * 2. the rest go as `ds@a,b,c` batches where the CLI has them, else one call each.
 * A failed batch is retried one snapshot at a time so one busy snapshot does not keep the others.
 * `holders(root, name)` returns every dataset at or below root that has a snapshot `name` (from the listing).
 */
export async function destroySnapshots(
  exec: Exec,
  caps: ZfsCapabilities,
  requests: readonly DestroyRequest[],
  recursiveRoots: readonly string[],
  holders: (root: string, name: string) => readonly string[],
): Promise<DestroyOutcome> {
  const out: DestroyOutcome = { destroyed: [], protected: [], gone: [], failed: [] }
  const pending = new Map(requests.map((r) => [`${r.dataset}@${r.name}`, r]))
  for (const root of recursiveRoots) {
    const names = new Set([...pending.values()].filter((r) => r.dataset === root).map((r) => r.name))
    for (const name of names) {
      const all = holders(root, name)
      if (all.length < 2 || !all.every((ds) => pending.has(`${ds}@${name}`))) {
        continue
      }
      const group = all.map((ds) => pending.get(`${ds}@${name}`)!)
      const r = await exec.run(destroyRecursiveArgv(root, name), { timeoutMs: 600_000 })
      if (succeeded(r)) {
        out.destroyed.push(...group)
        for (const ds of all) {
          pending.delete(`${ds}@${name}`)
        }
      }
      // On failure the group stays pending and is retried below, one by one where needed.
    }
  }
  const perDataset = new Map<string, DestroyRequest[]>()
  for (const r of pending.values()) {
    perDataset.set(r.dataset, [...(perDataset.get(r.dataset) ?? []), r])
  }
  for (const [dataset, reqs] of perDataset) {
    const byName = new Map(reqs.map((r) => [r.name, r]))
    for (const argv of destroyArgvs(
      caps,
      dataset,
      reqs.map((r) => r.name),
    )) {
      const batch =
        (argv[argv.length - 1] ?? '')
          .split('@')[1]
          ?.split(',')
          .map((n) => byName.get(n)!) ?? []
      const r = await exec.run(argv, { timeoutMs: 600_000 })
      if (succeeded(r)) {
        out.destroyed.push(...batch)
      } else if (batch.length === 1) {
        classify(out, batch[0]!, r.stderr, describeFailure(r))
      } else {
        for (const req of batch) {
          const one = await exec.run(['zfs', 'destroy', `${req.dataset}@${req.name}`], { timeoutMs: 600_000 })
          if (succeeded(one)) {
            out.destroyed.push(req)
          } else {
            classify(out, req, one.stderr, describeFailure(one))
          }
        }
      }
    }
  }
  return out
}

function classify(out: DestroyOutcome, req: DestroyRequest, stderr: string, text: string): void {
  const kind = classifyZfsError(stderr)
  if (kind === 'busy') {
    out.protected.push(req)
  } else if (kind === 'missing') {
    out.gone.push(req)
  } else {
    out.failed.push({ req, error: text })
  }
}
