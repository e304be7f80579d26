import BGSyncStore

/// Everything one replication run needs: the two sides, the direction, filters, batch size
/// and how to reach and authenticate with the remote. A plain value: build it, change a field,
/// hand it to ``Replicator``.
public struct ReplicatorConfiguration: Sendable {
    /// Which way documents flow.
    public enum Direction: String, Sendable, CaseIterable {
        /// Remote → local only.
        case pull
        /// Local → remote only.
        case push
        /// Pull to completion, then push to completion.
        case pullAndPush = "pull-and-push"
    }

    /// The local store's file.
    public var database: String
    /// The remote: an `http(s)://host/db` URL or another local store.
    public var remote: Endpoint
    /// Default ``Direction/pullAndPush``.
    public var direction: Direction = .pullAndPush
    /// Changes read per batch (default 500, as one CouchDB replicator worker).
    public var batchSize: Int = 500
    /// Batches read from the source ahead of the one being written (default 3): each is a
    /// `_revs_diff` and a `_bulk_get` that may be in flight at the same time. At most
    /// `readAhead + 1` batches are held in memory.
    public var readAhead: Int = 3
    /// Batches written to a server target at the same time (default 4; fewer when batches are
    /// big, as for ``readAhead``; a local target writes one batch at a time, with its
    /// checkpoint in the batch's transaction). The target's checkpoint is written only once
    /// every batch before it is stored.
    public var writesInFlight: Int = 4
    /// Attachment data over ``FetchedRevision/inlineAttachmentLimit`` waits in files on its
    /// way; a batch spools at most about this much ahead of its write (and at least one
    /// document's), the rest of its documents' data just before each is written.
    package var spoolBytesPerBatch: Int = defaultSpoolBytesPerBatch
    /// 64 MiB.
    package static let defaultSpoolBytesPerBatch = 64 << 20
    /// Which remote documents a pull takes.
    public var pullFilter: PullFilter?
    /// Which local documents a push sends.
    public var pushFilter: PushFilter?
    /// How to reach the remote when it is an HTTP server.
    public var http: HTTPOptions = HTTPOptions()
    /// The mass-deletion guard: a push that would delete more of the remote's live documents
    /// than this does not start (``ReplicationError/Kind/deletionRefused``). Default
    /// ``DeletionLimit/standard`` (50 %); nil pushes whatever it deletes (`--force`).
    public var maxDelete: DeletionLimit? = .standard
    /// Whether a run may create a database that does not exist (CouchDB's replicator calls it
    /// `create_target`): a `file:` remote, or the local database of a push-only run. Off by
    /// default: a mistyped or unmounted path is an error (``ReplicationError/Kind/missingDatabase``),
    /// not a new empty database. A pull always creates a missing local database (a job's
    /// first run fills it); an HTTP remote is never created.
    public var createTarget = false
    /// Settles the local store's conflicts after the pull and before the push (see
    /// ``ConflictResolver``). Nil (`keep`, the default) keeps CouchDB's semantics: a
    /// deterministic winner, losing revisions kept as conflicts.
    public var conflictResolver: (any ConflictResolver)?

    /// Creates a configuration with the defaults above.
    public init(database: String, remote: Endpoint, direction: Direction = .pullAndPush) {
        self.database = database
        self.remote = remote
        self.direction = direction
    }
}

/// One side of a replication that is not the local store.
public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
    /// A CouchDB-compatible database URL (`https://host:port/db`), credentials not included.
    case http(URLComponentsLite)
    /// Another local store file.
    case file(String)

    /// Parses `http(s)://…/db`, `file:/path` or a plain path.
    /// - Parameter credentialsHint: where the password goes instead, appended to the refusal
    ///   of a URL that carries one (`--password-file FILE`, `auth.password_file`).
    /// - Throws: ``ReplicationError`` (configuration) for an unsupported scheme, a URL without
    ///   a database, or a URL with a password in it (refused: it would sit in argv, shell
    ///   history, process lists and configuration files; the password is not repeated).
    public init(parsing text: String, credentialsHint: String = "give the password by reference instead") throws {
        if text.hasPrefix("http://") || text.hasPrefix("https://") {
            let url = try URLComponentsLite(parsing: text)
            if url.password != nil {
                throw ReplicationError.configuration("\(URLComponentsLite.redact(text)): a password in the URL is refused (it would show in shell history, process lists and logs); \(credentialsHint)")
            }
            self = .http(url)
        } else if text.hasPrefix("file://") {
            self = .file(String(text.dropFirst("file://".count)))
        } else if text.hasPrefix("file:") {
            self = .file(String(text.dropFirst("file:".count)))
        } else if text.contains("://") {
            throw ReplicationError.configuration("\(URLComponentsLite.redact(text)): unsupported remote; expected http(s)://host/db, file:/path or a path")
        } else {
            self = .file(text)
        }
    }

    /// The endpoint with no secret in it.
    public var description: String {
        switch self {
        case .http(let url): return url.description
        case .file(let path): return "file:" + path
        }
    }
}

/// Pull-side filters (applied by the server).
public enum PullFilter: Sendable, Equatable {
    /// Only these document ids (`filter=_doc_ids`).
    case documentIDs([String])
    /// A Mango selector (`filter=_selector`), JSON object text.
    case selector(JSONValue)
    /// Sync Gateway channels (`filter=sync_gateway/bychannel`).
    case channels([String])
}

/// Push-side filters (applied locally).
public enum PushFilter: Sendable, Equatable {
    /// Only these document ids.
    case documentIDs([String])
    /// An SQL expression over the `documents` view's columns (`id`, `rev`, `deleted`, `body`),
    /// e.g. `json_extract(body, '$.type') = 'note'`. Deletions of documents are always pushed.
    case sqlWhere(String)
}

/// How to talk to an HTTP remote.
public struct HTTPOptions: Sendable {
    /// Extra headers sent with every request.
    public var headers: [(name: String, value: String)] = []
    /// Authentication.
    public var auth: Authentication = .none
    /// A PEM file of CA certificates to trust instead of the system's.
    public var caFile: String?
    /// A PEM client certificate and its private key, for TLS client authentication.
    public var clientCertificate: (certificateFile: String, keyFile: String)?
    /// Turns TLS certificate verification off. Never the default; warned about.
    public var insecure: Bool = false
    /// Seconds to wait for a connection. A refused connection fails at once (and is retried).
    public var connectTimeout: Double = 10
    /// Seconds one attempt of a request may take, from connecting to the last byte of the
    /// response.
    public var requestTimeout: Double = 120
    /// Seconds a response may go without sending anything (its head, or the next part of its
    /// body) before the attempt is given up as stalled.
    public var stallTimeout: Double = 30
    /// Retries of a failed idempotent request (connection error, timeout, 408, 5xx, 429).
    public var maxRetries: Int = 5
    /// Seconds after a request's first attempt within which a retry may start: a retry (or a
    /// `Retry-After` wait) that would begin later is not made. One request therefore ends
    /// within `maxRetryTime + requestTimeout` seconds whatever the server does.
    public var maxRetryTime: Double = 120
    /// The first retry delay in seconds; doubled for each retry, with jitter.
    public var initialRetryDelay: Double = 0.25
    /// The largest response body accepted, in bytes, for responses that carry documents
    /// (`_bulk_get`, `open_revs`): a single document may be this large.
    public var maxResponseBytes: Int = 512 * 1024 * 1024
    /// The largest body accepted for every other response (`GET /db`, `_changes`,
    /// `_revs_diff`, `_bulk_docs` results, checkpoints), in bytes. These carry ids and
    /// revisions only, a few MB at most even for a batch of heavily conflicted documents; the
    /// low cap keeps a broken or hostile server from filling memory with them.
    public var maxMetadataResponseBytes: Int = 16 * 1024 * 1024

    /// The defaults above.
    public init() {}
}

/// How bgsync authenticates with an HTTP remote. Secrets are values here; reading them from
/// files, environment or commands is the caller's job (see the jobs layer).
public enum Authentication: Sendable {
    /// No credentials.
    case none
    /// HTTP Basic on every request.
    case basic(user: String, password: String)
    /// CouchDB cookie session: `POST /_session`, renewed once on 401.
    case session(user: String, password: String)
    /// `Authorization: Bearer` (e.g. a JWT); the provider is asked again after a 401. It may run
    /// a program (a token command), so it is async and should honour task cancellation.
    case bearer(@Sendable () async throws -> String)
}
