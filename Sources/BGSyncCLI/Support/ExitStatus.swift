import ArgumentParser
import BGSyncJobs
import BGSyncStore

/// Prints `bgsync: error: …` on standard error and returns the exit code to use; the codes
/// themselves come from `SysExit`, the one mapping from errors to sysexits.
func report(_ error: any Error) -> ExitCode {
    switch error {
    case let error as StoreError:
        let prefix = error.code == .notFound || error.code == .conflict ? "\(error.couchError): " : ""
        Console.error("\(prefix)\(error.message)")
    default:
        Console.error("\(error)")
    }
    return ExitCode(SysExit.code(for: error))
}
