@testable import BGSyncReplication
import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Attachments larger than ``FetchedRevision/inlineAttachmentLimit`` travel through files and
/// requests of their own (a `GET` per attachment pulling, a `multipart/related` `PUT` pushing);
/// small ones stay inline; the bytes arrive unchanged either way.
@Suite("Large attachments in replication")
struct LargeAttachmentReplicationTests {
    static let limit = FetchedRevision.inlineAttachmentLimit

    /// `count` bytes cycling through every byte value, shifted by `seed`.
    static func data(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 13) &+ seed }
    }

    static func body(_ attachments: [(name: String, bytes: [UInt8])], members: String = #""kind":"a""#) -> String {
        let entries = attachments.map { #""\#($0.name)":{"content_type":"application/octet-stream","data":"\#(Data($0.bytes).base64EncodedString())"}"# }
        return "{\(members),\"_attachments\":{\(entries.joined(separator: ","))}}"
    }

    /// The spool files (`.bgsync-spool-…`) in `directory`.
    static func spoolFiles(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".bgsync-spool-") }
    }

    /// The data of every attachment of every document's winner, by document and name.
    static func attachmentData(_ store: DocumentStore) throws -> [String: [UInt8]] {
        try store.read { tx in
            var results: [String: [UInt8]] = [:]
            for summary in try tx.allDocuments() {
                for result in try tx.openRevisions(summary.id, revs: [summary.rev], attachments: .stubs) {
                    guard case .ok(let json) = result, let attachments = try JSONValue.parse(json)["_attachments"]?.objectValue else { continue }
                    for (name, entry) in attachments.members {
                        guard let digest = entry["digest"]?.stringValue else { continue }
                        results[summary.id + "/" + name] = try tx.attachmentData(digest: digest)
                    }
                }
            }
            return results
        }
    }

    /// A mix: one big attachment, one document with a big and a small one, small ones only,
    /// none.
    static func seed(_ store: DocumentStore) throws -> [String: [UInt8]] {
        let big = data(2 * limit + 17)
        let big2 = data(limit + 1, seed: 5)
        let small = data(1000, seed: 9)
        try store.put("big", body([("b.bin", big)]))
        try store.put("mixed", body([("large part.bin", big2), ("small.bin", small)]))
        try store.put("small", body([("s.bin", small)]))
        try store.put("plain", #"{"kind":"p"}"#)
        return ["big/b.bin": big, "mixed/large part.bin": big2, "mixed/small.bin": small, "small/s.bin": small]
    }

    @Test("a pull fetches stubs, then big data by GET to files and small data inline; the bytes and CouchDB's digests arrive")
    func pullFromServer() async throws {
        try await withFixtureServer { server in
            let remote = try server.createDatabase("db")
            let expected = try Self.seed(remote)
            try await withTemporaryDirectory { dir in
                let local = dir.path("local.sqlite")
                let result = try await sync(local, server.url("db"), direction: .pull)
                #expect(result.pull?.docsWritten == 4)
                let store = try DocumentStore.open(at: local)
                #expect(try Self.attachmentData(store) == expected)
                #expect(try snapshot(store) == snapshot(remote))
                let requests = server.requests()
                let gets = requests.filter { $0.method == "GET" && $0.path.hasPrefix("/db/") && !$0.path.contains("/_") }.map(\.path)
                #expect(Set(gets) == ["/db/big/b.bin", "/db/mixed/large%20part.bin", "/db/mixed/small.bin"], "\(gets)")
                let bulkGets = requests.filter { $0.path == "/db/_bulk_get" }.map { $0.query ?? "" }
                #expect(bulkGets.count == 2 && bulkGets.filter { $0.contains("attachments=true") }.count == 1, "\(bulkGets)")
                // Nothing is left behind beside the store.
                #expect(try Self.spoolFiles(in: dir.path).isEmpty)
                // A second pull has nothing to fetch.
                let again = try await sync(local, server.url("db"), direction: .pull)
                #expect(again.pull?.docsWritten == 0)
            }
        }
    }

    @Test("an attachment the server declares with another length than its stub's is one refused document, not a failed run")
    func wrongLengthRefusesOneDocument() async throws {
        try await withFixtureServer { server in
            let remote = try server.createDatabase("db")
            var expected = try Self.seed(remote)
            // However often it is asked, the server sends 100 bytes with Content-Length 100.
            server.inject(.bytes(200, body: Self.data(100), method: "GET", path: .exact("/db/big/b.bin"), times: 50))
            try await withTemporaryDirectory { dir in
                let local = dir.path("local.sqlite")
                let result = try await sync(local, server.url("db"), direction: .pull)
                #expect(result.pull?.docsWritten == 3)
                #expect(result.pull?.docWriteFailures == 1)
                let failure = try #require(result.pull?.failures.first)
                #expect(failure.id == "big" && failure.reason.contains("100 bytes") && failure.reason.contains("b.bin"), "\(failure)")
                // Asked once: the answer would not change.
                #expect(server.requests().count { $0.path == "/db/big/b.bin" } == 1)
                expected["big/b.bin"] = nil
                #expect(try Self.attachmentData(try DocumentStore.open(at: local)) == expected)
            }
        }
    }

    @Test("an attachment updated on the server comes again only when it changed")
    func onlyChangedData() async throws {
        try await withFixtureServer { server in
            let remote = try server.createDatabase("db")
            let big = Self.data(Self.limit + 100)
            let first = try remote.put("d", Self.body([("a.bin", big)]))
            try await withTemporaryDirectory { dir in
                let local = dir.path("local.sqlite")
                _ = try await sync(local, server.url("db"), direction: .pull)
                let before = server.requests().count
                // A new revision that keeps the attachment as a stub: only JSON travels.
                let digest = try JSONValue.parse(try remote.read { try $0.document("d", options: DocumentOptions()) })["_attachments"]?["a.bin"]?["digest"]?.stringValue ?? ""
                try remote.put("d", #"{"_rev":"\#(first)","kind":"b","_attachments":{"a.bin":{"content_type":"application/octet-stream","digest":"\#(digest)","stub":true}}}"#)
                let result = try await sync(local, server.url("db"), direction: .pull)
                #expect(result.pull?.docsWritten == 1)
                let later = server.requests().dropFirst(before)
                #expect(!later.contains { $0.path.hasPrefix("/db/d/") }, "\(later.map(\.description))")
                #expect(try Self.attachmentData(try DocumentStore.open(at: local)) == ["d/a.bin": big])
            }
        }
    }

    @Test("between two store files the big data goes through spool files and arrives whole")
    func localToLocal() async throws {
        try await withTemporaryDirectory { dir in
            let remotePath = dir.path("remote.sqlite")
            let remote = try DocumentStore.open(at: remotePath)
            let expected = try Self.seed(remote)
            let local = dir.path("local.sqlite")
            let pulled = try await sync(local, "file:" + remotePath, direction: .pull)
            #expect(pulled.pull?.docsWritten == 4)
            let store = try DocumentStore.open(at: local)
            #expect(try Self.attachmentData(store) == expected)
            // …and back into a new file.
            let copy = dir.path("copy.sqlite")
            let pushed = try await sync(local, "file:" + copy, direction: .push)
            #expect(pushed.push?.docsWritten == 4)
            #expect(try snapshot(DocumentStore.open(at: copy)) == snapshot(remote))
            #expect(try Self.spoolFiles(in: dir.path).isEmpty)
        }
    }

    @Test("a push sends big attachments as multipart/related PUTs with new_edits=false, the rest with _bulk_docs")
    func pushToServer() async throws {
        try await withFixtureServer { server in
            let remote = try server.createDatabase("db")
            try await withTemporaryDirectory { dir in
                let local = dir.path("local.sqlite")
                let store = try DocumentStore.open(at: local)
                let expected = try Self.seed(store)
                let result = try await sync(local, server.url("db"), direction: .push)
                #expect(result.push?.docsWritten == 4)
                #expect(result.push?.docWriteFailures == 0)
                #expect(try Self.attachmentData(remote) == expected)
                #expect(try snapshot(remote) == snapshot(store))
                let puts = server.requests().filter { $0.method == "PUT" && !$0.path.contains("_local") }
                #expect(Set(puts.map(\.path)) == ["/db/big", "/db/mixed"], "\(puts)")
                #expect(puts.allSatisfy { $0.query == "new_edits=false" })
            }
        }
    }

    @Test("a streamed attachment is announced with follows and without a digest and its bytes follow; the rest of the document keeps its bytes")
    func announcingFollows() async throws {
        // A digest pulled from CouchDB for a type it gzips is the MD5 of the gzipped bytes:
        // sent with the plain bytes, CouchDB 3.4.3 answers 500 (function_clause).
        let json = #"{"_id":"d","_rev":"2-b","n": 1.50,"_attachments":{"a.txt":{"content_type":"text/plain","revpos":2,"digest":"md5-7kY/Eu8QluaPtEbBoPGqjw==","length":5,"stub":true},"b.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-x","length":1,"stub":true}},"z":"\u00e9"}"#
        try await withTemporaryDirectory { dir in
            let writer = try SpoolFile.Writer(in: dir.path)
            try Array("hello".utf8).withUnsafeBytes { try writer.append($0) }
            var revision = FetchedRevision(id: "d", json: Array(json.utf8))
            revision.spooled["a.txt"] = try writer.finish()
            let multipart = try HTTPPeer.multipart(revision)
            var body: [UInt8] = []
            for try await buffer in multipart { body += buffer.readableBytesView }
            #expect(body.count == multipart.length)
            let boundary = try #require(multipart.contentType.split(separator: "\"").dropFirst().first.map(String.init))
            #expect(String(decoding: body, as: UTF8.self) == "--\(boundary)\r\nContent-Type: application/json\r\n\r\n"
                + #"{"_id":"d","_rev":"2-b","n": 1.50,"_attachments":{"a.txt":{"content_type":"text/plain","revpos":2,"length":5,"follows":true},"b.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-x","length":1,"stub":true}},"z":"\u00e9"}"#
                + "\r\n--\(boundary)\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello\r\n--\(boundary)--")
        }
    }

    @Test("documents without attachments are told apart by a scan, not parsed", arguments: [
        (#"{"_id":"a","_rev":"1-x","n":1}"#, false),
        (#"{"_id":"a","_rev":"1-x","_attachments":{}}"#, true),
        (#"{"_attachments":{}}"#, true),
        (#"{"x":"_attachments_","y":"\"_attachment"}"#, false),
        (#"{"note":"_attachments"}"#, true),  // a false alarm costs one parse, nothing more
        (#""_attachments""#, true),
        (#""_attachments"#, false),
        ("", false),
    ])
    func mentionsAttachments(json: String, expected: Bool) {
        #expect(AttachmentFetch.mentionsAttachments(Array(json.utf8)) == expected)
    }

    @Test("spooled attachment data counts in what a batch holds, so big ones are not read ahead")
    func spooledBytesCount() throws {
        try withTemporaryDirectory { dir in
            let writer = try SpoolFile.Writer(in: dir.path)
            try [UInt8](repeating: 7, count: 40 << 20).withUnsafeBytes { try writer.append($0) }
            var revision = FetchedRevision(id: "d", json: Array(#"{"_id":"d"}"#.utf8))
            revision.spooled["a.bin"] = try writer.finish()
            let batch = Replicator.SourceBatch(batch: ChangesBatch(rows: [], lastSeq: .zero, rowsBeforeFilter: 0),
                                               requests: [], fetched: [revision], missingChecked: 0, missingFound: 0)
            #expect(batch.fetchedBytes == (40 << 20) + 11)
            #expect(ReadAhead.limit(3, batchBytes: batch.fetchedBytes) == 1)
        }
    }

    @Test("opening a store removes the spool files a killed run left beside it, not recent ones")
    func abandonedSpoolFiles() throws {
        try withTemporaryDirectory { dir in
            let old = dir.path(".bgsync-spool-old")
            let recent = dir.path(".bgsync-spool-recent")
            let unrelated = dir.path("notes.txt")
            for path in [old, recent, unrelated] { FileManager.default.createFile(atPath: path, contents: Data([1])) }
            let longAgo = Date(timeIntervalSinceNow: -SpoolFile.abandonedAfter - 60)
            for path in [old, unrelated] {
                try FileManager.default.setAttributes([.modificationDate: longAgo], ofItemAtPath: path)
            }
            _ = try LocalPeer(openingAt: dir.path("local.sqlite"))
            #expect(!FileManager.default.fileExists(atPath: old))
            #expect(FileManager.default.fileExists(atPath: recent))
            #expect(FileManager.default.fileExists(atPath: unrelated))
        }
    }

    // MARK: The spool budget of a batch

    /// Watches `directory` on a thread of its own and keeps the most spool files and bytes seen
    /// there at once.
    final class SpoolWatch: @unchecked Sendable {
        private let lock = NSLock()
        private var stopped = false
        private(set) var mostFiles = 0
        private(set) var mostBytes = 0
        private var thread: Thread?

        init(_ directory: String) {
            let thread = Thread { [self] in
                while !lock.withLock({ stopped }) {
                    let spools = (try? LargeAttachmentReplicationTests.spoolFiles(in: directory)) ?? []
                    let bytes = spools.reduce(0) { total, name in
                        total + ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int) ?? 0)
                    }
                    lock.withLock {
                        mostFiles = max(mostFiles, spools.count)
                        mostBytes = max(mostBytes, bytes)
                    }
                    usleep(500)
                }
            }
            self.thread = thread
            thread.start()
        }

        func stop() { lock.withLock { stopped = true } }
    }

    /// Six documents, each with one attachment of 1.1 MiB (spooled, not inline).
    static func seedSix(_ store: DocumentStore) throws -> [String: [UInt8]] {
        var expected: [String: [UInt8]] = [:]
        for i in 0..<6 {
            let bytes = data(limit + limit / 10, seed: UInt8(i))
            try store.put("d\(i)", body([("a.bin", bytes)]))
            expected["d\(i)/a.bin"] = bytes
        }
        return expected
    }

    /// A replication of one batch with a spool budget of 2 MiB.
    static func budgeted(_ local: String, _ remote: String, _ direction: ReplicatorConfiguration.Direction) async throws -> SyncResult {
        var configuration = ReplicatorConfiguration(database: local, remote: try Endpoint(parsing: remote), direction: direction)
        configuration.createTarget = true
        configuration.spoolBytesPerBatch = 2 << 20
        configuration.http.initialRetryDelay = 0.01
        configuration.http.requestTimeout = 30
        return try await Replicator(configuration: configuration).runOnDedicatedThreads()
    }

    @Test("a spool budget admits the first document whatever its size, then documents while they fit")
    func spoolBudgetAdmits() {
        var budget = SpoolBudget(limit: 100)
        let admitted = [budget.admit(150), budget.admit(1)]
        #expect(admitted == [true, false])
        var fitting = SpoolBudget(limit: 100)
        let fits = [fitting.admit(60), fitting.admit(40), fitting.admit(1)]
        #expect(fits == [true, true, false] && fitting.spooled == 100)
    }

    @Test("a pull spools the first 2 MiB of a batch's big attachments ahead, the rest just before each part is written")
    func pullKeepsToTheSpoolBudget() async throws {
        try await withFixtureServer { server in
            let remote = try server.createDatabase("db")
            let expected = try Self.seedSix(remote)
            try await withTemporaryDirectory { dir in
                let watch = SpoolWatch(dir.path)
                let result = try await Self.budgeted(dir.path("local.sqlite"), server.url("db"), .pull)
                watch.stop()
                #expect(result.pull?.docsWritten == 6)
                let store = try DocumentStore.open(at: dir.path("local.sqlite"))
                #expect(try Self.attachmentData(store) == expected)
                #expect(try snapshot(store) == snapshot(remote))
                // Two parts of 1.1 MiB at most (2.2 MiB); without the budget all six (6.6 MiB).
                #expect(watch.mostFiles <= 2 && watch.mostBytes <= 2 * (Self.limit + Self.limit / 10), "\(watch.mostFiles) files, \(watch.mostBytes) bytes")
                #expect(try Self.spoolFiles(in: dir.path).isEmpty)
            }
        }
    }

    @Test("a push spools the first 2 MiB of a batch's big attachments out of the store ahead, the rest just before each is sent")
    func pushKeepsToTheSpoolBudget() async throws {
        try await withFixtureServer { server in
            let remote = try server.createDatabase("db")
            try await withTemporaryDirectory { dir in
                let store = try DocumentStore.open(at: dir.path("local.sqlite"))
                let expected = try Self.seedSix(store)
                let watch = SpoolWatch(dir.path)
                let result = try await Self.budgeted(dir.path("local.sqlite"), server.url("db"), .push)
                watch.stop()
                #expect(result.push?.docsWritten == 6)
                #expect(try Self.attachmentData(remote) == expected)
                #expect(watch.mostFiles <= 2, "\(watch.mostFiles) files, \(watch.mostBytes) bytes")
            }
        }
    }

    @Test("a deferred revision that changed in the store before it was sent is left out; its data is not missing")
    func deferredRevisionChanged() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir.path("local.sqlite")
            let store = try DocumentStore.open(at: path)
            _ = try Self.seedSix(store)
            var peer = try LocalPeer(openingAt: path)
            peer.spoolBytesPerBatch = 2 << 20
            let requests = try store.read { tx in try tx.changes().map { RevisionRequest(id: $0.id, revs: $0.leaves, attsSince: []) } }
            let fetched = try await peer.fetch(requests)
            #expect(fetched.count { $0.deferredData != nil } == 5)
            let last = try #require(fetched.last)
            // Its attachment replaced: the old revision and its data are gone.
            try store.put(last.id, #"{"_rev":"\#(try #require(try store.winner(last.id)))","kind":"new"}"#)
            #expect(try await last.deferredData?() == nil)
            let other = try #require(fetched.dropLast().last)
            let completed = try #require(try await other.deferredData?())
            #expect(completed.spooledBytes == Self.limit + Self.limit / 10)
        }
    }
}
