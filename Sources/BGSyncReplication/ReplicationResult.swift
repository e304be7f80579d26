/// What one direction of a run did, with CouchDB's counter names in JSON.
public struct DirectionResult: Sendable, Equatable {
    /// ``ReplicatorConfiguration/Direction/pull`` or ``ReplicatorConfiguration/Direction/push``.
    public var direction: ReplicatorConfiguration.Direction
    /// Changes rows read from the source.
    public var changesRead = 0
    /// Revisions checked against the target (`missing_checked`).
    public var missingChecked = 0
    /// Revisions the target lacked (`missing_found`).
    public var missingFound = 0
    /// Revisions fetched from the source (`docs_read`).
    public var docsRead = 0
    /// Revisions stored by the target (`docs_written`).
    public var docsWritten = 0
    /// Revisions the target refused (`doc_write_failures`).
    public var docWriteFailures = 0
    /// Documents that gained a conflict on the target (counted for local targets only).
    public var conflictsCreated = 0
    /// Where this run started reading the source's feed.
    public var startSeq = OpaqueSequence.zero
    /// Where it stopped.
    public var lastSeq = OpaqueSequence.zero
    /// The first refused revisions, for the report.
    public var failures: [WriteFailure] = []

    /// A fresh result for `direction`.
    public init(direction: ReplicatorConfiguration.Direction) {
        self.direction = direction
    }
}

/// Live counters of a running replication, delivered to the progress callback after each
/// step of a batch.
public struct ReplicationProgress: Sendable, Equatable {
    /// ``ReplicatorConfiguration/Direction/pull`` or ``ReplicatorConfiguration/Direction/push``.
    public var direction: ReplicatorConfiguration.Direction
    /// The counters so far.
    public var counters: DirectionResult
    /// Body bytes received and sent over HTTP so far.
    public var bytesReceived: Int
    /// Body bytes sent.
    public var bytesSent: Int
}

/// The outcome of ``Replicator/run()``: one result per direction that ran.
public struct SyncResult: Sendable {
    /// The pull, if it ran.
    public var pull: DirectionResult?
    /// The push, if it ran.
    public var push: DirectionResult?
    /// HTTP requests made in the whole run.
    public var httpRequests: Int
    /// HTTP body bytes received in the whole run.
    public var httpBytesReceived: Int = 0
    /// HTTP body bytes sent in the whole run.
    public var httpBytesSent: Int = 0
    /// What the conflict resolver did (all zero without one).
    public var conflicts = ConflictCounts()
}
