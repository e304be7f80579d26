import Foundation
import GRDB

/// A bgsync database: one SQLite file holding documents with CouchDB semantics.
///
/// Open it with ``open(at:mode:)``; read with ``read(_:)`` and write with ``write(_:)``. Each
/// `write` closure is one SQLite transaction (`BEGIN IMMEDIATE`), so a replicator can store a
/// batch of revisions and its checkpoint atomically:
///
/// ```swift
/// let store = try DocumentStore.open(at: "/var/lib/app/notes.sqlite")
/// try store.write { tx in
///     _ = try tx.put(id: "n1", json: #"{"title":"hello"}"#)
/// }
/// ```
///
/// The file stays correct while other processes write to it through the `documents` view:
/// it uses WAL journaling and waits (busy timeout) rather than failing when the file is busy.
public final class DocumentStore: Sendable {
    /// How to open a store.
    public enum OpenMode: Sendable {
        /// Open an existing store or create a new one.
        case readWriteCreate
        /// Open an existing store for reading and writing; a missing file is an error.
        case readWrite
        /// Open an existing store for reading only; nothing is ever written to the file.
        case readOnly
    }

    /// The path of the SQLite file.
    public let path: String
    let queue: DatabaseQueue

    /// How long a writer waits for another process's lock before failing.
    public static let busyTimeout: TimeInterval = 15

    private init(path: String, queue: DatabaseQueue) {
        self.path = path
        self.queue = queue
    }

    /// Opens (and, with ``OpenMode/readWriteCreate``, creates) the store at `path`, upgrading its
    /// schema if it was written by an older bgsync.
    ///
    /// - Throws: ``StoreError`` with code ``StoreError/Code/notADatabase`` when the file is not
    ///   a bgsync database, is corrupt, or has a newer schema (nothing is written to it), and
    ///   ``StoreError/Code/io`` when it cannot be opened.
    /// - Parameter pageCacheKiB: SQLite's page cache for this connection (its `cache_size`);
    ///   SQLite's default (2 MiB) when nil. A server reading a large store hard may want more;
    ///   bgsync keeps the default so that its memory stays flat whatever the store's size.
    public static func open(at path: String, mode: OpenMode = .readWriteCreate, pageCacheKiB: Int? = nil) throws -> DocumentStore {
        let fileExists = FileManager.default.fileExists(atPath: path)
        if !fileExists && mode != .readWriteCreate {
            throw StoreError(.io, "\(path): no such database file")
        }
        var configuration = Configuration()
        configuration.readonly = mode == .readOnly
        configuration.busyMode = .timeout(busyTimeout)
        configuration.foreignKeysEnabled = false  // the schema keeps its own invariants; plain clients run without them too
        configuration.label = "bgsync-store"
        let readOnly = mode == .readOnly
        configuration.prepareDatabase { db in
            try SchemaMigrator.checkFormat(db, path: path)
            if let pageCacheKiB { try db.execute(sql: "PRAGMA cache_size = \(-max(pageCacheKiB, 1))") }
            if !readOnly {
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            } else if (1..<3).contains(try SQLiteFileStamp.read(db).userVersion) {
                try db.execute(sql: AttachmentChunks.legacyView)
            }
        }
        let queue: DatabaseQueue
        do {
            queue = try retryingWhileBusy {
                do {
                    let queue = try DatabaseQueue(path: path, configuration: configuration)
                    if !readOnly {
                        try queue.writeWithoutTransaction { db in try SchemaMigrator.migrate(db, path: path) }
                    }
                    return queue
                } catch let error as DatabaseError where readOnly && error.resultCode == .SQLITE_CANTOPEN && canOpenImmutable(path) {
                    // A WAL database in a directory this process cannot write (read-only media):
                    // SQLite cannot create the -shm file it reads through, so open the file as
                    // immutable. Only when no -wal file holds commits the main file lacks.
                    return try DatabaseQueue(path: immutableURI(path), configuration: configuration)
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.wrapping(error, path: path)
        }
        let store = DocumentStore(path: path, queue: queue)
        if readOnly {
            try store.read { tx in try SchemaMigrator.requireCurrent(tx.db, path: path) }
        }
        return store
    }

    /// Whether `path` may be read as an immutable file: it exists, and no non-empty `-wal` file
    /// beside it holds commits that reading the main file alone would miss.
    static func canOpenImmutable(_ path: String) -> Bool {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path + "-wal")
        return attributes == nil || (attributes?[.size] as? NSNumber)?.intValue == 0
    }

    /// `file:PATH?immutable=1`, the path percent-encoded as SQLite's URI filenames need.
    static func immutableURI(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        return "file:" + (absolute.addingPercentEncoding(withAllowedCharacters: allowed) ?? absolute) + "?immutable=1"
    }

    /// A second connection to the same file, for reading only: its reads run while this
    /// store's connection is inside a write transaction (WAL lets readers and one writer work
    /// at once), each seeing the last committed state. A replicator reads the next batch
    /// through it while it writes the current one.
    package func concurrentReader() throws -> DocumentStore {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.label = "bgsync-store-reader"
        do {
            let queue = try retryingWhileBusy { try DatabaseQueue(path: path, configuration: configuration) }
            return DocumentStore(path: path, queue: queue)
        } catch {
            throw StoreError.wrapping(error, path: path)
        }
    }

    /// Moves every committed page from the write-ahead log into the database file and empties
    /// the log (`PRAGMA wal_checkpoint(TRUNCATE)`), so that the file alone holds everything: a
    /// backup that copies only it, or a later read-only open, misses nothing. Does nothing on a
    /// read-only store. A reader in the middle of a transaction makes it partial; nothing is
    /// lost either way (SQLite checkpoints the rest later).
    public func checkpointLog() throws {
        guard !queue.configuration.readonly else { return }
        do {
            try queue.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        } catch {
            throw StoreError.wrapping(error, path: path)
        }
    }

    /// Runs `body` in a read transaction: it sees one consistent snapshot of the database.
    public func read<T>(_ body: (StoreReader) throws -> T) throws -> T {
        do {
            return try queue.read { db in try body(StoreReader(db: db, path: path)) }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.wrapping(error, path: path)
        }
    }

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE`): all of its changes are
    /// committed together, or none is if it throws.
    public func write<T>(_ body: (StoreWriter) throws -> T) throws -> T {
        do {
            return try queue.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(StoreWriter(db: db, path: path))
                    return .commit
                }
                guard let result else { throw StoreError(.io, "\(path): transaction produced no result") }
                return result
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.wrapping(error, path: path)
        }
    }
}

extension StoreError {
    /// Maps an SQLite failure to a store error that names the file.
    static func wrapping(_ error: any Error, path: String) -> StoreError {
        guard let error = error as? DatabaseError else {
            return StoreError(.io, "\(path): \(error)")
        }
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return StoreError(.notADatabase, "\(path): not a bgsync database (SQLite says: \(error.message ?? "file is not a database"))")
        case .SQLITE_FULL:
            return StoreError(.io, "\(path): disk full (SQLite: \(error.message ?? "database or disk is full"))")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return StoreError(.busy, "\(path): locked by another process for more than \(Int(DocumentStore.busyTimeout)) s (SQLite: \(error.message ?? "database is locked")); try again later")
        case .SQLITE_IOERR where [.SQLITE_IOERR_WRITE, .SQLITE_IOERR_TRUNCATE, .SQLITE_IOERR_FSYNC].contains(error.extendedResultCode):
            return StoreError(.io, "\(path): cannot write (SQLite: \(error.message ?? "disk I/O error"), extended code \(error.extendedResultCode.rawValue)); is the disk full, a file size limit reached (ulimit -f, LimitFSIZE=) or the disk failing?")
        case .SQLITE_READONLY:
            return StoreError(.io, "\(path): the database is read-only for this process (SQLite: \(error.message ?? "attempt to write a readonly database")); check the file's owner and mode, its immutable attribute (lsattr) and the mount")
        case .SQLITE_CONSTRAINT where (error.message ?? "").hasPrefix("bgsync:"):
            return StoreError(.invalidDocument, "\(path): \(error.message ?? "")")
        default:
            return StoreError(.io, "\(path): \(error.message ?? "SQLite error \(error.resultCode.rawValue)")")
        }
    }
}
