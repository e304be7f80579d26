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
    case let error as UsageError:
        Console.error(error.message)
        return ExitCode(SysExit.usage)
    case let error as InputFileError:
        Console.error(error.message)
        return ExitCode(SysExit.noInput)
    default:
        Console.error("\(error)")
    }
    return ExitCode(SysExit.code(for: error))
}

/// A command-line mistake that argument parsing could not catch.
struct UsageError: Error {
    let message: String
}

/// A file named on the command line that does not exist or cannot be read.
struct InputFileError: Error {
    let message: String
}
