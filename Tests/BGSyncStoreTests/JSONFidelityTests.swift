import BGSyncTestSupport
import BGSyncStore
import Testing

/// Bodies are stored and returned as text: numbers keep their form, strings their escapes,
/// objects their key order (DESIGN §3). Only `_` metadata is parsed and rewritten.
@Suite("JSON fidelity")
struct JSONFidelityTests {
    /// Body members (without braces) that a decode/encode round trip would change.
    static let bodies: [String] = [
        #""big":12345678901234567890"#,
        #""one":1.0"#,
        #""small":1e-7,"upper":1E+7,"neg":-1.5e-300"#,
        #""negzero":-0.0,"zero":0,"frac":0.10"#,
        #""e":"\u00e9","raw":"é""#,
        #""emoji":"\ud83d\ude00","rawEmoji":"😀""#,
        #""esc":"\"quoted\" \\ back\/slash \b\f\n\r\t \u0000 \u001f \u2028""#,
        #""z":1,"a":2,"m":{"y":[3,2,1],"b":{"z":null,"a":true}},"A":false"#,
        #""dup":1,"dup":2"#,
        #""nested":{"deep":[[[1.00],{"k":"v"}],[]],"x":{}},"arr":[1e2,-0,0.5]"#,
        #""key with \u00e9scape":1,"\ud83d\ude00":"key is an emoji""#,
    ]

    @Test("a body's numbers, escapes and key order come back exactly from document()", arguments: bodies)
    func documentKeepsText(members: String) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc", "{\(members)}")
            #expect(try store.document("doc") == #"{"_id":"doc","_rev":"\#(first)",\#(members)}"#)
            #expect(try store.document("doc", DocumentOptions(rev: first)) == #"{"_id":"doc","_rev":"\#(first)",\#(members)}"#)
            // And through an update, which copies nothing from the old body.
            let second = try store.put("doc", #"{"_rev":"\#(first)",\#(members),"v":2}"#)
            #expect(try store.document("doc") == #"{"_id":"doc","_rev":"\#(second)",\#(members),"v":2}"#)
        }
    }

    @Test("metadata members are taken out wherever they are, and the rest keeps its order", arguments: bodies)
    func metadataInterleaved(members: String) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let json = #"{"first":1,"_id":"doc",\#(members),"_conflicts":[],"last":"x"}"#
            let first = try store.write { try $0.put(json: json) }
            #expect(try store.document("doc") == #"{"_id":"doc","_rev":"\#(first)","first":1,\#(members),"last":"x"}"#)
        }
    }

    @Test("a replicated body comes back exactly from document() and openRevisions()", arguments: bodies)
    func replicatedKeepsText(members: String) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("doc", ["2-bbbb", "1-aaaa"], members: members))
            let expected = #"{"_id":"doc","_rev":"2-bbbb",\#(members),"_revisions":{"start":2,"ids":["bbbb","aaaa"]}}"#
            #expect(try store.document("doc", DocumentOptions(revs: true)) == expected)
            #expect(try store.openRevisions("doc", nil) == [.ok(expected)])
            #expect(try store.openRevisions("doc", revs("2-bbbb")) == [.ok(expected)])
            #expect(try store.openRevisions("doc", revs("1-aaaa"), latest: true) == [.ok(expected)])
        }
    }

    @Test("what openRevisions() gives, replicated to another store, reads back byte for byte", arguments: bodies)
    func secondHop(members: String) throws {
        try withTemporaryDirectory { dir in
            let source = try dir.openStore("source.sqlite")
            let target = try dir.openStore("target.sqlite")
            let first = try source.put("doc", "{\(members)}")
            guard case .ok(let json) = try #require(try source.openRevisions("doc", nil).first) else {
                Issue.record("no revision")
                return
            }
            try target.replicate(json)
            #expect(try target.openRevisions("doc", nil) == [.ok(json)])
            #expect(try target.document("doc") == #"{"_id":"doc","_rev":"\#(first)",\#(members)}"#)
        }
    }

    @Test("a tombstone's body members come back exactly")
    func tombstoneBody() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let members = #""when":1.0e3,"who":"\u00e9""#
            let first = try store.put("doc", #"{"a":1}"#)
            let tombstone = try store.put("doc", #"{"_rev":"\#(first)",\#(members),"_deleted":true}"#)
            #expect(try store.document("doc", DocumentOptions(rev: tombstone)) == #"{"_id":"doc","_rev":"\#(tombstone)",\#(members),"_deleted":true}"#)
        }
    }

    @Test("white space inside the object is kept as sent; around it and just inside its braces it is dropped")
    func whitespace() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc", "{ \"a\" : [ 1 , 2 ] ,\n\t\"b\":{ \"c\" : 1.0 } }")
            // CouchDB would print "a":[1,2],"b":{"c":1.0}; bgsync does not re-encode bodies.
            #expect(try store.document("doc") == "{\"_id\":\"doc\",\"_rev\":\"\(first)\",\"a\" : [ 1 , 2 ] ,\n\t\"b\":{ \"c\" : 1.0 }}")
        }
    }

    @Test("an empty body gives just _id and _rev")
    func emptyBody() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("doc", " { } ")
            #expect(try store.document("doc") == #"{"_id":"doc","_rev":"\#(first)"}"#)
        }
    }

    @Test("ids with characters JSON must escape are escaped in _id")
    func idEscaping() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let id = "quote\"back\\slash\nnewline"
            let first = try store.put(id, #"{"a":1}"#)
            #expect(try store.document(id) == #"{"_id":"quote\"back\\slash\nnewline","_rev":"\#(first)","a":1}"#)
        }
    }
}
