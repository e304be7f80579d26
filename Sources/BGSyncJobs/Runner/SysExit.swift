import BGSyncReplication
import BGSyncStore

/// bgsync's exit codes (sysexits.h), and the one mapping from errors to them.
public enum SysExit {
    /// Synced, or nothing to do (not due, backing off, constraints unmet, already running).
    public static let ok: Int32 = 0
    /// `db`: not found or update conflict.
    public static let failure: Int32 = 1
    /// EX_USAGE: a command-line mistake.
    public static let usage: Int32 = 64
    /// EX_DATAERR: data bgsync cannot accept (malformed server response or input), or data it
    /// will not push without confirmation (a mass deletion refused by `max_delete`).
    public static let dataError: Int32 = 65
    /// EX_NOINPUT: a file named on the command line does not exist, or a database a sync would
    /// need (a `file:` remote, the local database of a push) and is not to create.
    public static let noInput: Int32 = 66
    /// EX_UNAVAILABLE: server unreachable after retries, or the remote database is missing.
    public static let unavailable: Int32 = 69
    /// EX_IOERR: local I/O (disk full, not a database, state database unreadable).
    public static let ioError: Int32 = 74
    /// EX_TEMPFAIL: transient failure, interrupted, or a database locked by another process
    /// past the busy timeout; retry later.
    public static let tempFail: Int32 = 75
    /// EX_NOPERM: authentication or permission refused, a credential readable by others, or a
    /// file or directory this user may not read or write.
    public static let noPermission: Int32 = 77
    /// EX_CONFIG: job file or registry invalid.
    public static let config: Int32 = 78

    /// The exit code for any error bgsync reports.
    public static func code(for error: any Error) -> Int32 {
        switch error {
        case let error as ReplicationError:
            switch error.kind {
            case .configuration: return config
            case .unreachable, .databaseNotFound: return unavailable
            case .missingDatabase: return noInput
            case .transient, .rejected, .interrupted, .localStoreBusy: return tempFail
            case .malformedResponse, .deletionRefused: return dataError
            case .unauthorized: return noPermission
            case .localStore: return ioError
            }
        case let error as StoreError:
            switch error.code {
            case .notFound, .conflict: return failure
            case .busy: return tempFail
            case .notADatabase, .io: return ioError
            default: return dataError
            }
        case let error as JobError:
            switch error.kind {
            case .configuration: return config
            case .missingFile: return noInput
            case .permission: return noPermission
            }
        case let error as StateError:
            switch error.kind {
            case .invalidTag: return config
            case .busy: return tempFail
            case .notAStateDatabase, .io, .unknownRun: return ioError
            case .permission: return noPermission
            }
        case is UsageError:
            return usage
        case let error as InstallerError:
            switch error.kind {
            case .unsupportedInterval: return usage
            case .io: return ioError
            case .systemTool: return unavailable
            }
        default:
            return ioError
        }
    }

    /// The `reason_code` of a run that ended with `error` (`--json`, hooks): a word per kind of
    /// failure, stable for scripts — `configuration`, `missing_file`, `permission`,
    /// `unreachable`, `database_not_found`, `transient`, `rejected`, `malformed_response`,
    /// `invalid_data`, `unauthorized`, `local_io`, `busy`, `interrupted`, `deletion_refused`,
    /// `missing_database`, `usage`.
    public static func reasonCode(for error: any Error) -> String {
        switch error {
        case let error as ReplicationError:
            switch error.kind {
            case .configuration: return "configuration"
            case .unreachable: return "unreachable"
            case .databaseNotFound: return "database_not_found"
            case .transient: return "transient"
            case .rejected: return "rejected"
            case .interrupted: return "interrupted"
            case .localStoreBusy: return "busy"
            case .malformedResponse: return "malformed_response"
            case .deletionRefused: return "deletion_refused"
            case .unauthorized: return "unauthorized"
            case .localStore: return "local_io"
            case .missingDatabase: return "missing_database"
            }
        case let error as JobError:
            switch error.kind {
            case .configuration: return "configuration"
            case .missingFile: return "missing_file"
            case .permission: return "permission"
            }
        case let error as StateError where error.kind == .permission:
            return "permission"
        case is UsageError:
            return "usage"
        default:
            switch code(for: error) {
            case tempFail: return "busy"
            case dataError: return "invalid_data"
            case config: return "configuration"
            default: return "local_io"
            }
        }
    }
}

/// A command-line mistake that argument parsing could not catch. Exit 64.
public struct UsageError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and what would be accepted.
    public let message: String

    /// Creates an error.
    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}
