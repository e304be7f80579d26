// The umbrella module for building a custom `bgsync` with factories written in Swift.
@_exported import BGSyncJobs
@_exported import BGSyncReplication
@_exported import BGSyncStore
@_exported import BGSyncCLI
