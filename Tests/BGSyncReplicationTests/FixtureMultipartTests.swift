import AsyncHTTPClient
import BGSyncStore
import BGSyncTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// A `multipart/related` document body as CouchDB's replicator writes one
/// (`couch_httpd_multipart:encode_multipart_stream`): the JSON part, then one part per
/// attachment, each ended by `CRLF--boundary`, then `--`.
struct MultipartDocumentBody {
    /// One attachment part: its headers and its bytes.
    struct Part {
        var headers: [String]
        var data: [UInt8]

        /// A part with the headers CouchDB sends: filename, type and length.
        static func attachment(_ name: String, _ data: [UInt8], type: String = "application/octet-stream") -> Part {
            Part(headers: ["Content-Disposition: attachment; filename=\"\(name)\"", "Content-Type: \(type)", "Content-Length: \(data.count)"],
                 data: data)
        }
    }

    var boundary = "a7f3e0c1b2d94e5f8a6b"
    var json: String
    var parts: [Part] = []
    var jsonContentType = "application/json"

    var bytes: [UInt8] {
        var out = Array("--\(boundary)\r\nContent-Type: \(jsonContentType)\r\n\r\n\(json)\r\n--\(boundary)".utf8)
        for part in parts {
            out += Array(("\r\n" + part.headers.joined(separator: "\r\n") + "\r\n\r\n").utf8)
            out += part.data
            out += Array("\r\n--\(boundary)".utf8)
        }
        out += Array("--".utf8)
        return out
    }

    /// `Content-Type` with the boundary quoted (as CouchDB sends it) or not.
    func contentType(quoted: Bool = true) -> String {
        quoted ? "multipart/related; boundary=\"\(boundary)\"" : "multipart/related; boundary=\(boundary)"
    }
}

/// Binary-safe HTTP for these tests (``FixtureHTTP`` sends and reads text).
enum FixtureBinaryHTTP {
    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]

        var json: JSONValue? { try? JSONValue.parse(body) }
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? { headers.first(name: name) }
    }

    static func send(_ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, contentType: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let buffer = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Array(buffer.readableBytesView))
    }

    static func put(_ url: String, _ multipart: MultipartDocumentBody, quoted: Bool = true) async throws -> Reply {
        try await send(.PUT, url, body: multipart.bytes, contentType: multipart.contentType(quoted: quoted))
    }
}

@Suite("FixtureServer multipart")
struct FixtureMultipartTests {
    /// Every byte value, then the delimiter's look-alikes (`CRLF--` without the boundary, a
    /// lone CR, LF CR), so a parser that stops early or drops bytes shows.
    static let allBytes: [UInt8] = Array(0...255) + Array("\r\n--a7f3e0c1b2d94e5f8a6\r\r\n\n\r".utf8) + Array((0...255).reversed())

    static func digest(_ data: [UInt8]) -> String { "md5-" + Data(MD5.digest(data)).base64EncodedString() }

    /// Deterministic pseudo-random bytes (xorshift), so a failure reproduces.
    static func noise(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    /// The attachment `name` of `doc` as inlined by `GET ?attachments=true`, decoded.
    static func inlineData(_ doc: JSONValue?, _ name: String) -> [UInt8]? {
        doc?["_attachments"]?[name]?["data"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map(Array.init)
    }

    static func replicatedJSON(id: String, rev: String, ancestors: [String] = [], attachments: String) -> String {
        let generation = Int(rev.split(separator: "-")[0]) ?? 1
        let ids = ([rev] + ancestors).map { "\"\($0.split(separator: "-")[1])\"" }.joined(separator: ",")
        return #"{"_id":"\#(id)","_rev":"\#(rev)","_revisions":{"start":\#(generation),"ids":[\#(ids)]},"kind":"multipart","_attachments":{\#(attachments)}}"#
    }

    // MARK: Writes that succeed

    @Test("new_edits=false with a quoted boundary stores every byte value, the given rev and history, as a JSON PUT would")
    func allByteValues() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            let db = server.url("db")
            let data = Self.allBytes
            let json = Self.replicatedJSON(id: "bin", rev: "2-bbbb", ancestors: ["1-aaaa"], attachments:
                #""blob.bin":{"content_type":"application/octet-stream","revpos":2,"digest":"\#(Self.digest(data))","length":\#(data.count),"follows":true}"#)
            let body = MultipartDocumentBody(json: json, parts: [.attachment("blob.bin", data)])
            let reply = try await FixtureBinaryHTTP.put(db + "/bin?new_edits=false", body, quoted: true)
            #expect(reply.status == 201)
            #expect(reply.text == #"{"ok":true,"id":"bin","rev":"2-bbbb"}"# + "\n")
            #expect(reply.header("ETag") == "\"2-bbbb\"")
            #expect(reply.header("Location") == "http://127.0.0.1:\(server.port)/db/bin")

            let doc = try await FixtureBinaryHTTP.send(.GET, db + "/bin?attachments=true&revs=true").json
            #expect(doc?["_rev"] == "2-bbbb")
            #expect(doc?["_revisions"] == ["start": 2, "ids": ["bbbb", "aaaa"]])
            #expect(doc?["kind"] == "multipart")
            #expect(Self.inlineData(doc, "blob.bin") == data)
            #expect(doc?["_attachments"]?["blob.bin"]?["digest"]?.stringValue == Self.digest(data))
            #expect(doc?["_attachments"]?["blob.bin"]?["revpos"] == 2)
            #expect(doc?["_attachments"]?["blob.bin"]?["content_type"] == "application/octet-stream")
        }
    }

    @Test("a 3 MiB attachment with an unquoted boundary arrives byte for byte")
    func threeMebibytes() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            let db = server.url("db")
            let data = Self.noise(count: 3 << 20, seed: 0x9E37_79B9_7F4A_7C15)
            let json = Self.replicatedJSON(id: "big", rev: "1-abcd", attachments:
                #""big.bin":{"content_type":"application/octet-stream","revpos":1,"digest":"\#(Self.digest(data))","length":\#(data.count),"follows":true}"#)
            let body = MultipartDocumentBody(boundary: "unquoted-0123456789", json: json, parts: [.attachment("big.bin", data)])
            let reply = try await FixtureBinaryHTTP.put(db + "/big?new_edits=false", body, quoted: false)
            #expect(reply.status == 201 && reply.json?["rev"] == "1-abcd")
            let doc = try await FixtureBinaryHTTP.send(.GET, db + "/big?attachments=true").json
            #expect(Self.inlineData(doc, "big.bin") == data)
            let raw = try await FixtureBinaryHTTP.send(.GET, db + "/big/big.bin?rev=1-abcd")
            #expect(raw.status == 200)
            #expect(raw.body == data)
            #expect(raw.header("Content-Length") == String(data.count))
        }
    }

    @Test("one follows attachment beside a stub the database has: both read back, the stub keeps its revpos")
    func followsBesideStub() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            let db = server.url("db")
            let first = try await FixtureHTTP.put(db + "/mix?new_edits=false",
                #"{"_rev":"1-aaaa","_attachments":{"hello.txt":{"content_type":"text/plain","revpos":1,"data":"aGVsbG8gd29ybGQ="}}}"#)
            #expect(first.status == 201)
            let data = Self.allBytes
            let json = Self.replicatedJSON(id: "mix", rev: "2-bbbb", ancestors: ["1-aaaa"], attachments:
                #""hello.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-7mkg+nM0HN26sZkLN8KVSA==","length":11,"stub":true},"#
                + #""new.bin":{"content_type":"application/octet-stream","revpos":2,"digest":"\#(Self.digest(data))","length":\#(data.count),"follows":true}"#)
            let reply = try await FixtureBinaryHTTP.put(db + "/mix?new_edits=false", MultipartDocumentBody(json: json, parts: [.attachment("new.bin", data)]))
            #expect(reply.status == 201 && reply.json?["rev"] == "2-bbbb")
            let doc = try await FixtureBinaryHTTP.send(.GET, db + "/mix?attachments=true").json
            #expect(Self.inlineData(doc, "hello.txt") == Array("hello world".utf8))
            #expect(doc?["_attachments"]?["hello.txt"]?["revpos"] == 1)
            #expect(Self.inlineData(doc, "new.bin") == data)
            #expect(doc?["_attachments"]?["new.bin"]?["revpos"] == 2)
        }
    }

    @Test("a normal edit (no new_edits) gets a new revision and CouchDB's digest, as the JSON PUT does")
    func normalEdit() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            let db = server.url("db")
            let json = #"{"title":"t","_attachments":{"hello.txt":{"content_type":"text/plain","length":11,"follows":true}}}"#
            let reply = try await FixtureBinaryHTTP.put(db + "/edit",
                MultipartDocumentBody(json: json, parts: [.attachment("hello.txt", Array("hello world".utf8), type: "text/plain")]))
            #expect(reply.status == 201)
            let rev = try #require(reply.json?["rev"]?.stringValue)
            #expect(rev.hasPrefix("1-"))
            #expect(reply.header("ETag") == "\"\(rev)\"")
            let doc = try await FixtureHTTP.get(db + "/edit")
            // text/plain is digested gzip-compressed, as CouchDB stores it.
            #expect(doc.json?["_attachments"]?["hello.txt"] == ["content_type": "text/plain", "revpos": 1, "digest": "md5-7mkg+nM0HN26sZkLN8KVSA==", "length": 11, "stub": true])
            #expect(doc.json?["title"] == "t")
        }
    }

    @Test("parts are taken in the order of the follows entries; their filenames are not read (CouchDB 3.4.3)")
    func partsByOrder() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            let db = server.url("db")
            let json = #"{"_attachments":{"a.bin":{"content_type":"application/octet-stream","length":3,"follows":true},"inline.bin":{"content_type":"application/octet-stream","data":"AAEC"},"b.bin":{"content_type":"application/octet-stream","length":3,"follows":true}}}"#
            let parts: [MultipartDocumentBody.Part] = [.attachment("b.bin", [1, 1, 1]), .attachment("a.bin", [2, 2, 2])]
            let reply = try await FixtureBinaryHTTP.put(db + "/order", MultipartDocumentBody(json: json, parts: parts))
            #expect(reply.status == 201)
            let doc = try await FixtureBinaryHTTP.send(.GET, db + "/order?attachments=true").json
            #expect(Self.inlineData(doc, "a.bin") == [1, 1, 1])
            #expect(Self.inlineData(doc, "b.bin") == [2, 2, 2])
            #expect(Self.inlineData(doc, "inline.bin") == [0, 1, 2])
        }
    }

    // MARK: Errors

    /// PUTs `body` to a new document and expects `status` with `error`/`reason`, and nothing stored.
    static func expectRefused(_ body: MultipartDocumentBody, query: String = "?new_edits=false",
                              status: Int, error: String, reason: String? = nil) async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            let db = server.url("db")
            let reply = try await FixtureBinaryHTTP.put(db + "/refused" + query, body)
            #expect(reply.status == status)
            #expect(reply.json?["error"]?.stringValue == error)
            if let reason { #expect(reply.json?["reason"]?.stringValue == reason) }
            #expect(try await FixtureHTTP.get(db + "/refused").status == 404)
        }
    }

    static func oneFollows(length: Int) -> String {
        replicatedJSON(id: "refused", rev: "1-abcd", attachments:
            #""f.bin":{"content_type":"application/octet-stream","revpos":1,"length":\#(length),"follows":true}"#)
    }

    @Test("a 5-byte part whose entry says another length is 400 bad_request, worded as CouchDB's couch_att",
          arguments: [(4, "attachment longer than expected"), (6, "attachment shorter than expected")])
    func partLengthDiffers(length: Int, reason: String) async throws {
        try await Self.expectRefused(MultipartDocumentBody(json: Self.oneFollows(length: length), parts: [.attachment("f.bin", [1, 2, 3, 4, 5])]),
                                     status: 400, error: "bad_request", reason: reason)
    }

    @Test("a 65 MiB body is read whole (no 413): its oversized part is found and refused")
    func bodyAbove64MiB() async throws {
        let part = [UInt8](repeating: 0x5A, count: 65 << 20)
        try await Self.expectRefused(MultipartDocumentBody(json: Self.oneFollows(length: part.count - 1), parts: [.attachment("f.bin", part)]),
                                     status: 400, error: "bad_request", reason: "attachment longer than expected")
    }

    @Test("fewer parts than follows entries is 400 bad_request")
    func missingPart() async throws {
        let json = Self.replicatedJSON(id: "refused", rev: "1-abcd", attachments:
            #""a.bin":{"content_type":"application/octet-stream","length":1,"follows":true},"b.bin":{"content_type":"application/octet-stream","length":1,"follows":true}"#)
        try await Self.expectRefused(MultipartDocumentBody(json: json, parts: [.attachment("a.bin", [7])]),
                                     status: 400, error: "bad_request", reason: "attachment shorter than expected")
        try await Self.expectRefused(MultipartDocumentBody(json: json), status: 400, error: "bad_request", reason: "attachment shorter than expected")
    }

    @Test("a stub whose data the database lacks is 412 missing_stub")
    func missingStub() async throws {
        let json = Self.replicatedJSON(id: "refused", rev: "2-bbbb", ancestors: ["1-aaaa"], attachments:
            #""gone.txt":{"content_type":"text/plain","revpos":1,"digest":"md5-AAAAAAAAAAAAAAAAAAAAAA==","length":3,"stub":true},"#
            + #""f.bin":{"content_type":"application/octet-stream","revpos":2,"length":1,"follows":true}"#)
        try await Self.expectRefused(MultipartDocumentBody(json: json, parts: [.attachment("f.bin", [9])]), status: 412, error: "missing_stub")
    }

    @Test("a digest that is not the MD5 of the part is content_md5_mismatch; a first part that is not JSON is 415")
    func digestAndContentType() async throws {
        let json = Self.replicatedJSON(id: "refused", rev: "1-abcd", attachments:
            #""f.bin":{"content_type":"application/octet-stream","revpos":1,"digest":"\#(Self.digest([1, 2]))","length":2,"follows":true}"#)
        try await Self.expectRefused(MultipartDocumentBody(json: json, parts: [.attachment("f.bin", [2, 1])]),
                                     status: 400, error: "content_md5_mismatch", reason: "Possible message corruption.")
        var notJSON = MultipartDocumentBody(json: Self.oneFollows(length: 1), parts: [.attachment("f.bin", [1])])
        notJSON.jsonContentType = "text/plain"
        try await Self.expectRefused(notJSON, status: 415, error: "bad_content_type", reason: "Content-Type must be application/json")
    }

    // MARK: GET /db/ID/attachment

    @Test("GET of an attachment: raw bytes, its type, length, CouchDB's ETag (304 when it matches); 404 for a missing one")
    func attachmentHeaders() async throws {
        try await withFixtureServer { server in
            _ = try server.createDatabase("db")
            let db = server.url("db")
            let put = try await FixtureHTTP.put(db + "/att", #"{"_attachments":{"hello.txt":{"content_type":"text/plain","data":"aGVsbG8gd29ybGQ="},"b.bin":{"content_type":"application/octet-stream","data":"\#(Data(Self.allBytes).base64EncodedString())"}}}"#)
            let rev = try #require(put.json?["rev"]?.stringValue)

            let text = try await FixtureBinaryHTTP.send(.GET, db + "/att/hello.txt?rev=" + rev)
            #expect(text.status == 200 && text.body == Array("hello world".utf8))
            #expect(text.header("Content-Type") == "text/plain")
            #expect(text.header("Content-Length") == "11")
            // The digest's base64 MD5, quoted, without the md5- prefix (chttpd_db:db_attachment_req).
            #expect(text.header("ETag") == "\"7mkg+nM0HN26sZkLN8KVSA==\"")
            #expect(text.header("Accept-Ranges") == "bytes")
            #expect(text.header("Cache-Control") == "must-revalidate")

            let binary = try await FixtureBinaryHTTP.send(.GET, db + "/att/b.bin")
            #expect(binary.body == Self.allBytes)
            #expect(binary.header("Content-Type") == "application/octet-stream")
            #expect(binary.header("Content-Length") == String(Self.allBytes.count))
            #expect(binary.header("ETag") == "\"" + Data(MD5.digest(Self.allBytes)).base64EncodedString() + "\"")

            var conditional = HTTPClientRequest(url: db + "/att/hello.txt")
            conditional.headers.add(name: "If-None-Match", value: "\"7mkg+nM0HN26sZkLN8KVSA==\"")
            let notModified = try await HTTPClient.shared.execute(conditional, timeout: .seconds(10))
            #expect(notModified.status.code == 304)
            #expect(notModified.headers.first(name: "ETag") == "\"7mkg+nM0HN26sZkLN8KVSA==\"")
            _ = try await notModified.body.collect(upTo: 1 << 20)

            let missing = try await FixtureBinaryHTTP.send(.GET, db + "/att/nope.txt?rev=" + rev)
            #expect(missing.status == 404)
            #expect(missing.text == #"{"error":"not_found","reason":"Document is missing attachment"}"# + "\n")
            #expect(missing.header("Content-Type") == "application/json")
        }
    }
}
