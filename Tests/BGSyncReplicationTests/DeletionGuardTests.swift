import BGSyncReplication
import BGSyncStore
import BGSyncTestSupport
import Foundation
import Logging
import Testing

/// Runs a replication with a mass-deletion limit (nil: none) and short retry delays.
private func guardedSync(_ database: String, _ remote: String, maxDelete: DeletionLimit?,
                         direction: ReplicatorConfiguration.Direction = .pullAndPush,
                         pushFilter: PushFilter? = nil) async throws -> SyncResult {
    var configuration = ReplicatorConfiguration(database: database, remote: try Endpoint(parsing: remote), direction: direction)
    configuration.http.initialRetryDelay = 0.01
    configuration.http.requestTimeout = 30
    configuration.maxDelete = maxDelete
    configuration.pushFilter = pushFilter
    return try await Replicator(configuration: configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })).runOnDedicatedThreads()
}

/// Live documents of a store, sorted.
private func liveIDs(_ store: DocumentStore) throws -> [String] {
    try store.read { try $0.allDocuments().map(\.id) }
}

/// Deletes the first `count` documents of `ids` in `store`.
private func deleteDocuments(_ store: DocumentStore, _ ids: [String]) throws {
    try store.write { tx in for id in ids { _ = try tx.delete(id: id) } }
}

@Suite("The mass-deletion guard (max_delete)")
struct DeletionGuardTests {
    @Test("limits parse as a percentage (0–100) or a whole number of documents", arguments: [
        ("50%", DeletionLimit.percent(50)), ("0%", .percent(0)), ("100 %", .percent(100)), ("12.5%", .percent(12.5)),
        ("200", .count(200)), ("0", .count(0)),
    ])
    func parses(text: String, expected: DeletionLimit) {
        #expect(DeletionLimit(parsing: text) == expected)
    }

    @Test("malformed limits are refused", arguments: ["", "%", "101%", "-1", "-5%", "1e3", "half", "5 0%", "0x10", "nan%"])
    func refusesMalformed(text: String) {
        #expect(DeletionLimit(parsing: text) == nil)
    }

    @Test("a limit allows up to and including its value; an empty remote allows everything")
    func allows() {
        #expect(DeletionLimit.percent(50).allows(5, of: 10))
        #expect(!DeletionLimit.percent(50).allows(6, of: 10))
        #expect(!DeletionLimit.percent(0).allows(1, of: 1000))
        #expect(DeletionLimit.percent(100).allows(10, of: 10))
        #expect(DeletionLimit.count(3).allows(3, of: 10))
        #expect(!DeletionLimit.count(3).allows(4, of: 1_000_000))
        #expect(DeletionLimit.count(0).allows(50, of: 0))
        #expect(DeletionLimit.percent(50).description == "50 %")
        #expect(DeletionLimit.count(1).description == "1 document")
    }

    @Test("a local remote: a push deleting 6 of 10 is refused after the pull, and nothing reaches the remote")
    func localPeerRefused() async throws {
        try await withTemporaryPath { dir in
            let hub = try DocumentStore.open(at: dir + "/hub.sqlite")
            for i in 0..<10 { try hub.put("d\(i)", #"{"n":\#(i)}"#) }
            _ = try await guardedSync(dir + "/l.sqlite", dir + "/hub.sqlite", maxDelete: .standard)
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            try deleteDocuments(local, (0..<6).map { "d\($0)" })
            try hub.put("new", "{}")
            let hubSeq = try hub.read { try $0.info().updateSeq }
            let error = try await #require(throws: ReplicationError.self) {
                _ = try await guardedSync(dir + "/l.sqlite", dir + "/hub.sqlite", maxDelete: .standard)
            }
            #expect(error.kind == .deletionRefused)
            #expect(error.message.contains("it would delete 6 of the remote's 11 documents (54 %), more than max_delete = 50 %"), "\(error.message)")
            #expect(error.message.contains("--allow-mass-deletion"))
            // The pull half completed; the remote was not written (no revision, no checkpoint).
            #expect(error.partialResult?.pull?.docsWritten == 1)
            #expect(try local.read { try $0.tree(of: "new") } != nil)
            #expect(try hub.read { try $0.info().updateSeq } == hubSeq)
            #expect(try liveIDs(hub).count == 11)

            let forced = try await guardedSync(dir + "/l.sqlite", dir + "/hub.sqlite", maxDelete: nil)
            #expect(forced.push?.docsWritten == 6)
            #expect(try liveIDs(hub) == liveIDs(local))
            #expect(try snapshot(hub) == snapshot(local))
        }
    }

    @Test("exactly the limit is allowed (5 of 10 at 50 %)")
    func exactlyTheLimit() async throws {
        try await withTemporaryPath { dir in
            let hub = try DocumentStore.open(at: dir + "/hub.sqlite")
            for i in 0..<10 { try hub.put("d\(i)", "{}") }
            _ = try await guardedSync(dir + "/l.sqlite", dir + "/hub.sqlite", maxDelete: .standard)
            try deleteDocuments(try DocumentStore.open(at: dir + "/l.sqlite"), (0..<5).map { "d\($0)" })
            let result = try await guardedSync(dir + "/l.sqlite", dir + "/hub.sqlite", maxDelete: .standard)
            #expect(result.push?.docsWritten == 5)
            #expect(try liveIDs(hub).count == 5)
        }
    }

    @Test("an HTTP remote: refused with no _bulk_docs and no push checkpoint; an absolute limit; --force pushes")
    func httpRefused() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<20 { try remote.put(String(format: "r%02d", i), #"{"n":\#(i)}"#) }
            _ = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .standard)
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            try deleteDocuments(local, (0..<4).map { String(format: "r%02d", $0) })
            let before = try snapshot(remote)
            let localCheckpoints = try remote.read { try $0.localDocumentIDs() }
            server.resetRequestLog()

            let error = try await #require(throws: ReplicationError.self) {
                _ = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .count(3))
            }
            #expect(error.kind == .deletionRefused)
            #expect(error.message.contains("it would delete 4 of the remote's 20 documents (20 %), more than max_delete = 3 documents"), "\(error.message)")
            let requests = server.requests()
            #expect(!requests.contains { $0.path.hasSuffix("/_bulk_docs") })
            #expect(!requests.contains { $0.method == "PUT" })
            #expect(requests.contains { $0.method == "POST" && $0.path.hasSuffix("/_all_docs") })
            #expect(try snapshot(remote) == before)
            #expect(try remote.read { try $0.localDocumentIDs() } == localCheckpoints)

            let allowed = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .count(4))
            #expect(allowed.push?.docsWritten == 4)
            #expect(try snapshot(remote) == snapshot(local))
        }
    }

    @Test("a run with a few deletions asks the server nothing more (no _all_docs); a no-op run stays at 4 requests")
    func cheapPath() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<20 { try remote.put("r\(i)", "{}") }
            _ = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .standard)
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            try deleteDocuments(local, ["r1", "r2"])
            server.resetRequestLog()
            let result = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .standard)
            #expect(result.push?.docsWritten == 2)
            #expect(!server.requests().contains { $0.path.hasSuffix("/_all_docs") })
            // The next pull reads back the pushed tombstones (and moves its checkpoint); after
            // that, a run with nothing to do makes at most 4 requests, the guard included.
            _ = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .standard)
            server.resetRequestLog()
            _ = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .standard)
            #expect(server.requestCount <= 4, "requests: \(server.requests().map { "\($0.method) \($0.path)" })")
        }
    }

    @Test("documents created and deleted locally without reaching the remote do not count")
    func neverPushed() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<10 { try remote.put("r\(i)", "{}") }
            _ = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .standard)
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            for i in 0..<40 { try local.put("tmp\(i)", "{}") }
            try deleteDocuments(local, (0..<40).map { "tmp\($0)" })
            try deleteDocuments(local, ["r0"])
            server.resetRequestLog()
            let result = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .standard)
            #expect(result.push?.docsWritten == 41)
            // The estimate (41 of 10) was confirmed with the server, which has only r0 live.
            #expect(server.requests().contains { $0.path.hasSuffix("/_all_docs") })
            #expect(try liveIDs(remote).count == 9)
            #expect(try snapshot(remote) == snapshot(local))
        }
    }

    @Test("an empty remote never trips the guard")
    func emptyRemote() async throws {
        try await withServer { server, remote, dir in
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            for i in 0..<10 { try local.put("l\(i)", "{}") }
            try deleteDocuments(local, (0..<10).map { "l\($0)" })
            let result = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .percent(0))
            #expect(result.push?.docsWritten == 10)
            #expect(try liveIDs(remote).isEmpty)
        }
    }

    @Test("a checkpoint the remote lost is no loophole: deletions since the start count again")
    func lostCheckpoint() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<10 { try remote.put("r\(i)", "{}") }
            _ = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .standard)
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            try deleteDocuments(local, (0..<8).map { "r\($0)" })
            _ = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: nil)
            // The server is restored from a backup: its documents are live again, its checkpoints gone.
            server.deleteDatabase("db")
            let restored = try server.createDatabase("db")
            for i in 0..<10 { try restored.put("r\(i)", "{}") }
            let error = try await #require(throws: ReplicationError.self) {
                _ = try await guardedSync(dir + "/l.sqlite", server.url("db"), maxDelete: .standard, direction: .push)
            }
            #expect(error.kind == .deletionRefused)
            #expect(error.partialResult == nil)
            #expect(try liveIDs(restored).count == 10)
        }
    }

    @Test("deletions outside a push filter's document ids do not count")
    func pushFilter() async throws {
        try await withTemporaryPath { dir in
            let hub = try DocumentStore.open(at: dir + "/hub.sqlite")
            for i in 0..<10 { try hub.put("d\(i)", "{}") }
            _ = try await guardedSync(dir + "/l.sqlite", dir + "/hub.sqlite", maxDelete: .standard)
            try deleteDocuments(try DocumentStore.open(at: dir + "/l.sqlite"), (0..<8).map { "d\($0)" })
            let result = try await guardedSync(dir + "/l.sqlite", dir + "/hub.sqlite", maxDelete: .standard,
                                               direction: .push, pushFilter: .documentIDs(["d0", "d1"]))
            #expect(result.push?.docsWritten == 2)
            #expect(try liveIDs(hub).count == 8)
        }
    }
}
