/**
 * The line both CLIs print for `--version`: program, package version, and the git commit when the build embedded
 * one (esbuild `define` in agent/scripts/build-sea.mjs and collector/scripts/build.mjs; absent when run from source).
 */
export function versionLine(program: string, version: string, commit?: string): string {
  return commit ? `${program} ${version} (commit ${commit})` : `${program} ${version}`
}
