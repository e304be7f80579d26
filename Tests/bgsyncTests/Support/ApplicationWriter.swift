import BGSyncTestSupport
import BGSyncStore
import Foundation
import GRDB

/// An application writing to a bgsync store through the SQL `documents` view with a connection
/// of its own, on a thread of its own (never the Swift concurrency pool), while `bgsync` syncs
/// the file: inserts and updates of its own documents (`app-N`), deletions and re-creations of
/// them, and updates of replicated documents (making local edits that race the sync).
///
/// Each write is one transaction that also reads back the revision it made; only committed
/// writes are logged. ``pause()`` stops writing at a transaction boundary until ``resume()``.
final class ApplicationWriter: @unchecked Sendable {
    /// One committed write.
    struct Write: Sendable {
        var id: String
        /// The revision the write made (the document's winner right after it).
        var rev: String
        /// The body written, nil for a deletion.
        var body: String?
    }

    private let queue: DatabaseQueue
    private let lock = NSLock()
    private var writes: [Write] = []
    private var paused = false
    private var idle = false
    private var stopped = false
    private var failure: String?
    private var rng: SeededRandom
    private let shared: [String]
    private var thread: Thread?

    /// Opens its own connection to the store at `path`; `shared` are ids of replicated
    /// documents it may update.
    init(path: String, shared: [String], seed: UInt64) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(60)
        configuration.foreignKeysEnabled = false  // as a plain SQLite client
        queue = try DatabaseQueue(path: path, configuration: configuration)
        self.shared = shared
        rng = SeededRandom(seed: seed)
    }

    func start() {
        let thread = Thread { [self] in loop() }
        thread.stackSize = 1 << 20
        self.thread = thread
        thread.start()
    }

    /// Every committed write so far, oldest first.
    var committed: [Write] { lock.withLock { writes } }

    /// The first error the writer met (none is expected: it waits for locks).
    var error: String? { lock.withLock { failure } }

    /// The ids written so far.
    var ids: Set<String> { Set(committed.map(\.id)) }

    /// Stops writing after the transaction in progress; returns once the writer is idle.
    func pause() async throws {
        lock.withLock { paused = true }
        while !lock.withLock({ idle || stopped }) { try await Task.sleep(nanoseconds: 2_000_000) }
    }

    func resume() { lock.withLock { paused = false } }

    /// Ends the thread after the transaction in progress.
    func stop() async throws {
        lock.withLock { stopped = true }
        try await pause()
    }

    private func loop() {
        var counter = 0
        while true {
            let (isPaused, isStopped) = lock.withLock { (paused, stopped) }
            if isStopped { break }
            if isPaused {
                lock.withLock { idle = true }
                Thread.sleep(forTimeInterval: 0.002)
                continue
            }
            lock.withLock { idle = false }
            do {
                if let write = try writeOne(&counter) { lock.withLock { writes.append(write) } }
            } catch {
                lock.withLock {
                    if failure == nil { failure = "\(error)" }
                    stopped = true
                }
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        lock.withLock { idle = true }
    }

    /// One write through the view; nil when the chosen document could not take it.
    private func writeOne(_ counter: inout Int) throws -> Write? {
        counter += 1
        let serial = counter
        let ownIDs = lock.withLock { Array(Set(writes.map(\.id)).filter { $0.hasPrefix("app-") }) }
        let choice = rng.next() % 10
        return try queue.writeWithoutTransaction { db -> Write? in
            var result: Write?
            try db.inTransaction(.immediate) {
                let body = #"{"writer":"app","serial":\#(serial)}"#
                switch choice {
                case 0...3, _ where ownIDs.isEmpty:
                    let id = String(format: "app-%05d", serial)
                    try db.execute(sql: "INSERT INTO documents (id, body) VALUES (?, ?)", arguments: [id, body])
                    result = try Self.readBack(db, id: id, body: body)
                case 4...6:
                    let id = ownIDs[Int(rng.next() % UInt64(ownIDs.count))]
                    if try Bool.fetchOne(db, sql: "SELECT deleted FROM documents WHERE id = ?", arguments: [id]) == true {
                        // Re-create a deleted document.
                        try db.execute(sql: "INSERT INTO documents (id, body) VALUES (?, ?)", arguments: [id, body])
                    } else {
                        try db.execute(sql: "UPDATE documents SET body = ? WHERE id = ?", arguments: [body, id])
                    }
                    result = try Self.readBack(db, id: id, body: body)
                case 7:
                    let id = ownIDs[Int(rng.next() % UInt64(ownIDs.count))]
                    guard try Bool.fetchOne(db, sql: "SELECT deleted FROM documents WHERE id = ?", arguments: [id]) == false else { return .commit }
                    try db.execute(sql: "DELETE FROM documents WHERE id = ?", arguments: [id])
                    result = try Self.readBack(db, id: id, body: nil)
                default:
                    guard !shared.isEmpty else { return .commit }
                    let id = shared[Int(rng.next() % UInt64(shared.count))]
                    guard try Bool.fetchOne(db, sql: "SELECT deleted FROM documents WHERE id = ?", arguments: [id]) == false else { return .commit }
                    try db.execute(sql: "UPDATE documents SET body = ? WHERE id = ?", arguments: [body, id])
                    result = try Self.readBack(db, id: id, body: body)
                }
                return .commit
            }
            return result
        }
    }

    private static func readBack(_ db: Database, id: String, body: String?) throws -> Write? {
        guard let rev = try String.fetchOne(db, sql: "SELECT rev FROM documents WHERE id = ?", arguments: [id]) else { return nil }
        return Write(id: id, rev: rev, body: body)
    }

    /// Problems with `store` holding the writes: every write's revision must be in its
    /// document's tree, and each `app-` document's winner must be its last write (deleted when
    /// that was a deletion).
    static func missing(_ writes: [Write], in store: DocumentStore) throws -> [String] {
        var last: [String: Write] = [:]
        for write in writes { last[write.id] = write }
        return try store.read { tx in
            var problems: [String] = []
            for write in writes {
                guard let tree = try tx.tree(of: write.id), tree.contains(try RevisionID(parsing: write.rev)) else {
                    problems.append("\(write.id): revision \(write.rev) written by the application is missing")
                    continue
                }
            }
            for (id, write) in last where id.hasPrefix("app-") {
                let winner = try tx.tree(of: id)?.winner
                if winner?.rev.description != write.rev || winner?.deleted != (write.body == nil) {
                    problems.append("\(id): winner \(winner.map { "\($0.rev)\($0.deleted ? " deleted" : "")" } ?? "none"), expected the last write \(write.rev)")
                } else if let body = write.body {
                    let json = try JSONValue.parse(try tx.document(id))
                    if json["serial"] != (try JSONValue.parse(body))["serial"] {
                        problems.append("\(id): body \(json), expected \(body)")
                    }
                }
            }
            return Array(problems.prefix(20))
        }
    }
}
