// Worker threads do not inherit tsx's loader hooks when the process was started through tsx's register() API
// (bin/backstop-collector.mjs): register them here, then load the TypeScript worker. The build bundles
// inspect-worker.ts under this name (collector/scripts/build.mjs).
import { register } from 'tsx/esm/api'

register()
await import('./inspect-worker.ts')
