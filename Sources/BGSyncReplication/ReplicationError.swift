import BGSyncStore

/// Why a replication stopped. Each kind maps to one exit code in the `bgsync` executable.
public struct ReplicationError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: String, Sendable {
        /// The configuration cannot work (bad URL, bad filter). Exit 78.
        case configuration
        /// The server could not be reached after retries. Exit 69.
        case unreachable
        /// The server kept failing (5xx, 429) after retries. Exit 75.
        case transient
        /// The server sent data bgsync cannot accept. Exit 65.
        case malformedResponse
        /// 401 after one renewal, 403, or a server whose TLS certificate is not trusted. Exit 77.
        case unauthorized
        /// The remote database does not exist. Exit 69.
        case databaseNotFound
        /// A database file the run would need does not exist and was not to be created: a
        /// `file:` remote without `create_target`, or the local database of a push-only run.
        /// Exit 66.
        case missingDatabase
        /// The server refused a request in a way retrying cannot fix. Exit 75.
        case rejected
        /// The local store failed (disk full, not a database). Exit 74.
        case localStore
        /// A local store stayed locked by another process (the application) for longer than
        /// its busy timeout. Exit 75.
        case localStoreBusy
        /// The run was asked to stop (deadline or signal) and stopped at a batch boundary. Exit 75.
        case interrupted
        /// The push would delete more of the remote's documents than
        /// ``ReplicatorConfiguration/maxDelete`` allows, so it did not start (the pull did
        /// complete). Not transient: refused again until a human acts (`--force`). Exit 65.
        case deletionRefused
    }

    /// The kind of failure.
    public let kind: Kind
    /// A sentence naming the URL (without credentials), file or document at fault.
    public let message: String
    /// What the run completed before it stopped, when a direction finished: the pull of a run
    /// whose push failed or was refused.
    public var partialResult: SyncResult?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    static func configuration(_ message: String) -> ReplicationError { ReplicationError(.configuration, message) }

    /// A failure of a local store: ``Kind/localStoreBusy`` when it was locked, else ``Kind/localStore``.
    static func localStore(_ error: StoreError) -> ReplicationError {
        ReplicationError(error.code == .busy ? .localStoreBusy : .localStore, error.message)
    }

    public var description: String { message }
}
