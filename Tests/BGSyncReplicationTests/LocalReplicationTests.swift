import BGSyncTestSupport
import BGSyncReplication
import BGSyncStore
import Foundation
import Testing

@Suite("Replication between two local stores")
struct LocalReplicationTests {
    @Test("pull then push makes both stores identical")
    func roundTrip() async throws {
        try await withTemporaryPath { dir in
            let a = try DocumentStore.open(at: dir + "/a.sqlite")
            let b = try DocumentStore.open(at: dir + "/b.sqlite")
            for i in 0..<25 { try a.put("a\(i)", #"{"n":\#(i),"big":12345678901234567890}"#) }
            for i in 0..<7 { try b.put("b\(i)", #"{"n":\#(i)}"#) }
            let result = try await sync(dir + "/a.sqlite", dir + "/b.sqlite", batchSize: 10)
            #expect(result.pull?.docsWritten == 7)
            #expect(result.push?.docsWritten == 25)
            #expect(try snapshot(a) == snapshot(b))
            let body = try b.read { try $0.document("a3") }
            #expect(body.contains(#""big":12345678901234567890"#))
            // Each file alone holds everything: the write-ahead logs were checkpointed and emptied.
            for name in ["a.sqlite", "b.sqlite"] {
                let wal = try? FileManager.default.attributesOfItem(atPath: dir + "/" + name + "-wal")
                #expect((wal?[.size] as? NSNumber)?.intValue ?? 0 == 0, "\(name)-wal is not empty")
            }
        }
    }

    @Test("conflicting edits on both sides end with the same winner and conflict set")
    func conflicts() async throws {
        try await withTemporaryPath { dir in
            let a = try DocumentStore.open(at: dir + "/a.sqlite")
            let b = try DocumentStore.open(at: dir + "/b.sqlite")
            let rev1 = try a.put("doc", #"{"v":0}"#)
            _ = try await sync(dir + "/a.sqlite", dir + "/b.sqlite")
            try a.put("doc", #"{"_rev":"\#(rev1)","v":"a"}"#)
            try b.put("doc", #"{"_rev":"\#(rev1)","v":"b"}"#)
            let result = try await sync(dir + "/a.sqlite", dir + "/b.sqlite")
            #expect(result.pull?.conflictsCreated == 1)
            #expect(result.push?.conflictsCreated == 1)
            let options = DocumentOptions(revs: true, conflicts: true)
            let docA = try a.read { try $0.document("doc", options: options) }
            let docB = try b.read { try $0.document("doc", options: options) }
            #expect(docA == docB)
            #expect(docA.contains("_conflicts"))
        }
    }

    @Test("deletions and attachments replicate; attachment data is not sent again")
    func deletionsAndAttachments() async throws {
        try await withTemporaryPath { dir in
            let a = try DocumentStore.open(at: dir + "/a.sqlite")
            let b = try DocumentStore.open(at: dir + "/b.sqlite")
            let rev = try a.put("gone", #"{"x":1}"#)
            let attRev = try a.put("att", #"{"_attachments":{"hello.txt":{"content_type":"text/plain","data":"aGVsbG8gd29ybGQ="}}}"#)
            _ = try await sync(dir + "/a.sqlite", dir + "/b.sqlite", direction: .push)
            try a.write { _ = try $0.delete(id: "gone", rev: try RevisionID(parsing: rev)) }
            try a.put("att", #"{"_rev":"\#(attRev)","more":true,"_attachments":{"hello.txt":{"stub":true}}}"#)
            let second = try await sync(dir + "/a.sqlite", dir + "/b.sqlite", direction: .push)
            #expect(second.push?.docsWritten == 2)
            #expect(try snapshot(a) == snapshot(b))
            let doc = try b.read { try $0.document("att") }
            #expect(doc.contains(#""digest":"md5-XrY7u+Ae7tCTyyK7j1rNww==""#))  // MD5 of the data; CouchDB digests text after gzip, so its digest differs
            #expect(throws: StoreError.self) { try b.read { try $0.document("gone") } }
        }
    }

    @Test("a second run transfers nothing")
    func noOp() async throws {
        try await withTemporaryPath { dir in
            let a = try DocumentStore.open(at: dir + "/a.sqlite")
            for i in 0..<5 { try a.put("d\(i)", "{}") }
            _ = try await sync(dir + "/a.sqlite", dir + "/b.sqlite")
            let again = try await sync(dir + "/a.sqlite", dir + "/b.sqlite")
            #expect(again.pull?.docsWritten == 0)
            #expect(again.push?.docsWritten == 0)
            #expect(again.push?.missingChecked == 0)
        }
    }

    @Test("an interrupted run resumes from its checkpoint without re-reading finished batches")
    func resume() async throws {
        try await withTemporaryPath { dir in
            let a = try DocumentStore.open(at: dir + "/a.sqlite")
            for i in 0..<30 { try a.put(String(format: "d%02d", i), "{}") }
            let batches = Counter()
            await #expect(throws: ReplicationError.self) {
                _ = try await sync(dir + "/a.sqlite", dir + "/b.sqlite", direction: .push, batchSize: 10,
                                   shouldStop: { batches.next() > 2 })
            }
            let b = try DocumentStore.open(at: dir + "/b.sqlite")
            #expect(try b.read { try $0.info().documentCount } == 20)
            let rest = try await sync(dir + "/a.sqlite", dir + "/b.sqlite", direction: .push, batchSize: 10)
            #expect(rest.push?.docsWritten == 10)
            #expect(rest.push?.changesRead == 10)
            #expect(try snapshot(a) == snapshot(b))
        }
    }

    @Test("push filters: document ids and an SQL expression")
    func pushFilters() async throws {
        try await withTemporaryPath { dir in
            let a = try DocumentStore.open(at: dir + "/a.sqlite")
            try a.put("n1", #"{"type":"note"}"#)
            try a.put("t1", #"{"type":"task"}"#)
            try a.put("n2", #"{"type":"note"}"#)
            _ = try await sync(dir + "/a.sqlite", dir + "/b.sqlite", direction: .push,
                               pushFilter: .sqlWhere("json_extract(body, '$.type') = 'note'"))
            let b = try DocumentStore.open(at: dir + "/b.sqlite")
            #expect(try b.read { try $0.allDocuments().map(\.id) } == ["n1", "n2"])
            _ = try await sync(dir + "/a.sqlite", dir + "/c.sqlite", direction: .push, pushFilter: .documentIDs(["t1"]))
            let c = try DocumentStore.open(at: dir + "/c.sqlite")
            #expect(try c.read { try $0.allDocuments().map(\.id) } == ["t1"])
        }
    }

    @Test("checkpoints are written on both sides in CouchDB's shape")
    func checkpointShape() async throws {
        try await withTemporaryPath { dir in
            let a = try DocumentStore.open(at: dir + "/a.sqlite")
            try a.put("d", "{}")
            _ = try await sync(dir + "/a.sqlite", dir + "/b.sqlite", direction: .push)
            let b = try DocumentStore.open(at: dir + "/b.sqlite")
            let ids = try b.read { tx in try String.fetchAllLocalIDs(tx) }
            #expect(ids.count == 1)
            let id = try #require(ids.first)
            let onTarget = try #require(try b.read { try $0.localDocument(id) })
            let onSource = try #require(try a.read { try $0.localDocument(id) })
            #expect(onTarget == onSource)
            let value = try JSONValue.parse(onTarget)
            #expect(value["session_id"]?.stringValue != nil)
            #expect(value["source_last_seq"] != nil)
            let entry = try #require(value["history"]?.arrayValue?.first)
            for key in ["session_id", "start_time", "end_time", "start_last_seq", "end_last_seq", "recorded_seq",
                        "missing_checked", "missing_found", "docs_read", "docs_written", "doc_write_failures"] {
                #expect(entry[key] != nil, "history entry lacks \(key)")
            }
        }
    }
}

extension String {
    /// The ids of the `_local` documents of a store (via its SQL tables).
    static func fetchAllLocalIDs(_ tx: StoreReader) throws -> [String] {
        try tx.localDocumentIDs()
    }
}
