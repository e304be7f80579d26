import BGSyncStore
import Foundation

/// The server's shared state: configuration, databases, faults, the request log and sessions.
/// Request handlers and the test's ``FixtureServer`` both use it.
final class FixtureCore: Sendable {
    let configuration: FixtureServer.Configuration
    /// The server's `uuid` in `GET /`.
    let uuid: String
    /// The temporary directory holding the databases' files.
    let directory: String
    let sequences: SequenceCodec
    let state = Locked(State())

    struct HostedDatabase {
        var store: DocumentStore
        var file: String
        var instanceStartTime: String
        /// `purge_seq`, raised by ``FixtureServer/recordPurge(in:)``.
        let purgeSeq = Locked(0)
        /// `GET /db`'s counts for the store's last update_seq: counting is O(documents), while
        /// CouchDB answers from its B-tree reductions at once.
        let info = Locked<StoreInfo?>(nil)

        /// The store's info, counted again only after a write.
        func currentInfo() throws -> StoreInfo {
            try store.read { tx in
                let seq = try tx.updateSeq()
                if let cached = info.withLock({ $0 }), cached.updateSeq == seq { return cached }
                let fresh = try tx.info()
                info.withLock { $0 = fresh }
                return fresh
            }
        }
    }

    struct State {
        var databases: [String: HostedDatabase] = [:]
        var faults = FaultQueue()
        var log = RequestLog()
        /// AuthSession token → user name.
        var sessions: [String: String] = [:]
        var fileCounter = 0
    }

    init(configuration: FixtureServer.Configuration) throws {
        self.configuration = configuration
        uuid = MD5.hex((0..<16).map { _ in UInt8.random(in: 0...255) })
        sequences = SequenceCodec(style: configuration.sequences)
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("bgsync-fixture-\(UUID().uuidString)", isDirectory: true).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
    }

    // MARK: Databases

    /// CouchDB's rule for database names.
    static func isValidDatabaseName(_ name: String) -> Bool {
        let utf8 = Array(name.utf8)
        guard let first = utf8.first, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z") else { return false }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_$()+/-".utf8)
        return utf8.allSatisfy { allowed.contains($0) }
    }

    func createDatabase(_ name: String) throws(FixtureError) -> DocumentStore {
        guard Self.isValidDatabaseName(name) else {
            throw FixtureError(400, "illegal_database_name", "Name: '\(name)'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.")
        }
        return try state.withLock { state throws(FixtureError) in
            if state.databases[name] != nil {
                throw FixtureError(412, "file_exists", "The database could not be created, the file already exists.")
            }
            state.fileCounter += 1
            let file = (directory as NSString).appendingPathComponent("db\(state.fileCounter).sqlite")
            let store: DocumentStore
            do {
                // A server's cache: CouchDB keeps hot B-tree nodes in memory too.
                store = try DocumentStore.open(at: file, pageCacheKiB: 64 * 1024)
            } catch {
                throw FixtureError(500, "internal_server_error", "cannot create the store: \(error)")
            }
            let started = String(Int(Date().timeIntervalSince1970))
            state.databases[name] = HostedDatabase(store: store, file: file, instanceStartTime: started)
            return store
        }
    }

    func database(_ name: String) -> HostedDatabase? {
        state.withLock { $0.databases[name] }
    }

    /// Removes a database and its files; returns whether it existed.
    @discardableResult
    func deleteDatabase(_ name: String) -> Bool {
        guard let removed = state.withLock({ $0.databases.removeValue(forKey: name) }) else { return false }
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: removed.file + suffix)
        }
        return true
    }

    var databaseNames: [String] {
        state.withLock { $0.databases.keys.sorted() }
    }

    func removeDirectory() {
        state.withLock { $0.databases.removeAll() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
