import AsyncHTTPClient
import BGSyncStore
import BGSyncTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// An HTTP answer as the tests read it.
struct FixtureReply {
    var status: Int
    var reasonPhrase: String
    var headers: HTTPHeaders
    var body: String

    var json: JSONValue? { try? JSONValue.parse(body) }

    func header(_ name: String) -> String? { headers.first(name: name) }

    /// The body's JSON with object keys sorted, for comparisons where CouchDB's member order is
    /// arbitrary (Erlang maps).
    var canonical: String? { json?.canonicalSerialized }
}

/// Talks to fixture servers with AsyncHTTPClient.
enum FixtureHTTP {
    static func send(_ method: HTTPMethod, _ url: String, body: String? = nil, contentType: String = "application/json",
                     headers: [(String, String)] = [], timeout: Int64 = 10) async throws -> FixtureReply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout))
        let buffer = try await response.body.collect(upTo: 16 << 20)
        return FixtureReply(status: Int(response.status.code), reasonPhrase: response.status.reasonPhrase,
                            headers: response.headers, body: String(buffer: buffer))
    }

    static func get(_ url: String, headers: [(String, String)] = []) async throws -> FixtureReply {
        try await send(.GET, url, headers: headers)
    }

    static func put(_ url: String, _ body: String, headers: [(String, String)] = []) async throws -> FixtureReply {
        try await send(.PUT, url, body: body, headers: headers)
    }

    static func post(_ url: String, _ body: String, headers: [(String, String)] = []) async throws -> FixtureReply {
        try await send(.POST, url, body: body, headers: headers)
    }

    static func basic(_ user: String, _ password: String) -> (String, String) {
        ("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
    }
}

/// Revisions created while replaying the transcript's writes (``FixtureTranscriptSeed/replay(on:)``).
struct FixtureTranscriptSeed {
    var doc1Revs: [String]
    var attRev: String
    var attHash: String { String(attRev.split(separator: "-")[1]) }
}

extension FixtureTranscriptSeed {
    /// Replays the writes of `couchdb-3.4.3-transcripts.md` on `transcript_db`.
    static func replay(on server: FixtureServer) async throws -> FixtureTranscriptSeed {
        let db = server.url("transcript_db")
        #expect(try await FixtureHTTP.send(.PUT, db).status == 201)
        let first = try await FixtureHTTP.put(db + "/doc1", #"{"a": 1}"#)
        let rev1 = try #require(first.json?["rev"]?.stringValue)
        let second = try await FixtureHTTP.put(db + "/doc1", #"{"_rev": "\#(rev1)", "a": 2}"#)
        let rev2 = try #require(second.json?["rev"]?.stringValue)
        let bulk = try await FixtureHTTP.post(db + "/_bulk_docs", FixtureTranscriptSeed.bulkC1)
        #expect(bulk.status == 201 && bulk.body == "[]\n")
        let deleted = try await FixtureHTTP.send(.DELETE, db + "/doc1?rev=" + rev2)
        let rev3 = try #require(deleted.json?["rev"]?.stringValue)
        let att = try await FixtureHTTP.put(db + "/att", #"{"_attachments": {"hello.txt": {"content_type": "text/plain", "data": "aGVsbG8gd29ybGQ="}}}"#)
        let attRev = try #require(att.json?["rev"]?.stringValue)
        return FixtureTranscriptSeed(doc1Revs: [rev1, rev2, rev3], attRev: attRev)
    }

    /// The transcript's `_bulk_docs` body: three revisions of `c1`.
    static let bulkC1 = #"{"new_edits": false, "docs": [{"_id": "c1", "_rev": "2-aaaa", "_revisions": {"start": 2, "ids": ["aaaa", "1111"]}, "v": "a"}, {"_id": "c1", "_rev": "2-bbbb", "_revisions": {"start": 2, "ids": ["bbbb", "1111"]}, "v": "b"}, {"_id": "c1", "_rev": "3-cccc", "_deleted": true, "_revisions": {"start": 3, "ids": ["cccc", "bbbb", "1111"]}}]}"#
}

@Suite("FixtureServer")
struct FixtureServerTests {
    // MARK: Server and databases

    @Test("GET / answers the welcome with a stable uuid and CouchDB's headers")
    func welcome() async throws {
        try await withFixtureServer { server in
            let reply = try await FixtureHTTP.get(server.baseURL + "/")
            #expect(reply.status == 200)
            #expect(reply.header("Content-Type") == "application/json")
            #expect(reply.header("Server") == "CouchDB/3.4.3 (Erlang OTP/25)")
            let json = try #require(reply.json)
            #expect(json["couchdb"] == "Welcome")
            #expect(json["version"] == "3.4.3")
            #expect(json["vendor"]?["name"] == "The Apache Software Foundation")
            #expect(json["uuid"]?.stringValue == server.uuid)
            #expect(server.uuid.count == 32)
            #expect(try await FixtureHTTP.get(server.baseURL).json?["uuid"]?.stringValue == server.uuid)
            #expect(server.port > 0 && server.baseURL == "http://127.0.0.1:\(server.port)")
        }
    }

    @Test("database create, info, conflict on re-create, delete and 404 as CouchDB 3.4.3")
    func databaseLifecycle() async throws {
        try await withFixtureServer { server in
            let db = server.url("transcript_db")
            let created = try await FixtureHTTP.send(.PUT, db)
            #expect(created.status == 201 && created.body == "{\"ok\":true}\n")
            #expect(created.header("Location") == "http://127.0.0.1:\(server.port)/transcript_db")
            let again = try await FixtureHTTP.send(.PUT, db)
            #expect(again.status == 412)
            #expect(again.body == #"{"error":"file_exists","reason":"The database could not be created, the file already exists."}"# + "\n")

            let info = try await FixtureHTTP.get(db)
            #expect(info.status == 200)
            let object = try #require(info.json?.objectValue)
            #expect(object.keys == ["instance_start_time", "db_name", "purge_seq", "update_seq", "sizes", "props",
                                    "doc_del_count", "doc_count", "disk_format_version", "compact_running", "cluster"])
            #expect(object["db_name"] == "transcript_db")
            #expect(object["doc_count"] == 0 && object["doc_del_count"] == 0)
            #expect(object["update_seq"]?.stringValue?.hasPrefix("0-g1AAAA") == true)

            let missing = try await FixtureHTTP.get(server.url("no_such_db"))
            #expect(missing.status == 404)
            #expect(missing.body == #"{"error":"not_found","reason":"Database does not exist."}"# + "\n")

            #expect(try await FixtureHTTP.send(.PUT, server.url("Bad")).json?["error"] == "illegal_database_name")
            #expect(try await FixtureHTTP.send(.DELETE, db).status == 200)
            #expect(try await FixtureHTTP.get(db).status == 404)
            #expect(server.database("transcript_db") == nil)
            #expect(try await FixtureHTTP.send(.DELETE, db).status == 404)
        }
    }

    @Test("documents: create, update without _rev is 409, update with _rev, ETag, counts")
    func documentWrites() async throws {
        try await withFixtureServer { server in
            let db = server.url("transcript_db")
            _ = try await FixtureHTTP.send(.PUT, db)
            let created = try await FixtureHTTP.put(db + "/doc1", #"{"a": 1}"#)
            #expect(created.status == 201)
            let rev1 = try #require(created.json?["rev"]?.stringValue)
            #expect(rev1.hasPrefix("1-") && rev1.count == 34)
            #expect(created.body == "{\"ok\":true,\"id\":\"doc1\",\"rev\":\"\(rev1)\"}\n")
            #expect(created.header("ETag") == "\"\(rev1)\"")
            #expect(created.header("Location") == "http://127.0.0.1:\(server.port)/transcript_db/doc1")

            let conflict = try await FixtureHTTP.put(db + "/doc1", #"{"a": 2}"#)
            #expect(conflict.status == 409)
            #expect(conflict.body == #"{"error":"conflict","reason":"Document update conflict."}"# + "\n")

            let updated = try await FixtureHTTP.put(db + "/doc1", #"{"_rev": "\#(rev1)", "a": 2}"#)
            #expect(updated.status == 201)
            let rev2 = try #require(updated.json?["rev"]?.stringValue)
            #expect(rev2.hasPrefix("2-"))
            let read = try await FixtureHTTP.get(db + "/doc1")
            #expect(read.body == "{\"_id\":\"doc1\",\"_rev\":\"\(rev2)\",\"a\": 2}\n" || read.json == ["_id": "doc1", "_rev": .string(rev2), "a": 2])
            #expect(read.header("ETag") == "\"\(rev2)\"")
            #expect(try await FixtureHTTP.get(db).json?["doc_count"] == 1)
            let replicated = try await FixtureHTTP.put(db + "/doc1?new_edits=false", #"{"_rev":"3-ffff","_revisions":{"start":3,"ids":["ffff","eeee","dddd"]},"a":3}"#)
            #expect(replicated.status == 201 && replicated.json?["rev"] == "3-ffff")
            #expect(try await FixtureHTTP.get(db + "/doc1?conflicts=true").json?["_conflicts"] == .array([.string(rev2)]))
            let store = try #require(server.database("transcript_db"))
            #expect(try store.read { try $0.info().documentCount } == 1)
        }
    }

    // MARK: Revision trees

    @Test("_bulk_docs new_edits:false: 400 for a doc without _rev, 201 [] on success")
    func bulkDocsNewEditsFalse() async throws {
        try await withFixtureServer { server in
            let db = server.url("transcript_db")
            _ = try await FixtureHTTP.send(.PUT, db)
            let bad = try await FixtureHTTP.post(db + "/_bulk_docs", String(FixtureTranscriptSeed.bulkC1.dropLast(2)) + #", {"_id": "bad"}]}"#)
            #expect(bad.status == 400)
            #expect(bad.body == #"{"error":"bad_request","reason":"When `new_edits: false`, the document needs `_rev` or `_revisions` specified"}"# + "\n")
            #expect(try await FixtureHTTP.get(db + "/c1").status == 404)

            let good = try await FixtureHTTP.post(db + "/_bulk_docs", FixtureTranscriptSeed.bulkC1)
            #expect(good.status == 201)
            #expect(good.body == "[]\n")
            let again = try await FixtureHTTP.post(db + "/_bulk_docs", FixtureTranscriptSeed.bulkC1)
            #expect(again.status == 201 && again.body == "[]\n")

            let edits = try await FixtureHTTP.post(db + "/_bulk_docs", #"{"docs": [{"_id": "n1", "x": 1}, {"_id": "c1", "x": 2}]}"#)
            #expect(edits.status == 201)
            let rows = try #require(edits.json?.arrayValue)
            #expect(rows.count == 2)
            #expect(rows[0]["ok"] == true && rows[0]["id"] == "n1" && rows[0]["rev"]?.stringValue?.hasPrefix("1-") == true)
            #expect(rows[1] == ["id": "c1", "error": "conflict", "reason": "Document update conflict."])
        }
    }

    @Test("GET with conflicts, deleted_conflicts and revs matches the transcript exactly")
    func winnerAndConflicts() async throws {
        try await withFixtureServer { server in
            _ = try await FixtureTranscriptSeed.replay(on: server)
            let db = server.url("transcript_db")
            let reply = try await FixtureHTTP.get(db + "/c1?conflicts=true&deleted_conflicts=true&revs=true")
            #expect(reply.status == 200)
            #expect(reply.body == #"{"_id":"c1","_rev":"2-aaaa","v":"a","_revisions":{"start":2,"ids":["aaaa","1111"]},"_deleted_conflicts":["3-cccc"]}"# + "\n")
            #expect(reply.header("ETag") == "\"2-aaaa\"")
        }
    }

    @Test("open_revs=all and open_revs=[…] with latest=true and a missing rev match the transcript")
    func openRevisions() async throws {
        try await withFixtureServer { server in
            _ = try await FixtureTranscriptSeed.replay(on: server)
            let db = server.url("transcript_db")
            let all = try await FixtureHTTP.get(db + "/c1?open_revs=all&revs=true")
            #expect(all.status == 200)
            #expect(all.body == #"[{"ok":{"_id":"c1","_rev":"2-aaaa","v":"a","_revisions":{"start":2,"ids":["aaaa","1111"]}}},{"ok":{"_id":"c1","_rev":"3-cccc","_deleted":true,"_revisions":{"start":3,"ids":["cccc","bbbb","1111"]}}}]"# + "\n")
            let latest = try await FixtureHTTP.get(db + #"/c1?open_revs=["2-bbbb","9-zzzz"]&revs=true&latest=true"#.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!)
            #expect(latest.status == 200)
            #expect(latest.body == #"[{"ok":{"_id":"c1","_rev":"3-cccc","_deleted":true,"_revisions":{"start":3,"ids":["cccc","bbbb","1111"]}}},{"missing":"9-zzzz"}]"# + "\n")
            let withoutRevs = try await FixtureHTTP.get(db + "/c1?open_revs=%5B%222-aaaa%22%5D")
            #expect(withoutRevs.body == #"[{"ok":{"_id":"c1","_rev":"2-aaaa","v":"a"}}]"# + "\n")
            #expect(try await FixtureHTTP.get(db + "/nope?open_revs=all").status == 404)
        }
    }

    @Test("deleting a document, then GET is 404 deleted; ?rev= still returns the tombstone")
    func deletedDocument() async throws {
        try await withFixtureServer { server in
            let seed = try await FixtureTranscriptSeed.replay(on: server)
            let db = server.url("transcript_db")
            #expect(seed.doc1Revs[2].hasPrefix("3-"))
            let reply = try await FixtureHTTP.get(db + "/doc1")
            #expect(reply.status == 404)
            #expect(reply.body == #"{"error":"not_found","reason":"deleted"}"# + "\n")
            let tombstone = try await FixtureHTTP.get(db + "/doc1?rev=" + seed.doc1Revs[2])
            #expect(tombstone.body == "{\"_id\":\"doc1\",\"_rev\":\"\(seed.doc1Revs[2])\",\"_deleted\":true}\n")
            #expect(try await FixtureHTTP.get(db + "/never").body == #"{"error":"not_found","reason":"missing"}"# + "\n")
            let noRev = try await FixtureHTTP.send(.DELETE, db + "/c1")
            #expect(noRev.status == 409)
        }
    }

    @Test("attachments: stub by default, inline data with attachments=true, raw data by name")
    func attachments() async throws {
        try await withFixtureServer { server in
            let seed = try await FixtureTranscriptSeed.replay(on: server)
            let db = server.url("transcript_db")
            let stub = try await FixtureHTTP.get(db + "/att")
            #expect(stub.body == "{\"_id\":\"att\",\"_rev\":\"\(seed.attRev)\",\"_attachments\":{\"hello.txt\":{\"content_type\":\"text/plain\",\"revpos\":1,\"digest\":\"md5-7mkg+nM0HN26sZkLN8KVSA==\",\"length\":11,\"stub\":true}}}\n")
            #expect(stub.header("ETag") == "\"\(seed.attRev)\"")
            let inline = try await FixtureHTTP.get(db + "/att?attachments=true&revs=true")
            #expect(inline.body == "{\"_id\":\"att\",\"_rev\":\"\(seed.attRev)\",\"_revisions\":{\"start\":1,\"ids\":[\"\(seed.attHash)\"]},\"_attachments\":{\"hello.txt\":{\"content_type\":\"text/plain\",\"revpos\":1,\"digest\":\"md5-7mkg+nM0HN26sZkLN8KVSA==\",\"data\":\"aGVsbG8gd29ybGQ=\"}}}\n")
            let since = try await FixtureHTTP.get(db + "/att?atts_since=%5B%22" + seed.attRev + "%22%5D")
            #expect(since.json?["_attachments"]?["hello.txt"]?["stub"] == true)
            let raw = try await FixtureHTTP.get(db + "/att/hello.txt")
            #expect(raw.status == 200 && raw.body == "hello world")
            #expect(raw.header("Content-Type") == "text/plain")
        }
    }

    @Test("document ids are URL-decoded, _design/ keeps its slash, POST /db generates ids")
    func documentIDs() async throws {
        try await withFixtureServer { server in
            let store = try server.createDatabase("db")
            let db = server.url("db")
            #expect(try await FixtureHTTP.put(db + "/a%2Fb%20c", #"{"x":1}"#).status == 201)
            #expect(try await FixtureHTTP.put(db + "/_design/app", #"{"views":{}}"#).json?["id"] == "_design/app")
            #expect(try store.read { try $0.allDocuments().map(\.id) } == ["_design/app", "a/b c"])
            #expect(try await FixtureHTTP.get(db + "/a%2Fb%20c").json?["_id"] == "a/b c")
            #expect(try await FixtureHTTP.get(db + "/_design/app").json?["views"] == [:])
            let posted = try await FixtureHTTP.post(db, #"{"y": 2}"#)
            #expect(posted.status == 201 && posted.json?["id"]?.stringValue?.count == 32)
            #expect(try await FixtureHTTP.put(db + "/_bad", "{}").status == 400)
        }
    }

    @Test("attachment edits keep CouchDB digests: stubs carry over, replicated data gets the digest filled in")
    func attachmentEdits() async throws {
        try await withFixtureServer { server in
            let seed = try await FixtureTranscriptSeed.replay(on: server)
            let db = server.url("transcript_db")
            let update = try await FixtureHTTP.put(db + "/att", #"{"_rev":"\#(seed.attRev)","n":1,"_attachments":{"hello.txt":{"stub":true},"b.json":{"content_type":"application/json","data":"e30="}}}"#)
            #expect(update.status == 201)
            let rev2 = try #require(update.json?["rev"]?.stringValue)
            #expect(rev2.hasPrefix("2-"))
            let doc = try #require(try await FixtureHTTP.get(db + "/att").json)
            #expect(doc["n"] == 1)
            #expect(doc["_attachments"]?["hello.txt"] == ["content_type": "text/plain", "revpos": 1, "digest": "md5-7mkg+nM0HN26sZkLN8KVSA==", "length": 11, "stub": true])
            #expect(doc["_attachments"]?["b.json"]?["revpos"] == 2)
            #expect(try await FixtureHTTP.put(db + "/att", #"{"_rev":"\#(seed.attRev)"}"#).status == 409)
            let badStub = try await FixtureHTTP.put(db + "/att", #"{"_rev":"\#(rev2)","_attachments":{"nope.txt":{"stub":true}}}"#)
            #expect(badStub.status == 412 && badStub.json?["error"] == "missing_stub")

            let replicated = try await FixtureHTTP.post(db + "/_bulk_docs", #"{"new_edits":false,"docs":[{"_id":"r","_rev":"1-abc","_attachments":{"t.txt":{"content_type":"text/plain","revpos":1,"data":"aGVsbG8gd29ybGQ="}}}]}"#)
            #expect(replicated.body == "[]\n")
            #expect(try await FixtureHTTP.get(db + "/r").json?["_attachments"]?["t.txt"]?["digest"] == "md5-7mkg+nM0HN26sZkLN8KVSA==")
            let png = try await FixtureHTTP.put(db + "/p", #"{"_attachments":{"x.png":{"content_type":"image/png","data":"aGVsbG8gd29ybGQ="}}}"#)
            #expect(png.status == 201)
            // Types CouchDB does not compress are digested as sent: the MD5 of "hello world".
            #expect(try await FixtureHTTP.get(db + "/p").json?["_attachments"]?["x.png"]?["digest"] == "md5-XrY7u+Ae7tCTyyK7j1rNww==")
        }
    }

    // MARK: _changes

    @Test("_changes style=all_docs lists every leaf, winner first, with opaque sequences")
    func changesAllDocs() async throws {
        try await withFixtureServer { server in
            let seed = try await FixtureTranscriptSeed.replay(on: server)
            let reply = try await FixtureHTTP.get(server.url("transcript_db") + "/_changes?style=all_docs")
            #expect(reply.status == 200)
            #expect(reply.body.hasPrefix("{\"results\":[\n{\"seq\":\""))
            let json = try #require(reply.json)
            let rows = try #require(json["results"]?.arrayValue)
            #expect(rows.map { $0["id"] } == ["c1", "doc1", "att"])
            #expect(rows[0]["changes"] == [["rev": "2-aaaa"], ["rev": "3-cccc"]])
            #expect(rows[0]["deleted"] == nil)
            #expect(rows[1]["changes"] == [["rev": .string(seed.doc1Revs[2])]])
            #expect(rows[1]["deleted"] == true)
            #expect(rows[2]["changes"] == [["rev": .string(seed.attRev)]])
            for row in rows { #expect(row["seq"]?.stringValue?.contains("-g1AAAA") == true) }
            #expect(json["last_seq"] == rows[2]["seq"])
            #expect(json["pending"] == 0)
            let winnerOnly = try await FixtureHTTP.get(server.url("transcript_db") + "/_changes")
            #expect(winnerOnly.json?["results"]?.arrayValue?.first?["changes"] == [["rev": "2-aaaa"]])
        }
    }

    @Test("_changes with limit: last_seq is the last row's seq, pending counts the rest, since resumes")
    func changesLimit() async throws {
        try await withFixtureServer { server in
            _ = try await FixtureTranscriptSeed.replay(on: server)
            let db = server.url("transcript_db")
            let first = try #require(try await FixtureHTTP.get(db + "/_changes?style=all_docs&limit=2").json)
            let rows = try #require(first["results"]?.arrayValue)
            #expect(rows.map { $0["id"] } == ["c1", "doc1"])
            #expect(first["last_seq"] == rows[1]["seq"])
            #expect(first["pending"] == 1)
            let since = try #require(first["last_seq"]?.stringValue)
            let next = try #require(try await FixtureHTTP.get(db + "/_changes?style=all_docs&limit=2&since=" + since).json)
            #expect(next["results"]?.arrayValue?.map { $0["id"] } == ["att"])
            #expect(next["pending"] == 0)
            let end = try #require(try await FixtureHTTP.get(db + "/_changes?since=" + (next["last_seq"]?.stringValue ?? "")).json)
            #expect(end["results"] == [])
            #expect(end["last_seq"] == next["last_seq"])
            let now = try #require(try await FixtureHTTP.get(db + "/_changes?since=now").json)
            #expect(now["results"] == [] && now["last_seq"] == next["last_seq"])
        }
    }

    @Test("_changes rejects malformed sequences and feeds other than normal")
    func changesBadParameters() async throws {
        try await withFixtureServer { server in
            _ = try await FixtureTranscriptSeed.replay(on: server)
            let db = server.url("transcript_db")
            for since in ["garbage", "3", "3-g1AAAAxyz", "5-xyz"] {
                let reply = try await FixtureHTTP.get(db + "/_changes?since=" + since)
                #expect(reply.status == 400)
                #expect(reply.body == #"{"error":"bad_request","reason":"Malformed sequence supplied in 'since' parameter."}"# + "\n")
            }
            #expect(try await FixtureHTTP.get(db + "/_changes?feed=longpoll").status == 400)
            #expect(try await FixtureHTTP.get(db + "/_changes?since=0").status == 200)
        }
    }

    @Test("_changes filter=_doc_ids (POST body or query) and include_docs")
    func changesDocIDs() async throws {
        try await withFixtureServer { server in
            _ = try await FixtureTranscriptSeed.replay(on: server)
            let db = server.url("transcript_db")
            let reply = try await FixtureHTTP.post(db + "/_changes?filter=_doc_ids", #"{"doc_ids": ["c1"]}"#)
            let json = try #require(reply.json)
            let rows = try #require(json["results"]?.arrayValue)
            #expect(rows.count == 1)
            #expect(rows[0]["id"] == "c1" && rows[0]["changes"] == [["rev": "2-aaaa"]])
            #expect(json["pending"] == 2)
            #expect(json["last_seq"] == (try await FixtureHTTP.get(db).json?["update_seq"]))

            let query = try await FixtureHTTP.get(db + "/_changes?filter=_doc_ids&include_docs=true&doc_ids=%5B%22doc1%22%2C%22att%22%5D")
            let docs = try #require(query.json?["results"]?.arrayValue)
            #expect(docs.map { $0["id"] } == ["doc1", "att"])
            #expect(docs[0]["doc"]?["_deleted"] == true)
            #expect(docs[1]["doc"]?["_attachments"]?["hello.txt"]?["stub"] == true)
            #expect(try await FixtureHTTP.post(db + "/_changes?filter=_doc_ids", #"{"doc_ids": "c1"}"#).status == 400)
        }
    }

    @Test("_changes filter=_selector evaluates a Mango selector against the winner")
    func changesSelector() async throws {
        try await withFixtureServer { server in
            _ = try await FixtureTranscriptSeed.replay(on: server)
            let db = server.url("transcript_db")
            let reply = try await FixtureHTTP.post(db + "/_changes?filter=_selector", #"{"selector": {"v": "a"}}"#)
            let json = try #require(reply.json)
            #expect(json["results"]?.arrayValue?.map { $0["id"] } == ["c1"])
            #expect(json["results"]?.arrayValue?.first?["changes"] == [["rev": "2-aaaa"]])
            #expect(json["pending"] == 0)
            #expect(try await FixtureHTTP.get(db + "/_changes?filter=_selector").status == 400)
            #expect(try await FixtureHTTP.post(db + "/_changes?filter=_selector", #"{"selector": {"v": {"$bogus": 1}}}"#).status == 400)
        }
    }

    @Test("Mango operators: comparisons, $in/$nin, $exists, $and/$or/$not, dotted paths")
    func mangoOperators() async throws {
        try await withFixtureServer { server in
            let store = try server.createDatabase("mango")
            try store.write { writer in
                try writer.put(id: "a", json: #"{"type":"note","n":1,"tags":["x","y"],"address":{"city":"Oslo"}}"#)
                try writer.put(id: "b", json: #"{"type":"note","n":5,"tags":["z"],"address":{"city":"Rome"}}"#)
                try writer.put(id: "c", json: #"{"type":"task","n":10.0,"done":true}"#)
                try writer.put(id: "d", json: #"{"type":"task","n":"7"}"#)
            }
            func ids(_ selector: String) async throws -> [String] {
                let reply = try await FixtureHTTP.post(server.url("mango") + "/_changes?filter=_selector", #"{"selector":"# + selector + "}")
                #expect(reply.status == 200, "\(selector): \(reply.body)")
                return reply.json?["results"]?.arrayValue?.compactMap { $0["id"]?.stringValue }.sorted() ?? []
            }
            #expect(try await ids(#"{"type":"note"}"#) == ["a", "b"])
            // Mango compares across types in collation order: the string "7" sorts after numbers.
            #expect(try await ids(#"{"n":{"$gt":1}}"#) == ["b", "c", "d"])
            #expect(try await ids(#"{"n":{"$gte":1,"$lt":10}}"#) == ["a", "b"])
            #expect(try await ids(#"{"n":{"$lte":5}}"#) == ["a", "b"])
            #expect(try await ids(#"{"n":{"$eq":10}}"#) == ["c"])
            #expect(try await ids(#"{"type":{"$ne":"note"}}"#) == ["c", "d"])
            #expect(try await ids(#"{"tags":{"$in":["y","q"]}}"#) == ["a"])
            #expect(try await ids(#"{"type":{"$in":["task"]}}"#) == ["c", "d"])
            #expect(try await ids(#"{"type":{"$nin":["task"]}}"#) == ["a", "b"])
            #expect(try await ids(#"{"done":{"$exists":true}}"#) == ["c"])
            #expect(try await ids(#"{"done":{"$exists":false}}"#) == ["a", "b", "d"])
            #expect(try await ids(#"{"address.city":"Rome"}"#) == ["b"])
            #expect(try await ids(#"{"$or":[{"address.city":"Oslo"},{"done":true}]}"#) == ["a", "c"])
            #expect(try await ids(#"{"$and":[{"type":"note"},{"n":{"$gt":2}}]}"#) == ["b"])
            #expect(try await ids(#"{"$not":{"type":"note"}}"#) == ["c", "d"])
            #expect(try await ids(#"{"n":{"$type":"string"}}"#) == ["d"])
            #expect(try await ids(#"{"tags":{"$size":1}}"#) == ["b"])
        }
    }

    // MARK: Replication endpoints

    @Test("_revs_diff matches the transcript")
    func revsDiff() async throws {
        try await withFixtureServer { server in
            _ = try await FixtureTranscriptSeed.replay(on: server)
            let reply = try await FixtureHTTP.post(server.url("transcript_db") + "/_revs_diff",
                                            #"{"c1": ["2-aaaa", "4-dddd"], "att": ["1-0000"], "nope": ["1-abcd"]}"#)
            #expect(reply.status == 200)
            let expected = try JSONValue.parse(#"{"nope":{"missing":["1-abcd"]},"c1":{"missing":["4-dddd"],"possible_ancestors":["2-aaaa","3-cccc"]},"att":{"missing":["1-0000"]}}"#)
            #expect(reply.canonical == expected.canonicalSerialized)
            #expect(try await FixtureHTTP.post(server.url("transcript_db") + "/_revs_diff", #"{"c1": ["2-aaaa"]}"#).body == "{}\n")
        }
    }

    @Test("_bulk_get with revs and latest matches the transcript")
    func bulkGet() async throws {
        try await withFixtureServer { server in
            let seed = try await FixtureTranscriptSeed.replay(on: server)
            let reply = try await FixtureHTTP.post(server.url("transcript_db") + "/_bulk_get?revs=true&latest=true",
                                            #"{"docs": [{"id": "c1", "rev": "2-aaaa"}, {"id": "nope", "rev": "1-abcd"}, {"id": "att"}]}"#)
            #expect(reply.status == 200)
            #expect(reply.body == #"{"results":[{"id":"c1","docs":[{"ok":{"_id":"c1","_rev":"2-aaaa","v":"a","_revisions":{"start":2,"ids":["aaaa","1111"]}}}]},{"id":"nope","docs":[{"error":{"rev":"1-abcd","reason":"missing","id":"nope","error":"not_found"}}]},{"id":"att","docs":[{"ok":{"_id":"att","_rev":""# + seed.attRev + #"","_revisions":{"start":1,"ids":[""# + seed.attHash + #""]},"_attachments":{"hello.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-7mkg+nM0HN26sZkLN8KVSA==","length":11,"stub":true}}}}]}]}"# + "\n")

            let latest = try await FixtureHTTP.post(server.url("transcript_db") + "/_bulk_get?revs=true&latest=true",
                                             #"{"docs": [{"id": "c1", "rev": "2-bbbb"}, {"id": "att", "rev": ""# + seed.attRev + #"", "atts_since": []}]}"#)
            let results = try #require(latest.json?["results"]?.arrayValue)
            #expect(results[0]["docs"]?.arrayValue?.first?["ok"]?["_rev"] == "3-cccc")
            #expect(results[1]["docs"]?.arrayValue?.first?["ok"]?["_attachments"]?["hello.txt"]?["data"] == "aGVsbG8gd29ybGQ=")
        }
    }

    @Test("_bulk_get is absent when configured like CouchDB 1.x")
    func bulkGetDisabled() async throws {
        try await withFixtureServer(.init(bulkGet: false)) { server in
            _ = try server.createDatabase("db")
            let reply = try await FixtureHTTP.post(server.url("db") + "/_bulk_get?revs=true", #"{"docs":[]}"#)
            #expect(reply.status == 400)
            #expect(reply.body == #"{"error":"bad_request","reason":"Only reserved document ids may start with underscore."}"# + "\n")
        }
    }

    @Test("_local documents: rev 0-N, not checked on write")
    func localDocuments() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("transcript_db")
            let db = server.url("transcript_db")
            let put = try await FixtureHTTP.put(db + "/_local/ckpt", #"{"session_id": "s1", "source_last_seq": "5-xyz", "history": []}"#)
            #expect(put.status == 201)
            #expect(put.body == #"{"ok":true,"id":"_local/ckpt","rev":"0-1"}"# + "\n")
            #expect(put.header("Location") == "http://127.0.0.1:\(server.port)/transcript_db/_local%2Fckpt")
            let get = try await FixtureHTTP.get(db + "/_local/ckpt")
            #expect(get.status == 200)
            #expect(get.body == #"{"_id":"_local/ckpt","_rev":"0-1","session_id":"s1","source_last_seq":"5-xyz","history":[]}"# + "\n")
            let stale = try await FixtureHTTP.put(db + "/_local/ckpt", #"{"_rev": "0-7", "session_id": "s2"}"#)
            #expect(stale.json?["rev"] == "0-2")
            #expect(try await FixtureHTTP.get(db + "/_local/none").status == 404)
            #expect(try await FixtureHTTP.send(.DELETE, db + "/_local/ckpt").status == 200)
            #expect(try await FixtureHTTP.get(db + "/_local/ckpt").status == 404)
            let changes = try await FixtureHTTP.get(db + "/_changes")
            #expect(changes.json?["results"] == [])
        }
    }

    @Test("_all_docs with include_docs, limit and startkey")
    func allDocs() async throws {
        try await withFixtureServer { server in
            _ = try await FixtureTranscriptSeed.replay(on: server)
            let db = server.url("transcript_db")
            let json = try #require(try await FixtureHTTP.get(db + "/_all_docs?include_docs=true").json)
            #expect(json["total_rows"] == 2 && json["offset"] == 0)
            let rows = try #require(json["rows"]?.arrayValue)
            #expect(rows.map { $0["id"] } == ["att", "c1"])
            #expect(rows[1]["key"] == "c1" && rows[1]["value"] == ["rev": "2-aaaa"])
            #expect(rows[1]["doc"] == ["_id": "c1", "_rev": "2-aaaa", "v": "a"])
            let page = try #require(try await FixtureHTTP.get(db + "/_all_docs?limit=1&startkey=%22b%22").json)
            #expect(page["rows"]?.arrayValue?.map { $0["id"] } == ["c1"])
            #expect(page["offset"] == 1)
        }
    }

    @Test("validate hook: forbidden per document in _bulk_docs, 403 for PUT")
    func validation() async throws {
        let configuration = FixtureServer.Configuration(validate: { id, _ in id.hasPrefix("secret") ? "no secrets here" : nil })
        try await withFixtureServer(configuration) { server in
            _ = try server.createDatabase("db")
            let db = server.url("db")
            let reply = try await FixtureHTTP.post(db + "/_bulk_docs", #"{"new_edits":false,"docs":[{"_id":"ok","_rev":"1-aa"},{"_id":"secret1","_rev":"1-bb"}]}"#)
            #expect(reply.status == 201)
            #expect(reply.body == #"[{"id":"secret1","rev":"1-bb","error":"forbidden","reason":"no secrets here"}]"# + "\n")
            let put = try await FixtureHTTP.put(db + "/secret2", "{}")
            #expect(put.status == 403 && put.body == #"{"error":"forbidden","reason":"no secrets here"}"# + "\n")
            #expect(try await FixtureHTTP.get(db + "/ok").status == 200)
        }
    }

    // MARK: Requests and sequences

    @Test("invalid JSON bodies get 400 invalid UTF-8 JSON; oversized ones 413")
    func requestBodies() async throws {
        try await withFixtureServer(.init(maxRequestBodyBytes: 64)) { server in
            _ = try server.createDatabase("transcript_db")
            let db = server.url("transcript_db")
            let bad = try await FixtureHTTP.post(db + "/_bulk_docs", #"{"docs": ["#)
            #expect(bad.status == 400)
            #expect(bad.body == #"{"error":"bad_request","reason":"invalid UTF-8 JSON"}"# + "\n")
            let large = try await FixtureHTTP.put(db + "/big", "{\"x\":\"" + String(repeating: "a", count: 100) + "\"}")
            #expect(large.status == 413)
            #expect(large.body == #"{"error":"too_large","reason":"the request entity is too large"}"# + "\n")
            #expect(server.requests().last?.status == 413)
        }
    }

    @Test("integer sequences like PouchDB")
    func integerSequences() async throws {
        try await withFixtureServer(.init(sequences: .integers)) { server in
            _ = try await FixtureTranscriptSeed.replay(on: server)
            let db = server.url("transcript_db")
            #expect(try await FixtureHTTP.get(db).json?["update_seq"] == 7)
            let json = try #require(try await FixtureHTTP.get(db + "/_changes?limit=1&since=1").json)
            #expect(json["results"]?.arrayValue?.first?["seq"] == 5)
            #expect(json["last_seq"] == 5)
            #expect(try await FixtureHTTP.get(db + "/_changes?since=x").status == 400)
        }
    }

    // MARK: Authentication

    @Test("auth: 401 without credentials, Basic, cookie login, bad password, expired sessions")
    func authentication() async throws {
        try await withFixtureServer(.init(users: ["admin": "password"])) { server in
            _ = try server.createDatabase("transcript_db")
            let db = server.url("transcript_db")
            let anonymous = try await FixtureHTTP.get(db)
            #expect(anonymous.status == 401)
            #expect(anonymous.body == #"{"error":"unauthorized","reason":"You are not authorized to access this db."}"# + "\n")
            #expect(try await FixtureHTTP.get(server.baseURL + "/").status == 200)
            #expect(try await FixtureHTTP.get(db, headers: [FixtureHTTP.basic("admin", "password")]).status == 200)
            let wrongBasic = try await FixtureHTTP.get(db, headers: [FixtureHTTP.basic("admin", "nope")])
            #expect(wrongBasic.status == 401 && wrongBasic.json?["reason"] == "Name or password is incorrect.")

            let bad = try await FixtureHTTP.post(server.baseURL + "/_session", #"{"name": "admin", "password": "wrong"}"#)
            #expect(bad.status == 401)
            #expect(bad.body == #"{"error":"unauthorized","reason":"Name or password is incorrect."}"# + "\n")

            let login = try await FixtureHTTP.post(server.baseURL + "/_session", #"{"name": "admin", "password": "password"}"#)
            #expect(login.status == 200)
            #expect(login.body == #"{"ok":true,"name":"admin","roles":["_admin"]}"# + "\n")
            let setCookie = try #require(login.header("Set-Cookie"))
            #expect(setCookie.hasPrefix("AuthSession=") && setCookie.contains("; Version=1; ") && setCookie.hasSuffix("; Max-Age=600; Path=/; HttpOnly"))
            let cookie = String(setCookie.split(separator: ";")[0])
            #expect(try await FixtureHTTP.get(db, headers: [("Cookie", cookie)]).status == 200)
            let session = try await FixtureHTTP.get(server.baseURL + "/_session", headers: [("Cookie", cookie)])
            #expect(session.json?["userCtx"] == ["name": "admin", "roles": ["_admin"]])

            server.expireSessions()
            #expect(try await FixtureHTTP.get(db, headers: [("Cookie", cookie)]).status == 401)

            let again = try await FixtureHTTP.post(server.baseURL + "/_session", #"{"name": "admin", "password": "password"}"#)
            let second = String(try #require(again.header("Set-Cookie")).split(separator: ";")[0])
            #expect(try await FixtureHTTP.send(.DELETE, server.baseURL + "/_session", headers: [("Cookie", second)]).status == 200)
            #expect(try await FixtureHTTP.get(db, headers: [("Cookie", second)]).status == 401)

            let form = try await FixtureHTTP.send(.POST, server.baseURL + "/_session", body: "name=admin&password=password",
                                           contentType: "application/x-www-form-urlencoded")
            #expect(form.status == 200 && form.header("Set-Cookie")?.hasPrefix("AuthSession=") == true)
        }
    }

    // MARK: Faults

    @Test("fault status: default CouchDB-style body, custom body and headers, method and path matching")
    func faultStatus() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            server.inject(.status(500, path: .exact("/db")))
            let failed = try await FixtureHTTP.get(server.url("db"))
            #expect(failed.status == 500)
            #expect(failed.json?["error"] == "internal_server_error")
            #expect(failed.header("Content-Type") == "application/json")
            #expect(try await FixtureHTTP.get(server.url("db")).status == 200)

            server.inject(.status(503, body: #"{"error":"x","reason":"y"}"#, headers: [("X-Test", "1")], method: "POST", path: .suffix("/_revs_diff")))
            #expect(try await FixtureHTTP.get(server.url("db")).status == 200)
            let custom = try await FixtureHTTP.post(server.url("db") + "/_revs_diff", "{}")
            #expect(custom.status == 503 && custom.body == #"{"error":"x","reason":"y"}"# + "\n" && custom.header("X-Test") == "1")
            #expect(try await FixtureHTTP.post(server.url("db") + "/_revs_diff", "{}").status == 200)
        }
    }

    @Test("faults apply after skip, for times, in injection order; clearFaults removes them")
    func faultSkipAndTimes() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            server.inject(.status(500, path: .contains("/_changes"), skip: 1, times: 2))
            server.inject(.status(502, path: .contains("/_changes")))
            var statuses: [Int] = []
            for _ in 0..<5 { statuses.append(try await FixtureHTTP.get(server.url("db") + "/_changes").status) }
            // 1st: the first fault skips, so the second one applies; then the first applies twice.
            #expect(statuses == [502, 500, 500, 200, 200])
            // Each fault counts matching requests on its own, even those another fault took.
            server.inject(.status(500, path: .exact("/db")))
            server.inject(.status(502, path: .exact("/db"), skip: 1))
            #expect(try await FixtureHTTP.get(server.url("db")).status == 500)
            #expect(try await FixtureHTTP.get(server.url("db")).status == 502)
            #expect(try await FixtureHTTP.get(server.url("db")).status == 200)
            server.inject(.status(500, times: .max))
            #expect(try await FixtureHTTP.get(server.url("db")).status == 500)
            server.clearFaults()
            #expect(try await FixtureHTTP.get(server.url("db")).status == 200)
        }
    }

    @Test("tooManyRequests: 429 with Retry-After")
    func faultTooManyRequests() async throws {
        try await withFixtureServer { server in
            server.inject(.tooManyRequests(retryAfter: 3))
            let reply = try await FixtureHTTP.get(server.baseURL + "/")
            #expect(reply.status == 429)
            #expect(reply.header("Retry-After") == "3")
            #expect(reply.json?["error"] == "too_many_requests")
        }
    }

    @Test("resetConnection: the client gets a connection error and no response; the server keeps serving")
    func faultReset() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            server.inject(.resetConnection(method: "POST", path: .suffix("/_bulk_docs")))
            let body = #"{"docs":[{"_id":"a"}]}"#
            await #expect(throws: (any Error).self) {
                _ = try await FixtureHTTP.post(server.url("db") + "/_bulk_docs", body)
            }
            #expect(try await FixtureHTTP.get(server.url("db") + "/a").status == 404)
            #expect(try await FixtureHTTP.post(server.url("db") + "/_bulk_docs", #"{"docs":[{"_id":"a"}]}"#).status == 201)
            let log = server.requests()
            #expect(log.count == 3)
            #expect(log[0].status == nil && log[0].fault?.hasPrefix("resetConnection") == true && log[0].bodyBytes == body.utf8.count)
        }
    }

    @Test("truncateBody: full Content-Length, partial body, closed connection → client error")
    func faultTruncate() async throws {
        try await withFixtureServer { server in
            _ = try await FixtureTranscriptSeed.replay(on: server)
            server.inject(.truncateBody(afterBytes: 10, path: .contains("/_changes")))
            var failed = false
            do {
                let reply = try await FixtureHTTP.get(server.url("transcript_db") + "/_changes")
                let declared = Int(reply.header("Content-Length") ?? "") ?? 0
                failed = reply.body.utf8.count < declared
            } catch {
                failed = true
            }
            #expect(failed)
            #expect(try await FixtureHTTP.get(server.url("transcript_db") + "/_changes").json?["results"]?.arrayValue?.count == 3)
            #expect(server.requests().last(where: { $0.fault != nil })?.status == 200)
        }
    }

    @Test("malformedJSON: real status, half the body, matching Content-Length; the write still happened")
    func faultMalformed() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            server.inject(.malformedJSON(path: .suffix("/_bulk_docs")))
            let reply = try await FixtureHTTP.post(server.url("db") + "/_bulk_docs", #"{"docs":[{"_id":"a"},{"_id":"b"}]}"#)
            #expect(reply.status == 201)
            #expect(reply.json == nil)
            #expect(reply.header("Content-Length") == String(reply.body.utf8.count))
            #expect(reply.body.hasPrefix("[{\"ok\":true"))
            #expect(try await FixtureHTTP.get(server.url("db") + "/b").status == 200)
        }
    }

    @Test("delay: answers normally after the delay")
    func faultDelay() async throws {
        try await withFixtureServer { server in
            server.inject(.delay(seconds: 0.3))
            let clock = ContinuousClock()
            let start = clock.now
            let reply = try await FixtureHTTP.get(server.baseURL + "/")
            #expect(reply.status == 200)
            #expect(clock.now - start >= .milliseconds(300))
        }
    }

    @Test("deleteDatabaseBefore: the database disappears mid-run")
    func faultDeleteDatabase() async throws {
        try await withFixtureServer { server in
            _ = try await FixtureTranscriptSeed.replay(on: server)
            server.inject(.deleteDatabaseBefore(path: .contains("/_changes")))
            let reply = try await FixtureHTTP.get(server.url("transcript_db") + "/_changes")
            #expect(reply.status == 404 && reply.json?["reason"] == "Database does not exist.")
            #expect(server.database("transcript_db") == nil)
        }
    }

    @Test("request log counts every request with method, path, query and status")
    func requestLog() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            _ = try await FixtureHTTP.get(server.url("db") + "/_changes?since=0&limit=5")
            _ = try await FixtureHTTP.put(server.url("db") + "/x", "{}")
            #expect(server.requestCount == 2)
            let log = server.requests()
            #expect(log[0] == RecordedRequest(method: "GET", path: "/db/_changes", query: "since=0&limit=5", status: 200, bodyBytes: 0, fault: nil))
            #expect(log[1].method == "PUT" && log[1].status == 201 && log[1].bodyBytes == 2)
            server.resetRequestLog()
            #expect(server.requestCount == 0)
        }
    }

    @Test("on the wire: status line, CouchDB's headers, HEAD without a body")
    func wireFormat() async throws {
        try await withFixtureServer { server in
            let missing = await FixtureRawHTTP.exchange(port: server.port, "GET /no_such_db HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            // CouchDB says "404 Object Not Found"; NIO's encoder writes the standard phrase of a known code.
            #expect(missing.text.hasPrefix("HTTP/1.1 404 "))
            #expect(missing.header("Server") == "CouchDB/3.4.3 (Erlang OTP/25)")
            #expect(missing.header("Content-Type") == "application/json")
            #expect(missing.body == Array((#"{"error":"not_found","reason":"Database does not exist."}"# + "\n").utf8))
            _ = try server.createDatabase("db")
            let head = await FixtureRawHTTP.exchange(port: server.port, "HEAD /db HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(head.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(head.body.isEmpty && Int(head.header("Content-Length") ?? "0")! > 0)
        }
    }

    @Test("on the wire: resetConnection sends nothing and resets; truncateBody sends exactly N body bytes then closes")
    func connectionFaultsOnTheWire() async throws {
        try await withFixtureServer { server in
            server.inject(.resetConnection())
            let reset = await FixtureRawHTTP.exchange(port: server.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(reset.bytes.isEmpty)
            #expect(reset.readError == ECONNRESET)

            server.inject(.truncateBody(afterBytes: 10))
            let truncated = await FixtureRawHTTP.exchange(port: server.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(truncated.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(truncated.body.count == 10)
            #expect(Int(truncated.header("Content-Length") ?? "0")! > 10)
            #expect(truncated.readError == 0)
        }
    }

    @Test("dozens of servers start and stop in parallel")
    func parallelServers() async throws {
        let uuids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<24 {
                group.addTask {
                    try await withFixtureServer { server in
                        _ = try server.createDatabase("db")
                        return try #require(try await FixtureHTTP.get(server.url("db")).json?["db_name"] == "db" ? server.uuid : nil)
                    }
                }
            }
            var all: Set<String> = []
            for try await uuid in group { all.insert(uuid) }
            return all
        }
        #expect(uuids.count == 24)
    }
}
