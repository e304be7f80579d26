@testable import BGSyncReplication
import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Runs SQL through the `sqlite3` shell (a foreign writer, or a reader of raw bytes); returns
/// its output, trimmed.
func sqlite3(_ database: String, _ sql: String) throws -> String {
    let shell = FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") ? "/usr/bin/sqlite3" : "/usr/local/bin/sqlite3"
    let ended = try TestProcess.run(shell, ["-batch", "-bail", database], input: Array(sql.utf8))
    guard ended.status == 0 else {
        throw ReplicationError(.localStore, "sqlite3 exited \(ended.status): \(ended.stderr)")
    }
    return ended.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Issue 13, point 1: a document that breaks the rules — left by an older bgsync, written by a
/// foreign writer into bgsync's own tables, or sent by a server — is skipped and counted in
/// `doc_write_failures` with its id and reason; every other document is transferred, and the
/// run completes, as CouchDB's replicator does.
@Suite("poison documents are skipped, counted and named")
struct PoisonDocumentTests {
    static let deep = "{\"a\":" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}"

    /// A local store with 10 good documents and 3 whose stored bodies break the rules,
    /// written around the triggers (as a version 1 file or a foreign writer could).
    static func poisonedStore(_ path: String) throws -> DocumentStore {
        let store = try DocumentStore.open(at: path)
        for i in 0..<10 { try store.put("g\(i)", #"{"n":\#(i)}"#) }
        for id in ["bad-deep", "bad-latin1", "bad-control"] { try store.put(id, #"{"ok":true}"#) }
        func body(_ id: String, _ sql: String) -> String {
            "UPDATE revs SET body = \(sql) WHERE rev_id = (SELECT winner FROM docs WHERE id = '\(id)');"
        }
        _ = try sqlite3(path, [
            body("bad-deep", "'\(deep)'"),
            body("bad-latin1", "CAST(X'7B2261223A22E9227D' AS TEXT)"),  // {"a":"é"} in Latin-1
            body("bad-control", "'{\"a\":\"x' || char(10) || '\"}'"),
        ].joined(separator: "\n"))
        return store
    }

    static func expectPoisonSkipped(_ push: DirectionResult?, _ context: String) {
        #expect(push?.docsWritten == 10, "\(context)")
        #expect(push?.docWriteFailures == 3, "\(context)")
        let failures = push?.failures ?? []
        #expect(Set(failures.map(\.id)) == ["bad-deep", "bad-latin1", "bad-control"], "\(context): \(failures)")
        for failure in failures {
            #expect(failure.rev?.hasPrefix("1-") == true, "\(context): \(failure)")
            #expect(failure.reason.contains("not a valid document"), "\(context): \(failure.reason)")
        }
        #expect(failures.first { $0.id == "bad-deep" }?.reason.contains("nesting depth") == true, "\(context)")
        #expect(failures.first { $0.id == "bad-latin1" }?.reason.contains("UTF-8") == true, "\(context)")
    }

    @Test("a push from a local store with bad bodies: they are skipped and named, the rest reaches the server; the next run is quiet")
    func pushToServer() async throws {
        try await withServer { server, remote, dir in
            let local = dir + "/local.sqlite"
            _ = try Self.poisonedStore(local)
            let result = try await sync(local, server.url("db"), direction: .push)
            Self.expectPoisonSkipped(result.push, "HTTP push")
            #expect(try remote.read { try $0.info().documentCount } == 10)
            #expect(try remote.winner("bad-deep") == nil)
            let again = try await sync(local, server.url("db"), direction: .push)
            #expect(again.push?.docsWritten == 0)
            #expect(again.push?.docWriteFailures == 0)
        }
    }

    @Test("a push to a file: remote skips the same documents")
    func pushToFile() async throws {
        try await withTemporaryPath { dir in
            let local = dir + "/local.sqlite"
            _ = try Self.poisonedStore(local)
            let result = try await sync(local, "file:" + dir + "/backup.sqlite", direction: .push)
            Self.expectPoisonSkipped(result.push, "file push")
            let backup = try DocumentStore.open(at: dir + "/backup.sqlite", mode: .readOnly)
            #expect(try backup.read { try $0.info().documentCount } == 10)
        }
    }

    @Test("a server sending bad documents in _bulk_get: they are skipped and named, the rest of the batch is written")
    func pullFromServer() async throws {
        try await withServer { server, remote, dir in
            var revs: [String: String] = [:]
            for id in ["a", "b", "c", "d", "e"] { revs[id] = try remote.put(id, #"{"id":"\#(id)"}"#) }
            func doc(_ id: String, _ members: String) -> [UInt8] { doc(id, Array(members.utf8)) }
            func doc(_ id: String, _ members: [UInt8]) -> [UInt8] {
                let rev = revs[id] ?? "1-x"
                let hash = rev.split(separator: "-").last.map(String.init) ?? "x"
                return Array(#"{"id":"\#(id)","docs":[{"ok":{"_id":"\#(id)","_rev":"\#(rev)","_revisions":{"start":1,"ids":["\#(hash)"]},"#.utf8)
                    + members + Array("}}]}".utf8)
            }
            var body = Array(#"{"results":["#.utf8)
            body += doc("a", #""id":"a""#) + Array(",".utf8)
            body += doc("b", #""deep":"# + String(repeating: "[", count: 600) + String(repeating: "]", count: 600)) + Array(",".utf8)
            body += doc("c", Array(#""latin1":""#.utf8) + [0xE9] + Array(#"""#.utf8)) + Array(",".utf8)
            body += doc("d", #""lone":"\ud800""#) + Array(",".utf8)
            body += doc("e", #""id":"e""#)
            body += Array("]}".utf8)
            server.inject(.bytes(200, body: body, path: .exact("/db/_bulk_get")))
            let local = dir + "/local.sqlite"
            let result = try await sync(local, server.url("db"), direction: .pull)
            #expect(result.pull?.docsRead == 5)
            #expect(result.pull?.docsWritten == 2)
            #expect(result.pull?.docWriteFailures == 3)
            let failures = result.pull?.failures ?? []
            #expect(Set(failures.map(\.id)) == ["b", "c", "d"], "\(failures)")
            #expect(failures.allSatisfy { $0.reason.contains("the server sent a document that is not acceptable JSON") }, "\(failures)")
            let store = try DocumentStore.open(at: local, mode: .readOnly)
            #expect(try store.read { try $0.allDocuments() }.map(\.id) == ["a", "e"])
            #expect(try store.winner("a") == revs["a"])
        }
    }

    @Test("a document with a bad _revisions or _rev from a server is refused on its own by the local target")
    func badMetadataFromServer() async throws {
        try await withTemporaryPath { dir in
            let store = try DocumentStore.open(at: dir + "/l.sqlite")
            let peer = LocalPeer(store: store)
            let good = #"{"_id":"g","_rev":"1-a","_revisions":{"start":1,"ids":["a"]},"v":1}"#
            let badHistory = #"{"_id":"h","_rev":"2-b","_revisions":{"start":2,"ids":["c","a"]},"v":1}"#
            let noRev = #"{"_id":"i","v":1}"#
            let result = try await peer.write([FetchedRevision(id: "g", json: Array(good.utf8)),
                                               FetchedRevision(id: "h", json: Array(badHistory.utf8)),
                                               FetchedRevision(id: "i", json: Array(noRev.utf8))], checkpoint: nil)
            #expect(result.written == 1)
            #expect(result.failures.map(\.id) == ["h", "i"])
            #expect(result.failures.allSatisfy { $0.error == "bad_request" })
            #expect(try store.winner("g") == "1-a")
        }
    }
}
