import BGSyncTestSupport
import BGSyncStore
import Testing

/// Attachments: stored once per digest, stubs, inline data, `atts_since`, garbage collection.
@Suite("Attachments")
struct AttachmentTests {
    static func blobCount(_ store: DocumentStore) throws -> Int {
        Int(try Subprocess.query(store.path, "SELECT count(DISTINCT digest) FROM attachment_chunks;")) ?? -1
    }

    static func attachment(_ name: String, _ base64: String, type: String = "text/plain") -> String {
        #""\#(name)":{"content_type":"\#(type)","data":"\#(base64)"}"#
    }

    static func stubJSON(_ name: String, type: String = "text/plain", revpos: Int, digest: String, length: Int) -> String {
        #""\#(name)":{"content_type":"\#(type)","revpos":\#(revpos),"digest":"\#(digest)","length":\#(length),"stub":true}"#
    }

    static func dataJSON(_ name: String, type: String = "text/plain", revpos: Int, digest: String, base64: String) -> String {
        #""\#(name)":{"content_type":"\#(type)","revpos":\#(revpos),"digest":"\#(digest)","data":"\#(base64)"}"#
    }

    static let helloDigest = "md5-XrY7u+Ae7tCTyyK7j1rNww=="  // MD5 of the 11 bytes "hello world"

    @Test("the transcript's inline attachment reads back as a stub of the same shape, with bgsync's digest")
    func transcriptStub() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("att", Transcript.attBody)
            // CouchDB gzips text/plain and digests the compressed bytes (md5-7mkg+nM0HN26sZkLN8KVSA==);
            // bgsync stores data unencoded and digests the data, as CouchDB does for types it does
            // not compress. Digests are opaque (PROTOCOL.md): only compared with the same server's.
            let expected = Transcript.attStub
                .replacingOccurrences(of: Transcript.attRev, with: first.description)
                .replacingOccurrences(of: "md5-7mkg+nM0HN26sZkLN8KVSA==", with: Self.helloDigest)
            #expect(try store.document("att") == expected)
            #expect(try store.read { try $0.attachmentData(digest: Self.helloDigest) } == Array("hello world".utf8))
        }
    }

    @Test("a replicated attachment keeps CouchDB's digest; stub and inline forms match the transcript exactly")
    func transcriptReplicated() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(Transcript.attReplicated)
            #expect(try store.document("att") == Transcript.attStub)
            #expect(try store.document("att", DocumentOptions(revs: true, attachments: .data)) == Transcript.attInline)
            // _bulk_get?revs=true&latest=true gave this document with a stub.
            let bulkGet = #"{"_id":"att","_rev":"1-8d83a10300234d538a6e63b4760a156a","_revisions":{"start":1,"ids":["8d83a10300234d538a6e63b4760a156a"]},"_attachments":{"hello.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-7mkg+nM0HN26sZkLN8KVSA==","length":11,"stub":true}}}"#
            #expect(try store.openRevisions("att", nil) == [.ok(bulkGet)])
            #expect(try store.openRevisions("att", nil, attachments: .data) == [.ok(Transcript.attInline)])
        }
    }

    @Test("the same data attached to two documents is stored once")
    func storedOncePerDigest() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("one", "{\"_attachments\":{\(Self.attachment("a.txt", "aGVsbG8gd29ybGQ="))}}")
            try store.put("two", "{\"_attachments\":{\(Self.attachment("b.bin", "aGVsbG8gd29ybGQ=", type: "application/octet-stream"))}}")
            try store.put("three", "{\"_attachments\":{\(Self.attachment("c.txt", "b3RoZXIgZGF0YQ=="))}}")
            #expect(try Self.blobCount(store) == 2)
            #expect(try Subprocess.query(store.path, "SELECT count(*) FROM rev_attachments WHERE digest = '\(Self.helloDigest)';") == "2")
            #expect(try store.document("two").contains(Self.stubJSON("b.bin", type: "application/octet-stream", revpos: 1, digest: Self.helloDigest, length: 11)))
        }
    }

    @Test("a stub in an update keeps the attachment's revpos and digest; new data takes the new revpos")
    func stubKeepsRevpos() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("d", "{\"_attachments\":{\(Self.attachment("a.txt", "QQ=="))}}")
            let second = try store.put("d", #"{"_rev":"\#(first)","v":2,"_attachments":{"a.txt":{"stub":true},"#
                + Self.attachment("b.txt", "Qg==") + "}}")
            #expect(try store.document("d") == #"{"_id":"d","_rev":"\#(second)","v":2,"_attachments":{"#
                + Self.stubJSON("a.txt", revpos: 1, digest: "md5-f8VicOenD6gaWTW3Lqy+KQ==", length: 1) + ","
                + Self.stubJSON("b.txt", revpos: 2, digest: "md5-nV7WeP5XvMphAUCVevq1cQ==", length: 1) + "}}")
            // A stub that repeats the metadata it was given is accepted too.
            let third = try store.put("d", #"{"_rev":"\#(second)","_attachments":{"#
                + Self.stubJSON("a.txt", revpos: 1, digest: "md5-f8VicOenD6gaWTW3Lqy+KQ==", length: 1) + ","
                + Self.attachment("b.txt", "Qw==") + "}}")
            #expect(try store.document("d") == #"{"_id":"d","_rev":"\#(third)","_attachments":{"#
                + Self.stubJSON("a.txt", revpos: 1, digest: "md5-f8VicOenD6gaWTW3Lqy+KQ==", length: 1) + ","
                + Self.stubJSON("b.txt", revpos: 3, digest: "md5-DWH4NwytHUEvgLhNFD4SVw==", length: 1) + "}}")
            #expect(try Self.blobCount(store) == 2)  // B's data went with revision 2
        }
    }

    @Test("data carried over by a stub survives the update that demotes its old leaf")
    func stubKeepsData() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("d", "{\"_attachments\":{\(Self.attachment("a.txt", "QQ=="))}}")
            let second = try store.put("d", #"{"_rev":"\#(first)","v":2,"_attachments":{"a.txt":{"stub":true}}}"#)
            #expect(try store.read { try $0.attachmentData(digest: "md5-f8VicOenD6gaWTW3Lqy+KQ==") } == Array("A".utf8))
            #expect(try store.document("d", DocumentOptions(attachments: .data)) == #"{"_id":"d","_rev":"\#(second)","v":2,"_attachments":{"#
                + Self.dataJSON("a.txt", revpos: 1, digest: "md5-f8VicOenD6gaWTW3Lqy+KQ==", base64: "QQ==") + "}}")
            #expect(try Self.blobCount(store) == 1)
            // The same through a replicated child revision that sends a stub.
            try store.replicate(replicatedJSON("d", ["3-cccc", second.description, first.description],
                                               members: #""_attachments":{"a.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-f8VicOenD6gaWTW3Lqy+KQ==","length":1,"stub":true}}"#))
            #expect(try store.read { try $0.attachmentData(digest: "md5-f8VicOenD6gaWTW3Lqy+KQ==") } == Array("A".utf8))
            #expect(try store.document("d", DocumentOptions(attachments: .data)).contains(#""data":"QQ==""#))
        }
    }

    static let unmatchedStubs: [String] = [
        #"{"_attachments":{"nothing.txt":{"stub":true}}}"#,
        #"{"_attachments":{"a.txt":{"stub":true,"digest":"md5-wrongwrongwrongwrongww=="}}}"#,
    ]

    @Test("a stub that matches no attachment of the base revision is missing_stub; nothing is written",
          arguments: unmatchedStubs)
    func missingStub(json: String) throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            // On a new document.
            let created = #expect(throws: StoreError.self) { try store.put("new", json) }
            #expect(created?.code == .missingStub)
            #expect(created?.couchError == "missing_stub")
            // On an update.
            let first = try store.put("d", "{\"_attachments\":{\(Self.attachment("a.txt", "QQ=="))}}")
            let seq = try store.updateSeq()
            let update = json.replacingOccurrences(of: "{\"_attachments\"", with: "{\"_rev\":\"\(first)\",\"_attachments\"")
            let error = #expect(throws: StoreError.self) { try store.put("d", update) }
            #expect(error?.code == .missingStub)
            #expect(try store.updateSeq() == seq)
            #expect(try store.tree("d")?.leafTexts == [first.description])
            #expect(try store.tree("new") == nil)
        }
    }

    @Test("a replicated stub must name data the store has")
    func replicatedStubs() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let unknown = replicatedJSON("d", ["2-bbbb", "1-aaaa"], members: #""_attachments":{"x.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-f8VicOenD6gaWTW3Lqy+KQ==","length":1,"stub":true}}"#)
            let error = #expect(throws: StoreError.self) { try store.replicate(unknown) }
            #expect(error?.code == .missingStub)
            #expect(try store.updateSeq() == 0)
            // Once the data is here (from any document), the stub is accepted with its revpos.
            try store.replicate(Transcript.attReplicated)
            let child = replicatedJSON("att", ["2-bbbb", Transcript.attRev], members: #""v":2,"_attachments":{"hello.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-7mkg+nM0HN26sZkLN8KVSA==","length":11,"stub":true}}"#)
            try store.replicate(child)
            #expect(try store.document("att") == #"{"_id":"att","_rev":"2-bbbb","v":2,"_attachments":{"hello.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-7mkg+nM0HN26sZkLN8KVSA==","length":11,"stub":true}}}"#)
            #expect(try Self.blobCount(store) == 1)
        }
    }

    @Test("attachments=true inlines every attachment's data")
    func inlineAll() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let first = try store.put("d", "{\"_attachments\":{\(Self.attachment("a.txt", "QQ==")),\(Self.attachment("b.txt", "Qg=="))}}")
            #expect(try store.document("d", DocumentOptions(attachments: .data)) == #"{"_id":"d","_rev":"\#(first)","_attachments":{"#
                + Self.dataJSON("a.txt", revpos: 1, digest: "md5-f8VicOenD6gaWTW3Lqy+KQ==", base64: "QQ==") + ","
                + Self.dataJSON("b.txt", revpos: 1, digest: "md5-nV7WeP5XvMphAUCVevq1cQ==", base64: "Qg==") + "}}")
        }
    }

    @Test("atts_since inlines only attachments changed after the newest known ancestor")
    func attsSince() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let r1 = try store.put("d", "{\"_attachments\":{\(Self.attachment("a.txt", "QQ=="))}}")
            let r2 = try store.put("d", #"{"_rev":"\#(r1)","_attachments":{"a.txt":{"stub":true},\#(Self.attachment("b.txt", "Qg=="))}}"#)
            let r3 = try store.put("d", #"{"_rev":"\#(r2)","_attachments":{"a.txt":{"stub":true},"b.txt":{"stub":true},\#(Self.attachment("c.txt", "Qw=="))}}"#)
            let a = (stub: Self.stubJSON("a.txt", revpos: 1, digest: "md5-f8VicOenD6gaWTW3Lqy+KQ==", length: 1),
                     data: Self.dataJSON("a.txt", revpos: 1, digest: "md5-f8VicOenD6gaWTW3Lqy+KQ==", base64: "QQ=="))
            let b = (stub: Self.stubJSON("b.txt", revpos: 2, digest: "md5-nV7WeP5XvMphAUCVevq1cQ==", length: 1),
                     data: Self.dataJSON("b.txt", revpos: 2, digest: "md5-nV7WeP5XvMphAUCVevq1cQ==", base64: "Qg=="))
            let c = (stub: Self.stubJSON("c.txt", revpos: 3, digest: "md5-DWH4NwytHUEvgLhNFD4SVw==", length: 1),
                     data: Self.dataJSON("c.txt", revpos: 3, digest: "md5-DWH4NwytHUEvgLhNFD4SVw==", base64: "Qw=="))
            func expected(_ parts: [String]) -> String {
                #"{"_id":"d","_rev":"\#(r3)","_attachments":{"# + parts.joined(separator: ",") + "}}"
            }
            let cases: [([RevisionID], [String])] = [
                ([r1], [a.stub, b.data, c.data]),
                ([r2], [a.stub, b.stub, c.data]),
                ([r3], [a.stub, b.stub, c.stub]),
                ([r1, r2], [a.stub, b.stub, c.data]),        // the newest known ancestor counts
                ([rev("9-unknown")], [a.data, b.data, c.data]),  // nothing known: everything
                ([], [a.data, b.data, c.data]),
            ]
            for (since, parts) in cases {
                #expect(try store.document("d", DocumentOptions(attachments: .since(since))) == expected(parts), "since \(since)")
            }
            let withRevisions = #"{"_id":"d","_rev":"\#(r3)","_revisions":{"start":3,"ids":["\#(r3.hash)","\#(r2.hash)","\#(r1.hash)"]},"_attachments":{"# + [a.stub, b.data, c.data].joined(separator: ",") + "}}"
            #expect(try store.openRevisions("d", nil, attachments: .since([r1])) == [.ok(withRevisions)])
        }
    }

    @Test("attachment data no leaf refers to any more is removed")
    func garbageCollection() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let one = try store.put("one", "{\"_attachments\":{\(Self.attachment("a.txt", "aGVsbG8gd29ybGQ="))}}")
            let two = try store.put("two", "{\"_attachments\":{\(Self.attachment("b.txt", "aGVsbG8gd29ybGQ="))}}")
            #expect(try Self.blobCount(store) == 1)
            // An update without _attachments drops them (as in CouchDB); "two" still needs the data.
            try store.put("one", #"{"_rev":"\#(one)","v":2}"#)
            #expect(try Self.blobCount(store) == 1)
            #expect(try store.read { try $0.attachmentData(digest: Self.helloDigest) } == Array("hello world".utf8))
            // A tombstone has no attachments.
            try store.delete("two", rev: two)
            #expect(try Self.blobCount(store) == 0)
            #expect(try store.read { try $0.attachmentData(digest: Self.helloDigest) } == nil)
            #expect(try Subprocess.query(store.path, "SELECT count(*) FROM rev_attachments;") == "0")
        }
    }

    @Test("a losing leaf keeps its attachment's data alive")
    func conflictKeepsData() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.replicate(replicatedJSON("d", ["2-aaaa", "1-1111"], members: "\"_attachments\":{\(Self.attachment("a.txt", "QQ=="))}"))
            try store.replicate(replicatedJSON("d", ["2-bbbb", "1-1111"], members: #""v":"b""#))
            #expect(try store.document("d") == #"{"_id":"d","_rev":"2-bbbb","v":"b"}"#)
            #expect(try Self.blobCount(store) == 1)
            #expect(try store.document("d", DocumentOptions(rev: rev("2-aaaa"))).contains(Self.stubJSON("a.txt", revpos: 2, digest: "md5-f8VicOenD6gaWTW3Lqy+KQ==", length: 1)))
            // Resolving the conflict by deleting the loser frees the data.
            try store.delete("d", rev: rev("2-aaaa"))
            #expect(try Self.blobCount(store) == 0)
        }
    }
}
