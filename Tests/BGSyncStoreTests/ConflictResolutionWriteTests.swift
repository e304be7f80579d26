import BGSyncTestSupport
import BGSyncStore
import Foundation
import Testing

@Suite("Writing conflict resolutions")
struct ConflictResolutionWriteTests {
    /// `doc` at 1-root, with live leaves 2-aaaa ({"v":"a"}) and 2-bbbb ({"v":"b"}).
    static func twoLiveLeaves(_ store: DocumentStore) throws {
        try store.replicate(replicatedJSON("doc", ["2-aaaa", "1-root"], members: #""v":"a""#))
        try store.replicate(replicatedJSON("doc", ["2-bbbb", "1-root"], members: #""v":"b""#))
    }

    func conflictRevs(_ store: DocumentStore, _ id: String = "doc") throws -> [String] {
        try store.read { try $0.conflict(of: id)?.leaves.map { "\($0.rev)\($0.deleted ? " deleted" : "")" } } ?? []
    }

    @Test("which leaves take part: live leaves, and deletions of the same revision as a live leaf")
    func takingPart() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Self.twoLiveLeaves(store)
            #expect(try conflictRevs(store) == ["2-bbbb", "2-aaaa"])
            // A deletion and an edit of the same revision conflict (the edit is the winner).
            try store.replicate(replicatedJSON("del", ["2-dddd", "1-root"], deleted: true))
            try store.replicate(replicatedJSON("del", ["2-eeee", "1-root"], members: #""v":"e""#))
            #expect(try conflictRevs(store, "del") == ["2-eeee", "2-dddd deleted"])
            // A tombstone on a losing branch (the CouchDB way to resolve) closes it: no conflict.
            try store.replicate(replicatedJSON("closed", ["2-aaaa", "1-root"]))
            try store.replicate(replicatedJSON("closed", ["3-tttt", "2-bbbb", "1-root"], deleted: true))
            #expect(try conflictRevs(store, "closed").isEmpty)
            // A document deleted, then created again on top of its tombstone, with an older
            // deletion left on another branch: not in conflict.
            try store.replicate(replicatedJSON("again", ["2-dddd", "1-root"], deleted: true))
            try store.replicate(replicatedJSON("again", ["3-tttt", "2-eeee", "1-root"], deleted: true))
            try store.put("again", #"{"back":true}"#)
            #expect(try conflictRevs(store, "again").isEmpty)
            #expect(try store.read { try $0.conflict(of: "missing") } == nil)
            let candidates = try store.read { try $0.documentsWithSeveralLeaves(since: 0, through: .max, limit: 10) }.map(\.id)
            #expect(Set(candidates) == ["doc", "del", "closed", "again"])
        }
    }

    @Test("keeping a losing leaf tombstones the winner; resolving twice writes nothing")
    func keepLoser() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Self.twoLiveLeaves(store)
            let resolved = try store.write { try $0.resolveConflict(id: "doc", .keep(rev("2-aaaa"))) }
            #expect(resolved.winner == rev("2-aaaa"))
            #expect(resolved.written.count == 1 && resolved.written[0].generation == 3)
            #expect(try store.tree("doc")?.leaves.map(\.deleted) == [false, true])
            #expect(try store.document("doc").contains(#""v":"a""#))
            #expect(try store.conflicts().first?.conflicts == [])
            let seq = try store.updateSeq()
            #expect(throws: StoreError.self) { try store.write { try $0.resolveConflict(id: "doc", .keep(rev("2-aaaa"))) } }
            #expect(try store.updateSeq() == seq)
        }
    }

    @Test("two replicas resolving the same conflict the same way write identical revisions")
    func deterministicRevisions() throws {
        try withTemporaryDirectory { dir in
            let (a, b) = (try dir.openStore("a.sqlite"), try dir.openStore("b.sqlite"))
            var written: [[RevisionID]] = []
            for store in [a, b] {
                try Self.twoLiveLeaves(store)
                try store.replicate(replicatedJSON("doc", ["2-cccc", "1-root"], members: #""v":"c""#))
                written.append(try store.write { try $0.resolveConflict(id: "doc", .merge(body: #"{"v": "abc"}"#)) }.written)
            }
            #expect(written[0] == written[1])
            #expect(written[0].count == 3)  // the merged revision and two tombstones
            #expect(try a.tree("doc") == b.tree("doc"))
            #expect(try a.document("doc") == b.document("doc"))
            #expect(try a.document("doc").contains(#""v": "abc""#))
        }
    }

    @Test("a merged body keeps the winner's attachments; a merge equal to the winner adds only tombstones")
    func mergeWithAttachments() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let attachment = #""_attachments":{"a.txt":{"content_type":"text/plain","data":"aGVsbG8="}}"#
            try store.replicate(replicatedJSON("doc", ["2-bbbb", "1-root"], members: #""v":"b","# + attachment))
            try store.replicate(replicatedJSON("doc", ["2-aaaa", "1-root"], members: #""v":"a""#))
            let resolved = try store.write { try $0.resolveConflict(id: "doc", .merge(body: #"{"v":"ab"}"#)) }
            #expect(resolved.winner.generation == 3)
            let doc = try store.document("doc")
            #expect(doc.contains(#""v":"ab""#) && doc.contains(#""a.txt":{"content_type":"text/plain","revpos":2"#))
            #expect(try store.read { try $0.attachmentData(digest: "md5-XUFAKrxLKna5cZ2REBfFkg==") } == Array("hello".utf8))

            try store.replicate(replicatedJSON("same", ["2-bbbb", "1-root"], members: #""v":"b""#))
            try store.replicate(replicatedJSON("same", ["2-aaaa", "1-root"], members: #""v":"a""#))
            let same = try store.write { try $0.resolveConflict(id: "same", .merge(body: #"{"v":"b"}"#)) }
            #expect(same.winner == rev("2-bbbb") && same.written.count == 1)
            #expect(throws: StoreError.self) {
                try store.write { try $0.resolveConflict(id: "doc", .merge(body: #"{"_id":"x"}"#)) }
            }
        }
    }

    @Test("deletions: keeping a deletion deletes the document; keeping its live sibling adds a revision on it")
    func deletions() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            for id in ["gone", "kept"] {
                try store.replicate(replicatedJSON(id, ["2-dddd", "1-root"], deleted: true))
                try store.replicate(replicatedJSON(id, ["2-eeee", "1-root"], members: #""v":"e""#))
            }
            let gone = try store.write { try $0.resolveConflict(id: "gone", .keep(rev("2-dddd"))) }
            #expect(gone.deleted && gone.written.count == 1)
            #expect(throws: StoreError.self) { try store.document("gone") }
            let kept = try store.write { try $0.resolveConflict(id: "kept", .keep(rev("2-eeee"))) }
            #expect(!kept.deleted && kept.winner.generation == 3 && kept.written == [kept.winner])
            #expect(try store.document("kept").contains(#""v":"e""#))
            #expect(try conflictRevs(store, "kept").isEmpty)
            #expect(throws: StoreError.self) { try store.write { try $0.resolveConflict(id: "kept", .keep(rev("9-nope"))) } }
        }
    }

    @Test("deep histories: a long branch against a short one, stale expectations refused")
    func deepHistories() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let long = (1...60).reversed().map { "\($0)-" + ($0 == 1 ? "root" : String(format: "%04x", $0)) }
            try store.replicate(replicatedJSON("doc", long, members: #""v":"long""#))
            try store.replicate(replicatedJSON("doc", ["3-ffff", "2-ffff", "1-root"], members: #""v":"short""#))
            let conflict = try #require(try store.read { try $0.conflict(of: "doc") })
            #expect(conflict.leaves.map(\.rev) == [rev("60-003c"), rev("3-ffff")])
            #expect(conflict.leaves[0].history.count == 60)
            #expect(throws: StoreError.self) {
                try store.write { try $0.resolveConflict(id: "doc", .keep(rev("3-ffff")), expecting: [rev("3-ffff")]) }
            }
            let resolved = try store.write { try $0.resolveConflict(id: "doc", .keep(rev("3-ffff")), expecting: conflict.leaves.map(\.rev)) }
            // The short branch is kept: the winner's order is not the resolver's.
            #expect(resolved.winner == rev("3-ffff"))
            #expect(try store.tree("doc")?.leaves.first { $0.deleted }?.rev.generation == 61)
        }
    }
}
