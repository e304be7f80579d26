import BGSyncTestSupport
import BGSyncStore
import Testing

/// The changes feed (`_changes?style=all_docs`), `_revs_diff`, `open_revs` and the conflicts
/// list, checked against CouchDB 3.4.3's answers for the same documents.
@Suite("Changes, revs_diff and open_revs")
struct ChangesAndRevsDiffTests {
    /// The transcript's database: doc1 created, updated; c1 by `_bulk_docs`; doc1 deleted; att.
    static func transcriptDatabase(_ store: DocumentStore) throws -> (doc1: RevisionID, att: RevisionID) {
        let first = try store.put("doc1", #"{"a": 1}"#)
        let second = try store.put("doc1", #"{"_rev":"\#(first)","a": 2}"#)
        try Transcript.storeC1(in: store)
        let tombstone = try store.delete("doc1", rev: second)
        let att = try store.put("att", Transcript.attBody)
        return (tombstone, att)
    }

    static func rows(_ changes: [Change]) -> [String] {
        changes.map { "\($0.id) \($0.leaves.map(\.description).joined(separator: ","))\($0.deleted ? " deleted" : "")" }
    }

    @Test("the feed lists each document once, at its latest change, leaves winner first, as the transcript")
    func transcriptChanges() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let (doc1, att) = try Self.transcriptDatabase(store)
            let changes = try store.changes()
            #expect(Self.rows(changes) == ["c1 2-aaaa,3-cccc", "doc1 \(doc1) deleted", "att \(att)"])
            #expect(changes.map(\.seq) == changes.map(\.seq).sorted())
            #expect(Set(changes.map(\.seq)).count == 3)
            #expect(changes.last?.seq == (try store.updateSeq()))
            // "_changes with limit": two rows; the last row's seq is last_seq; one pending.
            let limited = try store.changes(limit: 2)
            #expect(Self.rows(limited) == ["c1 2-aaaa,3-cccc", "doc1 \(doc1) deleted"])
            #expect(try store.changes(since: limited.last!.seq).count == 1)
        }
    }

    @Test("since returns only later changes; a document changed again moves to its new sequence")
    func since() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let a1 = try store.put("a", "{}")
            try store.put("b", "{}")
            try store.put("c", "{}")
            #expect(try store.changes().map(\.seq) == [1, 2, 3])
            #expect(try store.changes(since: 1).map(\.id) == ["b", "c"])
            #expect(try store.changes(since: 3).isEmpty)
            let a2 = try store.put("a", #"{"_rev":"\#(a1)"}"#)
            let changes = try store.changes()
            #expect(changes.map(\.id) == ["b", "c", "a"])
            #expect(changes.map(\.seq) == [2, 3, 4])
            #expect(changes.last?.leaves == [a2])
            #expect(try store.changes(since: 3).map(\.id) == ["a"])
            #expect(try store.changes(since: 99).isEmpty)
        }
    }

    @Test("limit caps the rows, in sequence order; following last seq reads everything once")
    func limit() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            for n in 0..<7 { try store.put("d\(n)", #"{"n":\#(n)}"#) }
            #expect(try store.changes(limit: 3).map(\.id) == ["d0", "d1", "d2"])
            #expect(try store.changes(since: 2, limit: 2).map(\.id) == ["d2", "d3"])
            #expect(try store.changes(limit: 0).isEmpty)
            var since = 0
            var seen: [String] = []
            while true {
                let page = try store.changes(since: since, limit: 3)
                guard let last = page.last else { break }
                seen += page.map(\.id)
                since = last.seq
            }
            #expect(seen == (0..<7).map { "d\($0)" })
            // `pending` counts what the feed would list, without reading it.
            for since in [0, 2, 7] {
                #expect(try store.read { try $0.changeCount(since: since) } == store.changes(since: since).count)
            }
        }
    }

    @Test("deleted marks rows whose winner is a tombstone, not rows with a deleted loser")
    func deletedFlag() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)  // 3-cccc is a deleted loser
            let first = try store.put("gone", "{}")
            let tombstone = try store.delete("gone")
            #expect(Self.rows(try store.changes()) == ["c1 2-aaaa,3-cccc", "gone \(tombstone) deleted"])
            let revived = try store.put("gone", #"{"back":true}"#)
            #expect(Self.rows(try store.changes()) == ["c1 2-aaaa,3-cccc", "gone \(revived)"])
            #expect(first.generation == 1)
        }
    }

    @Test("every leaf is listed, winner first, then CouchDB's order")
    func allLeaves() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("d", ["2-aaaa", "1-1111"]))
            try store.replicate(replicatedJSON("d", ["2-cccc", "1-1111"]))
            try store.replicate(replicatedJSON("d", ["3-ffff", "2-bbbb", "1-1111"], deleted: true))
            try store.replicate(replicatedJSON("d", ["2-dddd", "1-1111"], deleted: true))
            #expect(Self.rows(try store.changes()) == ["d 2-cccc,2-aaaa,3-ffff,2-dddd"])
        }
    }

    @Test("_local documents and no-op writes do not appear in the feed")
    func localAndNoOps() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)
            try store.write { try $0.putLocal(id: "_local/x", json: "{}") }
            try Transcript.storeC1(in: store)
            #expect(Self.rows(try store.changes()) == ["c1 2-aaaa,3-cccc"])
            #expect(try store.updateSeq() == 3)
        }
    }

    // MARK: _revs_diff

    @Test("revs_diff answers the transcript's request as CouchDB did")
    func transcriptRevsDiff() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)
            try store.replicate(Transcript.attReplicated)
            let diff = try store.read { tx in
                try tx.revsDiff([("c1", revs("2-aaaa", "4-dddd")), ("att", revs("1-0000")), ("nope", revs("1-abcd"))])
            }
            // {"nope":{"missing":["1-abcd"]},"c1":{"missing":["4-dddd"],"possible_ancestors":["2-aaaa","3-cccc"]},"att":{"missing":["1-0000"]}}
            let byID = Dictionary(uniqueKeysWithValues: diff.map { ($0.id, $0.entry) })
            #expect(diff.map(\.id) == ["c1", "att", "nope"])
            #expect(byID["c1"]?.missing == revs("4-dddd"))
            #expect(byID["c1"]?.possibleAncestors == revs("2-aaaa", "3-cccc"))
            #expect(byID["att"]?.missing == revs("1-0000"))
            #expect(byID["att"]?.possibleAncestors == [])
            #expect(byID["nope"]?.missing == revs("1-abcd"))
            #expect(byID["nope"]?.possibleAncestors == [])
        }
    }

    @Test("documents with nothing missing are left out; {} means nothing is missing")
    func nothingMissing() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)
            let diff = try store.read { tx in
                try tx.revsDiff([("c1", revs("2-aaaa", "3-cccc", "2-bbbb", "1-1111")), ("c1", [])])
            }
            #expect(diff.isEmpty)
        }
    }

    @Test("possible ancestors are the leaves below the highest missing generation")
    func possibleAncestors() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("d", ["2-aaaa", "1-1111"]))
            try store.replicate(replicatedJSON("d", ["5-eeee", "4-dddd", "3-cccc", "2-bbbb", "1-1111"], deleted: true))
            func diff(_ asked: [RevisionID]) throws -> RevsDiffEntry? {
                try store.read { try $0.revsDiff([("d", asked)]) }.first?.entry
            }
            #expect(try diff(revs("3-xxxx"))?.possibleAncestors == revs("2-aaaa"))
            #expect(try diff(revs("6-xxxx"))?.possibleAncestors == revs("2-aaaa", "5-eeee"))
            #expect(try diff(revs("2-xxxx"))?.possibleAncestors == [])
            #expect(try diff(revs("1-xxxx"))?.possibleAncestors == [])
            // The highest missing generation counts, whatever the order asked in.
            let mixed = try diff(revs("1-xxxx", "9-yyyy", "1-xxxx", "2-aaaa"))
            #expect(mixed?.missing == revs("1-xxxx", "9-yyyy"))
            #expect(mixed?.possibleAncestors == revs("2-aaaa", "5-eeee"))
            // Interior revisions are known, not missing, and are never possible ancestors.
            #expect(try diff(revs("3-cccc", "4-dddd")) == nil)
        }
    }

    // MARK: open_revs

    @Test("open_revs with latest=true answers the transcript: the 3-cccc tombstone and missing 9-zzzz")
    func transcriptOpenRevsLatest() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)
            // [{"ok":{"_id":"c1","_rev":"3-cccc","_deleted":true,"_revisions":{…}}},{"missing":"9-zzzz"}]
            #expect(try store.openRevisions("c1", revs("2-bbbb", "9-zzzz"), latest: true)
                == [.ok(Transcript.c1OpenRevsAll[1]), .missing(rev("9-zzzz"))])
        }
    }

    @Test("open_revs=all answers the transcript")
    func transcriptOpenRevsAll() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)
            #expect(try store.openRevisions("c1", nil) == Transcript.c1OpenRevsAll.map { .ok($0) })
        }
    }

    @Test("open_revs: found revisions first, then the missing ones; latest of the root gives every leaf")
    func openRevsOrderAndLatest() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)
            #expect(try store.openRevisions("c1", revs("9-zzzz", "2-aaaa"))
                == [.ok(#"{"_id":"c1","_rev":"2-aaaa","v":"a","_revisions":{"start":2,"ids":["aaaa","1111"]}}"#), .missing(rev("9-zzzz"))])
            #expect(try store.openRevisions("c1", revs("1-1111"), latest: true) == Transcript.c1OpenRevsAll.map { .ok($0) })
            #expect(try store.openRevisions("c1", revs("2-aaaa", "1-1111"), latest: true) == Transcript.c1OpenRevsAll.map { .ok($0) })
            // Without latest, an interior revision has no body any more (as after compaction).
            #expect(try store.openRevisions("c1", revs("2-bbbb")) == [.missing(rev("2-bbbb"))])
            #expect(try store.openRevisions("nope", revs("1-abcd", "2-x")) == [.missing(rev("1-abcd")), .missing(rev("2-x"))])
            #expect(try store.openRevisions("nope", nil) == [])
        }
    }

    // MARK: conflicts

    @Test("conflicts lists documents with several leaves: winner, live and deleted losers")
    func conflictsList() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try Transcript.storeC1(in: store)
            try store.put("plain", "{}")
            try store.replicate(replicatedJSON("live", ["2-aaaa", "1-1111"]))
            try store.replicate(replicatedJSON("live", ["2-bbbb", "1-1111"]))
            try store.replicate(replicatedJSON("tomb", ["2-aaaa", "1-1111"], deleted: true))
            try store.replicate(replicatedJSON("tomb", ["2-bbbb", "1-1111"], deleted: true))
            #expect(try store.conflicts().map(\.text) == [
                #"c1 2-aaaa conflicts=[] deleted_conflicts=["3-cccc"]"#,
                #"live 2-bbbb conflicts=["2-aaaa"] deleted_conflicts=[]"#,
                #"tomb 2-bbbb deleted conflicts=[] deleted_conflicts=["2-aaaa"]"#,
            ])
        }
    }
}
