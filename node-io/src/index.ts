export {
  durableTempTarget,
  fsyncDir,
  fsyncDirSync,
  writeFileDurable,
  writeFileDurableSync,
  type DurableFs,
  type DurableFsSync,
  type DurableWriteOptions,
} from './durable-write.ts'
export { lookupGroup, type FileGroup } from './file-group.ts'
