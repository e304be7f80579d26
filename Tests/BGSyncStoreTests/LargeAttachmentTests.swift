import BGSyncTestSupport
import Foundation
import Testing
@testable import BGSyncStore

/// Attachment data of any size: kept in 1 MiB chunks, taken in from files, handed out to files
/// and announced with `"follows": true` above an inline limit; older files keep their data.
@Suite("Large attachments")
struct LargeAttachmentTests {
    /// `count` bytes cycling through every byte value, shifted by `seed`.
    static func data(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7) &+ seed }
    }

    static func spool(_ bytes: [UInt8], in directory: String) throws -> SpoolFile {
        let writer = try SpoolFile.Writer(in: directory)
        // Written in uneven pieces, as a download arrives.
        var start = 0
        while start < bytes.count {
            let end = min(start + 300_001, bytes.count)
            try bytes[start..<end].withUnsafeBytes { try writer.append($0) }
            start = end
        }
        return try writer.finish()
    }

    static func chunkLengths(_ store: DocumentStore, _ digest: String) throws -> String {
        try Subprocess.query(store.path, "SELECT group_concat(length(data), ',') FROM (SELECT data FROM attachment_chunks WHERE digest = '\(digest)' ORDER BY chunk);")
    }

    @Test("data over 1 MiB is cut into 1 MiB chunks and reads back whole, inline or spooled to a file")
    func chunked() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let bytes = Self.data(2 * AttachmentChunks.size + 12_345)
            let base64 = Data(bytes).base64EncodedString()
            try store.put("big", #"{"_attachments":{"b.bin":{"content_type":"application/octet-stream","data":"\#(base64)"}}}"#)
            let digest = "md5-" + Data(MD5.digest(bytes)).base64EncodedString()
            #expect(try Self.chunkLengths(store, digest) == "1048576,1048576,12345")
            #expect(try store.read { try $0.attachmentData(digest: digest) } == bytes)
            let file = try #require(try store.read { try $0.spoolAttachment(digest: digest, in: dir.path) })
            #expect(file.length == bytes.count)
            #expect(FileManager.default.contents(atPath: file.path) == Data(bytes))
            #expect(try store.read { try $0.spoolAttachment(digest: "md5-none", in: dir.path) } == nil)
        }
    }

    @Test("empty data is one empty chunk, so the store still knows it has it")
    func emptyData() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            try store.put("e", #"{"_attachments":{"e.txt":{"content_type":"text/plain","data":""}}}"#)
            let digest = "md5-1B2M2Y8AsgTpgAmY7PhCfg=="  // MD5 of no bytes
            #expect(try Self.chunkLengths(store, digest) == "0")
            #expect(try store.read { try $0.attachmentData(digest: digest) } == [])
            // A replicated stub of it is accepted: the data is there.
            let stub = #"{"_id":"e2","_rev":"1-aa","_attachments":{"e.txt":{"content_type":"text/plain","revpos":1,"digest":"\#(digest)","length":0,"stub":true}}}"#
            #expect(throws: Never.self) { try store.replicate(stub) }
        }
    }

    @Test("above the inline limit an attachment is announced with follows and listed, the rest stays inline")
    func followsAboveLimit() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let big = Self.data(5000)
            let small = Self.data(10, seed: 1)
            try store.put("d", #"{"_attachments":{"big.bin":{"content_type":"application/octet-stream","data":"\#(Data(big).base64EncodedString())"},"small.bin":{"content_type":"application/octet-stream","data":"\#(Data(small).base64EncodedString())"}}}"#)
            let results = try store.read { try $0.openRevisions("d", revs: nil, attachments: .data, inlineLimit: 4096) }
            guard results.count == 1, case .okFollowing(let json, let following) = results[0] else {
                Issue.record("\(results)")
                return
            }
            #expect(following.map(\.name) == ["big.bin"])
            #expect(json.contains(#""big.bin":{"content_type":"application/octet-stream","revpos":1,"digest":"\#(following[0].digest)","length":5000,"follows":true}"#))
            #expect(json.contains(#""data":"\#(Data(small).base64EncodedString())""#))
            // Without a limit: all inline, as before.
            let plain = try store.read { try $0.openRevisions("d", revs: nil, attachments: .data) }
            guard case .ok = plain.first else {
                Issue.record("\(plain)")
                return
            }
        }
    }

    @Test("a replicated revision takes follows data from its file: CouchDB's digest kept, the length checked")
    func replicatedFromFile() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let bytes = Self.data(AttachmentChunks.size + 1, seed: 3)
            let json = #"{"_id":"r","_rev":"2-bb","_revisions":{"start":2,"ids":["bb","aa"]},"_attachments":{"r.bin":{"content_type":"application/x-r","revpos":2,"digest":"md5-fromTheServer==","length":\#(bytes.count),"follows":true}}}"#

            var missing = try IncomingDocument(json: json)
            #expect {
                try store.write { _ = try $0.saveReplicated(missing) }
            } throws: { ($0 as? StoreError)?.code == .invalidDocument && "\($0)".contains("did not come with the document") }

            var wrongLength = try IncomingDocument(json: json)
            wrongLength.attachSpooledData(["r.bin": try Self.spool(Array(bytes.dropLast()), in: dir.path)])
            #expect {
                try store.write { _ = try $0.saveReplicated(wrongLength) }
            } throws: { ($0 as? StoreError)?.code == .invalidDocument && "\($0)".contains("\(bytes.count - 1) bytes arrived") }

            missing.attachSpooledData(["r.bin": try Self.spool(bytes, in: dir.path)])
            try store.write { _ = try $0.saveReplicated(missing) }
            #expect(try store.read { try $0.attachmentData(digest: "md5-fromTheServer==") } == bytes)
            #expect(try store.document("r") == #"{"_id":"r","_rev":"2-bb","_attachments":{"r.bin":{"content_type":"application/x-r","revpos":2,"digest":"md5-fromTheServer==","length":\#(bytes.count),"stub":true}}}"#)
        }
    }

    @Test("a spool file is removed when its last reference goes, and one never finished leaves nothing")
    func spoolFileLifetime() throws {
        try withTemporaryDirectory { dir in
            var path = ""
            do {
                let file = try Self.spool([1, 2, 3], in: dir.path)
                path = file.path
                #expect(FileManager.default.fileExists(atPath: path))
            }
            #expect(!FileManager.default.fileExists(atPath: path))
            do {
                let writer = try SpoolFile.Writer(in: dir.path)
                try [UInt8](repeating: 9, count: 10).withUnsafeBytes { try writer.append($0) }
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        }
    }

    @Test("a version 1 file's attachment data: read as it is by a read-only open, kept by the migration to chunks")
    func migration() throws {
        try withTemporaryDirectory { dir in
            let path = dir.path("v1.sqlite")
            try DocumentRulesTests.makeVersion1File(path)
            _ = try Subprocess.query(path, """
                INSERT INTO documents (id, body) VALUES ('a', '{"x":1}');
                INSERT INTO attachment_blobs (digest, data) VALUES ('md5-old', X'00FF10');
                INSERT INTO rev_attachments (rev_id, name, content_type, revpos, digest, length)
                    SELECT winner, 'old.bin', 'application/octet-stream', 1, 'md5-old', 3 FROM docs WHERE id = 'a';
                """)
            let readOnly = try DocumentStore.open(at: path, mode: .readOnly)
            #expect(try readOnly.read { try $0.attachmentData(digest: "md5-old") } == [0x00, 0xFF, 0x10])
            #expect(try Subprocess.query(path, "PRAGMA user_version") == "1")

            let store = try DocumentStore.open(at: path)
            #expect(try Subprocess.query(path, "PRAGMA user_version") == "\(Schema.currentVersion)")
            #expect(try store.read { try $0.attachmentData(digest: "md5-old") } == [0x00, 0xFF, 0x10])
            #expect(try Subprocess.query(path, "SELECT count(*) FROM sqlite_master WHERE name = 'attachment_blobs'") == "0")
            // The garbage-collection trigger follows the data to its new table.
            try store.delete("a")
            #expect(try Subprocess.query(path, "SELECT count(*) FROM attachment_chunks") == "0")
        }
    }
}
