import BGSyncTestSupport
import BGSyncStore
import Testing

/// Revisions written as a replicator writes them: `_bulk_docs` with `new_edits: false`.
@Suite("Replicated writes (new_edits: false)")
struct ReplicatedWriteTests {
    @Test("the transcript's _bulk_docs gives CouchDB's winner, _revisions and _deleted_conflicts")
    func transcriptBulkDocs() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)
            #expect(try store.fullDocument("c1") == Transcript.c1WithConflicts)
            #expect(try store.openRevisions("c1", nil) == Transcript.c1OpenRevsAll.map { .ok($0) })
            let tree = try #require(try store.tree("c1"))
            #expect(tree.nodes.count == 4)
            #expect(tree.roots == [rev("1-1111")])
            #expect(tree.leaves.map(\.rev) == revs("2-aaaa", "3-cccc"))
        }
    }

    @Test("the order in which a document's revisions arrive does not matter")
    func arrivalOrder() throws {
        try withTemporaryDirectory { dir in
            let orders = [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1], [0, 2, 1], [1, 0, 2]]
            var trees: [RevisionTree] = []
            for (index, order) in orders.enumerated() {
                let store = try dir.openStore("db\(index).sqlite")
                for position in order { try store.replicate(Transcript.c1Documents[position]) }
                #expect(try store.fullDocument("c1") == Transcript.c1WithConflicts)
                trees.append(try #require(try store.tree("c1")))
            }
            #expect(Set(trees.map { $0.leaves.map(\.rev) }).count == 1)
        }
    }

    @Test("a replicated write returns the revision as given and stores its history")
    func storesHistory() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let stored = try store.replicate(replicatedJSON("d", ["4-dddd", "3-cccc", "2-bbbb", "1-aaaa"], members: #""x":true"#))
            #expect(stored == rev("4-dddd"))
            #expect(try store.tree("d")?.ancestry(of: stored) == revs("4-dddd", "3-cccc", "2-bbbb", "1-aaaa"))
            #expect(try store.fullDocument("d") == #"{"_id":"d","_rev":"4-dddd","x":true,"_revisions":{"start":4,"ids":["dddd","cccc","bbbb","aaaa"]}}"#)
            #expect(try store.updateSeq() == 1)
        }
    }

    @Test("without _revisions, _rev alone is stored as a root revision")
    func revAlone() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(#"{"_id":"d","_rev":"3-cccc","v":1}"#)
            let tree = try #require(try store.tree("d"))
            #expect(tree.nodes.keys.sorted() == [rev("3-cccc")])
            #expect(tree.roots == [rev("3-cccc")])
            #expect(try store.fullDocument("d") == #"{"_id":"d","_rev":"3-cccc","v":1,"_revisions":{"start":3,"ids":["cccc"]}}"#)
        }
    }

    @Test("_revisions without _rev is enough")
    func revisionsAlone() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let stored = try store.replicate(#"{"_id":"d","_revisions":{"start":2,"ids":["bbbb","aaaa"]},"v":1}"#)
            #expect(stored == rev("2-bbbb"))
            #expect(try store.tree("d")?.ancestry(of: stored) == revs("2-bbbb", "1-aaaa"))
        }
    }

    @Test("a document with neither _rev nor _revisions is refused with CouchDB's reason")
    func needsRev() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let error = #expect(throws: StoreError.self) { try store.replicate(#"{"_id":"bad"}"#) }
            #expect(error?.code == .invalidDocument)
            #expect(error?.message.contains("When `new_edits: false`, the document needs `_rev` or `_revisions` specified") == true)
            #expect(try store.updateSeq() == 0)
        }
    }

    @Test("re-inserting a revision the store holds is a no-op: no new sequence, same tree")
    func reinsertIsNoOp() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)
            try store.put("other", #"{"a":1}"#)
            let seq = try store.updateSeq()
            let tree = try store.tree("c1")
            let changes = try store.changes()
            // Leaves again, an interior revision, a stemmed form of a known path, a root alone.
            try Transcript.storeC1(in: store)
            try store.replicate(replicatedJSON("c1", ["2-bbbb", "1-1111"], members: #""v":"changed""#))
            try store.replicate(replicatedJSON("c1", ["3-cccc", "2-bbbb"], deleted: true))
            try store.replicate(#"{"_id":"c1","_rev":"1-1111"}"#)
            #expect(try store.updateSeq() == seq)
            #expect(try store.tree("c1") == tree)
            #expect(try store.changes() == changes)
            #expect(try store.fullDocument("c1") == Transcript.c1WithConflicts)
            #expect(try store.openRevisions("c1", nil) == Transcript.c1OpenRevsAll.map { .ok($0) })
        }
    }

    @Test("a history that overlaps nothing in the tree becomes another root and a conflict")
    func disjointHistory() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("d", ["2-bbbb", "1-aaaa"], members: #""v":"old""#))
            try store.replicate(replicatedJSON("d", ["4-dddd", "3-cccc"], members: #""v":"new""#))
            let tree = try #require(try store.tree("d"))
            #expect(tree.roots == Set(revs("1-aaaa", "3-cccc")))
            #expect(try store.fullDocument("d") == #"{"_id":"d","_rev":"4-dddd","v":"new","_revisions":{"start":4,"ids":["dddd","cccc"]},"_conflicts":["2-bbbb"]}"#)
            #expect(try store.conflicts().map(\.id) == ["d"])
        }
    }

    @Test("a stemmed history whose oldest revision is a known leaf extends that leaf")
    func stemmedHistoryExtends() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("d", ["2-bbbb", "1-aaaa"], members: #""v":"old""#))
            try store.replicate(replicatedJSON("d", ["4-dddd", "3-cccc", "2-bbbb"], members: #""v":"new""#))
            let tree = try #require(try store.tree("d"))
            #expect(tree.roots == [rev("1-aaaa")])
            #expect(tree.leaves.map(\.rev) == [rev("4-dddd")])
            #expect(try store.fullDocument("d") == #"{"_id":"d","_rev":"4-dddd","v":"new","_revisions":{"start":4,"ids":["dddd","cccc","bbbb","aaaa"]}}"#)
            // The old leaf's body is gone with its leaf status, as after CouchDB's compaction.
            #expect(try store.openRevisions("d", [rev("2-bbbb")]) == [.missing(rev("2-bbbb"))])
        }
    }

    @Test("a root gains its parent when the longer history arrives later")
    func rootGainsParent() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("d", ["3-cccc", "2-bbbb"]))
            #expect(try store.tree("d")?.roots == [rev("2-bbbb")])
            try store.replicate(replicatedJSON("d", ["4-dddd", "3-cccc", "2-bbbb", "1-aaaa"], members: #""n":4"#))
            let tree = try #require(try store.tree("d"))
            #expect(tree.roots == [rev("1-aaaa")])
            #expect(tree.ancestry(of: rev("4-dddd")) == revs("4-dddd", "3-cccc", "2-bbbb", "1-aaaa"))
            #expect(try dir.openStore().tree("d") == tree)
        }
    }

    @Test("a replicated tombstone keeps its body members")
    func tombstoneBody() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("d", ["2-bbbb", "1-aaaa"], deleted: true, members: #""reason":"archived""#))
            #expect(try store.document("d", DocumentOptions(rev: rev("2-bbbb"), revs: true))
                == #"{"_id":"d","_rev":"2-bbbb","reason":"archived","_deleted":true,"_revisions":{"start":2,"ids":["bbbb","aaaa"]}}"#)
            #expect(try store.changes().first?.deleted == true)
        }
    }

    @Test("replicated revisions may use non-CouchDB hash forms, stored verbatim")
    func opaqueHashes() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let couchbase = "0123456789abcdef0123456789abcdef01234567"
            try store.replicate(replicatedJSON("d", ["2-\(couchbase)", "1-ABC"]))
            #expect(try store.tree("d")?.ancestry(of: rev("2-\(couchbase)")) == revs("2-\(couchbase)", "1-ABC"))
        }
    }

    @Test("a local edit after replicated revisions extends the winner")
    func editAfterReplication() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)
            let next = try store.put("c1", #"{"_rev":"2-aaaa","v":"a2"}"#)
            #expect(next.generation == 3)
            #expect(try store.tree("c1")?.leaves.map(\.rev) == [next, rev("3-cccc")])
        }
    }
}
