// The git commit a build embeds for `--version` (esbuild `define` BACKSTOP_BUILD_COMMIT in agent/scripts/build-sea.mjs
// and collector/scripts/build.mjs). BACKSTOP_BUILD_COMMIT in the environment wins (a release pipeline building from a
// tarball sets it); otherwise `git describe` of the checkout, "-dirty" when the tree has uncommitted changes;
// undefined outside a git checkout, and the version line then shows the package version alone.
import { spawnSync } from 'node:child_process'

export function buildCommit(cwd) {
  const fromEnv = process.env.BACKSTOP_BUILD_COMMIT
  if (fromEnv) {
    return fromEnv
  }
  const r = spawnSync('git', ['describe', '--always', '--dirty', '--abbrev=12', '--exclude=*'], {
    cwd,
    encoding: 'utf8',
    timeout: 10_000,
  })
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined
}

/** esbuild `define` entries: a JSON string literal, or `undefined` so the source's typeof check falls through. */
export function commitDefine(cwd) {
  const commit = buildCommit(cwd)
  return { BACKSTOP_BUILD_COMMIT: commit === undefined ? 'undefined' : JSON.stringify(commit) }
}
