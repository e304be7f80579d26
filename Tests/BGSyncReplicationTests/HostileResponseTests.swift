@testable import BGSyncReplication
import BGSyncStore
import BGSyncTestSupport
import Foundation
import Logging
import Testing

/// Responses from a broken or malicious server — wrong types, missing fields, huge numbers,
/// deep nesting, invalid UTF-8, bad revisions, endless bodies — fed to the HTTP peer's
/// decoding: never a crash, always a ``ReplicationError`` naming the request, and the next run
/// against an honest server converges.
@Suite("Hostile server responses")
struct HostileResponseTests {
    static let changes = #"{"results":[{"seq":"1-g1","id":"a","changes":[{"rev":"1-967a00dff5e02add41819138abb3284d"}]},{"seq":"2-g1","id":"b","changes":[{"rev":"2-7051cbe5c8faecd085a3fa619e6e6337"},{"rev":"2-aaa"}],"deleted":true}],"last_seq":"2-g1","pending":0}"#
    static let bulkGet = #"{"results":[{"id":"a","docs":[{"ok":{"_id":"a","_rev":"2-b","_revisions":{"start":2,"ids":["b","a"]},"v":[1,2,{"w":null}],"_attachments":{"f.txt":{"content_type":"text/plain","revpos":2,"digest":"md5-XrY7u+Ae7tCTyyK7j1rNww==","length":11,"data":"aGVsbG8gd29ybGQ="}}}},{"error":{"id":"a","rev":"3-c","error":"not_found","reason":"missing"}}]},{"id":"b","docs":[{"ok":{"_id":"b","_rev":"1-x","_deleted":true,"_revisions":{"start":1,"ids":["x"]}}}]}]}"#
    static let openRevs = #"[{"ok":{"_id":"a","_rev":"1-q","_revisions":{"start":1,"ids":["q"]},"n":1}},{"missing":"2-r"}]"#
    static let revsDiff = #"{"a":{"missing":["2-b","3-c"],"possible_ancestors":["1-a"]},"b":{"missing":["1-x"]}}"#
    static let database = #"{"db_name":"db","update_seq":"5-g1","sizes":{"file":1,"external":2,"active":3},"purge_seq":"0-g1","doc_del_count":0,"doc_count":5,"disk_format_version":8,"compact_running":false,"cluster":{"q":2,"n":1,"w":1,"r":1},"instance_start_time":"0"}"#
    static let checkpoint = #"{"_id":"_local/x","_rev":"0-3","session_id":"s1","source_last_seq":"5-g1","replication_id_version":1,"history":[{"session_id":"s1","recorded_seq":"5-g1","docs_written":5},{"session_id":"s0","recorded_seq":3}]}"#

    /// Accepts a result or a ReplicationError; records anything else.
    static func expectClear(_ context: String, _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch let error as ReplicationError {
            #expect(!error.message.isEmpty, "\(context)")
        } catch is MissingStubs {
            // The replicator's signal to resend attachment data; handled by Replicator.
        } catch {
            Issue.record("\(context): not a ReplicationError: \(type(of: error)) \(error)")
        }
    }

    @Test("mutated _changes, _bulk_get and open_revs bodies decode or fail with malformedResponse; decoded documents are stored or refused cleanly")
    func parsers() async throws {
        try await withTemporaryPath { dir in
            let store = try DocumentStore.open(at: dir + "/l.sqlite")
            let local = LocalPeer(store: store)
            let count = HostileInput.iterations(default: 3000)
            var decoded = 0
            for seed in 0..<UInt64(count) {
                var rng = SeededRandom(seed: seed)
                let context = "seed \(seed)"
                switch seed % 3 {
                case 0:
                    let body = HostileInput.mutateJSON(Array(Self.changes.utf8), &rng)
                    await Self.expectClear(context) {
                        let batch = try HTTPPeer.parseChanges(body, since: .zero, context: "GET _changes")
                        #expect(batch.rowsBeforeFilter >= batch.rows.count, "\(context)")
                        decoded += 1
                    }
                case 1:
                    let body = HostileInput.mutateJSON(Array(Self.bulkGet.utf8), &rng)
                    await Self.expectClear(context) {
                        let fetched = try HTTPPeer.parseBulkGet(body, context: "POST _bulk_get")
                        decoded += 1
                        _ = try await local.write(fetched, checkpoint: nil)
                    }
                default:
                    let body = HostileInput.mutateJSON(Array(Self.openRevs.utf8), &rng)
                    await Self.expectClear(context) {
                        let fetched = try HTTPPeer.parseOpenRevs(body, id: "a", context: "GET a?open_revs")
                        decoded += 1
                        _ = try await local.write(fetched, checkpoint: nil)
                    }
                }
            }
            let problems = try StoreInvariants.problems(in: store)
            #expect(problems.isEmpty, "\(problems)")
            print("hostile parsers: \(count) iterations, \(decoded) decoded")
        }
    }

    @Test("mutated GET /db, _local, _changes, _revs_diff and _bulk_get answers over HTTP give a ReplicationError or a result")
    func overHTTP() async throws {
        // Hundreds of requests with a timeout each: off the pool, where a parallel run would
        // hold them past it.
        try await onDedicatedThreads { try await overHTTPBody() }
    }

    private func overHTTPBody() async throws {
        try await withServer { server, remote, dir in
            try remote.put("a", #"{"n":1}"#)
            var options = HTTPOptions()
            options.maxRetries = 0
            options.requestTimeout = 60
            let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            let url = try URLComponentsLite(parsing: server.url("db"))
            let store = try DocumentStore.open(at: dir + "/l.sqlite")
            let local = LocalPeer(store: store)
            let peer = try HTTPPeer(url: url, options: options, logger: logger)
            do {
                _ = try await peer.open()
            } catch {
                await peer.shutdown()  // an HTTPClient must be shut down before it is released
                throw error
            }
            let count = HostileInput.iterations(default: 600)
            for seed in 0..<UInt64(count) {
                var rng = SeededRandom(seed: seed)
                let context = "seed \(seed)"
                func answer(_ seedBody: String, _ path: Fault.PathPattern) {
                    let body = String(decoding: HostileInput.mutateJSON(Array(seedBody.utf8), &rng), as: UTF8.self)
                    server.inject(.status(200, body: body, path: path))
                }
                switch seed % 5 {
                case 0:
                    answer(Self.database, .exact("/db"))
                    let fresh = try HTTPPeer(url: url, options: options, logger: logger)
                    await Self.expectClear(context) { _ = try await fresh.open() }
                    await fresh.shutdown()
                case 1:
                    answer(Self.checkpoint, .prefix("/db/_local/"))
                    await Self.expectClear(context) {
                        let checkpoint = try await peer.readCheckpoint(id: "x")
                        // Whatever it holds, the start point is computed without a crash.
                        _ = Checkpoint.startPoint(source: checkpoint, target: checkpoint)
                    }
                case 2:
                    answer(Self.changes, .exact("/db/_changes"))
                    await Self.expectClear(context) { _ = try await peer.changes(since: .zero, limit: 10, filter: nil) }
                case 3:
                    answer(Self.revsDiff, .exact("/db/_revs_diff"))
                    await Self.expectClear(context) { _ = try await peer.revsDiff([("a", [try RevisionID(parsing: "2-b")])]) }
                default:
                    answer(Self.bulkGet, .exact("/db/_bulk_get"))
                    await Self.expectClear(context) {
                        let fetched = try await peer.fetch([RevisionRequest(id: "a", revs: [try RevisionID(parsing: "2-b")], attsSince: [])])
                        _ = try await local.write(fetched, checkpoint: nil)
                    }
                }
                server.clearFaults()
            }
            await peer.shutdown()
            let problems = try StoreInvariants.problems(in: store)
            #expect(problems.isEmpty, "\(problems)")
            print("hostile responses over HTTP: \(count) iterations")
        }
    }

    @Test("after one hostile answer anywhere in a pull, the next honest run converges")
    func nextRunConverges() async throws {
        try await withServer { server, remote, dir in
            for i in 0..<12 { try remote.put("r\(i)", #"{"n":\#(i)}"#) }
            let endpoints: [(String, Fault.PathPattern)] = [
                (Self.database, .exact("/db")), (Self.checkpoint, .prefix("/db/_local/")), (Self.changes, .exact("/db/_changes")),
                (Self.revsDiff, .exact("/db/_revs_diff")), (Self.bulkGet, .exact("/db/_bulk_get")),
            ]
            let count = HostileInput.iterations(default: 40)
            var refusals = 0
            for seed in 0..<UInt64(count) {
                var rng = SeededRandom(seed: seed)
                let database = dir + "/l\(seed).sqlite"
                // Half the runs start from a partial pull, so checkpoints exist.
                if rng.chance(50) { _ = try await sync(database, server.url("db"), direction: .pull, batchSize: 5) }
                try remote.put("n\(seed)", #"{"seed":\#(seed)}"#)
                let (seedBody, path) = rng.pick(endpoints)
                let body = String(decoding: HostileInput.mutateJSON(Array(seedBody.utf8), &rng), as: UTF8.self)
                server.inject(.status(200, body: body, path: path, skip: Int.random(in: 0...1, using: &rng)))
                var refused = false
                do {
                    _ = try await sync(database, server.url("db"), direction: .pull, batchSize: 5, maxRetries: 0)
                } catch let error as ReplicationError {
                    #expect(!error.message.isEmpty)
                    refused = true
                } catch {
                    Issue.record("seed \(seed): not a ReplicationError: \(error)")
                }
                server.clearFaults()
                let local = try DocumentStore.open(at: database)
                let problems = try StoreInvariants.problems(in: local)
                #expect(problems.isEmpty, "\(problems)")
                // A refused answer left nothing behind that stops the next run. (An answer that
                // was accepted may have been a believable lie — a feed without some rows — that
                // no client can detect; those runs are only checked for a sound store.)
                if refused {
                    refusals += 1
                    _ = try await sync(database, server.url("db"), direction: .pull, batchSize: 5)
                    #expect(try snapshot(local) == snapshot(remote), "seed \(seed)")
                }
            }
            print("hostile answer then honest run: \(count) iterations, \(refusals) refused and then converged")
        }
    }

    // MARK: Bodies that do not end

    @Test("an endless _changes body is cut at the metadata cap with a clear error, not read to the end")
    func endlessBody() async throws {
        try await withServer { server, _, dir in
            server.inject(.endlessBody(path: .exact("/db/_changes"), times: .max))
            var configuration = ReplicatorConfiguration(database: dir + "/l.sqlite", remote: try Endpoint(parsing: server.url("db")), direction: .pull)
            configuration.http.maxRetries = 0
            configuration.http.maxMetadataResponseBytes = 1 << 20
            await #expect {
                _ = try await Replicator(configuration: configuration, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() })).runOnDedicatedThreads()
            } throws: { error in
                guard let error = error as? ReplicationError else { return false }
                return error.kind == .malformedResponse && error.message.contains("/_changes") && error.message.contains("larger than 1 MiB")
            }
        }
    }

    @Test("the default cap for metadata responses is 16 MB; document responses keep maxResponseBytes")
    func metadataCap() async throws {
        #expect(HTTPOptions().maxMetadataResponseBytes == 16 << 20)
        try await withServer { server, remote, dir in
            // A 2 MB document passes a 1 MB metadata cap: _bulk_get is a document response.
            try remote.put("big", "{\"s\":\"" + String(repeating: "x", count: 2 << 20) + "\"}")
            var configuration = ReplicatorConfiguration(database: dir + "/l.sqlite", remote: try Endpoint(parsing: server.url("db")), direction: .pull)
            configuration.http.maxMetadataResponseBytes = 1 << 20
            let result = try await Replicator(configuration: configuration, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() })).runOnDedicatedThreads()
            #expect(result.pull?.docsWritten == 1)
            // …and is refused above maxResponseBytes, by its Content-Length, before it is read.
            try remote.put("big2", "{\"s\":\"" + String(repeating: "y", count: 2 << 20) + "\"}")
            configuration.http.maxResponseBytes = 1 << 20
            configuration.http.maxRetries = 0
            await #expect {
                _ = try await Replicator(configuration: configuration, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() })).runOnDedicatedThreads()
            } throws: { error in
                guard let error = error as? ReplicationError else { return false }
                return error.kind == .malformedResponse && error.message.contains("_bulk_get") && error.message.contains("larger than 1 MiB")
            }
        }
    }

    @Test("a body that drips forever is stopped at the request timeout, even though bytes keep arriving")
    func drippingBody() async throws {
        try await withServer { server, _, dir in
            server.inject(.endlessBody(interval: 0.05, path: .exact("/db/_changes"), times: .max))
            var configuration = ReplicatorConfiguration(database: dir + "/l.sqlite", remote: try Endpoint(parsing: server.url("db")), direction: .pull)
            // Bytes arrive every 50 ms: only the whole-response deadline stops it, at every
            // attempt. Retries keep a loaded machine's slow answer to an earlier request from
            // ending the run first.
            configuration.http.maxRetries = 2
            configuration.http.initialRetryDelay = 0.01
            configuration.http.requestTimeout = 8
            await #expect {
                _ = try await Replicator(configuration: configuration, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() })).runOnDedicatedThreads()
            } throws: { error in
                guard let error = error as? ReplicationError else { return false }
                return error.kind == .unreachable && error.message.contains("/_changes") && error.message.contains("did not send the whole response in time")
            }
        }
    }

    @Test("a _changes feed that returns full batches without advancing is refused instead of looping")
    func changesFeedThatDoesNotAdvance() async throws {
        try await withServer { server, _, dir in
            let stuck = #"{"results":[{"seq":1,"id":"a","changes":[{"rev":"1-a"}]}],"last_seq":0}"#
            server.inject(.status(200, body: stuck, path: .exact("/db/_changes"), times: .max))
            server.inject(.status(200, body: #"{}"#, path: .exact("/db/_revs_diff"), times: .max))
            var configuration = ReplicatorConfiguration(database: dir + "/l.sqlite", remote: try Endpoint(parsing: server.url("db")), direction: .pull)
            configuration.batchSize = 1
            var replicator = Replicator(configuration: configuration, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
            // Without the check the loop would never end; stop it after 50 batches so that the
            // failure shows as `interrupted` instead of a hang.
            let batches = Counter()
            replicator.shouldStop = { batches.next() > 50 }
            await #expect {
                _ = try await replicator.runOnDedicatedThreads()
            } throws: { error in
                guard let error = error as? ReplicationError else { return false }
                return error.kind == .malformedResponse && error.message.contains("does not advance")
            }
        }
    }
}
