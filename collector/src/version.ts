import { versionLine } from '@backstop/shared'
import collectorPackage from '../package.json' with { type: 'json' }

// Replaced by esbuild's `define` in collector/scripts/build.mjs; undeclared (typeof 'undefined') when run from source.
declare const BACKSTOP_BUILD_COMMIT: string | undefined

/** The collector's version is its package version: one number to bump, printed by `--version`. */
export const COLLECTOR_VERSION: string = collectorPackage.version
export const COLLECTOR_COMMIT: string | undefined =
  typeof BACKSTOP_BUILD_COMMIT === 'string' ? BACKSTOP_BUILD_COMMIT : undefined
export const COLLECTOR_VERSION_LINE = versionLine('backstop-collector', COLLECTOR_VERSION, COLLECTOR_COMMIT)
