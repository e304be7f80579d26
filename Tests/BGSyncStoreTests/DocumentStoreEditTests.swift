import BGSyncTestSupport
import BGSyncStore
import Foundation
import Testing

/// Normal edits (`new_edits: true`): `PUT /db/id` and `DELETE /db/id` semantics.
@Suite("Document edits")
struct DocumentStoreEditTests {
    static func isCouchHash(_ rev: RevisionID) -> Bool {
        rev.hash.utf8.count == 32 && rev.hash.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    @Test("creating a document gives a 1- revision with a 32-character lowercase hex hash")
    func create() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc1", #"{"a": 1}"#)
            #expect(first.generation == 1)
            #expect(Self.isCouchHash(first))
            #expect(try store.document("doc1") == #"{"_id":"doc1","_rev":"\#(first)","a": 1}"#)
            #expect(try store.info().documentCount == 1)
            #expect(try store.updateSeq() == 1)
        }
    }

    @Test("the id may come from the body's _id; a different _id than the one given is refused")
    func idFromBody() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.write { try $0.put(json: #"{"_id":"fromBody","a":1}"#) }
            #expect(try store.document("fromBody") == #"{"_id":"fromBody","_rev":"\#(first)","a":1}"#)
            let error = #expect(throws: StoreError.self) { try store.put("other", #"{"_id":"fromBody2"}"#) }
            #expect(error?.code == .invalidDocument)
            let noID = #expect(throws: StoreError.self) { try store.write { try $0.put(json: #"{"a":1}"#) } }
            #expect(noID?.code == .invalidDocument)
            #expect(try store.updateSeq() == 1)
        }
    }

    @Test("an update names its base revision and makes the next generation")
    func update() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc1", #"{"a":1}"#)
            let second = try store.put("doc1", #"{"_rev":"\#(first)","a":2}"#)
            #expect(second.generation == 2)
            #expect(Self.isCouchHash(second))
            #expect(try store.document("doc1", DocumentOptions(revs: true))
                == #"{"_id":"doc1","_rev":"\#(second)","a":2,"_revisions":{"start":2,"ids":["\#(second.hash)","\#(first.hash)"]}}"#)
            #expect(try store.tree("doc1")?.leaves.count == 1)
            #expect(try store.updateSeq() == 2)
        }
    }

    @Test("identical edits of the same parent give the same revision id in any store")
    func deterministicRevisions() throws {
        try withTemporaryDirectory { dir in
            let one = try dir.openStore("one.sqlite")
            let two = try dir.openStore("two.sqlite")
            let a1 = try one.put("d", #"{"x":1}"#)
            let a2 = try two.put("d", #"{"x":1}"#)
            #expect(a1 == a2)
            #expect(try one.put("d", #"{"_rev":"\#(a1)","x":2}"#) == (try two.put("d", #"{"_rev":"\#(a2)","x":2}"#)))
            #expect(try one.put("f", #"{"x":2}"#) != a1)
        }
    }

    @Test("an update on a stale revision is a conflict and changes nothing")
    func staleRevision() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc1", #"{"a":1}"#)
            let second = try store.put("doc1", #"{"_rev":"\#(first)","a":2}"#)
            let seq = try store.updateSeq()
            let error = #expect(throws: StoreError.self) { try store.put("doc1", #"{"_rev":"\#(first)","a":3}"#) }
            #expect(error?.code == .conflict)
            #expect(error?.couchError == "conflict")
            #expect(error?.reason == "Document update conflict.")
            #expect(try store.updateSeq() == seq)
            #expect(try store.document("doc1") == #"{"_id":"doc1","_rev":"\#(second)","a":2}"#)
        }
    }

    @Test("a base revision the document never had is a conflict",
          arguments: ["1-00000000000000000000000000000000", "2-aaaa", "7-ffff"])
    func unknownBase(base: String) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc1", #"{"a":1}"#)
            let error = #expect(throws: StoreError.self) { try store.put("doc1", #"{"_rev":"\#(base)","a":2}"#) }
            #expect(error?.code == .conflict)
            #expect(try store.updateSeq() == 1)
            #expect(try store.tree("doc1")?.leaves.map(\.rev) == [first])
        }
    }

    @Test("writing an existing document without _rev is a conflict (409)")
    func missingBase() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("doc1", #"{"a":1}"#)
            let error = #expect(throws: StoreError.self) { try store.put("doc1", #"{"a":2}"#) }
            #expect(error?.code == .conflict)
            #expect(try store.updateSeq() == 1)
        }
    }

    @Test("a _rev on a document that does not exist is a conflict")
    func revOnMissingDocument() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let error = #expect(throws: StoreError.self) { try store.put("nope", #"{"_rev":"1-abc","a":1}"#) }
            #expect(error?.code == .conflict)
            #expect(try store.updateSeq() == 0)
            #expect(try store.tree("nope") == nil)
        }
    }

    @Test("delete adds a tombstone: GET says not_found/deleted, ?rev= still returns it")
    func delete() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc1", #"{"a":1}"#)
            let second = try store.put("doc1", #"{"_rev":"\#(first)","a":2}"#)
            let tombstone = try store.delete("doc1", rev: second)
            #expect(tombstone.generation == 3)
            let error = #expect(throws: StoreError.self) { try store.document("doc1") }
            #expect(error?.code == .notFound)
            #expect(error?.reason == "deleted")
            #expect(try store.document("doc1", DocumentOptions(rev: tombstone)) == #"{"_id":"doc1","_rev":"\#(tombstone)","_deleted":true}"#)
            let info = try store.info()
            #expect(info.documentCount == 0)
            #expect(info.deletedDocumentCount == 1)
            #expect(info.updateSeq == 3)
            #expect(try store.read { try $0.allDocuments() }.isEmpty)
            #expect(try store.read { try $0.allDocuments(includeDeleted: true) }.map(\.text) == ["doc1 \(tombstone) deleted"])
        }
    }

    @Test("delete without a revision deletes the winner; deleting again is not_found/deleted")
    func deleteWinner() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc1", #"{"a":1}"#)
            let tombstone = try store.delete("doc1")
            #expect(try store.tree("doc1")?.parent(of: tombstone) == first)
            let again = #expect(throws: StoreError.self) { try store.delete("doc1") }
            #expect(again?.code == .notFound)
            #expect(again?.reason == "deleted")
            let missing = #expect(throws: StoreError.self) { try store.delete("nothing") }
            #expect(missing?.code == .notFound)
            #expect(missing?.reason == "missing")
            let stale = #expect(throws: StoreError.self) { try store.delete("doc1", rev: first) }
            #expect(stale?.code == .conflict)
            #expect(try store.updateSeq() == 2)
        }
    }

    @Test("a body with _deleted: true deletes like DELETE and keeps the body's members")
    func deleteByPut() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc1", #"{"a":1}"#)
            let tombstone = try store.put("doc1", #"{"_rev":"\#(first)","_deleted":true,"why":"gone"}"#)
            #expect(try store.tree("doc1")?.leafTexts == ["\(tombstone) deleted"])
            #expect(try store.document("doc1", DocumentOptions(rev: tombstone)) == #"{"_id":"doc1","_rev":"\#(tombstone)","why":"gone","_deleted":true}"#)
        }
    }

    @Test("a document read by a missing revision or id is not_found/missing")
    func notFound() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("doc1", #"{"a":1}"#)
            for (id, options) in [("nothing", DocumentOptions()), ("doc1", DocumentOptions(rev: rev("1-abc")))] {
                let error = #expect(throws: StoreError.self) { try store.document(id, options) }
                #expect(error?.code == .notFound)
                #expect(error?.reason == "missing")
            }
        }
    }

    @Test("put without _rev on a deleted document extends the tombstone; no deleted conflict appears")
    func resurrection() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc1", #"{"a":1}"#)
            let tombstone = try store.delete("doc1")
            let revived = try store.put("doc1", #"{"a":3}"#)
            #expect(revived.generation == tombstone.generation + 1)
            let tree = try #require(try store.tree("doc1"))
            #expect(tree.leafTexts == [revived.description])
            #expect(tree.ancestry(of: revived) == [revived, tombstone, first])
            #expect(try store.fullDocument("doc1")
                == #"{"_id":"doc1","_rev":"\#(revived)","a":3,"_revisions":{"start":3,"ids":["\#(revived.hash)","\#(tombstone.hash)","\#(first.hash)"]}}"#)
            #expect(try store.conflicts().isEmpty)
            #expect(try store.info().documentCount == 1)
            #expect(try store.info().deletedDocumentCount == 0)
        }
    }

    @Test("a deleted document can also be revived by naming its tombstone as _rev")
    func resurrectionWithRev() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("doc1", #"{"a":1}"#)
            let tombstone = try store.delete("doc1")
            let revived = try store.put("doc1", #"{"_rev":"\#(tombstone)","a":3}"#)
            #expect(try store.tree("doc1")?.leafTexts == [revived.description])
            #expect(revived == rev("3-" + revived.hash))
        }
    }

    @Test("a losing conflict leaf can be updated by its revision")
    func updateLosingLeaf() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("d", ["2-aaaa", "1-1111"], members: #""v":"a""#))
            try store.replicate(replicatedJSON("d", ["2-bbbb", "1-1111"], members: #""v":"b""#))
            #expect(try store.tree("d")?.winner?.rev == rev("2-bbbb"))
            let next = try store.put("d", #"{"_rev":"2-aaaa","v":"a2"}"#)
            #expect(next.generation == 3)
            let tree = try #require(try store.tree("d"))
            #expect(tree.parent(of: next) == rev("2-aaaa"))
            #expect(tree.leaves.map(\.rev) == [next, rev("2-bbbb")])
            #expect(try store.fullDocument("d")
                == #"{"_id":"d","_rev":"\#(next)","v":"a2","_revisions":{"start":3,"ids":["\#(next.hash)","aaaa","1111"]},"_conflicts":["2-bbbb"]}"#)
        }
    }

    @Test("deleting a conflict leaf makes it a deleted conflict")
    func deleteConflictLeaf() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("d", ["2-aaaa", "1-1111"], members: #""v":"a""#))
            try store.replicate(replicatedJSON("d", ["2-bbbb", "1-1111"], members: #""v":"b""#))
            #expect(try store.fullDocument("d") == #"{"_id":"d","_rev":"2-bbbb","v":"b","_revisions":{"start":2,"ids":["bbbb","1111"]},"_conflicts":["2-aaaa"]}"#)
            let tombstone = try store.delete("d", rev: rev("2-aaaa"))
            #expect(tombstone.generation == 3)
            // 3-… is deleted, so the live 2-bbbb still wins.
            #expect(try store.fullDocument("d") == #"{"_id":"d","_rev":"2-bbbb","v":"b","_revisions":{"start":2,"ids":["bbbb","1111"]},"_deleted_conflicts":["\#(tombstone)"]}"#)
            #expect(try store.conflicts().map(\.text) == ["d 2-bbbb conflicts=[] deleted_conflicts=[\"\(tombstone)\"]"])
        }
    }

    @Test("invalid document ids are refused", arguments: ["_foo", "", "_design", "_designer/x", "_local", "_local/x", "_changes"])
    func invalidIDs(id: String) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let error = #expect(throws: StoreError.self) { try store.put(id, #"{"a":1}"#) }
            #expect(error?.code == .invalidDocument)
            #expect(try store.updateSeq() == 0)
        }
    }

    @Test("design documents and ids with slashes or unicode are accepted", arguments: ["_design/app", "a/b", "caf\u{e9}", "with space", "😀"])
    func validIDs(id: String) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put(id, #"{"a":1}"#)
            #expect(try store.document(id) == "{\"_id\":\(JSONString.quoted(id)),\"_rev\":\"\(first)\",\"a\":1}")
        }
    }

    static let malformedBodies: [String] = [
        #"{"_revisions":{"start":1,"ids":["a","b"]}}"#,          // start below the number of ids
        #"{"_revisions":{"start":2,"ids":["a",1]}}"#,            // a non-string id
        #"{"_revisions":{"start":2,"ids":[]}}"#,                 // no ids
        #"{"_revisions":{"ids":["a"]}}"#,                        // no start
        #"{"_revisions":{"start":"2","ids":["a","b"]}}"#,        // start is not a number
        #"{"_revisions":{"start":2.0,"ids":["a","b"]}}"#,        // start is not an integer
        #"{"_revisions":["a"]}"#,                                // not an object
        #"{"_revisions":{"start":2,"ids":["a b","c"]}}"#,        // a malformed hash
        #"{"_rev":"3-cccc","_revisions":{"start":2,"ids":["bbbb","aaaa"]}}"#,  // _rev is not _revisions' newest
        #"{"_revisions":{"start":2,"ids":["bbbb","aaaa"]},"_rev":"2-aaaa"}"#,  // the same, other order
        #"{"_rev":"abc"}"#,                                      // malformed _rev
        #"{"_rev":1}"#,                                          // non-string _rev
        #"{"_id":5}"#,                                           // non-string _id
        #"{"_deleted":"yes"}"#,                                  // non-boolean _deleted
        #"{"_foo":1}"#,                                          // unknown metadata member
        #"{"a":1,"_bar":{}}"#,                                   // unknown metadata member after body
        #"{"_attachments":[]}"#,                                 // attachments not an object
        #"{"_attachments":{"a":{"content_type":"text/plain"}}}"#,           // neither data nor stub
        #"{"_attachments":{"a":{"content_type":"text/plain","data":"!!"}}}"#,  // data not base64
        #"[1,2]"#, #"{"#, #"{"a":1} x"#, #"{"a":01}"#, #""#, #"null"#, "{\"a\":\"\u{01}\"}",
    ]

    @Test("malformed bodies and metadata are bad requests and leave the database unchanged",
          arguments: malformedBodies, [true, false])
    func malformed(json: String, newEdits: Bool) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc1", #"{"a":1}"#)
            let before = try store.info()
            let error = #expect(throws: StoreError.self) {
                try store.write { try $0.put(id: "doc1", json: json, newEdits: newEdits) }
            }
            #expect(error?.code == .invalidDocument)  // bad_request (== .invalidRevision)
            #expect(error?.couchError == "bad_request")
            #expect(try store.info() == before)
            #expect(try store.tree("doc1")?.nodes.keys.sorted() == [first])
            #expect(try store.document("doc1") == #"{"_id":"doc1","_rev":"\#(first)","a":1}"#)
        }
    }

    @Test("_conflicts, _deleted_conflicts, _revs_info and _local_seq are accepted and ignored")
    func ignoredMembers() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc1", #"{"_conflicts":["1-abc"],"a":1,"_deleted_conflicts":["2-x"],"_revs_info":[],"_local_seq":7}"#)
            #expect(try store.document("doc1") == #"{"_id":"doc1","_rev":"\#(first)","a":1}"#)
        }
    }

    @Test("a failing write rolls back the whole transaction")
    func transactionRollback() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("keep", #"{"a":1}"#)
            #expect(throws: StoreError.self) {
                try store.write { tx in
                    try tx.put(id: "lost", json: #"{"a":1}"#)
                    try tx.put(id: "keep", json: #"{"a":2}"#)  // conflict: no _rev
                }
            }
            #expect(try store.tree("lost") == nil)
            #expect(try store.updateSeq() == 1)
            #expect(try store.changes().map(\.id) == ["keep"])
        }
    }

    @Test("writes in one transaction see each other")
    func transactionSeesItsWrites() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let (first, second) = try store.write { tx in
                let first = try tx.put(id: "d", json: #"{"n":1}"#)
                let second = try tx.put(id: "d", json: #"{"_rev":"\#(first)","n":2}"#)
                #expect(try tx.reader.document("d") == #"{"_id":"d","_rev":"\#(second)","n":2}"#)
                return (first, second)
            }
            #expect(try store.tree("d")?.ancestry(of: second) == [second, first])
            #expect(try store.updateSeq() == 2)
        }
    }
}
