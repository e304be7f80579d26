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
    /// EX_NOPERM: authentication or permission refused, or a credential readable by others.
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
            }
        default:
            return ioError
        }
    }
}
