import ArgumentParser
import BGSyncReplication
import BGSyncStore

/// bgsync's exit codes (sysexits.h), the one place errors become process statuses.
enum ExitStatus {
    static let failure = ExitCode(1)        // not found, conflict
    static let usage = ExitCode(64)         // EX_USAGE
    static let dataError = ExitCode(65)     // EX_DATAERR
    static let noInput = ExitCode(66)       // EX_NOINPUT
    static let unavailable = ExitCode(69)   // EX_UNAVAILABLE
    static let ioError = ExitCode(74)       // EX_IOERR
    static let tempFail = ExitCode(75)      // EX_TEMPFAIL
    static let noPermission = ExitCode(77)  // EX_NOPERM
    static let config = ExitCode(78)        // EX_CONFIG

    /// The exit code for a store error.
    static func code(for error: StoreError) -> ExitCode {
        switch error.code {
        case .notFound, .conflict: return failure
        case .notADatabase, .io: return ioError
        default: return dataError
        }
    }
}

extension ExitStatus {
    /// The exit code for a replication failure.
    static func code(for error: ReplicationError) -> ExitCode {
        switch error.kind {
        case .configuration: return config
        case .unreachable, .databaseNotFound: return unavailable
        case .transient, .rejected, .interrupted: return tempFail
        case .malformedResponse: return dataError
        case .unauthorized: return noPermission
        case .localStore: return ioError
        }
    }
}

/// An error already reported to the user; carries the exit code.
struct ReportedFailure: Error {
    let code: ExitCode
}

/// Prints `bgsync: error: …` on standard error and returns the exit code to use.
func report(_ error: any Error) -> ExitCode {
    switch error {
    case let error as StoreError:
        let prefix = error.code == .notFound || error.code == .conflict ? "\(error.couchError): " : ""
        Console.error("\(prefix)\(error.message)")
        return ExitStatus.code(for: error)
    case let error as ReplicationError:
        Console.error(error.message)
        return ExitStatus.code(for: error)
    case let error as UsageError:
        Console.error(error.message)
        return ExitStatus.usage
    case let error as InputFileError:
        Console.error(error.message)
        return ExitStatus.noInput
    default:
        Console.error("\(error)")
        return ExitStatus.ioError
    }
}

/// A command-line mistake that argument parsing could not catch.
struct UsageError: Error {
    let message: String
}

/// A file named on the command line that does not exist or cannot be read.
struct InputFileError: Error {
    let message: String
}
