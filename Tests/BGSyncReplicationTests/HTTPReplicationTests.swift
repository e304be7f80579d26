import BGSyncReplication
import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Runs `body` with a fixture server holding an empty database `db`, stopped afterwards.
func withServer<T>(_ configuration: FixtureServer.Configuration = FixtureServer.Configuration(),
                   _ body: (FixtureServer, DocumentStore, String) async throws -> T) async throws -> T {
    try await withFixtureServer(configuration) { server in
        let remote = try server.createDatabase("db")
        return try await withTemporaryPath { dir in try await body(server, remote, dir) }
    }
}

@Suite("Replication with a CouchDB-protocol server")
struct HTTPReplicationTests {
    @Test("pull, push and both directions converge")
    func roundTrip() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<30 { try remote.put("r\(i)", #"{"n":\#(i),"f":1.0}"#) }
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            for i in 0..<12 { try local.put("l\(i)", #"{"n":\#(i)}"#) }
            let result = try await sync(dir + "/l.sqlite", server.url("db"), batchSize: 7)
            #expect(result.pull?.docsWritten == 30)
            #expect(result.push?.docsWritten == 12)
            #expect(try snapshot(local) == snapshot(remote))
            #expect(try local.read { try $0.document("r3") }.contains(#""f":1.0"#))
        }
    }

    @Test("a push into a database that was empty skips _revs_diff and sends everything; one that is not asks")
    func pushIntoEmptyDatabase() async throws {
        try await withServer { server, remote, dir in
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            for i in 0..<12 { try local.put("l\(i)", #"{"n":\#(i)}"#) }
            try local.write { _ = try $0.delete(id: "l0", rev: nil) }
            let first = try await sync(dir + "/l.sqlite", server.url("db"), direction: .push, batchSize: 5)
            #expect(first.push?.docsWritten == 12)
            #expect(first.push?.missingFound == 12)
            #expect(try snapshot(local) == snapshot(remote))
            #expect(!server.requests().contains { $0.path == "/db/_revs_diff" })
            // Not empty any more (doc_count or doc_del_count): the next push asks first.
            try local.put("l1", #"{"_rev":"\#(try #require(try local.winner("l1")))","n":"changed"}"#)
            let second = try await sync(dir + "/l.sqlite", server.url("db"), direction: .push, batchSize: 5)
            #expect(second.push?.docsWritten == 1)
            #expect(server.requests().contains { $0.path == "/db/_revs_diff" })
            #expect(try snapshot(local) == snapshot(remote))
        }
    }

    @Test("a target that refuses a stub (412 missing_stub) gets the batch again with the attachment data")
    func missingStubResent() async throws {
        try await withServer { server, remote, dir in
            // The server holds 1-aaaa without the attachment the local 1-aaaa has, so the local
            // 2- revision's stub refers to data the server lacks.
            try remote.write { _ = try $0.put(id: "d", json: #"{"_rev":"1-aaaa","_revisions":{"start":1,"ids":["aaaa"]}}"#, newEdits: false) }
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            let data = #"{"_rev":"1-aaaa","_revisions":{"start":1,"ids":["aaaa"]},"_attachments":{"a.txt":{"content_type":"text/plain","data":"aGVsbG8="}}}"#
            try local.write { _ = try $0.put(id: "d", json: data, newEdits: false) }
            try local.put("d", #"{"_rev":"1-aaaa","v":2,"_attachments":{"a.txt":{"stub":true}}}"#)
            try local.put("plain", #"{"v":1}"#)
            let result = try await sync(dir + "/l.sqlite", server.url("db"), direction: .push)
            #expect(result.push?.docsWritten == 2)
            #expect(result.push?.docWriteFailures == 0)
            let bulkDocs = server.requests().filter { $0.path == "/db/_bulk_docs" }.map(\.status)
            #expect(bulkDocs == [412, 201], "\(bulkDocs)")
            let stored = try remote.read { try $0.document("d", options: DocumentOptions(attachments: .data)) }
            #expect(stored.contains(#""data":"aGVsbG8=""#), "\(stored)")
            #expect(try snapshot(local) == snapshot(remote))
        }
    }

    @Test("conflicts made on both sides end with the same winner and conflicts on both")
    func conflicts() async throws {
        try await withServer { server, remote, dir in
            let rev = try remote.put("doc", #"{"v":0}"#)
            _ = try await sync(dir + "/l.sqlite", server.url("db"))
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            try remote.put("doc", #"{"_rev":"\#(rev)","v":"server"}"#)
            try local.put("doc", #"{"_rev":"\#(rev)","v":"local"}"#)
            try local.write { _ = try $0.delete(id: "doc", rev: nil) }
            _ = try await sync(dir + "/l.sqlite", server.url("db"))
            let options = DocumentOptions(revs: true, conflicts: true, deletedConflicts: true)
            #expect(try local.read { try $0.document("doc", options: options) } == remote.read { try $0.document("doc", options: options) })
            #expect(try snapshot(local) == snapshot(remote))
        }
    }

    @Test("a second run transfers nothing and makes at most 4 requests")
    func noOpRequests() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<10 { try remote.put("r\(i)", "{}") }
            _ = try await sync(dir + "/l.sqlite", server.url("db"))
            server.resetRequestLog()
            let again = try await sync(dir + "/l.sqlite", server.url("db"))
            #expect(again.pull?.docsWritten == 0 && again.push?.docsWritten == 0)
            #expect(server.requestCount <= 4, "requests: \(server.requests().map { "\($0.method) \($0.path)" })")
        }
    }

    @Test("attachments are pulled once and not re-sent")
    func attachments() async throws {
        try await withServer { server, remote, dir in
            let data = [UInt8](repeating: 0x41, count: 200_000)
            let base64 = Data(data).base64EncodedString()
            let rev = try remote.put("att", #"{"_attachments":{"a.bin":{"content_type":"application/octet-stream","data":"\#(base64)"}}}"#)
            let first = try await sync(dir + "/l.sqlite", server.url("db"), direction: .pull)
            #expect(first.httpBytesReceived > 200_000)
            try remote.put("att", #"{"_rev":"\#(rev)","x":1,"_attachments":{"a.bin":{"stub":true}}}"#)
            let second = try await sync(dir + "/l.sqlite", server.url("db"), direction: .pull)
            #expect(second.pull?.docsWritten == 1)
            #expect(second.httpBytesReceived < 20_000)
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            #expect(try snapshot(local) == snapshot(remote))
            let digest = "md5-" + Data(MD5.digest(data)).base64EncodedString()
            #expect(try local.read { try $0.attachmentData(digest: digest) } == data)
            // Pushing back sends no attachment data either: the server has it.
            let push = try await sync(dir + "/l.sqlite", server.url("db"), direction: .push)
            #expect(push.httpBytesSent < 20_000)
        }
    }

    @Test("a server without _bulk_get is read with open_revs")
    func openRevsFallback() async throws {
        var configuration = FixtureServer.Configuration()
        configuration.bulkGet = false
        try await withServer(configuration) { server, remote, dir in
            for i in 0..<5 { try remote.put("r\(i)", "{}") }
            let result = try await sync(dir + "/l.sqlite", server.url("db"), direction: .pull)
            #expect(result.pull?.docsWritten == 5)
            #expect(server.requests().contains { $0.query?.contains("open_revs") == true })
        }
    }

    @Test("transient faults are retried and the run converges", arguments: [
        Fault.status(500, path: .suffix("/_changes")),
        Fault.status(503, path: .suffix("/_revs_diff")),
        Fault.tooManyRequests(retryAfter: 0, path: .suffix("/_bulk_get")),
        Fault.resetConnection(path: .suffix("/_bulk_docs")),
        Fault.truncateBody(afterBytes: 20, path: .suffix("/_bulk_get")),
    ])
    func transientFaults(fault: Fault) async throws {
        try await withServer { server, remote, dir in
            for i in 0..<8 { try remote.put("r\(i)", "{}") }
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            try local.put("mine", "{}")
            server.inject(fault)
            _ = try await sync(dir + "/l.sqlite", server.url("db"))
            #expect(try snapshot(local) == snapshot(remote))
        }
    }

    @Test("a 413 splits the _bulk_docs batch")
    func splitsOn413() async throws {
        var configuration = FixtureServer.Configuration()
        configuration.maxRequestBodyBytes = 3000
        try await withServer(configuration) { server, remote, dir in
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            let padding = String(repeating: "x", count: 400)
            for i in 0..<20 { try local.put("l\(i)", #"{"p":"\#(padding)"}"#) }
            let result = try await sync(dir + "/l.sqlite", server.url("db"), direction: .push)
            #expect(result.push?.docsWritten == 20)
            #expect(try snapshot(local) == snapshot(remote))
        }
    }

    @Test("malformed JSON from the server is a clear error and nothing is half-written")
    func malformed() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<5 { try remote.put("r\(i)", "{}") }
            server.inject(.malformedJSON(path: .suffix("/_bulk_get"), times: 100))
            await #expect {
                _ = try await sync(dir + "/l.sqlite", server.url("db"), direction: .pull, maxRetries: 1)
            } throws: { error in
                (error as? ReplicationError)?.kind == .malformedResponse
            }
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            #expect(try local.read { try $0.info().documentCount } == 0)
        }
    }

    @Test("a missing database is reported by name")
    func missingDatabase() async throws {
        try await withServer { server, _, dir in
            await #expect {
                _ = try await sync(dir + "/l.sqlite", server.url("nope"))
            } throws: { error in
                guard let error = error as? ReplicationError else { return false }
                return error.kind == .databaseNotFound && error.message.contains("nope")
            }
        }
    }

    @Test("401 renews the cookie session once; wrong passwords are refused")
    func sessions() async throws {
        var configuration = FixtureServer.Configuration()
        configuration.users = ["alice": "secret"]
        try await withServer(configuration) { server, remote, dir in
            try remote.put("r", "{}")
            _ = try await sync(dir + "/l.sqlite", server.url("db"), auth: .session(user: "alice", password: "secret"))
            try remote.put("s", "{}")
            server.expireSessions()
            let second = try await sync(dir + "/l.sqlite", server.url("db"), auth: .session(user: "alice", password: "secret"))
            #expect(second.pull?.docsWritten == 1)
            await #expect {
                _ = try await sync(dir + "/l.sqlite", server.url("db"), auth: .basic(user: "alice", password: "wrong"))
            } throws: { ($0 as? ReplicationError)?.kind == .unauthorized }
        }
    }

    @Test("per-document refusals are counted, not fatal")
    func forbidden() async throws {
        var configuration = FixtureServer.Configuration()
        configuration.validate = { id, _ in id.hasPrefix("secret") ? "not allowed" : nil }
        try await withServer(configuration) { server, _, dir in
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            try local.put("ok", "{}")
            try local.put("secret1", "{}")
            let result = try await sync(dir + "/l.sqlite", server.url("db"), direction: .push)
            #expect(result.push?.docWriteFailures == 1)
            #expect(result.push?.docsWritten == 1)
            #expect(result.push?.failures.first?.error == "forbidden")
        }
    }

    @Test("an interrupted pull resumes without re-downloading finished batches")
    func resumeAfterFault() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<30 { try remote.put(String(format: "r%02d", i), "{}") }
            server.inject(.status(500, path: .suffix("/_bulk_get"), skip: 2, times: 100))
            await #expect(throws: ReplicationError.self) {
                _ = try await sync(dir + "/l.sqlite", server.url("db"), direction: .pull, batchSize: 10, maxRetries: 1)
            }
            server.clearFaults()
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            #expect(try local.read { try $0.info().documentCount } == 20)
            let rest = try await sync(dir + "/l.sqlite", server.url("db"), direction: .pull, batchSize: 10)
            #expect(rest.pull?.docsRead == 10)
            #expect(try snapshot(local) == snapshot(remote))
        }
    }

    @Test("a push checkpoints on the server once at the end, not per batch; an interrupted one at the stop")
    func pushCheckpoints() async throws {
        try await withServer { server, remote, dir in
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            for i in 0..<30 { try local.put(String(format: "p%02d", i), "{}") }
            let stops = Counter()
            await #expect(throws: ReplicationError.self) {
                _ = try await sync(dir + "/l.sqlite", server.url("db"), direction: .push, batchSize: 10,
                                   shouldStop: { stops.next() > 2 })
            }
            let checkpointWrites = { server.requests().filter { $0.method == "PUT" && $0.path.contains("/_local/") }.count }
            #expect(checkpointWrites() == 1)
            #expect(try remote.read { try $0.info().documentCount } == 20)
            server.resetRequestLog()
            let rest = try await sync(dir + "/l.sqlite", server.url("db"), direction: .push, batchSize: 10)
            #expect(rest.push?.changesRead == 10)
            #expect(rest.push?.docsWritten == 10)
            #expect(server.requests().filter { $0.path.hasSuffix("/_bulk_docs") }.count == 1)
            #expect(checkpointWrites() == 1)
            #expect(try snapshot(local) == snapshot(remote))
        }
    }

    @Test("403 stops the run with a permission error naming the request")
    func forbiddenDatabase() async throws {
        try await withServer { server, remote, dir in
            try remote.put("r", "{}")
            server.inject(.status(403, body: #"{"error":"forbidden","reason":"You are not allowed to access this db."}"#,
                                  path: .suffix("/_changes"), times: 100))
            await #expect {
                _ = try await sync(dir + "/l.sqlite", server.url("db"), direction: .pull)
            } throws: { error in
                guard let error = error as? ReplicationError else { return false }
                return error.kind == .unauthorized && error.message.contains("_changes") && error.message.contains("not allowed")
            }
        }
    }

    @Test("a response slower than the request timeout is retried and the run converges")
    func slowResponse() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<3 { try remote.put("r\(i)", "{}") }
            // Margins for a loaded machine: the in-process server must answer the other
            // requests (and the retry) within the timeout while the test suite runs around it.
            server.inject(.delay(seconds: 8, path: .suffix("/_revs_diff")))
            var configuration = ReplicatorConfiguration(database: dir + "/l.sqlite", remote: try Endpoint(parsing: server.url("db")), direction: .pull)
            configuration.http.requestTimeout = 4
            configuration.http.initialRetryDelay = 0.01
            let result = try await Replicator(configuration: configuration).runOnDedicatedThreads()
            #expect(result.pull?.docsWritten == 3)
            let local = try DocumentStore.open(at: dir + "/l.sqlite")
            #expect(try snapshot(local) == snapshot(remote))
        }
    }
}

