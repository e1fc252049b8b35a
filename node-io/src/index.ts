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
export {
  dataDirMode,
  dataFileGroup,
  dataFileMode,
  mkdirData,
  mkdirDataSync,
  openDataFile,
  openDataFileSync,
  setDataFileGroup,
} from './file-access.ts'
