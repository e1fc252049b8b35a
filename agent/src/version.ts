import { versionLine } from '@backstop/shared'
import agentPackage from '../package.json' with { type: 'json' }

// Replaced by esbuild's `define` in agent/scripts/build-sea.mjs; undeclared (typeof 'undefined') when run from source.
declare const BACKSTOP_BUILD_COMMIT: string | undefined

/** The agent's version is its package version: one number to bump, read by `--version` and the status topic. */
export const AGENT_VERSION: string = agentPackage.version
export const AGENT_COMMIT: string | undefined =
  typeof BACKSTOP_BUILD_COMMIT === 'string' ? BACKSTOP_BUILD_COMMIT : undefined
export const AGENT_VERSION_LINE = versionLine('backstop-agent', AGENT_VERSION, AGENT_COMMIT)
